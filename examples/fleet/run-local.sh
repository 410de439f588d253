#!/bin/bash
# The same job on one machine: every shard of N as its own process, P at
# a time, with xargs -P (GNU parallel works the same way), then the
# merged report.  Usage: run-local.sh MANIFEST OUT N P [DB] [PER_HOST]
# Exit status: that of `vdisk report` (1 found, 2 failed/not done, 0).
set -u
MANIFEST=$1 OUT=$2 N=$3 P=$4 DB=${5:-/var/lib/clamav} PER_HOST=${6:-2}
VDISK=${VDISK:-vdisk}
mkdir -p "$OUT"
# a shard that fails (exit 2) is run once more: it skips what it finished
seq 0 $((N - 1)) | xargs -P "$P" -I{} sh -c \
  '"$0" scan --db "$1" --manifest "$2" --out "$3" --shard "{}/$4" --per-host "$5" >/dev/null ||
   "$0" scan --db "$1" --manifest "$2" --out "$3" --shard "{}/$4" --per-host "$5" >/dev/null' \
  "$VDISK" "$DB" "$MANIFEST" "$OUT" "$N" "$PER_HOST"
"$VDISK" report "$OUT"
