#!/bin/bash
# Virus scanning with libclamav, our small signature database
# (tests/scan/db) on both sides, wall-clock seconds of one run each:
#
# 1. sparse: a 100 GiB monolithicSparse disk holding 1 GiB of random data
#    (16 runs of 64 MiB spread over the disk).
#      vdisk scan DISK                       reads and scans only the 1 GiB
#      qemu-img convert -O raw + clamscan    what a user of the peers runs
#    clamscan refuses files over 2 GiB - 1 and scans ~100 MB/s, so the raw
#    image is cut into 1 GiB pieces; clamscan is timed on one piece holding
#    data and one holding only zeros, and its time on all 100 pieces is
#    computed from those two (16 data pieces + 84 zero pieces).  The
#    extrapolation is printed as such.
# 2. full: a fully allocated 2 GiB disk of random data.
#      vdisk scan DISK  vs  clamscan on the equal raw file (as two 1 GiB
#      pieces in one clamscan run, for the same 2 GiB - 1 limit).
#
# Targets: >= 20x faster than convert + clamscan on the sparse disk; no
# slower than clamscan on the full disk.  Nothing is asserted.  Each side
# keeps libclamav's clean cache out of the picture: vdisk disables it, and
# no two pieces clamscan sees are identical.
#
#   VDISK_BUILD=build/release bench/bench-scan.sh
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
vdisk=$build/bin/vdisk
db=$top/tests/scan/db
[ -x "$vdisk" ] || { echo "bench-scan: $vdisk not built, skipped"; exit 77; }
for c in qemu-img clamscan; do
  command -v "$c" >/dev/null 2>&1 || { echo "bench-scan: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-scan.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"

now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
CLAM="clamscan --no-summary -d $db/vdisk-test.ndb --max-filesize=2047M --max-scansize=2047M"
GiB=1073741824
MiB=1048576

echo "preparing data (1 GiB + 2 GiB of random bytes) ..."
head -c $GiB /dev/urandom > rand1g
# --- 1. sparse ---------------------------------------------------------------
"$vdisk" create --size 100G sparse.vmdk >/dev/null
for i in $(seq 0 15); do
  # run i at 6 GiB * i + 1 GiB * (i % 3) + 5 MiB: pieces 6i + i%3 hold data
  off=$(( (6 * i + i % 3) * GiB + 5 * MiB ))
  dd if=rand1g bs=1M skip=$((64 * i)) count=64 status=none | "$vdisk" write sparse.vmdk --offset $off >/dev/null
done
sync
t0=$(now); "$vdisk" scan --db "$db" sparse.vmdk > ours-sparse.txt 2>&1; t1=$(now)
ours_sparse=$(secs "$t0" "$t1")
t0=$(now); qemu-img convert -O raw sparse.vmdk sparse.raw; t1=$(now)
conv=$(secs "$t0" "$t1")
# pieces with data are 6i + i%3 (0, 7, 14, 18, ...): piece 0 holds data,
# piece 1 only zeros
dd if=sparse.raw of=piece-data bs=1M skip=0 count=1024 status=none conv=sparse
dd if=sparse.raw of=piece-zero bs=1M skip=1024 count=1024 status=none conv=sparse
t0=$(now); $CLAM piece-data > /dev/null 2>&1; t1=$(now)
clam_data=$(secs "$t0" "$t1")
t0=$(now); $CLAM piece-zero > /dev/null 2>&1; t1=$(now)
clam_zero=$(secs "$t0" "$t1")
clam_all=$(awk -v d="$clam_data" -v z="$clam_zero" 'BEGIN { printf "%.2f", 16 * d + 84 * z }')
peer_sparse=$(awk -v c="$conv" -v s="$clam_all" 'BEGIN { printf "%.2f", c + s }')
rm -f sparse.raw piece-data piece-zero

# --- 2. full ---------------------------------------------------------------
"$vdisk" create --size 2G full.vmdk >/dev/null
"$vdisk" write full.vmdk --offset 0 --file rand1g >/dev/null
head -c $GiB /dev/urandom | "$vdisk" write full.vmdk --offset 1G >/dev/null
qemu-img convert -O raw full.vmdk full.raw
dd if=full.raw of=full-a bs=1M count=1024 status=none
dd if=full.raw of=full-b bs=1M skip=1024 count=1024 status=none
rm -f full.raw rand1g
sync
t0=$(now); "$vdisk" scan --db "$db" full.vmdk > ours-full.txt 2>&1; t1=$(now)
ours_full=$(secs "$t0" "$t1")
t0=$(now); $CLAM full-a full-b > clam-full.txt 2>&1; t1=$(now)
clam_full=$(secs "$t0" "$t1")

echo
printf '%-52s %10s\n' "sparse: 100 GiB disk, 1 GiB of data" "seconds"
printf '%-52s %10s\n' "  vdisk scan" "$ours_sparse"
printf '%-52s %10s\n' "  qemu-img convert -O raw" "$conv"
printf '%-52s %10s\n' "  clamscan, 1 GiB piece with data (measured)" "$clam_data"
printf '%-52s %10s\n' "  clamscan, 1 GiB piece of zeros (measured)" "$clam_zero"
printf '%-52s %10s\n' "  clamscan, 100 pieces (16 data + 84 zeros, computed)" "$clam_all"
printf '%-52s %10s\n' "  convert + clamscan" "$peer_sparse"
printf '%-52s %10s   (target >= 20x)\n' "  vdisk speed-up" "$(ratio "$peer_sparse" "$ours_sparse")"
printf '%-52s %10s\n' "full: 2 GiB allocated disk" ""
printf '%-52s %10s\n' "  vdisk scan" "$ours_full"
printf '%-52s %10s\n' "  clamscan on the raw file (2 x 1 GiB)" "$clam_full"
printf '%-52s %10s   (target >= 1.0x)\n' "  vdisk speed-up" "$(ratio "$clam_full" "$ours_full")"
grep -q ': OK$' ours-sparse.txt && grep -q ': OK$' ours-full.txt \
  || echo "note: vdisk reported something other than clean (see the data)"
exit 0
