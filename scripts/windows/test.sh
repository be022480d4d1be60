#!/usr/bin/env bash
# Run the compiled Node test suite under the Windows build of Node (Wine):
#   scripts/windows/test.sh [--node-option ...] [path ...]
# Paths (test files or folders) default to <repo>/dist/test, so build first
# (npm run build). Arguments that start with "-" are passed to node.exe
# before the paths, e.g. --test-reporter=spec or --test-name-pattern=pipe.
# Exits with the test runner's status.
#
# This is Node's own runner (`node --test`), which starts one node.exe child
# per test file; that works under Wine (see README.md). Files run one at a
# time (--test-concurrency=1) to keep Wine's start-up cost predictable.
set -euo pipefail

# shellcheck source=env.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

"$WIN_SCRIPTS/setup.sh"

opts=()
paths=()
for arg in "$@"; do
  if [[ $arg == -* ]]; then
    opts+=("$arg")
  else
    paths+=("$arg")
  fi
done
if [[ ${#paths[@]} -eq 0 ]]; then
  paths=("$WIN_REPO_ROOT/dist/test")
fi
for p in "${paths[@]}"; do
  if [[ ! -e $p ]]; then
    printf 'windows-test: %s does not exist (run `npm run build` first?)\n' "$p" >&2
    exit 1
  fi
done

start=$(date +%s.%N)
status=0
"$WIN_SCRIPTS/node.sh" --test --test-concurrency=1 "${opts[@]}" "${paths[@]}" || status=$?
end=$(date +%s.%N)
printf 'windows-test: node.exe --test exited %d after %.1f s\n' "$status" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" >&2
exit "$status"
