#!/bin/bash
# vdisk mount of disks that are not a local path: an nbds:// URI (TLS-PSK)
# of a disk `vdisk serve` exports on a Unix socket, and a first class disk
# (--fcd DATASTORE ID, ID@SSID) and its snapshots.  A GPT disk with an
# ext4 volume made from a folder (mke2fs -d); every mounted volume is
# compared with its source folder, the partition files with the raw image.
. "$(dirname "$0")/../functions.sh"
requires python3 sfdisk mke2fs fusermount3 fuse2fs timeout
[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] \
  || { echo "# skip: no usable /dev/fuse"; exit 77; }
T="timeout 120"
cleanup() {
  grep -o "$WORK/[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r \
    | while read -r m; do fusermount3 -u -z "$m" 2>/dev/null; done
  [ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
export TMPDIR="$WORK"        # the hidden folders of volume mounts
cd "$WORK"

volcmp() { # MOUNTDIR SRC: same tree, same bytes
  diff -r --no-dereference -x lost+found "$2" "$1" >/dev/null || return 1
  (cd "$2" && find . -type f | while read -r f; do cmp -s "$f" "$1/$f" || exit 1; done)
}
mkgpt() { # SRC RAW: a GPT disk, p1 ext4 made from SRC
  truncate -s 40M "$2"
  printf 'label: gpt\nstart=2048, size=61440, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
    | sfdisk -q "$2"
  truncate -s $((61440 * 512)) p.img && mke2fs -q -F -t ext4 -L v1 -d "$1" p.img
  dd if=p.img of="$2" bs=512 seek=2048 conv=notrunc status=none
  rm -f p.img
}
mkdir -p src1 src2 m1 m2 m3
pattern src1/big.bin 3000000 1
printf 'first\n' > src1/a.txt
pattern src2/other.bin 777777 2
printf 'second\n' > src2/b.txt
mkgpt src1 one.raw
mkgpt src2 two.raw

# ---- nbds:// (TLS-PSK) from vdisk serve ----------------------------------------
find_plugin
if [ -z "$plugin" ] || ! command -v nbdkit >/dev/null; then
  echo "# skip nbds: no nbdkit or no uninstrumented nbdkit-vdisk-plugin.so (make build)"
else
  export VDISK_NBDKIT_PLUGIN=$plugin
  mkdir -p ds/vm
  "$VDISK" convert -f raw one.raw ds/vm/one.vmdk >/dev/null
  echo secret | "$VDISK" user add --password-stdin users.psk alice
  S=$WORK/sock
  timeout 120 "$VDISK" serve --unix "$S" --pidfile pid --tls-psk users.psk ds 2>serve.log &
  for _ in $(seq 100); do [ -s pid ] && [ -S "$S" ] && break; sleep 0.1; done
  check "vdisk serve --tls-psk starts" test -S "$S"
  uri="nbds+unix://alice@/vm/one.vmdk?socket=$S&tls-psk-file=$WORK/users.psk"
  check "nbds URI: --list names the ext4 volume" \
    bash -c "$T '$VDISK' mount --list '$uri' | grep -q 'p1 .*ext4 .*v1'"
  if $T "$VDISK" mount "$uri" m1; then
    check "nbds URI: the partition file reads as the raw bytes" \
      bash -c "cmp -s m1/disk one.raw && cmp -s m1/p1 <(tail -c +$((2048 * 512 + 1)) one.raw | head -c $((61440 * 512)))"
    check "nbds URI: umount" $T "$VDISK" umount m1
  else
    not_ok "nbds URI: mount"
  fi
  if $T "$VDISK" mount --volume 1 "$uri" m1; then
    check "nbds URI: volume 1 lists and reads every file as the source" volcmp "$WORK/m1" "$WORK/src1"
    check "nbds URI: umount of the volume" $T "$VDISK" umount m1
  else
    not_ok "nbds URI: mount --volume 1"
  fi
  bad="nbds+unix://alice@/vm/one.vmdk?socket=$S&tls-psk-file=$WORK/wrong.psk"
  echo "alice:$(printf '%064d' 7)" > wrong.psk
  check "nbds URI: a wrong key is refused, nothing mounted" \
    bash -c "! $T '$VDISK' mount --volume 1 '$bad' m1 2>/dev/null && ! grep -qF ' $WORK/m1 ' /proc/self/mountinfo"
  check "nbds URI: the served disk did not change" \
    bash -c "'$VDISK' cat ds/vm/one.vmdk | cmp -s - one.raw"
  kill "$(cat pid)" 2>/dev/null; wait 2>/dev/null; rm -f pid
fi

# ---- a first class disk and its snapshots ------------------------------------------
mkdir -p fds
"$VDISK" convert -f raw one.raw reg.vmdk >/dev/null
ID=$("$VDISK" fcd register --name vol "$WORK/fds" "$WORK/reg.vmdk" 2>fcd.err)
if [ -z "$ID" ]; then
  not_ok "fcd register: $(cat fcd.err)"
else
  S1=$("$VDISK" fcd snapshot --description one fds "$ID")
  check "fcd: snapshot made" test -n "$S1"
  # the top moves on: volume 1 now holds src2
  top=$("$VDISK" fcd info --json fds "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fcd"]["path"])')
  "$VDISK" write --offset 0 --file two.raw "$top"
  sums=$(sha256sum fds/fcd/*/* | sort)
  check "fcd: --list of the snapshot names its volume" \
    bash -c "'$VDISK' mount --list --fcd fds '$ID@$S1' | grep -q 'p1 .*ext4'"
  if $T "$VDISK" mount --volume 1 --fcd fds "$ID@$S1" m2; then
    check "fcd ID@SSID: the snapshot's volume reads as at the snapshot" volcmp "$WORK/m2" "$WORK/src1"
    check "fcd ID@SSID: read-only" bash -c "! touch m2/new 2>/dev/null"
    if $T "$VDISK" mount --volume 1 --fcd fds "${ID:0:8}" m3; then
      check "fcd ID (a prefix): the top's volume reads as now, beside the snapshot" volcmp "$WORK/m3" "$WORK/src2"
      "$VDISK" umount m3
    else
      not_ok "fcd ID: mount of the top"
    fi
    check "fcd ID@SSID: umount" $T "$VDISK" umount m2
  else
    not_ok "fcd ID@SSID: mount --volume 1"
  fi
  if $T "$VDISK" mount --fcd fds "$ID@$S1" m2; then
    check "fcd ID@SSID: the snapshot's disk file reads as the raw image then" cmp -s m2/disk one.raw
    "$VDISK" umount m2
  else
    not_ok "fcd ID@SSID: mount of the partition files"
  fi
  if $T "$VDISK" mount --volume 1 --read-write --into snapkid.vmdk --fcd fds "$ID@$S1" m2; then
    printf 'added\n' > m2/added.txt
    check "fcd ID@SSID --into CHILD: umount" $T "$VDISK" umount m2
    check "fcd ID@SSID --into CHILD: the child checks clean" "$VDISK" check --trusted snapkid.vmdk
    # (its parent is named by an absolute path into the datastore)
    $T "$VDISK" mount --trusted --volume 1 snapkid.vmdk m2 \
      && check "fcd ID@SSID --into CHILD: the new file is in the child" \
           bash -c "grep -qx added m2/added.txt && cmp -s m2/big.bin src1/big.bin"
    "$VDISK" umount m2
  else
    not_ok "fcd ID@SSID: --read-write --into CHILD"
  fi
  check "fcd: nothing in the datastore changed" test "$(sha256sum fds/fcd/*/* | sort)" = "$sums"
  if $T "$VDISK" mount --read-write --in-place --fcd fds "$ID" m3; then
    check "fcd ID written in place: a read-only mount of the top is refused" \
      bash -c "! $T '$VDISK' mount --fcd fds '$ID' m2 2>err && grep -qi 'locked' err"
    check "fcd ID written in place: its snapshot still mounts" \
      bash -c "$T '$VDISK' mount --fcd fds '$ID@$S1' m2 && cmp -s m2/disk one.raw"
    "$VDISK" umount m2 2>/dev/null
    check "fcd ID --in-place: umount" $T "$VDISK" umount m3
  else
    not_ok "fcd ID: --read-write --in-place of the top"
  fi
  check "fcd ID@SSID --in-place is refused" \
    bash -c "! '$VDISK' mount --read-write --in-place --fcd fds '$ID@$S1' m2 2>err && grep -q 'read-only' err"
  check "fcd --read-write without --into is refused" \
    bash -c "! '$VDISK' mount --read-write --fcd fds '$ID' m2 2>err && grep -q 'into' err"
  check "fcd: an unknown snapshot is a clear error, nothing mounted" \
    bash -c "! $T '$VDISK' mount --fcd fds '$ID@00000000-0000-0000-0000-000000000000' m2 2>err && grep -qi 'snapshot' err && ! grep -qF ' $WORK/m2 ' /proc/self/mountinfo"
  check "fcd: a folder without a catalog is a clear error" \
    bash -c "! $T '$VDISK' mount --fcd src1 '$ID' m2 2>err && grep -qi 'catalog' err"
fi
check "nothing left mounted" bash -c "! grep -qF '$WORK/' /proc/self/mountinfo"
done_testing
