#!/bin/bash
# vdisk scan --host: every disk a vdisk server lists, scanned over NBD with
# TLS (the guide's "scan all managed disks"), reading only allocated data
# through NBD block status.
source "$(dirname "$0")/../functions.sh"
requires nbdkit timeout python3
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
DB="$VDISK_TOP/tests/scan/db"
cd "$WORK"
mkdir -p ds/vm1 ds/vm2
"$VDISK" create --size 64M ds/vm1/clean.vmdk
"$VDISK" create --type twoGbMaxExtentSparse --size 64M ds/vm2/bad.vmdk
pattern noise 300000 4
"$VDISK" write --offset 1M --file noise ds/vm1/clean.vmdk
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar
at=$((7 * 1024 * 1024 - 20))                  # straddles a grain boundary
"$VDISK" write --offset $at --file eicar ds/vm2/bad.vmdk
echo pw | "$VDISK" user add --password-stdin users.psk bob

sock=$WORK/s.sock
timeout 60 "$VDISK" serve --tls-psk users.psk --unix "$sock" --pidfile pid ds 2>serve.log &
for _ in $(seq 100); do [ -s pid ] && break; sleep 0.1; done
trap 'kill "$(cat "$WORK/pid" 2>/dev/null)" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
check "vdisk serve started" test -s pid

uri="nbds+unix://bob@/?socket=$sock&tls-psk-file=$WORK/users.psk"
"$VDISK" scan --db "$DB" --json --host "$uri" > out.json 2>err; rc=$?
check "scan --host finds the infection: exit 1 (got $rc)" test $rc = 1
check "both listed disks were scanned, one infected" python3 - out.json $at <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["disks"]
st = {x["disk"].split("?")[0].split("/", 3)[-1]: x for x in d}
bad, clean = st.get("vm2/bad.vmdk"), st.get("vm1/clean.vmdk")
ok = bad and clean and bad["status"] == "infected" and clean["status"] == "clean"
h = bad["hits"][0] if ok else {}
at = int(sys.argv[2])
ok = ok and h.get("offset") == at and "EICAR" in h.get("name", "")
sys.exit(0 if ok else 1)
PY
check "only allocated data crossed the network (bytes read <= 1 MiB)" python3 -c "
import json; d=json.load(open('out.json'))['disks']
import sys; sys.exit(0 if all(x['bytes_read'] <= (1<<20) for x in d) else 1)"
"$VDISK" scan --db "$DB" --host "nbds+unix://bob@/?socket=$sock&tls-psk-file=/nonexistent" >/dev/null 2>err; rc=$?
check "a bad key file is an error: exit 2 (got $rc)" test $rc = 2
done_testing
