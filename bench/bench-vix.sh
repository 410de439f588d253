#!/bin/bash
# The VixDiskLib layer's cost: VMware's sample program (ours, on the
# compatibility API) reading a 2 GiB disk sequentially in 2048-sector
# (1 MiB) requests, sync and async, against the native API reading the
# same disk in 1 MiB requests (vdisk cat > /dev/null) and against
# qemu-img bench, best of 3 each, warm cache, side by side.
# Target: the compatibility layer costs under 5% over the native API.
#   VDISK_BUILD=build/release bench/bench-vix.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
V=$build/bin/vdisk; S=$build/bin/vix-disklib-sample
mib=${1:-2048}
[ -x "$V" ] && [ -x "$S" ] || { echo "bench-vix: not built, skipped"; exit 77; }
command -v qemu-img >/dev/null || { echo "bench-vix: qemu-img missing, skipped"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-vix.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "bench-vix: a ${mib} MiB monolithicSparse disk, fully allocated with random data"
head -c $((mib << 20)) /dev/urandom > "$dir/in.raw"
"$V" convert -f raw "$dir/in.raw" "$dir/d.vmdk"
rm -f "$dir/in.raw"
"$V" cat "$dir/d.vmdk" > /dev/null

best() {  # best wall time in microseconds of 3 runs
  local b="" i t0 t1 us
  for i in 1 2 3; do
    t0=$(date +%s%N); "$@" > /dev/null 2>&1 || { echo 0; return; }
    t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
    if [ -z "$b" ] || [ $us -lt $b ]; then b=$us; fi
  done
  echo "$b"
}
tn=$(best "$V" cat "$dir/d.vmdk")
ts=$(best "$S" -readbench 2048 "$dir/d.vmdk")
ta=$(best "$S" -readasyncbench 2048 "$dir/d.vmdk")
tq=$(best qemu-img bench -f vmdk -c $mib -s 1M -S 1M -d 1 "$dir/d.vmdk")
python3 - "$mib" "$tn" "$ts" "$ta" "$tq" <<'PY'
import sys
mib, tn, ts, ta, tq = int(sys.argv[1]), *map(int, sys.argv[2:])
mb = mib * 1048576 / 1e6
rows = (("native API (vdisk cat, 1 MiB)", tn), ("VixDiskLib_Read (-readbench 2048)", ts),
        ("VixDiskLib_ReadAsync (-readasyncbench)", ta), ("qemu-img bench (1 MiB, depth 1)", tq))
print(f"{'reader':40} {'seconds':>8} {'MB/s':>8}")
for n, t in rows:
    print(f"{n:40} {t/1e6:8.3f} {mb/(t/1e6) if t else 0:8.0f}")
print(f"compat layer cost over native, sync : {100*(ts/tn-1):+.1f}% (target < 5%)")
print(f"compat layer cost over native, async: {100*(ta/tn-1):+.1f}% (target < 5%)")
print(f"VixDiskLib_Read vs qemu-img bench: {tq/ts:.2f}x qemu-img's speed")
PY
