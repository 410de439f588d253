#!/bin/bash
# vdisk fcd: every operation from the CLI, checked after each against a
# shadow model (raw copies of what each FCD and snapshot must read), by
# vdisk fcd cat | cmp and by qemu-img compare of the links.
source "$(dirname "$0")/../functions.sh"
requires python3 qemu-img
source "$(dirname "$0")/fcd-model.sh"
DS=$WORK/ds
mkdir -p "$DS"
M=1048576
for i in 1 2 3 4 5; do pattern "$WORK/p$i" $M $i; done

# create
A=$("$VDISK" fcd create --name alpha --size 8M "$DS")
check "create prints a UUID" bash -c "[[ '$A' =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]"
model_new "$A" 8M
check "a new FCD reads as zeros" verify "$DS"
check "catalog has a rollback journal (no -wal/-shm), a schema version and foreign keys" bash -c \
  "[ \"\$(sqlite3 '$DS/fcd-catalog.db' 'PRAGMA journal_mode; SELECT version FROM schema_version;' | tr '\n' ' ')\" = 'delete 1 ' ] && sqlite3 '$DS/fcd-catalog.db' .schema | grep -q 'REFERENCES fcd(uuid) ON DELETE CASCADE'"
sqlite3 "$DS/fcd-catalog.db" 'PRAGMA journal_mode = WAL' > /dev/null
"$VDISK" fcd list "$DS" > /dev/null
check "a catalog an older vdisk left in WAL mode is switched by a writer's open" bash -c \
  "[ \"\$(sqlite3 '$DS/fcd-catalog.db' 'PRAGMA journal_mode')\" = delete ] && [ ! -e '$DS/fcd-catalog.db-wal' ] && [ ! -e '$DS/fcd-catalog.db-shm' ]"
check "the disk is a plain VMDK qemu-img reads" bash -c "qemu-img info '$DS/fcd/$A/fcd.vmdk' | grep -q 'file format: vmdk'"
J=$("$VDISK" fcd create --json --type monolithicFlat --name flat --size 4M "$DS" | json 'j["id"]')
model_new "$J" 4M
check "create --type monolithicFlat --json" test -f "$DS/fcd/$J/fcd-flat.vmdk"
check "create without --size is a usage error" bash -c "! '$VDISK' fcd create --name x '$DS' 2>/dev/null"

# register: promote an existing disk
"$VDISK" create --size 4M "$WORK/legacy.vmdk" >/dev/null
"$VDISK" write --offset 0 --file "$WORK/p5" "$WORK/legacy.vmdk" >/dev/null
cp "$WORK/p5" "$WORK/legacy.raw"; truncate -s 4M "$WORK/legacy.raw"
R=$("$VDISK" fcd register --name legacy "$DS" "$WORK/legacy.vmdk")
mkdir -p "$MODEL/$R"; cp "$WORK/legacy.raw" "$MODEL/$R/top.raw"
check "register moves the disk under the catalog" bash -c "[ ! -e '$WORK/legacy.vmdk' ] && [ -f '$DS/fcd/$R/fcd.vmdk' ]"
check "after create and register: list and reads match the model" verify "$DS"
check "registering an FCD's own disk again is refused" bash -c "! '$VDISK' fcd register '$DS' '$DS/fcd/$R/fcd.vmdk' 2>'$WORK/err' && grep -q 'registering twice' '$WORK/err'"
"$VDISK" create --size 4M "$WORK/base.vmdk" >/dev/null
"$VDISK" child "$WORK/base.vmdk" "$WORK/kid.vmdk" >/dev/null
check "registering a child disk is refused" bash -c "! '$VDISK' fcd register '$DS' '$WORK/kid.vmdk' 2>'$WORK/err' && grep -q 'child' '$WORK/err' && [ -f '$WORK/kid.vmdk' ]"
check "registering a disk a child names is refused" bash -c "! '$VDISK' fcd register '$DS' '$WORK/base.vmdk' 2>/dev/null && [ -f '$WORK/base.vmdk' ]"
check "refused registers leave no FCD behind" verify "$DS"

