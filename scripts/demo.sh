#!/bin/bash
# make demo: the main job on a sample made on the spot.
set -euo pipefail
O=${1:-build/release}
top=$(cd "$(dirname "$0")/.." && pwd)
V="$top/$O/bin/vdisk"
W=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-demo.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A disk written by other software (dfvfs's ext2 test disk): vdisk reads it as is."
cp "$top/tests/data/real/dfvfs-ext2.vmdk" guest.vmdk
run "$V" info guest.vmdk

step "Create a new 64 MiB monolithicSparse disk (VMware's hosted default)."
run "$V" create --size 64M --adapter lsilogic demo.vmdk

step "Write that guest image into the new disk at 1 MiB, as a partition would sit."
"$V" cat guest.vmdk > guest.raw
run "$V" write --offset 1M --file guest.raw demo.vmdk

step "Show what was made: type, geometry, CID, extents."
run "$V" info demo.vmdk

step "The allocation map: only the written grains hold data; the rest is holes."
run "$V" map demo.vmdk

step "Read it back and verify, byte for byte."
"$V" cat demo.vmdk > back.raw
run cmp -i 1048576:0 -n "$(stat -c %s guest.raw)" back.raw guest.raw && echo "identical: $(stat -c %s guest.raw) bytes"

step "Take a snapshot: a child disk takes the writes, the parent stays frozen."
run "$V" child demo.vmdk demo-000001.vmdk
printf 'written after the snapshot' > note.txt
run "$V" write --offset 40M --file note.txt demo-000001.vmdk
run "$V" chain demo-000001.vmdk

step "Convert the whole chain into other layouts: split 2 GB extents, and streamOptimized (for OVA)."
run "$V" convert --type twoGbMaxExtentSparse demo-000001.vmdk split.vmdk
run "$V" convert --type streamOptimized demo-000001.vmdk stream.vmdk
ls -l *.vmdk
if command -v qemu-img >/dev/null; then
  step "QEMU agrees: the converted disks hold the same content."
  run qemu-img compare demo-000001.vmdk split.vmdk
  run qemu-img compare demo-000001.vmdk stream.vmdk
fi

step "Check the metadata of each disk (exit 0 = clean, like qemu-img check)."
run "$V" check split.vmdk
run "$V" check stream.vmdk

step "Commit the snapshot back into its parent; the chain reads as before."
run "$V" commit demo-000001.vmdk
"$V" cat demo.vmdk > after.raw
printf 'parent now reads: '; dd if=after.raw bs=1M skip=40 count=1 status=none | head -c 26 || true; echo

cat <<'MSG'

Done.  Try next:
  vdisk --help                          every command
  vdisk create --type vmfs --size 1G x.vmdk
  vdisk info --json DISK                machine-readable details
  vdisk map --json DISK                 allocated ranges, as qemu-img map
  vdisk convert --type raw DISK out.img
  make check                            build and run every test
MSG
