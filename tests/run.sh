#!/bin/bash
# Run every test: the C programs tests/*/test-*.c (built into
# $VDISK_BUILD/tests/) and the shell tests tests/*/test-*.sh, several at a
# time (VDISK_TEST_JOBS, default the number of cores).  A test passes on exit 0, is skipped on exit 77, and
# fails otherwise.  A test that prints TAP lines ("ok N ...", "not ok N ...")
# is counted line by line; one that prints none counts as one check.
# Ends with "N passed, N failed" (checks, not files).
#   tests/run.sh [FILTER]     FILTER: a substring of the test's name
#                             (COMPONENT/test-...; see tests/README.md)
set -u
cd "$(dirname "$0")/.."
top=$PWD
export VDISK_BUILD=${VDISK_BUILD:-build/check}
export VDISK_RELEASE=${VDISK_RELEASE:-build/release}
export VDISK="$top/$VDISK_BUILD/bin/vdisk"
export VDISK_TOP="$top"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}
logdir="$top/$VDISK_BUILD/test-logs"
resdir="$logdir/results"
timings="$top/$VDISK_BUILD/test-times"
mkdir -p "$logdir"
rm -rf "$resdir"; mkdir -p "$resdir"
filter=${1:-}
jobs=${VDISK_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}

# run_one NAME CMD...: runs one test file, prints its line, and leaves
# "passed failed skipped seconds" in $resdir/NAME.
run_one() {
  local name=$1; shift
  local key; key=$(echo "$name" | tr '/' '_')
  local log="$logdir/$key.log"
  local start=$SECONDS rc p=0 f=0 s=0
  timeout 600 "$@" >"$log" 2>&1 </dev/null
  rc=$?
  local oks nots
  oks=$(grep -cE '^ok [0-9]+' "$log")
  nots=$(grep -cE '^not ok [0-9]+' "$log")
  local secs=$((SECONDS-start))
  if [ "$rc" = 77 ]; then
    s=1
    printf 'SKIP %-45s %3ss\n' "$name" "$secs"
  else
    if [ $((oks+nots)) -gt 0 ]; then
      p=$oks; f=$nots
      if [ "$rc" != 0 ] && [ "$nots" = 0 ]; then f=$((f+1)); fi
    elif [ "$rc" = 0 ]; then
      p=1
    else
      f=1
    fi
    if [ "$rc" = 0 ] && [ "$nots" = 0 ]; then
      printf 'PASS %-45s %3ss (%d checks)\n' "$name" "$secs" "$oks"
    else
      # One write, so lines of tests finishing together do not interleave.
      { printf 'FAIL %-45s %3ss (exit %s)\n' "$name" "$secs" "$rc"
        grep -E '^not ok|^# |ERROR|AddressSanitizer|runtime error' "$log" \
          | head -n 15 | sed 's/^/    /'; } | cat
    fi
  fi
  echo "$p $f $s $secs" > "$resdir/$key"
}

# The list: NAME<TAB>COMMAND, longest first (times of the previous run), so
# the slow files do not all end up at the tail.
list=()
# C programs: each tests/COMPONENT/test-*.c is built into
# $VDISK_BUILD/tests/test-* and reported under its source folder
# ("disk/test-disk-geometry"); one not built (an optional part missing) is
# left out, and so is a stale binary whose source is gone.
for src in tests/*/test-*.c; do
  [ -f "$src" ] || continue
  rel=${src#tests/}; name=${rel%.c}
  t=$VDISK_BUILD/tests/$(basename "$name")
  [ -x "$t" ] || continue
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && [[ "$t" != *"$filter"* ]] && continue
  list+=("$name	$t")
done
for t in tests/*/test-*.sh; do
  [ -f "$t" ] || continue
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  list+=("${t#tests/}	bash $t")
done
if [ -f "$timings" ]; then
  mapfile -t list < <(for e in "${list[@]}"; do
      n=${e%%	*}; s=$(awk -v n="$n" '$1==n {print $2}' "$timings")
      printf '%s\t%s\n' "${s:-999}" "$e"; done | sort -t'	' -k1,1nr | cut -f2-)
fi

running=0
for e in "${list[@]}"; do
  name=${e%%	*}; cmd=${e#*	}
  while [ "$running" -ge "$jobs" ]; do wait -n; running=$((running-1)); done
  # shellcheck disable=SC2086
  run_one "$name" $cmd &
  running=$((running+1))
done
wait

passed=0 failed=0 skipped=0
failures=()
: > "$timings.new"
for e in "${list[@]}"; do
  name=${e%%	*}; key=$(echo "$name" | tr '/' '_')
  if [ -f "$resdir/$key" ]; then
    read -r p f s secs < "$resdir/$key"
  else
    p=0 f=1 s=0 secs=0
  fi
  passed=$((passed+p)); failed=$((failed+f)); skipped=$((skipped+s))
  [ "$f" -gt 0 ] && failures+=("$name")
  echo "$name $secs" >> "$timings.new"
done
[ -z "$filter" ] && mv "$timings.new" "$timings" || rm -f "$timings.new"

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
[ "$skipped" -gt 0 ] && echo "($skipped test files skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
