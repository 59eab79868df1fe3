#!/usr/bin/env bash
# Opens every page of the `bnproof docs` site in headless Chromium and fails
# unless each loads without console or page errors, every MathML formula is
# rendered as MathML with a non-zero size, every model page shows its
# computational-graph figure (svg.graph) with a non-zero size, and every link between pages (and
# its #anchor) resolves. Writes a screenshot of the seed page to
# target/seed-page.png. A deliberately broken page is checked first: the
# check must reject it, or it proves nothing.
#
# Set-up (cached outside the clone, seconds when present): Debian's chromium
# (apt-get, as root) and playwright-core from npm in
# ~/.cache/bnproof/browser-check.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT_VERSION=1.65.1
cache="${BNPROOF_CACHE:-$HOME/.cache/bnproof}/browser-check"
chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
  echo "== installing chromium (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -f "$cache/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$cache/node_modules/playwright-core/package.json"; then
  echo "== installing playwright-core $PLAYWRIGHT_VERSION into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error \
    "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi

echo "== bnproof docs (release)"
cargo build --release --quiet
site=target/site
rm -rf "$site"
./target/release/bnproof docs --out "$site"

echo "== headless chromium: $("$chromium" --version 2>/dev/null | head -n 1)"
BROWSER_CHECK_MODULES="$cache/node_modules" CHROMIUM="$chromium" \
  node scripts/browser-check.cjs "$site" target/seed-page.png
