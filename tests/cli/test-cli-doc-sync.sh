#!/bin/bash
# The manual pages stay in sync with the code: libvdisk(3) has a reference
# entry ("=head3 NAME") for every VD_API function in include/vdisk/vdisk.h
# (a function added without one fails here), vdisk(1) lists every command
# of 'vdisk --help' in its SYNOPSIS, and every page is valid POD.
source "$(dirname "$0")/../functions.sh"
requires python3 podchecker
SRC="$VDISK_TOP"
check "libvdisk(3) has an entry for every VD_API function" python3 - "$SRC" <<'PY'
import re, sys
src = sys.argv[1]
h = open(src + "/include/vdisk/vdisk.h").read()
h = re.sub(r"/\*.*?\*/", "", h, flags=re.S)          # comments out
funcs = sorted(set(re.findall(r"\bVD_API\b[^;{]*?\b(vd_[a-z0-9_]+)\s*\(", h)))
pod = open(src + "/docs/libvdisk.pod").read()
have = set(re.findall(r"^=head3 (vd_[a-z0-9_]+)\s*$", pod, re.M))
missing = [f for f in funcs if f not in have]
stale = sorted(have - set(funcs))
print("# %d VD_API functions, %d entries" % (len(funcs), len(have)))
for f in missing: print("# no libvdisk(3) entry for %s" % f)
for f in stale: print("# libvdisk(3) documents %s, which vdisk.h does not declare" % f)
sys.exit(1 if missing or stale or len(funcs) < 50 else 0)
PY
check "each libvdisk(3) entry shows the function's prototype" python3 - "$SRC" <<'PY'
import re, sys
pod = open(sys.argv[1] + "/docs/libvdisk.pod").read()
bad = 0
for m in re.finditer(r"^=head3 (vd_[a-z0-9_]+)\n\n((?: .*\n)+)", pod, re.M):
    if m.group(1) + " (" not in m.group(2):
        print("# %s: the verbatim block after the heading is not its prototype" % m.group(1)); bad = 1
n = len(re.findall(r"^=head3 vd_", pod, re.M))
got = len(re.findall(r"^=head3 (vd_[a-z0-9_]+)\n\n ", pod, re.M))
if got != n:
    print("# %d of %d entries lack a prototype" % (n - got, n)); bad = 1
sys.exit(bad)
PY
cmds=$("$VDISK" --help | awk '/^  [a-z]/{print $1}')
missing=""
for c in $cmds; do
  grep -qE "^ vdisk $c( |$)" "$SRC/docs/vdisk.pod" || missing="$missing $c"
done
check "vdisk(1) SYNOPSIS has every command ($(echo $cmds | wc -w))${missing:+, missing:$missing}" test -z "$missing"
for opt in "scan.*--host" "edit.*--force" "--progress\[=FD\]" "chain.*--at" "create.*--split-size" "--keep-uuid"; do
  check "vdisk(1) SYNOPSIS shows $opt" grep -qE -- "^ vdisk .*$opt" "$SRC/docs/vdisk.pod"
done
check "vdisk(1) tells how to point a VDDK program and nbdkit libdir= at lib/vdisk/vddk" \
  bash -c "grep -q 'libdir=\$PREFIX/lib/vdisk/vddk' '$SRC/docs/vdisk.pod' && grep -q 'lib/vdisk/vddk/lib64' '$SRC/docs/vdisk.pod'"
check "vdisk(1) covers VMDK versions and CBT" grep -q "^=head1 VMDK VERSIONS AND CHANGE TRACKING" "$SRC/docs/vdisk.pod"
# every option the sample parses is in its page
SAMPLE_SRC="$SRC/examples/vixDiskLibSample.c"
missing=""
for o in $(grep -oE 'strcmp \(a, "-[a-zA-Z]+"\)' "$SAMPLE_SRC" | grep -oE '"-[a-zA-Z]+"' | tr -d '"' | sort -u); do
  case $o in -h|-help) continue;; esac
  grep -qE -- "B<$o>" "$SRC/docs/vix-disklib-sample.pod" || missing="$missing $o"
done
check "vix-disklib-sample(1) documents every option the sample parses${missing:+ (missing:$missing)}" test -z "$missing"
for p in "$SRC"/docs/*.pod; do
  check "$(basename "$p"): valid POD" bash -c "podchecker '$p' 2>&1 | grep -q 'pod syntax OK'"
done
done_testing
