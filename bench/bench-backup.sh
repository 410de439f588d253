#!/bin/bash
# VM backup (issue 14's benchmark), side by side in one run, page cache warm:
#   - a full backup (`vdisk backup --full`) of a VM with one monolithicSparse
#     disk of SIZE_MIB (default 4096) holding half that in data (random
#     4 MiB runs between holes), against `qemu-img convert -O vmdk` of the
#     same disk (default cache=unsafe: never synced; vdisk's point is made
#     durable before it appears).  Target: >= 1.5x qemu-img.
#   - an incremental backup after 1% of the data changed (scattered 256 KiB
#     writes), against the full backup (target >= 20x faster) and against
#     qemu-img convert of the whole disk.
#   - restore of the newest of five points (a full and four incrementals)
#     into a new VM folder, against reading the raw disk with `cat`
#     (into /dev/null, and into a file of the same folder).
#   - peak RSS of changed block tracking on a 2 TiB disk (twoGbMaxExtentSparse):
#     64 scattered writes through `vdisk write` on a tracked disk, then `vdisk changes`
#     over the whole disk (target <= 64 MiB).
# Best of $RUNS (3) for the full backup and the converter; the incremental
# is timed over three fresh 1% changes (best).  Reports; never asserts.
#
#   VDISK_BUILD=build/release bench/bench-backup.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
size_mib=${1:-4096}
[ -x "$vdisk" ] || { echo "bench-backup: $vdisk not built, skipped"; exit 77; }
for c in qemu-img python3 /usr/bin/time; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-backup: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-backup.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
: > rows

# timed LABEL CMD...: one run; sets $us and $rss (KiB)
timed() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f %M -o rss.txt "$@" > /dev/null || { echo "bench-backup: '$label' failed"; exit 1; }
  t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 )); rss=$(tail -n 1 rss.txt)
}
# row LABEL US RSS
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> rows; }

