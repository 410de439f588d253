#!/bin/bash
# Descriptors that hide data (issue 11): an extent line that disagrees with
# its sparse header's capacity (smaller or larger, monolithicSparse,
# streamOptimized, every extent of twoGbMaxExtentSparse) is refused with a
# clear message by every command, and shrink, defrag and repair never
# change the file (qemu-img still reads all the data).  A ZERO extent
# opened for writing is refused naming the disk, never "(null)".
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK
pattern data.bin 2097152 5

# replace the first occurrence of OLD by NEW (same length) in FILE
patch_text() {
  python3 - "$1" "$2" "$3" <<'EOF'
import sys
p, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
b = open(p, 'rb').read()
i = b.index(old)
open(p, 'wb').write(b[:i] + new + b[i + len(old):])
EOF
}

refused_everywhere() {   # NAME DISK: every command refuses, nothing changes
  local name=$1 d=$2
  LC_ALL=C sha256sum -- * > ../before.sum
  $V info "$d" > /dev/null 2> ../err.txt
  check "$name: info refuses" test $? != 0
  check "$name: the message says the line and the header disagree" \
    grep -q 'header capacity' ../err.txt
  $V cat "$d" > /dev/null 2>&1
  check "$name: cat refuses (never half the disk)" test $? != 0
  $V check "$d" > ../check.txt 2>&1
  check "$name: check reports it (exit non-zero)" test $? != 0
  check "$name: check does not call the data a leak" bash -c "! grep -qi leak ../check.txt"
  $V shrink "$d" 2>/dev/null
  check "$name: shrink refuses" test $? != 0
  $V defrag "$d" 2>/dev/null
  check "$name: defrag refuses" test $? != 0
  $V check --repair "$d" > /dev/null 2>&1
  check "$name: no file changed by any of them" \
    bash -c "LC_ALL=C sha256sum -- * | cmp -s - ../before.sum"
}

# -- monolithicSparse: RW 2048 over a 4096-sector header, and RW 8192 ------
rm -rf w; mkdir w; cd w
$V create -s 2M a.vmdk && $V write -o 0 -f ../data.bin a.vmdk
qemu-img convert -O raw a.vmdk ../a.raw
patch_text a.vmdk 'RW 4096 SPARSE' 'RW 2048 SPARSE'
refused_everywhere "monolithicSparse, line smaller" a.vmdk
qemu-img convert -O raw a.vmdk ../after.raw
check "monolithicSparse: qemu-img still reads all the data" cmp -s ../a.raw ../after.raw
patch_text a.vmdk 'RW 2048 SPARSE' 'RW 8192 SPARSE'
refused_everywhere "monolithicSparse, line larger" a.vmdk
cd ..

# -- streamOptimized -------------------------------------------------------
rm -rf w; mkdir w; cd w
$V create -s 2M a.vmdk && $V write -o 0 -f ../data.bin a.vmdk
$V convert -t streamOptimized a.vmdk s.vmdk && rm a.vmdk
patch_text s.vmdk 'RW 4096 SPARSE' 'RW 2048 SPARSE'
LC_ALL=C sha256sum -- * > ../before.sum
$V info s.vmdk > /dev/null 2> ../err.txt
check "streamOptimized, line smaller: info refuses" test $? != 0
check "... the message says the line and the header disagree" grep -q 'header capacity' ../err.txt
$V cat s.vmdk > /dev/null 2>&1
check "... cat refuses" test $? != 0
check "... no file changed" bash -c "LC_ALL=C sha256sum -- * | cmp -s - ../before.sum"
cd ..

# -- twoGbMaxExtentSparse: the first line shorter shifts every later one ---
rm -rf w; mkdir w; cd w
$V create -t twoGbMaxExtentSparse -s 5G t.vmdk
$V write -o 0 -f ../data.bin t.vmdk
$V write -o 4294967296 -f ../data.bin t.vmdk     # in the third extent
qemu-img convert -O raw t.vmdk ../t.raw
sed -i 's/^RW 4192256 SPARSE "t-s001.vmdk"/RW 2048 SPARSE "t-s001.vmdk"/' t.vmdk
check "split: the first extent line now says 2048" grep -q '^RW 2048 SPARSE "t-s001.vmdk"' t.vmdk
refused_everywhere "twoGbMaxExtentSparse, first line smaller" t.vmdk
sed -i 's/^RW 2048 SPARSE "t-s001.vmdk"/RW 4192256 SPARSE "t-s001.vmdk"/' t.vmdk
qemu-img convert -O raw t.vmdk ../after.raw
check "split: restored, the data is all there (qemu-img)" cmp -s ../t.raw ../after.raw
check "split: restored, vdisk reads it as qemu-img does" bash -c "$V cat t.vmdk | cmp -s - ../t.raw"
cd ..

# -- a ZERO extent opened for writing names the disk -----------------------
rm -rf w; mkdir w; cd w
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="custom"\n\nRW 2048 ZERO\n' > z.vmdk
$V write -o 0 -f ../data.bin z.vmdk 2> ../err.txt
check "ZERO extent opened for writing: refused" test $? != 0
check "... the message names the disk" grep -q 'z.vmdk' ../err.txt
check "... and never prints (null)" bash -c "! grep -q '(null)' ../err.txt"
cd ..

done_testing
