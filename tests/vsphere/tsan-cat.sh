#!/bin/bash
# ThreadSanitizer over the parallel read-ahead of the datastore backend:
# `vdisk cat vsphere://...` of a flat disk (ranged GETs over several
# connections) and of a sparse one, then with a GET dropped mid-read and
# with Range ignored mid-read (the error paths), each read by a vdisk
# built with -fsanitize=thread into build/tsan.  Not part of tests/run.sh
# (the TSan build takes minutes); run it by hand:
#   tests/vsphere/tsan-cat.sh        (prints TAP; exit 1 on a report)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
nice make -j2 O=build/tsan BOOTSTRAP=0 EXTRA_CFLAGS="-fsanitize=thread -O1 -g" \
  EXTRA_LDFLAGS=-fsanitize=thread build/tsan/bin/vdisk >/dev/null || exit 1
make -s -j2 O=build/check SAN=1 build/check/bin/vdisk >/dev/null || exit 1
export VDISK_TOP=$top VDISK=$top/build/check/bin/vdisk VDISK_BUILD=build/check
TSAN=$top/build/tsan/bin/vdisk
source "$top/tests/functions.sh"
source "$top/tests/vsphere/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
head -c 80000000 /dev/urandom > r.bin
tsan_cat() {  # OPTS... -- DISK-ARGS: read with the TSan vdisk, count reports
  local opts=() d
  while [ "$1" != -- ]; do opts+=("$1"); shift; done; shift
  start_vcsim "${opts[@]}"
  d="$VCSIM_DIR/ha-host_VM0"
  rm -f "$d"/disk1*.vmdk
  "$VDISK" create "$@" "$d/disk1.vmdk"
  "$VDISK" write --offset 3M --file r.bin "$d/disk1.vmdk"
  "$VDISK" cat "$d/disk1.vmdk" > want.raw
  TSAN_OPTIONS="halt_on_error=0 exitcode=66" "$TSAN" cat \
    "vsphere://root@$VCSIM_HOST/[$VCSIM_DS] ha-host_VM0/disk1.vmdk?cafile=$VCSIM_CERT" \
    > got.raw 2> tsan.err
  TSAN_RC=$?
  stop_vcsim
}
tsan_cat -- --type monolithicFlat --size 96M
check "flat disk: no ThreadSanitizer report, content right (exit $TSAN_RC)" \
  sh -c "! grep -q ThreadSanitizer tsan.err && cmp -s want.raw got.raw"
tsan_cat -- --size 96M
check "sparse disk: no report, content right (exit $TSAN_RC)" \
  sh -c "! grep -q ThreadSanitizer tsan.err && cmp -s want.raw got.raw"
tsan_cat -dropat 50000000 -- --type monolithicFlat --size 96M
check "a GET dropped mid-read: the read fails, no report (exit $TSAN_RC)" \
  sh -c "test $TSAN_RC = 1 && ! grep -q ThreadSanitizer tsan.err"
tsan_cat -norangeafter 6 -- --type monolithicFlat --size 96M
check "Range ignored mid-read: the read fails, no report (exit $TSAN_RC)" \
  sh -c "test $TSAN_RC = 1 && ! grep -q ThreadSanitizer tsan.err"
done_testing
