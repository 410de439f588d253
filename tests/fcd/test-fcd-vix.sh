#!/bin/bash
# First class disks through the VixDiskLib layer: a program following the
# guide's FCD backup code (AllocateConnectParams, vStorageObjSpec, Open
# with a NULL path, Read of every allocated block, FreeConnectParams)
# backs up an FCD snapshot by ID and the copy matches (cmp, qemu-img
# compare); PrepareForAccess/EndAccess hold relocation off; the sample's
# -fcdid -fcdds [-fcdssid] with -info, -dump, -clone, -virus.
source "$(dirname "$0")/../functions.sh"
requires python3 qemu-img
BACKUP="$VDISK_TOP/$VDISK_BUILD/tests/fcd-vix-backup"
SAMPLE="$VDISK_TOP/$VDISK_BUILD/bin/vix-disklib-sample"
[ -x "$BACKUP" ] && [ -x "$SAMPLE" ] || { echo "# skip: VixDiskLib layer not built"; exit 77; }
DS=$WORK/ds
mkdir -p "$DS"
M=1048576
for i in 1 2 3; do pattern "$WORK/p$i" $((M / 2)) $i; done
top() { "$VDISK" fcd info --json "$DS" "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fcd"]["path"])'; }
A=$("$VDISK" fcd create --name a --size 8M "$DS")
"$VDISK" write --offset $M --file "$WORK/p1" "$(top "$A")" >/dev/null
"$VDISK" write --offset $((5 * M + 4096)) --file "$WORK/p2" "$(top "$A")" >/dev/null
S1=$("$VDISK" fcd snapshot "$DS" "$A")
"$VDISK" write --offset $M --file "$WORK/p3" "$(top "$A")" >/dev/null    # after S1
S2=$("$VDISK" fcd snapshot "$DS" "$A")
# the model of S1, from first principles
truncate -s 8M "$WORK/s1.raw"
dd if="$WORK/p1" of="$WORK/s1.raw" bs=1 seek=$M conv=notrunc status=none
dd if="$WORK/p2" of="$WORK/s1.raw" bs=1 seek=$((5 * M + 4096)) conv=notrunc status=none

"$BACKUP" "$DS" "$A" "$S1" "$WORK/copy.raw" > "$WORK/out" 2>&1; rc=$?
sed 's/^/# /' "$WORK/out"
check "guide-style backup of an FCD snapshot by ID: exit 0" test $rc = 0
check "... the copy matches the snapshot byte for byte" cmp -s "$WORK/copy.raw" "$WORK/s1.raw"
check "... qemu-img compare: the snapshot's link against the copy" qemu-img compare -q -f vmdk -F raw \
  "$("$VDISK" fcd snapshots --json "$DS" "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')" "$WORK/copy.raw"
check "... it read the allocated 64 KiB grains only (8 + 9 of 128: 2176 sectors)" grep -q "sectors 2176 " "$WORK/out"
check "... a snapshot opened by ssId refuses writes" grep -q "write-to-snapshot refused" "$WORK/out"
check "... relocation is enabled again after EndAccess" bash -c "'$VDISK' fcd info '$DS' '$A' | grep -q 'relocation disabled: no'"
"$BACKUP" "$DS" "${A:0:8}" "$S2" "$WORK/copy2.raw" >/dev/null 2>&1
check "by ID prefix, the later snapshot S2 (holds the write after S1)" bash -c "'$VDISK' fcd cat '$DS' '$A@$S2' | cmp -s - '$WORK/copy2.raw' && ! cmp -s '$WORK/copy.raw' '$WORK/copy2.raw'"
check "an unknown FCD ID is a clear error" bash -c "! '$BACKUP' '$DS' 00000000 '$S1' '$WORK/x.raw' 2>'$WORK/err' && grep -q 'no FCD with ID' '$WORK/err'"
check "a datastore without a catalog is a clear error" bash -c "! '$BACKUP' '$WORK' '$A' '$S1' '$WORK/x.raw' 2>'$WORK/err' && grep -q 'no FCD catalog' '$WORK/err'"

