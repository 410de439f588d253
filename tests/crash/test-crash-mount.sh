#!/bin/bash
# kill -9 of a read-write `vdisk mount`: of a guest volume (fuse2fs on the
# partition file of the server's hidden mount) after a file was copied in,
# and of a partition-file mount while a writer is in the middle of a
# stream of writes.  Afterwards `vdisk umount` clears the dead mounts,
# nothing stays mounted, the child checks clean or repairable (exit 0 or
# 3), its table reads, the parent is unchanged, and every byte written
# before a completed sync is in the child.
. "$(dirname "$0")/../functions.sh"
requires python3 sfdisk mke2fs fusermount3 fuse2fs
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
T="timeout 120"
cleanup() {
  grep -o "$WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r m; do fusermount3 -u -z "$m" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"        # the hidden folders of volume mounts
cd "$WORK"

# an MBR disk: p1 extended holding p5 (ext2, from srcC)
mkdir -p srcC km pm
printf 'logical ext2\n' > srcC/c.txt
pattern srcC/c.bin 123457 4
truncate -s 48M mbr.raw
printf 'label: dos\nstart=2048, size=90112, type=5\nstart=4096, size=40960, type=83\n' \
  | sfdisk -q mbr.raw
truncate -s $((40960 * 512)) c.img && mke2fs -q -F -t ext2 -L logi2 -d srcC c.img
dd if=c.img of=mbr.raw bs=512 seek=4096 conv=notrunc status=none
rm -f c.img
"$VDISK" convert -f raw mbr.raw k.vmdk >/dev/null
sum0=$(sha256sum k.vmdk)

# server_pid DIR: the pid in the fsname vdisk:PID of the mount that serves
# DIR (a volume's driver reads a file of a hidden vdisk mount)
server_pid() {
  grep -F "$WORK/" /proc/self/mountinfo | grep -o 'vdisk:[0-9]*' | head -1 | cut -d: -f2
}
after_kill() { # DIR CHILD WHAT
  check "$3: vdisk umount clears the dead mount" $T "$VDISK" umount "$1"
  check "$3: nothing left mounted" bash -c "! grep -qF '$WORK/' /proc/self/mountinfo"
  "$VDISK" check "$2" >check.out 2>&1; rc=$?
  check "$3: the child checks clean or repairable (exit $rc)" test $rc = 0 -o $rc = 3
  [ $rc = 3 ] && "$VDISK" check --repair "$2" >/dev/null 2>&1
  check "$3: the child opens and its table reads" "$VDISK" mount --list "$2"
  check "$3: the parent did not change" test "$(sha256sum k.vmdk)" = "$sum0"
}

# ---- a guest volume -----------------------------------------------------------
if $T "$VDISK" mount --volume 5 --read-write --into k-child.vmdk k.vmdk km; then
  pattern kfile 2000000 11
  cp kfile km/k.bin; sync
  pid=$(server_pid)
  check "volume: the server's pid is found" test -n "$pid"
  [ -n "$pid" ] && kill -9 "$pid"
  sleep 0.5
  after_kill km k-child.vmdk "volume"
  # the old files are intact in the child (what fuse2fs wrote before the
  # kill may or may not be there: it never reached a flush of the child)
  if $T "$VDISK" mount --volume 5 k-child.vmdk km; then
    check "volume: the child's old files are intact" cmp -s km/c.bin srcC/c.bin
    "$VDISK" umount km
  else
    not_ok "volume: the child mounts after the kill"
  fi
else
  not_ok "mount for kill -9 of a volume"
fi

# ---- partition files: kill -9 while a writer streams into p5 ------------------
if $T "$VDISK" mount --read-write --into p-child.vmdk k.vmdk pm; then
  pattern first 1048576 21
  dd if=first of=pm/p5 bs=64k conv=notrunc,fsync status=none
  pid=$(server_pid)
  check "partition files: the server's pid is found" test -n "$pid"
  # a second writer keeps writing when the server dies
  ( head -c $((16 << 20)) /dev/urandom \
      | dd of=pm/p5 bs=64k seek=32 conv=notrunc status=none 2>/dev/null ) &
  wpid=$!
  sleep 0.3
  [ -n "$pid" ] && kill -9 "$pid"
  wait $wpid 2>/dev/null
  sleep 0.3
  after_kill pm p-child.vmdk "partition files"
  check "partition files: the synced bytes are in the child" \
    bash -c "'$VDISK' cat p-child.vmdk | cmp -s -n 1048576 -i $((4096 * 512)):0 - first"
else
  not_ok "mount for kill -9 of partition files"
fi
done_testing
