#!/bin/bash
# --keep-cbt: convert/clone carry vdisk's own tracking along (a copy of the
# tracking file, descriptor version 3 + changeTrackPath: IN's change IDs
# answer the same on OUT); by default the copy has none; untracked,
# foreign-tracked, raw and streamOptimized cases are refused before OUT is
# made; restore --keep-cbt gives the restored disks tracking.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK
cid() { $V cbt status --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('change_id',''))"; }
areas() { $V changes --json --since "$2" "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['areas'])"; }

$V create --size 32M d.vmdk
pattern p1 300000 1; $V write --offset 1M --file p1 d.vmdk
$V cbt enable d.vmdk
id0=$(cid d.vmdk)
pattern p2 70000 2; $V write --offset 5000000 --file p2 d.vmdk
pattern p3 9000 3; $V write --offset 20M --file p3 d.vmdk
id1=$(cid d.vmdk)

# default: no tracking on the copy
$V convert d.vmdk plain.vmdk
check "convert drops tracking by default (no changeTrackPath, version 1, no file)" bash -c "! grep -aq changeTrackPath plain.vmdk && grep -aq '^version=1' plain.vmdk && test ! -e plain-ctk.vmdk"

# --keep-cbt
check "convert --keep-cbt" $V convert --keep-cbt d.vmdk k.vmdk
check "the copy names its own tracking file, version 3" bash -c "grep -aq 'changeTrackPath=\"k-ctk.vmdk\"' k.vmdk && grep -aq '^version=3' k.vmdk && test -f k-ctk.vmdk"
check "the copy's status: on, the source's change ID" test "$(cid k.vmdk)" = "$id1"
check "changes since an old ID answer the same on the copy" test "$(areas k.vmdk "$id0")" = "$(areas d.vmdk "$id0")"
check "and they are not empty" bash -c "[ '$(areas k.vmdk "$id0")' != '[]' ]"
$V cat d.vmdk > d.raw
qemu-img convert -O raw k.vmdk k.raw
check "qemu-img reads the tracked copy as the source's content" cmp -s d.raw k.raw
pattern p4 4096 4; $V write --offset 30M --file p4 k.vmdk
check "a write to the copy is tracked on the copy" bash -c "$V changes --since '$id1' k.vmdk | grep -q '^31457280'"
check "and not on the source" test "$(areas d.vmdk "$id1")" = "[]"
check "clone --keep-cbt into twoGbMaxExtentSparse" bash -c "$V clone --keep-cbt --type twoGbMaxExtentSparse d.vmdk s.vmdk && test -f s-ctk.vmdk && [ \"\$($V cbt status --json s.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"change_id\"])')\" = '$id1' ]"
check "the tracking file is a copy, the copies independent" bash -c "! cmp -s d-ctk.vmdk k-ctk.vmdk && cmp -s d-ctk.vmdk s-ctk.vmdk"

# refused before anything is written
$V create --size 8M u.vmdk
check "--keep-cbt of an untracked disk is refused, OUT not made" bash -c "! $V convert --keep-cbt u.vmdk u2.vmdk 2>e1.txt && grep -q 'not on' e1.txt && test ! -e u2.vmdk"
check "--keep-cbt into streamOptimized is refused, OUT not made" bash -c "! $V convert --keep-cbt --type streamOptimized d.vmdk so.vmdk 2>e2.txt && grep -q 'cannot carry' e2.txt && test ! -e so.vmdk"
check "--keep-cbt into raw is refused" bash -c "! $V convert --keep-cbt --type raw d.vmdk r.img 2>/dev/null && test ! -e r.img"
# a VMware-style foreign tracking file is never copied
$V create --type monolithicFlat --size 4M f.vmdk
python3 - <<'PY'
t = open("f.vmdk").read().replace("version=1", "version=3")
t = t.replace("# The Disk Data Base", '# Change Tracking File\nchangeTrackPath="f-ctk.vmdk"\n\n# The Disk Data Base')
open("f.vmdk", "w").write(t)
open("f-ctk.vmdk", "wb").write(b"\x01\x00\x00\x00" + bytes(508))
PY
check "--keep-cbt of a foreign tracking file is refused" bash -c "! $V convert --keep-cbt f.vmdk f2.vmdk 2>e3.txt && grep -q \"another program's\" e3.txt && test ! -e f2.vmdk && test ! -e f2-ctk.vmdk"
check "an existing OUT-ctk.vmdk is not overwritten" bash -c "echo keep > z-ctk.vmdk && ! $V convert --keep-cbt d.vmdk z.vmdk 2>e4.txt && grep -q 'already exists' e4.txt && [ \"\$(cat z-ctk.vmdk)\" = keep ]"

# restore --keep-cbt: the restored disks are tracked (a new epoch)
mkdir vm; $V create --size 8M vm/a.vmdk; printf 'displayName = "a"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "a.vmdk"\n' > vm/a.vmx
$V backup vm repo 2>/dev/null
$V restore repo r1 2>/dev/null
$V restore --keep-cbt repo r2 2>/dev/null
check "restore: no tracking by default" bash -c "! grep -aq changeTrackPath r1/a.vmdk && test ! -e r1/a-ctk.vmdk"
check "restore --keep-cbt: tracked" bash -c "$V cbt status r2/a.vmdk | grep -q 'state: on'"
done_testing
