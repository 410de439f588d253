#!/bin/bash
# Hostile catalogs: a row naming ../../etc/passwd, a descriptor outside the
# datastore (a linked FCD folder, an extent outside), a corrupt database
# file, hostile intent rows.  Each is a clear error naming the problem,
# with nothing changed (every file of the datastore and outside it the
# same before and after).
source "$(dirname "$0")/../functions.sh"
requires python3 sqlite3
DS=$WORK/ds
mkdir -p "$DS" "$WORK/outside"
A=$("$VDISK" fcd create --name a --size 4M "$DS")
S=$("$VDISK" fcd snapshot "$DS" "$A")
"$VDISK" create --size 4M "$WORK/outside/victim.vmdk" >/dev/null
cp "$DS/fcd-catalog.db" "$WORK/good.db"
# the whole state: every file's content, name and type, in and outside
tree() { (cd "$WORK" && find ds outside -printf '%p %y %l\n' | sort; find ds outside -type f ! -name 'fcd-catalog.db-*' ! -name '*.lock' -exec sha256sum {} + | sort; sqlite3 ds/fcd-catalog.db .dump 2>/dev/null | sha256sum); }
sql() { sqlite3 "$DS/fcd-catalog.db" "$1"; }
# refused DESC PATTERN CMD...: fails, says PATTERN, changes nothing
refused() {
  local d=$1 pat=$2; shift 2
  local before; before=$(tree)
  if "$@" >/dev/null 2>"$WORK/err"; then not_ok "$d (it succeeded)"; return; fi
  if ! grep -qE "$pat" "$WORK/err"; then not_ok "$d (message: $(head -c 200 "$WORK/err"))"; return; fi
  if [ "$before" != "$(tree)" ]; then not_ok "$d (something changed)"; return; fi
  ok "$d: $(head -c 120 "$WORK/err")"
}
reset() { cp "$WORK/good.db" "$DS/fcd-catalog.db"; rm -f "$DS/fcd-catalog.db-wal" "$DS/fcd-catalog.db-shm"; }

sql "UPDATE fcd SET path = '../../etc/passwd'"
for c in "info $DS $A" "cat $DS $A" "delete $DS $A" "snapshot $DS $A" "list $DS" "reconcile --remove $DS"; do
  # shellcheck disable=SC2086
  refused "a row naming ../../etc/passwd: fcd ${c%% *}" "not a file in the FCD's folder" "$VDISK" fcd $c
done
reset
sql "UPDATE snapshot SET path = 'fcd/$A/../../../outside/victim.vmdk'"
refused "a snapshot row naming a file outside: cat ID@SSID" "not a file in the FCD's folder" "$VDISK" fcd cat "$DS" "$A@$S"
refused "... and revert to it" "not a file in the FCD's folder" "$VDISK" fcd revert "$DS" "$A" "$S"
reset
sql "UPDATE fcd SET path = 'fcd/$A/x/../../$A/fcd.vmdk'"
refused "a row with a folder inside the FCD path" "not a file in the FCD's folder" "$VDISK" fcd info "$DS" "$A"
reset

# the FCD folder replaced by a link to another folder
mv "$DS/fcd/$A" "$WORK/moved"
cp -a "$WORK/moved" "$WORK/outside/$A"
ln -s "$WORK/outside/$A" "$DS/fcd/$A"
refused "an FCD folder that is a link out of the datastore: delete" "a link" "$VDISK" fcd delete "$DS" "$A"
refused "... cat" "a link" "$VDISK" fcd cat "$DS" "$A"
refused "... reconcile --remove" "a link" "$VDISK" fcd reconcile --remove "$DS"
rm "$DS/fcd/$A"; rm -rf "$WORK/outside/$A"; mv "$WORK/moved" "$DS/fcd/$A"

# a descriptor whose extent names a file outside the FCD folder
TOP=$(sql "SELECT path FROM fcd")
cp "$DS/$TOP" "$WORK/top.save"
"$VDISK" create --type monolithicFlat --size 4M "$WORK/outside/flat.vmdk" >/dev/null
python3 - "$DS/$TOP" "$WORK/outside/flat-flat.vmdk" <<'PY'
import sys
p, target = sys.argv[1], sys.argv[2]
d = open(p, 'rb').read()
# an embedded descriptor: append nothing, write a text descriptor instead
open(p, 'w').write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 8192 FLAT "../../../outside/flat-flat.vmdk" 0\n\nddb.adapterType = "lsilogic"\n')
PY
refused "a descriptor whose extent lies outside the datastore: cat" "outside|not a plain|folder|trusted|refus" "$VDISK" fcd cat "$DS" "$A"
refused "... snapshot" "outside|not a plain|folder|trusted|refus" "$VDISK" fcd snapshot "$DS" "$A"
cp "$WORK/top.save" "$DS/$TOP"

