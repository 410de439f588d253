#!/usr/bin/env python3
"""Canonical state of FCD datastores, for the crash tests.

fcd-state.py VDISK KNOWN DS... prints one JSON line: for every datastore
(by position), every FCD keyed by its ID when KNOWN (a file of IDs, one a
line) lists it, else "new:NAME"; with the SHA-256 of what its top and each
of its snapshots read (vdisk fcd cat), snapshots in order, keyed likewise.
Extra arguments of the form file=PATH add the SHA-256 of a plain disk
outside the catalog (vdisk cat), or "absent"."""
import hashlib
import json
import os
import subprocess
import sys

vdisk, known_file = sys.argv[1], sys.argv[2]
known = set(open(known_file).read().split()) if os.path.exists(known_file) else set()


def run(*a):
    return subprocess.run([vdisk, *a], check=True, capture_output=True).stdout


def sha(*a):
    return hashlib.sha256(run(*a)).hexdigest()


state = []
for arg in sys.argv[3:]:
    if arg.startswith("file="):
        p = arg[5:]
        state.append(sha("cat", p) if os.path.exists(p) else "absent")
        continue
    ds = {}
    for f in json.loads(run("fcd", "list", "--json", arg)):
        key = f["id"] if f["id"] in known else "new:" + f["name"]
        snaps = []
        for s in json.loads(run("fcd", "snapshots", "--json", arg, f["id"])):
            sk = s["id"] if s["id"] in known else "new"
            snaps.append([sk, sha("fcd", "cat", arg, f["id"] + "@" + s["id"])])
        ds[key] = {"name": f["name"], "top": sha("fcd", "cat", arg, f["id"]),
                   "snapshots": snaps}
    state.append(ds)
print(json.dumps(state, sort_keys=True))
