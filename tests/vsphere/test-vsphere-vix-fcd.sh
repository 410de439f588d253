#!/bin/bash
# First class disks on vSphere (govmomi's vCenter simulator, whose
# VStorageObjectManager lists, retrieves and registers them): a disk with
# known content registered as an FCD (RegisterDisk) is listed by
# `vdisk vsphere ls` (text and --json, through ListVStorageObject and
# RetrieveVStorageObject), and VixDiskLib with specType
# VIXDISKLIB_SPEC_VSTORAGE_OBJECT + serverName opens it by its ID and
# reads it byte for byte; an unknown ID is a clear error.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp
source "$(dirname "$0")/vcsim.sh"
B="$VDISK_TOP/$VDISK_BUILD"
C="$B/tests/vix-vsphere"
L="$B/compat"
[ -x "$C" ] || { echo "# skip: vix-vsphere not built"; exit 77; }
cd "$WORK"
VCSIM_PASSWORD=pw start_vcsim -vpx -user root
export VIX_HOST=${VCSIM_HOST%:*} VIX_PORT=${VCSIM_HOST##*:} VIX_THUMB=$VCSIM_THUMBPRINT
export VIX_USER=root VIX_PASSWORD=pw
printf 'pw\n' > pw
LS() { "$VDISK" vsphere ls "$@" --thumbprint "$VCSIM_THUMBPRINT" -u root -p pw "$VCSIM_HOST"; }

mkdir -p "$VCSIM_DIR/fcd"
pattern a.bin 700000 5
"$VDISK" create --type monolithicSparse --size 4M "$VCSIM_DIR/fcd/first.vmdk"
"$VDISK" write --offset 1M --file a.bin "$VCSIM_DIR/fcd/first.vmdk"
"$VDISK" cat "$VCSIM_DIR/fcd/first.vmdk" > want.raw
LS --json > before.json 2>err; rc=$?
check "ls --json before: an empty list of first class disks (exit $rc: $(head -c 200 err))" \
  python3 -c "import json,sys; sys.exit(0 if json.load(open('before.json'))['fcds'] == [] else 1)"
id=$(timeout 60 "$C" "$L" fcd-register "[$VCSIM_DS] fcd/first.vmdk" first 2>err); rc=$?
check "RegisterDisk makes the disk a first class disk (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -n '$id'"
LS --json > ls.json 2>err; rc=$?
# (the simulator's RegisterDisk records no capacityInMB: the listed
# capacity is what the server says, 0 here)
check "ls --json lists it: ID, name, backing file, datastore name and moref (exit $rc)" python3 - ls.json "$id" "$VCSIM_DS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); f = d["fcds"]
ds = {x["name"]: x["moref"] for x in d["datastores"]}
ok = len(f) == 1 and f[0]["id"] == sys.argv[2] and f[0]["name"] == "first" \
  and f[0]["file"] == "[%s] fcd/first.vmdk" % sys.argv[3] \
  and f[0]["datastore"] == sys.argv[3] and f[0]["datastore_moref"] == ds[sys.argv[3]] \
  and isinstance(f[0]["capacity"], int)
sys.exit(0 if ok else 1)
PY
LS > ls.txt 2>err
check "ls (text) has an fcd line naming ID and file" grep -q "^fcd $id  first  \[$VCSIM_DS\] fcd/first.vmdk  [0-9]* bytes" ls.txt
dsref=$(python3 -c "import json,sys; print(json.load(open('ls.json'))['fcds'][0]['datastore_moref'])")

VIX_FCD_ID=$id VIX_FCD_DS=$dsref timeout 60 "$C" "$L" read - got.raw 2>err; rc=$?
check "VixDiskLib: specType VSTORAGE_OBJECT + serverName opens the FCD by ID; its content is the disk's (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && cmp -s want.raw got.raw"
VIX_FCD_ID=$id timeout 60 "$C" "$L" info "$id" > out 2>err; rc=$?
check "  ... without datastoreMoRef too (found on any datastore), path = its ID, transport https (exit $rc)" \
  sh -c "test $rc = 0 && grep -qx 'capacity 8192' out && grep -qx 'transport https' out"
VIX_FCD_ID=$id timeout 60 "$C" "$L" allocated - > out 2>err; rc=$?
want="$((1048576 / 65536 * 128)) $(( ((1048576 + 700000 + 65535) / 65536 - 1048576 / 65536) * 128 ))"
check "  ... QueryAllocatedBlocks on it: the chunks of the grains written ($want)" \
  sh -c "test $rc = 0 && test \"\$(cat out | tr '\n' ' ')\" = '$want '"
VIX_FCD_ID=00000000-dead-beef-0000-000000000000 timeout 60 "$C" "$L" read - x.raw 2>err; rc=$?
check "an unknown FCD ID: VIX_E_FILE_NOT_FOUND naming it (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'error 4:' err && grep -q 00000000-dead-beef err"
VIX_FCD_ID=$id VIX_FCD_DS=$dsref timeout 60 "$C" "$L" read other.vmdk x.raw 2>err; rc=$?
check "a path that is not the connection's FCD is refused (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'is not the first class disk' err"
rm -f "$VCSIM_DIR/fcd/first.vmdk"
VIX_FCD_ID=$id timeout 60 "$C" "$L" read - x.raw 2>err; rc=$?
check "an FCD whose backing file is gone: a clear error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -qi 'not *found\|no such' err"
done_testing
