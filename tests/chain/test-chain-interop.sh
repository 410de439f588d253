#!/bin/bash
# Chains: qemu-img and vdisk read each other's children, commit agrees
# with qemu-img commit, parents are protected.  (A commit killed part
# way: tests/crash/test-crash-commit.sh.)
source "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3
cd "$WORK"
V=$VDISK
M=$((1024*1024))

# -- qemu-made chains, depth 1 and 3, writes at every level ---------------
qemu-img create -q -f vmdk base.vmdk 64M
qemu-io -c "write -P 0x11 0 8M" -c "write -P 0x12 20M 100k" base.vmdk >/dev/null
prev=base.vmdk
for i in 1 2 3; do
  qemu-img create -q -f vmdk -b $prev -F vmdk q$i.vmdk
  qemu-io -c "write -P 0x2$i $((i*3))M 1M" -c "write -P 0x3$i $((i*7+1000)) 777" \
    -c "write -z $((i*5))M 64k" q$i.vmdk >/dev/null
  prev=q$i.vmdk
done
for d in q1 q3; do
  qemu-img convert -O raw $d.vmdk $d.qraw
  $V cat $d.vmdk > $d.vraw
  check "qemu-made chain $d read identically by vdisk" cmp -s $d.qraw $d.vraw
done
$V chain q3.vmdk > chain.txt
check "vdisk chain lists 4 links of the qemu chain" test "$(grep -c vmdk chain.txt)" = 4
$V chain --json q3.vmdk > chain.json
check "chain --json is valid JSON with 4 links" python3 -c "
import json,sys; d=json.load(open('chain.json')); sys.exit(0 if len(d['links'])==4 and d['links'][0]['file'].endswith('base.vmdk') else 1)"
$V cat --single-link q3.vmdk > single.raw
check "single-link read differs from the chain (holes stay holes)" bash -c "! cmp -s single.raw q3.vraw"

# -- vdisk-made chains read by qemu-img -------------------------------------
$V create --size 64M vb.vmdk
pattern data1 3000000 1
$V write --offset 12345 --file data1 vb.vmdk
prev=vb.vmdk
for i in 1 2 3; do
  $V child $prev v$i.vmdk
  pattern d$i 200000 $((i+10))
  $V write --offset $((i*M + i*333)) --file d$i v$i.vmdk
  prev=v$i.vmdk
done
qemu-img convert -O raw v3.vmdk v3.qraw
$V cat v3.vmdk > v3.vraw
check "vdisk-made depth-3 chain read identically by qemu-img" cmp -s v3.qraw v3.vraw
check "qemu-img check passes on the vdisk child" qemu-img check -q v3.vmdk

# -- a vdisk child over a qemu parent, and the reverse ----------------------
cp base.vmdk qp.vmdk
$V child qp.vmdk vc.vmdk
$V write --offset 1M --file d1 vc.vmdk
qemu-img convert -O raw vc.vmdk a.raw; $V cat vc.vmdk > b.raw
check "vdisk child over a qemu parent: same content both ways" cmp -s a.raw b.raw
cp vb.vmdk vp.vmdk
qemu-img create -q -f vmdk -b vp.vmdk -F vmdk qc.vmdk
qemu-io -c "write -P 0x55 100k 300k" qc.vmdk >/dev/null
qemu-img convert -O raw qc.vmdk a.raw; $V cat qc.vmdk > b.raw
check "qemu child over a vdisk parent: same content both ways" cmp -s a.raw b.raw

# -- commit agrees with qemu-img commit --------------------------------------
for tool in vdisk qemu; do
  mkdir -p c-$tool
  $V create --size 32M c-$tool/p.vmdk
  $V write --offset 0 --file data1 c-$tool/p.vmdk
  $V child c-$tool/p.vmdk c-$tool/c.vmdk
  $V write --offset 5000 --file d1 c-$tool/c.vmdk
  $V write --offset 20M --file d2 c-$tool/c.vmdk
  $V cat c-$tool/c.vmdk > c-$tool/before.raw
