#!/bin/bash
# vdisk edit: "VmWare" -> "VMware" planted across a sector boundary, a
# grain boundary, an extent boundary, at both ends of the disk and twice
# in a row: every occurrence replaced and nothing else changed (compared
# with Python's bytes.replace on the image qemu-img reads); dry run lists
# the offsets and changes nothing; --into leaves the parent untouched;
# strings of different lengths are refused.
source "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3 md5sum
cd "$WORK"
printf 'VmWare' > vm.bin
printf 'VmWareVmWare' > vm2.bin
printf 'VmWar_' > near.bin

CAP=$((16 << 20))
"$VDISK" create --size 16M e.vmdk
pattern rnd.bin $((1 << 20)) 5
"$VDISK" write e.vmdk --offset 2M --file rnd.bin >/dev/null
want=""
for o in 0 $((10 * 512 - 3)) $((5 * 65536 - 2)) $((2 * 1048576 + 4096 - 1)) $((CAP - 6)); do
  "$VDISK" write e.vmdk --offset "$o" --file vm.bin >/dev/null; want="$want $o"
done
"$VDISK" write e.vmdk --offset $((9 * 1048576 + 510)) --file vm2.bin >/dev/null
want="$want $((9 * 1048576 + 510)) $((9 * 1048576 + 516))"
"$VDISK" write e.vmdk --offset $((12 * 1048576)) --file near.bin >/dev/null
qemu-img convert -O raw e.vmdk before.raw
python3 - before.raw expect.raw <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(d.replace(b'VmWare', b'VMware'))
PY
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"VmWare")
while i >= 0: print(i); i = d.find(b"VmWare", i + 6)' before.raw > occ.peer
echo "$want" | tr ' ' '\n' | sed '/^$/d' | sort -n > occ.planted
check "python finds exactly the planted occurrences" same_file occ.peer occ.planted
md5sum e.vmdk > e.md5

"$VDISK" edit e.vmdk --find VmWare --replace VMware --dry-run > dry.txt; rc=$?
sed -n 's/^would replace at \([0-9]*\) .*/\1/p' dry.txt > occ.dry
check "--dry-run: exit 0, lists every occurrence" bash -c "[ $rc = 0 ] && cmp -s occ.dry occ.planted"
check "--dry-run: nothing changed" md5sum -c --quiet e.md5

cp e.vmdk p.vmdk
"$VDISK" edit p.vmdk --find VmWare --replace VMware --into c.vmdk > into.txt; rc=$?
check "--into: exit 0" [ "$rc" = 0 ]
check "--into: parent unchanged" bash -c "md5sum e.vmdk | cut -d' ' -f1 | grep -q \$(md5sum p.vmdk | cut -d' ' -f1)"
qemu-img convert -O raw c.vmdk c.raw
check "--into: the child reads as the replaced image" same_file c.raw expect.raw

"$VDISK" edit e.vmdk --find VmWare --replace VMware > ed.txt; rc=$?
check "in place: exit 0, 7 replaced" bash -c "[ $rc = 0 ] && grep -q '^7 occurrences replaced' ed.txt"
qemu-img convert -O raw e.vmdk after.raw
check "in place: every occurrence replaced, nothing else changed" same_file after.raw expect.raw
check "qemu-img check after the edit" qemu-img check -q e.vmdk
"$VDISK" edit e.vmdk --find VmWare --replace VMware --dry-run > again.txt
check "a second run finds nothing" grep -q '^0 occurrences' again.txt

# hex, and the same-length rule
"$VDISK" edit e.vmdk --hex --find 564d77617265 --replace 566d57617265 >/dev/null; rc=$?
qemu-img convert -O raw e.vmdk back.raw
check "--hex: replaces back to the original" bash -c "[ $rc = 0 ] && cmp -s back.raw before.raw"
md5sum e.vmdk > e2.md5
"$VDISK" edit e.vmdk --find VmWare --replace VM > len.txt 2>&1; rc=$?
check "different lengths: refused" bash -c "[ $rc != 0 ] && grep -q 'same length' len.txt"
"$VDISK" edit e.vmdk --hex --find 0000 --replace 0101 > zero.txt 2>&1; rc=$?
check "an all-zero find string: refused" [ "$rc" != 0 ]
check "refusals changed nothing" md5sum -c --quiet e2.md5

# across an extent boundary of a split disk
"$VDISK" create --type twoGbMaxExtentSparse --size 3G s.vmdk
B=$("$VDISK" info --json s.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)["extents"][1]["start"])')
"$VDISK" write s.vmdk --offset $((B - 3)) --file vm.bin >/dev/null
"$VDISK" edit s.vmdk --find VmWare --replace VMware > s.txt
check "extent straddle: one replaced" grep -q '^1 occurrence replaced' s.txt
check "extent straddle: qemu-io reads VMware across the boundary" \
  bash -c "qemu-io -f vmdk -r -c 'read -v $((B - 3)) 6' s.vmdk | grep -q '56 4d 77 61 72 65  VMware'"
done_testing
