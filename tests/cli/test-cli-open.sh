#!/bin/bash
# Open rules that qemu-img shares: a parent named relative to the child's
# folder ("../base.vmdk") opens under --trusted, and two FLAT extents over
# one file at different offsets (a partitioned device's layout) open when
# their ranges of the file do not overlap.  Both read byte for byte as
# qemu-img reads them.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"

# --- a parent in the folder above ---
"$VDISK" create --size 4M base.vmdk >/dev/null
pattern a.bin 300000 1
"$VDISK" write --offset 123456 --file a.bin base.vmdk >/dev/null
mkdir sub
qemu-img create -q -f vmdk -b ../base.vmdk -F vmdk sub/child.vmdk
check "qemu-img wrote the relative hint" bash -c "strings sub/child.vmdk | grep -q 'parentFileNameHint=\"../base.vmdk\"'"
pattern b.bin 70000 2
if command -v qemu-io >/dev/null; then
  qemu-io -f vmdk -c "write -P 0x5a 1M 70000" sub/child.vmdk >/dev/null
fi
qemu-img convert -O raw sub/child.vmdk q.raw
"$VDISK" cat sub/child.vmdk > plain.raw 2> plain.txt; rc=$?
check "without --trusted '../base.vmdk' is refused" test "$rc" = 1
check "... and the refusal names --trusted" grep -q -- "--trusted" plain.txt
"$VDISK" cat --trusted sub/child.vmdk > v.raw
check "cat --trusted reads the chain as qemu-img does" same_file v.raw q.raw
"$VDISK" info --trusted sub/child.vmdk > info.txt
check "info --trusted: the parent is found" grep -q "base.vmdk" info.txt
check "chain --trusted lists both links" \
  bash -c "'$VDISK' chain --trusted sub/child.vmdk | grep -c vmdk | grep -qx 2"
check "convert --trusted makes a copy qemu-img reads identically" \
  bash -c "'$VDISK' convert --trusted sub/child.vmdk flatcopy.vmdk && qemu-img compare -q flatcopy.vmdk sub/child.vmdk"

# --- two FLAT extents over one file ---
pattern dev.img $((8 << 20)) 3
cat > part.vmdk <<'EOF'
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

# Extent description
RW 2048 FLAT "dev.img" 2048
RW 4096 FLAT "dev.img" 8192

# The Disk Data Base
#DDB

ddb.adapterType = "ide"
ddb.geometry.cylinders = "3"
ddb.geometry.heads = "16"
ddb.geometry.sectors = "63"
EOF
qemu-img convert -O raw part.vmdk qp.raw
check "qemu-img reads two FLAT extents over one file (3 MiB)" test "$(stat -c %s qp.raw)" = $((3 << 20))
"$VDISK" cat part.vmdk > vp.raw
check "vdisk cat reads them as qemu-img does" same_file vp.raw qp.raw
check "the bytes are the file's two ranges" python3 - dev.img vp.raw <<'PY'
import sys
d = open(sys.argv[1], 'rb').read(); v = open(sys.argv[2], 'rb').read()
sys.exit(0 if v == d[2048*512:4096*512] + d[8192*512:12288*512] else 1)
PY
pattern w.bin 5000 4
check "a write into the second extent" "$VDISK" write --offset $((2048*512 + 100)) --file w.bin part.vmdk
qemu-img convert -O raw part.vmdk qp2.raw
"$VDISK" cat part.vmdk > vp2.raw
check "qemu-img reads the write where vdisk put it" same_file vp2.raw qp2.raw
check "... at file offset 8192 sectors + 100" python3 - dev.img w.bin <<'PY'
import sys
d = open(sys.argv[1], 'rb').read(); w = open(sys.argv[2], 'rb').read()
sys.exit(0 if d[8192*512+100:8192*512+100+len(w)] == w else 1)
PY
sed 's/^RW 4096 FLAT "dev.img" 8192/RW 4096 FLAT "dev.img" 3000/' part.vmdk > overlap.vmdk
"$VDISK" info overlap.vmdk > ov.txt 2>&1; rc=$?
check "overlapping FLAT ranges of one file are still refused" \
  bash -c "[ $rc = 1 ] && grep -q 'listed twice' ov.txt"
done_testing
