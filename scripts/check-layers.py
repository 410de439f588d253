#!/usr/bin/env python3
"""Check libvdisk's tiers from the objects the build made.

Usage: check-layers.py BUILD_DIR        (e.g. build/check)

Every object under BUILD_DIR/lib/ belongs to the tier of its source folder
(the table below).  For each object, the undefined symbols are matched with
the object that defines them; an edge from a lower tier to a higher one is a
violation.  Objects outside lib/ (the CLI, compat libraries, the nbdkit
plugin, examples) may use only the library's exported API: a reference from
them to an internal `vd__` symbol is a violation too.

Exit 0 when every edge goes down or sideways, 1 otherwise (each offending
edge is printed as OBJ -> OBJ: SYMBOL), 2 on a usage error.
"""
import os
import subprocess
import sys

# Bottom to top.  A file may use its own tier and the tiers below it.
TIERS = [
    ("base", ["lib/base"]),
    ("io", ["lib/io"]),
    ("formats", ["lib/formats"]),
    ("core", ["lib/core"]),
    ("ops", ["lib/ops"]),
    ("services", ["lib/manage", "lib/scan", "lib/cbt", "lib/backup",
                  "lib/fcd", "lib/mount", "lib/vsphere", "lib/fleet"]),
]
# Known edges up the tiers, each with its reason; any other is a failure.
# (object -> object, as the report prints them.)  None today: a higher
# tier reaches down through a table it hands over (io/io-https.h's
# vd_https_session) or one the linker gathers (VD_URI_SCHEME, internal.h).
EXCEPTIONS = set()
# Front ends: only the public API (exported symbols) of the library.
FRONTS = ["tools", "compat", "plugins", "examples"]


def tier_of(rel):
    for i, (_, dirs) in enumerate(TIERS):
        for d in dirs:
            if rel == d or rel.startswith(d + "/"):
                return i
    return None


def nm(path, *flags):
    out = subprocess.run(["nm", "-P", *flags, path], capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit("check-layers: nm failed on %s: %s" % (path, out.stderr))
    syms = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms.append((parts[0], parts[1]))
    return syms


def objects(root, sub):
    base = os.path.join(root, sub)
    for dirpath, _, files in os.walk(base):
        for f in sorted(files):
            if f.endswith(".o"):
                full = os.path.join(dirpath, f)
                yield os.path.relpath(full, root), full


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = sys.argv[1]
    if not os.path.isdir(os.path.join(root, "lib")):
        print("check-layers: %s/lib: no objects (build first)" % root,
              file=sys.stderr)
        return 2
    defs = {}
    tier = {}
    undef = {}
    bad = []
    for rel, full in objects(root, "lib"):
        t = tier_of(os.path.dirname(rel))
        if t is None:
            bad.append("%s: not in any tier folder (%s)" % (
                rel, ", ".join(d for _, ds in TIERS for d in ds)))
            continue
        tier[rel] = t
        for name, kind in nm(full, "--defined-only"):
            if kind in "TDBRVWCGS":
                defs.setdefault(name, rel)
        undef[rel] = [n for n, k in nm(full, "--undefined-only")]
    edges = 0
    for rel, names in undef.items():
        for n in names:
            d = defs.get(n)
            if d is None or d == rel:
                continue
            edges += 1
            if tier[d] > tier[rel] and (rel, d) not in EXCEPTIONS:
                bad.append("%s (%s) -> %s (%s): %s" % (
                    rel, TIERS[tier[rel]][0], d, TIERS[tier[d]][0], n))
    fronts = 0
    for sub in FRONTS:
        if not os.path.isdir(os.path.join(root, sub)):
            continue
        for rel, full in objects(root, sub):
            fronts += 1
            for n, _ in nm(full, "--undefined-only"):
                if n.startswith("vd__") or n == "vd_error":
                    bad.append("%s (front end) -> internal symbol %s" % (rel, n))
    for b in bad:
        print("check-layers: " + b)
    print("check-layers: %d objects in %d tiers, %d cross-object edges, "
          "%d front-end objects: %s" % (len(tier), len(TIERS), edges, fronts,
                                        "FAIL" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
