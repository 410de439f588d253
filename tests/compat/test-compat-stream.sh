#!/bin/bash
# VixDiskLib_Create with VIXDISKLIB_DISK_STREAM_OPTIMIZED, then sequential
# writes (what backup tools do when they restore into that type): qemu-img,
# 7-Zip and vmdkinfo read back exactly the data written; a write behind
# the stream's end is a clear error.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
b="$VDISK_TOP/$VDISK_BUILD"
client="$b/tests/vix-client"
libdir="$b/compat"
[ -x "$client" ] || { echo "# skip: build the tests first"; exit 77; }
cd "$WORK"

# Data with holes, zero grains and a size that is not whole grains.
python3 - data.raw <<'PY'
import random, sys
r = random.Random(21)
size = (9 << 20) + 3 * 4096 + 512
d = bytearray(size)
for off in range(0, size, 1 << 20):
    n = min(r.randrange(1, 400000), size - off)
    d[off:off + n] = r.randbytes(n)
d[size - 700:] = r.randbytes(700)
open(sys.argv[1], "wb").write(d)
PY

n=0
for mode in "8" "1" "129" "2048" "2048 async" "4096 async"; do
  n=$((n + 1))
  disk="s$n.vmdk"
  # shellcheck disable=SC2086
  if "$client" "$libdir" stream "$disk" data.raw $mode 2> err.txt; then
    ok "Create streamOptimized + writes of $mode sectors"
  else
    sed 's/^/# /' err.txt; not_ok "Create streamOptimized + writes of $mode sectors"
    continue
  fi
  check "qemu-img compare: $mode-sector writes read back identically" \
    qemu-img compare -q -f vmdk -F raw "$disk" data.raw
  check "qemu-img check ($mode)" qemu-img check -q "$disk"
  check "qemu-img sees a streamOptimized disk ($mode)" \
    bash -c "qemu-img info '$disk' | grep -q 'create type: streamOptimized'"
done
check "vdisk check of the stream" "$VDISK" check s4.vmdk
if command -v 7z >/dev/null; then
  rm -rf x && mkdir x
  if 7z x -ox s4.vmdk > 7z.log 2>&1; then
    out=$(ls x | head -1)
    check "7-Zip extracts the stream identically" cmp -s "x/$out" data.raw
  else
    sed 's/^/# /' 7z.log; not_ok "7-Zip extracts the stream identically"
  fi
else
  echo "# 7z not installed"
fi
if /usr/bin/python3 -c 'import pyvmdk' 2>/dev/null; then
  /usr/bin/python3 - s5.vmdk > libvmdk.raw <<'PY'
import pyvmdk, sys
h = pyvmdk.handle()
h.open(sys.argv[1])
h.open_extent_data_files()
sys.stdout.buffer.write(h.read_buffer(h.get_media_size()))
PY
  check "libvmdk (vmdkinfo's library) reads the stream identically" \
    cmp -s libvmdk.raw data.raw
fi
if command -v vmdkinfo >/dev/null; then
  check "vmdkinfo reads it as stream optimized" \
    bash -c "vmdkinfo s5.vmdk | grep -qi 'stream optimized'"
fi

# One Write of the whole disk; and a stream of zeros only (no grain).
check "Create streamOptimized + one Write of the whole disk" \
  "$client" "$libdir" stream one.vmdk data.raw 100000000
check "qemu-img compare: one big write" \
  qemu-img compare -q -f vmdk -F raw one.vmdk data.raw
python3 -c "open('small.raw','wb').write(bytes(1 << 20))"
check "a stream of zeros made and closed" "$client" "$libdir" stream e2.vmdk small.raw 64
check "qemu-img reads it as zeros" \
  qemu-img compare -q -f vmdk -F raw e2.vmdk small.raw

# A write behind the end of the stream.
if "$client" "$libdir" stream-behind behind.vmdk > behind.txt 2>&1; then
  ok "a write behind the stream's end fails clearly: $(cat behind.txt)"
else
  sed 's/^/# /' behind.txt; not_ok "a write behind the stream's end fails clearly"
fi
check "the stream is still whole after the refused write" qemu-img check -q behind.vmdk
done_testing
