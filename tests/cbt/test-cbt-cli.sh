#!/bin/bash
# Changed block tracking from the command line: enable/status/disable round
# trip (qemu-img reads the disk identically all along), `vdisk changes`,
# tracking through commit into a tracked parent and in a child, convert
# dropping it, a VMware-style version-3 descriptor with a foreign tracking
# file, and damaged tracking files.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3 sha256sum
cd "$WORK"
V=$VDISK
hashes() { sha256sum "$@" 2>/dev/null; }
cid() { $V cbt status --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('change_id',''))"; }
# covers FILE.json OFF LEN: the areas listed cover [OFF, OFF+LEN)
covers() { python3 - "$@" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["areas"]; off, ln = int(sys.argv[2]), int(sys.argv[3])
pos = off
for r in sorted(a, key=lambda r: r["offset"]):
    if r["offset"] <= pos < r["offset"] + r["length"]:
        pos = r["offset"] + r["length"]
sys.exit(0 if pos >= off + ln else 1)
PY
}

# -- round trip -----------------------------------------------------------
$V create --size 32M d.vmdk
pattern p1 200000 1; $V write --offset 1M --file p1 d.vmdk
$V cat d.vmdk > before.raw
check "enable" $V cbt enable d.vmdk
check "the tracking file is there" test -f d-ctk.vmdk
$V info d.vmdk > info.txt
check "info shows descriptor version 3" grep -q 'descriptor version: 3' info.txt
check "info shows the tracking" grep -q 'change tracking:    on (d-ctk.vmdk)' info.txt
check "status --json: on, version 3" bash -c "$V cbt status --json d.vmdk | grep -q '\"state\": \"on\", \"descriptor_version\": 3'"
qemu-img convert -O raw d.vmdk q.raw
check "qemu-img reads a tracked disk identically" cmp -s q.raw before.raw
id0=$(cid d.vmdk)
check "a change ID in VMware's form" bash -c "[[ '$id0' =~ ^([0-9a-f]{2}\ ){7}[0-9a-f]{2}-([0-9a-f]{2}\ ){7}[0-9a-f]{2}/[0-9]+$ ]]"
$V changes --json --since "$id0" d.vmdk > c0.json
check "nothing changed right after enabling" python3 -c "import json; assert json.load(open('c0.json'))['areas'] == []"
pattern p2 70000 2; $V write --offset 5000000 --file p2 d.vmdk
$V changes --json --since "$id0" d.vmdk > c1.json
check "the written range is reported" covers c1.json 5000000 70000
check "and little else (one 64 KiB-block run)" python3 -c "import json; a=json.load(open('c1.json'))['areas']; assert sum(r['length'] for r in a) <= 3*65536, a"
$V changes --since '*' d.vmdk > star.txt
check "'*' lists the allocated areas" test -s star.txt
id1=$(cid d.vmdk)
check "the change ID moved on" test "$id0" != "$id1"
$V cat d.vmdk > mid.raw
check "disable" $V cbt disable d.vmdk
check "the tracking file is gone" test ! -e d-ctk.vmdk
check "version 1 again, no changeTrackPath" bash -c "$V info d.vmdk | grep -q 'descriptor version: 1' && ! grep -aq changeTrackPath d.vmdk"
qemu-img convert -O raw d.vmdk q.raw
check "after the round trip qemu-img reads it identically" cmp -s q.raw mid.raw
check "qemu-img check is clean" qemu-img check -q d.vmdk
check "changes on an untracked disk is a clear error" bash -c "! $V changes --since '$id1' d.vmdk 2>err.txt && grep -q 'not on' err.txt"

# -- commit into a tracked parent; a child tracks itself ------------------
$V create --size 16M base.vmdk
$V cbt enable base.vmdk
idb=$(cid base.vmdk)
$V child base.vmdk snap.vmdk
check "the child of a tracked disk has its own tracking file" test -f snap-ctk.vmdk
check "the child's status is on" bash -c "$V cbt status snap.vmdk | grep -q 'state: on'"
pattern p3 100000 3; $V write --offset 3M --file p3 snap.vmdk
ids=$(cid snap.vmdk)
check "the child's ID is its own epoch" test "${ids%%/*}" != "${idb%%/*}"
$V commit snap.vmdk
$V changes --json --since "$idb" base.vmdk > cb.json
check "commit into the tracked parent is tracked there" covers cb.json 3145728 100000

