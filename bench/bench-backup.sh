#!/bin/bash
# VM backup (issue 14's benchmark), side by side in one run, page cache warm:
#   - a full backup of a VM with one monolithicSparse disk of SIZE_MIB
#     (default 4096) holding half that in data (random 4 MiB runs between
#     holes), against `qemu-img convert -O vmdk` of the same disk, like
#     with like (target >= 1.5x each):
#       (a) `vdisk backup --full --no-sync` against plain qemu-img convert
#           (neither syncs: qemu-img's one fdatasync is of the empty new
#           image, before any data);
#       (b) `vdisk backup --full` (durable: every file fdatasync'ed, the
#           folders fsync'ed before the point appears) against qemu-img
#           convert followed by `sync OUTFILE` (fsync of the one file).
#     Each of RUNS (3) rounds times all four back to back (interleaved, so
#     load hits them alike), prints every run with its user+sys CPU, and
#     the ratios use the best of each.
#   - an incremental backup after 1% of the data changed (scattered 256 KiB
#     writes), against the (durable) full backup (target >= 20x faster) and
#     against qemu-img convert of the whole disk.
#   - restore of the newest of five points (a full and four incrementals)
#     into a new VM folder, against reading the raw disk with `cat`
#     (into /dev/null, and into a file of the same folder).
#   - peak RSS of changed block tracking on a 2 TiB disk (twoGbMaxExtentSparse):
#     64 scattered writes through `vdisk write` on a tracked disk, then `vdisk changes`
#     over the whole disk (target <= 64 MiB).
# The load average is printed before and after.  Reports; never asserts.
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

# timed LABEL CMD...: one run; sets $us, $rss (KiB) and $cpu (user+sys s)
timed() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o rss.txt "$@" > /dev/null 2>> stderr.txt || { echo "bench-backup: '$label' failed"; exit 1; }
  t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
  read -r rss u s < <(tail -n 1 rss.txt); cpu=$(python3 -c "print('%.2f' % ($u + $s))")
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

# the four full copies, interleaved, RUNS rounds; best of each
declare -A fbest bcpu brss
keep() {  # KEY: keep the run if it is the best so far
  if [ -z "${fbest[$1]:-}" ] || [ $us -lt ${fbest[$1]} ]; then
    fbest[$1]=$us; bcpu[$1]=$cpu; brss[$1]=$rss; fi
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq ${RUNS:-3}); do
  rm -rf repo; sync -f . 2>/dev/null
  timed "full --no-sync" "$vdisk" backup --full --no-sync vm repo
  keep nosync; a_us=$us a_cpu=$cpu
  rm -f q.vmdk; sync -f . 2>/dev/null
  timed "qemu" qemu-img convert -f vmdk -O vmdk vm/disk.vmdk q.vmdk
  keep qemu; b_us=$us b_cpu=$cpu
  rm -rf repo; sync -f . 2>/dev/null
  timed "full" "$vdisk" backup --full vm repo
  keep full; c_us=$us c_cpu=$cpu
  rm -f q.vmdk; sync -f . 2>/dev/null
  timed "qemu+sync" bash -c 'qemu-img convert -f vmdk -O vmdk vm/disk.vmdk q.vmdk && sync q.vmdk'
  keep qemusync; d_us=$us d_cpu=$cpu
  printf 'run %d: backup --no-sync %.3f s (cpu %s s) | qemu-img %.3f s (cpu %s s) | backup %.3f s (cpu %s s) | qemu-img+sync %.3f s (cpu %s s) | load %s\n' \
    "$i" "$(awk "BEGIN{print $a_us/1e6}")" "$a_cpu" "$(awk "BEGIN{print $b_us/1e6}")" "$b_cpu" \
    "$(awk "BEGIN{print $c_us/1e6}")" "$c_cpu" "$(awk "BEGIN{print $d_us/1e6}")" "$d_cpu" \
    "$(cut -d' ' -f1 /proc/loadavg)"
done
rm -f q.vmdk
row "vdisk backup --full --no-sync" "${fbest[nosync]}" "${brss[nosync]}"
row "qemu-img convert -O vmdk" "${fbest[qemu]}" "${brss[qemu]}"
row "vdisk backup --full" "${fbest[full]}" "${brss[full]}"
row "qemu-img convert + sync FILE" "${fbest[qemusync]}" "${brss[qemusync]}"
printf 'cpu\t%s\t%s\t%s\t%s\n' "${bcpu[nosync]}" "${bcpu[qemu]}" "${bcpu[full]}" "${bcpu[qemusync]}" > cpu
# repo holds one full point; three incrementals of 1% each (best), which
# with the full make four... and one more below makes five points
ibest=""
for i in 1 2 3; do
  change1 $i
  sleep 1   # one point per second keeps the names apart
  sync -f . 2>/dev/null   # as before each full run: no writeback of the
                          # changes (or of files deleted) lands in its sync
  timed "incr" "$vdisk" backup vm repo 2>/dev/null
  if [ -z "$ibest" ] || [ $us -lt $ibest ]; then ibest=$us; irss=$rss; fi
done
row "vdisk backup (1% changed)" "$ibest" "$irss"
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

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - rows "$tpeak" "$nchg" "$same" cpu <<'PY'
import sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[1])}
def s(k): return int(rows[k][0]) / 1e6
print("%-34s %9s %10s" % ("what", "seconds", "peak RSS"))
for k, (us, rss) in rows.items():
    print("%-34s %9.3f %7.1f MiB" % (k, int(us) / 1e6, int(rss) / 1024))
full, q = s("vdisk backup --full"), s("qemu-img convert -O vmdk")
ns, qs = s("vdisk backup --full --no-sync"), s("qemu-img convert + sync FILE")
cpu = open(sys.argv[5]).read().split()[1:]
print("CPU user+sys of the best runs: backup --no-sync %s s, qemu-img %s s, backup %s s, qemu-img+sync %s s" % tuple(cpu))
print("(a) full backup --no-sync vs qemu-img convert -O vmdk (neither syncs): %.2fx (target >= 1.5x: %s)" % (q / ns, "met" if q / ns >= 1.5 else "NOT met"))
print("(b) full backup (durable) vs qemu-img convert + sync FILE: %.2fx (target >= 1.5x: %s)" % (qs / full, "met" if qs / full >= 1.5 else "NOT met"))
inc = s("vdisk backup (1% changed)")
rk = [k for k in rows if k.startswith("vdisk restore")][0]
rest = s(rk)
print("incremental (1%%) vs full backup: %.1fx faster (target >= 20x: %s)" % (full / inc, "met" if full / inc >= 20 else "NOT met"))
print("incremental (1%%) vs qemu-img convert of the whole disk: %.1fx faster" % (q / inc))
print("restore of the newest point vs cat raw > /dev/null: %.2fx; vs cat raw > file: %.2fx" % (s("cat raw > /dev/null") / rest, s("cat raw > file") / rest))
tp = int(sys.argv[2]) / 1024
print("tracking a 2 TiB disk (64 writes, then changes: %s areas): peak RSS %.1f MiB (target <= 64 MiB: %s)" % (sys.argv[3], tp, "met" if tp <= 64 else "NOT met"))
print("restored disk identical to the VM's (cmp): %s" % sys.argv[4])
PY
