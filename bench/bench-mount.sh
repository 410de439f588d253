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
#                                         driver's own speed.  fuse2fs
#                                         (libfuse2, one thread, a block at
#                                         a time) bounds every fuse2fs path
#                                         far below the page-cache ceiling
#
# Targets: vdisk >= 1x the nbdfuse path, >= 0.5x the ceiling.  Nothing is
# asserted.
#
#   VDISK_BUILD=build/release [BENCH_ROUNDS=5] bench/bench-mount.sh [FILE_MIB]
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
: > "$dir/rows"
best() { # LABEL US...
  local label=$1 b=""; shift
  for u in "$@"; do { [ -z "$b" ] || [ "$u" -lt "$b" ]; } && b=$u; done
  printf '%s\t%s\n' "$label" "$b" >> "$dir/rows"
}

# One run of each reader per round, interleaved (the machine is shared:
# a load change then hits every reader alike), best of ROUNDS each.
rounds=${BENCH_ROUNDS:-5}
qemu-nbd -t -r -f vmdk -k "$dir/q.sock" "$dir/d.vmdk" >/dev/null 2>&1 &
qpid=$!
for i in $(seq 200); do [ -S "$dir/q.sock" ] && break; sleep 0.05; done
cat "$dir/d.raw" > /dev/null
ours=() nbd=() ceil=() drv=()
same=unchecked
for r in $(seq "$rounds"); do
  # vdisk mount --volume
  timeout 60 "$vdisk" mount --volume 1 "$dir/d.vmdk" "$dir/mnt" || { echo "bench-mount: vdisk mount failed"; exit 1; }
  u=$(time_read "$dir/mnt/big.bin") || exit 1
  ours+=("$u")
  if [ "$r" = 1 ]; then
    if cmp -s "$dir/mnt/big.bin" "$dir/src/big.bin"; then same=yes; else same="NO (differs!)"; fi
  fi
  timeout 60 "$vdisk" umount "$dir/mnt"
  # qemu-nbd + nbdfuse + fuse2fs
  rm -f "$dir/nbdfuse.pid"
  nbdfuse -r -P "$dir/nbdfuse.pid" "$dir/nbd/disk" --unix "$dir/q.sock" >/dev/null 2>&1 &
  npid=$!
  for k in $(seq 200); do [ -s "$dir/nbdfuse.pid" ] && break; sleep 0.05; done
  timeout 60 fuse2fs "$dir/nbd/disk" "$dir/mnt" -o ro,offset=1048576 >/dev/null 2>&1 \
    || { echo "bench-mount: fuse2fs on nbdfuse failed"; exit 1; }
  u=$(time_read "$dir/mnt/big.bin") || exit 1
  nbd+=("$u")
  fusermount3 -u "$dir/mnt"
  sleep 0.2
  fusermount3 -u "$dir/nbd"
  wait $npid 2>/dev/null
  # fuse2fs straight on the raw image
  timeout 60 fuse2fs "$dir/d.raw" "$dir/mnt" -o ro,offset=1048576 >/dev/null 2>&1 \
    || { echo "bench-mount: fuse2fs on the raw image failed"; exit 1; }
  u=$(time_read "$dir/mnt/big.bin") || exit 1
  drv+=("$u")
  fusermount3 -u "$dir/mnt"
  # the source folder
  u=$(time_read "$dir/src/big.bin") || exit 1
  ceil+=("$u")
done
best "vdisk mount --volume (FUSE + fuse2fs)" "${ours[@]}"
best "qemu-nbd + nbdfuse + fuse2fs" "${nbd[@]}"
best "cat SRC/big.bin (ceiling)" "${ceil[@]}"
best "fuse2fs on the raw image file" "${drv[@]}"

echo "bench-mount: vdisk's file identical to the source: $same"
python3 - "$dir/rows" "$bytes" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n = int(sys.argv[2])
t = {r[0]: int(r[1]) / 1e6 for r in rows}
ours = t[rows[0][0]]
print("%-40s %9s %10s %12s" % ("reader", "seconds", "MB/s", "vdisk is x"))
for label, us in rows:
    s = int(us) / 1e6
    print("%-40s %9.3f %10.1f %12.2f" % (label, s, n / s / 1e6, s / ours))
nbd = t["qemu-nbd + nbdfuse + fuse2fs"]
ceil = t["cat SRC/big.bin (ceiling)"]
print("vdisk / nbdfuse path: %.2fx (target >= 1x)" % (nbd / ours))
print("vdisk / ceiling:      %.2fx (target >= 0.5x)" % (ceil / ours))
drv = t["fuse2fs on the raw image file"]
print("vdisk / fuse2fs on the plain raw file: %.2fx" % (drv / ours))
PY
