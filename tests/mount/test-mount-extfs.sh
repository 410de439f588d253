#!/bin/bash
# vdisk mount --volume on ext volumes served in-process (libext2fs for
# the metadata, block maps for the data): file shapes that take other
# paths (a sparse file whose extent tree has a leaf block, inline data,
# a slow symbolic link, an indirect-mapped ext2 file with holes), then
# hostile images: each built with mke2fs -d, corrupted at offsets that
# debugfs names, must give a clear error or EIO on that file -- never a
# crash, a hang or a dead mount.
. "$(dirname "$0")/../functions.sh"
requires python3 sfdisk mke2fs debugfs fusermount3
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
T="timeout 60"
cleanup() {
  grep -o "$WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r d; do fusermount3 -u -z "$d" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"
cd "$WORK"

# disk IMG OUT.vmdk: a GPT disk whose one partition holds IMG
disk() {
  local sect=$(( $(stat -c %s "$1") / 512 ))
  truncate -s $(( (sect + 2048 + 64) * 512 )) "$2.raw"
  printf 'label: gpt\nstart=2048, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' $sect \
    | sfdisk -q "$2.raw"
  dd if="$1" of="$2.raw" bs=512 seek=2048 conv=notrunc status=none
  "$VDISK" convert -f raw "$2.raw" "$2" >/dev/null && rm -f "$2.raw"
}
served_inprocess() { grep -F " $WORK/$1 " /proc/self/mountinfo | grep -q ' fuse.vdisk '; }

# ---- shapes ----------------------------------------------------------------
mkdir -p src/d inl
pattern src/small.bin 9000 1
pattern src/victim.bin 20000 2
printf 'keep\n' > src/d/keep.txt
target=$(printf 'long/%.0s' $(seq 30))target
ln -s "$target" src/slowlink
python3 - src/sparse.bin <<'PY'
import sys, random
r = random.Random(7)
with open(sys.argv[1], "wb") as f:      # 12 data pieces between holes
    for i in range(12):
        f.seek(i * 65536 + (i % 3) * 4096)
        f.write(r.randbytes(4096 * (1 + i % 2)))
    f.truncate(12 * 65536 + 777)
PY
cp src/sparse.bin src/d/sparse2.bin
printf 'inline bytes\n' > inl/tiny.txt
pattern inl/mid.bin 50 3
mkdir -p inl/sub && printf 'x\n' > inl/sub/y.txt
truncate -s 16M base.img && mke2fs -q -F -t ext4 -O ^metadata_csum -b 4096 -d src base.img
truncate -s 8M inl.img && mke2fs -q -F -t ext4 -O inline_data -I 256 -d inl inl.img
truncate -s 8M e2.img && mke2fs -q -F -t ext2 -b 1024 -d src e2.img
for n in base inl e2; do disk $n.img $n.vmdk; done
check "the sparse file's extent tree has a leaf block (depth 1)" \
  bash -c "debugfs -R 'ex /sparse.bin' base.img 2>/dev/null | grep -q '^ *0/ *1 '"
check "the tiny file is inline data" \
  bash -c "debugfs -R 'stat /tiny.txt' inl.img 2>/dev/null | grep -q 'Size of inline data'"
for n in base inl e2; do
  s=src; [ $n = inl ] && s=inl
  mkdir -p m-$n
  if $T "$VDISK" mount --volume 1 $n.vmdk m-$n; then
    check "$n: served in-process" served_inprocess m-$n
    check "$n: every file, link and folder as the source" \
      diff -r --no-dereference -x lost+found $s m-$n
    check "$n: holes read as zeros, sizes right" \
      bash -c "cd $s && for f in \$(find . -type f); do cmp -s \$f ../m-$n/\$f || exit 1; test \$(stat -c %s \$f) = \$(stat -c %s ../m-$n/\$f) || exit 1; done"
    [ $n != inl ] && check "$n: the slow symbolic link's target" \
      test "$(readlink m-$n/slowlink)" = "$target"
    [ $n != inl ] && check "$n: st_blocks counts the blocks held, not the size" \
      test $(( $(stat -c %b m-$n/sparse.bin) * 512 )) -lt $(stat -c %s m-$n/sparse.bin)
    check "$n: umount" $T "$VDISK" umount m-$n
  else
    not_ok "$n: mount --volume 1"
  fi
done

# ---- hostile images ------------------------------------------------------------
bs=4096
blk_of() { debugfs -R "bmap $1 0" base.img 2>/dev/null; }
ino_of() { debugfs -R "stat $1" base.img 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
# put IMG OFFSET HEX: overwrite bytes
put() { python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); f.write(bytes.fromhex(sys.argv[3]))" "$@"; }
# inode_off IMG INO: the byte offset of the inode in its table
inode_off() {
  local loc; loc=$(debugfs -R "imap <$2>" "$1" 2>/dev/null | sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
  set -- $loc; echo $(( $1 * bs + $2 ))
}

# expect_mount_error NAME IMG WORDS: the mount fails naming the problem
expect_mount_error() {
  disk "$2" "$1.vmdk"; mkdir -p "m-$1"
  if $T "$VDISK" mount --volume 1 "$1.vmdk" "m-$1" 2>"$1.err"; then
    not_ok "$1: the mount was refused"; $T "$VDISK" umount "m-$1"
  else
    check "$1: the mount is refused with a clear error ($(head -c 120 "$1.err"))" \
      grep -qiE "$3" "$1.err"
  fi
}
cp base.img sb1.img && debugfs -w -R "ssv blocks_count 4000000000" sb1.img 2>/dev/null
expect_mount_error sb-blocks sb1.img "do not fit the partition"
cp base.img sb2.img && debugfs -w -R "ssv log_block_size 30" sb2.img 2>/dev/null
expect_mount_error sb-bsize sb2.img "block size"
cp base.img sb3.img && debugfs -w -R "ssv inodes_count 7" sb3.img 2>/dev/null
expect_mount_error sb-inodes sb3.img "superblock|corrupt"

# One image, many corruptions, each on its own file; the others must
# still read.  In the inode (i_block at 40): the root extent of
# victim.bin (its start at i_block[5]) past the end of the file system.
cp base.img bad.img
vo=$(inode_off bad.img "$(ino_of /victim.bin)")
put bad.img $((vo + 40 + 20)) 00ffff7f
# the extent leaf block of sparse.bin made an index pointing to itself
leaf=$(debugfs -R "ex /sparse.bin" base.img 2>/dev/null | awk '$1 == "0/" && $2 == "1" {print $8; exit}')
[ -z "$leaf" ] && leaf=$(debugfs -R "ex /sparse.bin" base.img 2>/dev/null | awk 'NR == 2 {print $(NF-1)}')
put bad.img $((leaf * bs)) 0af30100540101000000000000000000$(printf '%08x' "$leaf" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')00000000
# d/sparse2.bin: a size of 2^62 (sparse beyond its blocks)
so=$(inode_off bad.img "$(ino_of /d/sparse2.bin)")
put bad.img $((so + 4)) 00000000
put bad.img $((so + 108)) 00000040
# small.bin: a size past what a signed off_t holds
mo=$(inode_off bad.img "$(ino_of /small.bin)")
put bad.img $((mo + 4)) ffffffff
put bad.img $((mo + 108)) ffffffff
# a folder that holds the root (a loop), and an entry naming inode 2^31
debugfs -w -R "link / /d/loop" bad.img 2>/dev/null
python3 - bad.img $(blk_of /) $bs <<'PY'
import sys, struct
img, blk, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(img, "r+b") as f:
    f.seek(blk * bs); b = bytearray(f.read(bs))
    # the entry before the name: inode (4) rec_len (2) name_len (1) type (1)
    j = b.find(b"slowlink")
    struct.pack_into("<I", b, j - 8, 0x7fffffff)
    f.seek(blk * bs); f.write(b)
PY
disk bad.img bad.vmdk; mkdir -p m-bad
if $T "$VDISK" mount --volume 1 bad.vmdk m-bad; then
  check "hostile: an extent past the end of the file system: EIO" \
    bash -c "! timeout 30 cat m-bad/victim.bin >/dev/null 2>err && grep -q 'Input/output error' err"
  # (libext2fs reads the node below the root as a leaf, whatever its
  # header says: an extent of blocks from 0, which is not file data)
  check "hostile: an extent leaf made an index to itself: EIO, no hang" \
    bash -c "! timeout 30 cat m-bad/sparse.bin >/dev/null 2>err && grep -q 'Input/output error' err"
  check "hostile: a size of 2^62: stat tells it, the first bytes read" \
    bash -c "test \$(stat -c %s m-bad/d/sparse2.bin) = 4611686018427387904 && timeout 30 head -c 65536 m-bad/d/sparse2.bin | cmp -s - <(head -c 65536 src/d/sparse2.bin)"
  check "hostile: a size past 2^63: EIO on open, no huge allocation" \
    bash -c "! timeout 30 cat m-bad/small.bin >/dev/null 2>/dev/null"
  check "hostile: a folder loop: find ends (it sees the loop)" \
    bash -c "timeout 30 find m-bad >/dev/null 2>&1; [ \$? != 124 ] && test -d m-bad/d/loop/d"
  check "hostile: an entry naming a bad inode: EIO on it, the folder still lists" \
    bash -c "! timeout 30 stat m-bad/slowlink >/dev/null 2>&1 && ls m-bad | grep -q victim.bin"
  check "hostile: the mount is alive, the other files read right" \
    bash -c "cmp -s m-bad/d/keep.txt src/d/keep.txt && cmp -s m-bad/d/loop/d/keep.txt src/d/keep.txt"
  check "hostile: umount" $T "$VDISK" umount m-bad
else
  not_ok "hostile: mount --volume 1 of the image with damaged files"
fi
check "nothing left mounted" bash -c "! grep -qF '$WORK/' /proc/self/mountinfo"
done_testing
