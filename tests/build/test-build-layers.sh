#!/bin/bash
# make check-layers (scripts/check-layers.py): a synthetic tree with a back
# edge (lib/base/x.o calls a function of lib/core/y.o) and a front end that
# uses an internal symbol must fail; the same tree without them, and the
# real build, must pass.
. "$(dirname "$0")/../functions.sh"
requires nm python3 "${CC:-cc}"
script="$VDISK_TOP/scripts/check-layers.py"
cc=${CC:-cc}

t="$WORK/tree"
mkdir -p "$t/lib/base" "$t/lib/core" "$t/tools/vdisk"
printf 'int vd__y (void);\nint vd__x (void) { return vd__y () + 1; }\n' > "$WORK/x.c"
printf 'int vd__y (void) { return 41; }\n' > "$WORK/y.c"
printf 'int vd__x (void);\nint vd__z (void) { return vd__x (); }\n' > "$WORK/z.c"
$cc -c -o "$t/lib/base/x.o" "$WORK/x.c" && $cc -c -o "$t/lib/core/y.o" "$WORK/y.c" \
  && $cc -c -o "$t/lib/core/z.o" "$WORK/z.c"
check "synthetic objects build" test -f "$t/lib/base/x.o" -a -f "$t/lib/core/y.o"

python3 "$script" "$t" > "$WORK/out1" 2>&1; rc=$?
check "a base object calling a core function fails" test "$rc" = 1
check "the back edge is named (object, tier, symbol)" \
  grep -q 'lib/base/x.o (base) -> lib/core/y.o (core): vd__y' "$WORK/out1"
check "the edge down (core -> base) is not reported" \
  bash -c "! grep -q 'lib/core/z.o' '$WORK/out1'"

# the same tree without the back edge passes
printf 'int vd__x (void) { return 1; }\n' > "$WORK/x.c"
$cc -c -o "$t/lib/base/x.o" "$WORK/x.c"
python3 "$script" "$t" > "$WORK/out2" 2>&1; rc=$?
check "without the back edge it passes" test "$rc" = 0

# a front end using an internal symbol fails
printf 'int vd__x (void);\nint main (void) { return vd__x (); }\n' > "$WORK/m.c"
$cc -c -o "$t/tools/vdisk/m.o" "$WORK/m.c"
python3 "$script" "$t" > "$WORK/out3" 2>&1; rc=$?
check "a front end using vd__x fails" test "$rc" = 1
check "the front-end use is named" grep -q 'tools/vdisk/m.o (front end) -> internal symbol vd__x' "$WORK/out3"
rm -f "$t/tools/vdisk/m.o"

# an object outside a tier folder fails
mkdir -p "$t/lib"
cp "$t/lib/core/y.o" "$t/lib/loose.o"
python3 "$script" "$t" > "$WORK/out4" 2>&1; rc=$?
check "a library object outside the tier folders fails" test "$rc" = 1
rm -f "$t/lib/loose.o"

# the real build
real="$VDISK_TOP/$VDISK_BUILD"
if [ -d "$real/lib" ]; then
  python3 "$script" "$real" > "$WORK/out5" 2>&1; rc=$?
  [ "$rc" = 0 ] || sed 's/^/# /' "$WORK/out5" | head -n 30
  check "the real build ($VDISK_BUILD) has no edge against the tiers" test "$rc" = 0
  # the real objects plus one base object calling the core (vd_disk_open):
  # the same check must now fail and name that edge
  bt="$WORK/real"
  mkdir -p "$bt"
  cp -r "$real/lib" "$bt/lib"
  printf '#include "vdisk/vdisk.h"\nint vd__back_edge (void) { return vd_disk_open (0, 0, 0); }\n' > "$WORK/back.c"
  $cc -I"$VDISK_TOP/include" -c -o "$bt/lib/base/back-edge.o" "$WORK/back.c"
  python3 "$script" "$bt" > "$WORK/out6" 2>&1; rc=$?
  check "the real build plus a base object calling vd_disk_open fails" test "$rc" = 1
  check "that back edge is named" \
    grep -q 'lib/base/back-edge.o (base) -> lib/core/open.o (core): vd_disk_open' "$WORK/out6"
  check "and it is the only edge reported" \
    test "$(grep -c '^check-layers: lib/' "$WORK/out6")" = 1
fi

# the io tier's sources include only base and io headers, not the umbrella
# internal.h (it pulls formats.h and the core's structs).
bad=$(cd "$VDISK_TOP" && grep -l '#include "\(internal\.h\|formats/\|core/\)' \
        lib/io/*.c lib/io/*.h)
check "lib/io includes no header above the io tier (${bad:-none})" test -z "$bad"
bad=$(cd "$VDISK_TOP" && grep -l '#include "\(internal\.h\|io/\|formats/\|core/\)' \
        lib/base/*.c lib/base/*.h)
check "lib/base includes no header above the base tier (${bad:-none})" test -z "$bad"
done_testing
