#!/bin/bash
# A command given one disk never touches another disk's files (issue 11):
# a copied monolithicSparse file is its own extent (check --repair, open);
# a copied descriptor shares the original's extents, so unlink, rename,
# write, grow, shrink and defrag of the copy refuse (unlink can remove just
# the descriptor); convert --overwrite never replaces another disk's
# extent, a parent, or a file of its own input.  qemu-img judges that the
# other disk still reads as before.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK
pattern data.bin 1048576 7
listing() { ls -A | LC_ALL=C sort; }
sums() { LC_ALL=C sha256sum -- * 2>/dev/null | LC_ALL=C sort -k2; }

# -- check --repair of a cp of a monolithicSparse file repairs the copy ----
rm -rf w; mkdir w; cd w
$V create -s 64M a.vmdk && $V write -o 1M -f ../data.bin a.vmdk
cp a.vmdk b.vmdk
truncate -s +1M a.vmdk b.vmdk          # a leak at the end of both files
cp a.vmdk ../a.before
$V check --repair b.vmdk > ../out.txt 2>&1
check "repair of the copy b.vmdk succeeds" test $? = 0
check "a.vmdk (the name in b's embedded descriptor) unchanged" cmp -s a.vmdk ../a.before
check "b.vmdk repaired: its leak is gone (check exit 0)" bash -c "$V check b.vmdk >/dev/null"
check "the repair message names b.vmdk, never a.vmdk" \
  bash -c "grep -q 'b.vmdk' ../out.txt && ! grep -q 'a.vmdk' ../out.txt"
qemu-img convert -O raw a.vmdk ../a.raw
check "b.vmdk reads as a.vmdk (qemu-img compare)" qemu-img compare -q ../a.raw b.vmdk
# every other command takes b's extent to be b.vmdk too
cp a.vmdk ../a.before
$V write -o 0 -f ../data.bin b.vmdk && $V shrink b.vmdk && $V defrag b.vmdk \
  && $V meta b.vmdk ddb.comment x && $V grow b.vmdk 128M
check "write, shrink, defrag, meta, grow of b.vmdk succeed" test $? = 0
check "... a.vmdk unchanged by all of them" cmp -s a.vmdk ../a.before
$V convert -t streamOptimized a.vmdk s.vmdk && cp s.vmdk s2.vmdk && cp s.vmdk ../s.before
check "rename of s2.vmdk (a cp of streamOptimized s.vmdk)" $V rename s2.vmdk s3.vmdk
check "... s.vmdk unchanged, s3.vmdk reads as it" \
  bash -c "cmp -s s.vmdk ../s.before && qemu-img compare -q s.vmdk s3.vmdk"
check "rename of b.vmdk to c.vmdk" $V rename b.vmdk c.vmdk
check "unlink of c.vmdk" $V unlink c.vmdk
check "... a.vmdk is still there, unchanged" cmp -s a.vmdk ../a.before
cd ..

# -- a second descriptor over victim-flat.vmdk ----------------------------
setup_copy() {
  rm -rf w; mkdir w; cd w
  $V create -t monolithicFlat -s 64M victim.vmdk && $V write -o 1M -f ../data.bin victim.vmdk
  cp victim.vmdk copy.vmdk
  qemu-img convert -O raw victim.vmdk ../victim.raw
}
setup_copy
listing > ../before.lst; sums > ../before.sum
$V unlink copy.vmdk 2>../err.txt
check "unlink of a copied descriptor: refused (exit 1)" test $? = 1
check "... the message names the other disk and the shared file" \
  bash -c "grep -q 'victim.vmdk' ../err.txt && grep -q 'victim-flat.vmdk' ../err.txt && grep -q 'extent' ../err.txt"
