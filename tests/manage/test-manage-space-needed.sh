#!/bin/bash
# vdisk space-needed against real clones (vdisk convert): within 5% of the
# bytes the clone's files take for sparse layouts, within 1% for flat ones,
# and an upper bound (within 5%) for streamOptimized; through a chain too.
. "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"
pattern data.bin 8388608 4
$VDISK create -s 3G a.vmdk
for o in 0 100M 1500M 2100M 2900M; do $VDISK write -o $o -f data.bin a.vmdk; done
$VDISK child a.vmdk c.vmdk
$VDISK write -o 700M -f data.bin c.vmdk
apparent() { du -cb --apparent-size "$@" | tail -1 | cut -f1; }
within() { python3 -c "import sys; e,r,p=$1,$2,$3; sys.exit(0 if abs(e-r) <= r*p/100 else 1)"; }

for src in a.vmdk c.vmdk; do
  for t in monolithicSparse twoGbMaxExtentSparse monolithicFlat twoGbMaxExtentFlat streamOptimized; do
    est=$($VDISK space-needed $src $t) || { not_ok "$src $t: space-needed"; continue; }
    rm -rf o; mkdir o
    $VDISK convert -t $t $src o/x.vmdk || { not_ok "$src $t: convert"; continue; }
    real=$(apparent o/*)
    case $t in
      *Flat) check "$src $t: estimate $est within 1% of $real" within $est $real 1 ;;
      streamOptimized)
        check "$src $t: estimate $est is an upper bound of $real" test $est -ge $real
        check "$src $t: ... within 5% for incompressible data" within $est $real 5 ;;
      *) check "$src $t: estimate $est within 5% of $real" within $est $real 5 ;;
    esac
  done
done
check "--json" bash -c "$VDISK space-needed --json a.vmdk monolithicSparse | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"bytes\"] > 0 else 1)'"
check "unknown type refused" bash -c "! $VDISK space-needed a.vmdk bogus 2>/dev/null"
done_testing
