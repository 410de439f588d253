#!/bin/bash
# backup --rdm-data (an RDM descriptor mapping a regular file that stands
# for the LUN): the data is saved when readable, restore --rdm data / keep
# / phase one; an unreadable LUN leaves the descriptor only, said so.
# backup --full-type stream: the full point streamOptimized, incrementals
# sparse children of it that qemu-img and vdisk read; prune past it.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK
mkdir vm
$V create --size 8M vm/a.vmdk
pattern p1 300000 1; $V write --offset 0 --file p1 vm/a.vmdk
pattern vm/lun.img 1048576 2
cat > vm/rdm.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="vmfsRawDeviceMap"

# Extent description
RW 2048 VMFSRDM "lun.img"

# The Disk Data Base
#DDB
ddb.adapterType = "lsilogic"
D
cat > vm/a.vmx <<'X'
displayName = "a"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "a.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "rdm.vmdk"
X
cp vm/lun.img lun1.img

# -- RDM data ---------------------------------------------------------------
$V backup --rdm-data --json vm repo > m1.json 2>/dev/null
check "--rdm-data: the RDM's data is in the point" python3 -c "
import json; d=[x for x in json.load(open('m1.json'))['disks'] if x['kind']=='rdm'][0]
assert d['file'].startswith('disks/scsi0-1/') and d['capacity']==1048576 and d['mapped_device'].endswith('/vm/lun.img'), d"
check "verify: clean" $V backup verify repo
rm -rf r0; $V restore repo r0 2>r0.txt
check "default restore: phase one leaves the RDM out and names both ways back" bash -c "! grep -q scsi0:1 r0/a.vmx && test ! -e r0/rdm.vmdk && grep -q -- '--rdm data' r0.txt"
check "restore --rdm data: the RDM's data as a virtual disk of its name" bash -c "$V restore --rdm data repo rd 2>/dev/null && $V cat rd/rdm.vmdk | cmp -s - lun1.img && grep -q 'scsi0:1.fileName = \"rdm.vmdk\"' rd/a.vmx"
check "qemu-img reads the restored RDM data" bash -c "qemu-img convert -O raw rd/rdm.vmdk rd.raw && cmp -s rd.raw lun1.img"
check "restore --rdm keep: the mapping descriptor (the LUN is there)" bash -c "$V restore --rdm keep repo rk 2>/dev/null && cmp -s rk/rdm.vmdk vm/rdm.vmdk && grep -q scsi0:1 rk/a.vmx"
mv vm/lun.img lun.away
$V restore --rdm keep repo rg 2>rg.txt
check "restore --rdm keep with the LUN gone: left out, and said why" bash -c "test ! -e rg/rdm.vmdk && ! grep -q scsi0:1 rg/a.vmx && grep -q 'no longer there' rg.txt"
# a LUN that cannot be read: the descriptor only, with a warning
sleep 1
$V backup --rdm-data --json vm repo > m2.json 2>m2.err
check "an unreadable LUN: backup goes on, warns, the manifest says why" bash -c "grep -q 'could not be read' m2.err && python3 -c \"
import json; d=[x for x in json.load(open('m2.json'))['disks'] if x['kind']=='rdm'][0]
assert 'file' not in d and 'lun.img' in d['data_skipped'], d\""
rm -rf rn; $V restore --rdm data repo rn 2>rn.txt; rc=$?
check "restore --rdm data of a point without the data: a clear error, nothing made (exit $rc)" bash -c "[ $rc = 1 ] && grep -q 'without its data' rn.txt && test ! -e rn"
mv lun.away vm/lun.img
# a flipped byte in the RDM data file is found
f=$(python3 -c "import json; print([x for x in json.load(open('m1.json'))['disks'] if x['kind']=='rdm'][0]['file'])")
p1=$(python3 -c "import json; print(json.load(open('m1.json'))['point'])")
cp "repo/$f" keep.vmdk
python3 - "repo/$f" <<'P'
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2] ^= 1; open(p,'wb').write(b)
P
$V backup verify repo "$p1" > v.txt 2>&1; rc=$?
check "verify finds a flipped byte in the RDM data (exit $rc)" bash -c "[ $rc = 1 ] && grep -q 'content differs' v.txt"
cp keep.vmdk "repo/$f"
sleep 1
$V backup --rdm-data vm repo 2>/dev/null
$V restore --rdm data repo before 2>/dev/null
check "prune --keep 1 keeps the newest point's RDM data identical" bash -c "$V backup prune --keep 1 repo && $V backup verify repo >/dev/null && $V restore --rdm data repo after 2>/dev/null && $V cat after/rdm.vmdk | cmp -s - lun1.img && $V cat after/a.vmdk | cmp -s - <($V cat before/a.vmdk)"

# -- streamOptimized full point ----------------------------------------------
check "--full-type takes only the two layouts" bash -c "! $V backup --full-type vmfs vm srepo 2>/dev/null"
$V backup --full-type stream vm srepo 2>/dev/null
$V cat vm/a.vmdk > s1.raw
full=$(ls srepo/disks/scsi0-0/*.vmdk | head -1)
check "the full point's disk is streamOptimized" bash -c "qemu-img info '$full' | grep -q 'create type: streamOptimized'"
for i in 2 3; do
  sleep 1
  pattern w$i 70000 $((10 + i)); $V write --offset $((i * 1000000)) --file w$i vm/a.vmdk
  $V backup vm srepo 2>/dev/null
  $V cat vm/a.vmdk > s$i.raw
done
last=$(ls srepo/disks/scsi0-0/*.vmdk | tail -1)
check "the newest point is an incremental child over the stream base (qemu-img sees the chain)" bash -c "[ \$(qemu-img info --backing-chain '$last' | grep -c 'create type') = 3 ] && qemu-img info --backing-chain '$last' | grep -q 'create type: streamOptimized'"
ok_all=1
for i in 1 2 3; do
  f=$(ls srepo/disks/scsi0-0/*.vmdk | sed -n ${i}p)
  qemu-img convert -O raw "$f" q$i.raw && cmp -s q$i.raw s$i.raw && $V cat "$f" | cmp -s - s$i.raw || ok_all=0
done
check "every point reads as the VM did (qemu-img and vdisk)" test $ok_all = 1
check "verify over a stream base" $V backup verify srepo
check "prune --keep 1 past a stream base: the newest point reads the same" bash -c "$V backup prune --keep 1 srepo && [ \$($V backup list srepo | grep -c '^2') = 1 ] && $V backup verify srepo >/dev/null && $V restore srepo sr 2>/dev/null && $V cat sr/a.vmdk | cmp -s - s3.raw"
done_testing
