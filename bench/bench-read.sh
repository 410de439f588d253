#!/bin/bash
# Sequential read of a 2 GiB monolithicSparse disk, half allocated with
# incompressible data (4 MiB runs of random bytes between 4 MiB holes),
# page cache warm, best of 3, all measured side by side in this run:
#
#   vdisk cat DISK > /dev/null            what we measure
#   qemu-img bench -c N -s 1M -S 1M -d 1  QEMU's block layer reading the
#                                          same disk sequentially into a
#                                          buffer and discarding it: the
#                                          fairest qemu read path (no output
#                                          cost at all, like /dev/null)
#   qemu-img convert -O raw DISK tmpfs    what a qemu user runs to read a disk
#                                          (pays for writing into tmpfs)
#   cat RAW > /dev/null                   the page-cache ceiling: the same
#                                          bytes from a plain file
#
# Targets: vdisk >= 2x qemu-img (bench), >= 0.8x the ceiling; peak RSS of
# vdisk < 64 MiB.  Nothing is asserted.
#
#   VDISK_BUILD=build/release bench/bench-read.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
size_mib=${1:-2048}
[ -x "$vdisk" ] || { echo "bench-read: $vdisk not built, skipped"; exit 77; }
for c in qemu-img python3 /usr/bin/time; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-read: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-read.XXXXXX")
shm=$dir; [ -d /dev/shm ] && [ -w /dev/shm ] && shm=$(mktemp -d /dev/shm/vdisk-bench-read.XXXXXX)
trap 'rm -rf "$dir" "$shm"' EXIT

# run_best LABEL CMD...: best of 3 (stdout to /dev/null); appends
# "LABEL<TAB>microseconds<TAB>peak RSS KiB of the best run" to rows
run_best() {
  local label=$1; shift
  local b="" r="" i t0 t1 us
  for i in 1 2 3; do
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$dir/rss" "$@" > /dev/null || { echo "bench-read: '$label' failed"; return 1; }
    t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
    if [ -z "$b" ] || [ $us -lt $b ]; then b=$us; r=$(tail -n 1 "$dir/rss"); fi
  done
  printf '%s\t%s\t%s\n' "$label" "$b" "$r" >> "$dir/rows"
}

echo "bench-read: making a ${size_mib} MiB disk, half random (4 MiB runs), half holes"
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
# the disk is written by the peer, so the layout favours neither reader
qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$dir/in.raw" "$dir/d.vmdk"
cat "$dir/in.raw" "$dir/d.vmdk" > /dev/null          # warm the page cache
bytes=$((size_mib << 20))

if "$vdisk" cat "$dir/d.vmdk" | cmp -s - "$dir/in.raw"; then same=yes; else same="NO (vdisk cat differs from the raw!)"; fi

: > "$dir/rows"
run_best "vdisk cat > /dev/null" "$vdisk" cat "$dir/d.vmdk"
run_best "qemu-img bench (1 MiB seq reads)" qemu-img bench -q -f vmdk -t writeback -d 1 -c $((size_mib)) -s 1M -S 1M "$dir/d.vmdk"
run_best "qemu-img convert -O raw to tmpfs" qemu-img convert -f vmdk -O raw "$dir/d.vmdk" "$shm/q.raw"
rm -f "$shm/q.raw"
run_best "cat raw > /dev/null (ceiling)" cat "$dir/in.raw"

python3 - "$dir/rows" "$bytes" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2])
t = {r[0]: int(r[1]) / 1e6 for r in rows}
ours = t["vdisk cat > /dev/null"]
print("%-36s %9s %10s %12s %10s" % ("reader", "seconds", "MB/s", "vdisk is x", "peak RSS"))
for label, us, rss in rows:
    s = int(us) / 1e6
    ratio = "-" if label.startswith("vdisk") else "%.2fx" % (s / ours)
    print("%-36s %9.3f %10.0f %12s %7.1f MiB" % (label, s, n / s / 1e6, ratio, int(rss) / 1024))
bench = t["qemu-img bench (1 MiB seq reads)"]
ceil = t["cat raw > /dev/null (ceiling)"]
rss = int(rows[0][2]) / 1024
print("vdisk vs qemu-img bench: %.2fx (target >= 2x: %s)" % (bench / ours, "met" if bench / ours >= 2 else "NOT met"))
print("vdisk vs page-cache ceiling: %.2fx (target >= 0.8x: %s)" % (ceil / ours, "met" if ceil / ours >= 0.8 else "NOT met"))
print("vdisk peak RSS: %.1f MiB (target < 64 MiB: %s)" % (rss, "met" if rss < 64 else "NOT met"))
PY
echo "content: vdisk cat == the raw image: $same"
