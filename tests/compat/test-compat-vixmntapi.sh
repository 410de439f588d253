#!/bin/bash
# libvixMntapi.so.1: a program linked with -lvixMntapi -lvixDiskLib opens
# a disk set (a GPT disk: an ext4 Linux root with /etc/os-release and an
# NTFS volume), lists its volumes, mounts the root read-only, reads a
# known file, gets the OS information and runs four disk sets at once
# from four threads (tests/compat/vixmntapi-check.c).
. "$(dirname "$0")/../functions.sh"
requires sfdisk mke2fs fusermount3 fuse2fs
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
CHECK="$VDISK_TOP/$VDISK_BUILD/tests/vixmntapi-check"
[ -x "$CHECK" ] || { echo "# skip: $CHECK not built"; exit 77; }
cleanup() {
  grep -o "$WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r d; do fusermount3 -u -z "$d" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"
cd "$WORK"

mkdir -p root/etc root/usr/bin root/data
cat > root/etc/os-release <<'OS'
PRETTY_NAME="Testix GNU/Linux 12 (vdisk)"
NAME="Testix GNU/Linux"
VERSION_ID="12.4"
ID=testix
OS
cp /bin/ls root/usr/bin/ls
pattern root/data/known.bin 777777 21
truncate -s 64M gpt.raw
printf 'label: gpt\nstart=2048, size=61440, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nstart=63488, size=40960, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n' | sfdisk -q gpt.raw
truncate -s $((61440 * 512)) r.img && mke2fs -q -F -t ext4 -d root r.img
dd if=r.img of=gpt.raw bs=512 seek=2048 conv=notrunc status=none
if command -v mkntfs >/dev/null; then
  truncate -s $((40960 * 512)) n.img && mkntfs -q -F -Q -s 512 -p 63488 n.img >/dev/null 2>&1
  dd if=n.img of=gpt.raw bs=512 seek=63488 conv=notrunc status=none
fi
"$VDISK" convert -f raw gpt.raw gpt.vmdk >/dev/null
# (libfuse 3.14 leaks a context per thread that destroys the last mount)
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$VDISK_TOP/tests/compat/vixmntapi-lsan.supp"
timeout 300 "$CHECK" "$WORK/gpt.vmdk" 1 data/known.bin "$WORK/root/data/known.bin" Testix
rc=$?
check "the VixMntapi program ran to the end (exit $rc)" test $rc = 0
# A Windows guest: an NTFS volume with Windows/System32/ntoskrnl.exe, a
# PE image (x86-64) whose version resource says 10.0.19041.1 (written
# with ntfs-3g itself; root only).
if command -v mkntfs >/dev/null && command -v ntfs-3g >/dev/null && [ "$(id -u)" = 0 ]; then
  python3 - ntoskrnl.exe <<'PY'
import struct, sys
b = bytearray(64 * 1024)
b[0:2] = b"MZ"; struct.pack_into("<I", b, 0x3C, 0x80)
b[0x80:0x84] = b"PE\0\0"; struct.pack_into("<H", b, 0x84, 0x8664)
# VS_VERSIONINFO's fixed part near the end, as in a resource section
o = 60000
struct.pack_into("<IIIIII", b, o, 0xFEEF04BD, 0x00010000, (10 << 16) | 0,
                 (19041 << 16) | 1, (10 << 16) | 0, (19041 << 16) | 1)
open(sys.argv[1], "wb").write(b)
PY
  truncate -s 48M win.raw
  printf 'label: dos\nstart=2048, size=90112, type=7\n' | sfdisk -q win.raw
  truncate -s $((90112 * 512)) w.img && mkntfs -q -F -Q -L Windows -s 512 -p 2048 w.img >/dev/null 2>&1
  mkdir -p wm && ntfs-3g w.img wm && mkdir -p wm/Windows/System32 wm/Users \
    && cp ntoskrnl.exe wm/Windows/System32/ && fusermount3 -u wm
  dd if=w.img of=win.raw bs=512 seek=2048 conv=notrunc status=none
  "$VDISK" convert -f raw win.raw win.vmdk >/dev/null
  timeout 300 "$CHECK" "$WORK/win.vmdk" 1 Windows/System32/ntoskrnl.exe "$WORK/ntoskrnl.exe" Microsoft
  check "the VixMntapi program on a Windows guest ran to the end (exit $?)" test $? = 0
fi

SAMPLE="$VDISK_TOP/$VDISK_BUILD/bin/vix-disklib-sample"
if [ -x "$SAMPLE" ]; then
  timeout 120 "$SAMPLE" -mount gpt.vmdk > sample.out 2>&1
  check "sample -mount: exit 0" test $? = 0
  check "sample -mount: lists the volumes" grep -q 'Number of volumes: 2' sample.out
  check "sample -mount: the top-level entries of the root volume" \
    bash -c "sed -n '/^Volume 1/,/^Volume 2/p' sample.out | grep -qx '  etc' && sed -n '/^Volume 1/,/^Volume 2/p' sample.out | grep -qx '  data'"
fi
check "no mount left behind" bash -c "! grep -qF '$WORK/' /proc/self/mountinfo"
check "no mount folder left behind" test -z "$(ls -d vixmntapi-* 2>/dev/null)"
done_testing
