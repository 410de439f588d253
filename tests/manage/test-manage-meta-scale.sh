#!/bin/bash
# A descriptor near the 1 MiB limit with tens of thousands of ddb keys
# (hostile metadata) costs linear time in every command that lists or
# looks up keys: info --json, meta, meta --json, one key, set, delete,
# convert.  Before the fix, info --json was cubic (4,000 keys took 60 s)
# and each lookup walked every line (quadratic: ~60,000 keys take minutes
# under ASan); each command here gets a generous 20 s, which a linear
# implementation meets by a factor of ten even under ASan on a loaded
# machine.  The results are checked too: every key listed once, in order,
# with its value.
. "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"
N=60000
$VDISK create -t monolithicFlat -s 1M d.vmdk || exit 1
python3 - "$N" <<'EOF'
import sys
n = int(sys.argv[1])
t = open("d.vmdk").read()
extra = "".join('ddb.k%d = "%d"\n' % (i, i % 10) for i in range(n))
open("d.vmdk", "w").write(t + extra)
assert len(t + extra) < 1 << 20, len(t + extra)
EOF
base=$(grep -c '^ddb\.' d.vmdk)

T() { timeout 20 "$@"; }
check "info --json of $N keys finishes in 20 s and is valid JSON with every key" \
  bash -c "timeout 20 $VDISK info --json d.vmdk > info.json && python3 -c '
import json; m = json.load(open(\"info.json\"))[\"metadata\"]
assert len(m) == $base, len(m); assert m[\"ddb.k$((N-1))\"] == \"$(( (N-1) % 10 ))\"'"
check "meta lists every key once, in order" \
  bash -c "timeout 20 $VDISK meta d.vmdk > meta.txt && test \$(wc -l < meta.txt) = $base && grep -n '^ddb.k' meta.txt | sed -n '1p;\$p' | tr '\n' ' ' | grep -q 'ddb.k0 = \"0\".*ddb.k$((N-1)) = '"
check "meta --json finishes and is valid" \
  bash -c "timeout 20 $VDISK meta --json d.vmdk | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == $base'"
check "one key (the last)" test "$(T $VDISK meta d.vmdk k$((N-1)))" = "$(( (N-1) % 10 ))"
check "set a key" T $VDISK meta d.vmdk k17 changed
check "set key reads back" test "$(T $VDISK meta d.vmdk k17)" = changed
check "delete a key" T $VDISK meta --delete k18 d.vmdk
check "deleted key is gone, neighbours stay" \
  bash -c "! $VDISK meta d.vmdk k18 2>/dev/null && test \"\$($VDISK meta d.vmdk k19)\" = 9"
check "convert keeps working (every key carried over)" T $VDISK convert -t twoGbMaxExtentSparse d.vmdk s.vmdk
check "the copy holds the keys" bash -c "[ \$(grep -c '^ddb\.' s.vmdk) -ge 60000 ]"
check "into a monolithicSparse file they do not fit: a clear error" bash -c "! timeout 20 $VDISK convert -t monolithicSparse d.vmdk m.vmdk 2>e.txt && grep -q 'do not fit the embedded descriptor' e.txt && test ! -e m.vmdk"
check "check of the disk" T $VDISK check d.vmdk
done_testing
