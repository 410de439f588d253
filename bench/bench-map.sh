#!/bin/bash
# `vdisk map` of a 100 GiB monolithicSparse disk holding 2 GiB of data in
# 8192 runs of 256 KiB scattered at random (seeded) offsets, against
# `qemu-img map` on the same disk, best of 3, side by side in this run.  The
# disk is written by qemu-io (about 2 GiB on the file system).  Both tools'
# data ranges are compared (reported, not asserted).  vdisk peak RSS target:
# < 64 MiB.
#
#   VDISK_BUILD=build/release bench/bench-map.sh [SIZE_GIB] [RUNS]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
size_gib=${1:-100}
nruns=${2:-8192}
[ -x "$vdisk" ] || { echo "bench-map: $vdisk not built, skipped"; exit 77; }
for c in qemu-img qemu-io python3 /usr/bin/time; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-map: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-map.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# run_best LABEL OUT CMD...: best of 3, stdout kept in OUT; appends LABEL,
# microseconds, peak RSS KiB
run_best() {
  local label=$1 out=$2; shift 2
  local b="" r="" i t0 t1 us
  for i in 1 2 3; do
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$dir/rss" "$@" > "$out" || { echo "bench-map: '$label' failed"; return 1; }
    t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
    if [ -z "$b" ] || [ $us -lt $b ]; then b=$us; r=$(tail -n 1 "$dir/rss"); fi
  done
  printf '%s\t%s\t%s\t%s\n' "$label" "$b" "$r" "$(wc -l < "$out")" >> "$dir/rows"
}

echo "bench-map: making a ${size_gib} GiB disk with $nruns runs of 256 KiB at random offsets"
qemu-img create -q -f vmdk -o subformat=monolithicSparse "$dir/d.vmdk" ${size_gib}G
python3 - "$size_gib" "$nruns" > "$dir/cmds" <<'PY'
import random, sys
gib, n = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(1)
run = 256 << 10
slots = sorted(r.sample(range((gib << 30) // run), n))
for s in slots:
    print("write -P 0x%02x %d %d" % (1 + s % 255, s * run, run))
PY
# one qemu-io process reading its commands from stdin; cache=unsafe spares
# the flush after every grain allocation
qemu-io -t unsafe -f vmdk "$dir/d.vmdk" < "$dir/cmds" > /dev/null ||
  { echo "bench-map: qemu-io failed"; exit 1; }
echo "bench-map: disk file $(du -h "$dir/d.vmdk" | cut -f1)"
cat "$dir/d.vmdk" > /dev/null

: > "$dir/rows"
run_best "vdisk map" "$dir/v.txt" "$vdisk" map "$dir/d.vmdk"
run_best "vdisk map --json" "$dir/v.json" "$vdisk" map --json "$dir/d.vmdk"
run_best "qemu-img map" "$dir/q.txt" qemu-img map -f vmdk "$dir/d.vmdk"
run_best "qemu-img map --output=json" "$dir/q.json" qemu-img map -f vmdk --output=json "$dir/d.vmdk"

python3 - "$dir/rows" "$size_gib" "$dir/v.json" "$dir/q.json" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
gib = int(sys.argv[2])
t = {r[0]: int(r[1]) / 1e6 for r in rows}
print("%-28s %9s %14s %12s %10s %8s" % ("mapper", "seconds", "GiB mapped/s", "vdisk is x", "peak RSS", "lines"))
for label, us, rss, lines in rows:
    s = int(us) / 1e6
    if label.startswith("vdisk"):
        ratio = "-"
    else:
        mine = t["vdisk map --json"] if "json" in label else t["vdisk map"]
        ratio = "%.2fx" % (s / mine)
    print("%-28s %9.3f %14.0f %12s %7.1f MiB %8s" % (label, s, gib / s, ratio, int(rss) / 1024, lines))
def ranges(p):
    out = []
    for e in json.load(open(p)):
        if e.get("data"):
            a, l = int(e["start"]), int(e["length"])
            if out and out[-1][1] == a: out[-1][1] = a + l
            else: out.append([a, a + l])
    return out
same = ranges(sys.argv[3]) == ranges(sys.argv[4])
rss = max(int(r[2]) for r in rows if r[0].startswith("vdisk")) / 1024
print("vdisk peak RSS: %.1f MiB (target < 64 MiB: %s)" % (rss, "met" if rss < 64 else "NOT met"))
print("content: vdisk's and qemu-img's data ranges identical: %s (%d ranges)" % ("yes" if same else "NO", len(ranges(sys.argv[4]))))
PY
