#!/bin/bash
# vixDiskLib.h and vixMntapi.h compile as C89, C99 and C++ (pedantic, no
# warnings), honour a caller's VIXDISKLIB_VERSION_MAJOR/MINOR, and have
# VDDK's struct layouts and constant values (tests/compat/vix-layout.c).
source "$(dirname "$0")/../functions.sh"
requires gcc g++
inc="$VDISK_TOP/include"
layout="$VDISK_TOP/tests/compat/vix-layout.c"
W="-Wall -Wextra -pedantic -Werror"

for std in c89 c99 gnu11; do
  check "vixMntapi.h + vixDiskLib.h compile as $std" \
    bash -c "echo '#include <vdisk/vixMntapi.h>' | gcc -std=$std $W -I'$inc' -fsyntax-only -x c -"
  check "header compiles as $std with FOR_MNTAPI" \
    bash -c "printf '#define FOR_MNTAPI\n#include <vdisk/vixMntapi.h>\n' | gcc -std=$std $W -I'$inc' -fsyntax-only -x c -"
  check "struct layouts and constants hold ($std)" \
    gcc -std=$std $W -Wno-unused-local-typedefs -I"$inc" -fsyntax-only "$layout"
done
check "header compiles as C++" \
  bash -c "echo '#include <vdisk/vixMntapi.h>' | g++ $W -I'$inc' -fsyntax-only -x c++ -"
check "header compiles as C++98" \
  bash -c "echo '#include <vdisk/vixMntapi.h>' | g++ -std=c++98 $W -Wno-long-long -I'$inc' -fsyntax-only -x c++ -"
check "struct layouts and constants hold (C++)" \
  g++ $W -I"$inc" -fsyntax-only -x c++ "$layout"

# The functions have C linkage from C++.
cat > "$WORK/cxx.cc" <<'CXX'
#include <vdisk/vixDiskLib.h>
int main () { return VixDiskLib_ListTransportModes () != 0 ? 0 : 1; }
CXX
if g++ $W -I"$inc" -c "$WORK/cxx.cc" -o "$WORK/cxx.o" 2>"$WORK/cxx.err"; then
  if nm "$WORK/cxx.o" | grep -q ' U VixDiskLib_ListTransportModes$'; then
    ok "C++ callers reference the unmangled C symbol"
  else
    nm "$WORK/cxx.o" | sed 's/^/# /'; not_ok "C++ callers reference the unmangled C symbol"
  fi
else
  sed 's/^/# /' "$WORK/cxx.err"; not_ok "C++ callers reference the unmangled C symbol"
fi

# A caller's own version macros win (the VDDK sample defines 6 and 8).
cat > "$WORK/ver.c" <<'C'
#define VIXDISKLIB_VERSION_MAJOR 6
#define VIXDISKLIB_VERSION_MINOR 8
#include <vdisk/vixDiskLib.h>
typedef char major_check[VIXDISKLIB_VERSION_MAJOR == 6 ? 1 : -1];
typedef char minor_check[VIXDISKLIB_VERSION_MINOR == 8 ? 1 : -1];
C
check "caller's VIXDISKLIB_VERSION_MAJOR/MINOR are kept" \
  gcc -std=c89 $W -I"$inc" -fsyntax-only "$WORK/ver.c"

# Programs written for VMware's header (its Go bindings, its sample)
# include only vixDiskLib.h, call free() on what the library returns, and
# define VIXDISKLIB_VERSION_MAJOR/MINOR themselves after the include: the
# header must bring <stdlib.h> and must not define the version macros
# (a redefinition is an error under -Werror).
cat > "$WORK/probe.c" <<'C'
#include <vdisk/vixDiskLib.h>
#define VIXDISKLIB_VERSION_MAJOR 7
#define VIXDISKLIB_VERSION_MINOR 0
int probe (void);
int
probe (void)
{
  char *text = VixDiskLib_GetErrorText (VIX_E_FAIL, NULL);
  int ok = text != NULL;
  free (text);
  return ok && VIXDISKLIB_VERSION_MAJOR == 7 && VIXDISKLIB_VERSION_MINOR == 0;
}
C
for std in c99 gnu11; do
  if gcc -std=$std $W -I"$inc" -c "$WORK/probe.c" -o "$WORK/probe.o" 2>"$WORK/probe.err"; then
    ok "C ($std, -Werror): free() and own version macros after the include"
  else
    sed 's/^/# /' "$WORK/probe.err"
    not_ok "C ($std, -Werror): free() and own version macros after the include"
  fi
done
cp "$WORK/probe.c" "$WORK/probe.cc"
for std in c++98 c++17; do
  if g++ -std=$std $W -Wno-long-long -I"$inc" -c "$WORK/probe.cc" -o "$WORK/probe.o" 2>"$WORK/probe.err"; then
    ok "C++ ($std, -Werror): free() and own version macros after the include"
  else
    sed 's/^/# /' "$WORK/probe.err"
    not_ok "C++ ($std, -Werror): free() and own version macros after the include"
  fi
done

# A deliberately wrong expectation must fail to compile (the check bites).
sed 's/OFF (VixDiskLibInfo, uuid, 48)/OFF (VixDiskLibInfo, uuid, 56)/' "$layout" > "$WORK/bad.c"
if ! gcc -std=c99 -I"$inc" -fsyntax-only "$WORK/bad.c" 2>"$WORK/bad.err" \
   && grep -q "negative" "$WORK/bad.err"; then
  ok "a wrong offset is caught"
else
  sed 's/^/# /' "$WORK/bad.err"; not_ok "a wrong offset is caught"
fi
done_testing
