#!/bin/bash
# bench-fleet (issue 18):
#  1. remote reads over a WAN-like link: a 2 GiB half-allocated raw disk
#     (1 MiB of data, 1 MiB of hole, ...) served by nbdkit's file plugin
#     behind the delay filter (2 ms per read and per block status), on a
#     Unix socket.  `vdisk cat nbd+unix://...` against `nbdcopy` of the
#     same export (both skip the holes; target >= 0.9x nbdcopy) and against
#     the synchronous client of the base commit, built from git history in
#     a temporary worktree (target >= 5x).
#  2. the sharded scan of a 60-disk fleet (3 `vdisk serve` datastores) with
#     N = 1, 2, 4 shards at once: seconds per shard and in total (two cores
#     cap the speed-up).
#   VDISK_BUILD=build/release bench/bench-fleet.sh
#   BENCH_FLEET_SIZE=2G  BENCH_FLEET_BASE=<commit of the old client>
#   BENCH_FLEET_OLD=<a vdisk binary with the old client: no build>
#   BENCH_FLEET_SCAN=0 (part 1 only)
# Like with like: to null (nbdcopy's null: against vdisk cat >/dev/null:
# neither reads the holes) and to a regular file (both write sparsely).
set -u
cd "$(dirname "$0")/.."
top=$PWD
B=${VDISK_BUILD:-build/release}
VDISK=$top/$B/bin/vdisk
export VDISK_NBDKIT_PLUGIN=${VDISK_NBDKIT_PLUGIN:-$top/$B/plugins/nbdkit-vdisk-plugin.so}
for c in nbdkit nbdcopy python3 git; do
  command -v $c >/dev/null || { echo "skip: $c missing"; exit 77; }
done
[ -x "$VDISK" ] && [ -e "$VDISK_NBDKIT_PLUGIN" ] || { echo "skip: build first"; exit 77; }
W=$(mktemp -d /tmp/bench-fleet.XXXXXX)
OLD=$W/old
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null
  git worktree remove --force "$OLD" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "print('%.3f' % ($2 - $1))"; }

# ---- the old synchronous client, from git history ----
# the commit before the one that made the client asynchronous (no merge
# commits: their messages quote it)
base=${BENCH_FLEET_BASE:-$(git log --no-merges --format=%H --grep='^io-nbd: asynchronous NBD client' | tail -1)}
[ -n "$base" ] && base=$(git rev-parse "$base^" 2>/dev/null)
old_vdisk=${BENCH_FLEET_OLD:-}
if [ -n "$old_vdisk" ]; then
  echo "(old client: $old_vdisk)"
elif [ -n "$base" ] && git worktree add --detach "$OLD" "$base" >/dev/null 2>&1; then
  echo "building the synchronous client of $(git log --format='%h %s' -n 1 "$base" | cut -c1-60) ..."
  if nice make -C "$OLD" -j2 BOOTSTRAP=0 O=build/release build >"$W/old-build.log" 2>&1; then
    old_vdisk=$OLD/build/release/bin/vdisk
  else
    echo "(the old client did not build: $(tail -1 "$W/old-build.log"))"
  fi
else
  echo "(no base commit for the old client)"
fi

# ---- 1. one disk over a slow link ----
size=${BENCH_FLEET_SIZE:-2G}
python3 - "$W/d.raw" "$size" <<'PY'
import os, sys
s = sys.argv[2]
n = int(s[:-1]) << 30 if s.endswith('G') else int(s[:-1]) << 20 if s.endswith('M') else int(s)
blk = os.urandom(1 << 20)
with open(sys.argv[1], 'wb') as f:
    f.truncate(n)
    for i in range(0, n >> 20, 2):             # every other MiB
        f.seek(i << 20); f.write(blk[i % 89:] + blk[:i % 89])
PY
S=$W/d.sock
nbdkit --exit-with-parent -U "$S" --filter=delay file "$W/d.raw" \
  delay-read=2ms delay-extents=2ms >"$W/nbdkit.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done
U="nbd+unix:///?socket=$S"
data=$(python3 -c "import os; print(os.stat('$W/d.raw').st_blocks * 512)")
row() {  # row NAME SECONDS
  python3 -c "s=float('$2'); print('%-34s %8.3f s %9.1f MB/s of data' % ('$1', s, $data/1e6/s if s else 0))"
}
# The machine is shared: the runs alternate (nbdcopy, vdisk, old client),
# three rounds, and the best of each is kept.
t_one() {  # t_one COMMAND... -> WALL/CPU seconds (CPU: user+sys of the command)
  local t0 t1 c
  t0=$(now); "$@" > /dev/null || { echo 0; return; }; t1=$(now)
  times > "$W/tms"       # (in this shell: a pipe would run it in a child)
  c=$(tail -1 "$W/tms")  # the children's user and system time: "0m0.12s 0m0.34s"
  python3 - "$t0" "$t1" "$c" <<'PY2'
import re, sys
cpu = sum(int(m) * 60 + float(s) for m, s in re.findall(r'(\d+)m([\d.]+)s', sys.argv[3]))
print('%.3f/%.2f' % (float(sys.argv[2]) - float(sys.argv[1]), cpu))
PY2
}
best() { python3 -c "import sys; v=[float(x.split('/')[0]) for x in sys.argv[1:] if float(x.split('/')[0]) > 0]; print(min(v) if v else 0)" "$@"; }
echo
echo "== $size half-allocated disk, nbdkit file + delay filter (2 ms per request) =="
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$VDISK" cat --raw "$U" | cmp -s - "$W/d.raw" && echo "(vdisk cat output = the file, byte for byte)"
to_file() { local o=$1; shift; "$@" > "$o"; }
tn=() tv=() to=() tnf=() tvf=()
for round in 1 2 3; do
  tn+=("$(t_one nbdcopy "$U" null:)")
  tv+=("$(t_one "$VDISK" cat --raw "$U")")
  rm -f "$W/o.raw"; tnf+=("$(t_one nbdcopy "$U" "$W/o.raw")")
  rm -f "$W/o.raw"; tvf+=("$(t_one to_file "$W/o.raw" "$VDISK" cat --raw "$U")")
  [ -n "$old_vdisk" ] && [ "$round" -le 1 ] && to+=("$(t_one "$old_vdisk" cat --raw "$U")")
