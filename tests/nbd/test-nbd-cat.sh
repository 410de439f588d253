#!/bin/bash
# `vdisk cat nbd+unix://...` (reads through a ring of buffers that a
# writer thread writes out in order) against nbdkit's file plugin: the
# output equals the served file byte for byte for odd sizes, a hole at
# the end, an all-hole and an all-data disk longer than the ring, into a
# new file (the holes stay holes), a pipe, a file at a non-zero offset and
# an existing file full of other bytes (the holes over them are punched);
# a read that fails (nbdkit's ddrescue filter marks one MiB bad) is
# reported with its offset and everything before it is written out.
source "$(dirname "$0")/../functions.sh"
requires nbdkit python3 timeout cmp stat
cd "$WORK"
M=$((1 << 20))
python3 - <<'PY'
import random
r = random.Random(11)
M = 1 << 20
def make(name, size, runs):
    with open(name, "wb") as f:
        f.truncate(size)
        for off, n in runs:
            f.seek(off); f.write(r.randbytes(n))
make("tail.raw", 3 * M + 777, [(0, 100000), (2 * M + 3, M + 774)])  # data at the odd end
make("hole.raw", 4 * M + 4095, [(M, M // 2 + 1)])                  # a hole at the end
make("empty.raw", 2 * M + 1, [])                                    # no data at all
make("full.raw", 9 * M + 13, [(0, 9 * M + 13)])                     # longer than the ring
make("mixed.raw", 21 * M + 511, [(i * M + 7, M // 3) for i in range(0, 21, 2)]
     + [(13 * M, 4 * M)])
PY
printf '# Mapfile\n# current_pos  current_status\n0x00000000     +\n#      pos        size  status\n0x00000000  0x00500000  +\n0x00500000  0x00100000  -\n0x00600000  0x00300010  +\n' > bad.map
U() { echo "nbd+unix:///?socket=$WORK/$1"; }
for img in tail hole empty full mixed; do
  check "nbdkit serves $img.raw" \
    start_server socket "$WORK/$img.sock" nbdkit --exit-with-parent -U "$WORK/$img.sock" file "$img.raw"
done
check "nbdkit with the ddrescue filter (one bad MiB at 5 MiB) starts" \
  start_server socket "$WORK/bad.sock" nbdkit --exit-with-parent -U "$WORK/bad.sock" \
    --filter=ddrescue file full.raw ddrescue-mapfile="$WORK/bad.map"

blocks() { stat -c %b "$1"; }
for img in tail hole empty full mixed; do
  u=$(U "$img.sock")
  rm -f "new-$img.raw"
  timeout 60 "$VDISK" cat --raw "$u" > "new-$img.raw"
  check "$img: into a new file, byte for byte" cmp -s "new-$img.raw" "$img.raw"
  check "$img: the new file keeps the holes ($(blocks "new-$img.raw") <= $(blocks "$img.raw") + 64 blocks)" \
    test "$(blocks "new-$img.raw")" -le $(( $(blocks "$img.raw") + 64 ))
  check "$img: into a pipe, byte for byte" \
    bash -c "timeout 60 '$VDISK' cat --raw '$u' | cmp -s - '$img.raw'"
  { printf 'abc'; timeout 60 "$VDISK" cat --raw "$u"; } > "off-$img.raw"
  check "$img: into a file at offset 3, byte for byte after the 3 bytes" \
    bash -c "[ \"\$(head -c 3 'off-$img.raw')\" = abc ] && tail -c +4 'off-$img.raw' | cmp -s - '$img.raw'"
  # an existing file of other bytes, longer and shorter than the disk
  for len in $((25 * M)) $((M + 5)); do
    head -c "$len" /dev/urandom > "old-$img.raw"
    timeout 60 "$VDISK" cat --raw "$u" 1<> "old-$img.raw"
    check "$img: over an existing file of $len other bytes, byte for byte" \
      cmp -s "old-$img.raw" "$img.raw"
  done
done

# a read that fails: reported with its offset, what came before written
rm -f part.raw
timeout 60 "$VDISK" cat --raw "$(U bad.sock)" > part.raw 2> part.err
rc=$?
check "a failed read fails cat (exit $rc), no hang" bash -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "the message names the failed read's offset" grep -q "read at offset 5242880 failed" part.err
# exactly: no byte of the failed read (libnbd does not zero read buffers)
check "the 5 MiB before the bad MiB are written out, nothing after ($(stat -c %s part.raw) bytes)" \
  bash -c "[ \$(stat -c %s part.raw) = $((5 * M)) ] && cmp -s part.raw <(head -c $((5 * M)) full.raw)"
check "... also into a pipe" bash -c "timeout 60 '$VDISK' cat --raw '$(U bad.sock)' 2>/dev/null | cmp -s - <(head -c $((5 * M)) full.raw)"
rm -f part3.raw
VDISK_NBD_READAHEAD=0 timeout 60 "$VDISK" cat --raw "$(U bad.sock)" > part3.raw 2>/dev/null
check "... also without read-ahead" cmp -s part3.raw <(head -c $((5 * M)) full.raw)

# a local file the same way (the same cat code without NBD)
head -c $((30 * M)) /dev/urandom > old-local.raw
"$VDISK" cat --raw mixed.raw 1<> old-local.raw
check "a local disk over an existing longer file, byte for byte" cmp -s old-local.raw mixed.raw
# appending (>>): the old bytes stay, the disk follows them, holes as zeros
head -c $((3 * M + 7)) /dev/urandom > app-old.raw
cp app-old.raw app.raw
"$VDISK" cat --raw mixed.raw >> app.raw
check "a local disk appended (>>) to a file follows its old bytes" \
  bash -c "cat app-old.raw mixed.raw | cmp -s - app.raw"
cp app-old.raw app2.raw
timeout 60 "$VDISK" cat --raw "$(U mixed.sock)" >> app2.raw
check "... also over NBD" bash -c "cat app-old.raw mixed.raw | cmp -s - app2.raw"
done_testing
