# The data runs of a block-status map as [[start, end], ...], adjacent runs
# merged: from `vdisk map --json` or `nbdinfo --map --json`.  --count: the
# number of runs only.
import json, sys
args = sys.argv[1:]
count = args[:1] == ["--count"]
runs = json.load(open(args[-1])); out = []
for r in runs:
    start, length = r.get("start", r.get("offset")), r["length"]
    data = r["data"] if "data" in r else not (r["type"] & 2)
    if not data: continue
    if out and out[-1][1] == start: out[-1][1] = start + length
    else: out.append([start, start + length])
print(len(out) if count else out)
