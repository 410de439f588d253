#!/bin/bash
# Crash-safety smoke test: kill -9 a `vdisk write` of a large input part way
# through.  Afterwards neither `vdisk check` nor `qemu-img check` may report
# corruption (leaked clusters are allowed: exit 0 or 3), vdisk and qemu-img
# read the same bytes, every sector reads either as the input or as zeros,
# and data written by an earlier, completed write is intact.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
M=$((1024*1024))
IN_SIZE=$((160*M))
DISK=$((512*M)); AT=$((40*M + 12345)); BEFORE_AT=$((500*M + 777))
head -c $IN_SIZE /dev/urandom > in.bin
pattern before.bin 100000 42

# sectors_ok RAW OFFSET: each 512-byte piece of RAW in [OFFSET, OFFSET+IN_SIZE)
# is the input's or zeros, or (where the writer stopped) part input, part
# zeros; prints how many pieces hold the input, partly, and neither
cat > sectors.py <<'PY'
import sys
raw, off = open(sys.argv[1], "rb"), int(sys.argv[2])
inp = open("in.bin", "rb")
raw.seek(off)
z = bytes(512); good = part = bad = 0
while True:
    a = inp.read(1 << 20)
    if not a:
        break
    b = raw.read(len(a))
    for i in range(0, len(a), 512):
        s, t = a[i:i+512], b[i:i+512]
        if t == s: good += 1
        elif t == z[:len(t)]: pass
        elif any((t[:k] == s[:k] and t[k:] == z[:len(t) - k]) or
                 (t[:k] == z[:k] and t[k:] == s[k:]) for k in range(1, len(t))):
            part += 1
        else: bad += 1
print("input %d, partly %d, other %d" % (good, part, bad))
sys.exit(bad != 0)
PY

n=0
for t in monolithicSparse twoGbMaxExtentSparse vmfsThin; do
  for delay in 0.1 0.4; do
    n=$((n+1)); rm -f d*.vmdk d.raw q.raw
    name="$t, killed after ${delay}s"
    "$VDISK" create --type $t --size $DISK d.vmdk
    # a completed write first, near the end (its own grain table)
    "$VDISK" write --offset $BEFORE_AT --file before.bin d.vmdk
    # the big write starts at an odd offset so its grains straddle
    "$VDISK" write --offset $AT --file in.bin d.vmdk &
    pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
    echo "# $name: writer exit $rc (137 = killed)"
    "$VDISK" check d.vmdk > check.out 2>&1; rc=$?
    if [ $rc = 0 ] || [ $rc = 3 ]; then ok "$name: vdisk check: no corruption (exit $rc)"
    else not_ok "$name: vdisk check: no corruption (exit $rc)"; sed 's/^/#   /' check.out | head -5; fi
    qemu-img check -f vmdk d.vmdk > qcheck.out 2>&1; rc=$?
    if [ $rc = 0 ] || [ $rc = 3 ]; then ok "$name: qemu-img check: no corruption (exit $rc)"
    else not_ok "$name: qemu-img check: no corruption (exit $rc)"; sed 's/^/#   /' qcheck.out | head -5; fi
    qemu-img convert -f vmdk -O raw d.vmdk q.raw
    check "$name: vdisk cat == qemu-img convert -O raw" \
      bash -c "set -o pipefail; '$VDISK' cat d.vmdk | cmp -s - q.raw"
    check "$name: the earlier write is intact" \
      cmp -s before.bin <(tail -c +$((BEFORE_AT + 1)) q.raw | head -c 100000)
    res=$(python3 sectors.py q.raw $AT); rc=$?
    check "$name: every piece is the input's or zeros ($res)" test $rc = 0
    check "$name: the disk takes new writes afterwards" \
      bash -c "printf again | '$VDISK' write --offset 5 d.vmdk && '$VDISK' check d.vmdk >/dev/null 2>&1; r=\$?; test \$r = 0 -o \$r = 3"
  done
done
rm -f d*.vmdk d.raw q.raw in.bin

done_testing
