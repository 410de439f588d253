#!/bin/bash
# vdisk fcd attach/detach with the guide's CBT rules, an FCD on several
# VMs, snapshots of an attached FCD (the .vmx follows the top), delete
# refused while attached, relocate (UUID kept, refused while relocation is
# disabled).
source "$(dirname "$0")/../functions.sh"
requires python3
source "$(dirname "$0")/fcd-model.sh"
DS=$WORK/ds DS2=$WORK/ds2
mkdir -p "$DS" "$WORK/vm-cbt" "$WORK/vm-plain"
printf 'displayName = "cbt"\nctkEnabled = "TRUE"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "own.vmdk"\n' > "$WORK/vm-cbt/cbt.vmx"
printf 'displayName = "plain"\n' > "$WORK/vm-plain/plain.vmx"
pattern "$WORK/p1" 1048576 1
vmx() { grep -F "$2" "$WORK/$1/"*.vmx | head -1 | sed 's/.*= "\(.*\)"/\1/'; }
cbt_of() { "$VDISK" fcd info --json "$DS" "$1" | json 'j["fcd"]["cbt"]'; }

A=$("$VDISK" fcd create --name a --size 4M "$DS"); model_new "$A" 4M
check "a new FCD has no CBT" test "$(cbt_of "$A")" = False
"$VDISK" fcd attach "$DS" "$A" "$WORK/vm-cbt"
check "attach adds the disk on the first free scsi0 unit" test "$(vmx vm-cbt 'scsi0:1.fileName')" = "$(fcd_top "$DS" "$A")"
check "attach to a VM with CBT turns CBT on for the FCD" test "$(cbt_of "$A")" = True
check "... and the disk tracks changes (vdisk cbt status)" bash -c "'$VDISK' cbt status '$(fcd_top "$DS" "$A")' | grep -q 'state: on'"
check "... the .vmx entry has ctkEnabled" test "$(vmx vm-cbt 'scsi0:1.ctkEnabled')" = TRUE
check "attaching twice to one VM is refused" bash -c "! '$VDISK' fcd attach '$DS' '$A' '$WORK/vm-cbt' 2>/dev/null"
check "an FCD with CBT is refused by a VM without CBT (persistent)" bash -c "! '$VDISK' fcd attach '$DS' '$A' '$WORK/vm-plain' 2>'$WORK/err' && grep -q 'independent_nonpersistent' '$WORK/err' && ! grep -q scsi0 '$WORK/vm-plain/plain.vmx'"
"$VDISK" fcd attach --mode independent_nonpersistent "$DS" "$A" "$WORK/vm-plain"
check "... and accepted independent_nonpersistent" test "$(vmx vm-plain 'scsi0:0.mode')" = independent-nonpersistent
check "an FCD may be attached to several VMs" bash -c "[ \"\$('$VDISK' fcd info --json '$DS' '$A' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"attachments\"]))')\" = 2 ]"
check "delete is refused while attached" bash -c "! '$VDISK' fcd delete '$DS' '$A' 2>'$WORK/err' && grep -q 'attached' '$WORK/err'"

# a snapshot of an attached FCD: the .vmx files follow the new top
fcd_write "$DS" "$A" 0 "$WORK/p1"
S=$("$VDISK" fcd snapshot "$DS" "$A"); model_snapshot "$A" "$S"
check "after snapshot both .vmx name the new top" bash -c "[ '$(vmx vm-cbt 'scsi0:1.fileName')' = '$(fcd_top "$DS" "$A")' ] && [ '$(vmx vm-plain 'scsi0:0.fileName')' = '$(fcd_top "$DS" "$A")' ]"
check "after snapshot: reads match" verify "$DS"
check "the VM's other disk entry is untouched" test "$(vmx vm-cbt 'scsi0:0.fileName')" = own.vmdk

"$VDISK" fcd detach "$DS" "$A" "$WORK/vm-cbt"
check "detach removes the entries" bash -c "! grep -q 'scsi0:1' '$WORK/vm-cbt/cbt.vmx' && grep -q 'scsi0:0.fileName' '$WORK/vm-cbt/cbt.vmx'"
check "detach leaves CBT on" test "$(cbt_of "$A")" = True
check "detach from a VM it is not attached to is an error" bash -c "! '$VDISK' fcd detach '$DS' '$A' '$WORK/vm-cbt' 2>/dev/null"

# relocate: refused while relocation is disabled; UUID kept
"$VDISK" fcd prepare-access "$DS" "$A"
check "relocate is refused while relocation is disabled" bash -c "! '$VDISK' fcd relocate '$DS' '$A' '$DS2' 2>'$WORK/err' && grep -q 'relocation is disabled' '$WORK/err' && [ -d '$DS/fcd/$A' ]"
"$VDISK" fcd end-access "$DS" "$A"
"$VDISK" fcd meta "$DS" "$A" k v
mkdir -p "$DS2"
"$VDISK" fcd relocate "$DS" "$A" "$DS2"
check "relocate: gone from the source" bash -c "[ -z \"\$(fcd_ids '$DS')\" ] && [ ! -e '$DS/fcd/$A' ]"
check "relocate: the same UUID in the destination" test "$(fcd_ids "$DS2")" = "$A"
check "relocate: snapshots and reads come along" verify "$DS2"
check "relocate: metadata comes along" test "$("$VDISK" fcd meta "$DS2" "$A" k)" = v
check "relocate: the attached VM's .vmx names the new place" test "$(vmx vm-plain 'scsi0:0.fileName')" = "$(fcd_top "$DS2" "$A")"
check "reconcile finds nothing in either datastore" bash -c "[ \"\$(orphans '$DS')\" = 0 ] && [ \"\$(orphans '$DS2')\" = 0 ]"
"$VDISK" fcd detach "$DS2" "$A" "$WORK/vm-plain"
"$VDISK" fcd delete "$DS2" "$A"
check "delete after detach" test -z "$(fcd_ids "$DS2")"
done_testing
