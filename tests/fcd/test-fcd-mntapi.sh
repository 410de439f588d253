#!/bin/bash
# VixMntapi_OpenDisks with an FCD's UUID as the only disk name and
# numberOfDisks = 1: on a connection made with a vStorageObjSpec (the FCD
# and one of its snapshots) and on a local connection whose dsSpec names
# the datastore; NULL names, a count other than 1 and unknown IDs are
# clear errors (tests/fcd/fcd-mntapi.c).  Skipped without /dev/fuse.
source "$(dirname "$0")/../functions.sh"
requires sfdisk mke2fs fusermount3 fuse2fs
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
CHECK="$VDISK_TOP/$VDISK_BUILD/tests/fcd-mntapi"
[ -x "$CHECK" ] || { echo "# skip: $CHECK not built"; exit 77; }
cleanup() {
  grep -o "$WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r d; do fusermount3 -u -z "$d" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"
cd "$WORK"
mkdir -p root/data ds
pattern root/data/known.bin 300000 7
truncate -s 32M gpt.raw
printf 'label: gpt\nstart=2048, size=61440, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q gpt.raw
truncate -s $((61440 * 512)) r.img && mke2fs -q -F -t ext4 -d root r.img
dd if=r.img of=gpt.raw bs=512 seek=2048 conv=notrunc status=none
"$VDISK" convert -f raw gpt.raw disk.vmdk >/dev/null
A=$("$VDISK" fcd register --name guest ds disk.vmdk)
S=$("$VDISK" fcd snapshot ds "$A")
check "an FCD holding an ext4 volume, with a snapshot" test -n "$A" -a -n "$S"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$VDISK_TOP/tests/compat/vixmntapi-lsan.supp"
timeout 120 "$CHECK" "$WORK/ds" "$A" "" data/known.bin "$WORK/root/data/known.bin" > out1 2>err1
rc=$?
relay() {  # relay PREFIX FILE: the helper's TAP lines as ours
  while read -r line; do
    case $line in
      "ok "*) ok "$1${line#ok * - }";;
      "not ok "*) not_ok "$1${line#not ok * - }";;
    esac
  done < "$2"
}
relay "" out1
check "the FCD mount program ran to the end (exit $rc)" test $rc = 0
[ $rc = 0 ] || sed 's/^/# /' err1
timeout 120 "$CHECK" "$WORK/ds" "${A:0:8}" "$S" data/known.bin "$WORK/root/data/known.bin" > out2 2>err2
rc=$?
relay "snapshot, by ID prefix: " out2
check "the snapshot mount program ran to the end (exit $rc)" test $rc = 0
[ $rc = 0 ] || sed 's/^/# /' err2
check "nothing left mounted" bash -c "! grep -q '$WORK' /proc/self/mountinfo"
done_testing
