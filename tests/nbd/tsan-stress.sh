#!/bin/bash
# make tsan's NBD part: the receiving threads of the NBD client under
# ThreadSanitizer.  nbd-stress (built with -fsanitize=thread in
# build/tsan) reads with 8 threads through nbdkit's delay and error
# filters (answers out of order, one request in fifty fails), then reads
# and writes with 6 threads; `vdisk cat` copies the whole export through
# 4 connections.  Any report stops the run (exit 66).
#   tests/nbd/tsan-stress.sh [BUILD]   (default build/tsan)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=$top/${1:-build/tsan}
for c in nbdkit python3 timeout; do
  command -v $c >/dev/null || { echo "# skip: $c missing"; exit 0; }
done
W=$(mktemp -d /tmp/vdisk-tsan-nbd.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
cd "$W" || exit 1
python3 -c "
import random
r = random.Random(7)
with open('d.raw', 'wb') as f:
    f.truncate(48 * 2**20 + 12345)
    for i in range(0, 48, 2):
        f.seek(i << 20); f.write(r.randbytes(1 << 20))"
cp d.raw w.raw; cp d.raw wref.raw
nbdkit --exit-with-parent -U "$W/e.sock" --filter=error --filter=delay file d.raw \
  delay-read=1ms error=EIO error-rate=2% 2>/dev/null &
nbdkit --exit-with-parent -U "$W/w.sock" --filter=error --filter=delay file w.raw \
  delay-read=1ms delay-write=1ms error=EIO error-rate=2% 2>/dev/null &
nbdkit --exit-with-parent -U "$W/d.sock" --filter=delay file d.raw \
  delay-read=2ms delay-extents=2ms 2>/dev/null &
for s in e w d; do for _ in $(seq 100); do [ -S "$W/$s.sock" ] && break; sleep 0.1; done; done
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
rc=0
timeout 300 "$B/tests/nbd-stress" "nbd+unix:///?socket=$W/e.sock" d.raw 8 300 || rc=$?
[ $rc = 0 ] && { timeout 300 "$B/tests/nbd-stress" "nbd+unix:///?socket=$W/w.sock" wref.raw 6 200 write || rc=$?; }
[ $rc = 0 ] && { timeout 300 "$B/bin/vdisk" cat --raw "nbd+unix:///?socket=$W/d.sock" | cmp - d.raw || rc=$?; }
[ $rc = 0 ] && echo "ok - NBD client under ThreadSanitizer: no report, data right" \
  || echo "not ok - NBD client under ThreadSanitizer (exit $rc)"
exit $rc