check "... nothing deleted or changed" bash -c "listing() { ls -A | LC_ALL=C sort; }; listing | cmp -s - ../before.lst && LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
$V unlink --force copy.vmdk 2>/dev/null
check "unlink --force does not delete a shared extent either" test -e victim-flat.vmdk
$V rename copy.vmdk x.vmdk 2>../err.txt
check "rename of a copied descriptor: refused" test $? = 1
check "... names the other disk" grep -q 'victim.vmdk' ../err.txt
check "... nothing renamed" bash -c "ls -A | LC_ALL=C sort | cmp -s - ../before.lst"
$V write -o 0 -f ../data.bin copy.vmdk 2>../err.txt
check "write through the copy: refused (it would change victim.vmdk)" test $? != 0
check "... names victim.vmdk" grep -q 'victim.vmdk' ../err.txt
$V grow copy.vmdk 128M 2>/dev/null
check "grow of the copy: refused" test $? != 0
check "victim.vmdk reads as before (qemu-img compare)" qemu-img compare -q ../victim.raw victim.vmdk
check "unlink --descriptor-only removes only copy.vmdk" $V unlink --descriptor-only copy.vmdk
check "... copy.vmdk gone, victim's files stay" \
  bash -c "[ ! -e copy.vmdk ] && [ -e victim.vmdk ] && [ -e victim-flat.vmdk ]"
check "... victim.vmdk still reads as before" qemu-img compare -q ../victim.raw victim.vmdk
check "and now victim.vmdk itself unlinks (no other user)" $V unlink victim.vmdk
check "... with its extent" test ! -e victim-flat.vmdk
cd ..

# -- the same through a hard link of the extent (same inode) --------------
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M victim.vmdk && $V write -o 1M -f ../data.bin victim.vmdk
ln victim-flat.vmdk other-flat.vmdk
sed 's/victim-flat.vmdk/other-flat.vmdk/' victim.vmdk > other.vmdk
$V unlink other.vmdk 2>../err.txt
check "hard link: unlink of a disk whose extent is victim's inode is refused" test $? = 1
check "... names victim.vmdk" grep -q 'victim.vmdk' ../err.txt
cd ..

# -- hostile names: a change-tracking file or an extent that is another
# disk's descriptor
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M victim.vmdk && $V write -o 1M -f ../data.bin victim.vmdk
$V create -s 64M mono.vmdk && $V write -o 1M -f ../data.bin mono.vmdk
qemu-img convert -O raw victim.vmdk ../victim.raw
$V create -t monolithicFlat -s 64M evil.vmdk
sed -i 's/^createType=.*/&\nchangeTrackPath="victim.vmdk"/' evil.vmdk
sums > ../before.sum
$V unlink evil.vmdk 2>../err.txt
check "unlink of a disk whose changeTrackPath is victim.vmdk: refused" test $? = 1
$V rename evil.vmdk evil2.vmdk 2>/dev/null
check "rename of it: refused" test $? = 1
check "... victim.vmdk still there and unchanged" \
  bash -c "LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicSparse"\n\nRW 131072 SPARSE "mono.vmdk"\n' > evil2.vmdk
sums > ../before.sum
$V write -o 0 -f ../data.bin evil2.vmdk 2>../err.txt
check "write through a descriptor whose extent is mono.vmdk: refused" test $? != 0
check "... names mono.vmdk" grep -q 'mono.vmdk' ../err.txt
$V unlink evil2.vmdk 2>/dev/null
check "unlink of it: refused" test $? = 1
check "... no file changed" \
  bash -c "LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
check "... victim.vmdk reads as before" qemu-img compare -q ../victim.raw victim.vmdk
cd ..

# -- another name of a descriptor: a symbolic link, a hard link ------------
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M victim.vmdk && $V write -o 1M -f ../data.bin victim.vmdk
qemu-img convert -O raw victim.vmdk ../victim.raw
ln -s victim.vmdk sym.vmdk
ln victim.vmdk hard.vmdk
listing > ../before.lst
$V unlink sym.vmdk 2>../err.txt
check "unlink of a symbolic link to a descriptor: refused" test $? = 1
$V rename sym.vmdk s2.vmdk 2>/dev/null
check "rename of it: refused" test $? = 1
$V unlink hard.vmdk 2>../err.txt
check "unlink of a hard-linked text descriptor: refused" test $? = 1
check "... the message says it has other names" grep -q 'hard' ../err.txt
$V rename hard.vmdk h2.vmdk 2>/dev/null
check "rename of it: refused" test $? = 1
check "... nothing deleted or renamed" bash -c "ls -A | LC_ALL=C sort | cmp -s - ../before.lst"
check "... victim.vmdk reads as before" qemu-img compare -q ../victim.raw victim.vmdk
check "unlink --descriptor-only of the hard link removes only that name" \
  bash -c "$V unlink --descriptor-only hard.vmdk && [ ! -e hard.vmdk ] && qemu-img compare -q ../victim.raw victim.vmdk"
