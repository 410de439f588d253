#!/bin/bash
# vdisk backup vsphere://USER@HOST/VM REPO against govmomi's simulator on
# loopback: a snapshot taken and removed (the call log), the disk read over
# the datastore, the .vmx downloaded, a point that restores to the VM's
# content and verifies; a VM that does not exist is a clear error.  (The
# simulator gives disks no changeId, so its points are full ones.)
source "$(dirname "$0")/../functions.sh"
requires python3 timeout
source "$VDISK_TOP/tests/vsphere/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
start_vcsim -calls "$WORK/calls.log"
vm0="$VCSIM_DIR/ha-host_VM0"
rm -f "$vm0"/disk1*.vmdk
"$VDISK" create --size 32M "$vm0/disk1.vmdk"
pattern noise 300000 4
"$VDISK" write --offset 5M --file noise "$vm0/disk1.vmdk"
"$VDISK" cat "$vm0/disk1.vmdk" > want.raw
: > calls.log
"$VDISK" backup --json "vsphere://root@$VCSIM_HOST/ha-host_VM0?cafile=$VCSIM_CERT" repo > m.json 2>err; rc=$?
check "backup of a vSphere VM (exit $rc: $(head -c 300 err))" test $rc = 0
check "a snapshot was taken before the reads and removed after" python3 - calls.log <<'PY'
import sys
c = [l.strip() for l in open(sys.argv[1])]
gets = [i for i, x in enumerate(c) if x.startswith("GET ha-host_VM0/")]
ok = c.count("CreateSnapshot_Task") == 1 and c.count("RemoveSnapshot_Task") == 1 and gets
ok = ok and c.index("CreateSnapshot_Task") < gets[0] and c.index("RemoveSnapshot_Task") > gets[-1]
sys.exit(0 if ok else 1)
PY
check "the manifest: one full disk, the .vmx" python3 -c "
import json; m=json.load(open('m.json')); d=m['disks']
assert len(d)==1 and d[0]['kind']=='full' and d[0]['device']=='scsi0:0' and d[0]['name']=='disk1.vmdk', d
assert any(f['name'].endswith('.vmx') for f in m['files']), m['files']"
check "verify" "$VDISK" backup verify repo
"$VDISK" restore repo r 2>/dev/null
check "the restored disk has the VM's content" bash -c "\"$VDISK\" cat r/disk1.vmdk | cmp -s - want.raw"
"$VDISK" vsphere ls --json "root@$VCSIM_HOST?cafile=$VCSIM_CERT" > ls.json
check "no snapshot is left" python3 -c "
import json,sys; sys.exit(0 if all(not v['snapshots'] for v in json.load(open('ls.json'))['vms']) else 1)"
"$VDISK" backup "vsphere://root@$VCSIM_HOST/no-such-vm?cafile=$VCSIM_CERT" repo2 2>e2; rc=$?
check "an unknown VM: a clear error, no repository (exit $rc)" bash -c "[ $rc = 1 ] && grep -q 'no VM named no-such-vm' e2 && test ! -e repo2"
done_testing
