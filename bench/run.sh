#!/bin/bash
# Run every benchmark bench/bench-*.sh in turn (make bench).  Each prints its
# own table of seconds, MB/s, ratios against its peer measured in the same
# run, and vdisk's peak RSS.  Benchmarks report; they never assert.  A
# benchmark that cannot run (a peer missing) exits 77 and is listed as
# skipped.
#
#   VDISK_BUILD=build/release bench/run.sh [NAME-FILTER]
set -u
cd "$(dirname "$0")/.."
export VDISK_BUILD=${VDISK_BUILD:-build/release}
filter=${1:-}
ran=() skipped=() failed=()
for b in bench/bench-*.sh; do
  [ -f "$b" ] || continue
  [ -n "$filter" ] && [[ "$b" != *"$filter"* ]] && continue
  echo "================ $(basename "$b" .sh) ================"
  bash "$b"; rc=$?
  case $rc in
    0) ran+=("$(basename "$b" .sh)");;
    77) skipped+=("$(basename "$b" .sh)");;
    *) failed+=("$(basename "$b" .sh) (exit $rc)");;
  esac
  echo
done
echo "benchmarks run: ${ran[*]:-none}"
[ ${#skipped[@]} -gt 0 ] && echo "skipped: ${skipped[*]}"
[ ${#failed[@]} -gt 0 ] && echo "could not run: ${failed[*]}"
exit 0
