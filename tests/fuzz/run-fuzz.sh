#!/bin/bash
# Run libFuzzer targets for a while each and print executions, coverage
# and CPU time.  Usage: run-fuzz.sh FUZZ_O SECONDS JOBS TARGET...
# (called by make fuzz; see mk/fuzz.mk).  Every run appends "wall-seconds
# cpu-seconds executions" to FUZZ_O/logs/TARGET.history; the totals over
# all runs are printed at the end.
set -u
o=$1 secs=$2 jobs=$3; shift 3
top=$PWD
mkdir -p "$o/artifacts" "$o/logs"
printf '%-11s %6s %7s %10s %8s %6s %7s %s\n' target wall cpu execs exec/s cov ft crashes
run_one() {
  local t=$1 work="$o/corpus/$t" log="$o/logs/$t.log" tf="$o/logs/$t.time"
  mkdir -p "$work" "$o/run-$t"
  # a scratch folder as working directory: a rewrite of a descriptor
  # through the in-memory file system may touch the real folder
  ( cd "$o/run-$t" && exec /usr/bin/time -f '%e %U %S' -o "$top/$tf" \
      "$top/$o/fuzz-$t" -max_total_time="$secs" \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -print_final_stats=1 -artifact_prefix="$top/$o/artifacts/$t-" \
      "$top/$work" "$top/tests/fuzz/corpus/$t" ) >"$log" 2>&1
  local execs cov ft rate crashes wall cpu
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  crashes=$(grep -cE '^==[0-9]+==ERROR|deadly signal|Test unit written' "$log")
  read -r wall u s < <(tail -1 "$tf" 2>/dev/null) || true
  cpu=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { printf "%d", u + s }')
  echo "${wall%.*} $cpu ${execs:-0}" >> "$o/logs/$t.history"
  printf '%-11s %6s %7s %10s %8s %6s %7s %s\n' "$t" "${wall%.*}" "$cpu" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
}
running=0
for t in "$@"; do
  run_one "$t" &
  running=$((running+1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running-1)); fi
done
wait
echo "totals over all runs (wall s, CPU s, executions) per target:"
for t in "$@"; do
  [ -f "$o/logs/$t.history" ] && awk -v t="$t" 'NF == 3 {w+=$1; c+=$2; e+=$3} END {printf "  %-11s %6d s wall %6d s CPU %10d execs\n", t, w, c, e}' "$o/logs/$t.history"
done
ls "$o/artifacts" 2>/dev/null | sed 's/^/artifact: /'
