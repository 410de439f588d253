#!/bin/bash
# kill -9 at a random moment of shrink, defrag and grow leaves the disk
# readable, identical (qemu-img compare against a raw made before; for grow
# also the grown size with zeros after) and check-clean (vdisk check and
# qemu-img check).
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
ITER=${ITER:-4}
vcheck() { $VDISK check "$@" >/dev/null; }

pattern data.bin 16777216 21
$VDISK create -s 1G orig.vmdk
for o in 0 300M 600M; do $VDISK write -o $o -f data.bin orig.vmdk; done
head -c 8388608 /dev/zero > z.bin
$VDISK write -o 8M -f z.bin orig.vmdk
qemu-img convert -O raw orig.vmdk before.raw
cp before.raw grown.raw; truncate -s 1100M grown.raw

for op in shrink defrag grow; do
  args=""; [ $op = grow ] && args=1100M
  # how long does it take here?
  cp --sparse=always orig.vmdk d.vmdk
  start=$(date +%s%N); $VDISK $op d.vmdk $args; end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 )); [ $ms -lt 1 ] && ms=1
  echo "# $op takes ${ms} ms"
  for i in $(seq $ITER); do
    rm -rf d.vmdk .vdisk-work-*
    cp --sparse=always orig.vmdk d.vmdk
    delay=$(python3 -c "import random; print(random.uniform(0, $ms) / 1000)")
    $VDISK $op d.vmdk $args & pid=$!
    sleep "$delay"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    size=$(qemu-img info --output=json d.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
    ref=before.raw; [ "$size" = 1153433600 ] && ref=grown.raw
    check "$op #$i (killed after ${delay}s): content identical ($(basename $ref))" qemu-img compare -q $ref d.vmdk
    check "$op #$i: vdisk check clean" vcheck d.vmdk
    check "$op #$i: qemu-img check clean" qemu-img check -q d.vmdk
  done
done
done_testing
