#!/bin/bash
# vdisk grow: every layout keeps its content (qemu-img compare against a raw
# made before, extended with zeros), passes vdisk check and qemu-img check,
# shows the new size to qemu-img; split layouts get VMware-named extents of
# at most 4192256 sectors; --update-geometry gives what qemu-img computes
# for a disk of that size; shrinking, children and parents are refused.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3
cd "$WORK"
pattern data.bin 2097152 5
vcheck() { $VDISK check "$@" >/dev/null; }
vsize() { qemu-img info --output=json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])'; }
cyl() { grep -a '^ddb.geometry.cylinders' "$1" | head -1 | cut -d'"' -f2; }

for t in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfs vmfsThin; do
  rm -rf w; mkdir w; cd w
  case $t in twoGb*) from=2100M; to=6000M; bytes=6291456000 ;; vmfs) from=64M; to=100M; bytes=104857600 ;; *) from=100M; to=3000M; bytes=3145728000 ;; esac
  $VDISK create -t "$t" -s $from d.vmdk && $VDISK write -o 50M -f ../data.bin d.vmdk \
    || { not_ok "$t: setup"; cd ..; continue; }
  qemu-img convert -O raw d.vmdk ../before.raw
  c0=$(cyl d.vmdk)
  check "$t: grow without geometry" $VDISK grow d.vmdk $to
  check "$t: geometry kept" test "$(cyl d.vmdk)" = "$c0"
  truncate -s $bytes ../before.raw
  check "$t: qemu-img sees the new size" test "$(vsize d.vmdk)" = $bytes
  check "$t: content identical, new space zeros" qemu-img compare -q ../before.raw d.vmdk
  check "$t: vdisk check clean" vcheck d.vmdk
  check "$t: qemu-img check clean" qemu-img check -q d.vmdk
  check "$t: no work files left" bash -c "! ls -A | grep -q vdisk-"
  case $t in
    twoGbMaxExtentSparse|twoGbMaxExtentFlat)
      check "$t: extents at most 4192256 sectors, VMware names" python3 - d.vmdk <<'PY'
import re, sys
lines = [l for l in open(sys.argv[1]) if re.match(r'^RW \d+ ', l)]
ok = all(int(l.split()[1]) <= 4192256 for l in lines)
names = [re.search(r'"([^"]+)"', l).group(1) for l in lines]
want = ['d-%s%03d.vmdk' % ('s' if 'SPARSE' in lines[0] else 'f', i + 1) for i in range(len(lines))]
# flat: the last extent grows to 4192256 sectors first (3 extents); sparse:
# the partial last extent stays and new ones follow (4 extents)
sys.exit(0 if ok and names == want and len(lines) == (4 if 'SPARSE' in lines[0] else 3) else 1)
PY
      ;;
  esac
  # +SIZE and --update-geometry; compare with what qemu-img writes
  check "$t: grow +64M --update-geometry" $VDISK grow --update-geometry d.vmdk +64M
  bytes=$((bytes + 67108864))
  qemu-img create -q -f vmdk -o subformat=monolithicFlat ../q.vmdk $bytes
  check "$t: cylinders as qemu-img computes ($(cyl ../q.vmdk))" test "$(cyl d.vmdk)" = "$(cyl ../q.vmdk)"
  rm -f ../q.vmdk ../q-flat.vmdk
  truncate -s $bytes ../before.raw
  check "$t: still identical" qemu-img compare -q ../before.raw d.vmdk
  check "$t: shrinking refused" bash -c "! $VDISK grow d.vmdk 1M 2>/dev/null"
  cd ..
done

# chains: neither a child nor a parent with a child may grow
rm -rf w; mkdir w; cd w
$VDISK create -s 64M base.vmdk
$VDISK child base.vmdk c.vmdk
md5sum base.vmdk c.vmdk > ../sums
check "child: grow refused" bash -c "! $VDISK grow c.vmdk 128M 2>/dev/null"
check "parent with a child: grow refused" bash -c "! $VDISK grow base.vmdk 128M 2>/dev/null"
check "chain: files unchanged" md5sum -c --quiet ../sums
cd ..

# a taken name of a new extent: refused, nothing changed, nothing left
rm -rf w; mkdir w; cd w
$VDISK create -t twoGbMaxExtentSparse -s 100M d.vmdk
echo taken > d-s003.vmdk
ls -A | LC_ALL=C sort > ../before.lst
md5sum d.vmdk d-s001.vmdk > ../sums
check "taken extent name: grow refused" bash -c "! $VDISK grow d.vmdk 6000M 2>/dev/null"
ls -A | LC_ALL=C sort > ../after.lst
check "taken extent name: folder unchanged" cmp -s ../before.lst ../after.lst
check "taken extent name: files unchanged" md5sum -c --quiet ../sums
cd ..
done_testing
