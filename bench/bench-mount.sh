#!/bin/bash
# Sequential read of a 1 GiB file from an ext4 volume inside a
# monolithicSparse disk (made by qemu-img, so the layout favours neither
# reader), all measured side by side in this run, best of 3, each run on
# a fresh mount (cold FUSE caches; the disk file itself warm in the page
# cache), the readers interleaved round by round, best of 5:
#
#   vdisk mount --volume 1 DISK MNT      what we measure: vdisk's FUSE
#                                         partition file + fuse2fs
#   qemu-nbd + nbdfuse + fuse2fs         the usual user-space peer: qemu-nbd
#                                         exports DISK on a unix socket,
#                                         nbdfuse makes it a file, fuse2fs
#                                         -o offset= mounts the volume
#   cat SRC/big.bin                       the ceiling: the same bytes from
#                                         the source folder (page cache)
#   fuse2fs -o offset= on the raw image   fuse2fs on a plain file in the
#                                         page cache (no vdisk, no NBD): the
#                                         driver's own cost.  fuse2fs
#                                         (libfuse2, one lock, a block at a
#                                         time: a bmap and a crc32c of the
#                                         extent leaf per 4 KiB block) spends
#                                         ~2 CPU s per GiB by itself, which
#                                         bounds every fuse2fs path's cold
#                                         read far below the page-cache
#                                         ceiling (~0.2 s per GiB)
#
# Each FUSE reader is read twice per mount: "cold" (the first read of a
# fresh mount: nothing of the volume in the page cache, the files it reads
# from warm) and "warm" (the same file again: every path keeps the page
# cache, fuse2fs with kernel_cache) -- the ceiling is a warm read, so the
# warm rows compare like with like.  BENCH_EVICT=1 makes the cold reads
# colder, for every side alike: before each, the files the reader stands
# on (d.vmdk, d.raw, SRC/big.bin for the ceiling) leave the page cache
# (posix_fadvise DONTNEED; /proc/sys/vm/drop_caches needs the host's root).
# The CPU seconds of the serving processes (vdisk's server and its
# fuse2fs; nbdfuse, its fuse2fs and qemu-nbd; fuse2fs alone) are printed
# for the cold reads: on a shared machine they tell where the time goes
# when the wall clock is noise.
#
# Targets: vdisk >= 1x the nbdfuse path, >= 0.5x the ceiling.  Nothing is
# asserted.
#
#   VDISK_BUILD=build/release [BENCH_ROUNDS=5] [BENCH_EVICT=1] \
#     bench/bench-mount.sh [FILE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
mib=${1:-1024}
[ -x "$vdisk" ] || { echo "bench-mount: $vdisk not built, skipped"; exit 77; }
for c in qemu-img qemu-nbd nbdfuse fuse2fs fusermount3 mke2fs sfdisk python3; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-mount: $c missing, skipped"; exit 77; }
done
[ -c /dev/fuse ] || { echo "bench-mount: no /dev/fuse, skipped"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-mount.XXXXXX")
qpid=""
cleanup() {
  for m in "$dir/mnt" "$dir/nbd"; do
    grep -qF " $m " /proc/self/mountinfo && fusermount3 -u -z "$m"
  done
  grep -o "$dir/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r m; do fusermount3 -u -z "$m"; done
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
export TMPDIR=$dir
mkdir -p "$dir/src" "$dir/mnt" "$dir/nbd"

echo "bench-mount: making a ${mib} MiB file in an ext4 volume of a monolithicSparse disk"
head -c $((mib << 20)) /dev/urandom > "$dir/src/big.bin"
psect=$(( (mib + mib / 8 + 64) * 2048 ))
truncate -s $(( (psect + 4096) * 512 )) "$dir/d.raw"
printf 'label: gpt\nstart=2048, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' $psect \
  | sfdisk -q "$dir/d.raw"
mke2fs -q -F -t ext4 -E offset=1048576 -d "$dir/src" "$dir/d.raw" $((psect / 2))k
qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$dir/d.raw" "$dir/d.vmdk"
cat "$dir/d.vmdk" "$dir/src/big.bin" > /dev/null     # warm the page cache
bytes=$((mib << 20))

# time_read FILE: microseconds to read FILE into /dev/null
time_read() {
  local t0 t1
  t0=$(date +%s%N)
  dd if="$1" of=/dev/null bs=1M status=none || return 1
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}
# evict FILE...: out of the page cache (BENCH_EVICT=1 only)
evict() {
  [ "${BENCH_EVICT:-0}" = 1 ] || return 0
  python3 - "$@" <<'PY'
import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
}
# cpu PID...: user+sys clock ticks of the processes and their children
cpu() {
  local t=0 p q f
  for p in "$@"; do
    for q in $p $(cat /proc/"$p"/task/*/children 2>/dev/null); do
      f=$(sed 's/.*) //' /proc/"$q"/stat 2>/dev/null) || continue
      set -- $f
      t=$((t + ${12} + ${13}))
    done
  done
  echo $t
}
tck=$(getconf CLK_TCK)
: > "$dir/rows"
best() { # LABEL US...
  local label=$1 b=""; shift
  for u in "$@"; do { [ -z "$b" ] || [ "$u" -lt "$b" ]; } && b=$u; done
  printf '%s\t%s\n' "$label" "$b" >> "$dir/rows"
}
: > "$dir/cpu"
: > "$dir/rounds"
# read_twice LABEL FILE PID...: the cold read (timed, CPU of PIDs noted)
# and the warm one; sets cold= warm=
read_twice() {
  local label=$1 f=$2 c0 c1; shift 2
  c0=$(cpu "$@")
  cold=$(time_read "$f") || return 1
  c1=$(cpu "$@")
  printf '%s\t%s\n' "$label" $(( (c1 - c0) * 1000 / tck )) >> "$dir/cpu"
  warm=$(time_read "$f") || return 1
}

# One run of each reader per round, interleaved (the machine is shared:
# a load change then hits every reader alike), best of ROUNDS each.
rounds=${BENCH_ROUNDS:-5}
qemu-nbd -t -r -f vmdk -k "$dir/q.sock" "$dir/d.vmdk" >/dev/null 2>&1 &
qpid=$!
for i in $(seq 200); do [ -S "$dir/q.sock" ] && break; sleep 0.05; done
cat "$dir/d.raw" > /dev/null
ours=() oursw=() nbd=() nbdw=() ceil=() ceilw=() drv=() drvw=()
same=unchecked
for r in $(seq "$rounds"); do
  # vdisk mount --volume
  evict "$dir/d.vmdk"
  timeout 60 "$vdisk" mount --volume 1 "$dir/d.vmdk" "$dir/mnt" || { echo "bench-mount: vdisk mount failed"; exit 1; }
  vpid=$(grep -F "$dir/" /proc/self/mountinfo | grep -o 'vdisk:[0-9]*' | head -1 | cut -d: -f2)
  read_twice vdisk "$dir/mnt/big.bin" $vpid || exit 1
  ours+=("$cold") oursw+=("$warm")
  if [ "$r" = 1 ]; then
    if cmp -s "$dir/mnt/big.bin" "$dir/src/big.bin"; then same=yes; else same="NO (differs!)"; fi
  fi
  timeout 60 "$vdisk" umount "$dir/mnt"
  # qemu-nbd + nbdfuse + fuse2fs
  evict "$dir/d.vmdk"
  rm -f "$dir/nbdfuse.pid"
  nbdfuse -r -P "$dir/nbdfuse.pid" "$dir/nbd/disk" --unix "$dir/q.sock" >/dev/null 2>&1 &
  npid=$!
  for k in $(seq 200); do [ -s "$dir/nbdfuse.pid" ] && break; sleep 0.05; done
  timeout 60 fuse2fs "$dir/nbd/disk" "$dir/mnt" -o ro,offset=1048576 >/dev/null 2>&1 \
    || { echo "bench-mount: fuse2fs on nbdfuse failed"; exit 1; }
  fpid=$(pgrep -n -f "^fuse2fs $dir/nbd/disk")
  read_twice nbd "$dir/mnt/big.bin" $npid $fpid $qpid || exit 1
  nbd+=("$cold") nbdw+=("$warm")
  fusermount3 -u "$dir/mnt"
  sleep 0.2
  fusermount3 -u "$dir/nbd"
  wait $npid 2>/dev/null
  # fuse2fs straight on the raw image
  evict "$dir/d.raw"
  timeout 60 fuse2fs "$dir/d.raw" "$dir/mnt" -o ro,offset=1048576 >/dev/null 2>&1 \
    || { echo "bench-mount: fuse2fs on the raw image failed"; exit 1; }
  fpid=$(pgrep -n -f "^fuse2fs $dir/d.raw")
  read_twice raw "$dir/mnt/big.bin" $fpid || exit 1
  drv+=("$cold") drvw+=("$warm")
  fusermount3 -u "$dir/mnt"
  # the source folder
  evict "$dir/src/big.bin"
  u=$(time_read "$dir/src/big.bin") || exit 1
  ceil+=("$u")
  u=$(time_read "$dir/src/big.bin") || exit 1
  ceilw+=("$u")
  # this round's pair: vdisk cold, nbdfuse cold, vdisk warm, ceiling warm
  echo "${ours[-1]} ${nbd[-1]} ${oursw[-1]} $u" >> "$dir/rounds"
done
best "vdisk mount --volume, cold" "${ours[@]}"
best "qemu-nbd + nbdfuse + fuse2fs, cold" "${nbd[@]}"
best "cat SRC/big.bin (ceiling)" "${ceilw[@]}"
best "fuse2fs on the raw image file, cold" "${drv[@]}"
best "vdisk mount --volume, warm" "${oursw[@]}"
best "qemu-nbd + nbdfuse + fuse2fs, warm" "${nbdw[@]}"
best "fuse2fs on the raw image file, warm" "${drvw[@]}"
[ "${BENCH_EVICT:-0}" = 1 ] && best "cat SRC/big.bin, evicted first" "${ceil[@]}"

echo "bench-mount: vdisk's file identical to the source: $same"
if [ "${BENCH_EVICT:-0}" = 1 ]; then where="evicted from"; else where="warm in"; fi
echo "bench-mount: cold reads: the backing files $where the page cache"
python3 - "$dir/rows" "$bytes" "$dir/cpu" "$dir/rounds" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2])
t = {r[0]: int(r[1]) / 1e6 for r in rows}
cpu = {}
for l in open(sys.argv[3]):
    k, v = l.split("\t")
    cpu.setdefault(k, []).append(int(v) / 1000)
print("%-40s %9s %10s %12s" % ("reader", "seconds", "MB/s", "vdisk is x"))
for label, us in rows:
    s = int(us) / 1e6
    ref = t["vdisk mount --volume, warm" if "warm" in label else "vdisk mount --volume, cold"]
    print("%-40s %9.3f %10.1f %12.2f" % (label, s, n / s / 1e6, s / ref))
ours, nbd = t["vdisk mount --volume, cold"], t["qemu-nbd + nbdfuse + fuse2fs, cold"]
ceil = t["cat SRC/big.bin (ceiling)"]
oursw, nbdw = t["vdisk mount --volume, warm"], t["qemu-nbd + nbdfuse + fuse2fs, warm"]
print("vdisk / nbdfuse path: cold %.2fx, warm %.2fx (target >= 1x)" % (nbd / ours, nbdw / oursw))
print("vdisk / ceiling:      cold %.2fx, warm %.2fx (target >= 0.5x)" % (ceil / ours, ceil / oursw))
# the same ratios within each round (the readers ran back to back, so a
# load change on the shared machine hits both), their median
med = lambda v: sorted(v)[len(v) // 2]
rr = [[int(x) for x in l.split()] for l in open(sys.argv[4]) if l.strip()]
if rr:
    print("per round, median of %d: vdisk / nbdfuse cold %.2fx; vdisk / ceiling warm %.2fx"
          % (len(rr), med([b / a for a, b, c, d in rr]), med([d / c for a, b, c, d in rr])))
drv = t["fuse2fs on the raw image file, cold"]
print("vdisk / fuse2fs on the plain raw file (cold): %.2fx" % (drv / ours))
names = {"vdisk": "vdisk server + its fuse2fs", "nbd": "nbdfuse + fuse2fs + qemu-nbd",
         "raw": "fuse2fs on the raw file"}
gib = n / (1 << 30)
print("CPU seconds per GiB of a cold read (median of the rounds):")
for k in ("vdisk", "nbd", "raw"):
    v = sorted(cpu.get(k, [0]))
    print("  %-32s %6.2f" % (names[k], v[len(v) // 2] / gib))
PY
