#!/bin/bash
# The asynchronous NBD client (lib/io-nbd.c) against nbdkit's file plugin
# behind the delay filter (many requests in flight: the server answers
# them out of order) and the error filter (one request in fifty fails):
# every read that succeeds is byte-identical to the file (also with
# several threads and writes in flight), every failure is reported with
# its offset, nothing hangs (each step under timeout), nbdcopy and
# nbdinfo --map agree, memory stays bounded.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdcopy nbdinfo python3 timeout
STRESS="$VDISK_TOP/$VDISK_BUILD/tests/nbd-stress"
[ -x "$STRESS" ] || { echo "# skip: no $STRESS (make tests)"; exit 77; }
cd "$WORK"
M=$((1<<20))
# 48 MiB, every other MiB written (half allocated), a tail that is not
# a multiple of the request size
python3 - <<'PY'
import random
r = random.Random(7)
with open("d.raw", "wb") as f:
    f.truncate(48 * 2**20 + 12345)
    for i in range(0, 48, 2):
        f.seek(i << 20); f.write(r.randbytes(1 << 20))
    f.seek(48 * 2**20); f.write(r.randbytes(12345))
PY
serve() {  # serve SOCKET FILE "FILTERS" PARAMS...
  local sock=$1 file=$2 filters=$3; shift 3
  # shellcheck disable=SC2086
  start_server socket "$sock" nbdkit --exit-with-parent -U "$sock" $filters file "$file" "$@"
}
U() { echo "nbd+unix:///?socket=$WORK/$1"; }

check "nbdkit with the delay filter starts" \
  serve "$WORK/delay.sock" d.raw "--filter=delay" delay-read=2ms delay-write=2ms delay-extents=2ms
check "nbdkit with the error filter starts" \
  serve "$WORK/err.sock" d.raw "--filter=error --filter=delay" delay-read=1ms error=EIO error-rate=2%
check "nbdkit with the error filter (one in two) starts" \
  serve "$WORK/err20.sock" d.raw "--filter=error" error=EIO error-rate=50%
cp d.raw w.raw; cp d.raw wref.raw
check "nbdkit (writable, error filter) starts" \
  serve "$WORK/w.sock" w.raw "--filter=error --filter=delay" delay-read=1ms delay-write=1ms error=EIO error-rate=2%

# ---- one connection, many requests in flight, out-of-order answers ----
VDISK_NBD_CONNECTIONS=1 VDISK_NBD_STATS=1 timeout 60 "$VDISK" cat --raw "$(U delay.sock)" > c1.raw 2> st1.txt
check "vdisk cat (1 connection) reads the export byte for byte" cmp -s c1.raw d.raw
sed 's/^/# /' st1.txt
inflight=$(sed -n 's/.*most in flight on one connection \([0-9]*\).*/\1/p' st1.txt)
check "several requests were in flight on the connection ($inflight)" test "${inflight:-0}" -ge 4
# vdisk cat reads with many threads of its own (no read-ahead while reads
# overlap); one sequential reader, convert, is what the read-ahead serves
VDISK_NBD_CONNECTIONS=1 VDISK_NBD_STATS=1 timeout 60 "$VDISK" convert -t raw "$(U delay.sock)" cv1.raw 2> st1c.txt
sed 's/^/# /' st1c.txt
check "vdisk convert (1 connection, one sequential reader) copies the export byte for byte" cmp -s cv1.raw d.raw
check "the read-ahead served convert's sequential reads" grep -q 'read-ahead hits [1-9]' st1c.txt
VDISK_NBD_CONNECTIONS=1 VDISK_NBD_STATS=1 timeout 120 "$STRESS" "$(U delay.sock)" d.raw 4 100 > s1.txt 2> st2.txt
rc=$?; sed 's/^/# /' s1.txt st2.txt
check "4 threads of random reads on 1 connection: all correct" bash -c "[ $rc = 0 ] && grep -q 'mismatched 0' s1.txt && grep -q 'failed 0 ' s1.txt"
check "answers came out of order on one connection" grep -q 'out of order [1-9]' st2.txt