# IDs: prefixes, unknown, ambiguous
check "info by a unique 8-character prefix" bash -c "'$VDISK' fcd info '$DS' '${A:0:8}' | grep -q '^id: $A'"
check "an unknown ID is a clear error" bash -c "! '$VDISK' fcd info '$DS' 00000000-0000 2>'$WORK/err' && grep -q 'no FCD with ID' '$WORK/err'"
check "a prefix no UUID can have (a dash at 0) is refused as a bad ID" bash -c "! '$VDISK' fcd info '$DS' - 2>'$WORK/err' && grep -q 'bad FCD ID' '$WORK/err'"

# rename, meta
"$VDISK" fcd rename "$DS" "$A" "alpha two"
check "rename changes the name" bash -c "[ \"\$('$VDISK' fcd info --json '$DS' '$A' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"fcd\"][\"name\"])')\" = 'alpha two' ]"
"$VDISK" fcd meta "$DS" "$A" owner backup-team
"$VDISK" fcd meta "$DS" "$A" tier gold
check "meta KEY prints the value" bash -c "[ \"\$('$VDISK' fcd meta '$DS' '$A' owner)\" = backup-team ]"
check "meta lists every key (json)" bash -c "[ \"\$('$VDISK' fcd meta --json '$DS' '$A')\" = '{\"owner\": \"backup-team\", \"tier\": \"gold\"}' ]"
"$VDISK" fcd meta --delete "$DS" "$A" tier
check "meta --delete removes a key" bash -c "! '$VDISK' fcd meta '$DS' '$A' tier 2>/dev/null"

# grow (no snapshots yet)
"$VDISK" fcd grow "$DS" "$J" 6M
truncate -s 6M "$MODEL/$J/top.raw"
check "grow raises the capacity (catalog and disk)" bash -c "[ \"\$('$VDISK' fcd info --json '$DS' '$J' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"fcd\"][\"capacity\"])')\" = 6291456 ]"
check "after grow: reads match" verify "$DS"

# snapshots: write, snapshot, write, snapshot, write
fcd_write "$DS" "$A" 0 "$WORK/p1"
S1=$("$VDISK" fcd snapshot --description one "$DS" "$A"); model_snapshot "$A" "$S1"
fcd_write "$DS" "$A" $M "$WORK/p2"
S2=$("$VDISK" fcd snapshot --json "$DS" "$A" | json 'j["snapshot"]'); model_snapshot "$A" "$S2"
fcd_write "$DS" "$A" $((2*M)) "$WORK/p3"
fcd_write "$DS" "$A" 0 "$WORK/p4"          # overwrite what S1 holds
S3=$("$VDISK" fcd snapshot "$DS" "$A"); model_snapshot "$A" "$S3"
fcd_write "$DS" "$A" $((3*M)) "$WORK/p5"
S4=$("$VDISK" fcd snapshot "$DS" "$A"); model_snapshot "$A" "$S4"
fcd_write "$DS" "$A" $((5*M)) "$WORK/p1"
check "after four snapshots: every FCD and snapshot reads as the model" verify "$DS"
check "qemu-img compare: every link matches the model" qemu_verify "$DS"
check "snapshots name their parent" bash -c "[ \"\$('$VDISK' fcd snapshots --json '$DS' '$A' | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[1][\"parent\"]==j[0][\"id\"] and j[0][\"parent\"] is None and j[0][\"description\"]==\"one\")')\" = True ]"
check "grow is refused while snapshots exist" bash -c "! '$VDISK' fcd grow '$DS' '$A' 16M 2>/dev/null"
check "map of ID@SSID shows data where the snapshot has it" bash -c "'$VDISK' fcd map --json '$DS' '$A@${S1:0:8}' | grep -q '\"type\": \"data\"'"

