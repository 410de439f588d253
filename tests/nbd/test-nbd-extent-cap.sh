#!/bin/bash
# The NBD client's extent cache (lib/io/io-nbd-bs.c) holds at most
# MAX_EXTENTS (16384) extents in all, not per block status request: an
# export whose first 3 GiB hold 21000 extents (7000 in each 1 GiB request,
# none of them cut by its own request's cap) fills the cache once, cut
# after the 16384th extent, and again from there: more block status
# requests than one round of the export's 4 (the nbdkit log filter counts
# them), and vdisk map still agrees with nbdinfo --map.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo python3 timeout
cd "$WORK"
G=$((1 << 30))
# 3.5 GiB sparse: 3500 4 KiB data blocks in each of the first three GiB
python3 - <<'PY'
with open("d.raw", "wb") as f:
    f.truncate(7 << 29)
    for g in range(3):
        for i in range(3500):
            f.seek((g << 30) + i * (1 << 18)); f.write(b"\x5a" * 4096)
PY
S=$WORK/sock
start_server socket "$S" nbdkit --exit-with-parent -U "$S" --filter=log file d.raw logfile="$WORK/log.txt"
U="nbd+unix:///?socket=$S"
timeout 120 "$VDISK" map --json "$U" > m1.json
n_bs=$(grep -c 'Extents id=[0-9]* offset=' log.txt)  # the requests (not the replies)
timeout 120 nbdinfo --map --json "$U" > m2.json
DATAMAP="$VDISK_TOP/tests/helpers/datamap.py"
check "the export holds 10500 data runs (nbdinfo --map)" bash -c "test \"\$(python3 $DATAMAP --count m2.json)\" = 10500"
check "vdisk map agrees with nbdinfo --map" bash -c "[ \"\$(python3 $DATAMAP m1.json)\" = \"\$(python3 $DATAMAP m2.json)\" ]"
check "the cache is capped in all: a second round of block status requests ($n_bs > 4)" test "$n_bs" -gt 4
stop_server
done_testing
