# Sourced by the shell tests.  Provides a scratch folder, TAP output and
# helpers around the peers (qemu-img, 7z, vmdkinfo).
set -u
: "${VDISK:?run through tests/run.sh or set VDISK}"
VDISK_TOP=${VDISK_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TESTDATA="$VDISK_TOP/tests/data"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
_tap_n=0
_tap_failed=0
ok() { _tap_n=$((_tap_n+1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n+1)); _tap_failed=$((_tap_failed+1)); echo "not ok $_tap_n - $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# same_file A B: byte-identical
same_file() { cmp -s "$1" "$2"; }
requires() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || { echo "# skip: $c missing"; exit 77; }; done; }
# pattern FILE SIZE SEED: deterministic pseudo-random bytes
pattern() { python3 -c "import random,sys; r=random.Random($3); sys.stdout.buffer.write(r.randbytes($2))" > "$1"; }
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" = 0 ]; }
# ---- NBD servers (nbdkit, vdisk serve) on a Unix socket or loopback ----
# start_server socket|pidfile FILE COMMAND...: start COMMAND in the
# background (bounded by `timeout 300`), wait up to 10 s until FILE is a
# socket (socket) or a non-empty file (pidfile), and stop it when the test
# exits.  SERVER_PID is its pid; 1 when it did not become ready.
# stop_server [PID]: stop that server now (all of them without PID).
_servers=()
stop_server() {
  local p keep=()
  for p in "${_servers[@]}"; do
    if [ -z "${1:-}" ] || [ "$p" = "$1" ]; then kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
    else keep+=("$p"); fi
  done
  _servers=("${keep[@]}")
  return 0
}
start_server() {
  local kind=$1 file=$2; shift 2
  [ "$kind" = socket ] && rm -f "$file"
  timeout 300 "$@" &
  SERVER_PID=$!
  _servers+=("$SERVER_PID")
  trap 'stop_server; rm -rf "$WORK"' EXIT
  for _ in $(seq 100); do
    if [ "$kind" = socket ]; then [ -S "$file" ] && return 0
    else [ -s "$file" ] && return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The uninstrumented nbdkit-vdisk-plugin.so of the builds under test (nbdkit
# cannot load an ASan-instrumented plugin) in $plugin, "" when there is none.
find_plugin () {
  plugin=""
  local b so
  for b in "$VDISK_BUILD" "${VDISK_RELEASE:-}"; do
    [ -n "$b" ] || continue
    so="$VDISK_TOP/$b/plugins/nbdkit-vdisk-plugin.so"
    [ -e "$so" ] || continue
    if ldd "$so" 2>/dev/null | grep -q libasan; then continue; fi
    plugin=$so; break
  done
}
