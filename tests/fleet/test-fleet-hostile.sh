#!/bin/bash
# Hostile fleet manifests, shard specs and results folders: disk IDs that
# would be paths, huge and malformed lines, duplicate IDs, bad --shard,
# a manifest of 40000 disks (sorted checks, no quadratic hang), a shard of
# 100000 with --per-host (no huge allocation), a results folder with a
# symlinked result.  Each a clear error or a bounded run; nothing written
# outside --out.
. "$(dirname "$0")/../functions.sh"
requires python3 timeout
cd "$WORK"
V=$VDISK
DB="$VDISK_TOP/tests/scan/db"
mkdir keep; echo keep > keep/x.json

bad() {  # DESCRIPTION PATTERN MANIFEST-TEXT
  printf '%s\n' "$3" > m.jsonl; rm -rf out
  timeout 20 $V scan --db "$DB" --manifest m.jsonl --out out >/dev/null 2>err.txt; local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 124 ] && grep -q "$2" err.txt && [ "$(cat keep/x.json)" = keep ] \
     && ! ls out 2>/dev/null | grep -q . && ! grep -q 'AddressSanitizer\|runtime error' err.txt
  then ok "$1"; else not_ok "$1 (rc $rc: $(head -c 300 err.txt))"; fi
}
bad "a disk ID with / is refused" 'needs "id"' '{"id":"../keep/x","uri":"a.vmdk"}'
bad "a disk ID of .. is refused" 'needs "id"' '{"id":"..","uri":"a.vmdk"}'
bad "a disk ID with a NUL escape is refused" 'needs "id"' '{"id":"a\u0000b","uri":"a.vmdk"}'
bad "a line that is not JSON is refused" 'line 2: not a JSON object' '{"id":"a","uri":"a.vmdk"}
{"id":"b",'
bad "deep nesting is refused" 'not a JSON object' "$(python3 -c "print('{\"id\":\"a\",\"uri\":\"u\",\"x\":' + '[' * 5000 + ']' * 5000 + '}')")"
bad "a line over 64 KiB is refused" 'longer than' "$(python3 -c "print('{\"id\":\"a\",\"uri\":\"' + 'u' * 70000 + '\"}')")"
bad "a negative capacity is refused" 'numbers >= 0' '{"id":"a","uri":"a.vmdk","capacity":-1}'
bad "a duplicate ID names both lines" 'line 3: disk a is listed twice (first on line 1)' '{"id":"a","uri":"a.vmdk"}
{"id":"b","uri":"b.vmdk"}
{"id":"a","uri":"c.vmdk"}'

printf '{"id":"a","uri":"a.vmdk"}\n' > m.jsonl
shard() {  # DESCRIPTION SPEC [ENV...]
  local d=$1 s=$2; shift 2; rm -rf out
  env -u JOB_COMPLETION_INDEX -u SLURM_ARRAY_TASK_ID "$@" timeout 20 $V scan --db "$DB" --manifest m.jsonl --out out --shard "$s" >/dev/null 2>err.txt
  local rc=$?
  if [ $rc = 2 ] && grep -q shard err.txt && [ ! -e out ]; then ok "$d"; else not_ok "$d (rc $rc: $(head -c 200 err.txt))"; fi
}
shard "--shard 0/0 is a usage error" 0/0
shard "--shard 5/3 is a usage error" 5/3
shard "--shard -1/4 is a usage error" -1/4
shard "--shard 1/-4 is a usage error" 1/-4
shard "--shard 1/100001 is a usage error" 1/100001
shard "--shard x/4 is a usage error" x/4
shard "--shard / is a usage error" /
shard "--shard auto/4 without the environment is a usage error" auto/4
shard "--shard auto/4 with JOB_COMPLETION_INDEX=4 is a usage error" auto/4 JOB_COMPLETION_INDEX=4
shard "--shard auto/4 with SLURM_ARRAY_TASK_ID=-1 is a usage error" auto/4 SLURM_ARRAY_TASK_ID=-1
# strict numbers: no sign, space or suffix that strtoul would take or skip
for spec in +1/4 ' 1/4' 1/4x 1/+4 '1/ 4' 1/4/4 4/4 1/0 0x1/4 1.0/4 '1/4 ' 1/ auto /4 autox/4 '' 9999999999/4; do
  shard "--shard '$spec' is a usage error" "$spec"
done
shard "--shard auto/4 with JOB_COMPLETION_INDEX=+1 is a usage error" auto/4 JOB_COMPLETION_INDEX=+1
shard "--shard auto/4 with SLURM_ARRAY_TASK_ID=' 1' is a usage error" auto/4 "SLURM_ARRAY_TASK_ID= 1"
rm -rf out
$V scan --db "$DB" --manifest m.jsonl --out out --shard +1/4 >/dev/null 2>err.txt
check "the error quotes the spec and says what is wrong" grep -q '"+1/4": I must be a plain number' err.txt
for spec in 0/4 3/4 0/1; do
  rm -rf out
  env -u JOB_COMPLETION_INDEX -u SLURM_ARRAY_TASK_ID timeout 20 $V scan --db "$DB" --manifest m.jsonl --out out --shard "$spec" >/dev/null 2>err.txt
  check "--shard $spec is accepted (shards count from 0)" test -d out
done
rm -rf out
JOB_COMPLETION_INDEX=3 timeout 20 $V scan --db "$DB" --manifest m.jsonl --out out --shard auto/4 >/dev/null 2>err.txt
check "--shard auto/4 with JOB_COMPLETION_INDEX=3 is accepted" test -d out
for ph in +2 ' 2' 2x 0 -1; do
  rm -rf out
  timeout 20 $V scan --db "$DB" --manifest m.jsonl --out out --per-host "$ph" >/dev/null 2>err.txt
  rc=$?
  check "--per-host '$ph' is a usage error (rc $rc)" bash -c "[ $rc = 2 ] && [ ! -e out ] && grep -q per-host err.txt"
done

# 40000 disks on 40000 hosts: the duplicate check, the host numbering and
# the shard choice are no quadratic hang, --per-host no hosts x shards
# allocation (was 100 s and 4 GB)
python3 -c "
for i in range(40000): print('{\"id\":\"d%d\",\"uri\":\"$WORK/none/%d.vmdk\",\"host\":\"h%d\",\"allocated\":%d}' % (i, i, i, i))" > big.jsonl
mkdir res
check "report of a 40000-disk manifest is quick" bash -c "timeout 20 $V report --manifest big.jsonl res 2>&1 | grep -q '^40000 disks'"
rm -rf out
timeout 20 $V scan --db "$DB" --manifest big.jsonl --out out --shard 0/100000 --per-host 2 >/dev/null 2>err.txt; rc=$?
check "shard 0/100000 --per-host 2 of 40000 hosts runs quickly (rc $rc)" bash -c "[ $rc -lt 124 ] && [ \$(ls out | grep -c '^d.*\.json\$') = 1 ] && test -e out/d39999.json"

# a results folder with a symlinked result and a result of a bad name
mkdir r2; printf '{"id":"a","uri":"a.vmdk"}\n{"id":"b","uri":"b.vmdk"}\n' > r2/manifest.jsonl
echo '{"id":"a","status":"clean"}' > outside.json; ln -s "$WORK/outside.json" r2/a.json
echo '{"status":"clean"}' > 'r2/..json'; echo '[[[[' > r2/b.json
timeout 20 $V report r2 > rep.txt 2>&1; rc=$?
check "report: a symlinked result is not read, a broken one is failed (rc $rc)" bash -c "[ $rc -lt 124 ] && grep -q '2 disks: 0 done' rep.txt && ! grep -q 'AddressSanitizer' rep.txt"
done_testing