# from-snapshot: a new FCD reading as S2; the later snapshots stay
F=$("$VDISK" fcd from-snapshot --name from-s2 "$DS" "$A" "$S2")
mkdir -p "$MODEL/$F"; cp "$MODEL/$A/$S2.raw" "$MODEL/$F/top.raw"
check "from-snapshot: a new UUID" test "$F" != "$A"
check "from-snapshot: new FCD reads as S2, later snapshots still readable" verify "$DS"
check "from-snapshot copies the metadata" bash -c "[ \"\$('$VDISK' fcd meta '$DS' '$F' owner)\" = backup-team ]"

# snapshot-delete in the middle (S2), then the oldest (S1)
"$VDISK" fcd snapshot-delete "$DS" "$A" "$S2"; model_drop_snap "$A" "$S2"
check "snapshot-delete of a middle snapshot: the others read as before" verify "$DS"
check "snapshot-delete: qemu-img compare of every link" qemu_verify "$DS"
"$VDISK" fcd snapshot-delete "$DS" "$A" "${S1:0:10}"; model_drop_snap "$A" "$S1"
check "snapshot-delete of the oldest (the base): the others read as before" verify "$DS"
check "snapshot-delete: S3's parent is now none" bash -c "[ \"\$('$VDISK' fcd snapshots --json '$DS' '$A' | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"parent\"])')\" = None ]"
check "no orphan files after snapshot-delete" bash -c "[ \"\$(orphans '$DS')\" = 0 ]"

# revert: to S3; S4 (later) goes, S3 stays; writes after revert
S5=$("$VDISK" fcd snapshot "$DS" "$A"); model_snapshot "$A" "$S5"
"$VDISK" fcd revert "$DS" "$A" "$S3"; model_revert "$A" "$S3"
check "revert removes exactly the later snapshots (S4, S5)" bash -c "[ \"\$(snap_ids '$DS' '$A')\" = '$S3' ]"
check "revert: the FCD reads as at S3" verify "$DS"
fcd_write "$DS" "$A" $((4*M)) "$WORK/p2"
check "writes after revert do not touch S3" verify "$DS"
check "no orphan files after revert" bash -c "[ \"\$(orphans '$DS')\" = 0 ]"
check "revert to an unknown snapshot is refused" bash -c "! '$VDISK' fcd revert '$DS' '$A' '$S4' 2>/dev/null"
"$VDISK" fcd snapshot-delete "$DS" "$A" "$S3"; model_drop_snap "$A" "$S3"
check "deleting the last snapshot merges it into the top" verify "$DS"
check "ID@SSID of a removed snapshot is an error" bash -c "! '$VDISK' fcd cat '$DS' '$A@$S3' > /dev/null 2>&1"

# changes: CBT on the FCD, a snapshot, then changes at the snapshot
"$VDISK" cbt enable "$(fcd_top "$DS" "$F")" >/dev/null
fcd_write "$DS" "$F" $M "$WORK/p3"
S6=$("$VDISK" fcd snapshot "$DS" "$F"); model_snapshot "$F" "$S6"
check "changes of ID@SSID --since '*' lists allocated areas" bash -c "'$VDISK' fcd changes --json --since '*' '$DS' '$F@$S6' | grep -q offset"
check "after CBT and snapshot: reads match" verify "$DS"

# delete
"$VDISK" fcd delete "$DS" "$J"; rm -rf "$MODEL/$J"
check "delete removes the FCD and its folder" bash -c "[ ! -e '$DS/fcd/$J' ]"
check "after delete: list and reads match the model" verify "$DS"
check "reconcile finds nothing at the end" bash -c "[ \"\$(orphans '$DS')\" = 0 ]"

# reconcile: a stray file and a stray folder
echo junk > "$DS/fcd/$A/stray.vmdk"; mkdir "$DS/fcd/deadbeef-0000-4000-8000-000000000000"
check "reconcile lists two orphans" bash -c "[ \"\$(orphans '$DS')\" = 2 ]"
"$VDISK" fcd reconcile --remove "$DS" >/dev/null
check "reconcile --remove removes them, and nothing else" bash -c "[ \"\$(orphans '$DS')\" = 0 ] && [ ! -e '$DS/fcd/$A/stray.vmdk' ]"
check "after reconcile: reads match" verify "$DS"
done_testing
