#!/usr/bin/env bash
# Run the Windows build of Node (node.exe) under Wine, as if it were `node`:
#   scripts/windows/node.sh [node options] [script.js] [args...]
# Arguments pass through unchanged; stdout/stderr are forwarded; the exit
# status is node.exe's. Works from any cwd and needs no display. Runs
# scripts/windows/setup.sh first if the cache is missing.
#
# Paths: leave absolute Linux paths as they are. Wine shows the Linux root as
# drive Z: and the cwd as Z:\..., so node.exe resolves /work/x.js against the
# current drive to Z:\work\x.js. Rewriting them to Z:\work\x.js would break
# ESM specifiers (--import, import()): those reject a drive-letter path
# ("Received protocol 'z:'"), while /work/x.js and file:///Z:/work/x.js work.
#
# stdout/stderr: under Wine, node.exe cannot use a Unix pipe or socket as
# process.stdout/stderr/stdin ("Error: open EBADF" from uv_pipe_open; WSL1 had
# the same flaw). Files, /dev/null and terminals work. So when stdout or
# stderr is a pipe or socket (`node.sh ... | tee`, `$(node.sh ...)`, most CI
# runners), node.exe writes to a temporary file instead and `tail -f` copies
# it to the real stream as it grows. Order between stdout and stderr is then
# only kept per stream. Child processes that inherit stdio write to the same
# file, which is what they would do on real Windows with redirected output.
# stdin is passed as is: a script that reads process.stdin needs a file,
# /dev/null or a terminal there, not a pipe.
set -euo pipefail

# shellcheck source=env.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

node_exe=$(cat "$WIN_NODE_POINTER" 2>/dev/null || true)
if [[ -z $node_exe || ! -f $node_exe || ! -f $WINEPREFIX/$WIN_PREFIX_MARKER_NAME || ! -x $WINE64 ]]; then
  "$WIN_SCRIPTS/setup.sh"
  node_exe=$(cat "$WIN_NODE_POINTER")
fi

is_stream() { [[ -p /dev/fd/$1 || -S /dev/fd/$1 ]]; }

if ! is_stream 1 && ! is_stream 2; then
  exec "$WINE64" "$node_exe" "$@"
fi

spool=$(mktemp -d "${TMPDIR:-/tmp}/localsocket-winnode.XXXXXX")
out=/dev/fd/1
err=/dev/fd/2
followers=()
if is_stream 1; then
  out=$spool/stdout
  : >"$out"
fi
if is_stream 2; then
  err=$spool/stderr
  : >"$err"
fi

# stdin is given explicitly: a background job would otherwise get /dev/null.
"$WINE64" "$node_exe" "$@" <&0 >>"$out" 2>>"$err" &
pid=$!

# shellcheck disable=SC2317  # called from the traps below
forward() { kill -s "$1" "$pid" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP

# tail -f --pid prints everything written, then exits once node.exe is gone.
if [[ $out != /dev/fd/1 ]]; then
  tail -n +1 -s 0.1 --pid="$pid" -f "$out" &
  followers+=("$!")
fi
if [[ $err != /dev/fd/2 ]]; then
  tail -n +1 -s 0.1 --pid="$pid" -f "$err" >&2 &
  followers+=("$!")
fi

# A trapped signal interrupts `wait` (status >128) while node.exe may still
# run: keep waiting until it is gone, then collect its real status.
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
status=0
wait "$pid" || status=$?
for f in "${followers[@]}"; do
  wait "$f" || true
done
rm -rf "$spool"
exit "$status"
