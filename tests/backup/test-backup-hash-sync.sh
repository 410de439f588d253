#!/bin/bash
# Backup's hashing, syncing and reading (issue 14's speed work):
#   - a full point's disk file carries sha256_tree (the SHA-256 of its
#     chunk_size pieces' digests, each the SHA-256 of the piece's 32 KiB
#     leaves' SHA-256s, hashed beside the copy) and a CRC-64 per piece,
#     equal to what python computes from the file itself, with the
#     multi-buffer hasher and with one leaf at a time (VD_HASH_SINGLE);
#   - verify still checks an older manifest's sha256_of_chunks, and
#     refuses a leaf size it does not hash;
#   - verify names a flipped byte's file and byte range;
#   - --no-sync: no fdatasync of the point's disk file, the manifest and
#     `backup list` (text and JSON) say "not synced"; the default syncs it
#     and says synced; both read identically in qemu-img;
#   - verify of every point hashes each point's own files and reads each
#     disk's chain once (not the base again for every point);
#   - backup opens the VM's disk once (as one `vdisk info` does), after
#     one peek at its first sector (an RDM mapping?);
#   - a VM file (.nvram) is read once: its manifest entry (SHA-256, a
#     CRC-64 per chunk, equal to python's) comes from the copy's read,
#     the copy in the point is not read again.
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3 strace
cd "$WORK"
V=$VDISK

mkdir vm
$V create --size 64M vm/d.vmdk
for i in 0 2 5 9 14 20 27 35; do
  pattern p$i 1048576 $((i + 3)); $V write --offset $((i << 20)) --file p$i vm/d.vmdk
done
cat > vm/t.vmx <<'X'
.encoding = "UTF-8"
displayName = "t"
nvram = "t.nvram"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "d.vmdk"
X
pattern vm/t.nvram 8684 2

# opens of vm/d.vmdk by one command (strace): backup against info
opens() { strace -f -e trace=openat -o o.txt "$@" >/dev/null 2>&1; grep -c '"vm/d.vmdk"' o.txt; }
$V cbt enable vm/d.vmdk
n_info=$(opens $V info vm/d.vmdk)
n_bk=$(opens $V backup --full --no-sync vm warm)
# (plus one peek at its first sector: is it an RDM mapping?)
check "backup opens the VM's disk once, as info does ($n_bk, $n_info + 1)" test "$n_bk" = $((n_info + 1))

