#!/usr/bin/env bash
# Installed size of the packed package and its production dependencies, in an empty folder, as a
# new user's `npm install tokenlay openai` gets it. Prints the size with and without openai (a peer).
# Usage: scripts/install-weight.sh [tarball]   (default: packs this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
tarball=${1:-}
if [ -z "$tarball" ]; then
  npm run build --silent >/dev/null
  tarball=".tmp/$(npm pack --ignore-scripts --pack-destination .tmp 2>/dev/null | tail -1)"
fi
tarball=$(realpath "$tarball")
dir=$(mktemp -d .tmp/install-weight-XXXX)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --omit=dev "$tarball" openai >/dev/null)
total=$(du -sk "$dir/node_modules" | cut -f1)
peer=$(du -sk "$dir/node_modules/openai" | cut -f1)
echo "tokenlay + dependencies + openai: $((total / 1024)) MB; without openai: $(((total - peer) / 1024)) MB"
