#!/bin/bash
# Snapshots of first class disks on vSphere (govmomi's vCenter simulator,
# whose VStorageObjectManager creates, lists and deletes them): `vdisk
# vsphere fcd-snapshot` takes one and prints its ID, `vdisk vsphere ls`
# lists it under its FCD, VixDiskLib with vStorageObjSpec.ssId reads the
# snapshot's data (read-only, writes VIX_E_NOT_SUPPORTED), and --delete
# removes it; VMware's sample program reads the FCD and the snapshot with
# -fcdid/-fcdssid and a vSphere -host.  Reading needs the snapshot's backing file, which vSphere
# names through RetrieveSnapshotDetails; the simulator lacks that call, so
# its main answers it (-snapdetails) from a file this test placed: that
# path is verified only against the override.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp
source "$(dirname "$0")/vcsim.sh"
B="$VDISK_TOP/$VDISK_BUILD"
C="$B/tests/vix-vsphere"
L="$B/compat"
[ -x "$C" ] || { echo "# skip: vix-vsphere not built"; exit 77; }
cd "$WORK"
: > snaps.txt
VCSIM_PASSWORD=pw start_vcsim -vpx -user root -snapdetails "$WORK/snaps.txt"
export VIX_HOST=${VCSIM_HOST%:*} VIX_PORT=${VCSIM_HOST##*:} VIX_THUMB=$VCSIM_THUMBPRINT
export VIX_USER=root VIX_PASSWORD=pw
printf 'pw\n' > pw
VS() { "$VDISK" vsphere "$1" "${@:2}" --thumbprint "$VCSIM_THUMBPRINT" -u root -p pw; }

mkdir -p "$VCSIM_DIR/fcd"
pattern a.bin 700000 5
pattern b.bin 300000 6
f="$VCSIM_DIR/fcd/first.vmdk"
"$VDISK" create --type monolithicSparse --size 4M "$f"
"$VDISK" write --offset 1M --file a.bin "$f"
"$VDISK" cat "$f" > then.raw
id=$(timeout 60 "$C" "$L" fcd-register "[$VCSIM_DS] fcd/first.vmdk" first 2>err); rc=$?
check "the disk is a first class disk (exit $rc: $(head -c 200 err))" test -n "$id"
ss=$(VS fcd-snapshot --description before "$VCSIM_HOST" "$id" 2>err); rc=$?
check "fcd-snapshot takes a snapshot and prints its ID (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -n '$ss'"
# What vSphere keeps of the snapshot: the data as it was, in a file of
# its own; the FCD's disk then changes.
cp "$f" "$VCSIM_DIR/fcd/first-snap1.vmdk"
echo "$id $ss [$VCSIM_DS] fcd/first-snap1.vmdk" > snaps.txt
"$VDISK" write --offset 1M --file b.bin "$f"
"$VDISK" cat "$f" > now.raw
VS ls --json "$VCSIM_HOST" > ls.json 2>err
check "ls --json lists the snapshot under its FCD (ID, description)" python3 - ls.json "$id" "$ss" <<'PY'
import json, sys
f = [x for x in json.load(open(sys.argv[1]))["fcds"] if x["id"] == sys.argv[2]]
s = f[0]["snapshots"] if f else None
sys.exit(0 if s and len(s) == 1 and s[0]["id"] == sys.argv[3] and s[0]["description"] == "before" else 1)
PY
VS ls "$VCSIM_HOST" > ls.txt 2>err
check "ls (text) has a snapshot line below the fcd line" \
  sh -c "grep -A1 '^fcd $id' ls.txt | grep -q '^  snapshot $ss  .*  before$'"
dsref=$(python3 -c "import json,sys; print([x for x in json.load(open('ls.json'))['fcds'] if x['id']=='$id'][0]['datastore_moref'])")
VIX_FCD_ID=$id VIX_FCD_DS=$dsref VIX_FCD_SSID=$ss timeout 60 "$C" "$L" read - got.raw 2>err; rc=$?
check "VixDiskLib: vStorageObjSpec.ssId reads the snapshot's data (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && cmp -s then.raw got.raw"
VIX_FCD_ID=$id VIX_FCD_DS=$dsref timeout 60 "$C" "$L" read - got2.raw 2>err; rc=$?
check "  ... and without ssId the disk as it is now" sh -c "test $rc = 0 && cmp -s now.raw got2.raw && ! cmp -s then.raw now.raw"
VIX_FCD_ID=$id VIX_FCD_SSID=$ss timeout 60 "$C" "$L" write - > out 2>err; rc=$?
check "Write to the snapshot: VIX_E_NOT_SUPPORTED (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'error 6' err"
VIX_FCD_ID=$id VIX_FCD_SSID=00000000-0000-0000-0000-00000000beef timeout 60 "$C" "$L" read - x.raw 2>err; rc=$?
check "an unknown snapshot ID: a clear error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'RetrieveSnapshotDetails' err"

# VMware's sample program: -fcdid (and -fcdssid) with a vSphere -host
SAMPLE="$B/bin/vix-disklib-sample"
SA=(-host "$VCSIM_HOST" -user root -password pw -thumb "$VCSIM_THUMBPRINT" -fcdid "$id" -ds "$dsref")
timeout 60 "$SAMPLE" -info "${SA[@]}" > out 2>err; rc=$?
check "sample -info -host H -user U -password P -thumb T -fcdid ID -ds MOREF (exit $rc: $(tail -c 300 err))" \
  sh -c "test $rc = 0 && grep -q 'capacity *= 8192 sectors' out && grep -q 'Transport mode of this handle: https' out"
timeout 60 "$SAMPLE" -clone fcd-now.vmdk "${SA[@]}" > out 2>err; rc=$?
check "sample -clone LOCAL -fcdid ID -host H: the FCD into a local disk (exit $rc: $(tail -c 300 err))" \
  sh -c "test $rc = 0 && grep -q 'Cloned $id to fcd-now.vmdk' out && \"$VDISK\" cat fcd-now.vmdk | cmp -s - now.raw"
timeout 60 "$SAMPLE" -clone fcd-then.vmdk "${SA[@]}" -fcdssid "$ss" > out 2>err; rc=$?
check "  ... with -fcdssid SNAPSHOT: the snapshot's data (exit $rc: $(tail -c 300 err))" \
  sh -c "test $rc = 0 && \"$VDISK\" cat fcd-then.vmdk | cmp -s - then.raw"
timeout 60 "$SAMPLE" -info "${SA[@]/pw/nope}" > out 2>err; rc=$?
check "  ... a wrong password: 3014 (0xbc6) saying why (exit $rc)" \
  sh -c "test $rc != 0 && cat out err | grep -q 'bc6 VixDiskLib_Connect: .*cannot complete login'"

VS fcd-snapshot --delete "$ss" "$VCSIM_HOST" "$id" 2>err; rc=$?
check "fcd-snapshot --delete removes it (exit $rc: $(head -c 200 err))" test $rc = 0
VS ls --json "$VCSIM_HOST" > ls2.json 2>err
check "  ... ls lists no snapshot of the FCD" python3 -c "
import json,sys; f=[x for x in json.load(open('ls2.json'))['fcds'] if x['id']=='$id']
sys.exit(0 if f and f[0]['snapshots'] == [] else 1)"
VS fcd-snapshot --delete "$ss" "$VCSIM_HOST" "$id" 2>err; rc=$?
check "deleting it again is a clear error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'DeleteSnapshot' err"
VS fcd-snapshot "$VCSIM_HOST" 00000000-dead-beef-0000-000000000000 2>err; rc=$?
check "a snapshot of an unknown FCD: a clear error naming it (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 00000000-dead-beef err"
done_testing
