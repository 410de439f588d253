#!/bin/bash
# vdisk serve: what may be an export (issue 11, "The NBD server").  An
# export is a disk's descriptor that no disk in the datastore uses as an
# extent, parent or tracking file; its extents and parents are extent
# files inside the datastore.  Tried as a hostile client: a created disk
# whose flat file is given descriptor text naming every other kind of file
# in the folder, then opened through every export form; direct opens of
# every file kind; planted descriptors; parents stay read-only.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy python3 timeout
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
cd "$WORK"
mkdir -p ds/vm
K=1024

# ---- the folder: every kind of file ----
pattern p1.bin 65536 1
"$VDISK" create -t monolithicSparse -s 1M ds/vm/a.vmdk >/dev/null
"$VDISK" write -o 0 -f p1.bin ds/vm/a.vmdk
"$VDISK" create -t monolithicFlat -s 1M ds/vm/f.vmdk >/dev/null
"$VDISK" write -o 0 -f p1.bin ds/vm/f.vmdk
"$VDISK" create -t twoGbMaxExtentSparse -s 1M ds/vm/s.vmdk >/dev/null
"$VDISK" create -s 1M ds/vm/base.vmdk >/dev/null
"$VDISK" write -o 0 -f p1.bin ds/vm/base.vmdk
"$VDISK" child ds/vm/base.vmdk ds/vm/snap.vmdk >/dev/null
printf 'displayName = "vm"\nscsi0:0.fileName = "snap.vmdk"\n' > ds/vm/vm.vmx
head -c 8192 /dev/urandom > ds/vm/vm.nvram
# a change-tracking file named by f.vmdk's descriptor
head -c 4096 /dev/urandom > ds/vm/f-ctk.vmdk
sed -i 's/^createType=.*/&\nchangeTrackPath="f-ctk.vmdk"/' ds/vm/f.vmdk
ln -s a.vmdk ds/vm/lnk.vmdk
ln -s vm.vmx ds/vm/lnkx.vmdk
ln ds/vm/s-s001.vmdk ds/vm/hl.vmdk      # a second name of s's extent
ln ds/vm/vm.vmx ds/vm/hlx.vmdk          # a .vmdk name of the .vmx inode
"$VDISK" info ds/vm/snap.vmdk >/dev/null || echo "# snap.vmdk does not open"
for f in ds/vm/*; do sha256sum "$f" 2>/dev/null; done | grep -v 'mine\|tiny' > before.sum

echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
rm -f "$S" pid
start_server pidfile pid "$VDISK" serve --tls-psk users.psk --unix "$S" --pidfile pid ds 2>serve.log
check "vdisk serve --tls-psk starts" test -s pid
Q="socket=$S&tls-psk-file=$WORK/users.psk"
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?"+sys.argv[2])' "$1" "$Q"; }
opens() { timeout 20 nbdinfo "$(uri "$1")" >/dev/null 2>&1; }
refused() { ! opens "$1"; }
# writable EXPORT: the server offers it for writing
writable() { timeout 20 nbdinfo --json "$(uri "$1")" 2>/dev/null | grep -q '"is_read_only": false'; }

# ---- the reproduction: a created disk's flat file as an export ----
fake() {  # fake TARGET TYPE: descriptor text naming TARGET, NUL-padded
  python3 - "$1" "$2" <<'PY'
import sys
t = ('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
     'createType="monolithicFlat"\n\n# Extent description\nRW 16 %s "%s"%s\n\n'
     'ddb.adapterType = "lsilogic"\n') % (sys.argv[2], sys.argv[1],
                                         " 0" if sys.argv[2] == "FLAT" else "")
sys.stdout.buffer.write(t.encode().ljust(4096, b'\0'))
PY
}
fake a.vmdk FLAT > fake.bin
# the issue's reproduction: a 512 KiB thin disk's flat file could pass for
# a descriptor file (at most 1 MiB): such small flat disks are not made
check "creating a flat disk of at most 1 MiB is refused" \
  bash -c "! timeout 30 nbdcopy fake.bin '$(uri create:thin:524288:vm/small.vmdk)' 2>/dev/null"
check "the server log says why" grep -q "larger than 1 MiB" serve.log
check "nothing was created" test ! -e ds/vm/small.vmdk -a ! -e ds/vm/small-flat.vmdk
check "a client creates a thin disk and writes descriptor text into it" \
  timeout 30 nbdcopy fake.bin "$(uri create:thin:2097152:vm/mine.vmdk)"
check "the created disk exists with its flat file" test -f ds/vm/mine-flat.vmdk
for form in "vm/mine-flat.vmdk" "[ds] vm/mine-flat.vmdk" "[ds]   vm/mine-flat.vmdk"; do
  check "the flat file of a created disk is refused as an export ('$form')" refused "$form"
done
check "the server log says the flat file is an extent" grep -q "mine-flat.vmdk.*extent" serve.log
check "creating over the flat file's name is refused" refused "create:thin:2097152:vm/mine-flat.vmdk"

# every kind of file in the folder as the fake descriptor's extent
targets="a.vmdk f.vmdk f-flat.vmdk s.vmdk s-s001.vmdk base.vmdk snap.vmdk vm.vmx vm.nvram f-ctk.vmdk lnk.vmdk lnkx.vmdk hl.vmdk hlx.vmdk mine.vmdk"
for t in $targets; do
  for ty in FLAT SPARSE; do
    fake "$t" $ty > fake.bin
    timeout 30 nbdcopy fake.bin "$(uri vm/mine.vmdk)" 2>/dev/null || echo "# could not rewrite mine.vmdk"
    for form in "vm/mine-flat.vmdk" "[ds] vm/mine-flat.vmdk"; do
      check "fake $ty extent '$t' through '$form' is refused" refused "$form"
    done
  done
  # the fake also as a parent: a descriptor naming TARGET as its parent
done
check "the created disk still reads back what the client wrote" \
  bash -c "timeout 20 nbdcopy '$(uri vm/mine.vmdk)' - | head -c 4096 | cmp -s - fake.bin"
for f in ds/vm/*; do sha256sum "$f" 2>/dev/null; done | grep -v 'mine\|tiny' > after.sum
check "no other file in the folder changed" cmp -s before.sum after.sum
check "the snapshot still opens" "$VDISK" info ds/vm/snap.vmdk

# ---- every file kind opened directly, in every export form ----
for form in "vm/%s" "[ds] vm/%s"; do
  for t in f-flat.vmdk s-s001.vmdk f-ctk.vmdk lnk.vmdk lnkx.vmdk hl.vmdk hlx.vmdk vm.vmx vm.nvram mine-flat.vmdk; do
    e=$(printf "$form" "$t")
    check "'$e' is refused" refused "$e"
  done
  for t in a.vmdk f.vmdk snap.vmdk mine.vmdk; do
    e=$(printf "$form" "$t")
    check "'$e' opens writable" writable "$e"
  done
  e=$(printf "$form" s.vmdk)
  check "'$e' (its extent has a second name) is refused" refused "$e"
  e=$(printf "$form" base.vmdk)
  check "'$e' (a parent) opens" opens "$e"
  check "'$e' (a parent) is read-only" bash -c "! writable '$e'"
done
for t in f-flat.vmdk a.vmdk vm.vmx hl.vmdk lnk.vmdk; do
  check "create: over '$t' is refused" refused "create:thin:2097152:vm/$t"
done
check "a write to the parent is refused" \
  bash -c "! timeout 20 nbdcopy p1.bin '$(uri vm/base.vmdk)' 2>/dev/null"

# an existing small flat disk filled with descriptor text to its very end
"$VDISK" create -t monolithicFlat -s 8K ds/vm/tiny.vmdk >/dev/null
python3 - > text.bin <<'PY'
import sys
t = ('# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
     'createType="monolithicFlat"\n\n# Extent description\nRW 16 FLAT "vm.nvram" 0\n\n')
sys.stdout.write(t + "#" * (8191 - len(t)) + "\n")
PY
check "a client fills a small flat disk with descriptor text" \
  timeout 30 nbdcopy text.bin "$(uri vm/tiny.vmdk)"
for form in "vm/tiny-flat.vmdk" "[ds] vm/tiny-flat.vmdk"; do
  check "its flat file is refused ('$form')" refused "$form"
done
check "the disk itself still opens" opens vm/tiny.vmdk
# a whole sparse image written into a flat extent
"$VDISK" create -t monolithicSparse -s 1M sp.vmdk >/dev/null
python3 - <<'PY'
d = open("sp.vmdk", "rb").read()
i = d.index(b'RW 2048 SPARSE "sp.vmdk"')
j = d.index(b"\n", i) + 1
x = b'RW 2048 FLAT "a.vmdk" 0\n'
d = d[:j] + x + d[j:j + 4096 - len(x)] + d[j + 4096:]
open("sp2.bin", "wb").write(d[:65536])
PY
check "a client writes a sparse image naming a.vmdk into its flat disk" \
  timeout 30 nbdcopy sp2.bin "$(uri vm/mine.vmdk)"
for form in "vm/mine-flat.vmdk" "[ds] vm/mine-flat.vmdk"; do
  check "the flat file holding a sparse image is refused ('$form')" refused "$form"
done
check "a.vmdk still opens writable" writable vm/a.vmdk
check "the disk whose extent now reads as a sparse disk is not served" refused vm/mine.vmdk
check "the server log says its extent is a disk's descriptor" grep -q "mine-flat.vmdk is a disk's descriptor" serve.log
head -c 65536 /dev/zero > z.bin
# the local admin clears it (forced: by its content, the flat file is a
# sparse disk of its own, which vdisk never writes unasked)
"$VDISK" write --force -o 0 -f z.bin ds/vm/mine.vmdk
check "served again once the sparse image is gone" writable vm/mine.vmdk

timeout 20 nbdinfo --list "nbds+unix://alice@/?$Q" > list.txt 2>&1
for t in a.vmdk f.vmdk base.vmdk snap.vmdk mine.vmdk tiny.vmdk; do
  check "nbdinfo --list lists $t" grep -qF "export=\"vm/$t\"" list.txt
done
for t in mine-flat f-flat f-ctk s-s001 lnk hl vm.vmx tiny-flat; do
  check "nbdinfo --list does not list $t" bash -c "! grep -qF 'vm/$t' list.txt"
done

rm ds/vm/hl.vmdk
check "s.vmdk opens once its extent has one name again" writable vm/s.vmdk
ln ds/vm/a.vmdk ds/vm/hla.vmdk
for e in vm/a.vmdk vm/hla.vmdk "[ds] vm/hla.vmdk"; do
  check "'$e' is refused while a.vmdk has two names" refused "$e"
done
rm ds/vm/hla.vmdk
check "a.vmdk opens once it has one name again" writable vm/a.vmdk

# ---- a disk that gains a child while a client writes to it ----
"$VDISK" create -t monolithicSparse -s 8M ds/vm/live.vmdk >/dev/null
"$VDISK" cat ds/vm/live.vmdk | sha256sum > live.before
pattern big.bin $((4*K*K)) 7
# a writer that connects now and sends its data 3 s later
( { sleep 3; cat big.bin; } | timeout 30 nbdcopy - "$(uri vm/live.vmdk)" 2>/dev/null; echo $? > live.rc ) &
sleep 1.5
lcid=$(grep -a '^CID=' ds/vm/live.vmdk | head -1 | cut -d= -f2)
{ printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=%s\nparentFileNameHint="live.vmdk"\n' "$lcid"
  printf 'createType="monolithicFlat"\n\n# Extent description\nRW 16384 FLAT "livechild-flat.vmdk" 0\n' ; } > ds/vm/livechild.vmdk
head -c $((8*K*K)) /dev/zero > ds/vm/livechild-flat.vmdk
check "a second connection sees the disk read-only once it has a child" \
  bash -c "timeout 20 nbdinfo --json '$(uri vm/live.vmdk)' 2>/dev/null | grep -q '\"is_read_only\": true'"
wait $!
check "the first connection's writes are refused from then on" test "$(cat live.rc)" != 0
check "the disk did not change" bash -c "'$VDISK' cat ds/vm/live.vmdk | sha256sum | cmp -s - live.before"
rm -f ds/vm/livechild.vmdk ds/vm/livechild-flat.vmdk

# ---- depth: what is not scanned is not served ----
mkdir -p ds/1/2/3/4/5/6/7/8/9
"$VDISK" create -s 1M ds/1/2/3/4/5/6/7/8/d8.vmdk >/dev/null
"$VDISK" create -s 1M ds/1/2/3/4/5/6/7/8/9/d9.vmdk >/dev/null
check "a disk 8 folders deep is served" opens 1/2/3/4/5/6/7/8/d8.vmdk
check "a disk 9 folders deep is refused" refused 1/2/3/4/5/6/7/8/9/d9.vmdk
check "the server log says why" grep -q "folders nested deeper than 8" serve.log
rm -rf ds/1

# ---- descriptors planted in the folder (hostile local files) ----
plant() {  # plant NAME TYPE TARGET [PARENT]: a text descriptor
  { printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
    if [ -n "${4:-}" ]; then printf 'parentCID=%s\nparentFileNameHint="%s"\n' "$5" "$4"
    else printf 'parentCID=ffffffff\n'; fi
    printf 'createType="monolithicFlat"\n\n# Extent description\nRW 2048 %s "%s" 0\n\nddb.adapterType = "lsilogic"\n' "$2" "$3"
  } > "ds/vm/$1"
}
pattern pl.bin 8192 5
ln ds/vm/s-s001.vmdk ds/vm/hl.vmdk
for t in a.vmdk f.vmdk f-flat.vmdk base.vmdk snap.vmdk vm.vmx vm.nvram f-ctk.vmdk lnk.vmdk hl.vmdk hlx.vmdk; do
  n=p-${t//./_}.vmdk
  plant "$n" FLAT "$t"
  check "a planted descriptor with extent '$t' is refused" refused "vm/$n"
  rm -f "ds/vm/$n"
done
# a child whose parent is an extent or a non-disk file
pcid=$(grep -a '^CID=' ds/vm/base.vmdk | head -1 | cut -d= -f2)
head -c 1048576 /dev/zero > ds/vm/own-flat.vmdk
for t in f-flat.vmdk mine-flat.vmdk vm.vmx hl.vmdk; do
  plant c.vmdk FLAT own-flat.vmdk "$t" 12345678
  check "a child whose parent is '$t' is refused" refused vm/c.vmdk
done
rm -f ds/vm/c.vmdk
# a descriptor naming a file that does not exist yet: a client must not
# create a disk whose files take that name
plant ghostly.vmdk FLAT ghost-flat.vmdk
check "create: of a disk whose flat file a descriptor already names is refused" \
  refused "create:thin:2097152:vm/ghost.vmdk"
check "the server log says so" grep -q "names .*ghost-flat.vmdk, which this disk would create" serve.log
check "nothing was created" test ! -e ds/vm/ghost.vmdk -a ! -e ds/vm/ghost-flat.vmdk
rm -f ds/vm/ghostly.vmdk
# an extent shared by two descriptors (a copied descriptor)
cp ds/vm/f.vmdk ds/vm/copy.vmdk
check "a second descriptor over f-flat.vmdk is refused" refused vm/copy.vmdk
check "and f.vmdk too, while its extent is shared" refused vm/f.vmdk
rm -f ds/vm/copy.vmdk
check "f.vmdk opens again once the copy is gone" opens vm/f.vmdk
for f in ds/vm/*; do sha256sum "$f" 2>/dev/null; done | grep -v 'mine\|tiny\|own-flat\|live' > after2.sum
check "no file in the folder changed" cmp -s before.sum after2.sum
[ "$_tap_failed" = 0 ] || grep -v debug serve.log | tail -20 | sed 's/^/# /'
done_testing
