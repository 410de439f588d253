#!/bin/bash
# libnbd, libcurl, libxml2 and libclamav are loaded on first use
# (lib/base/dl.c): libvdisk.so does not need them, a local command maps
# none of them (startup: ~5 ms, not ~15), the commands that use them load
# them, and when one cannot be loaded (an LD_PRELOAD'ed dlopen that
# refuses it, as on a machine without the package) the command says which
# library and package, exits non-zero, and does not crash.
. "$(dirname "$0")/../functions.sh"
requires "${CC:-cc}" readelf python3
cd "$WORK"
LIB="$VDISK_TOP/$VDISK_BUILD/lib/libvdisk.so"
needed=$(readelf -d "$LIB" | grep NEEDED)
for l in libnbd libcurl libxml2 libclamav; do
  check "libvdisk.so does not need $l" bash -c "! grep -q '$l' <<< \"\$0\"" "$needed"
done
check "libvdisk.so still needs libc (the check reads NEEDED)" grep -q 'libc.so' <<< "$needed"

$VDISK create --size 16M d.vmdk >/dev/null
# the shared objects a command maps (LD_DEBUG lists each one loaded)
maps() { LD_DEBUG=libs "$@" 2>&1 >/dev/null | grep -o 'calling init: [^ ]*' | sed 's/.*: //' | sort -u; }
maps $VDISK info d.vmdk > info.libs
for l in libnbd libcurl libxml2 libclamav libgnutls; do
  check "vdisk info maps no $l" bash -c "! grep -q '$l' info.libs"
done
check "vdisk info maps libvdisk (LD_DEBUG works)" grep -q 'libvdisk' info.libs

# a command that needs one loads it: NBD (a refused connection is fine)
maps $VDISK cat nbd://127.0.0.1:1/x > nbd.libs
check "an NBD URI loads libnbd" grep -q 'libnbd' nbd.libs

# a dlopen that refuses one library
cat > nodl.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
void *
dlopen (const char *name, int flags)
{
  static void *(*real) (const char *, int);
  const char *no = getenv ("NODL");
  if (name && no && strstr (name, no))
    return NULL;
  if (!real)
    real = (void *(*) (const char *, int)) dlsym (RTLD_NEXT, "dlopen");
  return real (name, flags);
}
C
${CC:-cc} -shared -fPIC -o nodl.so nodl.c -ldl
check "the refusing dlopen builds" test -f nodl.so
# (ASan must come first in the preload list; the shim after it)
pre=$(ldd "$VDISK" | awk '/libasan/ {print $3}')
nodl() { LD_PRELOAD="${pre:+$pre:}$WORK/nodl.so" NODL=$1 "${@:2}"; }
nodl libnbd $VDISK cat nbd://127.0.0.1:1/x > /dev/null 2> nbd.err; rc=$?
check "without libnbd: NBD fails (exit $rc), naming libnbd.so.0 and the package" \
  bash -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'libnbd.so.0' nbd.err && grep -q 'install libnbd0' nbd.err"
nodl libnbd $VDISK info d.vmdk > /dev/null
check "without libnbd: a local disk still works" test $? = 0
nodl libcurl $VDISK vsphere ls 'vsphere://u@127.0.0.1:1/' > /dev/null 2> vs.err </dev/null; rc=$?
check "without libcurl: vSphere fails (exit $rc), naming libcurl.so.4" \
  bash -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'libcurl.so.4' vs.err"
nodl libxml2 $VDISK vsphere ls 'vsphere://u@127.0.0.1:1/' > /dev/null 2> vx.err </dev/null; rc=$?
check "without libxml2: vSphere fails (exit $rc), naming libxml2.so.2" \
  bash -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'libxml2.so.2' vx.err"
DB="$VDISK_TOP/tests/scan/db"
if [ -d "$DB" ]; then
  nodl libclamav $VDISK scan --db "$DB" d.vmdk > /dev/null 2> cl.err; rc=$?
  check "without libclamav: scan fails (exit $rc), naming libclamav.so.12" \
    bash -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'libclamav.so.12' cl.err"
fi
done_testing
