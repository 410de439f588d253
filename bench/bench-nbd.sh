#!/bin/bash
# bench-nbd: copy a 1 GiB VMDK over loopback TCP with nbdcopy (to null:)
# from `vdisk serve` and from qemu-nbd serving the same file, without and
# with TLS (PSK; qemu-nbd through --object tls-creds-psk), and from
# nbdkit's file plugin serving the same bytes as a raw image (the TLS
# ceiling of nbdkit itself).  Targets: vdisk >= qemu-nbd; vdisk TLS within
# 10% of nbdkit-file TLS.
#   VDISK_BUILD=build/release bench/bench-nbd.sh   (BENCH_NBD_SIZE=1G)
set -u
cd "$(dirname "$0")/.."
top=$PWD
B=${VDISK_BUILD:-build/release}
VDISK=$top/$B/bin/vdisk
export VDISK_NBDKIT_PLUGIN=${VDISK_NBDKIT_PLUGIN:-$top/$B/plugins/nbdkit-vdisk-plugin.so}
for c in nbdkit nbdcopy qemu-nbd qemu-img python3; do
  command -v $c >/dev/null || { echo "skip: $c missing"; exit 77; }
done
[ -x "$VDISK" ] && [ -e "$VDISK_NBDKIT_PLUGIN" ] || { echo "skip: build first"; exit 77; }
W=$(mktemp -d /tmp/bench-nbd.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
size=${BENCH_NBD_SIZE:-1G}
mkdir -p "$W/ds" "$W/psk"
# Mixed data: random 1 MiB blocks with a few zero blocks, fully allocated.
python3 - "$W/d.raw" "$size" <<'PY'
import os, sys
n = int(sys.argv[2].rstrip('G')) << 30 if sys.argv[2].endswith('G') else int(sys.argv[2])
blk = os.urandom(1 << 20)
with open(sys.argv[1], 'wb') as f:
    for i in range(n >> 20):
        f.write(blk[i % 97:] + blk[:i % 97])
PY
qemu-img convert -f raw -O vmdk "$W/d.raw" "$W/ds/d.vmdk"
echo secret | "$VDISK" user add --password-stdin "$W/psk/keys.psk" alice >/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do nbdinfo --can connect "$1" 2>/dev/null && return 0; python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$2)))" && return 0; sleep 0.1; done; return 1; }
copy_time() {  # copy_time URI -> seconds
  local t0 t1
  t0=$(date +%s.%N)
  nbdcopy "$1" null: || { echo "nbdcopy failed: $1" >&2; echo 0; return; }
  t1=$(date +%s.%N)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}
run() {  # run NAME URI -- server command...
  local name=$1 uri=$2 p=$3; shift 4
  "$@" >"$W/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$uri" "$p" || { echo "$name: server did not start:"; cat "$W/$name.log"; return; }
  sleep 0.2
  copy_time "$uri" >/dev/null       # warm the page cache
  local s; s=$(copy_time "$uri")
  kill "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null
  echo "$s" > "$W/T_$name"
  python3 -c "import sys; s=float('$s'); print('%-22s %8.3f s %9.1f MB/s' % ('$name', s, ($(stat -c %s "$W/d.raw")/1e6)/s if s else 0))"
}
PSKQ="tls-psk-file=$W/psk/keys.psk"
QOBJ="tls-creds-psk,id=tls0,endpoint=server,dir=$W/psk"
p=$(port); run vdisk "nbd://127.0.0.1:$p/d.vmdk" $p -- "$VDISK" serve --listen 127.0.0.1:$p --read-only "$W/ds"
p=$(port); run qemu_nbd "nbd://127.0.0.1:$p/d.vmdk" $p -- qemu-nbd -t -r -f vmdk -x d.vmdk -b 127.0.0.1 -p $p --shared=8 "$W/ds/d.vmdk"
p=$(port); run vdisk_tls "nbds://alice@127.0.0.1:$p/d.vmdk?$PSKQ" $p -- "$VDISK" serve --tls-psk "$W/psk/keys.psk" --listen 127.0.0.1:$p --read-only "$W/ds"
p=$(port); run qemu_nbd_tls "nbds://alice@127.0.0.1:$p/d.vmdk?$PSKQ" $p -- qemu-nbd -t -r -f vmdk -x d.vmdk -b 127.0.0.1 -p $p --shared=8 --object "$QOBJ" --tls-creds tls0 "$W/ds/d.vmdk"
p=$(port); run nbdkit_file_tls "nbds://alice@127.0.0.1:$p/?$PSKQ" $p -- nbdkit -f -r -i 127.0.0.1 -p $p --tls=require --tls-psk="$W/psk/keys.psk" file "$W/d.raw"
t() { cat "$W/$1" 2>/dev/null || echo 0; }
ratio() { python3 -c "a=float('$(t $1)'); b=float('$(t $2)'); print('%-40s %.2f' % ('$3', b/a if a else 0))"; }
echo "ratios (> 1: vdisk faster):"
ratio T_vdisk T_qemu_nbd "qemu-nbd time / vdisk time (plain)"
ratio T_vdisk_tls T_qemu_nbd_tls "qemu-nbd time / vdisk time (TLS)"
ratio T_vdisk_tls T_nbdkit_file_tls "nbdkit-file TLS time / vdisk TLS time"
