#!/bin/bash
# vdisk create: --split-size (extents smaller than 2 GB keep VMware's file
# names), --type streamOptimized (an empty stream disk), and the
# provisioning rule: vmfs is preallocated (thick, as ESXi makes it), the
# other flat layouts are thin unless --preallocate.  qemu-img reads each.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"

# --- --split-size ---
check "create twoGbMaxExtentSparse --split-size 1M" \
  "$VDISK" create -t twoGbMaxExtentSparse --split-size 1M --size 3584K sp.vmdk
check "four extents with VMware's names" \
  bash -c "ls sp-s00?.vmdk | tr '\n' ' ' | grep -qx 'sp-s001.vmdk sp-s002.vmdk sp-s003.vmdk sp-s004.vmdk '"
check "extent lines of 2048, 2048, 2048, 1024 sectors" \
  bash -c "grep -E '^RW' sp.vmdk | awk '{print \$2}' | tr '\n' ' ' | grep -qx '2048 2048 2048 1024 '"
check "qemu-img check: clean" qemu-img check -q sp.vmdk
pattern data 1500000 5
"$VDISK" write --offset 700000 --file data sp.vmdk >/dev/null
qemu-img convert -O raw sp.vmdk sp.raw
check "a write across three extents reads back through qemu-img" python3 - sp.raw data <<'PY'
import sys
r = open(sys.argv[1], 'rb').read(); d = open(sys.argv[2], 'rb').read()
want = bytearray(3584 * 1024); want[700000:700000 + len(d)] = d
sys.exit(0 if r == bytes(want) else 1)
PY
check "create twoGbMaxExtentFlat --split-size 2M" \
  "$VDISK" create -t twoGbMaxExtentFlat --split-size 2M --size 5M fl.vmdk
check "flat extents fl-f001..f003, 2M 2M 1M" \
  bash -c "[ \$(stat -c %s fl-f001.vmdk) = 2097152 ] && [ \$(stat -c %s fl-f002.vmdk) = 2097152 ] && [ \$(stat -c %s fl-f003.vmdk) = 1048576 ]"
check "qemu-img reads the flat split disk" bash -c "qemu-img info fl.vmdk | grep -q '5 MiB'"
for bad in 1000 3000M 0 100K; do
  "$VDISK" create -t twoGbMaxExtentSparse --split-size $bad --size 4M bad.vmdk > bad.txt 2>&1; rc=$?
  check "--split-size $bad is refused, nothing made" bash -c "[ $rc = 1 ] && [ ! -e bad.vmdk ] && grep -q split-size bad.txt"
done
"$VDISK" create --split-size 1M --size 4M mono.vmdk > mono.txt 2>&1; rc=$?
check "--split-size with a monolithic type is refused" bash -c "[ $rc = 1 ] && [ ! -e mono.vmdk ]"

# --- an empty streamOptimized disk ---
mkdir st && cd st
check "create --type streamOptimized" "$VDISK" create --type streamOptimized --size 10M s.vmdk
check "only s.vmdk was made" test "$(ls -A)" = s.vmdk
check "qemu-img: streamOptimized, 10 MiB" \
  bash -c "qemu-img info s.vmdk | grep -q 'create type: streamOptimized' && qemu-img info s.vmdk | grep -q '10 MiB'"
check "qemu-img check: clean" qemu-img check -q s.vmdk
qemu-img convert -O raw s.vmdk s.raw
check "qemu-img reads 10 MiB of zeros" cmp -s s.raw <(head -c $((10 << 20)) /dev/zero)
check "vdisk check: clean" "$VDISK" check s.vmdk
check "the empty stream is small (no grains)" test "$(stat -c %s s.vmdk)" -lt 200000
check "create --type streamOptimized --preallocate is refused" \
  bash -c "! '$VDISK' create --type streamOptimized --preallocate --size 1M s2.vmdk 2>/dev/null && [ ! -e s2.vmdk ]"
cd ..

# --- provisioning ---
alloc() { echo $(( $(stat -c %b "$1") * 512 )); }
"$VDISK" create -t vmfs --size 8M thick.vmdk >/dev/null
check "vmfs is preallocated (thick)" test "$(alloc thick-flat.vmdk)" -ge $((8 << 20))
check "... and says so in its help" bash -c "'$VDISK' create --help | grep -q 'vmfs is preallocated'"
"$VDISK" create -t vmfsThin --size 8M thin.vmdk >/dev/null
check "vmfsThin is thin" test "$(alloc thin-flat.vmdk)" -lt $((1 << 20))
"$VDISK" create -t monolithicFlat --size 8M mf.vmdk >/dev/null
check "monolithicFlat is thin without --preallocate" test "$(alloc mf-flat.vmdk)" -lt $((1 << 20))
"$VDISK" create -t monolithicFlat --preallocate --size 8M mfp.vmdk >/dev/null
check "monolithicFlat --preallocate is allocated" test "$(alloc mfp-flat.vmdk)" -ge $((8 << 20))
for f in thick thin mf mfp; do
  check "qemu-img reads $f.vmdk" qemu-img check -q $f.vmdk
done
done_testing