# ---- several connections (nbdkit's file plugin offers multi-conn) ----
VDISK_NBD_STATS=1 timeout 60 "$VDISK" cat --raw "$(U delay.sock)" > c4.raw 2> st3.txt
check "vdisk cat (multi-conn) reads the export byte for byte" cmp -s c4.raw d.raw
check "vdisk cat into a pipe (holes written from zeros) reads the export byte for byte" \
  bash -c "timeout 60 '$VDISK' cat --raw '$(U delay.sock)' | cmp -s - d.raw"
check "four connections were used" grep -q 'connections 4' st3.txt
timeout 60 nbdcopy "$(U delay.sock)" n.raw
check "nbdcopy reads the same bytes" cmp -s n.raw c4.raw
DATAMAP="$VDISK_TOP/tests/helpers/datamap.py"
timeout 60 "$VDISK" map --json "$(U delay.sock)" > m1.json
timeout 60 nbdinfo --map --json "$(U delay.sock)" > m2.json
check "vdisk map (async block status) agrees with nbdinfo --map" \
  bash -c "[ \"\$(python3 $DATAMAP m1.json)\" = \"\$(python3 $DATAMAP m2.json)\" ] && [ \"\$(python3 $DATAMAP m1.json)\" != '[]' ]"
# bounded memory: the read-ahead window and the requests in flight, not
# the size of the export
if [ -x /usr/bin/time ] && ! ldd "$VDISK" 2>/dev/null | grep -q libasan; then
  /usr/bin/time -f '%M' -o rss.txt timeout 60 "$VDISK" cat --raw "$(U delay.sock)" > /dev/null
  check "vdisk cat of 48 MiB stays under 40 MiB of memory ($(cat rss.txt) KiB)" test "$(cat rss.txt)" -lt 40960
fi

# ---- one request in fifty fails ----
timeout 120 "$STRESS" "$(U err.sock)" d.raw 4 150 > s2.txt 2>&1
rc=$?; sed 's/^/# /' s2.txt
check "error filter: every read that succeeded is correct" bash -c "[ $rc = 0 ] && grep -q 'mismatched 0' s2.txt"
check "error filter: failures were reported" grep -Eq 'failed [1-9]' s2.txt
check "error filter: each failure names the offset" grep -q 'nomessage 0' s2.txt
check "error filter: the message names the URI and offset" grep -q "FAILMSG .*err.sock.*read at offset [0-9]* failed" s2.txt
# a failed read-ahead is read again when asked for: a failure the caller
# sees is one of its own reads (one in two here, so some surely fail)
timeout 60 "$VDISK" cat --raw "$(U err20.sock)" > /dev/null 2> cat.err
rc=$?
check "vdisk cat under the error filter fails (exit $rc), does not hang" bash -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "vdisk cat says which request failed" grep -Eq "(read|block status) at offset [0-9]+ failed" cat.err
VDISK_NBD_READAHEAD=0 timeout 60 "$VDISK" cat --raw "$(U err20.sock)" > /dev/null 2> cat.err
rc=$?
check "... also without read-ahead (exit $rc)" bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -Eq '(read|block status) at offset [0-9]+ failed' cat.err"
timeout 120 "$STRESS" "$(U w.sock)" wref.raw 4 150 write > s3.txt 2>&1
rc=$?; sed 's/^/# /' s3.txt
check "error filter, reads and writes in flight together: all correct" bash -c "[ $rc = 0 ] && grep -q 'mismatched 0' s3.txt"
check "the served file equals the reference (no write landed elsewhere)" cmp -s w.raw wref.raw

# ---- sequential writes in flight (write-behind) ----
# 1 MiB writes return once queued: many requests in flight on one
# connection (a synchronous client has one), the data lands in order,
# a failed write is reported by a later call or the flush (close), and
# nothing hangs
pattern wdata.bin $((24 << 20)) 5
truncate -s 24M wseq.raw
check "nbdkit (writable, delay filter) starts" \
  serve "$WORK/wd.sock" wseq.raw "--filter=delay" delay-read=2ms delay-write=2ms