done
rm -f "$W/o.raw"
echo "(each run: wall/CPU seconds, CPU = user+sys of the client; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "to null: nbdcopy: ${tn[*]} s; vdisk: ${tv[*]} s; old client: ${to[*]:-} s"
echo "to a file: nbdcopy: ${tnf[*]} s; vdisk: ${tvf[*]} s"
t_nbdcopy=$(best "${tn[@]}")
t_new=$(best "${tv[@]}")
t_nbdcopy_f=$(best "${tnf[@]}")
t_new_f=$(best "${tvf[@]}")
[ ${#to[@]} -gt 0 ] && t_old=$(best "${to[@]}")
row "nbdcopy URI null:" "$t_nbdcopy"
row "vdisk cat URI >/dev/null" "$t_new"
row "nbdcopy URI FILE (sparse)" "$t_nbdcopy_f"
row "vdisk cat URI >FILE (sparse)" "$t_new_f"
VDISK_NBD_STATS=1 "$VDISK" cat --raw "$U" 2>&1 >/dev/null | sed 's/^/   /'
if [ -n "${t_old:-}" ]; then
  row "vdisk cat URI (synchronous, $(git rev-parse --short "$base"))" "$t_old"
fi
python3 - "$t_nbdcopy" "$t_new" "${t_old:-0}" "$t_nbdcopy_f" "$t_new_f" <<'PY'
import sys
n, new, old, nf, newf = map(float, sys.argv[1:])
print("vdisk / nbdcopy speed, to null: %.2fx (target >= 0.9x)" % (n / new if new else 0))
print("vdisk / nbdcopy speed, to a file: %.2fx (target >= 0.9x)" % (nf / newf if newf else 0))
if old:
    print("async / synchronous client: %.1fx (target >= 5x)" % (old / new if new else 0))
PY
kill "${pids[0]}" 2>/dev/null
[ "${BENCH_FLEET_SCAN:-1}" = 0 ] && exit 0

# ---- 2. the sharded scan of a 60-disk fleet ----
echo
echo "== sharded scan of a 60-disk fleet (3 vdisk serve datastores, Unix sockets) =="
pattern() { python3 -c "import random,sys; r=random.Random($3); sys.stdout.buffer.write(r.randbytes($2))" > "$1"; }
pattern "$W/rnd.bin" $((1 << 20)) 1
for h in 1 2 3; do
  for k in $(seq -w 1 20); do
    d=$W/ds$h/vm$h-$k; mkdir -p "$d"
    "$VDISK" create -s 64M "$d/vm$h-$k.vmdk" >/dev/null
    for j in $(seq 1 $((10#$k % 4 + 2))); do
      "$VDISK" write -o $((j * 4 << 20)) -f "$W/rnd.bin" "$d/vm$h-$k.vmdk" >/dev/null
    done
    printf 'displayName = "vm%s-%s"\nscsi0:0.fileName = "vm%s-%s.vmdk"\n' $h $k $h $k > "$d/vm$h-$k.vmx"
  done
  "$VDISK" serve --unix "$W/s$h.sock" --pidfile "$W/pid$h" "$W/ds$h" >/dev/null 2>&1 &
  pids+=($!)
done
for h in 1 2 3; do for _ in $(seq 100); do [ -s "$W/pid$h" ] && break; sleep 0.1; done; done
"$VDISK" inventory "nbd+unix:///?socket=$W/s1.sock" "nbd+unix:///?socket=$W/s2.sock" \
  "nbd+unix:///?socket=$W/s3.sock" > "$W/m.jsonl"
echo "manifest: $(wc -l < "$W/m.jsonl") disks, $(python3 -c "import json; print(sum(json.loads(l)['allocated'] for l in open('$W/m.jsonl'))>>20)") MiB allocated"
DB=$top/tests/scan/db
for n in 1 2 4; do
  out=$W/r$n
  t0=$(now)
  for i in $(seq 0 $((n - 1))); do
    ( s0=$(now); "$VDISK" scan --db "$DB" --threads 1 --manifest "$W/m.jsonl" --out "$out" \
        --shard "$i/$n" >/dev/null 2>&1; s1=$(now); secs "$s0" "$s1" > "$W/x$n.$i"
      mv "$W/x$n.$i" "$W/t$n.$i" ) &
  done
  while [ "$(ls "$W"/t$n.* 2>/dev/null | wc -l)" -lt "$n" ]; do sleep 0.05; done
  t1=$(now)
  per=$(for i in $(seq 0 $((n - 1))); do printf '%s ' "$(cat "$W/t$n.$i")"; done)
  printf 'N=%d  total %7.3f s   per shard: %s  (%s results)\n' "$n" "$(secs "$t0" "$t1")" "$per" \
    "$(ls "$out"/*.json | wc -l)"
done
