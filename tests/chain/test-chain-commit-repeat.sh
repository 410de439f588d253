#!/bin/bash
# A repeated commit after an interruption: the ancestor already carries the
# CID the child recorded (ddb.vdisk.commitCID).  The repeat must keep that
# CID (its first write must not renew it), or the finished child's parentCID
# names a CID its parent no longer has and qemu-img refuses the chain.
# The interrupted state is built by hand, so this does not depend on where
# a kill -9 happens to land.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
V=$VDISK

for ptype in monolithicFlat twoGbMaxExtentSparse; do
  rm -f p*.vmdk c*.vmdk
  $V create --type $ptype --size 8M p.vmdk
  pattern a 3000000 1; $V write --offset 0 --file a p.vmdk
  $V child --type twoGbMaxExtentSparse p.vmdk c.vmdk
  pattern b 2000000 2; $V write --offset 1M --file b c.vmdk
  $V cat c.vmdk > want.raw
  # The interrupted commit: marker in the child, the CID in the parent.
  python3 - <<'PY'
import re
for name, edit in (("c.vmdk", lambda t: t.replace('# The Disk Data Base',
                   '# The Disk Data Base\nddb.vdisk.commitCID = "1badcafe"')),
                   ("p.vmdk", lambda t: re.sub(r'(?m)^CID=\w+', 'CID=1badcafe', t))):
    t = open(name).read(); open(name, "w").write(edit(t))
PY
  check "$ptype parent: the half-committed chain still reads the same" \
    bash -c "$V cat c.vmdk | cmp -s - want.raw"
  check "$ptype parent: the repeated commit completes" $V commit c.vmdk
  check "$ptype parent: the parent keeps the recorded CID" \
    grep -q '^CID=1badcafe' p.vmdk
  check "$ptype parent: the child names it" grep -q '^parentCID=1badcafe' c.vmdk
  qemu-img convert -O raw c.vmdk q.raw 2>err.txt
  check "$ptype parent: qemu-img reads the finished chain identically" \
    cmp -s q.raw want.raw
  $V cat p.vmdk > got.raw
  check "$ptype parent: the parent holds the merged data" cmp -s got.raw want.raw
done
done_testing
