#!/bin/bash
# vdisk serve keeps its datastore scan between opens (plugins/nbdkit/
# scan-cache.c): a second open of a quiet datastore reuses it, and any
# change the scan depends on is seen at the next open: a disk created in a
# subfolder (whose mtime is not the top folder's) is listed at once, and a
# descriptor rewritten in place (same inode, no folder change) to name
# another disk's file as its extent makes that file refused at once.
# Lists and opens of a changed datastore that come at once read it once:
# one scan runs, the others wait for it and use its result.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo python3 timeout
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
cd "$WORK"
mkdir -p ds/vm
"$VDISK" create -s 1M ds/vm/a.vmdk >/dev/null
"$VDISK" create -t monolithicFlat -s 2M ds/vm/b.vmdk >/dev/null
echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
start_server pidfile pid "$VDISK" serve --verbose --tls-psk users.psk --unix "$S" --pidfile pid ds 2>serve.log
check "vdisk serve starts" test -s pid
Q="socket=$S&tls-psk-file=$WORK/users.psk"
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?"+sys.argv[2])' "$1" "$Q"; }
opens() { timeout 20 nbdinfo "$(uri "$1")" >/dev/null 2>&1; }
listed() { timeout 20 nbdinfo --list --json "$(uri "")" 2>/dev/null | grep -q "\"export-name\": \"$1\""; }
reused() { grep -c 'datastore scan reused' serve.log; }

# a scan is kept only when nothing it read changed in the 2 s before it
sleep 3
check "a.vmdk opens" opens vm/a.vmdk
n0=$(reused)
check "b.vmdk opens" opens vm/b.vmdk
check "... reusing the scan of the first open" test "$(reused)" -gt "$n0"
check "a.vmdk opens again, the scan reused again" bash -c "opens() { timeout 20 nbdinfo '$(uri vm/a.vmdk)' >/dev/null 2>&1; }; opens && [ \$(grep -c 'datastore scan reused' serve.log) -gt $((n0 + 1)) ]"

# a new disk in the subfolder: found at once
"$VDISK" create -s 1M ds/vm/c.vmdk >/dev/null
check "a disk created after the kept scan is listed at once" listed vm/c.vmdk
check "... and opens" opens vm/c.vmdk

# b's descriptor rewritten in place to use a.vmdk as its extent
sleep 3
check "a.vmdk still opens (the scan is kept again)" opens vm/a.vmdk
n1=$(reused)
check "... the scan reused" bash -c "opens() { timeout 20 nbdinfo '$(uri vm/c.vmdk)' >/dev/null 2>&1; }; opens && [ \$(grep -c 'datastore scan reused' serve.log) -gt $n1 ]"
ino=$(stat -c %i ds/vm/b.vmdk)
python3 - ds/vm/b.vmdk <<'PY'
import sys
with open(sys.argv[1], 'r+') as f:
    t = f.read().replace('"b-flat.vmdk"', '"a.vmdk"')
    f.seek(0); f.write(t); f.truncate()
PY
check "the descriptor kept its inode (no folder changed)" test "$(stat -c %i ds/vm/b.vmdk)" = "$ino"
check "a.vmdk, now b's extent, is refused at once" bash -c "! timeout 20 nbdinfo '$(uri vm/a.vmdk)' >/dev/null 2>&1"
check "... and is no longer listed" bash -c "! timeout 20 nbdinfo --list --json '$(uri "")' 2>/dev/null | grep -q '\"vm/a.vmdk\"'"

# many clients at once after a change: one scan.  A hidden folder (read
# by the scan, never listed) of 3000 descriptors makes a scan long enough
# for the lists (which scan without the open lock) to overlap.  (b, now
# refused, goes: nbdinfo --list fails on a listed export it cannot open.)
rm ds/vm/b.vmdk ds/vm/b-flat.vmdk
mkdir ds/.many
"$VDISK" create -t monolithicFlat -s 1M ds/.many/m.vmdk >/dev/null
for i in $(seq 3000); do cp ds/.many/m.vmdk ds/.many/d$i.vmdk; done
sleep 3
scans() { grep -c 'datastore scanned' serve.log; }
n2=$(scans)
pids=()
for i in 1 2 3 4 5 6; do
  timeout 30 nbdinfo --list --json "$(uri "")" >list$i.out 2>&1 & pids+=($!)
  timeout 30 nbdinfo "$(uri vm/c.vmdk)" >open$i.out 2>&1 & pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
check "12 lists and opens at once all succeed" test "$fails" = 0
check "... and c.vmdk is in every list" bash -c 'for i in 1 2 3 4 5 6; do grep -q "\"export-name\": \"vm/c.vmdk\"" list$i.out || exit 1; done'
check "... one scan read the datastore for all of them ($(( $(scans) - n2 )))" test "$(( $(scans) - n2 ))" = 1
stop_server
done_testing