# PrepareForAccess holds relocation off until EndAccess
FCD_VIX_ACCESS=prepare "$BACKUP" "$DS" "$A" "" /dev/null
check "PrepareForAccess: relocation disabled" bash -c "'$VDISK' fcd info '$DS' '$A' | grep -q 'relocation disabled: yes'"
check "... vdisk fcd relocate refuses meanwhile" bash -c "! '$VDISK' fcd relocate '$DS' '$A' '$WORK/ds2' 2>/dev/null && [ -d '$DS/fcd/$A' ]"
FCD_VIX_ACCESS=end "$BACKUP" "$DS" "$A" "" /dev/null
check "EndAccess: relocation enabled" bash -c "'$VDISK' fcd info '$DS' '$A' | grep -q 'relocation disabled: no'"

# one writer per FCD; readers of snapshots go on meanwhile
mkfifo "$WORK/hold"
FCD_VIX_ACCESS=hold "$BACKUP" "$DS" "$A" "" /dev/null < "$WORK/hold" > "$WORK/held" 2>&1 &
HOLDER=$!
exec 7> "$WORK/hold"
for _ in $(seq 1 100); do grep -q open "$WORK/held" && break; sleep 0.1; done
check "VixDiskLib opens the FCD itself (path = its UUID) for writing" grep -q open "$WORK/held"
check "... meanwhile a snapshot is refused: the disk's writer lock" bash -c "! '$VDISK' fcd snapshot '$DS' '$A' 2>'$WORK/err' && grep -qi 'lock' '$WORK/err'"
check "... and a second writer is refused" bash -c "! FCD_VIX_ACCESS=hold '$BACKUP' '$DS' '$A' '' /dev/null </dev/null >/dev/null 2>&1"
check "... while snapshots read on" bash -c "'$VDISK' fcd cat '$DS' '$A@$S1' | cmp -s - '$WORK/s1.raw'"
exec 7>&-
wait $HOLDER
check "after the writer closes, a snapshot works again" bash -c "'$VDISK' fcd snapshot '$DS' '$A' >/dev/null"
S2b=$("$VDISK" fcd snapshots --json "$DS" "$A" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
"$VDISK" fcd snapshot-delete "$DS" "$A" "$S2b"

# the sample program's FCD options
"$SAMPLE" -info -fcdid "${A:0:8}" -fcdds "$DS" -fcdssid "$S1" > "$WORK/info" 2>&1
check "sample -info -fcdid -fcdds -fcdssid: the capacity" grep -q "capacity *= 16384 sectors" "$WORK/info"
"$SAMPLE" -dump -start 2048 -count 1 -fcdid "$A" -fcdds "$DS" -fcdssid "$S1" > "$WORK/dump" 2>&1
first=$(od -An -tx1 -N16 "$WORK/p1" | tr -s ' ' | sed 's/^ //;s/ $//')
check "sample -dump of sector 2048 at S1 shows the data written there" grep -q "^00100000 : $first" "$WORK/dump"
"$SAMPLE" -clone "$WORK/clone.vmdk" -fcdid "$A" -fcdds "$DS" -fcdssid "$S1" >/dev/null 2>&1
check "sample -clone PATH -fcdid: a copy of the snapshot (qemu-img compare)" qemu-img compare -q -f vmdk -F raw "$WORK/clone.vmdk" "$WORK/s1.raw"
check "sample without a disk path or -fcdid: usage error" bash -c "! '$SAMPLE' -info >/dev/null 2>&1"
DB="$VDISK_TOP/tests/scan/db/vdisk-test.ndb"
if [ -f "$DB" ]; then
  printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > "$WORK/eicar.bin"
  "$VDISK" write --offset $((3 * M)) --file "$WORK/eicar.bin" "$(top "$A")" >/dev/null
  S3=$("$VDISK" fcd snapshot "$DS" "$A")
  VDISK_SCAN_DB="$DB" "$SAMPLE" -virus -fcdid "$A" -fcdds "$DS" -fcdssid "$S3" > "$WORK/v" 2>&1; rc=$?
  check "sample -virus -fcdid at a snapshot with the test signature: found (exit 3)" bash -c "[ $rc = 3 ] && grep -q 'Vdisk.Test.EICAR' '$WORK/v'"
  VDISK_SCAN_DB="$DB" "$SAMPLE" -virus -fcdid "$A" -fcdds "$DS" -fcdssid "$S1" > "$WORK/v" 2>&1; rc=$?
  check "... and S1 (before it was written) is clean (exit 0)" test $rc = 0
fi
done_testing
