#!/bin/bash
# make valgrind: the unit tests of a build (default build/release) and the
# CLI tests against peers (the former tests/interop set, listed below) with
# the CLI under valgrind --error-exitcode; prints one line per program and
# a summary.  Usage: run-valgrind.sh [BUILD]
set -u
b=${1:-build/release}
top=$PWD
command -v valgrind >/dev/null || { echo "valgrind missing"; exit 77; }
log="$b/valgrind-logs"; mkdir -p "$log"
vg="valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --suppressions=$top/valgrind/vdisk.supp"
fail=0 n=0
for src in tests/*/test-*.c; do
  t=$b/tests/$(basename "$src" .c)
  [ -x "$t" ] || continue
  # the kill -9 and fork-heavy tests run their children unchecked
  n=$((n+1))
  if VDISK_TOP=$top CRASH_KILLS=2 $vg --trace-children=no "$t" >"$log/$(basename "$t").log" 2>&1; then
    echo "valgrind ok   $(basename "$t")"
  else
    echo "valgrind FAIL $(basename "$t") (see $log/$(basename "$t").log)"; fail=$((fail+1))
  fi
done
# the CLI under valgrind for the interop tests
wrap="$top/$b/vdisk-valgrind"
cat > "$wrap" <<W
#!/bin/bash
exec $vg --log-file=$top/$log/cli.%p.log $top/$b/bin/vdisk "\$@"
W
chmod +x "$wrap"
rm -f "$log"/cli.*.log
for t in tests/interop/test-interop-*.sh tests/convert/test-convert-roundtrip.sh \
         tests/crash/test-crash-write.sh tests/cli/test-cli-errors.sh \
         tests/install/test-install-prefix.sh tests/disk/test-disk-locking.sh; do
  n=$((n+1))
  if VDISK="$wrap" VDISK_TOP=$top timeout 900 bash "$t" >"$log/$(basename "$t").log" 2>&1; then
    echo "valgrind ok   $t"
  else
    echo "valgrind FAIL $t (exit or TAP failure; see $log/$(basename "$t").log)"; fail=$((fail+1))
  fi
done
errs=$(cat "$log"/cli.*.log 2>/dev/null | grep -c "^==[0-9]*== [A-Z]")
echo "valgrind: $n programs, $fail failed; CLI runs with valgrind reports: $errs"
[ "$fail" = 0 ] && [ "$errs" = 0 ]
