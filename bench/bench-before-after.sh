#!/bin/bash
# Two builds of vdisk side by side on the same inputs, interleaved, best of
# 5: sequential read (cat of a half-allocated monolithicSparse disk), convert
# (raw -> monolithicSparse) and map (a 100 GiB disk with 8192 runs).  Used
# to show that a restructuring changed no speed: prints after/before time
# ratios (1.00 = the same; > 1.03 = more than 3% slower).
#
#   VDISK_BEFORE=DIR VDISK_BUILD=DIR bench/bench-before-after.sh [SIZE_MIB]
# DIR is a build folder holding bin/vdisk (e.g. a copy of build/release
# made before the change).  Without VDISK_BEFORE the benchmark is skipped.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
abs() { case $1 in /*) echo "$1";; *) echo "$top/$1";; esac; }
after=$(abs "${VDISK_BUILD:-build/release}")/bin/vdisk
before=${VDISK_BEFORE:+$(abs "$VDISK_BEFORE")/bin/vdisk}
size_mib=${1:-1024}
[ -n "$before" ] && [ -x "$before" ] || { echo "bench-before-after: set VDISK_BEFORE to a build folder, skipped"; exit 77; }
[ -x "$after" ] || { echo "bench-before-after: $after not built, skipped"; exit 77; }
command -v python3 >/dev/null || { echo "bench-before-after: python3 missing, skipped"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-ba.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"

# Half allocated: 4 MiB of random bytes, then a 4 MiB hole, repeated.
python3 - "$size_mib" <<'PY'
import os, sys
n = int(sys.argv[1]) // 8
with open("in.raw", "wb") as f:
    for i in range(n):
        f.write(os.urandom(4 << 20)); f.seek(4 << 20, 1)
    f.truncate(int(sys.argv[1]) << 20)
PY
"$after" convert in.raw disk.vmdk
command -v qemu-io >/dev/null || { echo "bench-before-after: qemu-io missing, skipped"; exit 77; }
qemu-img create -q -f vmdk -o subformat=monolithicSparse big.vmdk 100G
python3 - > cmds <<'PY'
import random
r = random.Random(1); run = 256 << 10
for s in sorted(r.sample(range((100 << 30) // run), 8192)):
    print("write -P 0x%02x %d %d" % (1 + s % 255, s * run, run))
PY
qemu-io -t unsafe -f vmdk big.vmdk < cmds > /dev/null || { echo "bench-before-after: qemu-io failed"; exit 1; }

t() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
best() { sort -n | head -1; }
declare -A res
for i in 1 2 3 4 5; do
  for side in before after; do
    v=${!side}
    res[$side.read]+="$(t "$v" cat disk.vmdk) "
    rm -f out.vmdk; res[$side.convert]+="$(t "$v" convert in.raw out.vmdk) "
    res[$side.map]+="$(t "$v" map big.vmdk) "
  done
done
printf '%-10s %12s %12s %8s\n' bench "before (s)" "after (s)" ratio
for b in read convert map; do
  bt=$(echo ${res[before.$b]} | tr ' ' '\n' | best)
  at=$(echo ${res[after.$b]} | tr ' ' '\n' | best)
  python3 -c "print('%-10s %12.3f %12.3f %8.3f' % ('$b', $bt/1e6, $at/1e6, $at/$bt))"
done