$V create -s 64M m.vmdk && ln m.vmdk m2.vmdk
check "a hard link of a monolithicSparse file unlinks (the other name keeps the disk)" \
  bash -c "$V unlink m2.vmdk && [ ! -e m2.vmdk ] && $V info m.vmdk >/dev/null"
cd ..

# -- a copied descriptor of a split sparse disk: shrink and defrag refuse --
rm -rf w; mkdir w; cd w
$V create -t twoGbMaxExtentSparse -s 64M v.vmdk && $V write -o 1M -f ../data.bin v.vmdk
cp v.vmdk c.vmdk
sums > ../before.sum
$V shrink c.vmdk 2>../err.txt
check "shrink of a copied split descriptor: refused" test $? != 0
check "... names v.vmdk" grep -q 'v.vmdk' ../err.txt
$V defrag c.vmdk 2>/dev/null
check "defrag of it: refused" test $? != 0
check "... no file changed" bash -c "LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
truncate -s +1M v-s001.vmdk
sums > ../before.sum
$V check --repair c.vmdk > ../err.txt 2>&1
check "check --repair of the copied descriptor: refused (v.vmdk's files)" test $? != 0
check "... names v.vmdk" grep -q 'v.vmdk' ../err.txt
check "... no file changed" bash -c "LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
check "check --repair --force repairs the shared extent" bash -c "$V check --repair --force v.vmdk >/dev/null && $V check v.vmdk >/dev/null"
cd ..

# -- convert --overwrite never replaces another disk's files --------------
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M f.vmdk && $V write -o 2M -f ../data.bin f.vmdk
$V create -t monolithicFlat -s 64M a.vmdk && $V write -o 1M -f ../data.bin a.vmdk
qemu-img convert -O raw f.vmdk ../f.raw
sums > ../before.sum
$V convert --overwrite a.vmdk f-flat.vmdk 2>../err.txt
check "convert --overwrite onto f-flat.vmdk (f.vmdk's extent): refused" test $? = 1
check "... names f.vmdk" grep -q 'f.vmdk' ../err.txt
check "... f.vmdk still reads as before" qemu-img compare -q ../f.raw f.vmdk
$V convert --overwrite a.vmdk a-flat.vmdk 2>../err.txt
check "convert --overwrite onto the input's own extent: refused" test $? = 1
$V convert --overwrite a.vmdk a.vmdk 2>/dev/null
check "convert --overwrite onto the input itself: refused" test $? = 1
$V convert --overwrite -t raw a.vmdk f-flat.vmdk 2>/dev/null
check "convert --overwrite -t raw onto f-flat.vmdk: refused" test $? = 1
$V convert --overwrite -t streamOptimized a.vmdk f-flat.vmdk 2>/dev/null
check "convert --overwrite -t streamOptimized onto f-flat.vmdk: refused" test $? = 1
check "... no file changed by the refusals" bash -c "LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2 | cmp -s - ../before.sum"
$V child f.vmdk fc.vmdk
$V convert --overwrite a.vmdk f.vmdk 2>../err.txt
check "convert --overwrite onto a parent of fc.vmdk: refused" test $? = 1
check "... names the child" grep -q 'fc.vmdk' ../err.txt
check "... fc.vmdk still opens" bash -c "$V info fc.vmdk >/dev/null"
$V create --overwrite -t monolithicFlat -s 64M f-flat.vmdk 2>../err.txt
check "create --overwrite onto f-flat.vmdk: refused" test $? = 1
check "... f.vmdk still reads as before" qemu-img compare -q ../f.raw f.vmdk
$V create -s 64M plain.vmdk
check "convert --overwrite onto a disk nothing else uses still works" \
  $V convert --overwrite a.vmdk plain.vmdk
check "... and plain.vmdk now reads as a.vmdk" qemu-img compare -q a.vmdk plain.vmdk
cd ..

done_testing
