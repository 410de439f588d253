#!/bin/bash
# libvmdk (libyal, through python3-libvmdk) reads every layout vdisk
# writes byte for byte, including streamOptimized, with data at unaligned
# offsets and a partial last grain.
source "$(dirname "$0")/../functions.sh"
requires python3
/usr/bin/python3 -c 'import pyvmdk' 2>/dev/null || { echo "# skip: python3-libvmdk missing"; exit 77; }
cd "$WORK"
python3 - <<'PY'
import random
r = random.Random(5)
d = bytearray(9 * 1024 * 1024 + 512 * 3)          # not a whole grain
for off, n in ((0, 700), (65536 - 100, 300), (1000001, 2000000), (len(d) - 999, 999)):
    d[off:off + n] = r.randbytes(n)
open("ref.raw", "wb").write(d)
PY
for t in monolithicSparse twoGbMaxExtentSparse monolithicFlat twoGbMaxExtentFlat vmfs vmfsThin streamOptimized; do
  mkdir -p $t
  "$VDISK" convert -f raw --type $t ref.raw $t/d.vmdk
  /usr/bin/python3 - $t/d.vmdk <<'PY' > $t/out.raw
import pyvmdk, sys
h = pyvmdk.handle()
h.open(sys.argv[1])
h.open_extent_data_files()
sys.stdout.buffer.write(h.read_buffer(h.get_media_size()))
PY
  check "libvmdk reads vdisk's $t identically" cmp -s $t/out.raw ref.raw
done
done_testing
