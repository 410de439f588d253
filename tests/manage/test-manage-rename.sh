#!/bin/bash
# vdisk rename: every file of a disk (descriptor, extents, change-tracking
# file) gets the new name with VMware's naming, nothing else in the folder
# changes, content is identical (qemu-img compare), and a failure half way
# (a file already holding the name of the 3rd extent) puts everything back.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
pattern data.bin 3145728 7

vcheck() { $VDISK check "$@" >/dev/null; }
listing() { (cd "${1:-.}" && ls -A | LC_ALL=C sort); }

for t in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfsThin; do
  rm -rf w; mkdir w; cd w
  case $t in twoGb*) size=5G; off=2046M ;; *) size=64M; off=30M ;; esac
  $VDISK create -t "$t" -s $size d.vmdk && $VDISK write -o $off -f ../data.bin d.vmdk \
    || { not_ok "$t: setup"; cd ..; continue; }
  echo unrelated > other.txt
  if [ "$t" != monolithicSparse ]; then
    # a change-tracking file named by the descriptor, as VMware writes it
    sed -i 's/^createType=.*/&\nchangeTrackPath="d-ctk.vmdk"/' d.vmdk
    printf 'ctk data' > d-ctk.vmdk
  fi
  qemu-img convert -O raw d.vmdk ../before.raw
  listing > ../before.lst
  check "$t: rename succeeds" $VDISK rename d.vmdk e.vmdk
  listing > ../after.lst
  # every d* name became e*, nothing else changed
  sed 's/^d/e/' ../before.lst | LC_ALL=C sort > ../expect.lst
  check "$t: folder holds exactly the renamed files" cmp -s ../expect.lst ../after.lst
  check "$t: content identical (qemu-img compare)" qemu-img compare -q ../before.raw e.vmdk
  check "$t: descriptor names no old file" bash -c "! grep -a '\"d[-.]' e.vmdk"
  check "$t: vdisk check clean" vcheck e.vmdk
  check "$t: unrelated file untouched" bash -c "[ \"\$(cat other.txt)\" = unrelated ]"
  if [ "$t" != monolithicSparse ]; then
    check "$t: changeTrackPath follows" grep -q '^changeTrackPath="e-ctk.vmdk"' e.vmdk
    check "$t: ctk file kept its content" bash -c "[ \"\$(cat e-ctk.vmdk)\" = 'ctk data' ]"
  fi
  case $t in
    twoGbMaxExtentSparse) check "$t: VMware split names" bash -c "grep -q '\"e-s003.vmdk\"' e.vmdk && [ -f e-s003.vmdk ]" ;;
    twoGbMaxExtentFlat) check "$t: VMware split names" bash -c "grep -q '\"e-f003.vmdk\"' e.vmdk && [ -f e-f003.vmdk ]" ;;
    monolithicSparse) check "$t: embedded extent line names the new file" bash -c "grep -aq 'SPARSE \"e.vmdk\"' e.vmdk" ;;
    *) check "$t: flat file renamed" bash -c "grep -q '\"e-flat.vmdk\"' e.vmdk && [ -f e-flat.vmdk ]" ;;
  esac
  # into another folder on the same file system
  mkdir sub
  listing sub > ../sub-before.lst
  check "$t: rename into a sub-folder" $VDISK rename e.vmdk sub/f.vmdk
  check "$t: old folder keeps only the unrelated files" bash -c "[ \"\$(ls -A | LC_ALL=C sort | tr '\n' ' ')\" = 'other.txt sub ' ]"
  check "$t: moved disk identical" qemu-img compare -q ../before.raw sub/f.vmdk
  # refuse to overwrite an existing disk name
  cp other.txt sub/g.vmdk
  check "$t: refuses an existing new name" bash -c "! $VDISK rename sub/f.vmdk sub/g.vmdk 2>/dev/null"
  check "$t: ... and left it alone" cmp -s other.txt sub/g.vmdk
  cd ..
done

# Rollback: the name of the 3rd extent is taken; the first two were already
# linked under their new names when that fails, and must go again.
rm -rf w; mkdir w; cd w
$VDISK create -t twoGbMaxExtentFlat -s 5G d.vmdk
$VDISK write -o 4095M -f ../data.bin d.vmdk
qemu-img convert -O raw d.vmdk ../before.raw
echo taken > n-f003.vmdk
listing > ../before.lst
md5sum d.vmdk > ../desc.md5
$VDISK rename d.vmdk n.vmdk 2> ../err.txt
check "rollback: rename fails (exit 1)" test $? = 1
check "rollback: error names the taken file" grep -q 'n-f003.vmdk' ../err.txt
listing > ../after.lst
check "rollback: folder listing unchanged" cmp -s ../before.lst ../after.lst
check "rollback: taken file untouched" bash -c "[ \"\$(cat n-f003.vmdk)\" = taken ]"
check "rollback: descriptor unchanged" md5sum -c --quiet ../desc.md5
check "rollback: disk identical" qemu-img compare -q ../before.raw d.vmdk
# the same with a read-only target folder (only meaningful when not root)
mkdir ro; chmod 555 ro
if [ "$(id -u)" != 0 ]; then
  check "rollback: read-only folder refused" bash -c "! $VDISK rename d.vmdk ro/n.vmdk 2>/dev/null"
  check "rollback: read-only folder left empty" bash -c "[ -z \"\$(ls -A ro)\" ]"
  check "rollback: disk still identical" qemu-img compare -q ../before.raw d.vmdk
fi
chmod 755 ro
cd ..

# A child moved to another folder: its parent hint follows.
rm -rf w; mkdir w w/snap; cd w
$VDISK create -s 64M base.vmdk
$VDISK write -o 1M -f ../data.bin base.vmdk
$VDISK child base.vmdk c.vmdk
$VDISK write -o 10M -f ../data.bin c.vmdk
qemu-img convert -O raw c.vmdk ../c.raw
check "parent with a child beside it: rename refused" bash -c "! $VDISK rename base.vmdk base2.vmdk 2>/dev/null"
check "child renamed into a sub-folder" $VDISK rename c.vmdk snap/c2.vmdk
check "child still reads its chain (qemu-img compare)" qemu-img compare -q ../c.raw snap/c2.vmdk
check "child still reads its chain (vdisk, trusted hint)" bash -c "$VDISK cat --trusted snap/c2.vmdk | cmp -s - ../c.raw"
cd ..
done_testing
