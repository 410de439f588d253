#!/bin/bash
# Incremental backup of a vSphere VM: govmomi's simulator gives disks no
# changeId and has no QueryChangedDiskAreas, so the simulator's main sets
# the changeId this test names (-changeid) and answers
# QueryChangedDiskAreas from the areas this test wrote, each only to a
# query since the changeId it was written after (-cbt): this path is
# verified only against that override.  A full point, bytes written into
# the datastore disk and the changeId advanced, then an incremental point
# that reads only the changed areas; a restore of each point equals the
# disk at its time.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp
source "$VDISK_TOP/tests/vsphere/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
: > areas.txt
: > cids.txt
start_vcsim -cbt "$WORK/areas.txt" -changeid "$WORK/cids.txt"
Q="?cafile=$VCSIM_CERT"
H="vsphere://root@$VCSIM_HOST"
vm0="$VCSIM_DIR/ha-host_VM0"
rm -f "$vm0"/disk1*.vmdk
"$VDISK" vsphere ls --json "root@$VCSIM_HOST$Q" > ls.json
read -r m0 k0 cap < <(python3 -c "
import json; v=[x for x in json.load(open('ls.json'))['vms'] if x['name']=='ha-host_VM0'][0]
print(v['moref'], v['disks'][0]['key'], v['disks'][0]['capacity'])")
# the disk as large as the simulator says it is (its answers end there)
"$VDISK" create --size "$cap" "$vm0/disk1.vmdk"
pattern noise 300000 4
"$VDISK" write --offset 65536 --file noise "$vm0/disk1.vmdk"
c1="52 0a 1b 2c 3d 4e 5f 60-71 82 93 a4 b5 c6 d7 e8/1"
c2="52 0a 1b 2c 3d 4e 5f 60-71 82 93 a4 b5 c6 d7 e8/2"
echo "$m0 $k0 $c1" > cids.txt
"$VDISK" cat "$vm0/disk1.vmdk" > t1.raw
"$VDISK" backup --json "$H/ha-host_VM0$Q" repo > m1.json 2>err; rc=$?
check "full backup with the disk's changeId set (exit $rc: $(head -c 300 err))" \
  python3 -c "
import json,sys; d=json.load(open('m1.json'))['disks'][0]
sys.exit(0 if d['kind']=='full' and d['change_id']=='$c1' else 1)"
# the guest writes two areas after the first point; vSphere reports them
# since c1 and moves the disk to c2
pattern a.bin 200000 7
pattern b.bin 4096 8
"$VDISK" write --offset 196608 --file a.bin "$vm0/disk1.vmdk"
"$VDISK" write --offset 917504 --file b.bin "$vm0/disk1.vmdk"
cat > areas.txt <<EOT
$m0 $k0 196608 200000 $c1
$m0 $k0 917504 4096 $c1
$m0 $k0 0 $cap someotherid
EOT
echo "$m0 $k0 $c2" > cids.txt
"$VDISK" cat "$vm0/disk1.vmdk" > t2.raw
"$VDISK" backup --json "$H/ha-host_VM0$Q" repo > m2.json 2>err; rc=$?
check "incremental backup (exit $rc: $(head -c 300 err))" test $rc = 0
check "  ... an incremental point over the full one, with the new changeId" python3 -c "
import json,sys; m=json.load(open('m2.json')); d=m['disks'][0]; p=json.load(open('m1.json'))['point']
sys.exit(0 if d['kind']=='incremental' and d['change_id']=='$c2' and d['parent_point']==p else 1)"
check "  ... that read only the changed areas (204096 bytes; the --json summary says $(python3 -c "import json; print(json.load(open('m2.json'))['bytes_read'])"))" \
  python3 -c "
import json,sys; m=json.load(open('m2.json'))
sys.exit(0 if m['bytes_read']==204096 and m['disks'][0]['bytes_read']==204096 else 1)"
check "verify" "$VDISK" backup verify repo
p1=$(python3 -c "import json; print(json.load(open('m1.json'))['point'])")
p2=$(python3 -c "import json; print(json.load(open('m2.json'))['point'])")
"$VDISK" restore repo "$p1" r1 2>/dev/null
"$VDISK" restore repo "$p2" r2 2>/dev/null
check "a restore of the full point equals the disk at its time" \
  bash -c "\"$VDISK\" cat r1/disk1.vmdk | cmp -s - t1.raw"
check "a restore of the incremental point equals the disk at its time" \
  bash -c "\"$VDISK\" cat r2/disk1.vmdk | cmp -s - t2.raw"
done_testing
