#!/bin/bash
# kill -9 of `vdisk commit` at random points, then the commit repeated:
# the chain stays readable with the child's content, the parent stays
# check-clean (leaks allowed), the repeat completes and leaves the parent
# with the whole content, and qemu-img reads the finished chain.
# (Moved from tests/chain/test-chain.sh, unchanged.)
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK

# -- commit killed at random points, then repeated ------------------------------
$V create --size 96M kp.vmdk
pattern big 40000000 7
$V write --offset 0 --file big kp.vmdk
$V child kp.vmdk kc.vmdk
pattern big2 40000000 8
$V write --offset 30M --file big2 kc.vmdk
$V cat kc.vmdk > want.raw
cp kp.vmdk kp.orig; cp kc.vmdk kc.orig
bad=0
for i in $(seq 1 8); do
  cp kp.orig kp.vmdk; cp kc.orig kc.vmdk
  $V commit kc.vmdk & pid=$!
  sleep 0.0$((RANDOM % 9 + 1))
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  $V cat kc.vmdk > got.raw 2>/dev/null && cmp -s got.raw want.raw || { bad=$((bad+1)); echo "# kill $i: chain unreadable or changed"; }
  $V check kp.vmdk >/dev/null; rc=$?; [ $rc = 0 ] || [ $rc = 3 ] || { bad=$((bad+1)); echo "# kill $i: parent check $rc"; }
  $V commit kc.vmdk 2>/dev/null || { bad=$((bad+1)); echo "# kill $i: repeat failed"; }
  $V cat kp.vmdk > got.raw; cmp -s got.raw want.raw || { bad=$((bad+1)); echo "# kill $i: parent incomplete after repeat"; }
  qemu-img convert -O raw kc.vmdk q.raw 2>/dev/null && cmp -s q.raw want.raw || { bad=$((bad+1)); echo "# kill $i: qemu cannot read the finished chain"; }
done
check "8 commits killed at random points: always readable, repeat completes ($bad problems)" test $bad = 0

done_testing
