#!/bin/bash
# The datastore of `vdisk fcd ACTION ID ...` as the issue writes it:
# --datastore DS / -d DS, else $VDISK_DATASTORE, else the current folder
# when it holds a catalog; the old positional form `ACTION DS ID` keeps
# working, and no datastore at all is a clear usage error.
source "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"
DS=$WORK/ds
mkdir -p "$DS" "$WORK/empty"
A=$("$VDISK" fcd create --name a --size 4M "$DS")
B=$("$VDISK" fcd create --name b --size 4M -d "$DS")
check "create with -d DS makes an FCD" bash -c "'$VDISK' fcd list '$DS' | grep -q '^$B  b '"
"$VDISK" fcd info "$DS" "$A" > old.txt 2>&1
check "the old form: info DS ID" grep -q "^id: $A" old.txt
check "--datastore DS: info ID reads the same" bash -c "'$VDISK' fcd info --datastore '$DS' '$A' | cmp -s - old.txt"
check "-d DS after the action: info -d DS ID" bash -c "'$VDISK' fcd info -d '$DS' '$A' | cmp -s - old.txt"
check "VDISK_DATASTORE: info ID" bash -c "cd '$WORK/empty' && VDISK_DATASTORE='$DS' '$VDISK' fcd info '$A' | cmp -s - '$WORK/old.txt'"
check "the current folder holding a catalog: info ID" bash -c "cd '$DS' && '$VDISK' fcd info '$A' | grep -q '^id: $A'"
S=$(cd "$DS" && "$VDISK" fcd snapshot --description first "${A:0:8}")
check "snapshot ID by a prefix in the datastore folder gives a snapshot ID" \
  bash -c "'$VDISK' fcd snapshots '$DS' '$A' | grep -q '^$S .* first$'"
check "cat ID@SSID with VDISK_DATASTORE" bash -c "VDISK_DATASTORE='$DS' '$VDISK' fcd cat '$A@$S' | cmp -s - <(head -c 4194304 /dev/zero)"
check "meta ID KEY VALUE with -d, then meta DS ID KEY (old form) reads it" \
  bash -c "'$VDISK' fcd meta -d '$DS' '$A' owner alice && [ \"\$('$VDISK' fcd meta '$DS' '$A' owner)\" = alice ]"
check "meta ID KEY with VDISK_DATASTORE" bash -c "[ \"\$(VDISK_DATASTORE='$DS' '$VDISK' fcd meta '$A' owner)\" = alice ]"
check "-d wins over VDISK_DATASTORE" bash -c "VDISK_DATASTORE='$WORK/empty' '$VDISK' fcd info -d '$DS' '$A' | grep -q '^id: $A'"
check "list with -d, and in the datastore folder" bash -c "[ \$('$VDISK' fcd list -d '$DS' | grep -c .) = 2 ] && [ \$(cd '$DS' && '$VDISK' fcd list | grep -c .) = 2 ]"
check "delete ID with VDISK_DATASTORE" bash -c "VDISK_DATASTORE='$DS' '$VDISK' fcd delete '$B' && [ \$('$VDISK' fcd list '$DS' | grep -c .) = 1 ]"
(cd "$WORK/empty" && env -u VDISK_DATASTORE "$VDISK" fcd info "$A") > out 2> err; rc=$?
check "no datastore anywhere: a usage error that says how to give one" \
  bash -c "[ $rc != 0 ] && grep -q 'no datastore' err && grep -q -- '--datastore' err"
check "... and a wrong count of arguments is still a usage error" \
  bash -c "! '$VDISK' fcd rename -d '$DS' '$A' 2>err2 && grep -q 'expected 2 argument' err2"
done_testing
