#!/bin/bash
# raw -> streamOptimized: vdisk convert vs qemu-img convert, same run, same
# input: a 2 GiB disk, half incompressible random data (4 MiB runs), half
# holes.  Prints the speed ratio (target >= 3x qemu-img), the output-size
# ratio (target <= 1.02x) and vdisk's peak RSS (target < 64 MiB).
#
#   VDISK_BUILD=build/release bench/bench-stream.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/${VDISK_BUILD:-build/release}
size_mib=${1:-2048}
for c in qemu-img python3 /usr/bin/time; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-stream: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-stream.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# The converter: the CLI, or (before the CLI has convert) the driver
# harness linked with the library objects.
vdisk=$build/bin/vdisk
if [ -x "$vdisk" ] && "$vdisk" convert --help 2>&1 | grep -qi type; then
  ours=("$vdisk" convert --type streamOptimized)
  what="vdisk convert"
else
  libs=$(pkg-config --libs libdeflate zlib libisal 2>/dev/null || echo "-ldeflate -lz -lisal")
  flags="-std=gnu11 -O2 -pthread -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I$top/include -I$top/lib"
  extra=""
  for l in -lnbd -lnettle -lclamav -lcurl -lxml2 -lssl -lcrypto; do
    echo 'int main(void){return 0;}' | cc -x c - $l -o "$dir/t" 2>/dev/null && extra="$extra $l"
  done
  cc $flags -o "$dir/h" "$top/tests/stream/stream-harness.c" "$build/lib/libvdisk.a" $libs $extra ||
    { echo "bench-stream: cannot build the harness"; exit 1; }
  ours=("$dir/h" convert)
  what="stream-harness convert (CLI not available)"
fi

echo "bench-stream: making a ${size_mib} MiB raw disk, half random, half holes"
python3 - "$dir/in.raw" "$size_mib" <<'EOF'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
chunk = 4 << 20
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range(0, (mib << 20) // (2 * chunk)):
        f.seek(i * 2 * chunk)
        f.write(os.urandom(chunk))
EOF
cat "$dir/in.raw" > /dev/null      # both runs start from the page cache

measure() {   # measure LABEL CMD...: sets secs and rss_kb
  /usr/bin/time -f "%e %M" -o "$dir/time" "${@:2}" || { echo "bench-stream: $1 failed"; exit 1; }
  read -r secs rss_kb < "$dir/time"
}

measure ours "${ours[@]}" "$dir/in.raw" "$dir/ours.vmdk"
t_ours=$secs rss_ours=$rss_kb
measure qemu qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$dir/in.raw" "$dir/qemu.vmdk"
t_qemu=$secs rss_qemu=$rss_kb
s_ours=$(stat -c %s "$dir/ours.vmdk")
s_qemu=$(stat -c %s "$dir/qemu.vmdk")

python3 - "$what" "$size_mib" "$t_ours" "$t_qemu" "$s_ours" "$s_qemu" "$rss_ours" "$rss_qemu" <<'EOF'
import sys
what, mib = sys.argv[1], int(sys.argv[2])
t_o, t_q = float(sys.argv[3]), float(sys.argv[4])
s_o, s_q, r_o, r_q = map(int, sys.argv[5:9])
t_o = max(t_o, 0.01)
speed = t_q / t_o
size = s_o / s_q
data = mib / 2
print(f"converter:       {what}")
print(f"vdisk:           {t_o:7.2f} s  ({data / t_o:7.1f} MiB/s of data)  {s_o} bytes  peak RSS {r_o / 1024:.1f} MiB")
print(f"qemu-img:        {t_q:7.2f} s  ({data / t_q:7.1f} MiB/s of data)  {s_q} bytes  peak RSS {r_q / 1024:.1f} MiB")
print(f"speed ratio:     {speed:.1f}x qemu-img   (target >= 3x)   {'PASS' if speed >= 3 else 'FAIL'}")
print(f"size ratio:      {size:.4f}            (target <= 1.02) {'PASS' if size <= 1.02 else 'FAIL'}")
print(f"peak RSS:        {r_o / 1024:.1f} MiB         (target < 64)    {'PASS' if r_o < 64 * 1024 else 'FAIL'}")
sys.exit(0 if speed >= 3 and size <= 1.02 and r_o < 64 * 1024 else 1)
EOF