# a corrupt database file: random bytes, then a damaged page
check "the datastore reads again after the repairs" bash -c "'$VDISK' fcd cat '$DS' '$A' | cmp -s - <(head -c 4M /dev/zero)"
pattern "$DS/fcd-catalog.db" 65536 7
refused "a catalog of random bytes: list" "not an SQLite database|not a usable FCD catalog" "$VDISK" fcd list "$DS"
refused "... create" "not an SQLite database|not a usable FCD catalog" "$VDISK" fcd create --name x --size 1M "$DS"
check "no -wal, -shm or -journal made beside a corrupt catalog" bash -c "[ ! -e '$DS/fcd-catalog.db-wal' ] && [ ! -e '$DS/fcd-catalog.db-shm' ] && [ ! -e '$DS/fcd-catalog.db-journal' ]"
reset
python3 - "$DS/fcd-catalog.db" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
for i in range(100, len(b)): b[i] = (b[i] * 7 + 13) & 0xff   # every page but the header
open(p, 'wb').write(b)
PY
refused "a catalog with damaged pages: list" "malformed|not a usable|not a database|corrupt" "$VDISK" fcd list "$DS"
reset
sqlite3 "$DS/fcd-catalog.db" "UPDATE schema_version SET version = 99"
refused "a catalog of a newer schema" "schema version 99" "$VDISK" fcd list "$DS"
reset

# hostile intents
sql "INSERT INTO intent (op, uuid, step, created) VALUES ('delete', '../../etc', 0, 0)"
refused "an intent naming ../../etc" "malformed ID" "$VDISK" fcd list "$DS"
reset
sql "INSERT INTO intent (op, uuid, step, created) VALUES ('create', '$A', 0, 0)"
refused "an intent that would remove a catalogued FCD" "which the catalog holds" "$VDISK" fcd list "$DS"
reset
sql "INSERT INTO intent (op, uuid, arg, arg2, step, created) VALUES ('attach', '$A', '/etc/passwd', 'scsi0:1 persistent 0', 0, 0)"
refused "an attach intent naming /etc/passwd" "names no .vmx" "$VDISK" fcd list "$DS"
reset
# the device rule at its boundary (VMware's SCSI numbering: controllers
# 0-3, units 0-15 but 7), the same for catalog rows and intents
for dev in scsi0:0 scsi0:6 scsi0:8 scsi0:15 scsi3:0 scsi3:15; do
  sql "INSERT INTO attachment VALUES ('$A', '$WORK/outside/x.vmx', '$dev', 'persistent')"
  check "an attachment on $dev is read" bash -c "'$VDISK' fcd info --json '$DS' '$A' | grep -q '\"$dev\"'"
  reset
done
for dev in scsi0:7 scsi0:16 scsi4:0 scsi0:+1 scsi0:01 scsi0:-1 'scsi0:1x' scsi:1 ide0:0 sata0:0 nvme0:0; do
  sql "INSERT INTO attachment VALUES ('$A', '$WORK/outside/x.vmx', '$dev', 'persistent')"
  refused "an attachment row on device $dev" "malformed attachment" "$VDISK" fcd info "$DS" "$A"
  reset
done
for dev in scsi0:7 scsi0:16 scsi4:0; do
  sql "INSERT INTO intent (op, uuid, arg, arg2, step, created) VALUES ('attach', '$A', '$WORK/outside/x.vmx', '$dev persistent 0', 0, 0)"
  refused "an attach intent on device $dev" "malformed attach intent" "$VDISK" fcd list "$DS"
  reset
done
sql "INSERT INTO intent (op, uuid, step, created) VALUES ('format-disk', '$A', 0, 0)"
refused "an intent of an unknown kind" "unknown kind" "$VDISK" fcd list "$DS"
reset
sql "INSERT INTO intent (op, uuid, arg, step, created) VALUES ('relocate', '$A', '$WORK/outside', 0, 0)"
"$VDISK" fcd list "$DS" >/dev/null 2>&1
check "a relocate intent naming a folder without a catalog makes none there" bash -c "[ ! -e '$WORK/outside/fcd-catalog.db' ] && [ -d '$DS/fcd/$A' ] && [ -z \"\$(sqlite3 '$DS/fcd-catalog.db' 'SELECT * FROM intent')\" ]"
reset
printf 'scsi0:0.present = "TRUE"\nscsi0:0.fileName = "/elsewhere/system.vmdk"\n' > "$WORK/outside/other.vmx"
sql "INSERT INTO attachment VALUES ('$A', '$WORK/outside/other.vmx', 'scsi0:0', 'persistent')"
cp "$WORK/outside/other.vmx" "$WORK/other.save"
"$VDISK" fcd snapshot "$DS" "$A" >/dev/null
check "an attachment row naming another disk's .vmx entry: a snapshot leaves that entry alone" cmp -s "$WORK/outside/other.vmx" "$WORK/other.save"
reset
rm -f "$WORK/outside/other.vmx"
"$VDISK" fcd reconcile --remove "$DS" >/dev/null   # the link of that snapshot, which the old catalog copy does not know
check "after all of it the FCD and its snapshot read as before" bash -c "'$VDISK' fcd cat '$DS' '$A@$S' | cmp -s - <(head -c 4M /dev/zero) && [ \"\$('$VDISK' fcd reconcile '$DS')\" = '' ]"
done_testing
