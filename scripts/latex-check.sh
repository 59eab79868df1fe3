#!/usr/bin/env bash
# Compiles bnproof's LaTeX output with pdfLaTeX and fails on any LaTeX error,
# or on a line or formula that sticks out of the text width (an `Overfull
# \hbox` more than 10pt too wide in the log; the file and its widest box are named):
# `derive batchnorm --format latex --proofs` (the acceptance case) and every
# other model, the seed proof, a refutation, the theorem table and every
# `explain` topic, each
# wrapped in a minimal article with amsmath, amssymb, graphicx and color (the
# graph figure of a derivation is a picture with colours). Installs Debian's
# texlive-latex-base (pdflatex, amsmath, amsfonts) when pdflatex is missing.
# Then `bnproof handout` of every built-in model and every `explain` topic:
# standalone documents, compiled by bnproof itself and checked the same way;
# and `bnproof exercises --format latex --solutions` of every built-in model
# (standalone documents, compiled here).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pdflatex >/dev/null; then
  echo "== installing texlive-latex-base (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq texlive-latex-base >/dev/null
fi
echo "== $(pdflatex --version | head -n 1)"

cargo build --release --quiet
bin=$PWD/target/release/bnproof
# Every built-in model: models/*.bn (the binary embeds the same files).
models=$(basename -s .bn models/*.bn)
dir=target/latex-check
rm -rf "$dir"
mkdir -p "$dir"

seed='u[i] + (b + Δb) - mean[i](u[i] + (b + Δb)) = u[i] + b - mean[i](u[i] + b)'
$bin derive batchnorm --format latex --proofs >"$dir/derive-batchnorm.tex"
for m in $models; do
  [ "$m" = batchnorm ] && continue
  $bin derive "$m" --format latex >"$dir/derive-$m.tex"
done
$bin prove "$seed" --format latex >"$dir/prove-seed.tex"
# A refutation exits 1 by design; its output must still compile.
$bin prove 'mean[i](x[i] * y[i]) = mean[i](x[i]) * mean[i](y[i])' --format latex >"$dir/prove-refuted.tex" || [ $? -eq 1 ]
$bin theorems --format latex >"$dir/theorems.tex"
for t in seed scale bn-backward; do
  $bin explain "$t" --format latex >"$dir/explain-$t.tex"
done

# How far a box may stick out of the text width before the check fails.
MAX_OVERFULL_PT=10
status=0

# check_log NAME LOG: pages, errors and overfull boxes of a compiled file.
check_log() {
  local name=$1 log=$2
  local pages overfull boxes worst
  pages=$(grep -o 'Output written on .*([0-9]* pages\?' "$log" | grep -o '([0-9]* page' | tr -dc 0-9)
  # `Overfull \hbox (12.3pt too wide) ...`: count them, find the widest.
  overfull=$(grep -o 'Overfull \\hbox ([0-9.]*pt too wide)' "$log" | grep -o '[0-9.]*pt' | tr -d pt | sort -g || true)
  boxes=$(printf '%s' "$overfull" | grep -c . || true)
  worst=$(printf '%s' "$overfull" | tail -n 1)
  if [ "$boxes" -gt 0 ] && awk -v w="$worst" -v max="$MAX_OVERFULL_PT" 'BEGIN { exit !(w > max) }'; then
    echo "FAIL $name: $boxes overfull boxes, the widest ${worst}pt too wide (over ${MAX_OVERFULL_PT}pt):"
    grep -F -A1 "(${worst}pt too wide)" "$log" | head -n 4 || true
    status=1
  else
    echo "ok   $name: $pages page(s), $(grep -c '^!' "$log" || true) errors, $boxes overfull boxes${worst:+ (widest ${worst}pt)}"
  fi
}

# compile NAME DIR STEM: DIR/STEM.tex through pdfLaTeX, then its log
# checked as above.
compile() {
  local name=$1 where=$2 stem=$3
  if (cd "$where" && pdflatex -interaction=nonstopmode -halt-on-error "$stem.tex" >/dev/null 2>&1); then
    check_log "$name" "$where/$stem.log"
  else
    echo "FAIL $name: pdflatex reported an error:"
    grep -A3 '^!' "$where/$stem.log" | head -n 20 || true
    status=1
  fi
}

ascii() {
  if LC_ALL=C grep -q '[^[:print:][:space:]]' "$2"; then
    echo "FAIL $1: the LaTeX is not pure ASCII"
    status=1
  fi
}

for body in "$dir"/*.tex; do
  name=$(basename "$body" .tex)
  ascii "$name" "$body"
  cat >"$dir/doc-$name.tex" <<TEX
\\documentclass{article}
\\usepackage{amsmath,amssymb,graphicx,color}
\\begin{document}
\\input{$name}
\\end{document}
TEX
  compile "$name" "$dir" "doc-$name"
done

# Handouts: standalone documents that bnproof compiles (exit 1 when
# pdflatex fails).
out="$dir/handout"
for s in $models \
  seed scale bn-backward; do
  ok=0
  $bin handout "$s" --out "$out" >/dev/null || ok=$?
  if [ ! -f "$out/$s.tex" ]; then
    echo "FAIL handout-$s: no $out/$s.tex (exit $ok)"
    status=1
    continue
  fi
  ascii "handout-$s" "$out/$s.tex"
  if [ "$ok" -eq 0 ] && [ -f "$out/$s.pdf" ]; then
    check_log "handout-$s" "$out/$s.log"
  else
    echo "FAIL handout-$s: exit $ok, pdflatex reported an error:"
    grep -A3 '^!' "$out/$s.log" | head -n 20 || true
    status=1
  fi
done
# Exercises: standalone documents (answers, proofs, counterexamples and
# residuals included); exit 1 would mean an answer not proved.
ex="$dir/exercises"
for m in $models; do
  ok=0
  $bin exercises "$m" --format latex --solutions --out "$ex" >/dev/null || ok=$?
  f="$ex/$m-exercises.tex"
  if [ "$ok" -ne 0 ] || [ ! -f "$f" ]; then
    echo "FAIL exercises-$m: exit $ok"
    status=1
    continue
  fi
  ascii "exercises-$m" "$f"
  compile "exercises-$m" "$ex" "$m-exercises"
done
exit $status
