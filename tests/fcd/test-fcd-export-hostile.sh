#!/bin/bash
# The plugin's fcd:ID[@SSID] exports against hostile names and catalogs:
# IDs with /, .., %00, a very long ID, several @; catalog rows (an FCD's
# and a snapshot's) naming ../, an absolute path outside, a path through a
# symlinked folder.  Each export is refused with a clear reason, nothing
# outside the datastore is opened for writing or changed.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy python3 sqlite3 timeout
plugin=""
for b in "$VDISK_BUILD" "${VDISK_RELEASE:-}"; do
  [ -n "$b" ] || continue
  so="$VDISK_TOP/$b/plugins/nbdkit-vdisk-plugin.so"
  [ -e "$so" ] || continue
  if ldd "$so" 2>/dev/null | grep -q libasan; then continue; fi
  plugin=$so; break
done
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
cd "$WORK"
DS=$WORK/ds
mkdir -p "$DS" outside
A=$("$VDISK" fcd create --name a --size 4M "$DS")
S1=$("$VDISK" fcd snapshot "$DS" "$A")
"$VDISK" create --size 4M outside/victim.vmdk >/dev/null
pattern p 65536 7; "$VDISK" write --offset 0 --file p outside/victim.vmdk >/dev/null
cp "$DS/fcd-catalog.db" good.db
sum() { find outside -type f -exec sha256sum {} + | sort; }
sum > outside.sum

echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
rm -f "$S" pid
timeout 120 "$VDISK" serve --unix "$S" --pidfile pid --tls-psk users.psk "$DS" 2>serve.log &
for _ in $(seq 100); do [ -s pid ] && break; sleep 0.1; done
stop_server() { [ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null; wait 2>/dev/null; true; }
trap 'stop_server; rm -rf "$WORK"' EXIT
check "vdisk serve starts" test -s pid
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?socket="+sys.argv[2]+"&tls-psk-file="+sys.argv[3])' "$1" "$S" "$WORK/users.psk"; }
refused() {  # WHAT EXPORT NEEDLE
  if timeout 20 nbdinfo "$(uri "$2")" >/dev/null 2>&1; then not_ok "$1 (it opened)"; return; fi
  local m; m=$(timeout 20 nbdcopy "$(uri "status:$2")" - 2>/dev/null | grep -E -- "$3" | head -1 | cut -c1-150)
  if [ -n "$m" ]; then ok "$1: $m"
  else not_ok "$1 ($(timeout 20 nbdcopy "$(uri "status:$2")" - 2>&1 | head -c 200))"; fi
}
check "a good fcd: export reads" bash -c "timeout 20 nbdcopy '$(uri "fcd:$A")' - | cmp -s - <('$VDISK' fcd cat '$DS' '$A')"
refused "an ID with / is refused" "fcd:$A/../x" "not fcd:ID"
refused "an ID of .. is refused" "fcd:.." "not fcd:ID"
refused "an ID with a literal %00 is refused" "fcd:${A:0:8}%00" "not fcd:ID"
refused "a 4000-character ID is refused" "fcd:$(printf 'a%.0s' $(seq 4000))" "not fcd:ID|too long|refused"
refused "two @ are refused" "fcd:$A@$S1@$S1" "not fcd:ID"
refused "an empty snapshot ID is refused" "fcd:$A@" "not fcd:ID"

sql() { sqlite3 "$DS/fcd-catalog.db" "$1"; }
row() {  # WHAT SQL EXPORT
  cp good.db "$DS/fcd-catalog.db"; rm -f "$DS"/fcd-catalog.db-*
  sql "$2"
  refused "$1" "$3" "outside|refused|not|symbolic"
  sum | cmp -s - outside.sum || not_ok "  ... it changed a file outside the datastore"
  cp good.db "$DS/fcd-catalog.db"; rm -f "$DS"/fcd-catalog.db-*
}
row "an FCD row naming ../outside is refused" "UPDATE fcd SET path = '../outside/victim.vmdk'" "fcd:$A"
row "an FCD row naming an absolute path outside is refused" "UPDATE fcd SET path = '$WORK/outside/victim.vmdk'" "fcd:$A"
row "an FCD row naming ds/../outside is refused" "UPDATE fcd SET path = '$DS/../outside/victim.vmdk'" "fcd:$A"
ln -s "$WORK/outside" "$DS/link"
row "an FCD row through a symlinked folder is refused" "UPDATE fcd SET path = 'link/victim.vmdk'" "fcd:$A"
row "a snapshot row naming ../outside is refused" "UPDATE snapshot SET path = '../outside/victim.vmdk'" "fcd:$A@$S1"
row "a snapshot row through a symlinked folder is refused" "UPDATE snapshot SET path = 'link/victim.vmdk'" "fcd:$A@$S1"
rm "$DS/link"
same_outside() { sum | cmp -s - outside.sum; }
check "nothing outside the datastore changed" same_outside
check "the server still serves the good export" bash -c "timeout 20 nbdcopy '$(uri "fcd:$A@$S1")' - | cmp -s - <('$VDISK' fcd cat '$DS' '$A@$S1')"
done_testing
