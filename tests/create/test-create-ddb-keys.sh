#!/bin/bash
# One descriptor template (lib/formats/desc-template.c): a created sparse
# disk, a created (empty) stream disk and a stream made by convert carry
# the same ddb keys, ddb.uuid in the same form, except the stream's two
# tools keys (ddb.toolsInstallType, ddb.toolsVersion, what OVF exports
# carry); a vmfsThin disk adds exactly ddb.thinProvisioned.
source "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"

# the ddb lines of a disk's descriptor (embedded or its own file)
ddb () {
  python3 - "$1" <<'PY'
import re, sys
b = open(sys.argv[1], 'rb').read(1 << 20)
i = b.find(b'# Disk DescriptorFile')
t = b[i:].split(b'\0', 1)[0].decode()
for l in t.splitlines():
    m = re.match(r'(ddb\.[A-Za-z0-9_.]+) = "(.*)"$', l)
    if m:
        print(m.group(1), m.group(2))
PY
}
keys () { ddb "$1" | awk '{print $1}' | sort; }
uuid_form () { ddb "$1" | awk '$1 == "ddb.uuid"' | sed 's/^ddb.uuid //' \
  | grep -Ex '([0-9a-f]{2} ){15}[0-9a-f]{2}'; }

"$VDISK" create --size 3M sp.vmdk >/dev/null
"$VDISK" create --type streamOptimized --size 3M st.vmdk >/dev/null
pattern data 100000 1
"$VDISK" write --offset 1M --file data sp.vmdk >/dev/null
"$VDISK" convert --type streamOptimized sp.vmdk cv.vmdk >/dev/null
"$VDISK" create --type vmfsThin --size 3M th.vmdk >/dev/null
keys sp.vmdk > sp.keys; keys st.vmdk > st.keys; keys cv.vmdk > cv.keys
keys th.vmdk > th.keys

check "the sparse disk has the template's keys" \
  bash -c "tr '\n' ' ' < sp.keys | grep -qx 'ddb.adapterType ddb.geometry.cylinders ddb.geometry.heads ddb.geometry.sectors ddb.longContentID ddb.uuid ddb.virtualHWVersion '"
check "a created stream disk: the same keys plus the two tools keys" \
  bash -c "comm -13 sp.keys st.keys | tr '\n' ' ' | grep -qx 'ddb.toolsInstallType ddb.toolsVersion ' && [ -z \"\$(comm -23 sp.keys st.keys)\" ]"
check "a converted stream disk: the same keys as a created one" cmp -s st.keys cv.keys
check "vmfsThin: the same keys plus ddb.thinProvisioned" \
  bash -c "comm -13 sp.keys th.keys | tr '\n' ' ' | grep -qx 'ddb.thinProvisioned ' && [ -z \"\$(comm -23 sp.keys th.keys)\" ]"
for f in sp st cv th; do
  check "$f: ddb.uuid is 16 hex bytes separated by spaces" \
    bash -c "$(declare -f ddb uuid_form); uuid_form $f.vmdk"
done
done_testing
