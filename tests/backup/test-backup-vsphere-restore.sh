#!/bin/bash
# vdisk restore REPO [POINT] 'vsphere://USER@HOST/[DS] FOLDER' against
# govmomi's simulator on loopback: a point of a simulator VM restored into
# another datastore folder as thin vmfs flat disks (read back remotely,
# equal to a local restore), the .vmx and the saved .nvram byte for byte;
# a second restore without --force is refused and changes nothing; a
# failure half-way deletes what the restore had sent; a wrong password is
# a clear error that sends nothing.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp md5sum
source "$VDISK_TOP/tests/vsphere/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
printf 'wrong\n' > bad
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
VCSIM_PASSWORD=pw start_vcsim -user root -failput /broken/ha-host_VM0.vmx
vm0="$VCSIM_DIR/ha-host_VM0"
rm -f "$vm0"/disk1*.vmdk
"$VDISK" create --size 32M "$vm0/disk1.vmdk"
pattern noise 300000 4
"$VDISK" write --offset 5M --file noise "$vm0/disk1.vmdk"
Q="?cafile=$VCSIM_CERT"
# the .nvram where the inventory says it is (the simulator: the datastore's top)
nv=$("$VDISK" vsphere ls --json "root@$VCSIM_HOST$Q" 2>/dev/null | python3 -c "
import json,sys; print([v for v in json.load(sys.stdin)['vms'] if v['name']=='ha-host_VM0'][0]['nvram'].split('] ',1)[1])")
pattern nvram.bin 8684 9
cp nvram.bin "$VCSIM_DIR/$nv"
H="vsphere://root@$VCSIM_HOST"
"$VDISK" backup "$H/ha-host_VM0$Q" repo > /dev/null 2>err; rc=$?
check "backup of the simulator VM (exit $rc: $(head -c 300 err))" test $rc = 0
"$VDISK" restore repo local 2>/dev/null
D="[$VCSIM_DS] restored"
"$VDISK" restore repo "$H/$D$Q" 2>err; rc=$?
check "restore into a datastore folder (exit $rc: $(head -c 300 err))" test $rc = 0
r="$VCSIM_DIR/restored"
check "the folder holds disk1.vmdk, disk1-flat.vmdk, the .vmx and the .nvram ($nv)" \
  sh -c "test -f '$r/disk1.vmdk' && test -f '$r/disk1-flat.vmdk' && test -f '$r/ha-host_VM0.vmx' && test -f '$r/${nv##*/}'"
check "the descriptor is a thin vmfs disk naming disk1-flat.vmdk" \
  sh -c "grep -q 'createType=\"vmfs\"' '$r/disk1.vmdk' && grep -q 'ddb.thinProvisioned = \"1\"' '$r/disk1.vmdk' && grep -q 'VMFS \"disk1-flat.vmdk\"' '$r/disk1.vmdk'"
"$VDISK" cat "$H/$D/disk1.vmdk$Q" > got.raw 2>err
"$VDISK" cat local/disk1.vmdk > want.raw
check "vdisk cat vsphere://... of the restored disk equals a local restore ($(stat -c %s got.raw) bytes)" \
  sh -c "test -s want.raw && cmp -s want.raw got.raw"
check "the .nvram is the saved one, byte for byte" cmp -s nvram.bin "$r/${nv##*/}"
check "the .vmx is the backed-up one" cmp -s local/ha-host_VM0.vmx "$r/ha-host_VM0.vmx"
before=$(cd "$r" && md5sum * | md5sum)
"$VDISK" restore repo "$H/$D$Q" 2>err; rc=$?
check "a second restore without --force is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'already exists' err && grep -q -- '--force' err"
check "  ... and changes nothing" test "$(cd "$r" && md5sum * | md5sum)" = "$before"
"$VDISK" write --offset 0 --file nvram.bin "$vm0/disk1.vmdk"
"$VDISK" backup "$H/ha-host_VM0$Q" repo > /dev/null 2>&1
"$VDISK" cat "$vm0/disk1.vmdk" > want2.raw
"$VDISK" restore --force repo "$H/$D$Q" 2>err; rc=$?
check "--force replaces it with the newest point (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && \"$VDISK\" cat '$r/disk1.vmdk' | cmp -s - want2.raw"
"$VDISK" restore repo "$H/[$VCSIM_DS] broken$Q" 2>err; rc=$?
check "a PUT that fails half-way is an error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'HTTP 500' err"
check "  ... and the disk it had sent is deleted again" \
  sh -c "! ls '$VCSIM_DIR/broken/'*.vmdk 2>/dev/null"
VDISK_VSPHERE_PASSWORD_FILE=$WORK/bad "$VDISK" restore repo "$H/[$VCSIM_DS] other$Q" 2>err; rc=$?
check "a wrong password is a clear error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'wrong user name or password' err"
check "  ... that sends nothing" test ! -e "$VCSIM_DIR/other"
"$VDISK" restore repo "$H/[$VCSIM_DS]%20restored2$Q" 2>err; rc=$?
check "%20 for the space works too (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -f '$VCSIM_DIR/restored2/disk1-flat.vmdk'"
"$VDISK" restore repo "$H/[$VCSIM_DS] a/../b$Q" 2>err; rc=$?
check "a folder with .. is refused (exit $rc)" sh -c "test $rc = 1 && grep -q 'plain datastore path' err"
"$VDISK" restore repo "$H/no-datastore$Q" 2>err; rc=$?
check "a destination without [DATASTORE] FOLDER is a usage error (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'DATASTORE' err"
done_testing
