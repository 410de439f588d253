#!/bin/bash
# A VixDiskLib program that writes and exits without VixDiskLib_Close
# (bindings closing at exit; VixDiskLib_Exit with handles open) keeps its
# writes: Exit flushes and closes every handle still open, and so does
# process exit.  qemu-img reads the data back.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
b="$VDISK_TOP/$VDISK_BUILD"
client="$b/tests/vix-client"
libdir="$b/compat"
[ -x "$client" ] || { echo "# skip: build the tests first"; exit 77; }
cd "$WORK"

pattern data.raw $((5 * 1048576 + 512)) 33
check "write, then VixDiskLib_Exit without Close" \
  "$client" "$libdir" write-exit a.vmdk data.raw
check "qemu-img check: the tables name every grain" qemu-img check -q a.vmdk
check "qemu-img reads what was written" \
  qemu-img compare -q -f vmdk -F raw a.vmdk data.raw

check "write, then exit without Close or Exit" \
  "$client" "$libdir" write-exit b.vmdk data.raw noexit
check "qemu-img check after a plain exit" qemu-img check -q b.vmdk
check "qemu-img reads what was written before the exit" \
  qemu-img compare -q -f vmdk -F raw b.vmdk data.raw
done_testing
