#!/bin/bash
# Run every test: unit programs from $VDISK_BUILD/tests/test-*, and the
# shell tests tests/*/test-*.sh.  A test passes on exit 0, is skipped on
# exit 77, and fails otherwise.  A test that prints TAP lines ("ok N ...",
# "not ok N ...") is counted line by line.  Ends with "N passed, N failed".
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
mkdir -p "$logdir"
filter=${1:-}

passed=0 failed=0 skipped=0
failures=()
run_one() {
  local name=$1; shift
  local log="$logdir/$(echo "$name" | tr '/' '_').log"
  local start=$SECONDS rc
  timeout 600 "$@" >"$log" 2>&1
  rc=$?
  local oks nots
  oks=$(grep -cE '^ok [0-9]+' "$log")
  nots=$(grep -cE '^not ok [0-9]+' "$log")
  if [ "$rc" = 77 ]; then
    skipped=$((skipped+1)); printf 'SKIP %-45s %3ss\n' "$name" $((SECONDS-start))
    return
  fi
  if [ $((oks+nots)) -gt 0 ]; then
    passed=$((passed+oks)); failed=$((failed+nots))
    if [ "$rc" != 0 ] && [ "$nots" = 0 ]; then failed=$((failed+1)); fi
  elif [ "$rc" = 0 ]; then
    passed=$((passed+1))
  else
    failed=$((failed+1))
  fi
  if [ "$rc" = 0 ] && [ "$nots" = 0 ]; then
    printf 'PASS %-45s %3ss (%d checks)\n' "$name" $((SECONDS-start)) "$oks"
  else
    printf 'FAIL %-45s %3ss (exit %s)\n' "$name" $((SECONDS-start)) "$rc"
    failures+=("$name")
    grep -E '^not ok|ERROR|error|FAIL' "$log" | head -n 15 | sed 's/^/    /'
  fi
}

for t in "$VDISK_BUILD"/tests/test-*; do
  [ -x "$t" ] || continue
  case "$t" in *.d|*.o) continue;; esac
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run_one "unit/$(basename "$t")" "$t"
done
for t in tests/*/test-*.sh; do
  [ -f "$t" ] || continue
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run_one "${t#tests/}" bash "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
[ "$skipped" -gt 0 ] && echo "($skipped test files skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
