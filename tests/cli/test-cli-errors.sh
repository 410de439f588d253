#!/bin/bash
# Error paths of the CLI: each failure exits 1 with a message that names the
# file at fault, and changes nothing; --help of every command exits 0; an
# unknown option or command exits 1.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 md5sum
cd "$WORK"
M=$((1024*1024))

# fails NAME WANT_IN_MESSAGE COMMAND...: exit 1, message on stderr naming WANT
fails() {
  local name=$1 want=$2; shift 2
  "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; local rc=$?
  if [ $rc = 1 ] && grep -qF -- "$want" "$WORK/err"; then
    ok "$name: exit 1, message names $want"
  else
    not_ok "$name: exit 1 (got $rc), message names $want"
    sed 's/^/#   stderr: /' "$WORK/err" | head -3
  fi
}
# fails_in NAME WANT DATA COMMAND...: the same with DATA on standard input
fails_in() {
  local name=$1 want=$2 data=$3; shift 3
  printf '%s' "$data" | "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
  if [ $rc = 1 ] && grep -qF -- "$want" "$WORK/err"; then
    ok "$name: exit 1, message names $want"
  else
    not_ok "$name: exit 1 (got $rc), message names $want"
    sed 's/^/#   stderr: /' "$WORK/err" | head -3
  fi
}
sum() { cat "$@" | md5sum; }

# ---- writes that must not happen -------------------------------------------------
"$VDISK" create --size 1M sp.vmdk
before=$(sum sp.vmdk)
fails_in "write starting at the capacity" sp.vmdk "abcd" "$VDISK" write --offset $M sp.vmdk
fails_in "write straddling the end" sp.vmdk "abcd" "$VDISK" write --offset $((M - 2)) sp.vmdk
fails_in "write far past the end (> 4 GiB)" sp.vmdk "abcd" "$VDISK" write --offset $((5 << 30)) sp.vmdk
check "  ... refused writes changed nothing in the file" test "$(sum sp.vmdk)" = "$before"
truncate -s 1M z.raw
check "  ... and qemu-img still reads zeros" qemu-img compare -q -f raw -F vmdk z.raw sp.vmdk
fails "write --file of a missing file" "/nonexistent-input" "$VDISK" write --offset 0 --file /nonexistent-input sp.vmdk
fails "write with a negative offset" "offset" "$VDISK" write --offset -5 sp.vmdk

# a read-only extent (RDONLY in the descriptor; root ignores file modes)
"$VDISK" create --type monolithicFlat --size 1M ro.vmdk
sed -i 's/^RW /RDONLY /' ro.vmdk
before=$(sum ro.vmdk ro-flat.vmdk)
fails_in "write to an RDONLY extent" ro.vmdk "abcd" "$VDISK" write --offset 0 ro.vmdk
# (a refused write must not touch the descriptor either: a new CID would
# orphan every child of this disk)
check "  ... changed nothing, not even the CID" test "$(sum ro.vmdk ro-flat.vmdk)" = "$before"
check "  ... and the disk still reads" bash -c "'$VDISK' cat ro.vmdk | cmp -s - <(head -c $M /dev/zero)"

# A streamOptimized disk that holds data is written by convert only (an
# empty one, as create makes, is filled front to back)
truncate -s 2M s.raw
printf 'data' | dd of=s.raw bs=1 seek=70000 conv=notrunc 2>/dev/null
"$VDISK" convert --type streamOptimized -f raw s.raw so.vmdk
before=$(sum so.vmdk)
fails_in "write to a streamOptimized disk" so.vmdk "abcd" "$VDISK" write --offset 0 so.vmdk
check "  ... changed nothing" test "$(sum so.vmdk)" = "$before"

# ---- files that are not disks, or are missing ---------------------------------------
head -c 5000 /dev/urandom > junk.vmdk
for c in info cat map; do
  fails "$c of a file of random bytes" junk.vmdk "$VDISK" $c junk.vmdk
done
fails_in "write to a file of random bytes" junk.vmdk "ab" "$VDISK" write --offset 0 junk.vmdk
for c in info cat map check; do
  fails "$c of a missing file" missing.vmdk "$VDISK" $c missing.vmdk
done
"$VDISK" create --type twoGbMaxExtentFlat --size 1M gone.vmdk
rm gone-f001.vmdk
fails "info of a disk whose extent file is gone" gone-f001.vmdk "$VDISK" info gone.vmdk
fails "cat of a disk whose extent file is gone" gone-f001.vmdk "$VDISK" cat gone.vmdk
fails "convert of a disk whose extent file is gone" gone-f001.vmdk "$VDISK" convert gone.vmdk gone2.vmdk
check "  ... leaves no output" test ! -e gone2.vmdk

# ---- create --------------------------------------------------------------------------
fails "create in a missing folder" "no/such/dir" "$VDISK" create --size 1M no/such/dir/x.vmdk
before=$(sum sp.vmdk)
fails "create over an existing disk" sp.vmdk "$VDISK" create --size 2M sp.vmdk
check "  ... left it unchanged" test "$(sum sp.vmdk)" = "$before"
fails "create with pvscsi on a hosted layout" "pvscsi" "$VDISK" create --adapter pvscsi --size 1M pv.vmdk
check "  ... left no file" test ! -e pv.vmdk
fails "create of an unknown type" "bogus" "$VDISK" create --type bogus --size 1M bg.vmdk
fails "create of size 0" "size" "$VDISK" create --size 0 z0.vmdk
fails "convert to an unknown type" "bogus" "$VDISK" convert --type bogus sp.vmdk bg.vmdk
check "  ... no files left by the refused creates" \
  bash -c "! ls bg* z0* pv* 2>/dev/null | grep -q ."

# ---- the command line ---------------------------------------------------------------
cmds=$("$VDISK" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && NF {print $1}')
check "vdisk --help lists the commands (got: $(echo $cmds))" test -n "$cmds"
check "vdisk --help exits 0" bash -c "'$VDISK' --help >/dev/null"
check "vdisk --version exits 0" bash -c "'$VDISK' --version | grep -q '[0-9]\.[0-9]'"
for c in $cmds; do
  "$VDISK" $c --help >"$WORK/out" 2>&1; rc=$?
  check "vdisk $c --help: exit 0 (got $rc) with a usage line" \
    bash -c "test $rc = 0 && grep -q 'Usage: vdisk $c' '$WORK/out'"
  "$VDISK" $c --no-such-option sp.vmdk >/dev/null 2>"$WORK/err"; rc=$?
  # scan exits as clamscan does: 2 for any error, usage errors included;
  # so does report (its 1 means a virus was found)
  want=1; case $c in scan|report) want=2;; esac
  check "vdisk $c --no-such-option: exit $want (got $rc) with a message" \
    bash -c "test $rc = $want && test -s '$WORK/err'"
done
"$VDISK" no-such-command >/dev/null 2>"$WORK/err"; rc=$?
check "unknown command: exit 1 (got $rc), named" bash -c "test $rc = 1 && grep -q no-such-command '$WORK/err'"
"$VDISK" >/dev/null 2>&1; rc=$?
check "no command: exit 1 (got $rc)" test $rc = 1
fails "cat without a disk" "cat" "$VDISK" cat
fails "info with two disks" "info" "$VDISK" info sp.vmdk ro.vmdk

done_testing
