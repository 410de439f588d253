#!/bin/bash
# VM backup and restore: a VM folder with a chained disk, a split disk, an
# RDM mapping and an .nvram; five points with random writes between them;
# every point restored (two layouts) identical to the VM at that time
# (qemu-img compare); --at; prune keeps the survivors identical; verify
# finds a flipped byte; bad input is refused with nothing changed.  (kill -9
# during backup and restore: tests/crash/test-crash-backup.sh.)
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3 sha256sum
cd "$WORK"
V=$VDISK

. "$VDISK_TOP/tests/backup/backup-vm.sh"

for i in 1 2 3 4 5; do
  [ $i -gt 1 ] && scribble $i
  state_of $i
  $V backup --json vm repo > b$i.json || not_ok "backup $i failed"
  python3 -c "import json; print(json.load(open('b$i.json'))['point'])" > p$i
  sleep 1.1
done
check "five points listed" bash -c "[ \$($V backup list repo | wc -l) = 5 ]"
check "the first point is full, the next ones incremental" bash -c "python3 -c \"
import json
a = [d['kind'] for d in json.load(open('b1.json'))['disks']]
b = [d['kind'] for d in json.load(open('b3.json'))['disks']]
assert a == ['full', 'full', 'rdm'] and b == ['incremental', 'incremental', 'rdm'], (a, b)\""
check "an incremental point copies little (under 2 MiB of 72)" bash -c "python3 -c \"
import json; assert json.load(open('b4.json'))['bytes_read'] < 2 << 20\""
check "the VM's disks track changes now (descriptor version 3)" grep -aq changeTrackPath vm/data.vmdk
check "every point opens directly in qemu-img (a plain chain)" bash -c "for f in repo/disks/*/*.vmdk; do qemu-img info \$f >/dev/null || exit 1; done"

restore_ok() {  # point N dest [type]
  local n=$1 d=$2 t=${3:-}
  rm -rf "$d"
  $V restore ${t:+--type $t} repo "$(cat p$n)" "$d" 2>/dev/null || return 1
  qemu-img compare -q -f vmdk -F raw "$d/sys-000001.vmdk" st/$n/sys.raw || return 1
  qemu-img compare -q -f vmdk -F raw "$d/data.vmdk" st/$n/data.raw || return 1
  cmp -s "$d/web.nvram" st/$n/web.nvram || return 1
}
for i in 1 2 3 4 5; do
  check "point $i restored (layouts as the VM had them) is identical" restore_ok $i r$i
  check "point $i restored as monolithicFlat is identical" restore_ok $i f$i monolithicFlat
done
check "restored disks carry no tracking (version 1)" bash -c "! grep -aq changeTrackPath r5/data.vmdk && grep -q '^version=1' r5/data.vmdk"
check "RDM phase one: the mapping is left out of the .vmx" bash -c "! grep -q 'scsi0:2' r5/web.vmx && grep -q 'scsi0:1.fileName' r5/web.vmx && test ! -e r5/rdm.vmdk"
rm -rf rk; $V restore --rdm keep repo rk 2>rk.txt
check "--rdm keep restores the mapping descriptor and its .vmx lines" bash -c "cmp -s rk/rdm.vmdk vm/rdm.vmdk && grep -q 'scsi0:2.fileName' rk/web.vmx"
$V restore repo rp 2>rp.txt
check "the report says what to re-add" grep -q 'RDM disk rdm.vmdk left out' rp.txt

# --at: the newest point at or before the time
t3=$(python3 -c "import json; print(json.load(open('b3.json'))['time'])")
rm -rf ra; $V restore --at "${t3%Z}" repo ra 2>/dev/null
check "--at the third point's time restores the third point" bash -c "qemu-img compare -q -f vmdk -F raw ra/data.vmdk st/3/data.raw"
check "--at before the first point is a clear error" bash -c "! $V restore --at 2001-01-01T00:00 repo rz 2>e.txt && grep -q 'no point at or before' e.txt && test ! -e rz"

# verify: clean, then a flipped byte in a disk file and in the nvram copy
check "verify passes" $V backup verify repo
f=$(ls repo/disks/scsi0-1/*.vmdk | tail -1); cp "$f" keep.vmdk
python3 - "$f" <<'P'
import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) - 3000] ^= 1; open(p, "wb").write(b)
P
$V backup verify repo > /dev/null 2>v.txt; rc=$?
check "verify finds a flipped byte in a disk file (exit $rc)" bash -c "[ $rc = 1 ] && grep -q 'content differs from the backup in bytes' v.txt && grep -q '$(basename "$f")' v.txt"
cp keep.vmdk "$f"
nv=repo/$(cat p2)/files/web.nvram; cp $nv keep.nv; printf '\x00' | dd of=$nv bs=1 seek=100 conv=notrunc 2>/dev/null
$V backup verify repo > /dev/null 2>v.txt; rc=$?
check "verify finds a flipped byte in the nvram copy" bash -c "[ $rc = 1 ] && grep -q 'web.nvram: content differs' v.txt"
check "restore refuses a point whose files do not match" bash -c "! $V restore repo $(cat p2) rbad 2>/dev/null && test ! -e rbad"
cp keep.nv $nv

# (kill -9 during backup and restore: tests/crash/test-crash-backup.sh)

# prune: keep 3, the survivors read exactly as before
mapfile -t pts < <(ls repo | grep T)
n=${#pts[@]}
for p in "${pts[@]}"; do rm -rf pre-$p; $V restore repo $p pre-$p 2>/dev/null; done
check "prune --keep 3" $V backup prune --keep 3 repo
check "three points left" bash -c "[ \$($V backup list repo | wc -l) = 3 ]"
for p in "${pts[@]: -3}"; do
  rm -rf post-$p; $V restore repo $p post-$p 2>/dev/null
  check "after prune $p reads as before" bash -c "qemu-img compare -q post-$p/sys-000001.vmdk pre-$p/sys-000001.vmdk && qemu-img compare -q post-$p/data.vmdk pre-$p/data.vmdk"
done
check "verify passes after prune" $V backup verify repo
check "no file is left that no point uses (3 files per disk)" bash -c "[ \$(ls repo/disks/scsi0-0 | wc -l) = 3 ] && [ \$(ls repo/disks/scsi0-1 | wc -l) = 3 ]"

# bad input: nothing changes
sha() { find repo vm -type f | sort | xargs sha256sum; }
sha > s0
mkdir vm/data.vmdk.lck
check "a locked VM is refused" bash -c "! $V backup vm repo 2>e.txt && grep -qi 'lock\|in use' e.txt"
rmdir vm/data.vmdk.lck
mkdir vm2; cp vm/web.nvram vm2/; printf 'displayName = "other"\n' > vm2/other.vmx
check "a repository of another VM is refused" bash -c "! $V backup vm2 repo 2>e.txt && grep -q 'another VM' e.txt"
check "a folder without a .vmx is refused" bash -c "! $V backup st repo 2>/dev/null"
sha > s1
check "refusals changed nothing" cmp -s s0 s1
echo '{"format_version": 1, "disks": [{"device": "scsi0:0", "kind": "full", "name": "x.vmdk", "file": "disks/../../../etc/passwd"}], "files": []}' > repo/$(ls repo | grep T | tail -1)/manifest.json
check "a hostile manifest is refused by verify and restore" bash -c "! $V backup verify repo 2>e.txt && grep -q 'outside' e.txt && ! $V restore repo rh 2>/dev/null && test ! -e rh"
done_testing
