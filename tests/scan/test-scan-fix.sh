#!/bin/bash
# vdisk scan --fix: zero exactly the sectors found, into a new child
# (default; the parent's files stay byte-identical, the chain rescans
# clean, deleting the child brings the infection back) or in place (only
# the reported sectors change).  Contents are read back with qemu-img.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 md5sum
DB="$VDISK_TOP/tests/scan/db"
cd "$WORK"
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin

# base: 32 MiB, 6 MiB of random data, EICAR twice (one across a sector,
# one across a grain), planted offsets recorded in base.offs
"$VDISK" create --size 32M base.vmdk
pattern rnd.bin $((6 << 20)) 11
"$VDISK" write base.vmdk --offset 1M --file rnd.bin >/dev/null
offs="$((1048576 + 3 * 512 - 17)) $((20 * 1048576 + 65536 - 50))"
for o in $offs; do "$VDISK" write base.vmdk --offset "$o" --file eicar.bin >/dev/null; done
qemu-img convert -O raw base.vmdk base.raw
# expected content after a fix: the sectors of each planted copy zeroed
python3 - base.raw fixed.want $offs <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
for o in map(int, sys.argv[3:]):
    a, b = o // 512, (o + 68 - 1) // 512
    d[a * 512:(b + 1) * 512] = bytes((b - a + 1) * 512)
open(sys.argv[2], 'wb').write(d)
PY
md5sum base.vmdk > base.md5

# --- into a child (the default name, then --into) --------------------------
"$VDISK" scan --db "$DB" --fix base.vmdk > fix.txt 2>&1; rc=$?
cat fix.txt | sed 's/^/# /'
check "--fix: exit 1 (found)" [ "$rc" = 1 ]
check "--fix: default child base-fixed.vmdk made" [ -f base-fixed.vmdk ]
check "--fix: the rescan of the child is clean" grep -q "rescan: clean" fix.txt
check "--fix: parent files unchanged" md5sum -c --quiet base.md5
"$VDISK" scan --db "$DB" base-fixed.vmdk >/dev/null 2>&1; rc=$?
check "child chain rescans clean (exit 0)" [ "$rc" = 0 ]
qemu-img convert -O raw base-fixed.vmdk fixed.raw
check "qemu-img reads the child: only the found sectors zeroed" same_file fixed.raw fixed.want
check "qemu-img check of the child" qemu-img check -q base-fixed.vmdk
rm base-fixed.vmdk
"$VDISK" scan --db "$DB" base.vmdk >/dev/null 2>&1; rc=$?
check "deleting the child restores the infection (exit 1)" [ "$rc" = 1 ]
"$VDISK" scan --db "$DB" --json --fix --into snap.vmdk base.vmdk > fixj.json 2>/dev/null
check "--into CHILD: JSON names the child and a clean rescan" \
  grep -q '"fix": {"result": "snap.vmdk", "in_place": false, "rescan": "clean"}' fixj.json
check "--into: parent unchanged" md5sum -c --quiet base.md5
"$VDISK" scan --db "$DB" --fix --into snap.vmdk base.vmdk >into.txt 2>&1; rc=$?
check "--into an existing file: the fix fails, the infection stays visible (exit 1)" [ "$rc" = 1 ]
check "... and the failure is reported" grep -q "snap.vmdk" into.txt

# --- in place -----------------------------------------------------------------
cp base.vmdk ip.vmdk
"$VDISK" scan --db "$DB" --fix --in-place ip.vmdk > ip.txt 2>&1; rc=$?
check "--in-place: exit 1, rescan clean" bash -c "[ $rc = 1 ] && grep -q 'rescan: clean' ip.txt"
qemu-img convert -O raw ip.vmdk ip.raw
check "--in-place: only the reported sectors changed" same_file ip.raw fixed.want
"$VDISK" scan --db "$DB" ip.vmdk >/dev/null 2>&1; rc=$?
check "--in-place: rescan exit 0" [ "$rc" = 0 ]
check "qemu-img check after the in-place fix" qemu-img check -q ip.vmdk

# --- a clean disk is left alone ----------------------------------------------
"$VDISK" create --size 8M c.vmdk
"$VDISK" scan --db "$DB" --fix c.vmdk >/dev/null 2>&1; rc=$?
check "--fix on a clean disk: exit 0, no child" bash -c "[ $rc = 0 ] && [ ! -e c-fixed.vmdk ]"
"$VDISK" scan --db "$DB" --in-place c.vmdk >/dev/null 2>&1; rc=$?
check "--in-place without --fix: usage error (exit 2)" [ "$rc" = 2 ]
done_testing
