#!/bin/bash
# Serve disks through nbdkit's own vddk plugin with our libvixDiskLib as
# its "VDDK" (libdir=...), and read/write them with nbdcopy and qemu-img.
# Skipped when the vddk plugin is not installed (Debian does not ship it).
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdcopy qemu-img python3
if ! nbdkit vddk --dump-plugin >/dev/null 2>&1; then
  echo "# skip: nbdkit's vddk plugin is not installed"
  exit 77
fi
# nbdkit is not built with ASan: use an uninstrumented copy of the library.
libdir=""
for b in "$VDISK_BUILD" "${VDISK_RELEASE:-}"; do
  [ -n "$b" ] || continue
  so="$VDISK_TOP/$b/compat/lib64/libvixDiskLib.so.8"
  [ -e "$so" ] || continue
  if ldd "$so" 2>/dev/null | grep -q libasan; then continue; fi
  libdir="$VDISK_TOP/$b/compat"; break
done
[ -n "$libdir" ] || { echo "# skip: no uninstrumented libvixDiskLib.so.8"; exit 77; }
cd "$WORK"

python3 - src.raw <<'PY'
import random, sys
r = random.Random(11)
d = bytearray(16 << 20)
for off in range(0, len(d), 1 << 20):
    n = r.randrange(1, 200000)
    d[off:off+n] = r.randbytes(n)
open(sys.argv[1], "wb").write(d)
PY
qemu-img convert -f raw -O vmdk src.raw src.vmdk

# Read: nbdkit vddk -> nbdcopy, and -> qemu-img convert.
check "nbdkit vddk + nbdcopy reads the disk" \
  nbdkit -U - vddk libdir="$libdir" file="$WORK/src.vmdk" --run 'nbdcopy "$uri" out1.raw'
check "nbdcopy copy equals the source" cmp -s src.raw out1.raw
check "nbdkit vddk + qemu-img convert reads the disk" \
  nbdkit -U - -r vddk libdir="$libdir" file="$WORK/src.vmdk" \
    --run 'qemu-img convert -f raw "$uri" -O raw out2.raw'
check "qemu-img copy equals the source" cmp -s src.raw out2.raw
check "extents through QueryAllocatedBlocks" \
  nbdkit -U - -r vddk libdir="$libdir" file="$WORK/src.vmdk" \
    --run 'nbdinfo --map "$uri" > map.txt'
check "the map shows data and holes" bash -c "grep -q data map.txt && grep -q hole map.txt"

# Write: create=true makes the disk through VixDiskLib_Create.
check "nbdkit vddk create=true + nbdcopy writes a new disk" \
  nbdkit -U - vddk libdir="$libdir" file="$WORK/new.vmdk" create=true \
    create-size=16M --run 'nbdcopy src.raw "$uri"'
qemu-img convert -O raw new.vmdk new.raw
check "qemu-img reads what nbdkit wrote" cmp -s src.raw new.raw
check "qemu-img check of the written disk" qemu-img check -q new.vmdk
done_testing
