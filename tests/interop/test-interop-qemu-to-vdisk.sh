#!/bin/bash
# qemu-img -> vdisk: every layout qemu-img makes (monolithicSparse,
# monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat, streamOptimized)
# and every adapter type it writes, filled by qemu-io at aligned, unaligned,
# grain-straddling, extent-straddling and > 4 GiB offsets.  `vdisk cat` must
# equal `qemu-img convert -O raw` byte for byte, and the data ranges of
# `vdisk map --json` must equal those of `qemu-img map --output=json`.
source "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3

# cmpstream REF: standard input equals file REF byte for byte.  Holes of REF
# (SEEK_DATA) are compared against zeros without reading them, so a 4 GiB
# mostly-empty disk costs only the pipe.
cat > "$WORK/cmpstream.py" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
inp = sys.stdin.buffer
CH = 1 << 20
zero = bytes(CH)
pos = 0
def next_data(p):
    try:
        return os.lseek(fd, p, os.SEEK_DATA)
    except OSError:
        return size
while pos < size:
    n = min(CH, size - pos)
    got = inp.read(n)
    if len(got) != n:
        sys.exit("stream ends at %d, reference has %d bytes" % (pos + len(got), size))
    if next_data(pos) >= pos + n:
        ref = zero[:n]
    else:
        ref = os.pread(fd, n, pos)
    if got != ref:
        i = next(i for i in range(n) if got[i] != ref[i])
        sys.exit("first difference at byte %d" % (pos + i))
    pos += n
if inp.read(1):
    sys.exit("stream longer than the reference (%d bytes)" % size)
PY
# ranges.py JSONFILE: merged [start,end) ranges that hold data not known to be
# zero ("data" true, "zero" false), one per line.  (For a sparse extent that
# is qemu's "data"; for a flat extent qemu calls every byte "data" and marks
# the host file's holes "zero", while vdisk calls those holes "hole": both
# agree on where the bytes that are not known zeros lie.)
cat > "$WORK/ranges.py" <<'PY'
import json, sys
out = []
for e in json.load(open(sys.argv[1])):
    if not e.get("data") or e.get("zero"):
        continue
    s, l = int(e["start"]), int(e["length"])
    if out and out[-1][1] == s:
        out[-1][1] = s + l
    else:
        out.append([s, s + l])
for s, e in out:
    print(s, e)
PY

G=$((1024*1024*1024))
# qio DISK OFFSET LEN BYTE: one qemu-io pattern write
qio() { qemu-io -f vmdk -c "write -P $4 $2 $3" "$1" >/dev/null; }

# same_as_qemu NAME DISK: the cat and map checks for one disk
same_as_qemu() {
  local name=$1 disk=$2
  qemu-img convert -f vmdk -O raw "$disk" "$WORK/ref.raw"
  check "$name: vdisk cat == qemu-img convert -O raw" \
    bash -c "set -o pipefail; '$VDISK' cat '$disk' | python3 '$WORK/cmpstream.py' '$WORK/ref.raw'"
  qemu-img map -f vmdk --output=json "$disk" > "$WORK/qmap.json"
  if "$VDISK" map --json "$disk" > "$WORK/vmap.json"; then
    python3 "$WORK/ranges.py" "$WORK/qmap.json" > "$WORK/qmap.txt"
    python3 "$WORK/ranges.py" "$WORK/vmap.json" > "$WORK/vmap.txt"
    if cmp -s "$WORK/qmap.txt" "$WORK/vmap.txt"; then
      ok "$name: vdisk map data (non-zero) ranges == qemu-img map ($(wc -l < "$WORK/qmap.txt") ranges)"
    else
      not_ok "$name: vdisk map data (non-zero) ranges == qemu-img map"
      diff "$WORK/qmap.txt" "$WORK/vmap.txt" | head -10 | sed 's/^/#   /'
    fi
  else
    not_ok "$name: vdisk map --json exits 0"
  fi
  rm -f "$WORK/ref.raw"
}

# ---- every qemu-made layout, a disk over 4 GiB ---------------------------------
# (monolithicFlat is one plain file: a small one proves the layout and keeps
# the run short; the others cross 4 GiB, where 32-bit offsets would break.)
BIG=$((4*G + 2*1024*1024 + 512*3))        # over 4 GiB, not a whole grain
for sub in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat; do
  SIZE=$BIG
  [ $sub = monolithicFlat ] && SIZE=$((96*1024*1024 + 1536))
  d=$WORK/$sub/d.vmdk
  mkdir -p "$WORK/$sub"
  qemu-img create -q -f vmdk -o subformat=$sub "$d" $SIZE
  qio "$d" 0 65536 0x11                         # aligned, a whole grain
  qio "$d" 12345 1000 0x22                      # unaligned start and length
  qio "$d" $((3*65536 - 100)) 300 0x33          # straddles a grain boundary
  if [ $SIZE = $BIG ]; then
    qio "$d" $((2*G - 700)) 1500 0x44           # straddles 2 GiB (qemu's extent size)
    qio "$d" $((4*G + 77)) 5000 0x55            # beyond 4 GiB
  fi
  qio "$d" $((SIZE - 513)) 513 0x66             # the last bytes of the disk
  qio "$d" $((1000*65536 + 3)) $((512*1024)) 0x77   # many grains, unaligned
  check "$sub: vdisk info reads it" bash -c "'$VDISK' info '$d' > '$WORK/info.txt'"
  check "$sub: info shows the capacity $SIZE" grep -q "$SIZE bytes" "$WORK/info.txt"
  check "$sub: info shows createType" grep -q "$sub" "$WORK/info.txt"
  same_as_qemu "$sub" "$d"
  rm -rf "$WORK/$sub"
done

# ---- streamOptimized, through qemu-img convert ----------------------------------
mkdir -p "$WORK/so"
truncate -s $((64*1024*1024 + 1536)) "$WORK/so/in.raw"
pattern "$WORK/so/p" 200000 5
dd if="$WORK/so/p" of="$WORK/so/in.raw" bs=1 seek=12345 conv=notrunc status=none
dd if="$WORK/so/p" of="$WORK/so/in.raw" bs=1 seek=$((40*1024*1024 - 777)) conv=notrunc status=none
printf 'end' | dd of="$WORK/so/in.raw" bs=1 seek=$((64*1024*1024 + 1533)) conv=notrunc status=none
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$WORK/so/in.raw" "$WORK/so/d.vmdk"
check "streamOptimized: vdisk info reads it" bash -c "'$VDISK' info '$WORK/so/d.vmdk' | grep -q streamOptimized"
same_as_qemu "streamOptimized" "$WORK/so/d.vmdk"
check "streamOptimized: vdisk cat == the raw qemu-img converted" \
  bash -c "set -o pipefail; '$VDISK' cat '$WORK/so/d.vmdk' | cmp -s - '$WORK/so/in.raw'"
rm -rf "$WORK/so"

# ---- adapter types ---------------------------------------------------------------
for ad in ide buslogic lsilogic legacyESX; do
  d=$WORK/ad-$ad.vmdk
  qemu-img create -q -f vmdk -o subformat=monolithicSparse,adapter_type=$ad "$d" 10M
  qio "$d" 1000 3000 0x5a
  check "adapter $ad: vdisk info shows it" bash -c "'$VDISK' info '$d' | grep -E '^adapter:' | grep -qw '$ad'"
  check "adapter $ad: json adapter is $ad" \
    bash -c "'$VDISK' info --json '$d' | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"adapter\"] != \"$ad\")'"
  same_as_qemu "adapter $ad" "$d"
done

done_testing
