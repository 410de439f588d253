#!/bin/bash
# vdisk meta: list, get, set (with or without the "ddb." prefix), delete;
# the line written is the one qemu-img writes for the same setting, qemu-img
# still reads the disk, the content does not change; quotes and line breaks
# in values are refused with the descriptor untouched.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
pattern data.bin 1048576 9
# the descriptor text qemu reads: a separate file, or the embedded area
desc() { if [ "$(head -c 4 "$1")" = KDMV ]; then dd if="$1" bs=512 skip=1 count=20 status=none | tr -d '\0'; else cat "$1"; fi; }

qemu-img create -q -f vmdk -o adapter_type=lsilogic,subformat=monolithicFlat q.vmdk 64M
qline=$(grep '^ddb.adapterType' q.vmdk)
for t in monolithicSparse monolithicFlat; do
  rm -f d.vmdk d-flat.vmdk
  $VDISK create -t $t -s 64M d.vmdk && $VDISK write -o 1M -f data.bin d.vmdk
  qemu-img convert -O raw d.vmdk before.raw
  check "$t: list shows ddb.adapterType" bash -c "$VDISK meta d.vmdk | grep -q '^ddb.adapterType = \"ide\"'"
  check "$t: set adapterType without the ddb. prefix" $VDISK meta d.vmdk adapterType lsilogic
  check "$t: get it back" test "$($VDISK meta d.vmdk ddb.adapterType)" = lsilogic
  check "$t: descriptor line as qemu-img writes it ($qline)" bash -c "$(declare -f desc); desc d.vmdk | grep -qxF '$qline'"
  check "$t: qemu-img still reads it" qemu-img check -q d.vmdk
  check "$t: content unchanged" qemu-img compare -q before.raw d.vmdk
  check "$t: vdisk info shows the adapter" bash -c "$VDISK info d.vmdk | grep -q lsilogic"
  check "$t: new key" $VDISK meta d.vmdk ddb.toolsVersion 12345
  check "$t: JSON listing has it" bash -c "$VDISK meta --json d.vmdk | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"ddb.toolsVersion\"] == \"12345\" else 1)'"
  check "$t: delete it" $VDISK meta --delete toolsVersion d.vmdk
  check "$t: gone (get fails)" bash -c "! $VDISK meta d.vmdk toolsVersion 2>/dev/null"
  desc d.vmdk > before.txt
  check "$t: value with a quote refused" bash -c "! $VDISK meta d.vmdk toolsVersion 'a\"b' 2>/dev/null"
  check "$t: value with a newline refused" bash -c "! $VDISK meta d.vmdk toolsVersion \"\$(printf 'a\nuuid.bad = 1')\" 2>/dev/null"
  check "$t: value with CR refused" bash -c "! $VDISK meta d.vmdk toolsVersion \"\$(printf 'a\rb')\" 2>/dev/null"
  check "$t: bad key refused" bash -c "! $VDISK meta d.vmdk 'a\"b' 1 2>/dev/null"
  check "$t: descriptor untouched by refusals" bash -c "$(declare -f desc); desc d.vmdk | cmp -s - before.txt"
  check "$t: qemu-img check clean" qemu-img check -q d.vmdk
done
done_testing
