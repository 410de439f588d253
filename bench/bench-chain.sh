#!/bin/bash
# Sequential read of a depth-3 chain (base + 2 children), each link holding
# a third of the disk (1 MiB runs, interleaved, so every read falls through
# links), page cache warm, best of 3, side by side in one run:
#   vdisk cat CHAIN > /dev/null
#   qemu-img bench -c N -s 1M -d 1 CHAIN   (QEMU reading the same chain)
#   vdisk cat FLAT-COPY > /dev/null         (the same content in one link)
# Targets: at least as fast as qemu-img; chain depth costs < 20% over a
# single link.  Nothing is asserted.
#   VDISK_BUILD=build/release bench/bench-chain.sh [SIZE_MIB]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
V=$build/bin/vdisk
mib=${1:-1536}
[ -x "$V" ] || { echo "bench-chain: $V not built, skipped"; exit 77; }
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "bench-chain: qemu missing, skipped"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-chain.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"

echo "bench-chain: building a ${mib} MiB depth-3 chain, each link 1/3 allocated"
"$V" create --size ${mib}M base.vmdk
"$V" child base.vmdk c1.vmdk >/dev/null
for link in 0 1 2; do
  f=base.vmdk; [ $link = 1 ] && f=c1.vmdk; [ $link = 2 ] && f=c2.vmdk
  if [ $link = 2 ]; then "$V" child c1.vmdk c2.vmdk; fi
  args=()
  for ((i = link; i < mib; i += 3)); do args+=(-c "write -P $((i % 250 + 1)) ${i}M 1M"); done
  # base first written before its child existed: qemu-io on the base with
  # the child beside it is fine (qemu does not look for children)
  qemu-io -f vmdk "${args[@]}" "$f" >/dev/null
  if [ $link = 0 ]; then
    # the base's CID changed: re-attach the child made above
    "$V" attach c1.vmdk base.vmdk
  fi
done
"$V" convert c2.vmdk flat.vmdk >/dev/null
"$V" cat c2.vmdk > /dev/null; "$V" cat flat.vmdk > /dev/null

best() {
  local b="" i t0 t1 us
  for i in 1 2 3; do
    t0=$(date +%s%N); "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; echo 0; return; }
    t1=$(date +%s%N); us=$(( (t1 - t0) / 1000 ))
    if [ -z "$b" ] || [ $us -lt $b ]; then b=$us; fi
  done
  echo "$b"
}
n=$mib
tv=$(best "$V" cat c2.vmdk)
tq=$(best qemu-img bench -f vmdk -c $n -s 1M -S 1M -d 1 c2.vmdk)
tf=$(best "$V" cat flat.vmdk)
python3 - "$mib" "$tv" "$tq" "$tf" <<'PY'
import sys
mib, tv, tq, tf = int(sys.argv[1]), *map(int, sys.argv[2:])
mb = mib * 1048576 / 1e6
print(f"{'reader':34} {'seconds':>8} {'MB/s':>8}")
for name, t in (("vdisk cat (depth-3 chain)", tv), ("qemu-img bench (same chain)", tq), ("vdisk cat (one-link copy)", tf)):
    print(f"{name:34} {t/1e6:8.3f} {mb/(t/1e6) if t else 0:8.0f}")
print(f"ratio vdisk/qemu-img speed on the chain: {tq/tv:.2f}x (target >= 1.0)")
print(f"chain depth cost over one link: {100*(tv/tf-1):.1f}% (target < 20%)")
PY
