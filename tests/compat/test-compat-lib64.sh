#!/bin/bash
# lib64/ is self-contained, as VDDK's: backup products copy lib64/*.so*
# alone into their own tree.  The copy must load and work with nothing of
# the build or install tree beside it.
source "$(dirname "$0")/../functions.sh"
requires qemu-img readelf python3
b="$VDISK_TOP/$VDISK_BUILD"
client="$b/tests/vix-client"
dlopen_test="$b/tests/test-compat-dlopen"
[ -x "$client" ] && [ -x "$dlopen_test" ] || { echo "# skip: build the tests first"; exit 77; }
so="$b/compat/lib64/libvixDiskLib.so.8"
cd "$WORK"

# Copy the folder the way a packager does: the files, links followed.
mkdir -p vddk/lib64
cp "$b"/compat/lib64/*.so* vddk/lib64/
check "only lib64/*.so* copied" test -z "$(ls vddk | grep -v '^lib64$')"
if readelf -d "$so" | grep -q 'NEEDED.*libvdisk'; then
  readelf -d "$so" | grep NEEDED | sed 's/^/# /'
  not_ok "libvixDiskLib.so.8 does not need libvdisk.so"
else
  ok "libvixDiskLib.so.8 does not need libvdisk.so"
fi
if readelf -d "$so" | grep -qE 'RUNPATH|RPATH'; then
  readelf -d "$so" | grep -E 'RUNPATH|RPATH' | sed 's/^/# /'
  not_ok "no RUNPATH into the build or install tree"
else
  ok "no RUNPATH into the build or install tree"
fi
# Its needs are system libraries only.
missing=$(env -u LD_LIBRARY_PATH ldd vddk/lib64/libvixDiskLib.so.8 | grep 'not found' || true)
check "every library it needs is found from the copy alone" test -z "$missing"
[ -z "$missing" ] || echo "$missing" | sed 's/^/# /'

# A client runs against the copy: read a disk qemu-img made.
pattern src.raw $((3 * 1048576 + 7 * 512)) 12
qemu-img convert -f raw -O vmdk src.raw src.vmdk
check "a VDDK client reads a disk through the copied lib64" \
  env -u LD_LIBRARY_PATH "$client" "$WORK/vddk" read src.vmdk out.raw
check "what it read is the disk" cmp -s src.raw out.raw
# nbdkit's whole call sequence, loading the copy by path.
if env -u LD_LIBRARY_PATH "$dlopen_test" "$WORK/vddk" > dl.tap 2>&1; then
  ok "nbdkit's vddk-plugin sequence against the copied lib64 ($(grep -c '^ok' dl.tap) checks)"
else
  grep -v '^ok' dl.tap | sed 's/^/# /'
  not_ok "nbdkit's vddk-plugin sequence against the copied lib64"
fi
done_testing
