#!/bin/bash
# vdisk chain: one link numbering (0 = the disk named, as scan and the
# library count), each link's creation time (from the VM's .vmsd, else the
# ddb.vdisk.created stamp vdisk writes into every child, else the file
# time, marked), and --at DATE naming the link to open for that day.  The
# chosen link, opened read-only, holds that day's data (checked with
# qemu-img).
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
export TZ=UTC

# --- every child vdisk makes carries the stamp ---
"$VDISK" create --size 4M b.vmdk >/dev/null
"$VDISK" child b.vmdk s.vmdk >/dev/null
check "a child made by vdisk carries ddb.vdisk.created (UTC)" \
  bash -c "'$VDISK' meta s.vmdk ddb.vdisk.created | grep -qE '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'"
check "qemu-img reads the stamped child" qemu-img check -q s.vmdk
rm -f s.vmdk

# --- a chain made one link a day: base (day 1), c1 (day 3), c2 (day 5) ---
pattern d1 65536 1; pattern d3 65536 3; pattern d5 65536 5
"$VDISK" write --offset 0 --file d1 b.vmdk >/dev/null
touch -d '2026-01-01 10:00:00' b.vmdk            # the base: its file time
"$VDISK" child b.vmdk c1.vmdk >/dev/null
"$VDISK" meta c1.vmdk vdisk.created 2026-01-03T10:00:00Z >/dev/null
"$VDISK" write --offset 0 --file d3 c1.vmdk >/dev/null
"$VDISK" child c1.vmdk c2.vmdk >/dev/null
"$VDISK" meta c2.vmdk vdisk.created 2026-01-05T10:00:00Z >/dev/null
"$VDISK" write --offset 0 --file d5 c2.vmdk >/dev/null
touch -d '2026-01-01 10:00:00' b.vmdk
"$VDISK" chain c2.vmdk > chain.txt; sed 's/^/# /' chain.txt
check "chain numbers links from the top: c2 is link 0, the base link 2" \
  bash -c "grep -E '^0 .* c2.vmdk$' chain.txt >/dev/null && grep -E '^2 .* b.vmdk$' chain.txt >/dev/null"
check "chain lists the base first" bash -c "sed -n 2p chain.txt | grep -q 'b.vmdk$'"
check "the stamp gives c1's creation time" grep -qE '^1 .*2026-01-03 10:00:00 \(stamp\) +c1.vmdk$' chain.txt
check "the base has no stamp: its file time, marked as such" grep -qE '^2 .*2026-01-01 10:00:00 \(file time\) +b.vmdk$' chain.txt
"$VDISK" chain --json c2.vmdk > chain.json
check "chain --json: link numbers and creation sources" python3 - chain.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
l = {x["file"]: x for x in d["links"]}
ok = (l["c2.vmdk"]["link"] == 0 and l["b.vmdk"]["link"] == 2
      and l["c1.vmdk"]["created_from"] == "stamp" and l["b.vmdk"]["created_from"] == "file time"
      and l["c1.vmdk"]["created"] == 1767434400)
sys.exit(0 if ok else 1)
PY
# scan counts links the same way: a hit in c1's data is link 1
if "$VDISK" scan --help >/dev/null 2>&1 && [ -f "$VDISK_TOP/tests/scan/db/vdisk-test.ndb" ]; then
  printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin
  "$VDISK" create --size 4M v.vmdk >/dev/null
  "$VDISK" child v.vmdk v1.vmdk >/dev/null
  "$VDISK" write --offset 1M --file eicar.bin v1.vmdk >/dev/null
  "$VDISK" child v1.vmdk v2.vmdk >/dev/null
  "$VDISK" scan --db "$VDISK_TOP/tests/scan/db" v2.vmdk > scan.txt 2>&1
  sed 's/^/# /' scan.txt
  "$VDISK" chain v2.vmdk > vchain.txt
  n=$(grep -E ' v1.vmdk$' vchain.txt | awk '{print $1}')
  check "scan names the infected link by the number chain gives it ($n)" grep -q "link $n (v1.vmdk)" scan.txt
fi

# --- --at DATE ---
at() { "$VDISK" chain --at "$1" c2.vmdk 2>&1 | head -1; }
check "--at the base's day: the base" test "$(at 2026-01-01)" = b.vmdk
check "--at day 2 (nothing new): the base" test "$(at 2026-01-02)" = b.vmdk
check "--at day 3: c1" test "$(at 2026-01-03)" = c1.vmdk
check "--at day 4: c1" test "$(at '2026-01-04 12:00')" = c1.vmdk
check "--at day 5, 09:59 (before c2): c1" test "$(at '2026-01-05 09:59')" = c1.vmdk
check "--at day 9: c2" test "$(at 2026-01-09)" = c2.vmdk
"$VDISK" chain --at 2025-12-31 c2.vmdk > early.txt 2>&1; rc=$?
check "--at a day before the base: exit 1, says when the base was made" \
  bash -c "[ $rc = 1 ] && grep -q 'no link of this chain existed' early.txt"
"$VDISK" chain --at yesterday c2.vmdk > bad.txt 2>&1; rc=$?
check "--at a non-date: usage error" bash -c "[ $rc = 1 ] && grep -q 'not a date' bad.txt"
# the link --at names, opened read-only, holds that day's data (qemu-img)
qemu-img convert -O raw "$(at 2026-01-04)" day4.raw
check "the day-4 link read by qemu-img holds day 3's write" \
  bash -c "head -c 65536 day4.raw | cmp -s - d3"
"$VDISK" cat "$(at 2026-01-02)" | head -c 65536 > day2.raw
check "the day-2 link read by vdisk holds day 1's write" cmp -s day2.raw d1

# --- the .vmsd wins over the stamp ---
cat > vm.vmsd <<'EOF'
.encoding = "UTF-8"
snapshot.lastUID = "1"
snapshot.numSnapshots = "1"
snapshot.current = "1"
snapshot0.uid = "1"
snapshot0.filename = "vm-Snapshot1.vmsn"
snapshot0.displayName = "day two"
snapshot0.createTimeHigh = "411484"
snapshot0.createTimeLow = "-1407374336"
snapshot0.numDisks = "1"
snapshot0.disk0.fileName = "c1.vmdk"
snapshot0.disk0.node = "scsi0:0"
EOF
# createTime = 411484 << 32 | (uint32) -1407374336 microseconds
want=$(python3 -c "print(((411484 << 32) | (-1407374336 & 0xffffffff)) // 1000000)")
want_txt=$(date -u -d "@$want" '+%Y-%m-%d %H:%M:%S')
"$VDISK" chain c2.vmdk > chain2.txt; sed 's/^/# /' chain2.txt
check "the .vmsd snapshot that froze c1 gives c2's creation time ($want_txt)" \
  grep -qE "^0 .*$want_txt \(vmsd\) +c2.vmdk$" chain2.txt
check "... c1 keeps its stamp" grep -qE '^1 .*\(stamp\) +c1.vmdk$' chain2.txt
done_testing
