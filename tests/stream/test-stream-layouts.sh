#!/bin/bash
# streamOptimized: read every layout seen in practice (A VMware, B open-vmdk,
# C QEMU), refuse hostile files cleanly, and write files that qemu-img and
# 7-Zip read back identically.
#
# Peers: qemu-img makes layout C and reads A and C; 7z reads A (only the
# VMware layout, DESIGN.md); layout B is compared with the raw image the
# fixture generator wrote from the format facts.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 cmp
HERE="$VDISK_TOP/tests/stream"
have_7z=1; command -v 7z >/dev/null 2>&1 || have_7z=0

python3 "$HERE/make-stream-fixtures.py" "$WORK/fx" || { echo "fixture generator failed"; exit 1; }
FX=$WORK/fx

# ---- the driver-level harness, linked with the library objects --------------
HARNESS=$WORK/stream-harness
build_harness() {
  local top=$VDISK_TOP build=$VDISK_TOP/${VDISK_BUILD:-build/check}
  local libs; libs=$(pkg-config --libs libdeflate zlib libisal 2>/dev/null || echo "-ldeflate -lz -lisal")
  local cflags="-std=gnu11 -g -O1 -pthread -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I$top/include -I$top/lib"
  local extra="" san
  [ -f "$build/lib/libvdisk.a" ] || { echo "no $build/lib/libvdisk.a" > "$WORK/harness.log"; return 1; }
  for l in -lnbd -lnettle -lclamav -lcurl -lxml2 -lssl -lcrypto; do
    echo 'int main(void){return 0;}' | cc -x c - $l -o "$WORK/t" 2>/dev/null && extra="$extra $l"
  done
  for san in "" "-fsanitize=address,undefined"; do
    cc $cflags $san -o "$HARNESS" "$HERE/stream-harness.c" "$build/lib/libvdisk.a" \
       $libs $extra 2>"$WORK/harness.log" && return 0
  done
  return 1
}
if build_harness; then
  for f in a b a-rawdeflate; do
    check "harness: layout $f reads as the generator's raw (2 threads)" \
      bash -c "'$HARNESS' cat '$FX/$f.vmdk' '$WORK/h.out' 2 && cmp -s '$WORK/h.out' '$FX/disk.raw'"
  done
  check "harness: check a.vmdk clean" "$HARNESS" check "$FX/a.vmdk"
  "$HARNESS" check "$FX/a-leak.vmdk" >/dev/null 2>&1; rc=$?
  check "harness: check a-leak.vmdk reports a leak (exit 3, got $rc)" test "$rc" = 3
  "$HARNESS" check "$FX/bad-lba.vmdk" >/dev/null 2>&1; rc=$?
  check "harness: check bad-lba.vmdk reports corruption (exit 2, got $rc)" test "$rc" = 2

  # Writer determinism: 1 and 3 threads give the same bytes after the
  # descriptor (CID, longContentID and uuid are random by design).
  pattern "$WORK/w.raw" $((3 << 20)) 7
  truncate -s 70M "$WORK/w.raw"
  printf 'tail of the disk' | dd of="$WORK/w.raw" bs=1 seek=$((70*1024*1024 - 100)) conv=notrunc status=none
  "$HARNESS" convert "$WORK/w.raw" "$WORK/w1.vmdk" 1 &&
  "$HARNESS" convert "$WORK/w.raw" "$WORK/w3.vmdk" 3
  check "harness: writer output identical for 1 and 3 threads" \
    cmp -s <(tail -c +$((21*512+1)) "$WORK/w1.vmdk") <(tail -c +$((21*512+1)) "$WORK/w3.vmdk")
  check "harness: qemu-img compare raw vs written stream" qemu-img compare -q "$WORK/w.raw" "$WORK/w3.vmdk"
  out=$("$HARNESS" convert "$WORK/w.raw" "$WORK/w4.vmdk" 2)
  check "harness: progress reaches the total ($out)" \
    bash -c "[[ '$out' == *'last=73400320 total=73400320'* ]]"
  "$HARNESS" convert "$WORK/w.raw" "$WORK/w5.vmdk" 2 2 >/dev/null; rc=$?
  check "harness: progress callback cancels with VD_ECANCELED (exit $rc)" test "$rc" = 4
else
  echo "# harness did not build:"; sed 's/^/#   /' "$WORK/harness.log" | head -20
  not_ok "harness builds"
fi

# ---- through the CLI -----------------------------------------------------------
if [ ! -x "$VDISK" ]; then
  echo "# vdisk CLI not built: CLI tests skipped"
  done_testing; exit $?
fi

# Layout C: made by qemu-img (holes, random, text, a size that is not a
# multiple of the grain).
pattern "$WORK/c.raw" $((2 << 20)) 3
truncate -s $((6*1024*1024 + 3*512)) "$WORK/c.raw"
yes "stream text" | head -c 300000 | dd of="$WORK/c.raw" bs=4096 seek=1000 conv=notrunc status=none
dd if=/dev/urandom of="$WORK/c.raw" bs=512 seek=$((6*2048)) count=3 conv=notrunc status=none
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$WORK/c.raw" "$WORK/c.vmdk"
qemu-img convert -f vmdk -O raw "$WORK/c.vmdk" "$WORK/c.qemu.raw"
check "layout C (qemu-img): vdisk cat == qemu-img convert -O raw" \
  bash -c "'$VDISK' cat '$WORK/c.vmdk' > '$WORK/c.out' && cmp -s '$WORK/c.out' '$WORK/c.qemu.raw'"

