#!/bin/bash
# kill -9 during create, register, snapshot, snapshot-delete, revert,
# from-snapshot, delete and relocate: after each kill the catalog reopens,
# every FCD and snapshot reads as before or after the operation (never in
# between), and reconcile finds nothing left over.
#
# Each operation is killed at every step boundary (VDISK_FCD_KILL_AT=N, a
# SIGKILL the library raises at its N-th checkpoint) and at FCD_KILLS
# random moments (default 2; FCD_KILLS=50 for the long run).  FCD_OPS
# limits the run to some operations ("revert snapshot-delete").
source "$(dirname "$0")/../functions.sh"
requires python3
HERE=$(cd "$(dirname "$0")" && pwd)
KILLS=${FCD_KILLS:-2}
# reads with the release build when there is one (faster), else $VDISK
READER=$VDISK
[ -n "${VDISK_RELEASE:-}" ] && [ -x "$VDISK_TOP/$VDISK_RELEASE/bin/vdisk" ] && READER="$VDISK_TOP/$VDISK_RELEASE/bin/vdisk"
M=1048576
for i in 1 2 3 4; do pattern "$WORK/p$i" $M $i; done

# The template: FCD A (three snapshots), FCD B (one), a plain disk.
T=$WORK/tpl
mkdir -p "$T/ds" "$T/ds2"
A=$("$VDISK" fcd create --name A --size 4M "$T/ds")
B=$("$VDISK" fcd create --name B --size 4M "$T/ds")
top() { "$VDISK" fcd info --json "$1" "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fcd"]["path"])'; }
"$VDISK" write --offset 0 --file "$WORK/p1" "$(top "$T/ds" "$A")" >/dev/null
SA1=$("$VDISK" fcd snapshot "$T/ds" "$A")
"$VDISK" write --offset $M --file "$WORK/p2" "$(top "$T/ds" "$A")" >/dev/null
SA2=$("$VDISK" fcd snapshot "$T/ds" "$A")
"$VDISK" write --offset 0 --file "$WORK/p3" "$(top "$T/ds" "$A")" >/dev/null
SA3=$("$VDISK" fcd snapshot "$T/ds" "$A")
"$VDISK" write --offset $((2*M)) --file "$WORK/p4" "$(top "$T/ds" "$A")" >/dev/null
"$VDISK" write --offset 0 --file "$WORK/p4" "$(top "$T/ds" "$B")" >/dev/null
SB1=$("$VDISK" fcd snapshot "$T/ds" "$B")
"$VDISK" write --offset $M --file "$WORK/p1" "$(top "$T/ds" "$B")" >/dev/null
"$VDISK" create --size 4M "$T/legacy.vmdk" >/dev/null
"$VDISK" write --offset 0 --file "$WORK/p2" "$T/legacy.vmdk" >/dev/null
X=$("$VDISK" fcd create --name tmp --size 1M "$T/ds2")   # an empty catalog
"$VDISK" fcd delete "$T/ds2" "$X"
echo "$A $B $SA1 $SA2 $SA3 $SB1" | tr ' ' '\n' > "$WORK/known"

state() { python3 "$HERE/fcd-state.py" "$READER" "$WORK/known" "$1/ds" "$1/ds2" "file=$1/legacy.vmdk"; }
fresh() { rm -rf "$WORK/it"; cp -a "$T" "$WORK/it"; }

declare -A OPS=(
  [create]="fcd create --name new --size 4M DS"
  [register]="fcd register --name reg DS IT/legacy.vmdk"
  [snapshot]="fcd snapshot DS $A"
  [snapshot-delete]="fcd snapshot-delete DS $A $SA2"
  [revert]="fcd revert DS $A $SA1"
  [from-snapshot]="fcd from-snapshot --name fs DS $A $SA2"
  [delete]="fcd delete DS $B"
  [relocate]="fcd relocate DS $A IT/ds2"
)
op_cmd() { local c=${OPS[$1]}; c=${c//DS/$WORK/it/ds}; echo "${c//IT/$WORK/it}"; }

# after_state OP: run it once, uninterrupted
BEFORE=$(fresh; state "$WORK/it")
for op in ${FCD_OPS:-create register snapshot snapshot-delete revert from-snapshot delete relocate}; do
  fresh
  t0=$(date +%s%N)
  # shellcheck disable=SC2046
  "$VDISK" $(op_cmd "$op") >/dev/null || { not_ok "$op: runs uninterrupted"; continue; }
  dur=$(( ($(date +%s%N) - t0) / 1000000 + 1 ))   # ms
  AFTER=$(state "$WORK/it")
  [ "$AFTER" != "$BEFORE" ] || { not_ok "$op: changes the state"; continue; }
  bad=0 n=0 mid=0
  # judge: the state after a kill (and the reopen that recovers)
  judge() {
    local what=$1
    if ! "$VDISK" fcd list "$WORK/it/ds" >/dev/null 2>"$WORK/err"; then
      echo "# $op $what: catalog does not reopen: $(cat "$WORK/err")"; bad=$((bad+1)); return
    fi
    "$VDISK" fcd list "$WORK/it/ds2" >/dev/null 2>&1
    local now; now=$(state "$WORK/it" 2>"$WORK/err") || { echo "# $op $what: unreadable: $(head -c 300 "$WORK/err")"; bad=$((bad+1)); return; }
    if [ "$now" != "$BEFORE" ] && [ "$now" != "$AFTER" ]; then
      echo "# $op $what: in between: $now"; bad=$((bad+1)); return
    fi
    local o1 o2
    o1=$("$VDISK" fcd reconcile --json "$WORK/it/ds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    o2=$("$VDISK" fcd reconcile --json "$WORK/it/ds2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0)
    if [ "$o1" != 0 ] || [ "$o2" != 0 ]; then
      echo "# $op $what: reconcile finds $o1 + $o2 orphans:" $("$VDISK" fcd reconcile "$WORK/it/ds") $("$VDISK" fcd reconcile "$WORK/it/ds2"); bad=$((bad+1))
    fi
  }
  # every step boundary
  for k in $(seq 1 20); do
    fresh
    # shellcheck disable=SC2046
    VDISK_FCD_KILL_AT=$k "$VDISK" $(op_cmd "$op") >/dev/null 2>&1
    rc=$?
    [ $rc = 0 ] && break          # past the last checkpoint
    [ $rc = 137 ] || { echo "# $op: kill at $k: exit $rc"; bad=$((bad+1)); }
    n=$((n+1)); judge "checkpoint $k"
  done
  # random moments
  for i in $(seq 1 "$KILLS"); do
    fresh
    # shellcheck disable=SC2046
    "$VDISK" $(op_cmd "$op") >/dev/null 2>&1 &
    pid=$!
    ms=$((RANDOM % dur))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -9 $pid 2>/dev/null && mid=$((mid+1))
    wait $pid 2>/dev/null
    n=$((n+1)); judge "random kill $i"
  done
  check "$op ($dur ms): $n kills ($mid mid-run, $((k-1)) at step boundaries): reopens, reads as before or after, no orphans" test $bad = 0
done
done_testing
