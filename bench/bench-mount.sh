#!/bin/bash
# Sequential read of a 1 GiB file from an ext4 volume inside a
# monolithicSparse disk (made by qemu-img, so the layout favours neither
# reader), all measured side by side in this run, each FUSE run on a
# fresh mount, the readers interleaved round by round (BENCH_ROUNDS, 5):
#
#   vdisk mount --volume 1 DISK MNT      what we measure: one FUSE hop,
#                                         served by vdisk itself (libext2fs
#                                         for the metadata, the file's block
#                                         map built at open, data read
#                                         through vd_disk_read straight into
#                                         the reply, several threads)
#   qemu-nbd + nbdfuse + fuse2fs         the usual user-space peer: qemu-nbd
#                                         exports DISK on a unix socket,
#                                         nbdfuse makes it a file, fuse2fs
#                                         -o offset= mounts the volume
#   cat SRC/big.bin                       the ceiling: the same bytes from
#                                         the source folder
#   fuse2fs -o offset= on the raw image   fuse2fs on a plain file in the
#                                         page cache (no vdisk, no NBD): the
#                                         cap of every fuse2fs path (a bmap
#                                         and a crc32c of the extent leaf per
#                                         4 KiB block: ~2 CPU s per GiB)
#
# Each reader reads the file twice: "cold" (the first read of a fresh
# mount; for the ceiling, the first read after eviction) and "warm" (the
# same file again: every path keeps the page cache).  BENCH_EVICT=1 makes
# the cold reads colder, for every side alike: before each, the files the
# reader stands on (d.vmdk, d.raw, SRC/big.bin for the ceiling) leave the
# page cache (posix_fadvise DONTNEED; /proc/sys/vm/drop_caches needs the
# host's root).  Without it only the FUSE caches are cold.
#
# Printed: per reader the best and the median of the rounds, each with
# the 1-minute load average when it ran (the machine may be shared: the
# wall clock is noise when the load is above the cores), and the CPU
# seconds per GiB of a cold read: the serving processes (vdisk's server;
# nbdfuse, its fuse2fs and qemu-nbd; fuse2fs alone) and the reader (dd)
# -- the load does not change those.  The ratios: vdisk against nbdfuse
# (cold and warm) and against the ceiling (cold against the ceiling's
# cold read, warm against its warm one, and cold against warm, the
# strictest), per best and as the median of the per-round ratios.
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
for c in qemu-img qemu-nbd nbdfuse fuse2fs fusermount3 mke2fs sfdisk python3 /usr/bin/time; do
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

