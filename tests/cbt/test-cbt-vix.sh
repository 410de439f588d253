#!/bin/bash
# Changed block tracking through VixDiskLib: Write and WriteAsync are
# tracked, ReadMetadata("changeId") gives the current ID, and
# QueryChangedAreas (after OpenEx) answers the areas written since an ID,
# a FileFault-like error for an ID of another epoch.
. "$(dirname "$0")/../functions.sh"
requires python3
VIX=$VDISK_TOP/$VDISK_BUILD/tests/vix-client
LIBDIR=$VDISK_TOP/$VDISK_BUILD/compat
[ -x "$VIX" ] || { echo "# skip: vix-client not built"; exit 77; }
cd "$WORK"
V=$VDISK
$V create --size 16M d.vmdk
$V cbt enable d.vmdk
id0=$("$VIX" "$LIBDIR" changeid d.vmdk)
check "ReadMetadata(changeId) gives the ID vdisk shows" bash -c "$V cbt status d.vmdk | grep -qF '$id0'"
"$VIX" "$LIBDIR" changes d.vmdk "$id0" > c0.txt
check "nothing changed yet" test ! -s c0.txt
pattern a 100000 1; pattern b 40960 2
check "Write through VixDiskLib" "$VIX" "$LIBDIR" write d.vmdk 2048 a
check "WriteAsync + Wait through VixDiskLib" "$VIX" "$LIBDIR" write d.vmdk 20000 b async
"$VIX" "$LIBDIR" changes d.vmdk "$id0" > c1.txt
cat c1.txt | sed 's/^/# /'
check "Write and WriteAsync are both reported (sectors 2048+196, 20000+80)" python3 - <<'P'
areas = [tuple(map(int, l.split())) for l in open("c1.txt")]
def covered(s, n):
    return all(any(o <= x < o + l for o, l in areas) for x in range(s, s + n))
assert covered(2048, 196) and covered(20000, 80), areas
assert sum(l for _, l in areas) <= 4 * 128, areas   # whole 64 KiB blocks only
P
id1=$("$VIX" "$LIBDIR" changeid d.vmdk)
check "the change ID moved on" test "$id0" != "$id1"
"$VIX" "$LIBDIR" changes d.vmdk "$id1" > c2.txt
check "nothing since the newer ID" test ! -s c2.txt
# the same ID with another epoch: its first UUID byte changed (never equal)
if [ "${id1:0:2}" = 00 ]; then other="11${id1:2}"; else other="00${id1:2}"; fi
check "an ID of another epoch is an error with its text" bash -c "! '$VIX' '$LIBDIR' changes d.vmdk '$other' 2>e.txt && grep -q 'another tracking epoch' e.txt"
done_testing
