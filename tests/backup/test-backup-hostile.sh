#!/bin/bash
# Hostile backup repositories: manifests naming ../, absolute paths and
# files outside a point, a repository disk whose chain (parent) lies
# outside the repository, symlinked points and disk folders, null chunk
# checks, deep JSON nesting.  restore never writes outside DEST, verify
# and prune never touch anything outside REPO; each is a clear error.
. "$(dirname "$0")/../functions.sh"
requires python3 sha256sum
cd "$WORK"
V=$VDISK

mkdir vm out
$V create --size 4M vm/a.vmdk
pattern s0 300000 1; $V write --offset 0 --file s0 vm/a.vmdk
printf '.encoding = "UTF-8"\ndisplayName = "h"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "a.vmdk"\n' > vm/h.vmx
$V backup vm good >/dev/null 2>&1 || not_ok "first backup"
sleep 1.1
pattern s1 70000 2; $V write --offset 1048576 --file s1 vm/a.vmdk
$V backup vm good >/dev/null 2>&1 || not_ok "second backup"
mapfile -t P < <(ls good | grep T)
[ ${#P[@]} = 2 ] || not_ok "two points"
# outside: a victim disk and files that must never change
cp vm/a.vmdk out/victim.vmdk; echo keep > out/keep.txt
snap() { (cd out && find . -type f -o -type l | sort | xargs sha256sum) ; }
snap > out.sum

fresh() { rm -rf repo; cp -a good repo; }
# edit POINT PYTHON: change the manifest (m) of a point
edit() { python3 - "repo/$1/manifest.json" "$2" <<'P'
import json, sys, hashlib
p = sys.argv[1]; m = json.load(open(p))
def rehash(e, path):
    data = open(path, "rb").read()
    if "sha256_tree" in e:   # a disk file: the SHA-256 of its chunks' digests of their leaves
        cs, L = e["chunk_size"], e["leaf_size"]
        dg = lambda b: hashlib.sha256(b).digest()
        e["sha256_tree"] = hashlib.sha256(b"".join(
            dg(b"".join(dg(data[i + j:min(i + cs, i + j + L)]) for j in range(0, min(cs, len(data) - i), L)))
            for i in range(0, len(data), cs))).hexdigest()
    else:
        e["sha256"] = hashlib.sha256(data).hexdigest()
exec(sys.argv[2])
json.dump(m, open(p, "w"))
P
}
untouched() { snap | cmp -s - out.sum; }
refused() {  # DESCRIPTION PATTERN COMMAND...: non-zero, message, outside untouched
  local d=$1 pat=$2; shift 2
  "$@" >/dev/null 2>err.txt; local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "$pat" err.txt && untouched \
     && ! grep -q 'AddressSanitizer\|runtime error' err.txt; then ok "$d"
  else not_ok "$d (rc $rc: $(head -c 300 err.txt))"; fi
}

fresh; edit "${P[1]}" 'm["disks"][0]["file"] = "disks/../../out/victim.vmdk"'
refused "restore: a disk file with ../ is refused" "outside disks" $V restore repo "${P[1]}" d1
check "  and DEST is not made" test ! -e d1
fresh; edit "${P[1]}" 'm["disks"][0]["file"] = "'"$WORK"'/out/victim.vmdk"'
refused "verify: an absolute disk file is refused" "outside disks" $V backup verify repo "${P[1]}"
fresh; edit "${P[1]}" 'm["files"][0]["name"] = "files/../../../out/keep.txt"'
refused "restore: a VM file with ../ is refused" "manifest" $V restore repo "${P[1]}" d2
fresh; edit "${P[1]}" 'm["disks"][0]["name"] = "../out/keep.txt"'
refused "restore: a disk name with ../ is refused" "incomplete" $V restore repo "${P[1]}" d3
check "  nothing beside DEST either" bash -c "! ls -a | grep -q vdisk-restore"

# the incremental file's parent re-pointed outside the repository by a
# symlink in its own folder (an absolute parent name the library refuses
# anyway), the manifest's hash made to match, as a hostile repository would
fresh
f1=$(ls repo/disks/*/"${P[1]}".vmdk)
ln -s "$WORK/out/victim.vmdk" "$(dirname "$f1")/v.vmdk"
$V attach --force "$f1" "$(dirname "$f1")/v.vmdk" >/dev/null 2>&1 || not_ok "attach to the symlink"
python3 - "$f1" <<'P'
import re, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
s = b.index(b"# Disk DescriptorFile"); e = b.index(b"\0", s)
t = re.sub(rb'parentFileNameHint="[^"]*"', b'parentFileNameHint="v.vmdk"', bytes(b[s:e]))
b[s:e] = t + b"\0" * (e - s - len(t)); open(p, "wb").write(b)
P
snap > out.sum
edit "${P[1]}" 'rehash(m["disks"][0]["disk_file"], "'"$f1"'")'
refused "restore: a parent symlinked out of the repository is refused" "symbolic link" $V restore repo "${P[1]}" d4
check "  and DEST is not made" test ! -e d4
refused "verify: the same chain is refused" "symbolic link" $V backup verify repo "${P[1]}"
refused "prune: never commits through it" "symbolic link" $V backup prune --keep 1 repo

# the whole disk folder a symlink to a folder outside (the files in it are
# no symlinks): prune would commit into the files there
fresh
k=$(ls repo/disks); mv "repo/disks/$k" out/chain; ln -s "$WORK/out/chain" "repo/disks/$k"
snap > out.sum
refused "prune: never commits into a chain outside the repository" "outside" $V backup prune --keep 1 repo
refused "restore: a chain outside the repository is refused" "outside" $V restore repo "${P[1]}" d7
check "  and DEST is not made" test ! -e d7
refused "verify: the same" "outside" $V backup verify repo "${P[1]}"
rm -rf out/chain

# a disk folder that is a symlink out of the repository: prune's and the
# sweep's clean-up must not remove files there
fresh
mkdir out/d; cp vm/a.vmdk out/d/20990101T000000Z.vmdk; cp vm/a.vmdk out/d/orphan.vmdk
ln -s "$WORK/out/d" repo/disks/evil
snap > out.sum
$V backup prune --keep 1 repo >/dev/null 2>&1
check "prune leaves the files behind a symlinked disk folder" untouched
sleep 1.1
$V backup vm repo >/dev/null 2>&1
check "backup's sweep leaves them too" untouched
rm repo/disks/evil

# a point that is a symlink to a folder outside
fresh
cp -a "repo/${P[0]}" out/pt; ln -s "$WORK/out/pt" repo/20300101T000000Z
snap > out.sum
check "a symlinked point is not listed" bash -c "[ \$($V backup list repo | wc -l) = 2 ]"
refused "nor restored" "no point" $V restore repo 20300101T000000Z d5
rm repo/20300101T000000Z

# hostile content of a manifest
fresh; f=$(ls repo/disks/*/"${P[1]}".vmdk); printf 'X' | dd of="$f" bs=1 seek=700 conv=notrunc 2>/dev/null
edit "${P[1]}" 'm["disks"][0]["disk_file"]["chunk_crc64"] = [None, None]'
refused "verify: a null chunk check is a difference, not a crash" "differs" $V backup verify repo "${P[1]}"
fresh; python3 -c "print('{\"format_version\":1,\"x\":' + '[' * 100000 + ']' * 100000 + '}')" > "repo/${P[1]}/manifest.json"
refused "verify: deep JSON nesting is a clear error" "not a valid JSON" $V backup verify repo "${P[1]}"
fresh; printf '{"format_version":1,"files":[],"disks":[{"kind":"full","name":"\xff\xfe.vmdk","device":"scsi0:0","file":"disks/\xff/x.vmdk"}]}' > "repo/${P[1]}/manifest.json"
refused "restore: non-UTF-8 names of missing files are a clear error" "" $V restore repo "${P[1]}" d6
check "  and DEST is not made" test ! -e d6
fresh; edit "${P[1]}" 'm["disks"][0]["disk_file"]["chunk_size"] = 1 << 62; m["disks"][0]["disk_file"]["size"] = 1 << 62'
$V backup verify repo "${P[1]}" >/dev/null 2>err.txt; rc=$?
check "verify: a huge chunk size and size are no crash (rc $rc)" bash -c "[ $rc -lt 128 ] && ! grep -q AddressSanitizer err.txt"
# a chunk size far too small for its (grown) file: more pieces than any
# writer makes; refused before anything is hashed or allocated for them
fresh; f=$(ls repo/disks/*/"${P[1]}".vmdk); truncate -s 5G "$f"
edit "${P[1]}" 'm["disks"][0]["disk_file"]["chunk_size"] = 1 << 20'
refused "verify: a chunk size too small for the file is refused" "too small" timeout 60 $V backup verify repo "${P[1]}"
fresh; edit "${P[1]}" 'm["files"][0]["name"] = m["files"][0]["name"] + "\u0000/../../../out/keep.txt"'
refused "restore: a name with a NUL inside is refused, not cut short" "is incomplete" $V restore repo "${P[1]}" d8
check "  and DEST is not made" test ! -e d8

# a point whose disk cannot be read (damaged header): prune's clean-up must
# not take its files for unused (it removed the newest point's disk before)
mkdir vm4; $V create --size 4M vm4/a.vmdk
cp vm/h.vmx vm4/h.vmx
for i in 1 2 3 4; do
  pattern s$i 70000 $((i+3)); $V write --offset $((i*262144)) --file s$i vm4/a.vmdk
  $V backup vm4 r4 >/dev/null 2>&1 || not_ok "backup $i of vm4"
  sleep 1.1
done
last=$(ls r4/disks/scsi0-0 | sort | tail -1)
printf 'XXXX' | dd of="r4/disks/scsi0-0/$last" conv=notrunc 2>/dev/null
$V backup prune --keep 3 r4 >/dev/null 2>&1
check "prune keeps the files of a point whose disk it cannot read" test -e "r4/disks/scsi0-0/$last"
check "the good repository still verifies" $V backup verify good
done_testing
