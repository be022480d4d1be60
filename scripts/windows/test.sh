#!/usr/bin/env bash
# Run the compiled Node test suite under the Windows build of Node (Wine):
#   scripts/windows/test.sh [--node-option ...] [path ...]
# Paths (test files or folders) default to <repo>/dist/test, so build first
# (npm run build); a folder means the *.test.{js,mjs,cjs} files under it.
# Arguments that start with "-" are passed to node.exe before the files,
# e.g. --test-reporter=spec or --test-name-pattern=pipe.
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
# A folder stands for the *.test.{js,mjs,cjs} files under it, like `npm test`
# (dist/test/*.test.js). Node 20 given the folder itself would also run every
# .js file inside any folder named "test" (helpers, fixtures) as a test file.
files=()
for p in "${paths[@]}"; do
  if [[ -d $p ]]; then
    mapfile -t found < <(find "$p" -type f \( -name '*.test.js' -o -name '*.test.mjs' -o -name '*.test.cjs' \) | sort)
    if [[ ${#found[@]} -eq 0 ]]; then
      printf 'windows-test: no *.test.js files under %s\n' "$p" >&2
      exit 1
    fi
    files+=("${found[@]}")
  elif [[ -e $p ]]; then
    files+=("$p")
  else
    printf 'windows-test: %s does not exist (run npm run build first?)\n' "$p" >&2
    exit 1
  fi
done

start=$(date +%s.%N)
"$WIN_SCRIPTS/node.sh" --test --test-concurrency=1 "${opts[@]}" "${files[@]}" <&0 &
pid=$!
# Pass SIGTERM/SIGINT on (e.g. from `timeout`), so no node.exe is orphaned.
# Said aloud, so that a run ended from outside is told apart from a failing one.
trap 'printf "windows-test: SIGTERM received, passed on to node.exe\n" >&2; kill -s TERM "$pid" 2>/dev/null || true' TERM
trap 'printf "windows-test: SIGINT received, passed on to node.exe\n" >&2; kill -s INT "$pid" 2>/dev/null || true' INT
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
status=0
wait "$pid" || status=$?
end=$(date +%s.%N)
printf 'windows-test: node.exe --test exited %d after %.1f s\n' "$status" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" >&2
exit "$status"