# Layouts A and B (and raw-deflate grains) from the format facts.
qemu-img convert -f vmdk -O raw "$FX/a.vmdk" "$WORK/a.qemu.raw"
check "layout A: qemu-img reads the fixture as the generator's raw" cmp -s "$WORK/a.qemu.raw" "$FX/disk.raw"
for f in a b a-rawdeflate; do
  check "layout $f: vdisk cat == generator's raw" \
    bash -c "'$VDISK' cat '$FX/$f.vmdk' > '$WORK/$f.out' && cmp -s '$WORK/$f.out' '$FX/disk.raw'"
done
check "layout A: vdisk cat == qemu-img convert -O raw" cmp -s "$WORK/a.out" "$WORK/a.qemu.raw"
if [ $have_7z = 1 ]; then
  rm -rf "$WORK/x"; 7z x -o"$WORK/x" "$FX/a.vmdk" >/dev/null 2>&1
  check "layout A: 7z extracts the generator's raw" cmp -s "$WORK"/x/* "$FX/disk.raw"
fi

# Read-write opens are refused.
"$VDISK" write --offset 0 --file /dev/null "$FX/a.vmdk" </dev/null >/dev/null 2>"$WORK/err"; rc=$?
check "read-write open of a stream is refused (exit $rc)" test "$rc" = 1
check "refusal names the problem" grep -qi "read-only\|convert\|cannot be opened for writing" "$WORK/err"

# Hostile files: exit 1 with a message, never a crash or a sanitizer report.
for f in "$FX"/bad-*.vmdk; do
  n=$(basename "$f")
  "$VDISK" cat "$f" >/dev/null 2>"$WORK/err"; rc=$?
  check "$n: vdisk cat fails cleanly (exit $rc)" bash -c "[ $rc = 1 ] && grep -q '$n' '$WORK/err'"
done

# check
"$VDISK" check "$FX/a.vmdk" >/dev/null 2>&1; rc=$?
check "vdisk check a.vmdk: clean (exit $rc)" test "$rc" = 0
"$VDISK" check "$FX/a-leak.vmdk" >/dev/null 2>&1; rc=$?
check "vdisk check a-leak.vmdk: leaks only (exit $rc)" test "$rc" = 3
"$VDISK" check "$FX/bad-lba.vmdk" >/dev/null 2>&1; rc=$?
check "vdisk check bad-lba.vmdk: corruption (exit $rc)" test "$rc" = 2

# The writer, read back by the peers.
pattern "$WORK/r.raw" $((1 << 20)) 11
truncate -s $((40*1024*1024 + 512)) "$WORK/r.raw"
yes "compressible" | head -c 2000000 | dd of="$WORK/r.raw" bs=65536 seek=300 conv=notrunc status=none
dd if=/dev/urandom of="$WORK/r.raw" bs=512 seek=$((80*1024)) count=1 conv=notrunc status=none
if "$VDISK" convert --type streamOptimized "$WORK/r.raw" "$WORK/r.vmdk" 2>"$WORK/err"; then
  ok "vdisk convert --type streamOptimized"
  check "written stream: qemu-img compare" qemu-img compare -q "$WORK/r.raw" "$WORK/r.vmdk"
  check "written stream: qemu-img check" qemu-img check -q "$WORK/r.vmdk"
  check "written stream: vdisk cat" bash -c "'$VDISK' cat '$WORK/r.vmdk' | cmp -s - '$WORK/r.raw'"
  check "written stream: vdisk check" "$VDISK" check "$WORK/r.vmdk"
  check "written stream: header is version 3, flags 0x30001, GD_AT_END" \
    python3 -c "
import struct,sys
h=open('$WORK/r.vmdk','rb').read(512)
m,v,fl=struct.unpack_from('<4sII',h); gd=struct.unpack_from('<Q',h,56)[0]
sys.exit(0 if (m,v,fl,gd)==(b'KDMV',3,0x30001,2**64-1) else 1)"
  check "written stream: descriptor says streamOptimized" \
    bash -c "head -c 10752 '$WORK/r.vmdk' | tr -d '\0' | grep -q 'createType=\"streamOptimized\"'"
  if [ $have_7z = 1 ]; then
    rm -rf "$WORK/x"; 7z x -o"$WORK/x" "$WORK/r.vmdk" >/dev/null 2>&1
    check "written stream: 7z extracts the raw" cmp -s "$WORK"/x/* "$WORK/r.raw"
  fi
  sz_ours=$(stat -c %s "$WORK/r.vmdk")
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$WORK/r.raw" "$WORK/r.qemu.vmdk"
  sz_qemu=$(stat -c %s "$WORK/r.qemu.vmdk")
  echo "# sizes: vdisk $sz_ours, qemu-img $sz_qemu"
  check "written stream: no larger than 1.1x qemu-img's" test $((sz_ours * 10)) -le $((sz_qemu * 11))
else
  sed 's/^/# /' "$WORK/err"
  not_ok "vdisk convert --type streamOptimized"
fi

done_testing
