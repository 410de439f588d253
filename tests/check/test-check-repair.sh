#!/bin/bash
# vdisk check --repair (lib/repair.c): each repairable kind of damage is
# made on a fresh monolithicSparse disk, found by check (exit 2 or 3 as
# qemu-img check), repaired (exit 0 afterwards, content unchanged); what
# cannot be repaired safely is refused with a reason and left untouched.
. "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"

# hdr FILE FIELD: a header field (sectors)
hdr() { python3 - "$1" "$2" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read(512)
f = dict(gd=56, rgd=48, overhead=64, grain=20)
print(struct.unpack_from("<Q", b, f[sys.argv[2]])[0])
PY
}
# poke FILE BYTE_OFFSET FORMAT VALUE
poke() { python3 - "$@" <<'PY'
import struct, sys
p, off, fmt, v = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4], 0)
with open(p, "r+b") as fh:
    fh.seek(off); fh.write(struct.pack(fmt, v))
PY
}
peek32() { python3 -c "import struct,sys; f=open('$1','rb'); f.seek($2); print(struct.unpack('<I', f.read(4))[0])"; }

fresh() {
  rm -f d.vmdk data
  "$VDISK" create -s 4M d.vmdk >/dev/null || return 1
  pattern data 200000 7
  "$VDISK" write --offset 100000 --file data d.vmdk >/dev/null || return 1
  "$VDISK" write --offset 3M --file data d.vmdk >/dev/null || return 1
  "$VDISK" cat d.vmdk > before.raw
}
code() { "$@" >out.txt 2>&1; echo $?; }

# 1. stale uncleanShutdown
fresh
poke d.vmdk 72 '<B' 1
check "unclean flag set: check exits 0 and says so" \
  test "$(code "$VDISK" check d.vmdk)" = 0 -a -n "$(grep -i unclean out.txt)"
check "repair clears uncleanShutdown" \
  test "$(code "$VDISK" check --repair d.vmdk)" = 0 -a "$(python3 -c "print(open('d.vmdk','rb').read(73)[72])")" = 0
grep -q "uncleanShutdown cleared" out.txt && ok "repair names the flag" || not_ok "repair names the flag"

# 2. redundant grain table lagging behind the primary (interrupted write)
fresh
rgd=$(hdr d.vmdk rgd); rgt=$(peek32 d.vmdk $((rgd*512)))
poke d.vmdk $((rgt*512 + 4*1)) '<I' 0      # grain 1 missing in the copy
# safe (the primary is ahead) and repairable: qemu-img's "leaks only" code
check "lagging redundant table: check exits 3" test "$(code "$VDISK" check d.vmdk)" = 3
check "repair merges the copies: exit 0" test "$(code "$VDISK" check --repair d.vmdk)" = 0
"$VDISK" cat d.vmdk > after.raw
check "content unchanged after the merge" same_file before.raw after.raw

# 3. primary directory entry damaged (past end of file): open refuses
fresh
gd=$(hdr d.vmdk gd)
poke d.vmdk $((gd*512)) '<I' 0x7fffff00
check "damaged directory: check exits 2" test "$(code "$VDISK" check d.vmdk)" = 2
check "damaged directory: cat refuses" test "$(code "$VDISK" cat d.vmdk)" != 0
check "repair rebuilds it from the redundant copy: exit 0" \
  test "$(code "$VDISK" check --repair d.vmdk)" = 0
"$VDISK" cat d.vmdk > after.raw 2>/dev/null
check "content unchanged after the rebuild" same_file before.raw after.raw
if command -v qemu-img >/dev/null; then
  qemu-img convert -f vmdk -O raw d.vmdk q.raw 2>/dev/null
  check "qemu-img reads the repaired disk the same" same_file before.raw q.raw
fi

# 4. leaked grains at the end of the file
fresh
grain=$(hdr d.vmdk grain)
size0=$(stat -c %s d.vmdk)
head -c $((3*grain*512)) /dev/urandom >> d.vmdk
check "trailing leaked grains: check exits 3" test "$(code "$VDISK" check d.vmdk)" = 3
check "repair gives them back: exit 0" test "$(code "$VDISK" check --repair d.vmdk)" = 0
check "file back to its size" test "$(stat -c %s d.vmdk)" = "$size0"
"$VDISK" cat d.vmdk > after.raw
check "content unchanged after the truncation" same_file before.raw after.raw

# 5. refused: the two copies give one grain different places
fresh
rgd=$(hdr d.vmdk rgd); rgt=$(peek32 d.vmdk $((rgd*512)))
g1=$(peek32 d.vmdk $((rgt*512 + 4*1))); g2=$(peek32 d.vmdk $((rgt*512 + 4*2)))
poke d.vmdk $((rgt*512 + 4*1)) '<I' "$g2"
cp d.vmdk saved.vmdk
rc=$(code "$VDISK" check --repair d.vmdk)
check "conflicting copies: repair refused, exit 2" test "$rc" = 2
grep -qi "refused.*different places\|cannot tell" out.txt && ok "the refusal says why" || not_ok "the refusal says why"
check "a refused repair writes nothing" same_file d.vmdk saved.vmdk

# 6. refused: streamOptimized is never repaired in place
fresh
"$VDISK" convert --type streamOptimized d.vmdk s.vmdk >/dev/null 2>&1
if [ -f s.vmdk ]; then
  poke s.vmdk 72 '<B' 1
  cp s.vmdk saved.vmdk
  code "$VDISK" check --repair s.vmdk >/dev/null
  grep -qi "streamOptimized" out.txt && ok "stream: refused with the reason" || not_ok "stream: refused with the reason"
  check "stream: untouched" same_file s.vmdk saved.vmdk
fi

# 7. locked: a VMware lock folder stops the repair unless --force
fresh
poke d.vmdk 72 '<B' 1
mkdir d.vmdk.lck
check "lock folder: repair refused (exit 1)" test "$(code "$VDISK" check --repair d.vmdk)" = 1
check "lock folder + --force: repaired" test "$(code "$VDISK" check --repair --force d.vmdk)" = 0
rmdir d.vmdk.lck

# exit codes agree with qemu-img check on a clean disk
if command -v qemu-img >/dev/null; then
  fresh
  "$VDISK" check d.vmdk >/dev/null; a=$?
  qemu-img check -f vmdk d.vmdk >/dev/null 2>&1; b=$?
  check "clean disk: vdisk check $a, qemu-img check $b" test "$a" = "$b"
fi
done_testing
