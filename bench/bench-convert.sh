#!/bin/bash
# raw -> monolithicSparse: `vdisk convert` vs `qemu-img convert -O vmdk`
# (whose default subformat is monolithicSparse), same input, same output
# folder, page cache warm, best of 3, side by side in this run.  The input is
# a 2 GiB raw image, half incompressible random data in 4 MiB runs, half
# holes.  qemu-img is timed twice: as run by default (its output is written
# with cache=unsafe and never synced) and with -t writeback (flushed at the
# end, closer to vdisk, which makes its output durable).  Target: vdisk >= 1.5x qemu-img; vdisk peak RSS < 64 MiB.  The two
# outputs are compared with qemu-img compare (reported, not asserted).
#
#   VDISK_BUILD=build/release bench/bench-convert.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
size_mib=${1:-2048}
[ -x "$vdisk" ] || { echo "bench-convert: $vdisk not built, skipped"; exit 77; }
for c in qemu-img python3 /usr/bin/time; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-convert: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-convert.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# run_best LABEL CMD...: best of $RUNS (3); appends LABEL, microseconds, peak RSS KiB
run_best() {
  local label=$1; shift
  local b="" r="" i t0 t1 us
  for i in $(seq ${RUNS:-3}); do
    rm -f "$dir/out.vmdk"; sync -f "$dir" 2>/dev/null
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$dir/rss" "$@" > /dev/null || { echo "bench-convert: '$label' failed"; return 1; }
    t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
    if [ -z "$b" ] || [ $us -lt $b ]; then b=$us; r=$(tail -n 1 "$dir/rss"); fi
  done
  printf '%s\t%s\t%s\t%s\n' "$label" "$b" "$r" "$(stat -c %s "$dir/out.vmdk")" >> "$dir/rows"
}

echo "bench-convert: making a ${size_mib} MiB raw image, half random (4 MiB runs), half holes"
python3 - "$dir/in.raw" "$size_mib" <<'PY'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
chunk = 4 << 20
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range((mib << 20) // (2 * chunk)):
        f.seek(i * 2 * chunk)
        f.write(os.urandom(chunk))
PY
cat "$dir/in.raw" > /dev/null
bytes=$((size_mib << 20))

: > "$dir/rows"
run_best "vdisk convert" "$vdisk" convert --type monolithicSparse -f raw "$dir/in.raw" "$dir/out.vmdk"
mv "$dir/out.vmdk" "$dir/ours.vmdk"
run_best "qemu-img convert -O vmdk" qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$dir/in.raw" "$dir/out.vmdk"
# qemu-img convert writes its output with cache=unsafe (never syncs); with
# -t writeback it flushes at the end, as vdisk makes its output durable
# (slow: one run only)
RUNS=1 run_best "qemu-img convert -t writeback (1 run)" qemu-img convert -t writeback -f raw -O vmdk -o subformat=monolithicSparse "$dir/in.raw" "$dir/out.vmdk"
if qemu-img compare -q -f vmdk -F vmdk "$dir/ours.vmdk" "$dir/out.vmdk"; then same=yes; else same="NO"; fi

python3 - "$dir/rows" "$bytes" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2])
ours = int(rows[0][1]) / 1e6
print("%-28s %9s %10s %12s %10s %14s" % ("converter", "seconds", "MB/s", "vdisk is x", "peak RSS", "output bytes"))
for label, us, rss, size in rows:
    s = int(us) / 1e6
    ratio = "-" if label.startswith("vdisk") else "%.2fx" % (s / ours)
    print("%-28s %9.3f %10.0f %12s %7.1f MiB %14s" % (label, s, n / s / 1e6, ratio, int(rss) / 1024, size))
q = int(rows[1][1]) / 1e6
rss = int(rows[0][2]) / 1024
qw = int(rows[2][1]) / 1e6
print("vdisk vs qemu-img (default, no sync): %.2fx (target >= 1.5x: %s)" % (q / ours, "met" if q / ours >= 1.5 else "NOT met"))
print("vdisk vs qemu-img -t writeback (synced): %.2fx" % (qw / ours))
print("vdisk peak RSS: %.1f MiB (target < 64 MiB: %s)" % (rss, "met" if rss < 64 else "NOT met"))
PY
echo "content: vdisk's and qemu-img's outputs identical (qemu-img compare): $same"
