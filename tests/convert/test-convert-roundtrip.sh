#!/bin/bash
# convert: raw -> every layout -> raw round trips are identical; vmdk -> vmdk
# between layouts keeps the content (qemu-img compare); convert refuses to
# overwrite without --overwrite, and neither a refusal nor a failed convert
# leaves stray files behind.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 dd cmp

M=$((1024*1024)); G=$((1024*M))
LAYOUTS="monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfs vmfsThin streamOptimized"

# The source image: random data, text, holes, an allocated run of zeros, and
# a size that is not a whole grain.
SRC=$WORK/src.raw
truncate -s $((24*M + 1536)) "$SRC"
pattern "$WORK/p1" $((2*M + 333)) 11
pattern "$WORK/p2" 70000 12
dd if="$WORK/p1" of="$SRC" conv=notrunc status=none
dd if="$WORK/p2" of="$SRC" oflag=seek_bytes seek=$((9*M - 12345)) conv=notrunc status=none
yes "vdisk convert test line" | head -c 300000 | dd of="$SRC" oflag=seek_bytes seek=$((13*M + 7)) conv=notrunc status=none
head -c $((M)) /dev/zero | dd of="$SRC" oflag=seek_bytes seek=$((17*M)) conv=notrunc status=none
printf 'the last bytes' | dd of="$SRC" oflag=seek_bytes seek=$((24*M + 1536 - 14)) conv=notrunc status=none

# ---- raw -> layout -> raw ------------------------------------------------------
for t in $LAYOUTS; do
  mkdir -p "$WORK/$t"
  if "$VDISK" convert --type $t -f raw "$SRC" "$WORK/$t/d.vmdk" 2>"$WORK/err"; then
    ok "raw -> $t: convert exits 0"
  else
    not_ok "raw -> $t: convert exits 0 ($(cat "$WORK/err"))"; continue
  fi
  check "raw -> $t: qemu-img compare with the raw: identical" \
    qemu-img compare -q -f raw -F vmdk "$SRC" "$WORK/$t/d.vmdk"
  check "raw -> $t: vdisk check clean" bash -c "'$VDISK' check '$WORK/$t/d.vmdk' >/dev/null 2>&1"
  check "raw -> $t -> raw: identical" \
    bash -c "'$VDISK' convert --type raw '$WORK/$t/d.vmdk' '$WORK/$t/back.raw' && cmp -s '$WORK/$t/back.raw' '$SRC'"
  check "raw -> $t: info names the layout" \
    bash -c "'$VDISK' info --json '$WORK/$t/d.vmdk' | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"type\"] != \"$t\")'"
done

# ---- vmdk -> vmdk: every layout into every other ------------------------------------
# (7 x 6 pairs; the disks are small, this stays within seconds)
for a in $LAYOUTS; do
  [ -f "$WORK/$a/d.vmdk" ] || continue
  fails=""
  for b in $LAYOUTS; do
    [ $a = $b ] && continue
    o=$WORK/pair/o.vmdk; rm -rf "$WORK/pair"; mkdir -p "$WORK/pair"
    if ! "$VDISK" convert --type $b "$WORK/$a/d.vmdk" "$o" 2>"$WORK/err"; then
      fails="$fails $b(convert:$(head -c 100 "$WORK/err"))"; continue
    fi
    qemu-img compare -q -f vmdk -F vmdk "$WORK/$a/d.vmdk" "$o" || fails="$fails $b(differs)"
  done
  check "$a -> every other layout: identical content${fails:+ (failed:$fails)}" test -z "$fails"
done
rm -rf "$WORK/pair"

# ---- the adapter follows the input unless --adapter says otherwise ------------------
qemu-img create -q -f vmdk -o adapter_type=lsilogic "$WORK/ad.vmdk" 8M
"$VDISK" convert "$WORK/ad.vmdk" "$WORK/ad2.vmdk" 2>/dev/null
check "convert keeps the input's adapter (lsilogic)" \
  bash -c "'$VDISK' info '$WORK/ad2.vmdk' | grep -E '^adapter:' | grep -qw lsilogic"
"$VDISK" convert --adapter buslogic "$WORK/ad.vmdk" "$WORK/ad3.vmdk" 2>/dev/null
check "convert --adapter buslogic sets it" \
  bash -c "'$VDISK' info '$WORK/ad3.vmdk' | grep -E '^adapter:' | grep -qw buslogic"
rm -f "$WORK"/ad*.vmdk

# ---- a disk over 4 GiB: raw -> twoGbMaxExtentSparse -> raw ----------------------------
BIG=$((4*G + 2*M + 512))
truncate -s $BIG "$WORK/big.raw"
dd if="$WORK/p2" of="$WORK/big.raw" oflag=seek_bytes seek=$((2047*M - 30000)) conv=notrunc status=none
dd if="$WORK/p2" of="$WORK/big.raw" oflag=seek_bytes seek=$((4*G - 30001)) conv=notrunc status=none
dd if="$WORK/p2" of="$WORK/big.raw" oflag=seek_bytes seek=$((BIG - 70000)) conv=notrunc status=none
mkdir -p "$WORK/big"
check "big raw -> twoGbMaxExtentSparse: convert exits 0" \
  "$VDISK" convert --type twoGbMaxExtentSparse "$WORK/big.raw" "$WORK/big/d.vmdk"
