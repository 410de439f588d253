#!/bin/bash
# Real-world disks written by other software (tests/data/real): vdisk reads
# them as qemu-img does, and `vdisk info` reports the capacity qemu-img sees
# and the geometry and adapter their own descriptors declare.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 cmp
REAL=$TESTDATA/real

# the DDB values of the descriptor embedded in a monolithicSparse file
ddb() {
  python3 - "$1" "$2" <<'PY'
import re, struct, sys
f = open(sys.argv[1], "rb").read()
off, size = struct.unpack_from("<QQ", f, 28)   # descriptorOffset, descriptorSize (sectors)
text = f[off*512:(off+size)*512].split(b"\0")[0].decode()
m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(sys.argv[2]), text, re.M)
print(m.group(1) if m else "")
PY
}

for name in dfvfs-ext2 plaso-image; do
  src=$REAL/$name.vmdk
  [ -f "$src" ] || { not_ok "$name.vmdk present"; continue; }
  md5_before=$(md5sum < "$src")
  qemu-img convert -f vmdk -O raw "$src" "$WORK/$name.raw"
  check "$name: vdisk cat == qemu-img convert -O raw" \
    bash -c "set -o pipefail; '$VDISK' cat '$src' | cmp -s - '$WORK/$name.raw'"
  if "$VDISK" info --json "$src" > "$WORK/info.json" 2>"$WORK/err"; then
    ok "$name: vdisk info --json exits 0"
  else
    not_ok "$name: vdisk info --json exits 0 ($(cat "$WORK/err"))"; continue
  fi
  j() { python3 -c "import json,sys; d=json.load(open('$WORK/info.json')); print($1)"; }
  qcap=$(qemu-img info --output=json "$src" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  check "$name: capacity $(j 'd["capacity"]') == qemu-img virtual-size $qcap" test "$(j 'd["capacity"]')" = "$qcap"
  want="$(ddb "$src" ddb.geometry.cylinders)/$(ddb "$src" ddb.geometry.heads)/$(ddb "$src" ddb.geometry.sectors)"
  got=$(j '"%d/%d/%d" % (d["geometry"]["cylinders"], d["geometry"]["heads"], d["geometry"]["sectors"])')
  check "$name: geometry $got == the descriptor's $want" test "$got" = "$want"
  want=$(ddb "$src" ddb.adapterType)
  check "$name: adapter $(j 'd["adapter"]') == the descriptor's $want" test "$(j 'd["adapter"]')" = "$want"
  check "$name: text info shows geometry and adapter" \
    bash -c "'$VDISK' info '$src' | grep -E '^geometry:' | grep -q '$got' && '$VDISK' info '$src' | grep -E '^adapter:' | grep -qw '$want'"
  want=$(ddb "$src" ddb.virtualHWVersion)
  check "$name: hardware version $(j 'd["hw_version"]') == the descriptor's $want" test "$(j 'd["hw_version"]')" = "$want"
  check "$name: createType monolithicSparse" test "$(j 'd["create_type"]')" = monolithicSparse
  # map: data ranges as qemu-img map
  qemu-img map -f vmdk --output=json "$src" > "$WORK/q.json"
  "$VDISK" map --json "$src" > "$WORK/v.json"
  check "$name: vdisk map data ranges == qemu-img map" python3 - "$WORK/q.json" "$WORK/v.json" <<'PY'
import json, sys
def ranges(p):
    out = []
    for e in json.load(open(p)):
        if e.get("data") and not e.get("zero"):
            s, l = int(e["start"]), int(e["length"])
            if out and out[-1][1] == s: out[-1][1] = s + l
            else: out.append([s, s + l])
    return out
a, b = ranges(sys.argv[1]), ranges(sys.argv[2])
if a != b:
    print("# qemu:", a, "\n# vdisk:", b)
sys.exit(a != b)
PY
  "$VDISK" check "$src" >/dev/null 2>&1; rc=$?
  qemu-img check -f vmdk "$src" >/dev/null 2>&1; qrc=$?
  check "$name: vdisk check (exit $rc) agrees with qemu-img check (exit $qrc) on clean vs not" \
    test $(( rc == 0 || rc == 3 )) = $(( qrc == 0 || qrc == 3 ))
  # convert it into a split layout and back: the content survives
  mkdir -p "$WORK/conv"
  check "$name: convert to twoGbMaxExtentSparse keeps the content (qemu-img compare)" \
    bash -c "'$VDISK' convert --type twoGbMaxExtentSparse '$src' '$WORK/conv/d.vmdk' && qemu-img compare -q -f raw -F vmdk '$WORK/$name.raw' '$WORK/conv/d.vmdk'"
  check "$name: convert keeps the adapter" \
    bash -c "'$VDISK' info '$WORK/conv/d.vmdk' | grep -E '^adapter:' | grep -qw '$(j 'd["adapter"]')'"
  rm -rf "$WORK/conv" "$WORK/$name.raw"
  check "$name: reading left the file unchanged" test "$(md5sum < "$src")" = "$md5_before"
done

done_testing