# -- grow keeps the epoch; the new area counts as changed; rename follows --
for t in monolithicSparse twoGbMaxExtentSparse monolithicFlat; do
  $V create --type $t --size 16M g-$t.vmdk
  $V cbt enable g-$t.vmdk
  idg=$(cid g-$t.vmdk)
  $V grow g-$t.vmdk 24M
  $V changes --json --since "$idg" g-$t.vmdk > g.json
  check "$t: after grow the old ID still answers, the new 8 MiB are changed" covers g.json 16777216 8388608
  $V rename g-$t.vmdk h-$t.vmdk
  check "$t: rename moves the tracking file and its name" bash -c "test -f h-$t-ctk.vmdk && test ! -e g-$t-ctk.vmdk && $V cbt status h-$t.vmdk | grep -q 'state: on'"
  $V unlink h-$t.vmdk
  check "$t: unlink removes the tracking file" test ! -e h-$t-ctk.vmdk
done

# -- convert drops tracking ------------------------------------------------
$V convert --type twoGbMaxExtentSparse base.vmdk conv.vmdk
check "convert drops tracking (no changeTrackPath, version 1)" bash -c "! grep -q changeTrackPath conv.vmdk && grep -q '^version=1' conv.vmdk && test ! -e conv-ctk.vmdk"

# -- a VMware-style version-3 disk with a tracking file vdisk did not write -
$V create --type monolithicFlat --size 8M vm.vmdk
python3 - <<'PY'
t = open("vm.vmdk").read().replace("version=1", "version=3")
t = t.replace("# The Disk Data Base", '# Change Tracking File\nchangeTrackPath="vm-ctk.vmdk"\n\n# The Disk Data Base')
open("vm.vmdk", "w").write(t)
open("vm-ctk.vmdk", "wb").write(bytes.fromhex("a27219f6") + (1).to_bytes(4, "little") + bytes(65536 - 8))
PY
hashes vm.vmdk vm-ctk.vmdk vm-flat.vmdk > h0
check "status names it foreign" bash -c "$V cbt status vm.vmdk | grep -q 'state: foreign'"
for c in "info" "cat" "map" "check" "chain" "changes --since *"; do
  $V $c vm.vmdk > /dev/null 2>&1
done
hashes vm.vmdk vm-ctk.vmdk vm-flat.vmdk > h1
check "read-only work leaves the descriptor and the foreign file untouched" cmp -s h0 h1
check "a write drops the foreign tracking and says so" bash -c "echo hi | $V write --offset 0 vm.vmdk 2>werr.txt && grep -q 'change tracking dropped' werr.txt"
check "the line is gone and the version is 1" bash -c "! grep -q changeTrackPath vm.vmdk && grep -q '^version=1' vm.vmdk"
check "the foreign file was kept aside as .stale" test -f vm-ctk.vmdk.stale
check "enabling over a foreign file needs --force" bash -c "mv vm-ctk.vmdk.stale vm-ctk.vmdk; ! $V cbt enable vm.vmdk 2>e2.txt && grep -q 'not vdisk' e2.txt"
check "with --force it is replaced (the old one kept as .stale)" bash -c "$V cbt enable --force vm.vmdk && test -f vm-ctk.vmdk.stale && $V cbt status vm.vmdk | grep -q 'state: on'"

# -- damaged tracking files -------------------------------------------------
$V create --size 8M h.vmdk
$V cbt enable h.vmdk
idh=$(cid h.vmdk)
for how in truncate flip; do
  cp h-ctk.vmdk h-ctk.orig
  case $how in
    truncate) truncate -s 100 h-ctk.vmdk;;
    flip) printf '\xff' | dd of=h-ctk.vmdk bs=1 seek=24 conv=notrunc 2>/dev/null;;
  esac
  hashes h.vmdk h-ctk.vmdk > g0
  check "$how: status says broken" bash -c "$V cbt status h.vmdk | grep -q 'state: broken'"
  $V changes --since "$idh" h.vmdk > /dev/null 2>cerr.txt; rc=$?
  check "$how: changes fails with a message (exit $rc)" bash -c "[ $rc = 1 ] && grep -q 'ctk' cerr.txt"
  $V cat h.vmdk > /dev/null
  hashes h.vmdk h-ctk.vmdk > g1
  check "$how: read-only work changes nothing" cmp -s g0 g1
  echo x | $V write --offset 0 h.vmdk
  check "$how: a write starts a fresh epoch" bash -c "$V cbt status h.vmdk | grep -q 'state: on' && ! $V changes --since '$idh' h.vmdk 2>/dev/null"
  idh=$(cid h.vmdk)
done
done_testing
