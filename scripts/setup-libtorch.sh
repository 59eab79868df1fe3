#!/usr/bin/env bash
# Installs LibTorch 2.11.0 (the `torch` wheel from PyPI) into a virtual
# environment outside the clone, so every fresh clone reuses it. Idempotent:
# seconds when it is already there. Prints the environment's torch folder on
# its last line of stdout (callers set LIBTORCH from it).
set -euo pipefail

venv="${BNPROOF_TORCH_VENV:-$HOME/.cache/bnproof/torch-2.11.0}"
want="2.11.0"
need_gb=6   # the wheel and its CUDA runtime packages take ~4.6 GB

torch_dir() {
  "$venv/bin/python3" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null
}
installed_version() {
  "$venv/bin/python3" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null
}

# NumPy, for the Python halves of the tests (`verify --against` vectors
# written by PyTorch code, `emit --lang numpy`). Small; added to an existing
# environment too. pip runs as `python3 -m pip`: a moved venv's scripts
# point at the old path.
numpy_want="2.4.6"
ensure_numpy() {
  local have
  have="$("$venv/bin/python3" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)"
  if [ "$have" != "$numpy_want" ]; then
    echo "installing numpy==$numpy_want from PyPI into $venv" >&2
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "numpy==$numpy_want" >&2
  fi
}

if [ -x "$venv/bin/python3" ] && [ "$(installed_version || true)" = "$want" ]; then
  echo "libtorch $want already in $venv" >&2
  ensure_numpy
  torch_dir
  exit 0
fi

parent="$(dirname "$venv")"
mkdir -p "$parent"
free_kb="$(df -Pk "$parent" | awk 'NR==2 {print $4}')"
if [ "$free_kb" -lt $((need_gb * 1024 * 1024)) ]; then
  echo "error: installing torch==$want needs about $need_gb GB free under $parent;" \
       "only $((free_kb / 1024 / 1024)) GB are free. Free some space or set" \
       "BNPROOF_TORCH_VENV to a roomier place." >&2
  exit 1
fi

echo "installing torch==$want from PyPI into $venv (about 4.6 GB, a minute or two)" >&2
rm -rf "$venv.partial"
python3 -m venv "$venv.partial"
"$venv.partial/bin/pip" install --quiet --disable-pip-version-check "torch==$want" >&2
# Only a complete install takes the final name, so an interrupted run is redone.
rm -rf "$venv"
mv "$venv.partial" "$venv"
ensure_numpy
# A moved venv's scripts point at the old path; python3 itself still works,
# and only python3 is used from here on.
torch_dir
