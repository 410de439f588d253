#!/bin/bash
# vdisk mount: partition files and guest volumes through FUSE.
# Disks made here (no root needed to make them): a GPT disk with an ext4
# and an NTFS volume, an MBR disk with a primary ext4 and an extended
# partition holding two logical volumes (ext2, ext4), file systems
# populated from folders (mke2fs -d; mkntfs + ntfscp), written into
# monolithicSparse, twoGbMaxExtentSparse, streamOptimized and a 3-link
# chain.  `mount --list` is compared with sfdisk --json and blkid -p on
# the raw images; the partition files with the raw bytes; mounted volumes
# with the source folders (diff -r).  Every mount is undone on exit.
. "$(dirname "$0")/../functions.sh"
requires python3 sfdisk blkid mke2fs fusermount3 fuse2fs
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
have_ntfs=1
for c in mkntfs ntfscp ntfs-3g; do command -v $c >/dev/null || have_ntfs=0; done
T="timeout 120"
MOUNTS=()
cleanup() {
  for d in "${MOUNTS[@]}"; do
    if grep -qF " $d " /proc/self/mountinfo 2>/dev/null; then
      timeout 30 "$VDISK" umount --lazy "$d" >/dev/null 2>&1 \
        || fusermount3 -u -z "$d" 2>/dev/null
    fi
  done
  # hidden mounts of volumes whose server died
  grep -o '/[^ ]*vdisk-mount\.[^ /]*/parts' /proc/self/mountinfo 2>/dev/null \
    | grep -F "$WORK" | while read -r h; do fusermount3 -u -z "$h"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"        # the hidden folders of volume mounts
cd "$WORK"

mnt() { mkdir -p "$1"; MOUNTS+=("$WORK/$1"); }
is_mounted() { grep -qF " $WORK/$1 " /proc/self/mountinfo; }

# ---- source folders -----------------------------------------------------
mkdir -p srcA/sub/deeper srcB srcC srcD ntsrc
pattern srcA/big.bin 3000000 1
pattern srcA/sub/mid.bin 70000 2
printf 'hello from A\n' > srcA/hello.txt
: > srcA/empty
head -c 200000 /dev/zero > srcA/sub/deeper/zeros.bin
ln -s hello.txt srcA/link
pattern srcB/b.bin 500000 3
printf 'logical ext2\n' > srcC/c.txt
pattern srcC/c.bin 123457 4
printf 'logical ext4\n' > srcD/d.txt
pattern srcD/d.bin 654321 5
pattern ntsrc/n1.bin 400000 6
printf 'ntfs file\n' > ntsrc/readme.txt

mkext() { # TYPE LABEL SECTORS DIR OUT
  truncate -s $(($3 * 512)) "$5" && mke2fs -q -F -t "$1" -L "$2" -d "$4" "$5"
}

# ---- GPT: p1 ext4 (srcA), p2 ntfs (ntsrc) ---------------------------------
truncate -s 96M gpt.raw
printf 'label: gpt\nstart=2048, size=61440, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="linux root"\nstart=65536, size=81920, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="windows"\n' \
  | sfdisk -q gpt.raw
mkext ext4 rootfs 61440 srcA a.img
dd if=a.img of=gpt.raw bs=512 seek=2048 conv=notrunc status=none
if [ $have_ntfs = 1 ]; then
  truncate -s $((81920 * 512)) n.img
  mkntfs -q -F -Q -L winvol -s 512 -p 65536 n.img >/dev/null 2>&1
  for f in ntsrc/*; do ntfscp -q n.img "$f" "$(basename "$f")" >/dev/null 2>&1; done
  dd if=n.img of=gpt.raw bs=512 seek=65536 conv=notrunc status=none
fi
rm -f a.img n.img

# ---- MBR: p1 ext4 (srcB), p2 extended: p5 ext2 (srcC), p6 ext4 (srcD) -----
truncate -s 80M mbr.raw
printf 'label: dos\nlabel-id: 0x5eed1234\nstart=2048, size=20480, type=83, bootable\nstart=24576, size=131072, type=5\nstart=26624, size=40960, type=83\nstart=69632, size=61440, type=83\n' \
  | sfdisk -q mbr.raw
mkext ext4 primary 20480 srcB b.img
mkext ext2 logi2 40960 srcC c.img
mkext ext4 logi4 61440 srcD d.img
dd if=b.img of=mbr.raw bs=512 seek=2048 conv=notrunc status=none
dd if=c.img of=mbr.raw bs=512 seek=26624 conv=notrunc status=none
dd if=d.img of=mbr.raw bs=512 seek=69632 conv=notrunc status=none
rm -f b.img c.img d.img

# ---- layouts --------------------------------------------------------------
# chain: base holds the first third, child1 the second, child2 the rest
chain() { # RAW NAME
  local raw=$1 n=$2 size third
  size=$(stat -c %s "$raw"); third=$(( (size / 3) / 65536 * 65536 ))
  head -c $third "$raw" > part0; truncate -s "$size" part0
  "$VDISK" convert -f raw part0 "$n-base.vmdk" >/dev/null || return 1
  "$VDISK" child "$n-base.vmdk" "$n-mid.vmdk" || return 1
  tail -c +$((third + 1)) "$raw" | head -c $third > part1
  "$VDISK" write --offset $third --file part1 "$n-mid.vmdk" || return 1
  "$VDISK" child "$n-mid.vmdk" "$n.vmdk" || return 1
  tail -c +$((2 * third + 1)) "$raw" > part2
  "$VDISK" write --offset $((2 * third)) --file part2 "$n.vmdk" || return 1
  rm -f part0 part1 part2
}
DISKS=()
for t in gpt mbr; do
  "$VDISK" convert -f raw $t.raw $t-sparse.vmdk >/dev/null
  "$VDISK" convert -f raw -t twoGbMaxExtentSparse $t.raw $t-split.vmdk >/dev/null
  "$VDISK" convert -f raw -t streamOptimized $t.raw $t-stream.vmdk >/dev/null
  chain $t.raw $t-chain
  for l in sparse split stream chain; do
    if [ -f $t-$l.vmdk ]; then DISKS+=("$t-$l.vmdk"); else not_ok "make $t-$l.vmdk"; fi
  done
done
sha256sum ./*.vmdk > sums0
check "the chain has 3 links" \
  test "$("$VDISK" chain --json gpt-chain.vmdk | grep -c '"link"')" = 3

# ---- --list against sfdisk --json and blkid -p ---------------------------
cat > cmp_list.py <<'EOF'
import json, subprocess, sys
raw, listing = sys.argv[1], json.load(open(sys.argv[2]))
sf = json.loads(subprocess.check_output(["sfdisk", "--json", raw]))["partitiontable"]
errs = []
if listing["label"] != sf["label"]: errs.append("label %s != %s" % (listing["label"], sf["label"]))
if listing["id"].lower() != sf["id"].lower(): errs.append("id %s != %s" % (listing["id"], sf["id"]))
mine = {p["number"]: p for p in listing["partitions"]}
theirs = {}
for p in sf["partitions"]:
    theirs[int(p["node"][len(raw):])] = p
if sorted(mine) != sorted(theirs): errs.append("numbers %s != %s" % (sorted(mine), sorted(theirs)))
for n, p in theirs.items():
    q = mine.get(n)
    if not q: continue
    for k in ("start", "size"):
        if q[k] != p[k]: errs.append("p%d %s %s != %s" % (n, k, q[k], p[k]))
    if q["type"].lower() != p["type"].lower(): errs.append("p%d type %s != %s" % (n, q["type"], p["type"]))
    if "uuid" in p and q["uuid"].lower() != p["uuid"].lower(): errs.append("p%d uuid" % n)
    if "name" in p and q.get("name") != p["name"]: errs.append("p%d name" % n)
    if bool(p.get("bootable", False)) != q["bootable"]: errs.append("p%d bootable" % n)
    if q["extended"]: continue
    out = subprocess.run(["blkid", "-p", "-o", "export", "-O", str(p["start"] * 512),
                          "--size", str(p["size"] * 512), raw], capture_output=True, text=True).stdout
    b = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    fs = q["filesystem"]
    if (fs["type"] or "") != b.get("TYPE", ""): errs.append("p%d fs %s != %s" % (n, fs["type"], b.get("TYPE")))
    if fs["label"] != b.get("LABEL", ""): errs.append("p%d label %r != %r" % (n, fs["label"], b.get("LABEL")))
    if fs["uuid"] != b.get("UUID", ""): errs.append("p%d uuid %s != %s" % (n, fs["uuid"], b.get("UUID")))
print("\n".join("# " + e for e in errs))
sys.exit(1 if errs else 0)
EOF
for d in "${DISKS[@]}"; do
  raw=${d%%-*}.raw
  if $T "$VDISK" mount --list --json "$d" > list.json; then
    check "$d: --list agrees with sfdisk --json and blkid -p" python3 cmp_list.py "$raw" list.json
  else
    not_ok "$d: --list"
  fi
done
check "--list (text) names the volumes" \
  bash -c "'$VDISK' mount --list mbr-sparse.vmdk | grep -q 'p6 .*ext4 .*logi4'"

# ---- partition files ------------------------------------------------------
partcmp() { # DIR RAW: disk and every pN equal to their bytes in RAW
  cmp -s "$1/disk" "$2" || return 1
  python3 - "$1" "$2" <<'EOF'
import json, subprocess, sys, os
d, raw = sys.argv[1], sys.argv[2]
sf = json.loads(subprocess.check_output(["sfdisk", "--json", raw]))["partitiontable"]
names = set(os.listdir(d))
want = {"disk"}
f = open(raw, "rb")
for p in sf["partitions"]:
    n = int(p["node"][len(raw):])
    if p["type"].lower() in ("5", "f", "85"):
        continue
    want.add("p%d" % n)
    f.seek(p["start"] * 512)
    a = open(os.path.join(d, "p%d" % n), "rb").read()
    if a != f.read(p["size"] * 512):
        print("# p%d differs" % n); sys.exit(1)
if names != want:
    print("# files %s, want %s" % (sorted(names), sorted(want))); sys.exit(1)
EOF
}
for d in "${DISKS[@]}"; do
  raw=${d%%-*}.raw
  m=files-${d%.vmdk}
  mnt $m
  if $T "$VDISK" mount "$d" $m; then
    check "$d: disk and partition files read as the raw image" partcmp $m $raw
    check "$d: umount" $T "$VDISK" umount $m
    check "$d: the folder is empty again" test -z "$(ls -A $m)"
  else
    not_ok "$d: mount"
  fi
done

# any link of a chain: the middle link shows base + mid, the rest zeros
size=$(stat -c %s gpt.raw); third=$(( (size / 3) / 65536 * 65536 ))
head -c $((2 * third)) gpt.raw > mid.raw; truncate -s "$size" mid.raw
mnt midm
if $T "$VDISK" mount gpt-chain-mid.vmdk midm; then
  check "a chain's middle link: its disk file reads as base + mid" cmp -s midm/disk mid.raw
  "$VDISK" umount midm
else
  not_ok "mount of a chain's middle link"
fi
rm -f mid.raw

# SEEK_DATA / SEEK_HOLE follow the allocation map (qemu-img map as peer)
if command -v qemu-img >/dev/null; then
  mnt seek
  $T "$VDISK" mount gpt-sparse.vmdk seek
  qemu-img map --output=json gpt-sparse.vmdk > qmap.json
  check "disk: SEEK_DATA/SEEK_HOLE give the data ranges qemu-img map gives" \
    python3 - seek/disk qmap.json <<'EOF'
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
mine, off = [], 0
while off < size:
    try: d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError: break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    mine.append((d, h)); off = h
q = []
for e in json.load(open(sys.argv[2])):
    if e["data"]:
        if q and q[-1][1] == e["start"]: q[-1] = (q[-1][0], e["start"] + e["length"])
        else: q.append((e["start"], e["start"] + e["length"]))
if mine != q or not mine:
    print("# mine %s\n# qemu %s" % (mine[:5], q[:5])); sys.exit(1)
print("# %d data ranges" % len(mine))
EOF
  "$VDISK" umount seek
fi

# ---- guest volumes ----------------------------------------------------------
volcmp() { # MOUNTDIR SRC: same tree, same bytes
  diff -r --no-dereference -x lost+found "$2" "$1" >/dev/null || return 1
  (cd "$2" && find . -type f | while read -r f; do cmp -s "$f" "$1/$f" || exit 1; done)
}
# a read-only ext volume: vdisk's own FUSE mount at the folder (source
# vdisk:PID), no hidden partition mount, no fuse2fs reading it
served_inprocess() { # MOUNTDIR
  grep -F " $WORK/$1 " /proc/self/mountinfo | grep -q ' fuse.vdisk vdisk:' \
    && ! grep -q 'vdisk-mount' /proc/self/mountinfo \
    && ! pgrep -f "fuse2fs .* $WORK/$1( |\$)" >/dev/null
}
for d in "${DISKS[@]}"; do
  case $d in
    gpt-*) vols="1:srcA"; [ $have_ntfs = 1 ] && vols="$vols 2:ntsrc" ;;
    mbr-*) vols="1:srcB 5:srcC 6:srcD" ;;
  esac
  for v in $vols; do
    n=${v%%:*} src=${v#*:}
    m=vol-${d%.vmdk}-$n
    mnt $m
    if $T "$VDISK" mount --volume $n "$d" $m; then
      check "$d: volume $n lists and reads every file as $src" volcmp "$WORK/$m" "$WORK/$src"
      if [ $src != ntsrc ]; then
        check "$d: ext volume $n is served by vdisk itself (one FUSE hop, no fuse2fs)" \
          served_inprocess $m
      fi
      check "$d: volume $n is read-only" bash -c "! touch $m/new 2>/dev/null"
      check "$d: umount volume $n" $T "$VDISK" umount $m
      check "$d: volume $n: nothing left mounted" \
        bash -c "! grep -q 'vdisk-mount' /proc/self/mountinfo && test -z \"\$(ls -A $m)\""
    else
      not_ok "$d: mount --volume $n"
    fi
  done
done
# --driver fuse2fs: the read-only ext volume through fuse2fs on the
# partition file of a hidden mount, as before the in-process driver
mnt drv
if $T "$VDISK" mount --volume 5 --driver fuse2fs mbr-sparse.vmdk drv; then
  check "--driver fuse2fs: volume 5 reads every file as srcC" volcmp "$WORK/drv" "$WORK/srcC"
  check "--driver fuse2fs: fuse2fs serves it (on the hidden partition file)" \
    bash -c "pgrep -f 'fuse2fs .*vdisk-mount.*/parts/p5 $WORK/drv' >/dev/null && grep -q 'vdisk-mount' /proc/self/mountinfo"
  check "--driver fuse2fs: read-only" bash -c "! touch drv/new 2>/dev/null"
  check "--driver fuse2fs: umount" $T "$VDISK" umount drv
else
  not_ok "mount --volume 5 --driver fuse2fs"
fi
check "--driver fuse2fs on an NTFS volume is refused" \
  bash -c "! '$VDISK' mount --volume 2 --driver fuse2fs gpt-sparse.vmdk drv 2>err && grep -q 'fuse2fs cannot mount' err"
check "--driver builtin with --read-write is a usage error" \
  bash -c "! '$VDISK' mount --volume 1 --driver builtin --read-write gpt-sparse.vmdk drv 2>err && grep -q 'read-only' err"
check "--driver without --volume is a usage error" \
  bash -c "! '$VDISK' mount --driver fuse2fs gpt-sparse.vmdk drv 2>/dev/null"
check "read-only mounts changed no file of any disk" sha256sum -c --quiet sums0
check "no hidden folder left behind" test -z "$(ls -d "$WORK"/vdisk-mount.* 2>/dev/null)"

# ---- --read-write into a child ------------------------------------------------
cp mbr-sparse.vmdk rw.vmdk
sum0=$(sha256sum rw.vmdk)
mnt rwm
if $T "$VDISK" mount --volume 6 --read-write rw.vmdk rwm; then
  check "--read-write: the default child rw-mount.vmdk is made" test -f rw-mount.vmdk
  pattern newfile 333333 9
  cp newfile rwm/added.bin && rm rwm/d.txt && sync
  check "--read-write: umount" $T "$VDISK" umount rwm
  check "--read-write: the parent did not change" test "$(sha256sum rw.vmdk)" = "$sum0"
  check "--read-write: the child checks clean" "$VDISK" check rw-mount.vmdk
  $T "$VDISK" mount --volume 6 rw-mount.vmdk rwm
  check "remount of the child: the new file is there" cmp -s rwm/added.bin newfile
  check "remount of the child: the removed file is gone" test ! -e rwm/d.txt
  check "remount of the child: the old files are intact" cmp -s rwm/d.bin srcD/d.bin
  "$VDISK" umount rwm
  $T "$VDISK" mount --volume 6 rw.vmdk rwm
  check "the parent: no new file, the old one still there" \
    bash -c "test ! -e rwm/added.bin && cmp -s rwm/d.txt srcD/d.txt"
  "$VDISK" umount rwm
  check "a second --read-write refuses an existing child" \
    bash -c "! '$VDISK' mount --volume 6 --read-write rw.vmdk rwm 2>err && grep -q 'exists' err && ! grep -qF ' $WORK/rwm ' /proc/self/mountinfo"
else
  not_ok "--read-write mount"
fi

# partition files written in place (--in-place) and into --into CHILD
cp gpt-sparse.vmdk inp.vmdk
mnt inpm
if $T "$VDISK" mount --read-write --into inp-c.vmdk inp.vmdk inpm; then
  printf 'XYZ' | dd of=inpm/disk bs=1 seek=1000 conv=notrunc status=none
  "$VDISK" umount inpm
  check "--into CHILD: bytes written to the disk file land in the child" \
    bash -c "'$VDISK' cat inp-c.vmdk | cmp -s -n 3 -i 1000:0 - <(printf XYZ)"
  check "--into CHILD: not in the parent" bash -c "'$VDISK' cat inp.vmdk | cmp -s - gpt.raw"
fi

# (kill -9 of a read-write mount: tests/crash/test-crash-mount.sh)

# ---- NBD -------------------------------------------------------------------
if command -v qemu-nbd >/dev/null; then
  qemu-nbd -t -e 4 -r -f vmdk -k "$WORK/nbd.sock" gpt-stream.vmdk >/dev/null 2>&1 &
  qpid=$!
  for i in $(seq 100); do [ -S nbd.sock ] && break; sleep 0.05; done
  uri="nbd+unix:///?socket=$WORK/nbd.sock"
  check "nbd URI: --list" bash -c "'$VDISK' mount --list --json '$uri' > nlist.json && python3 cmp_list.py gpt.raw nlist.json"
  mnt nbdm
  if $T "$VDISK" mount --volume 1 "$uri" nbdm; then
    check "nbd URI: volume 1 reads as srcA" volcmp "$WORK/nbdm" "$WORK/srcA"
    "$VDISK" umount nbdm
  else
    not_ok "nbd URI: mount --volume 1"
  fi
  mnt rdr
  check "a reader that refuses writers (qemu-nbd -r) does not stop a read-only mount" \
    bash -c "$T '$VDISK' mount gpt-stream.vmdk rdr && cmp -s rdr/disk gpt.raw"
  "$VDISK" umount rdr 2>/dev/null
  kill $qpid 2>/dev/null; wait $qpid 2>/dev/null
fi

# ---- errors -----------------------------------------------------------------
mnt full; touch full/x
check "a folder that is not empty is refused" \
  bash -c "! '$VDISK' mount gpt-sparse.vmdk full 2>err && grep -q 'not empty' err"
check "a file as DIR is refused" \
  bash -c "! '$VDISK' mount gpt-sparse.vmdk gpt.raw 2>err && grep -q 'not a folder' err"
mnt ext4only
check "a volume of an unknown file system names what it found" \
  bash -c "! '$VDISK' mount --volume 2 mbr-sparse.vmdk ext4only 2>err && grep -q 'extended' err"
if [ $have_ntfs = 0 ]; then :; else
  # swap in p1 of a copy: a clear error naming swap
  cp gpt.raw sw.raw
  if command -v mkswap >/dev/null; then
    dd if=/dev/zero of=sw.raw bs=512 seek=2048 count=61440 conv=notrunc status=none
    truncate -s $((61440*512)) sw.img; mkswap -q -L sw sw.img >/dev/null
    dd if=sw.img of=sw.raw bs=512 seek=2048 conv=notrunc status=none
    "$VDISK" convert -f raw sw.raw sw.vmdk >/dev/null
    check "a swap volume: error names swap" \
      bash -c "! '$VDISK' mount --volume 1 sw.vmdk ext4only 2>err && grep -q 'swap' err"
  fi
fi
# damaged table: overlapping partitions
cp mbr.raw bad.raw
python3 - bad.raw <<'EOF'
import struct, sys
f = open(sys.argv[1], "r+b"); f.seek(446 + 16 + 8); f.write(struct.pack("<I", 10000))
EOF
"$VDISK" convert -f raw bad.raw bad.vmdk >/dev/null
sumb=$(sha256sum bad.vmdk)
mnt badm
check "a damaged table: mount refuses, names the problem" \
  bash -c "! '$VDISK' mount bad.vmdk badm 2>err && grep -q 'overlap' err && ! grep -qF ' $WORK/badm ' /proc/self/mountinfo"
check "a damaged table: --list refuses" bash -c "! '$VDISK' mount --list bad.vmdk 2>/dev/null"
check "a damaged table: nothing changed" test "$(sha256sum bad.vmdk)" = "$sumb"
# a disk locked by a writer
cp gpt-sparse.vmdk lk.vmdk
mnt lkm; mnt lkm2
if $T "$VDISK" mount --read-write --in-place lk.vmdk lkm; then
  check "a disk locked for writing: --read-write refuses" \
    bash -c "! '$VDISK' mount --read-write --in-place lk.vmdk lkm2 2>err && grep -qi 'locked' err"
  check "a disk locked for writing: a read-only mount refuses too" \
    bash -c "! '$VDISK' mount lk.vmdk lkm2 2>err && grep -qi 'locked' err"
  check "a disk locked for writing: no child was left" test ! -e lk-mount.vmdk
  "$VDISK" umount lkm
fi
# no /dev/fuse (a private mount namespace with an empty /dev)
if command -v unshare >/dev/null && [ "$(id -u)" = 0 ]; then
  mnt nofuse
  check "no /dev/fuse: a clear error" \
    bash -c "! unshare -m sh -c 'mount -t tmpfs none /dev && exec \"$VDISK\" mount --foreground gpt-sparse.vmdk nofuse' 2>err && grep -q '/dev/fuse' err"
fi
check "usage: --into without --read-write" bash -c "! '$VDISK' mount --into x.vmdk gpt-sparse.vmdk full 2>/dev/null"
check "umount of a folder that is not mounted" bash -c "! '$VDISK' umount full 2>err && grep -q 'not mounted' err"
done_testing
