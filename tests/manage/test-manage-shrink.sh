#!/bin/bash
# vdisk shrink and vdisk defrag on sparse disks with zeroed grains: content
# identical (qemu-img compare against a raw made before), vdisk check and
# qemu-img check clean, fewer blocks on disk (stat %b), CID kept; defrag
# puts the grains in virtual order (qemu-img map offsets ascend); a child
# keeps the zero grains that hide its parent's data; a parent's child still
# reads the same after the parent is shrunk.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
pattern data.bin 4194304 11
head -c 2097152 /dev/zero > zero.bin
vcheck() { $VDISK check "$@" >/dev/null; }
blocks() { stat -c %b "$@" | awk '{s+=$1} END {print s}'; }
cid() { $VDISK info "$1" | awk '/^CID:/ {print $2}'; }
# grains of each file in virtual order: qemu-img map's "Mapped to" offsets
# ascend with the virtual offset, file by file
ascending() {
  qemu-img map "$1" | python3 -c '
import sys
per = {}
for l in sys.stdin.read().splitlines()[1:]:
    f = l.split()
    if len(f) >= 4:
        per.setdefault(f[3], []).append((int(f[0], 16), int(f[2], 16)))
ok = bool(per) and all([m for _, m in sorted(v)] == sorted(m for _, m in v)
                       for v in per.values())
sys.exit(0 if ok else 1)'
}
not_ascending() { ! ascending "$@"; }

# fill DISK: data written back to front (grains out of order), then zeros
# over part of it (grains that stay allocated but hold zeros)
fill() {
  for o in 3000 1000 40 20; do $VDISK write -o ${o}M -f data.bin "$1" || return 1; done
  $VDISK write -o 1001M -f zero.bin "$1" && $VDISK write -o 21M -f zero.bin "$1"
}

for op in shrink defrag; do
  for t in monolithicSparse twoGbMaxExtentSparse; do
    rm -f d*.vmdk
    $VDISK create -t $t -s 4G d.vmdk && fill d.vmdk || { not_ok "$op $t: setup"; continue; }
    qemu-img convert -O raw d.vmdk before.raw
    b0=$(blocks d*.vmdk); c0=$(cid d.vmdk)
    if [ $op = defrag ]; then
      check "$op $t: grains out of order before" not_ascending d.vmdk
    fi
    check "$op $t: succeeds" $VDISK $op d.vmdk
    b1=$(blocks d*.vmdk)
    check "$op $t: fewer blocks on disk ($b0 -> $b1)" test "$b1" -lt "$b0"
    check "$op $t: content identical" qemu-img compare -q before.raw d.vmdk
    check "$op $t: vdisk check clean" vcheck d.vmdk
    check "$op $t: qemu-img check clean" qemu-img check -q d.vmdk
    check "$op $t: CID kept" test "$(cid d.vmdk)" = "$c0"
    check "$op $t: grains in virtual order" ascending d.vmdk
    check "$op $t: no work folder left" bash -c "! ls -A | grep -q vdisk-"
  done
done

# a child: zeros over parent data must stay, zeros over zeros may go
rm -f *.vmdk
$VDISK create -s 256M base.vmdk
$VDISK write -o 10M -f data.bin base.vmdk
$VDISK child base.vmdk c.vmdk
$VDISK write -o 10M -f zero.bin c.vmdk     # hides parent data
$VDISK write -o 100M -f zero.bin c.vmdk    # over parent zeros
$VDISK write -o 200M -f data.bin c.vmdk
qemu-img convert -O raw c.vmdk c.raw
b0=$(blocks c.vmdk)
check "child: shrink succeeds" $VDISK shrink c.vmdk
check "child: fewer blocks ($b0 -> $(blocks c.vmdk))" test "$(blocks c.vmdk)" -lt "$b0"
check "child: still a child of base.vmdk" bash -c "$VDISK info c.vmdk | grep -q 'parent: *base.vmdk'"
check "child: chain content identical" qemu-img compare -q c.raw c.vmdk
check "child: vdisk check clean" vcheck c.vmdk
check "child: qemu-img check clean" qemu-img check -q c.vmdk
# the parent under it: shrink and defrag keep its CID, so the child reads on
check "parent with a child: defrag succeeds" $VDISK defrag base.vmdk
check "parent with a child: child reads the same" qemu-img compare -q c.raw c.vmdk

# layouts without grains are refused, untouched
$VDISK create -t monolithicFlat -s 64M f.vmdk
md5sum f.vmdk > sums
check "flat: shrink refused" bash -c "! $VDISK shrink f.vmdk 2>/dev/null"
check "flat: descriptor unchanged" md5sum -c --quiet sums
done_testing
