#!/bin/bash
# bench-vsphere: read a 2 GiB disk holding 1 GiB of data from a vSphere
# datastore over HTTPS on loopback (govmomi's simulator, tests/vsphere/
# vcsim): `vdisk cat vsphere://...` of a flat disk and of a sparse disk
# with the same content, against curl downloading the same -flat.vmdk
# through /folder (the ceiling of that file service here).
# Targets: flat >= 0.8x curl; sparse >= 1x curl (holes are not fetched).
#   VDISK_BUILD=build/release bench/bench-vsphere.sh   (BENCH_VSPHERE_GIB=2)
set -u
cd "$(dirname "$0")/.."
top=$PWD
B=${VDISK_BUILD:-build/release}
case $B in /*) VDISK=$B/bin/vdisk ;; *) VDISK=$top/$B/bin/vdisk ;; esac
for c in curl python3 timeout; do
  command -v $c >/dev/null || { echo "skip: $c missing"; exit 77; }
done
[ -x "$VDISK" ] || { echo "skip: build first"; exit 77; }
SIM=$(tests/vsphere/build-vcsim.sh) || { echo "skip: no simulator"; exit 77; }
W=$(mktemp -d /tmp/bench-vsphere.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
gib=${BENCH_VSPHERE_GIB:-2}
mkdir -p "$W/tmp"
TMPDIR="$W/tmp" timeout 900 "$SIM" -info "$W/info" -cert "$W/cert.pem" >/dev/null 2>"$W/sim.err" &
pid=$!
for _ in $(seq 200); do [ -s "$W/info" ] && break; sleep 0.05; done
[ -s "$W/info" ] || { echo "simulator did not start"; cat "$W/sim.err"; exit 1; }
url=$(sed -n 's/^URL=//p' "$W/info"); host=${url#https://}; host=${host%/sdk}
dir=$(sed -n 's/^DIR=//p' "$W/info" | head -1)
ds=$(sed -n 's/^DATASTORE=//p' "$W/info" | head -1)
dc=$(sed -n 's/^DC=//p' "$W/info" | head -1)
echo pw > "$W/pw"
export VDISK_VSPHERE_PASSWORD_FILE=$W/pw VDISK_VSPHERE_CAFILE=$W/cert.pem
# Half the disk is data (random 1 MiB blocks), half zeros.
python3 - "$W/data" $((gib << 29)) <<'PY'
import os, sys
blk = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2]) >> 20):
        f.write(blk[i % 97:] + blk[:i % 97])
PY
mkdir -p "$dir/bench"
"$VDISK" create --type monolithicFlat --size ${gib}G "$dir/bench/flat.vmdk" >/dev/null
"$VDISK" write --offset 0 --file "$W/data" "$dir/bench/flat.vmdk"
"$VDISK" create --size ${gib}G "$dir/bench/sparse.vmdk" >/dev/null
"$VDISK" write --offset 0 --file "$W/data" "$dir/bench/sparse.vmdk"
rm -f "$W/data"
bytes=$(stat -c %s "$dir/bench/flat-flat.vmdk")

secs() {  # secs COMMAND... -> seconds (output to /dev/null)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null || { echo "failed: $*" >&2; echo 0; return; }
  t1=$(date +%s.%N)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}
best() {  # best of 2 runs
  local a b; a=$(secs "$@"); b=$(secs "$@")
  python3 -c "print(min(x for x in ($a, $b) if x > 0) if max($a, $b) > 0 else 0)"
}
furl="https://$host/folder/bench/flat-flat.vmdk?dcPath=$dc&dsName=$ds"
t_curl=$(best curl -sS --fail --cacert "$W/cert.pem" -o /dev/null "$furl")
t_flat=$(best "$VDISK" cat "vsphere://root@$host/[$ds] bench/flat.vmdk")
t_sparse=$(best "$VDISK" cat "vsphere://root@$host/[$ds] bench/sparse.vmdk")
/usr/bin/time -f %M -o "$W/rss" "$VDISK" cat "vsphere://root@$host/[$ds] bench/flat.vmdk" > /dev/null
rss=$(tail -1 "$W/rss")
python3 - "$bytes" "$t_curl" "$t_flat" "$t_sparse" "$rss" <<'PY'
import sys
n, c, f, s, rss = int(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
mb = lambda t: n / 1e6 / t if t else 0
print("%-34s %8s %10s %8s" % ("read %.1f GiB over HTTPS" % (n / 2**30), "seconds", "MB/s", "x curl"))
print("%-34s %8.3f %10.1f %8s" % ("curl GET /folder (-flat.vmdk)", c, mb(c), "1.00"))
print("%-34s %8.3f %10.1f %8.2f" % ("vdisk cat vsphere:// (flat)", f, mb(f), c / f if f else 0))
print("%-34s %8.3f %10.1f %8.2f" % ("vdisk cat vsphere:// (sparse)", s, mb(s), c / s if s else 0))
print("vdisk peak RSS (flat): %d KiB; targets: flat >= 0.80x, sparse >= 1.00x" % rss)
PY
