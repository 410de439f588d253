#!/bin/bash
# Chains a command must not break (issue 11): commit into a parent with a
# second child (or through a link with one) is refused unless --force;
# commit --into removes the collapsed links and says so, never leaving a
# broken disk; a child of a parent without a CID line is refused (child
# and attach).  qemu-img judges what still opens and what it reads.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK
pattern d1 300000 1
pattern d2 300000 2
pattern d3 300000 3

# -- commit c1 into a base that has a second child c2 ----------------------
rm -rf w; mkdir w; cd w
$V create -s 64M base.vmdk && $V write -o 1M -f ../d1 base.vmdk
$V child base.vmdk c1.vmdk && $V write -o 5M -f ../d2 c1.vmdk
$V child base.vmdk c2.vmdk && $V write -o 9M -f ../d3 c2.vmdk
qemu-img convert -O raw c2.vmdk ../c2.raw
cp base.vmdk ../base.before
$V commit c1.vmdk 2>../err.txt
check "commit into a base with a sibling c2: refused (exit 1)" test $? = 1
check "... the message names the sibling c2.vmdk" grep -q 'c2.vmdk' ../err.txt
check "... base.vmdk unchanged" cmp -s base.vmdk ../base.before
check "... c2.vmdk still opens (qemu-img)" bash -c "qemu-img info c2.vmdk >/dev/null"
check "... and reads as before" qemu-img compare -q ../c2.raw c2.vmdk
qemu-img convert -O raw c1.vmdk ../c1.raw
check "commit --force does it anyway" $V commit --force c1.vmdk
check "... base now reads as c1 did" qemu-img compare -q ../c1.raw base.vmdk
cd ..

# -- commit --into ANCESTOR: the links between go, and the output says so --
rm -rf w; mkdir w; cd w
$V create -s 64M b.vmdk && $V write -o 1M -f ../d1 b.vmdk
$V child b.vmdk m1.vmdk && $V write -o 3M -f ../d2 m1.vmdk
$V child m1.vmdk m2.vmdk && $V write -o 1500000 -f ../d3 m2.vmdk
$V child m2.vmdk top.vmdk && $V write -o 7M -f ../d1 top.vmdk
qemu-img convert -O raw top.vmdk ../top.raw
$V commit --into b.vmdk top.vmdk > ../out.txt 2>&1
check "commit --into b.vmdk of a 4-link chain succeeds" test $? = 0
check "top.vmdk reads as before (qemu-img compare)" qemu-img compare -q ../top.raw top.vmdk
check "top.vmdk now sits on b.vmdk" grep -q 'parentFileNameHint="b.vmdk"' top.vmdk
check "the collapsed links m1, m2 are removed" bash -c "[ ! -e m1.vmdk ] && [ ! -e m2.vmdk ]"
check "the output names both removed links" \
  bash -c "grep -q 'removed.*m1.vmdk' ../out.txt && grep -q 'removed.*m2.vmdk' ../out.txt"
ok_all=1
for f in *.vmdk; do $V info "$f" >/dev/null 2>&1 && qemu-img info "$f" >/dev/null 2>&1 || { ok_all=0; echo "# $f does not open"; }; done
check "every disk left in the folder opens (vdisk and qemu-img info)" test $ok_all = 1
cd ..

# -- a link between with a second child: refused ---------------------------
rm -rf w; mkdir w; cd w
$V create -s 64M b.vmdk && $V write -o 1M -f ../d1 b.vmdk
$V child b.vmdk m1.vmdk && $V write -o 3M -f ../d2 m1.vmdk
$V child m1.vmdk top.vmdk && $V write -o 7M -f ../d1 top.vmdk
$V child m1.vmdk side.vmdk && $V write -o 9M -f ../d3 side.vmdk
LC_ALL=C sha256sum -- * > ../before.sum
$V commit --into b.vmdk top.vmdk 2>../err.txt
check "commit --into through m1, which has another child: refused" test $? = 1
check "... names side.vmdk" grep -q 'side.vmdk' ../err.txt
check "... no file changed" bash -c "LC_ALL=C sha256sum -- * | cmp -s - ../before.sum"
cd ..

# -- a parent without a CID line ---------------------------------------------
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M p.vmdk && $V write -o 1M -f ../d1 p.vmdk
sed -i '/^CID=/d' p.vmdk
$V child p.vmdk c.vmdk 2>../err.txt
check "child of a parent without CID: refused" test $? = 1
check "... with a message about the CID" grep -q 'CID' ../err.txt
check "... and no child file left" test ! -e c.vmdk
$V create -t monolithicFlat -s 64M q.vmdk
$V child q.vmdk k.vmdk
$V attach k.vmdk p.vmdk 2>../err.txt
check "attach to a parent without CID: refused" test $? = 1
check "... k.vmdk still opens on q.vmdk" bash -c "qemu-img info k.vmdk >/dev/null && $V info k.vmdk >/dev/null"
cd ..

# -- attach of a child that has a child of its own --------------------------
rm -rf w; mkdir w; cd w
$V create -s 64M p1.vmdk && $V write -o 1M -f ../d1 p1.vmdk
$V create -s 64M p2.vmdk && $V write -o 1M -f ../d2 p2.vmdk
$V child p1.vmdk mid.vmdk && $V child mid.vmdk leaf.vmdk
qemu-img convert -O raw leaf.vmdk ../leaf.raw
$V attach mid.vmdk p2.vmdk 2>../err.txt
check "attach of a child with a child of its own: refused" test $? = 1
check "... names leaf.vmdk" grep -q 'leaf.vmdk' ../err.txt
check "... leaf.vmdk reads as before" qemu-img compare -q ../leaf.raw leaf.vmdk
check "attach --force does it anyway" $V attach --force mid.vmdk p2.vmdk
cd ..

# -- an interrupted commit, repeated, leaves a chain qemu-img reads --------
rm -rf w; mkdir w; cd w
$V create -t monolithicFlat -s 64M kp.vmdk && $V write -o 0 -f ../d1 kp.vmdk
$V child -t twoGbMaxExtentSparse kp.vmdk kc.vmdk && $V write -o 3M -f ../d2 kc.vmdk
qemu-img convert -O raw kc.vmdk ../kc.raw
# what a kill after step 2 leaves: the marker in the child, the new CID in
# the ancestor, no data copied yet
sed -i 's/^CID=.*/CID=abcdef12/' kp.vmdk
echo 'ddb.vdisk.commitCID = "abcdef12"' >> kc.vmdk
check "the half-done commit still reads through the child" bash -c "$V cat kc.vmdk | cmp -s - ../kc.raw"
check "the repeated commit completes" $V commit kc.vmdk
check "qemu-img reads the finished chain as before" qemu-img compare -q ../kc.raw kc.vmdk
check "vdisk too" bash -c "$V cat kc.vmdk | cmp -s - ../kc.raw"
cd ..

done_testing