strace -f -e trace=fdatasync,fsync -y -o s1.txt $V backup --full --no-sync vm repo 2>/dev/null
P1=$(ls repo | grep '^2' | tail -1); F1=$(ls repo/disks/scsi0-0/*.vmdk | tail -1)
strace -f -e trace=read,pread64 -y -o rv.txt $V backup --full --no-sync vm rv 2>/dev/null
Pv=$(ls rv | grep '^2' | tail -1)
# bytes.py STRACE SUFFIX: bytes read from files whose path ends in SUFFIX
cat > bytes.py <<'P'
import re, sys
n = 0
for l in open(sys.argv[1]):
    m = re.search(r'(?:pread64|read)\(\d+<([^>]*)>.*\)\s+=\s+(\d+)', l)
    if m and m.group(1).endswith(sys.argv[2]):
        n += int(m.group(2))
print(n)
P
nv_src=$(python3 bytes.py rv.txt /vm/t.nvram); nv_copy=$(python3 bytes.py rv.txt /files/t.nvram)
check "a VM file is read once: its source whole ($nv_src of 8684), its copy not ($nv_copy)" \
  test "$nv_src" = 8684 -a "$nv_copy" = 0
check "... its manifest entry is the file's (python SHA-256, CRC-64 per chunk)" python3 - "rv/$Pv/manifest.json" vm/t.nvram <<'P'
import hashlib, json, sys
m = json.load(open(sys.argv[1])); data = open(sys.argv[2], "rb").read()
e = [f for f in m["files"] if f["name"] == "files/t.nvram"][0]
def crc64(b):                   # CRC-64/XZ: ECMA-182, reflected
    c = 0xffffffffffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0xc96c5795d7870f42 if c & 1 else 0)
    return c ^ 0xffffffffffffffff
cs = e["chunk_size"]
assert e["size"] == len(data) and e["sha256"] == hashlib.sha256(data).hexdigest(), e
assert e["chunk_crc64"] == ["%016x" % crc64(data[i:i + cs]) for i in range(0, len(data), cs)], e
P
check "--no-sync: the point's disk file is never fdatasync'ed" bash -c "! grep -q 'disks/scsi0-0/.*vmdk' s1.txt"
check "--no-sync: the manifest says synced false" python3 -c "
import json; assert json.load(open('repo/$P1/manifest.json'))['synced'] is False"
check "--no-sync: backup list says not synced" bash -c "$V backup list repo | grep -q 'not synced'"
check "--no-sync: backup list --json says synced false" python3 -c "
import json, subprocess
l = json.loads(subprocess.run(['$V', 'backup', 'list', '--json', 'repo'], capture_output=True).stdout)
assert l['points'][0]['synced'] is False, l"
check "--no-sync point reads as the VM (qemu-img compare)" qemu-img compare -q vm/d.vmdk "$F1"

# tree.py MANIFEST FILE [MIN_PIECES]: the disk file's hashes against python's
cat > tree.py <<'P'
import hashlib, json, sys
m = json.load(open(sys.argv[1])); e = m["disks"][0]["disk_file"]
data = open(sys.argv[2], "rb").read()
cs, L = e["chunk_size"], 32768
def dg(b): return hashlib.sha256(b).digest()
pieces = [data[i:i + cs] for i in range(0, len(data), cs)]
want = hashlib.sha256(b"".join(dg(b"".join(dg(p[j:j + L]) for j in range(0, len(p), L)))
                               for p in pieces)).hexdigest()
least = int(sys.argv[3]) if len(sys.argv) > 3 else 9
assert e["size"] == len(data) and len(pieces) >= least, (e["size"], len(pieces))
if len(sys.argv) > 4:
    assert len(data) % L != 0     # a short last leaf
assert e["leaf_size"] == L, e.get("leaf_size")
assert e["sha256_tree"] == want, "sha256_tree differs"
assert len(e["chunk_crc64"]) == len(pieces)
assert len(set(e["chunk_crc64"])) == len(pieces)  # no value repeated
P
check "the disk file's hashes are its pieces' (python)" python3 tree.py "repo/$P1/manifest.json" "$F1"
VD_HASH_SINGLE=1 $V backup --full --no-sync vm rs 2>/dev/null
check "one leaf at a time: the same hashes (python)" python3 tree.py \
  "rs/$(ls rs | grep '^2')/manifest.json" "$(ls rs/disks/scsi0-0/*.vmdk)"
check "one leaf at a time: verify passes" env VD_HASH_SINGLE=1 $V backup verify rs
# a streamOptimized full point: compressed grains, a file of any length
# (a short last leaf)
VD_HASH_SINGLE=0 $V backup --full --full-type stream --no-sync vm rz 2>/dev/null
check "a stream point's hashes (short last leaf) are its pieces' (python)" python3 tree.py \
  "rz/$(ls rz | grep '^2')/manifest.json" "$(ls rz/disks/scsi0-0/*.vmdk)" 1 short
# an older manifest: sha256_of_chunks, the SHA-256 of the pieces' SHA-256s
cp -a rs ro
Po=$(ls ro | grep '^2')
python3 - "ro/$Po/manifest.json" "$(ls ro/disks/scsi0-0/*.vmdk)" <<'P'
import hashlib, json, sys
m = json.load(open(sys.argv[1])); e = m["disks"][0]["disk_file"]
data = open(sys.argv[2], "rb").read(); cs = e["chunk_size"]
del e["sha256_tree"], e["leaf_size"]
e["sha256_of_chunks"] = hashlib.sha256(b"".join(hashlib.sha256(data[i:i + cs]).digest()
                                                for i in range(0, len(data), cs))).hexdigest()
json.dump(m, open(sys.argv[1], "w"))
P
check "an older manifest's sha256_of_chunks verifies" $V backup verify ro
python3 -c "
import json; p = 'ro/$Po/manifest.json'; m = json.load(open(p))
m['disks'][0]['disk_file']['sha256_of_chunks'] = '0' * 64; json.dump(m, open(p, 'w'))"
check "a wrong sha256_of_chunks fails verify" bash -c "! $V backup verify ro 2>/dev/null"
python3 -c "
import json; p = 'rs/$(ls rs | grep '^2')/manifest.json'; m = json.load(open(p))
m['disks'][0]['disk_file']['leaf_size'] = 65536; json.dump(m, open(p, 'w'))"
$V backup verify rs > /dev/null 2> lf.txt; rc=$?
check "a leaf size vdisk does not hash: a clear error" bash -c "[ $rc -ne 0 ] && grep -q 'leaf size 65536' lf.txt"

sleep 1.1
strace -f -e trace=fdatasync -y -o s2.txt $V backup vm repo 2>/dev/null
P2=$(ls repo | grep '^2' | tail -1)
check "default: the point's disk file is fdatasync'ed" grep -q 'disks/scsi0-0/.*vmdk' s2.txt
check "default: the manifest says synced true, list says nothing" bash -c "
python3 -c \"import json; assert json.load(open('repo/$P2/manifest.json'))['synced'] is True\" &&
[ \$($V backup list repo | grep -c 'not synced') = 1 ]"
for i in 3 4; do
  sleep 1.1
  pattern w$i 65536 $((i + 40)); $V write --offset $((i << 20)) --file w$i vm/d.vmdk
  $V backup vm repo 2>/dev/null
done
check "verify passes (four points)" $V backup verify repo

# bytes read from the full point's file by verify of every point
strace -f -e trace=pread64,read -y -o r.txt $V backup verify repo >/dev/null 2>&1
base=$(stat -c %s "$F1")
got=$(python3 bytes.py r.txt "/$(basename "$F1")")
check "verify of four points reads the base under 3 times ($got of $base bytes)" test "$got" -lt $((3 * base))

# a flipped byte in the middle of the full point's file
cp "$F1" keep.vmdk
off=$(( $(stat -c %s "$F1") / 2 ))
python3 -c "
f = open('$F1', 'r+b'); f.seek($off); b = f.read(1); f.seek($off); f.write(bytes([b[0] ^ 0xff]))"
$V backup verify repo "$P1" > /dev/null 2> v.txt; rc=$?
cs=$(python3 -c "import json; print(json.load(open('repo/$P1/manifest.json'))['disks'][0]['disk_file']['chunk_size'])")
lo=$(( off / cs * cs ))
check "verify names the flipped byte's file and range" bash -c "[ $rc -ne 0 ] && grep -q '$(basename "$F1").*bytes $lo\.\.' v.txt"
cp keep.vmdk "$F1"
check "verify passes again" $V backup verify repo

# a thin flat disk: its data areas need not be whole grains, so the copy's
# writes leave the pattern and the file is hashed again whole at the end
mkdir vf
$V create --type monolithicFlat --size 16M vf/f.vmdk
pattern q1 12288 7; $V write --offset 12288 --file q1 vf/f.vmdk
pattern q2 1052672 8; $V write --offset $(( (5 << 20) + 4096 )) --file q2 vf/f.vmdk
sed 's/d\.vmdk/f.vmdk/' vm/t.vmx > vf/t.vmx
$V backup --full vf rf 2>/dev/null
Pf=$(ls rf | grep '^2'); Ff=$(ls rf/disks/scsi0-0/*.vmdk)
check "an unaligned source: the point reads as the disk" qemu-img compare -q vf/f.vmdk "$Ff"
check "an unaligned source: the disk file's hashes are still its pieces'" python3 tree.py "rf/$Pf/manifest.json" "$Ff" 2
check "an unaligned source: verify passes" $V backup verify rf
done_testing
