#!/bin/bash
# Locking: one writer per disk.  While a `vdisk write` holds a disk (it waits
# on a FIFO for its data), a second writer is refused with a "locked" message
# and readers still work; the same against QEMU, whose OFD lock bytes vdisk
# shares: qemu-io holding a disk read-write makes `vdisk write` fail, and a
# vdisk writer makes qemu-io fail.  A killed writer leaves no lock behind.
source "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io python3 mkfifo
cd "$WORK"
M=$((1024*1024))

# start_writer DISK OFFSET: a vdisk write that has opened DISK and waits for
# its data on fd 3; stop_writer DATA sends the data and waits for it.
start_writer() {
  rm -f w.fifo; mkfifo w.fifo
  ( exec "$VDISK" write --offset "$2" "$1" < w.fifo 2>w.err ) &
  wpid=$!
  exec 3>w.fifo
  # the writer has the disk open once its "not shared: write" lock byte (201)
  # shows in /proc/locks (probing with another open would race with it)
  local ino; ino=$(stat -c %i "$1")
  for _ in $(seq 100); do
    grep -qE "OFDLCK +ADVISORY +READ +[0-9-]+ +[0-9a-f]+:[0-9a-f]+:$ino +201 +201" /proc/locks && break
    sleep 0.05
  done
}
stop_writer() { printf '%s' "$1" >&3; exec 3>&-; wait $wpid; }

# start_qemu DISK: qemu-io holding DISK read-write, reading commands from fd 4
start_qemu() {
  rm -f q.fifo; mkfifo q.fifo
  ( exec qemu-io -f vmdk "$1" < q.fifo > q.out 2>&1 ) &
  qpid=$!
  exec 4>q.fifo
  echo 'read 0 512' >&4          # qemu-io answers once the image is open
  for _ in $(seq 50); do grep -q 'read 512/512' q.out 2>/dev/null && break; sleep 0.1; done
}
stop_qemu() { [ $# -gt 0 ] && echo "$1" >&4; echo quit >&4; exec 4>&-; wait $qpid; }

for t in monolithicSparse twoGbMaxExtentSparse monolithicFlat; do
  rm -f d*.vmdk
  "$VDISK" create --type $t --size 8M d.vmdk

  # ---- vdisk writer vs vdisk ----
  start_writer d.vmdk 1000
  printf 'second' | "$VDISK" write --offset 5000 d.vmdk >/dev/null 2>err; rc=$?
  check "$t: second vdisk writer refused (exit 1, got $rc)" test $rc = 1
  check "$t:   ... with a 'locked' message naming the disk" \
    bash -c "grep -qi 'locked' err && grep -q 'd.vmdk' err"
  check "$t: vdisk cat beside the writer works" bash -c "'$VDISK' cat d.vmdk | cmp -s - <(head -c $((8*M)) /dev/zero)"
  check "$t: vdisk info beside the writer works" bash -c "'$VDISK' info d.vmdk >/dev/null"
  check "$t: vdisk map beside the writer works" bash -c "'$VDISK' map d.vmdk >/dev/null"
  # qemu's read-only open does not share writing: it is refused, as against
  # another qemu; with force-share (-U) it reads
  check "$t: qemu-io -r refused while vdisk writes" bash -c "! qemu-io -r -f vmdk -c 'read 0 512' d.vmdk >/dev/null 2>&1"
  check "$t: qemu-io read-write refused while vdisk writes" bash -c "! qemu-io -f vmdk -c 'write 0 512' d.vmdk >/dev/null 2>&1"
  check "$t: qemu-img info -U reads beside the writer" bash -c "qemu-img info -U d.vmdk >/dev/null 2>&1"
  stop_writer "first"; rc=$?
  check "$t: the held writer then completes (exit $rc)" test $rc = 0
  check "$t:   ... and its data is there" \
    bash -c "'$VDISK' cat d.vmdk | dd bs=1 skip=1000 count=5 status=none | grep -q first"
  check "$t: the second writer's data is not" \
    bash -c "! '$VDISK' cat d.vmdk | dd bs=1 skip=5000 count=6 status=none | grep -q second"
  check "$t: after the writer, a new write works" bash -c "printf ok | '$VDISK' write --offset 7000 d.vmdk"

  # ---- qemu-io writer vs vdisk ----
  start_qemu d.vmdk
  printf 'vdisk' | "$VDISK" write --offset 9000 d.vmdk >/dev/null 2>err; rc=$?
  check "$t: vdisk write refused while qemu-io holds the disk (exit 1, got $rc)" test $rc = 1
  check "$t:   ... with a 'locked' message" grep -qi locked err
  stop_qemu 'write -P 0x71 20000 100'
  check "$t: qemu-io's write landed, vdisk's did not" \
    bash -c "'$VDISK' cat d.vmdk > d.raw && test \"\$(dd if=d.raw bs=1 skip=20000 count=100 status=none | tr -d q)\" = '' && ! dd if=d.raw bs=1 skip=9000 count=5 status=none | grep -q vdisk"
  check "$t: qemu-img check clean after the sessions" bash -c "qemu-img check -f vmdk d.vmdk >/dev/null 2>&1"

  # ---- a killed writer leaves no lock ----
  start_writer d.vmdk 0
  kill -9 $wpid; exec 3>&-; wait $wpid 2>/dev/null
  check "$t: after kill -9 of a writer, vdisk write works" bash -c "printf x | '$VDISK' write --offset 0 d.vmdk"
  check "$t: ... and qemu-io write works" bash -c "qemu-io -f vmdk -c 'write 512 512' d.vmdk >/dev/null"
done

done_testing
