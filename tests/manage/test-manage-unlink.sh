#!/bin/bash
# vdisk unlink: deletes every file of a disk and nothing else (folder
# listings compared), never its parent; refused while a disk beside it
# names it as its parent (unless --force) and while qemu-io writes to it.
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io mkfifo
cd "$WORK"
pattern data.bin 1048576 3
listing() { ls -A | LC_ALL=C sort; }

for t in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfsThin; do
  rm -rf w; mkdir w; cd w
  echo keep > other.vmdk.txt
  $VDISK create -s 64M -t vmfsThin keep.vmdk
  listing > ../before.lst
  case $t in twoGb*) size=5G ;; *) size=64M ;; esac
  $VDISK create -t "$t" -s $size d.vmdk && $VDISK write -o 1M -f ../data.bin d.vmdk \
    || { not_ok "$t: setup"; cd ..; continue; }
  if [ "$t" != monolithicSparse ]; then
    sed -i 's/^createType=.*/&\nchangeTrackPath="d-ctk.vmdk"/' d.vmdk
    printf 'ctk' > d-ctk.vmdk
  fi
  check "$t: unlink succeeds" $VDISK unlink d.vmdk
  listing > ../after.lst
  check "$t: every file of the disk gone, nothing else" cmp -s ../before.lst ../after.lst
  check "$t: the other disk still opens" qemu-img info keep.vmdk >/dev/null
  cd ..
done

# parent and child
rm -rf w; mkdir w; cd w
$VDISK create -s 64M base.vmdk
$VDISK write -o 1M -f ../data.bin base.vmdk
qemu-img convert -O raw base.vmdk ../base.raw
$VDISK child base.vmdk c.vmdk
$VDISK write -o 5M -f ../data.bin c.vmdk
listing > ../before.lst
$VDISK unlink base.vmdk 2>../err.txt
check "parent with a child: refused (exit 1)" test $? = 1
check "parent with a child: message names the child" grep -q 'c.vmdk' ../err.txt
listing > ../after.lst
check "parent with a child: nothing deleted" cmp -s ../before.lst ../after.lst
check "unlink the child" $VDISK unlink c.vmdk
check "child gone, parent stays" bash -c "[ ! -e c.vmdk ] && [ -e base.vmdk ]"
check "parent intact (qemu-img compare)" qemu-img compare -q ../base.raw base.vmdk
$VDISK child base.vmdk c2.vmdk
check "--force deletes a parent with a child" $VDISK unlink --force base.vmdk
check "... and only the parent" bash -c "[ ! -e base.vmdk ] && [ -e c2.vmdk ]"
cd ..

# a writer holds the disk: refused
rm -rf w; mkdir w; cd w
$VDISK create -s 64M -t monolithicFlat d.vmdk
mkfifo q.fifo
( exec qemu-io -f vmdk d.vmdk < q.fifo > q.out 2>&1 ) &
qpid=$!
exec 4>q.fifo
echo 'read 0 512' >&4
for _ in $(seq 50); do grep -q 'read 512/512' q.out 2>/dev/null && break; sleep 0.1; done
$VDISK unlink d.vmdk 2>../err.txt
check "locked by qemu-io: refused (exit 1)" test $? = 1
check "locked by qemu-io: message says locked" grep -qi 'lock' ../err.txt
check "locked by qemu-io: files still there" test -e d.vmdk -a -e d-flat.vmdk
echo quit >&4; exec 4>&-; wait $qpid
check "after the writer quit: unlink works" $VDISK unlink d.vmdk
check "no file left but the fifo and log" bash -c "[ \"\$(ls -A | tr '\n' ' ')\" = 'q.fifo q.out ' ]"
cd ..
done_testing
