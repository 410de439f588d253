#!/bin/bash
# bench-small: the commands whose time is mostly the process itself
# (start-up, one open, a few reads), on a 1 GiB monolithicSparse disk
# holding 64 MiB, made by qemu-img: vdisk info / check / create / map
# against qemu-img info / check / create / map, and `vdisk --version`
# against `qemu-img --version` (start-up alone).  Each pair runs
# interleaved RUNS times (default 30); the best of each is kept, and the
# ratio is qemu-img's time over vdisk's (target >= 1x: faster than
# qemu-img on every path it shares with it).  Reports; never asserts.
#   VDISK_BUILD=build/release bench/bench-small.sh
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VDISK_BUILD:-build/release}; case $build in /*) ;; *) build=$top/$build;; esac
V=$build/bin/vdisk
[ -x "$V" ] || { echo "bench-small: $V not built, skipped"; exit 77; }
for c in qemu-img python3; do
  command -v "$c" >/dev/null || { echo "bench-small: $c missing, skipped"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bench-small.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
python3 -c "
import os
with open('in.raw', 'wb') as f:
    f.truncate(1 << 30)
    for i in range(16):
        f.seek(i * (64 << 20)); f.write(os.urandom(4 << 20))"
qemu-img convert -f raw -O vmdk in.raw d.vmdk || exit 1
rm -f in.raw
echo "bench-small: a 1 GiB monolithicSparse disk (qemu-img) holding 64 MiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$V" "${RUNS:-30}" <<'PY'
import os, subprocess, sys, time
V, runs = sys.argv[1], int(sys.argv[2])
pairs = [
    ("--version", [V, "--version"], ["qemu-img", "--version"], None),
    ("info", [V, "info", "d.vmdk"], ["qemu-img", "info", "d.vmdk"], None),
    ("check", [V, "check", "d.vmdk"], ["qemu-img", "check", "d.vmdk"], None),
    ("map", [V, "map", "d.vmdk"], ["qemu-img", "map", "d.vmdk"], None),
    ("create 10G", [V, "create", "-s", "10G", "n1.vmdk"],
     ["qemu-img", "create", "-q", "-f", "vmdk", "n2.vmdk", "10G"], ["n1.vmdk", "n2.vmdk"]),
]
def once(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, r.returncode
print("%-12s %10s %10s %8s" % ("command", "vdisk ms", "qemu ms", "ratio"))
worst = None
for name, a, b, rm in pairs:
    ba = bb = 1e9
    for _ in range(runs):
        for cmd, which in ((a, "a"), (b, "b")):
            for f in rm or ():
                if os.path.exists(f): os.unlink(f)
            t, rc = once(cmd)
            if rc != 0:
                print("%s: %s failed (exit %d)" % (name, cmd[0], rc)); sys.exit(1)
            if which == "a": ba = min(ba, t)
            else: bb = min(bb, t)
    ratio = bb / ba
    worst = ratio if worst is None else min(worst, ratio)
    print("%-12s %10.2f %10.2f %7.2fx" % (name, ba * 1e3, bb * 1e3, ratio))
print("slowest ratio (qemu-img time / vdisk time): %.2fx (target >= 1x: %s)"
      % (worst, "met" if worst >= 1 else "NOT met"))
PY
