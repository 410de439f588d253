#!/bin/bash
# vdisk serve keeps its datastore scan between opens (plugins/nbdkit/
# scan-cache.c): a second open of a quiet datastore reuses it, and any
# change the scan depends on is seen at the next open: a disk created in a
# subfolder (whose mtime is not the top folder's) is listed at once, and a
# descriptor rewritten in place (same inode, no folder change) to name
# another disk's file as its extent makes that file refused at once.
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
stop_server
done_testing
