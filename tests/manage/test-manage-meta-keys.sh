#!/bin/bash
# vdisk meta validates the keys readers interpret (a bad value would make
# the disk unreadable or misdescribed, for vdisk and for qemu-img), and
# convert/clone carry the user's ddb keys over, with --keep-uuid keeping
# ddb.uuid.
source "$(dirname "$0")/../functions.sh"
requires qemu-img
cd "$WORK"
"$VDISK" create --size 4M d.vmdk >/dev/null
cp d.vmdk d.orig
bad() {   # bad KEY VALUE: refused, exit 1, the disk unchanged
  "$VDISK" meta d.vmdk "$1" "$2" > out.txt 2>&1; local rc=$?
  check "meta $1 = \"$2\" is refused" bash -c "[ $rc = 1 ] && grep -q 'ddb.$1' out.txt && cmp -s d.vmdk d.orig"
}
good() {  # good KEY VALUE: accepted, read back, qemu-img still reads the disk
  check "meta $1 = \"$2\" is accepted" bash -c "'$VDISK' meta d.vmdk '$1' '$2' && [ \"\$('$VDISK' meta d.vmdk '$1')\" = '$2' ] && qemu-img check -q d.vmdk"
  cp d.vmdk d.orig
}
bad adapterType scsi-magic
bad adapterType ""
good adapterType lsilogic
bad geometry.cylinders 0
bad geometry.cylinders 1.5
bad geometry.cylinders 12abc
bad geometry.heads 256
bad geometry.sectors 64
bad geometry.sectors 0
good geometry.heads 255
good geometry.sectors 63
bad geometry.biosHeads 300
bad uuid "not a uuid"
bad uuid "60 00 c2 9f 12 34 56 78 9a bc de f0 12 34 56"
bad uuid "60 00 c2 9f 12 34 56 78 9a bc de f0 12 34 56 7g"
good uuid "60 00 c2 9f 12 34 56 78-9a bc de f0 12 34 56 78"
bad virtualHWVersion 0
bad virtualHWVersion seven
good virtualHWVersion 14
bad thinProvisioned yes
good thinProvisioned 1
good toolsVersion 12345
good vdiskNote "any text at all"

# --- convert / clone carry the user's keys ---
pattern data 100000 1
"$VDISK" write --offset 1M --file data d.vmdk >/dev/null
"$VDISK" convert d.vmdk c.vmdk >/dev/null
check "convert carries a user key" test "$("$VDISK" meta c.vmdk vdiskNote)" = "any text at all"
check "convert carries toolsVersion" test "$("$VDISK" meta c.vmdk toolsVersion)" = 12345
check "convert keeps the adapter" test "$("$VDISK" meta c.vmdk adapterType)" = lsilogic
check "convert gives a new ddb.uuid by default" \
  bash -c "[ \"\$('$VDISK' meta c.vmdk uuid)\" != '60 00 c2 9f 12 34 56 78-9a bc de f0 12 34 56 78' ]"
"$VDISK" clone --keep-uuid --type monolithicFlat d.vmdk k.vmdk >/dev/null
check "clone --keep-uuid keeps ddb.uuid (as bytes)" \
  test "$("$VDISK" meta k.vmdk uuid)" = "60 00 c2 9f 12 34 56 78 9a bc de f0 12 34 56 78"
check "clone carries the user key into a flat disk" test "$("$VDISK" meta k.vmdk vdiskNote)" = "any text at all"
check "qemu-img reads the clone identically" qemu-img compare -q d.vmdk k.vmdk
"$VDISK" create --size 1M nouuid.vmdk >/dev/null
"$VDISK" meta --delete uuid nouuid.vmdk >/dev/null
"$VDISK" convert --keep-uuid nouuid.vmdk nu.vmdk > nu.txt 2>&1; rc=$?
check "--keep-uuid on a disk without ddb.uuid: refused, nothing made" \
  bash -c "[ $rc = 1 ] && [ ! -e nu.vmdk ] && grep -q 'no valid ddb.uuid' nu.txt"
done_testing