# time_read FILE: "MICROSECONDS READER_CPU_MS LOAD1" of reading FILE
# into /dev/null
time_read() {
  local t0 t1 c
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$dir/time" dd if="$1" of=/dev/null bs=1M status=none || return 1
  t1=$(date +%s%N)
  c=$(awk '{printf "%d", ($1 + $2) * 1000}' "$dir/time")
  echo "$(( (t1 - t0) / 1000 )) $c $(cut -d' ' -f1 /proc/loadavg)"
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
# one line per read: LABEL KIND(cold|warm) US READER_CPU_MS LOAD1 SERVER_CPU_MS ROUND
: > "$dir/reads"
# read_twice LABEL FILE PID...: the cold read (CPU of PIDs noted), then
# the warm one
read_twice() {
  local label=$1 f=$2 c0 c1 t; shift 2
  c0=$(cpu "$@")
  t=$(time_read "$f") || return 1
  c1=$(cpu "$@")
  echo "$label cold $t $(( (c1 - c0) * 1000 / tck )) $r" >> "$dir/reads"
  c0=$(cpu "$@")
  t=$(time_read "$f") || return 1
  c1=$(cpu "$@")
  echo "$label warm $t $(( (c1 - c0) * 1000 / tck )) $r" >> "$dir/reads"
}

rounds=${BENCH_ROUNDS:-5}
qemu-nbd -t -r -f vmdk -k "$dir/q.sock" "$dir/d.vmdk" >/dev/null 2>&1 &
qpid=$!
for i in $(seq 200); do [ -S "$dir/q.sock" ] && break; sleep 0.05; done
cat "$dir/d.raw" > /dev/null
same=unchecked
inproc=unchecked
for r in $(seq "$rounds"); do
  # vdisk mount --volume
  evict "$dir/d.vmdk"
  timeout 60 "$vdisk" mount --volume 1 "$dir/d.vmdk" "$dir/mnt" || { echo "bench-mount: vdisk mount failed"; exit 1; }
  vpid=$(grep -F " $dir/mnt " /proc/self/mountinfo | grep -o 'vdisk:[0-9]*' | head -1 | cut -d: -f2)
  if [ "$r" = 1 ]; then
    if grep -F " $dir/mnt " /proc/self/mountinfo | grep -q ' fuse.vdisk vdisk:' \
       && ! pgrep -f "fuse2fs .* $dir/mnt" >/dev/null; then inproc=yes; else inproc="NO (fuse2fs serves it)"; fi
  fi
  read_twice vdisk "$dir/mnt/big.bin" $vpid || exit 1
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
  fusermount3 -u "$dir/mnt"
  # the source folder (no server: the reader's CPU is all)
  evict "$dir/src/big.bin"
  read_twice ceiling "$dir/src/big.bin" || exit 1
done

echo "bench-mount: vdisk's file identical to the source: $same"
echo "bench-mount: served by vdisk itself (one FUSE hop, no fuse2fs): $inproc"
if [ "${BENCH_EVICT:-0}" = 1 ]; then where="evicted from"; else where="warm in"; fi
echo "bench-mount: cold reads: the backing files $where the page cache; $rounds rounds; $(nproc) cores"
python3 - "$dir/reads" "$bytes" <<'PY'
import sys
n = int(sys.argv[2])
gib = n / (1 << 30)
runs = {}
for l in open(sys.argv[1]):
    lab, kind, us, rcpu, load, scpu, rnd = l.split()
    runs.setdefault((lab, kind), []).append(
        dict(s=int(us) / 1e6, rcpu=int(rcpu) / 1000, load=float(load),
             scpu=int(scpu) / 1000, rnd=int(rnd)))
med = lambda v: sorted(v)[len(v) // 2]
names = {"vdisk": "vdisk mount --volume (in-process)",
         "nbd": "qemu-nbd + nbdfuse + fuse2fs",
         "raw": "fuse2fs on the raw image file",
         "ceiling": "cat SRC/big.bin (ceiling)"}
print("%-36s %-4s %8s %7s %5s %8s %7s %5s %7s %7s" % (
    "reader", "", "best s", "MB/s", "load", "median s", "MB/s", "load",
    "srv CPU", "rd CPU"))
best = {}
for lab in ("vdisk", "nbd", "raw", "ceiling"):
    for kind in ("cold", "warm"):
        v = runs.get((lab, kind), [])
        if not v:
            continue
        b = min(v, key=lambda x: x["s"])
        m = sorted(v, key=lambda x: x["s"])[len(v) // 2]
        best[(lab, kind)] = b["s"]
        print("%-36s %-4s %8.3f %7.0f %5.1f %8.3f %7.0f %5.1f %7.2f %7.2f" % (
            names[lab], kind, b["s"], n / b["s"] / 1e6, b["load"],
            m["s"], n / m["s"] / 1e6, m["load"],
            med([x["scpu"] for x in v]) / gib, med([x["rcpu"] for x in v]) / gib))
print("(srv CPU, rd CPU: CPU seconds per GiB, median of the rounds, of the "
      "serving processes and of the reader)")
def ratio(a, b):
    """b's time over a's (a faster: > 1), best of each and the median of
    the per-round ratios"""
    if a not in runs or b not in runs:
        return "n/a"
    pr = {}
    for x in runs[a]:
        pr.setdefault(x["rnd"], {})["a"] = x["s"]
    for x in runs[b]:
        pr.setdefault(x["rnd"], {})["b"] = x["s"]
    per = [v["b"] / v["a"] for v in pr.values() if "a" in v and "b" in v]
    return "%.2fx best, %.2fx median per round" % (best[b] / best[a], med(per))
print("vdisk / nbdfuse path, cold: %s (target >= 1x)" % ratio(("vdisk", "cold"), ("nbd", "cold")))
print("vdisk / nbdfuse path, warm: %s" % ratio(("vdisk", "warm"), ("nbd", "warm")))
print("vdisk / ceiling, cold vs cold: %s (target >= 0.5x)" % ratio(("vdisk", "cold"), ("ceiling", "cold")))
print("vdisk / ceiling, warm vs warm: %s" % ratio(("vdisk", "warm"), ("ceiling", "warm")))
print("vdisk / ceiling, cold vs warm (strictest): %s" % ratio(("vdisk", "cold"), ("ceiling", "warm")))
print("vdisk / fuse2fs on the plain raw file, cold: %s" % ratio(("vdisk", "cold"), ("raw", "cold")))
tot = lambda lab: (med([x["scpu"] for x in runs[(lab, "cold")]])
                   + med([x["rcpu"] for x in runs[(lab, "cold")]])) / gib
print("CPU s/GiB of a cold read, server + reader: vdisk %.2f, nbdfuse path %.2f, "
      "fuse2fs on raw %.2f, ceiling %.2f" % (tot("vdisk"), tot("nbd"), tot("raw"), tot("ceiling")))
PY
