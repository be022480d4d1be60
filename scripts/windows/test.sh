#!/usr/bin/env bash
# Run the compiled Node test suite under the Windows build of Node (Wine):
#   scripts/windows/test.sh [--node-option ...] [path ...]
# Paths (test files or folders) default to <repo>/dist/test, so build first
# (npm run build); a folder means the *.test.{js,mjs,cjs} files under it.
# Arguments that start with "-" are passed to node.exe before the files,
# e.g. --test-reporter=spec or --test-name-pattern=pipe.
# Exits with the test runner's status, or 75 when Wine itself failed (its server went away).
#
# This is Node's own runner (`node --test`), which starts one node.exe child
# per test file; that works under Wine (see README.md). Files run one at a
# time (--test-concurrency=1) unless a --test-concurrency option is given.
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
concurrency=(--test-concurrency=1)
for opt in "${opts[@]}"; do [[ $opt == --test-concurrency* ]] && concurrency=(); done
"$WIN_SCRIPTS/node.sh" --test "${concurrency[@]}" "${opts[@]}" "${files[@]}" <&0 &
pid=$!
# Pass SIGTERM/SIGINT on (e.g. from `timeout`), so no node.exe is orphaned.
# Said aloud, so that a run ended from outside is told apart from a failing one.
trap 'printf "windows-test: SIGTERM received, passed on to node.exe\n" >&2; kill -s TERM "$pid" 2>/dev/null || true' TERM
trap 'printf "windows-test: SIGINT received, passed on to node.exe\n" >&2; kill -s INT "$pid" 2>/dev/null || true' INT

# Wine's own server (wineserver) has been seen to go away under heavy load while node.exe runs;
# node.exe then waits for it forever. A watchdog looks for this prefix's server socket
# (/tmp/wine-*/server-<device>-<prefix inode, hex>/socket); once seen, if it is gone for 10 s the
# run is stopped with status 75, which means "Wine failed", not "a test failed".
server_id=$(stat -c '%D' "$WINEPREFIX")-$(printf '%x' "$(stat -c '%i' "$WINEPREFIX")")
wine_gone=$(mktemp)
(
  seen=0 missing=0
  while kill -0 "$pid" 2>/dev/null; do
    if compgen -G "/tmp/wine-*/server-$server_id/socket" >/dev/null || [ -S "/tmp/.wine-$(id -u)/server-$server_id/socket" ]; then
      seen=1 missing=0
    elif [ "$seen" = 1 ]; then
      missing=$((missing + 1))
      if [ "$missing" -ge 2 ]; then
        printf 'windows-test: Wine'"'"'s server for this prefix is gone (Wine failed, not a test); stopping the run\n' >&2
        echo gone >"$wine_gone"
        kill -s KILL "$pid" 2>/dev/null || true
        # Every Wine process of this prefix but this script and this loop. Wine rewrites a process's
        # command line and environment, so they are known by their working directory (inside the
        # prefix for Wine's own services) or by the cache's path in their command line (node.exe).
        win_cache_path="Z:${WIN_CACHE//\//\\}"
        for proc in /proc/[0-9]*; do
          p=${proc#/proc/}
          [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
          cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
          cmd=$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline") || continue
          if [[ $cwd == "$WINEPREFIX"/* || $cmd == *"$WIN_CACHE"* || $cmd == *"$win_cache_path"* ]]; then
            kill -s KILL "$p" 2>/dev/null || true
          fi
        done
        break
      fi
    fi
    sleep 5
  done
) &
watchdog=$!
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
status=0
wait "$pid" || status=$?
# The watchdog marks its file before it stops anything: then it is let finish its clean-up.
if [ ! -s "$wine_gone" ]; then kill "$watchdog" 2>/dev/null || true; fi
wait "$watchdog" 2>/dev/null || true
if [ -s "$wine_gone" ]; then status=75; fi
rm -f "$wine_gone"
end=$(date +%s.%N)
printf 'windows-test: node.exe --test exited %d after %.1f s\n' "$status" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" >&2
exit "$status"