done
$V commit c-vdisk/c.vmdk
qemu-img commit -q c-qemu/c.vmdk
$V cat c-vdisk/p.vmdk > pv.raw
qemu-img convert -O raw c-qemu/p.vmdk pq.raw
check "vdisk commit leaves the parent as qemu-img commit does" cmp -s pv.raw pq.raw
check "the committed parent equals the child's view before" cmp -s pv.raw c-vdisk/before.raw
$V cat c-vdisk/c.vmdk > after.raw
check "the child still reads as before after commit" cmp -s after.raw c-vdisk/before.raw
check "qemu-img reads the child after vdisk commit" bash -c "qemu-img convert -O raw c-vdisk/c.vmdk q.raw && cmp -s q.raw c-vdisk/before.raw"
$V check c-vdisk/p.vmdk >/dev/null; check "vdisk check clean after commit" test $? = 0

# commit --into an older ancestor collapses the links between
cp v3.vraw want.raw
$V commit --into vb.vmdk v3.vmdk
$V cat v3.vmdk > got.raw
check "commit --into the base: the top still reads as before" cmp -s got.raw want.raw
check "  ... and now sits directly on the base" bash -c "$V chain v3.vmdk | grep -c vmdk | grep -qx 2"
$V cat vb.vmdk > got.raw
check "  ... and the base holds everything" cmp -s got.raw want.raw

# -- protection of parents ----------------------------------------------------
$V create --size 16M pp.vmdk
$V child pp.vmdk pc.vmdk
printf 'x' > one
$V write --offset 0 --file one pp.vmdk 2>err; rc=$?
check "writing a parent with a child beside it is refused (exit $rc)" test $rc = 1
check "  ... with a message naming the child" grep -q "pc.vmdk" err
check "  ... unless forced" $V write --force --offset 0 --file one pp.vmdk
$V cat pc.vmdk >/dev/null 2>err; rc=$?
check "a CID mismatch is refused (exit $rc)" test $rc = 1
check "  ... and reported with both CIDs" grep -qi "parentCID .* does not match the CID" err
check "--ignore-cid reads it anyway (forensics)" bash -c "$V cat --ignore-cid pc.vmdk >/dev/null"
check "attach re-parents the child onto a new parent" $V attach pc.vmdk pp.vmdk
check "  ... and it reads again" bash -c "$V cat pc.vmdk >/dev/null"
$V create --size 8M small.vmdk
$V attach pc.vmdk small.vmdk 2>err; rc=$?
check "attach to a parent of another capacity is refused" test $rc = 1
$V attach pp.vmdk small.vmdk 2>err; rc=$?
check "attach of a base disk is refused" bash -c "test $rc = 1 && grep -q 'base disk' err"

# missing parent, and a loop
$V create --size 4M lp.vmdk; $V child lp.vmdk lc.vmdk; mv lp.vmdk lp-moved.vmdk
$V cat lc.vmdk >/dev/null 2>err; rc=$?
check "a missing parent is a clear error" bash -c "test $rc = 1 && grep -q 'not found' err"

# -- hosted children over ESXi delta links (COWD and seSparse on flat bases)
fx=$WORK/fx
if python3 "$VDISK_TOP/tests/esx/make-esx-fixtures.py" "$fx" >/dev/null 2>&1; then
  for f in cowd-5m-g1-child cowd-5m-g8-child ses-5m-child; do
    ( cd "$fx" && $V child $f.vmdk top-$f.vmdk &&
      printf 'hello over an ESXi delta' | $V write --offset 4097 top-$f.vmdk &&
      qemu-img convert -O raw top-$f.vmdk q.raw && $V cat top-$f.vmdk > v.raw &&
      cmp -s q.raw v.raw ) 
    check "a vdisk child over the $f link reads as qemu-img reads it" test $? = 0
  done
else
  not_ok "the ESXi fixture generator failed"
fi

done_testing