echo "bench-backup: a VM with a ${size_mib} MiB monolithicSparse disk, half of it random data (4 MiB runs), half holes"
python3 - in.raw "$size_mib" <<'PY'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
chunk = 4 << 20
with open(path, "wb") as f:
    f.truncate(mib << 20)
    for i in range((mib << 20) // (2 * chunk)):
        f.seek(i * 2 * chunk)
        f.write(os.urandom(chunk))
PY
mkdir vm
"$vdisk" convert --type monolithicSparse -f raw in.raw vm/disk.vmdk || exit 1
rm -f in.raw
cat > vm/bench.vmx <<'X'
.encoding = "UTF-8"
displayName = "bench"
nvram = "bench.nvram"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "disk.vmdk"
X
head -c 8684 /dev/urandom > vm/bench.nvram
# tracking on before the timings (the first backup would turn it on)
"$vdisk" cbt enable vm/disk.vmdk > /dev/null || exit 1
cat vm/disk.vmdk > /dev/null

# change1 SEED: 1% of the data rewritten in scattered 256 KiB writes
change1() {
  python3 - "$1" "$size_mib" <<'PY' > writes.txt
import random, sys
r = random.Random(int(sys.argv[1])); mib = int(sys.argv[2])
chunk = 4 << 20; runs = (mib << 20) // (2 * chunk)
n = max(1, (mib << 20) // 2 // 100 // (256 << 10))
for _ in range(n):
    run = r.randrange(runs)
    print(run * 2 * chunk + r.randrange(16) * (256 << 10))
PY
  head -c $((256 << 10)) /dev/urandom > w.bin
  while read -r off; do
    "$vdisk" write --offset "$off" --file w.bin vm/disk.vmdk || exit 1
  done < writes.txt
}

best=""
for i in $(seq ${RUNS:-3}); do
  rm -rf repo; sync -f . 2>/dev/null
  timed "full" "$vdisk" backup --full vm repo 2>/dev/null
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; brss=$rss; fi
done
row "vdisk backup --full" "$best" "$brss"
best=""
for i in $(seq ${RUNS:-3}); do
  rm -f q.vmdk; sync -f . 2>/dev/null
  timed "qemu" qemu-img convert -f vmdk -O vmdk vm/disk.vmdk q.vmdk
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; qrss=$rss; fi
done
rm -f q.vmdk
row "qemu-img convert -O vmdk" "$best" "$qrss"
# qemu-img's default never syncs its output (cache=unsafe); vdisk's point is
# synced before it appears: -t writeback (flushed at the end) is the
# durable peer (one run: slow)
sync -f . 2>/dev/null
timed "qemu-wb" qemu-img convert -t writeback -f vmdk -O vmdk vm/disk.vmdk q.vmdk
rm -f q.vmdk
row "qemu-img convert -t writeback (1 run)" "$us" "$rss"
# repo holds one full point; three incrementals of 1% each (best), which
# with the full make four... and one more below makes five points
best=""
for i in 1 2 3; do
  change1 $i
  sleep 1   # one point per second keeps the names apart
  timed "incr" "$vdisk" backup vm repo 2>/dev/null
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; irss=$rss; fi
done
row "vdisk backup (1% changed)" "$best" "$irss"
change1 9; sleep 1
"$vdisk" backup vm repo > /dev/null 2>&1 || exit 1
npoints=$("$vdisk" backup list repo | grep -c '^2')
"$vdisk" cat vm/disk.vmdk > disk.raw
cat disk.raw > /dev/null
best=""
for i in $(seq ${RUNS:-3}); do
  rm -rf rest; sync -f . 2>/dev/null
  timed "restore" "$vdisk" restore repo rest 2>/dev/null
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; rrss=$rss; fi
done
if "$vdisk" cat rest/disk.vmdk | cmp -s - disk.raw; then same=yes; else same=NO; fi
row "vdisk restore (newest of $npoints)" "$best" "$rrss"
best=""
for i in $(seq ${RUNS:-3}); do
  timed "cat" cat disk.raw
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; fi
done
row "cat raw > /dev/null" "$best" 0
best=""
for i in $(seq ${RUNS:-3}); do
  rm -f copy.raw; sync -f . 2>/dev/null
  t0=$(date +%s%N); cat disk.raw > copy.raw; t1=$(date +%s%N)
  us=$(( (t1 - t0) / 1000 ))
  if [ -z "$best" ] || [ $us -lt $best ]; then best=$us; fi
done
rm -f copy.raw
row "cat raw > file" "$best" 0
rm -rf rest repo disk.raw

# 2 TiB tracked disk: writes scattered over it, then the changes listed
"$vdisk" create --type twoGbMaxExtentSparse --size 2T big.vmdk > /dev/null && "$vdisk" cbt enable big.vmdk > /dev/null || exit 1
id=$("$vdisk" cbt status --json big.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)["change_id"])')
python3 - > bigwrites.txt <<'PY'
import random
r = random.Random(7)
for _ in range(64):
    print(r.randrange(0, (2 << 40) - (64 << 10)) // 512 * 512)
PY
head -c 65536 /dev/urandom > w64.bin
tpeak=0
while read -r off; do
  /usr/bin/time -f %M -o rss.txt "$vdisk" write --offset "$off" --file w64.bin big.vmdk || exit 1
  r=$(tail -n 1 rss.txt); [ "$r" -gt "$tpeak" ] && tpeak=$r
done < bigwrites.txt
timed "changes" "$vdisk" changes --since "$id" big.vmdk
[ "$rss" -gt "$tpeak" ] && tpeak=$rss
nchg=$("$vdisk" changes --since "$id" big.vmdk | wc -l)

python3 - rows "$tpeak" "$nchg" "$same" <<'PY'
import sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[1])}
def s(k): return int(rows[k][0]) / 1e6
print("%-34s %9s %10s" % ("what", "seconds", "peak RSS"))
for k, (us, rss) in rows.items():
    print("%-34s %9.3f %7.1f MiB" % (k, int(us) / 1e6, int(rss) / 1024))
full, q = s("vdisk backup --full"), s("qemu-img convert -O vmdk")
inc = s("vdisk backup (1% changed)")
rk = [k for k in rows if k.startswith("vdisk restore")][0]
rest = s(rk)
print("full backup vs qemu-img convert -O vmdk: %.2fx (target >= 1.5x: %s)" % (q / full, "met" if q / full >= 1.5 else "NOT met"))
qw = s("qemu-img convert -t writeback (1 run)")
print("full backup (synced) vs qemu-img convert -t writeback (synced): %.2fx" % (qw / full))
print("incremental (1%%) vs full backup: %.1fx faster (target >= 20x: %s)" % (full / inc, "met" if full / inc >= 20 else "NOT met"))
print("incremental (1%%) vs qemu-img convert of the whole disk: %.1fx faster" % (q / inc))
print("restore of the newest point vs cat raw > /dev/null: %.2fx; vs cat raw > file: %.2fx" % (s("cat raw > /dev/null") / rest, s("cat raw > file") / rest))
tp = int(sys.argv[2]) / 1024
print("tracking a 2 TiB disk (64 writes, then changes: %s areas): peak RSS %.1f MiB (target <= 64 MiB: %s)" % (sys.argv[3], tp, "met" if tp <= 64 else "NOT met"))
print("restored disk identical to the VM's (cmp): %s" % sys.argv[4])
PY
