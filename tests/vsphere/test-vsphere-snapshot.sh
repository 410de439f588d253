#!/bin/bash
# Snapshots and scanning on a vSphere host (govmomi's simulator on
# loopback): `vdisk scan --vsphere` reads every disk of every running VM
# from a snapshot taken just before and removed just after (seen in the
# simulator's call log), finds a planted signature in one VM's disk and
# nothing elsewhere, reading allocated data only; `vdisk vsphere cleanup`
# removes the snapshots a killed run leaves, and only those.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout
source "$(dirname "$0")/vcsim.sh"
cd "$WORK"
DB="$VDISK_TOP/tests/scan/db"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
start_vcsim -calls "$WORK/calls.log"
S="root@$VCSIM_HOST?cafile=$VCSIM_CERT"
vm0="$VCSIM_DIR/ha-host_VM0" vm1="$VCSIM_DIR/ha-host_VM1"
rm -f "$vm0"/disk1*.vmdk "$vm1"/disk1*.vmdk
"$VDISK" create --size 256M "$vm0/disk1.vmdk"
"$VDISK" create --type monolithicFlat --size 8M "$vm1/disk1.vmdk"
pattern noise 300000 4
"$VDISK" write --offset 1M --file noise "$vm1/disk1.vmdk"
"$VDISK" write --offset 100M --file noise "$vm0/disk1.vmdk"
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar
at=$((7 * 1024 * 1024 - 20))                  # straddles a grain boundary
"$VDISK" write --offset $at --file eicar "$vm0/disk1.vmdk"

: > calls.log
"$VDISK" scan --db "$DB" --json --vsphere "$S" > out.json 2>err; rc=$?
check "scan --vsphere finds the infection: exit 1 (got $rc: $(head -c 200 err))" test $rc = 1
check "one disk of one VM infected at the planted offset, the other clean" \
  python3 - out.json $at <<'PY'
import json, sys
d = {x["vm"]: x for x in json.load(open(sys.argv[1]))["disks"]}
at = int(sys.argv[2])
a, b = d.get("ha-host_VM0"), d.get("ha-host_VM1")
ok = a and b and len(d) == 2
ok = ok and a["status"] == "infected" and b["status"] == "clean" and not b["hits"]
ok = ok and [h["offset"] for h in a["hits"]] == [at] and "EICAR" in a["hits"][0]["name"]
ok = ok and a["disk"] == "[LocalDS_0] ha-host_VM0/disk1.vmdk" and a["device"] == "scsi0:0"
ok = ok and a["snapshot"] and b["snapshot"] and a["snapshot"] != b["snapshot"]
sys.exit(0 if ok else 1)
PY
check "only allocated data of the sparse disk was read (256 MiB disk: under 2 MiB)" python3 -c "
import json,sys; d={x['vm']: x for x in json.load(open('out.json'))['disks']}
sys.exit(0 if d['ha-host_VM0']['bytes_read'] < (2<<20) and d['ha-host_VM1']['bytes_read'] <= (8<<20) else 1)"
check "each VM's disk was read between its snapshot's creation and removal" \
  python3 - calls.log <<'PY'
import sys
calls = [l.strip() for l in open(sys.argv[1])]
ok = calls.count("CreateSnapshot_Task") == 2 and calls.count("RemoveSnapshot_Task") == 2
for vm in ("ha-host_VM0", "ha-host_VM1"):
    gets = [i for i, c in enumerate(calls) if c.startswith("GET " + vm + "/")]
    if not gets:
        ok = False
        continue
    made = [i for i, c in enumerate(calls[:gets[0]]) if c == "CreateSnapshot_Task"]
    gone = [i for i, c in enumerate(calls) if c == "RemoveSnapshot_Task" and i > gets[-1]]
    ok = ok and made and gone
    # nothing removed between the snapshot and the reads
    ok = ok and "RemoveSnapshot_Task" not in calls[made[-1]:gets[-1]]
sys.exit(0 if ok else 1)
PY
"$VDISK" vsphere ls --json "$S" > ls.json
check "no snapshot is left after the scan" python3 -c "
import json,sys; sys.exit(0 if all(not v['snapshots'] for v in json.load(open('ls.json'))['vms']) else 1)"

# a scan killed while it reads leaves its snapshot; cleanup finds it
pattern big.bin $((96 << 20)) 5
"$VDISK" write --offset 0 --file big.bin "$vm0/disk1.vmdk"
: > calls.log
"$VDISK" scan --db "$DB" --vsphere "$S" > /dev/null 2>&1 & scan=$!
for _ in $(seq 1000); do grep -q '^GET ha-host_VM0/' calls.log && break; sleep 0.01; done
kill -9 $scan 2>/dev/null; wait $scan 2>/dev/null
"$VDISK" vsphere ls --json "$S" > ls.json
check "a scan killed mid-read leaves its vdisk-scan snapshot behind" python3 -c "
import json,sys; s=[x['name'] for v in json.load(open('ls.json'))['vms'] for x in v['snapshots']]
sys.exit(0 if len(s) == 1 and s[0].startswith('vdisk-scan-') else 1)"
"$VDISK" vsphere cleanup "$S" > cleanup.out 2>err; rc=$?
check "cleanup removes it (exit $rc)" sh -c "test $rc = 0 && grep -q '^1 snapshot removed' cleanup.out"

# what a killed scan leaves behind, beside a snapshot of the user's
"$VDISK" vsphere snapshot --name vdisk-scan-999-1 "$S" ha-host_VM1 > snap1 2>err
"$VDISK" vsphere snapshot --name users-own "$S" ha-host_VM1 > snap2 2>err
"$VDISK" vsphere snapshot --name vdisk-scan-999-2 "$S" ha-host_VM0 > snap3 2>err
"$VDISK" vsphere ls --json "$S" > ls.json
check "three snapshots planted" python3 -c "
import json,sys; sys.exit(0 if sum(len(v['snapshots']) for v in json.load(open('ls.json'))['vms']) == 3 else 1)"
"$VDISK" vsphere cleanup "$S" > cleanup.out 2>err; rc=$?
check "cleanup removes the two vdisk snapshots (exit $rc)" \
  sh -c "test $rc = 0 && grep -q '^2 snapshots removed' cleanup.out"
"$VDISK" vsphere ls --json "$S" > ls.json
check "the user's own snapshot stays" python3 -c "
import json,sys; s=[x['name'] for v in json.load(open('ls.json'))['vms'] for x in v['snapshots']]
sys.exit(0 if s == ['users-own'] else 1)"
"$VDISK" vsphere cleanup --prefix "" "$S" > /dev/null 2>err; rc=$?
check "an empty cleanup prefix is refused (exit $rc)" test $rc != 0
"$VDISK" vsphere snapshot --remove "$(cat snap2)" "$S"; rc=$?
check "snapshot --remove removes one by moref (exit $rc)" test $rc = 0
"$VDISK" vsphere snapshot --name x "$S" no-such-vm > /dev/null 2>err; rc=$?
check "a snapshot of an unknown VM: clear error (exit $rc)" \
  sh -c "test $rc != 0 && grep -q 'no VM no-such-vm' err"
done_testing
