#!/bin/bash
# The structure-aware CLI mutation campaign (fuzz-cli.py): first the cases
# it found, as fixed regressions, then a short seeded run (make fuzz-cli
# runs a long one).  The run is bounded by a time budget so it stays within
# ~90 s under ASan on a loaded machine; the number of cases run is printed.
. "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"

# -- regressions found by the campaign ------------------------------------
# seed 1 case 109/717: a ZERO extent in a disk opened for writing printed
# "(null)" as the file name
$VDISK create -t monolithicFlat -s 1M z.vmdk >/dev/null
sed -i 's/^\(RW 2048 FLAT .*\)$/\1\nRW 128 ZERO/' z.vmdk
echo x > x.bin
$VDISK write -o 0 -f x.bin z.vmdk 2> err.txt
check "write to a disk with a ZERO extent fails naming the disk, not (null)" \
  bash -c "grep -q 'z.vmdk' err.txt && ! grep -q '(null)' err.txt"

# seed 1 case 632: a write that meets a corrupt grain table entry failed
# only after it had changed the CID in the descriptor
$VDISK create -t monolithicSparse -s 4M s.vmdk >/dev/null
head -c 81920 /dev/urandom > d.bin
$VDISK write -o 0 -f d.bin s.vmdk
$VDISK write -o 3M -f d.bin s.vmdk     # the file reaches past overHead
head -c 4096 /dev/urandom > w.bin
python3 - <<'PY'
import struct
f = open("s.vmdk", "r+b"); f.seek(64); f.write(struct.pack("<Q", 639)); f.close()
PY
cp s.vmdk s.before
check "write over a grain inside the metadata is refused" bash -c "! $VDISK write -o 65536 -f w.bin s.vmdk 2>/dev/null"
check "and the refused write changed nothing (CID included)" cmp -s s.vmdk s.before

# seed 11 case 173: commit of a child with a grain table entry pointing
# into its metadata failed half-way, with the parent already changed
$VDISK create -t monolithicSparse -s 4M p.vmdk >/dev/null
$VDISK write -o 0 -f d.bin p.vmdk
$VDISK child p.vmdk c.vmdk >/dev/null
$VDISK write -o 0 -f d.bin c.vmdk && $VDISK write -o 3M -f d.bin c.vmdk
python3 - <<'PY'
import struct
f = open("c.vmdk", "r+b")
h = f.read(512)
gd = struct.unpack_from("<Q", h, 56)[0]
f.seek(gd * 512); gt = struct.unpack("<I", f.read(4))[0]
f.seek(gt * 512 + 4 * 56); f.write(struct.pack("<I", 2))   # into the header
f.close()
PY
cp p.vmdk p.before; cp c.vmdk c.before
check "commit of a child with a corrupt grain table is refused" bash -c "! $VDISK commit c.vmdk 2>/dev/null"
check "and changed neither the parent nor the child" bash -c "cmp -s p.vmdk p.before && cmp -s c.vmdk c.before"

# seed 4 case 700, seed 11 case 2: commit of a child with a NOACCESS
# extent failed at the first read, after the parent's CID had changed
cp p.before p.vmdk; cp c.before c.vmdk
$VDISK create -t monolithicSparse -s 4M p2.vmdk >/dev/null
$VDISK write -o 0 -f d.bin p2.vmdk
$VDISK child p2.vmdk c2.vmdk >/dev/null
$VDISK write -o 0 -f d.bin c2.vmdk
python3 - <<'PY'
import struct
f = open("c2.vmdk", "r+b"); h = f.read(512)
off, size = struct.unpack_from("<QQ", h, 28)
f.seek(off * 512); t = f.read(size * 512)
t = t.replace(b"\nRW ", b"\nNOACCESS ", 1)[:len(t)]   # the area ends in NULs
f.seek(off * 512); f.write(t); f.close()
PY
cp p2.vmdk p2.before; cp c2.vmdk c2.before
check "commit of a child with a NOACCESS extent is refused" bash -c "! $VDISK commit c2.vmdk 2>/dev/null"
check "and changed neither the parent nor the child" bash -c "cmp -s p2.vmdk p2.before && cmp -s c2.vmdk c2.before"

# seed 2 case 138: space-needed of a disk whose tables are corrupt exited
# 1 printing "vdisk: success" (the error was cleared by the close)
cp s.before sn.vmdk
python3 - <<'PY'
import struct
f = open("sn.vmdk", "r+b"); f.seek(64); f.write(struct.pack("<Q", 255)); f.close()
PY
$VDISK space-needed sn.vmdk streamOptimized 2> err.txt; rc=$?
check "space-needed of corrupt tables fails naming the disk" \
  bash -c "test $rc = 1 && grep -q 'sn.vmdk' err.txt && ! grep -q success err.txt"

# -- a short seeded campaign ------------------------------------------------
SEED=${FUZZ_CLI_SEED:-11}
python3 "$VDISK_TOP/tests/fuzz/fuzz-cli.py" --vdisk "$VDISK" --seed "$SEED" \
  --count "${FUZZ_CLI_COUNT:-400}" --time-budget "${FUZZ_CLI_BUDGET:-75}" \
  --timeout 30 --work "$WORK/campaign" > campaign.log 2>&1
rc=$?
grep -E '^(not ok|#)' campaign.log | sed 's/^not ok/# FAIL/' | head -60
check "fuzz-cli seed $SEED: $(tail -1 campaign.log | sed 's/^# fuzz-cli: //')" test $rc = 0
done_testing
