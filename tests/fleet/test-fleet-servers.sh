#!/bin/bash
# Fleets (issue 18): three `vdisk serve` datastores on Unix sockets stand
# for three hosts (TLS-PSK), 60 VM disks in all (sparse, flat, chains,
# split, stream), 5 with a planted EICAR signature.
#  - vdisk inventory lists each of the 60 exactly once (chain parents,
#    which the servers list too, are left out);
#  - every shard of N=7, run as separate processes at once (the job engine
#    simulated), writes one result per disk: every disk once, exactly the
#    5 infected ones, at the sectors where they were planted;
#  - the merged report (vdisk report) equals an unsharded run and the
#    plain `vdisk scan --host` of each server;
#  - a shard killed (SIGKILL) mid-way and run again finishes the job
#    without scanning again the disks it had finished;
#  - --per-host 1: at no moment do two shards read from one server (from
#    the servers' connection logs); without it they do;
#  - vdisk backup --manifest of local VM folders in 2 shards: every disk
#    done, the repositories verify.
source "$(dirname "$0")/../functions.sh"
requires nbdkit timeout python3
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
DB="$VDISK_TOP/tests/scan/db"
cd "$WORK"
M=$((1<<20))
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin
pattern rnd.bin 65536 5

# ---- the datastores: 20 VM disks each ----
# disk k of host h: VM folder vmHH-KK, one disk; layout by k
: > planted.txt                 # URI-less: host export sector
for h in 1 2 3; do
  for k in $(seq -w 1 20); do
    vm=vm$h-$k; d=ds$h/$vm; mkdir -p "$d"
    case $((10#$k % 5)) in
      0) "$VDISK" create -s 4M "$d/$vm.vmdk" >/dev/null ;;
      1) "$VDISK" create -t monolithicFlat -s 2M "$d/$vm.vmdk" >/dev/null ;;
      2) "$VDISK" create -t twoGbMaxExtentSparse -s 4M "$d/$vm.vmdk" >/dev/null ;;
      3) "$VDISK" create -s 4M "$d/$vm-base.vmdk" >/dev/null ;;  # a chain
      4) "$VDISK" create -s 4M "src-$vm.vmdk" >/dev/null ;;      # a stream
    esac
    target=$d/$vm.vmdk
    [ $((10#$k % 5)) = 3 ] && target=$d/$vm-base.vmdk
    [ $((10#$k % 5)) = 4 ] && target=src-$vm.vmdk
    # 1..4 blocks of data: the disks differ in allocated bytes
    for j in $(seq 1 $((10#$k % 4 + 1))); do
      "$VDISK" write -o $((j * 256 * 1024)) -f rnd.bin "$target" >/dev/null
    done
    # five infected disks, one of each layout
    inf=""
    case $h-$k in
      1-05) inf=$((3 * M + 777)) ;;       # sparse
      1-11) inf=$((1 * M + 4000)) ;;      # flat
      2-07) inf=$((2 * M - 30)) ;;        # split, across a grain
      2-13) inf=$((3 * M + 100)) ;;       # chain: in the base
      3-09) inf=$((1 * M + 512)) ;;       # stream
    esac
    [ -n "$inf" ] && "$VDISK" write -o "$inf" -f eicar.bin "$target" >/dev/null \
      && echo "$h $vm/$vm.vmdk $((inf / 512)) $(((inf + 67) / 512))" >> planted.txt
    if [ $((10#$k % 5)) = 3 ]; then
      "$VDISK" child "$d/$vm-base.vmdk" "$d/$vm.vmdk" >/dev/null
      "$VDISK" write -o $((2 * M)) -f rnd.bin "$d/$vm.vmdk" >/dev/null   # not over the signature
      [ -n "$inf" ] && "$VDISK" write -o 0 -f rnd.bin "$d/$vm.vmdk" >/dev/null
    fi
    if [ $((10#$k % 5)) = 4 ]; then
      "$VDISK" convert -t streamOptimized "src-$vm.vmdk" "$d/$vm.vmdk" >/dev/null
      rm -f "src-$vm.vmdk"
    fi
    printf 'displayName = "%s"\nscsi0:0.fileName = "%s.vmdk"\n' "$vm" "$vm" > "$d/$vm.vmx"
  done
done
check "5 signatures planted" test "$(wc -l < planted.txt)" = 5
# the chain with the signature in its base: check it reads through
check "60 disks made" test "$(find ds1 ds2 ds3 -name 'vm*.vmx' | wc -l)" = 60

echo secret | "$VDISK" user add --password-stdin users.psk fleet
export VDISK_NBD_USER=fleet VDISK_NBD_PASSWORD=secret
serve_host() {  # serve_host N
  local n=$1
  rm -f "s$n.sock" "pid$n"
  start_server pidfile "$WORK/pid$n" "$VDISK" serve --verbose --tls-psk users.psk \
    --unix "$WORK/s$n.sock" --pidfile "$WORK/pid$n" "ds$n" 2>"serve$n.log" && return 0
  echo "# server $n did not start:"; sed 's/^/# /' "serve$n.log" | tail -5; return 1
}
for n in 1 2 3; do check "vdisk serve (host $n) starts" serve_host $n; done
U() { echo "nbds+unix://fleet@/?socket=$WORK/s$1.sock"; }

# ---- inventory ----
timeout 300 "$VDISK" inventory "$(U 1)" "$(U 2)" "$(U 3)" > m.jsonl 2>inv.err
check "vdisk inventory of the three servers succeeds" test -s m.jsonl
sed 's/^/# /' inv.err
cat > manifest.py <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ids = [d["id"] for d in lines]; uris = [d["uri"] for d in lines]
hosts = {}
for d in lines: hosts.setdefault(d["host"], []).append(d)
exports = sorted(u.split("?")[0].split("@/", 1)[1] for u in uris)
want = sorted("vm%d-%02d/vm%d-%02d.vmdk" % (h, k, h, k) for h in (1, 2, 3) for k in range(1, 21))
ok = (len(lines) == 60 and len(set(ids)) == 60 and len(set(uris)) == 60
      and len(hosts) == 3 and all(len(v) == 20 for v in hosts.values())
      and exports == want)
chains = [d for d in lines if d["uri"].split("?")[0].endswith(("-03.vmdk", "-08.vmdk", "-13.vmdk", "-18.vmdk"))]
ok_depth = all(d["depth"] == 2 for d in chains) and len(chains) == 12 \
    and all(d["depth"] == 1 for d in lines if d not in chains)
ok_alloc = all(d["allocated"] > 0 and d["capacity"] >= d["allocated"] for d in lines)
print("# %d disks, %d IDs, %d hosts, exports as made: %s, depths %s, allocated %s"
      % (len(lines), len(set(ids)), len(hosts), exports == want, ok_depth, ok_alloc))
sys.exit(0 if ok and ok_depth and ok_alloc else 1)
PY
check "inventory: all 60 disks exactly once (3 hosts x 20, no chain parent, depths, sizes)" python3 manifest.py m.jsonl

# ---- 7 shards at once ----
mark_logs() { for n in 1 2 3; do wc -l < "serve$n.log"; done > "$1"; }
run_shards() {  # run_shards OUTDIR N EXTRA...: every shard, all at once
  local out=$1 n=$2; shift 2
  local pids=() i rc=0
  for i in $(seq 0 $((n - 1))); do
    timeout 300 "$VDISK" scan --db "$DB" --manifest m.jsonl --out "$out" --shard "$i/$n" "$@" \
      > "$out.$i.txt" 2> "$out.$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { rc=1; echo "# shard $i failed:"; sed 's/^/# /' "$out.$i.err" | tail -3; }; done
  return $rc
}
mark_logs before7.txt
check "7 shards, run at once, all exit 0" run_shards r7 7
mark_logs after7.txt
check "each shard says which disks it has" bash -c 'for i in 0 1 2 3 4 5 6; do grep -q "shard $i/7: [0-9]* of 60 disks" r7.$i.err || exit 1; done'
check "the shards together ran every disk exactly once" bash -c \
  "[ \"\$(cat r7.[0-6].txt | awk '{print \$1}' | sort | uniq -d | wc -l)\" = 0 ] && [ \"\$(cat r7.[0-6].txt | wc -l)\" = 60 ]"
check "60 results (one JSON per disk)" test "$(ls r7/*.json | wc -l)" = 60
timeout 60 "$VDISK" report --json r7 > rep7.json; rc=$?
check "vdisk report exits 1 (infected disks found)" test "$rc" = 1
timeout 60 "$VDISK" report r7 > rep7.txt
sed 's/^/# /' rep7.txt
cat > infected.py <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
planted = {}
for l in open(sys.argv[2]):
    h, exp, a, b = l.split()
    planted[exp] = (int(a), int(b))
inf = {}
for d in rep["disks"]:
    if d["status"] == "infected":
        inf[d["uri"].split("?")[0].split("@/", 1)[1]] = d["id"]
hits = {}
for x in rep["hits"]:
    hits.setdefault(x["id"], []).append((x["first_sector"], x["last_sector"]))
t = rep["totals"]
ok = (t["disks"] == 60 and t["done"] == 60 and t["missing"] == 0 and t["failed"] == 0
      and t["infected"] == 5 and sorted(inf) == sorted(planted)
      and all(hits.get(inf[e]) == [planted[e]] for e in planted)
      and rep["not_done"] == [])
print("# totals %s; infected %s" % (t, sorted(inf)))
sys.exit(0 if ok else 1)
PY
check "report: exactly the 5 planted disks infected, at their sectors; 60 done" python3 infected.py rep7.json planted.txt
check "every result names this vdisk's version and its shard" python3 -c "
import json,glob,sys
v=[json.load(open(f)) for f in glob.glob('r7/*.json')]
sys.exit(0 if all(x['vdisk_version'] and x['shard'].endswith('/7') and x['job']=='scan' and 'bytes_read' in x for x in v) else 1)"

# ---- the same job unsharded, and plain scan --host ----
check "the unsharded run (1/1) succeeds" run_shards r1 1
timeout 60 "$VDISK" report --json r1 > rep1.json
cat > same.py <<'PY'
import json, sys
def key(path):
    r = json.load(open(path))
    return sorted((d["id"], d["status"], d["hits"]) for d in r["disks"]), \
           sorted((h["id"], h["name"], h["first_sector"], h["last_sector"]) for h in r["hits"])
sys.exit(0 if key(sys.argv[1]) == key(sys.argv[2]) else 1)
PY
check "the merged report of 7 shards equals the unsharded run" python3 same.py rep7.json rep1.json
for n in 1 2 3; do timeout 300 "$VDISK" scan --db "$DB" --json --host "$(U $n)" > host$n.json 2>/dev/null; done
cat > vshost.py <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
mine = {}
for d in rep["disks"]:
    mine[d["uri"].split("?")[0].split("@/", 1)[1]] = d["status"]
hits = sorted((h["uri"].split("?")[0].split("@/", 1)[1], h["first_sector"], h["last_sector"]) for h in rep["hits"])
theirs, th = {}, []
for f in sys.argv[2:]:
    for d in json.load(open(f))["disks"]:
        e = d["disk"].split("?")[0].split("@/", 1)[1]
        if e.endswith("-base.vmdk"): continue   # scan --host also reads chain parents
        theirs[e] = d["status"]
        th += [(e, x["first_sector"], x["last_sector"]) for x in d["hits"]]
sys.exit(0 if mine == theirs and hits == sorted(th) else 1)
PY
check "the merged report equals plain vdisk scan --host of the three servers" python3 vshost.py rep7.json host1.json host2.json host3.json

# ---- a shard killed mid-way, run again ----
# a slow door to host 1 (nbdkit's delay filter in front of the same plugin)
# so the shard is still working when it is killed
rm -f slow.sock
start_server pidfile "$WORK/pidslow" nbdkit --foreground --tls=require --tls-psk users.psk \
  -U "$WORK/slow.sock" --pidfile "$WORK/pidslow" --filter=delay "$plugin" dir="$WORK/ds1" \
  delay-read=40ms 2>slow.log
sed "s|s1.sock|slow.sock|g" m.jsonl > mslow.jsonl
# the shard of 7 with the most disks of host 1
k=$(for i in 0 1 2 3 4 5 6; do echo "$(grep -c 's1.sock' r7.$i.txt) $i"; done | sort -rn | head -1 | cut -d' ' -f2)
total=$(wc -l < r7.$k.txt)
mkdir kill
# (exec: $! is vdisk itself, not a wrapper that would leave it running)
( exec "$VDISK" scan --db "$DB" --manifest mslow.jsonl --out kill --shard "$k/7" > kill.1.txt 2>kill.1.err ) &
kp=$!
for _ in $(seq 600); do [ "$(ls kill/*.json 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
kill -9 $kp 2>/dev/null; wait $kp 2>/dev/null
sleep 0.2
before=$(ls kill/*.json 2>/dev/null | wc -l)
check "the shard was killed mid-way ($before of $total disks had results)" bash -c "[ $before -ge 1 ] && [ $before -lt $total ]"
check "no half-written result is visible (only whole JSON documents)" python3 -c "
import json,glob; [json.load(open(f)) for f in glob.glob('kill/*.json')]"
ls -i kill/*.json | sort > inodes.before
timeout 300 "$VDISK" scan --db "$DB" --manifest mslow.jsonl --out kill --shard "$k/7" > kill.2.txt 2>kill.2.err
check "the rerun of the shard exits 0" test $? = 0
check "the rerun skipped the $before finished disks" test "$(grep -c '(done before)' kill.2.txt)" = "$before"
check "the rerun scanned only the others" test "$(grep -vc '(done before)' kill.2.txt)" = $((total - before))
check "the finished results were not rewritten" bash -c "ls -i kill/*.json | sort | grep -Fxf inodes.before | wc -l | grep -qx $before"
check "after the rerun the shard has all $total results" test "$(ls kill/*.json | wc -l)" = "$total"
check "the killed-and-rerun shard found what the first run found" bash -c \
  "for f in kill/*.json; do python3 -c \"import json,sys; a=json.load(open('\$f')); b=json.load(open('r7/'+a['id']+'.json')); sys.exit(0 if (a['status'],a['hits'])==(b['status'],b['hits']) else 1)\" || exit 1; done"

# ---- --per-host 1: never two shards on one server at once ----
mark_logs beforeK.txt
check "7 shards with --per-host 1 all exit 0" run_shards rk 7 --per-host 1
mark_logs afterK.txt
timeout 60 "$VDISK" report --json rk > repk.json
check "--per-host 1: the same report" python3 same.py rep7.json repk.json
check "--per-host 1: the disks of each host went to one shard" python3 -c "
import json,glob,sys
by={}
for f in glob.glob('rk/*.json'):
    r=json.load(open(f)); by.setdefault(r['host'],set()).add(r['shard'])
sys.exit(0 if len(by)==3 and all(len(v)==1 for v in by.values()) else 1)"
cat > overlap.py <<'PY'
# Connections of a server's log between two line numbers: which shard
# each belongs to (by the export it opened, from the results), and the
# most shards that had a connection open at one moment.
import json, glob, re, sys
log, start, end, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
shard_of = {}
for f in glob.glob(outdir + "/*.json"):
    r = json.load(open(f))
    shard_of[r["uri"].split("?")[0].split("@/", 1)[1]] = r["shard"]
lines = open(log, errors="replace").read().split("\n")[start:end]
open_re = re.compile(r'\[(\d+)\]: debug: vdisk: open .*exportname="([^"]*)"')
close_re = re.compile(r'\[(\d+)\]: debug: vdisk: close')
active, most, unknown = {}, 0, 0
for l in lines:
    m = open_re.search(l)
    if m:
        exp = re.sub(r"^(meta|status):", "", m.group(2))
        s = shard_of.get(exp)
        if s is None: unknown += 1; continue
        active[m.group(1)] = s
        most = max(most, len(set(active.values())))
        continue
    m = close_re.search(l)
    if m: active.pop(m.group(1), None)
print(most)
PY
for n in 1 2 3; do
  a=$(sed -n ${n}p beforeK.txt); b=$(sed -n ${n}p afterK.txt)
  most=$(python3 overlap.py serve$n.log "$a" "$b" rk)
  check "--per-host 1: at most one shard on server $n at any moment (log: $most)" test "$most" = 1
done
most7=0
for n in 1 2 3; do
  a=$(sed -n ${n}p before7.txt); b=$(sed -n ${n}p after7.txt)
  m=$(python3 overlap.py serve$n.log "$a" "$b" r7)
  [ "$m" -gt "$most7" ] && most7=$m
done
check "without --per-host, the log check does see several shards on one server ($most7)" test "$most7" -ge 2

# ---- shard auto/N from the job engines' variables ----
check "--shard auto/7 takes JOB_COMPLETION_INDEX" bash -c \
  "JOB_COMPLETION_INDEX=3 timeout 120 '$VDISK' scan --db '$DB' --manifest m.jsonl --out r7 --shard auto/7 2>&1 | grep -q 'shard 3/7'"
check "--shard auto/7 takes SLURM_ARRAY_TASK_ID" bash -c \
  "SLURM_ARRAY_TASK_ID=5 timeout 120 '$VDISK' scan --db '$DB' --manifest m.jsonl --out r7 --shard auto/7 2>&1 | grep -q 'shard 5/7'"
check "--shard auto/7 without either is refused" bash -c \
  "! env -u JOB_COMPLETION_INDEX -u SLURM_ARRAY_TASK_ID '$VDISK' scan --db '$DB' --manifest m.jsonl --out r7 --shard auto/7 2>/dev/null"
check "--shard 7/7 is refused" bash -c "! '$VDISK' scan --db '$DB' --manifest m.jsonl --out r7 --shard 7/7 2>/dev/null"
check "a re-run of a finished shard scans nothing" bash -c \
  "timeout 120 '$VDISK' scan --db '$DB' --manifest m.jsonl --out r7 --shard 2/7 | grep -vc '(done before)' | grep -qx 0"

# ---- report: disks not done, failures ----
mkdir part; cp r7/$(head -1 m.jsonl | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])').json part/
timeout 60 "$VDISK" report --manifest m.jsonl part > part.txt; rc=$?
check "report of a partial job: exit 2, 59 not done" bash -c "[ $rc = 2 ] && grep -q '59 not done' part.txt && [ \$(grep -c 'NOT DONE' part.txt) = 59 ]"
printf '{"id":"d1","uri":"/nonexistent/x.vmdk","host":"h","allocated":1}\n' > bad.jsonl
timeout 60 "$VDISK" scan --db "$DB" --manifest bad.jsonl --out badout > /dev/null 2>&1; rc=$?
timeout 60 "$VDISK" report badout > bad.txt; rc2=$?
check "a disk that cannot be opened: shard exit 2, report FAILED with the reason, exit 2" \
  bash -c "[ $rc = 2 ] && [ $rc2 = 2 ] && grep -q 'FAILED: .*nonexistent' bad.txt"
printf '{"id":"d1","uri":"a"}\n{"id":"d1","uri":"b"}\n' > dup.jsonl
"$VDISK" scan --db "$DB" --manifest dup.jsonl --out dupout > /dev/null 2> dup.err; rc=$?
check "a manifest listing an ID twice is refused (exit $rc), naming the line" \
  bash -c "[ $rc = 2 ] && grep -q 'line 2: disk d1 is listed twice' dup.err"
printf '{"id":"../x","uri":"a"}\n' > evil.jsonl
check "a manifest ID that is not a plain name is refused" bash -c \
  "! '$VDISK' scan --db '$DB' --manifest evil.jsonl --out evilout 2>/dev/null && [ ! -e x.json ]"
stop_server

# ---- backup --manifest: local VM folders ----
mkdir -p vms
for v in a b c; do
  mkdir -p vms/$v
  "$VDISK" create -s 2M vms/$v/$v.vmdk >/dev/null
  "$VDISK" write -o 4096 -f rnd.bin vms/$v/$v.vmdk >/dev/null
  printf 'displayName = "%s"\nscsi0:0.fileName = "%s.vmdk"\n' $v $v > vms/$v/$v.vmx
done
"$VDISK" create -s 2M vms/c/c2.vmdk >/dev/null
printf 'scsi0:1.fileName = "c2.vmdk"\n' >> vms/c/c.vmx
timeout 60 "$VDISK" inventory vms > mb.jsonl
check "inventory of a VM folder: 4 disks" test "$(wc -l < mb.jsonl)" = 4
check "backup --manifest, 2 shards" bash -c \
  "timeout 120 '$VDISK' backup --manifest mb.jsonl --out bk --shard 0/2 >/dev/null 2>&1 && timeout 120 '$VDISK' backup --manifest mb.jsonl --out bk --shard 1/2 >/dev/null 2>&1"
timeout 60 "$VDISK" report bk > bk.txt; rc=$?
sed 's/^/# /' bk.txt
check "backup report: 4 disks done, exit 0" bash -c "[ $rc = 0 ] && grep -q '4 disks: 4 done' bk.txt"
check "three repositories, each verifies" bash -c \
  "[ \$(ls bk/repo | wc -l) = 3 ] && for r in bk/repo/*; do '$VDISK' backup verify \$r >/dev/null || exit 1; done"
done_testing