check "big raw -> twoGbMaxExtentSparse: qemu-img compare identical" \
  qemu-img compare -q -f raw -F vmdk "$WORK/big.raw" "$WORK/big/d.vmdk"
check "big twoGbMaxExtentSparse -> monolithicSparse: identical" \
  bash -c "'$VDISK' convert '$WORK/big/d.vmdk' '$WORK/big/m.vmdk' && qemu-img compare -q -f vmdk -F vmdk '$WORK/big/d.vmdk' '$WORK/big/m.vmdk'"
rm -rf "$WORK/big" "$WORK/big.raw"

# ---- refusals and failures leave the folder as it was ----------------------------------
D=$WORK/ow; mkdir -p "$D"
# names, sizes, modification times and content of the files (not of the
# folder itself: a convert may try a name and take it back)
snap() { (cd "$D" && ls -lA --time-style=+%s.%N | sed 1d | awk '{print $1, $5, $6, $7}'; md5sum * 2>/dev/null); }
"$VDISK" convert -f raw "$SRC" "$D/o.vmdk" 2>/dev/null
"$VDISK" convert --type twoGbMaxExtentFlat -f raw "$SRC" "$D/s.vmdk" 2>/dev/null
snap > "$WORK/before"
"$VDISK" convert -f raw "$SRC" "$D/o.vmdk" 2>"$WORK/err"; rc=$?
check "convert onto an existing disk without --overwrite: exit 1 (got $rc)" test $rc = 1
check "  ... and the message names the file" grep -q "o.vmdk" "$WORK/err"
"$VDISK" convert --type twoGbMaxExtentFlat -f raw "$SRC" "$D/s.vmdk" 2>/dev/null; rc=$?
check "convert onto an existing split disk without --overwrite: exit 1 (got $rc)" test $rc = 1
# only an extent file exists, not its descriptor
rm "$D/s.vmdk"; snap > "$WORK/before"
"$VDISK" convert --type twoGbMaxExtentFlat -f raw "$SRC" "$D/s.vmdk" 2>"$WORK/err"; rc=$?
check "convert onto a left-over extent file without --overwrite: exit 1 (got $rc)" test $rc = 1
check "  ... the message names the extent file" grep -q "s-f001.vmdk" "$WORK/err"
snap > "$WORK/after"
check "refused converts leave the folder unchanged" cmp -s "$WORK/before" "$WORK/after"

# a failed convert: the input is cut short (a sparse disk whose grains are gone)
"$VDISK" convert -f raw "$SRC" "$WORK/cut.vmdk" 2>/dev/null
truncate -s $(( $(stat -c %s "$WORK/cut.vmdk") / 2 )) "$WORK/cut.vmdk"
snap > "$WORK/before"
"$VDISK" convert "$WORK/cut.vmdk" "$D/new.vmdk" 2>"$WORK/err"; rc=$?
check "convert of a truncated input fails (exit 1, got $rc)" test $rc = 1
check "  ... with a message naming the input" grep -q "cut.vmdk" "$WORK/err"
snap > "$WORK/after"
check "  ... and leaves no output file behind" cmp -s "$WORK/before" "$WORK/after"
"$VDISK" convert --type twoGbMaxExtentSparse "$WORK/cut.vmdk" "$D/new2.vmdk" 2>/dev/null
snap > "$WORK/after"
check "  ... nor extent files of a split output" cmp -s "$WORK/before" "$WORK/after"
"$VDISK" convert -f raw "$WORK/does-not-exist.raw" "$D/new3.vmdk" 2>/dev/null; rc=$?
snap > "$WORK/after"
check "convert of a missing input: exit 1 (got $rc), no output" \
  bash -c "test $rc = 1 && cmp -s '$WORK/before' '$WORK/after'"

# --overwrite replaces it, with the new content
"$VDISK" convert --overwrite -f raw "$WORK/p2" "$D/o.vmdk" 2>/dev/null
# (70000 bytes: the capacity rounds up to whole sectors, 70144, as qemu-img does)
check "convert --overwrite replaces the disk" \
  bash -c "'$VDISK' cat '$D/o.vmdk' | cmp -s - <(cat '$WORK/p2'; head -c 144 /dev/zero)"
check "  ... and qemu-img agrees" qemu-img compare -q -f raw -F vmdk "$WORK/p2" "$D/o.vmdk"
ls "$D" > "$WORK/list"
check "  ... leaving no temporary files (got: $(tr '\n' ' ' < "$WORK/list"))" \
  test "$(tr '\n' ' ' < "$WORK/list")" = "o.vmdk s-f001.vmdk "

done_testing