VDISK_NBD_CONNECTIONS=1 VDISK_NBD_STATS=1 timeout 60 "$VDISK" write -o 0 -f wdata.bin "$(U wd.sock)" 2> wst.txt
rc=$?; sed 's/^/# /' wst.txt
check "vdisk write of 24 MiB over NBD succeeds (exit $rc)" test "$rc" = 0
check "the served file holds the bytes written, in order" cmp -s wseq.raw wdata.bin
inflight=$(sed -n 's/.*most in flight on one connection \([0-9]*\).*/\1/p' wst.txt)
# (a synchronous client has 1; the count depends on how fast the writes
# come, so a loaded machine sees fewer than the usual 10-14)
check "sequential 1 MiB writes had several requests in flight ($inflight)" test "${inflight:-0}" -ge 4
truncate -s 24M wfail.raw
check "nbdkit (writable, writes fail 30%) starts" \
  serve "$WORK/wf.sock" wfail.raw "--filter=error --filter=delay" delay-write=1ms error=EIO error-pwrite-rate=30%
timeout 60 "$VDISK" write -o 0 -f wdata.bin "$(U wf.sock)" 2> wf.err
rc=$?
check "vdisk write under failing writes fails (exit $rc), does not hang" bash -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "... and says which write failed" grep -Eq "write at offset [0-9]+ failed" wf.err
head -c 4096 wdata.bin > small.bin
check "nbdkit (writable, every write fails) starts" \
  serve "$WORK/wf1.sock" wfail.raw "--filter=error" error=EIO error-pwrite-rate=100%
timeout 60 "$VDISK" write -o 0 -f small.bin "$(U wf1.sock)" 2> wf1.err
rc=$?
check "a single failed write is reported at the flush (exit $rc)" bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -Eq 'write at offset 0 failed' wf1.err"

# ---- vdisk upload (a create: export) over several connections ----
# the extra connections open the disk the first one made (PATH), never
# create:...:PATH again (the server would refuse "already exists")
find_plugin
if [ -n "$plugin" ]; then
  mkdir -p ds
  VDISK_NBDKIT_PLUGIN=$plugin start_server pidfile "$WORK/v.pid" \
    "$VDISK" serve --unix "$WORK/v.sock" --pidfile "$WORK/v.pid" ds 2> serve.log
  "$VDISK" create -s 8M src.vmdk >/dev/null
  python3 -c "open('part.bin','wb').write(open('d.raw','rb').read(3<<20))"
  "$VDISK" write -o 0 -f part.bin src.vmdk >/dev/null
  VDISK_NBD_STATS=1 timeout 60 "$VDISK" upload src.vmdk "nbd+unix:///up.vmdk?socket=$WORK/v.sock" 2> up.err
  rc=$?
  sed 's/^/# /' up.err
  check "vdisk upload over NBD succeeds (exit $rc)" test "$rc" = 0
  "$VDISK" cat src.vmdk > src.raw
  check "the uploaded disk reads back identical" bash -c "'$VDISK' cat 'nbd+unix:///up.vmdk?socket=$WORK/v.sock' | cmp -s - src.raw"
  # a busy client of a create: export: random reads and writes from 4
  # threads make it open more connections
  truncate -s 16M zero.raw
  VDISK_NBD_STATS=1 timeout 120 "$STRESS" "nbd+unix:///create:thin:16777216:up2.vmdk?socket=$WORK/v.sock" \
    zero.raw 4 60 write > s4.txt 2> st4.txt
  rc=$?; sed 's/^/# /' s4.txt st4.txt
  check "create: export, 4 threads reading and writing: all correct" bash -c "[ $rc = 0 ] && grep -q 'mismatched 0' s4.txt"
  check "... over several connections" grep -Eq 'up2.vmdk.*connections [2-8]' st4.txt
  check "no connection tried to create the disk again" bash -c "! grep -q 'already exists' serve.log"
else
  echo "# no uninstrumented nbdkit-vdisk-plugin.so: upload checks skipped"
fi
done_testing
