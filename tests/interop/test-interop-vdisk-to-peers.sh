#!/bin/bash
# vdisk -> peers: every layout `vdisk create` makes, written by `vdisk write`
# at aligned, unaligned, grain-straddling and extent-straddling offsets, while
# the expected raw image is built beside it with dd.  Then the peers judge:
# qemu-img compare (identical), qemu-img check (clean), 7z x (extracts the
# raw; 7-Zip reads every one of these layouts, multi-extent ones included),
# vmdkinfo (accepts), and vdisk check (clean).
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 dd
have_7z=1; command -v 7z >/dev/null 2>&1 || have_7z=0
have_vmdkinfo=1; command -v vmdkinfo >/dev/null 2>&1 || have_vmdkinfo=0

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
    ref = zero[:n] if next_data(pos) >= pos + n else os.pread(fd, n, pos)
    if got != ref:
        i = next(i for i in range(n) if got[i] != ref[i])
        sys.exit("first difference at byte %d" % (pos + i))
    pos += n
if inp.read(1):
    sys.exit("stream longer than the reference (%d bytes)" % size)
PY

M=$((1024*1024)); G=$((1024*M))
seed=1
# put DISK RAW OFFSET LEN: the same pseudo-random bytes into the disk (vdisk
# write) and into the expected raw image (dd)
put() {
  local disk=$1 raw=$2 off=$3 len=$4
  seed=$((seed+1))
  pattern "$WORK/chunk" "$len" $seed
  if ! "$VDISK" write --offset "$off" --file "$WORK/chunk" "$disk" 2>"$WORK/err"; then
    echo "# vdisk write --offset $off ($len bytes) failed: $(cat "$WORK/err")"
    put_failed=1
  fi
  dd if="$WORK/chunk" of="$raw" oflag=seek_bytes seek="$off" conv=notrunc,sparse status=none
}

# judge NAME DISK RAW [7z]: the peer checks
judge() {
  local name=$1 disk=$2 raw=$3 with7z=${4:-1}
  check "$name: every vdisk write succeeded" test "$put_failed" = 0
  check "$name: qemu-img compare raw disk: identical" \
    qemu-img compare -q -f raw -F vmdk "$raw" "$disk"
  qemu-img check -f vmdk "$disk" > "$WORK/qcheck" 2>&1; local rc=$?
  if [ $rc = 0 ]; then ok "$name: qemu-img check clean"
  else not_ok "$name: qemu-img check clean (exit $rc)"; sed 's/^/#   /' "$WORK/qcheck" | head -5; fi
  if [ "$have_vmdkinfo" = 1 ]; then
    check "$name: vmdkinfo accepts it" bash -c "vmdkinfo '$disk' >/dev/null 2>&1"
  fi
  if [ "$have_7z" = 1 ] && [ "$with7z" = 1 ]; then
    # 7z names the whole disk after the descriptor; -so streams it
    check "$name: 7z x extracts the raw image" \
      bash -c "set -o pipefail; 7z x -so '$disk' 2>/dev/null | python3 '$WORK/cmpstream.py' '$raw'"
  fi
  "$VDISK" check "$disk" > "$WORK/vcheck" 2>&1; rc=$?
  if [ $rc = 0 ]; then ok "$name: vdisk check clean"
  else not_ok "$name: vdisk check clean (exit $rc)"; sed 's/^/#   /' "$WORK/vcheck" | head -5; fi
}

# ---- every layout, a small disk (not a whole grain), every judge -------------------
declare -A adapter=([monolithicSparse]=ide [monolithicFlat]=buslogic
  [twoGbMaxExtentSparse]=lsilogic [twoGbMaxExtentFlat]=legacyESX [vmfs]=pvscsi [vmfsThin]=lsilogic)
SMALL=$((40*M + 1536))
for t in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfs vmfsThin; do
  dir=$WORK/$t; mkdir -p "$dir"; d=$dir/d.vmdk; raw=$WORK/$t.raw
  put_failed=0
  if ! "$VDISK" create --type $t --adapter ${adapter[$t]} --size $SMALL "$d" 2>"$WORK/err"; then
    not_ok "$t: vdisk create --size $SMALL ($(cat "$WORK/err"))"; continue
  fi
  truncate -s $SMALL "$raw"
  put "$d" "$raw" 0 65536                    # aligned, one whole grain
  put "$d" "$raw" 12345 1001                 # odd offset and length
  put "$d" "$raw" $((3*65536 - 101)) 333     # straddles a grain
  put "$d" "$raw" $((512*65536 - 7)) 20      # straddles a grain table (512 grains)
  put "$d" "$raw" $((5*M + 1)) $((3*M))      # many grains at once, unaligned
  put "$d" "$raw" $((5*M + 100)) 5000        # overwrite inside written data
  put "$d" "$raw" $((SMALL - 777)) 777       # the end of the disk
  judge "$t" "$d" "$raw"
  check "$t: info shows adapter ${adapter[$t]}" \
    bash -c "'$VDISK' info '$d' | grep -E '^adapter:' | grep -qw ${adapter[$t]}"
  rm -rf "$dir" "$raw"
done

# ---- over 4 GiB: extents of 2047 MiB, writes across every boundary ------------------
BIG=$((4*G + 3*M + 1536))
for t in twoGbMaxExtentSparse twoGbMaxExtentFlat monolithicSparse vmfsThin; do
  dir=$WORK/big-$t; mkdir -p "$dir"; d=$dir/d.vmdk; raw=$WORK/big-$t.raw
  put_failed=0
  if ! "$VDISK" create --type $t --size $BIG "$d" 2>"$WORK/err"; then
    not_ok "big $t: vdisk create --size $BIG ($(cat "$WORK/err"))"; continue
  fi
  truncate -s $BIG "$raw"
  put "$d" "$raw" 4097 10000                 # early, unaligned
  put "$d" "$raw" $((2047*M - 1234)) 5000    # straddles extent 1 / 2
  put "$d" "$raw" $((2*G - 3)) 7             # straddles 2 GiB
  put "$d" "$raw" $((2*2047*M - 1)) 2        # straddles extent 2 / 3
  put "$d" "$raw" $((4*G - 11)) 100          # straddles 4 GiB
  put "$d" "$raw" $((4*G + 65536*3 + 5)) 70000
  put "$d" "$raw" $((BIG - 4099)) 4099       # the end of the disk
  # 7z streams the whole disk through a pipe: once, for the split sparse one
  judge "big $t" "$d" "$raw" $([ $t = twoGbMaxExtentSparse ] && echo 1 || echo 0)
  if [ ${t#twoGb} != $t ]; then
    n=$(ls "$dir" | grep -c -- '-[sf]00[0-9].vmdk')
    check "big $t: 3 extent files of at most 2047 MiB (got $n)" test "$n" = 3
  fi
  check "big $t: writing past the end fails" \
    bash -c "! printf xy | '$VDISK' write --offset $((BIG - 1)) '$d' 2>/dev/null"
  rm -rf "$dir" "$raw"
done

done_testing
