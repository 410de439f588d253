#!/bin/bash
# The sample program on the compatibility library, end to end:
# create -> info -> fill -> dump -> wmeta/rmeta/meta -> clone ->
# getallocatedblocks -> check, plus -edit, the benchmarks, -multithread
# and the error paths.  Contents are checked against qemu-img (convert to
# raw, map, check) and against expectations computed from the writes.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3
SAMPLE="$VDISK_TOP/$VDISK_BUILD/bin/vix-disklib-sample"
[ -x "$SAMPLE" ] || { echo "# $SAMPLE not built"; exit 1; }
cd "$WORK"

# --- create, info ---
check "-create 8 MB lsilogic" "$SAMPLE" -create -cap 8 -adapter lsilogic d.vmdk
check "qemu-img sees 8 MiB" bash -c "qemu-img info --output=json d.vmdk | grep -q '\"virtual-size\": 8388608'"
check "qemu-img check: clean" qemu-img check -q d.vmdk
"$SAMPLE" -info d.vmdk > info.txt 2>&1
check "-info: capacity in sectors" grep -qx 'capacity          = 16384 sectors' info.txt
check "-info: adapter" grep -qx 'adapter type      = LsiLogic SCSI' info.txt
check "-info: one link" grep -qx 'number of links   = 1' info.txt
check "-info: transport modes" grep -q 'Transport modes supported by vixDiskLib: file' info.txt

# --- fill, dump ---
check "-fill 3 sectors with 0x41" "$SAMPLE" -fill -start 100 -count 3 -val 0x41 d.vmdk
check "-fill 1 sector with 7" "$SAMPLE" -fill -start 5000 -count 1 -val 7 d.vmdk
qemu-img convert -O raw d.vmdk d.raw
check "qemu-img reads exactly the filled sectors" python3 - d.raw <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
want = bytearray(8 << 20)
want[100*512:103*512] = b'A' * (3*512)
want[5000*512:5001*512] = b'\x07' * 512
sys.exit(0 if d == bytes(want) else 1)
PY
"$SAMPLE" -dump -start 101 -count 2 d.vmdk > dump.txt
python3 - d.raw 101 2 > dump.want <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
s, n = int(sys.argv[2]), int(sys.argv[3])
for off in range(s*512, (s+n)*512, 16):
    b = d[off:off+16]
    print("%08x : %s  %s" % (off, " ".join("%02x" % x for x in b),
          "".join(chr(x) if 0x20 <= x < 0x7f else "." for x in b)))
PY
check "-dump matches the bytes qemu-img reads" cmp -s dump.txt dump.want

# --- metadata ---
check "-wmeta" "$SAMPLE" -wmeta vdiskNote "hello sample" d.vmdk
check "-rmeta" bash -c "'$SAMPLE' -rmeta vdiskNote d.vmdk | grep -qx 'vdiskNote = hello sample'"
"$SAMPLE" -meta d.vmdk > meta.txt
check "-meta lists the new key" grep -qx 'vdiskNote = hello sample' meta.txt
check "-meta lists adapterType" grep -qx 'adapterType = lsilogic' meta.txt
check "the key is in the descriptor as ddb.vdiskNote" \
  bash -c "strings d.vmdk | grep -qx 'ddb.vdiskNote = \"hello sample\"'"
check "qemu-img check after the metadata write" qemu-img check -q d.vmdk

# --- clone ---
"$SAMPLE" -clone d.vmdk c.vmdk > clone.txt 2>&1
check "-clone succeeds" test $? = 0
check "-clone prints progress to 100%" grep -q 'Cloning : 100% Done' clone.txt
qemu-img convert -O raw c.vmdk c.raw
check "qemu-img reads the clone identically" cmp -s d.raw c.raw
check "qemu-img compare source and clone" qemu-img compare -q d.vmdk c.vmdk
check "qemu-img check clone" qemu-img check -q c.vmdk

# --- allocated blocks: against qemu-img map, in 128-sector chunks ---
"$SAMPLE" -getallocatedblocks c.vmdk > blocks.txt
check "-getallocatedblocks: the two written chunks" \
  bash -c "grep -c '^Offset' blocks.txt | grep -qx 2 && grep -qx 'Offset 0x0 Length 0x80' blocks.txt && grep -qx 'Offset 0x1380 Length 0x80' blocks.txt"
qemu-img map --output=json c.vmdk > map.json
check "-getallocatedblocks agrees with qemu-img map" python3 - map.json blocks.txt <<'PY'
import json, re, sys
chunk = 128 * 512
want = set()
for e in json.load(open(sys.argv[1])):
    if e.get("data"):
        for c in range(e["start"] // chunk, (e["start"] + e["length"] + chunk - 1) // chunk):
            want.add(c)
got = set()
for line in open(sys.argv[2]):
    m = re.match(r"Offset 0x([0-9a-f]+) Length 0x([0-9a-f]+)$", line.strip())
    if m:
        o, l = int(m.group(1), 16), int(m.group(2), 16)
        got.update(range(o // 128, (o + l) // 128))
print("# qemu chunks", sorted(want), "sample chunks", sorted(got))
sys.exit(0 if want == got else 1)
PY
check "-getallocatedblocks -chunksize 256" \
  bash -c "'$SAMPLE' -getallocatedblocks -chunksize 256 c.vmdk | grep -qx 'Offset 0x1300 Length 0x100'"

# --- check ---
check "-check 0" bash -c "'$SAMPLE' -check 0 c.vmdk | grep -q 'no problems found'"

# --- edit: every occurrence, across sector and read-window boundaries ---
python3 - e.raw <<'PY'
import random, sys
r = random.Random(7)
d = bytearray(4 << 20)
for off in (300, 511*512 - 3, 2048*512 - 2, 3*1024*1024 + 777):
    d[off:off+6] = b"NEEDLE"
for off in range(70000, 90000, 97):          # random data around
    d[off] = r.randrange(1, 256)
d[100000:100012] = b"NEEDLENEEDLE"           # two adjacent
open(sys.argv[1], "wb").write(d)
PY
qemu-img convert -f raw -O vmdk e.raw e.vmdk
"$SAMPLE" -edit NEEDLE PATCHD e.vmdk > edit.txt 2>&1
check "-edit succeeds" test $? = 0
want_n=$(python3 -c "import sys; print(open('e.raw','rb').read().count(b'NEEDLE'))")
check "-edit reports $want_n replacements" grep -qx "$want_n occurrences of \"NEEDLE\" replaced" edit.txt
qemu-img convert -O raw e.vmdk e2.raw
check "-edit result read by qemu-img equals the replaced raw image" python3 - e.raw e2.raw <<'PY'
import sys
a = open(sys.argv[1], 'rb').read().replace(b"NEEDLE", b"PATCHD")
sys.exit(0 if a == open(sys.argv[2], 'rb').read() else 1)
PY
check "-edit: a second run finds nothing" \
  bash -c "'$SAMPLE' -edit NEEDLE PATCHD e.vmdk | grep -qx '0 occurrences of \"NEEDLE\" replaced'"
check "-edit refuses a REPLACE of another length" \
  bash -c "! '$SAMPLE' -edit NEEDLE X e.vmdk 2>/dev/null"

# --- benchmarks ---
check "-readbench 128" bash -c "'$SAMPLE' -readbench 128 d.vmdk | grep -q '^Read 8.00 MBytes in'"
check "-readasyncbench 64" bash -c "'$SAMPLE' -readasyncbench 64 d.vmdk | grep -q '^Read 8.00 MBytes in'"
"$SAMPLE" -create -cap 4 w.vmdk >/dev/null
check "-writebench 256" bash -c "'$SAMPLE' -writebench 256 w.vmdk | grep -q '^Wrote 4.00 MBytes in'"
check "-writeasyncbench 32" bash -c "'$SAMPLE' -writeasyncbench 32 w.vmdk | grep -q '^Wrote 4.00 MBytes in'"
check "qemu-img check after the write benchmarks" qemu-img check -q w.vmdk
check "every sector was written (no zero sector left)" python3 - w.vmdk <<'PY'
import subprocess, sys
subprocess.run(["qemu-img", "convert", "-O", "raw", sys.argv[1], "w.raw"], check=True)
d = open("w.raw", "rb").read()
sys.exit(0 if all(d[i:i+512] != bytes(512) for i in range(0, len(d), 512)) else 1)
PY

# --- multithread ---
"$SAMPLE" -multithread 3 d.vmdk > mt.txt 2>&1
check "-multithread 3" test $? = 0
check "-multithread: 3 threads copied all sectors" bash -c "grep -c 'copied 16384 sectors' mt.txt | grep -qx 3"
check "-multithread removed its copies" \
  bash -c "for f in \$(sed -n 's/.* to //p' mt.txt); do [ ! -e \"\$f\" ] || exit 1; done"

# --- split create ---
check "-create -split" "$SAMPLE" -create -split -cap 8 s.vmdk
check "qemu-img sees twoGbMaxExtentSparse" \
  bash -c "qemu-img info s.vmdk | grep -q 'create type: twoGbMaxExtentSparse'"

# --- trusted paths: an absolute extent name needs the opt-in ---
head -c 1048576 d.raw > flat.bin
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "%s" 0\n\nddb.adapterType = "ide"\nddb.geometry.cylinders = "2"\nddb.geometry.heads = "16"\nddb.geometry.sectors = "63"\n' "$WORK/flat.bin" > abs.vmdk
"$SAMPLE" -info abs.vmdk > abs.txt 2>&1
check "an absolute extent name is refused by default" test $? = 1
check "the refusal says how to opt in" grep -q 'vdisk.trustedPaths' abs.txt
echo 'vdisk.trustedPaths = "TRUE"' > trusted.cfg
check "InitEx config vdisk.trustedPaths opens it" \
  bash -c "'$SAMPLE' -initex trusted.cfg -info abs.vmdk 2>/dev/null | grep -qx 'capacity          = 2048 sectors'"
VDISK_VIX_TRUSTED=1 "$SAMPLE" -dump -start 100 -count 1 abs.vmdk > absdump.txt
python3 - d.raw 100 1 > absdump.want <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
s, n = int(sys.argv[2]), int(sys.argv[3])
for off in range(s*512, (s+n)*512, 16):
    b = d[off:off+16]
    print("%08x : %s  %s" % (off, " ".join("%02x" % x for x in b),
          "".join(chr(x) if 0x20 <= x < 0x7f else "." for x in b)))
PY
check "VDISK_VIX_TRUSTED=1 reads the flat extent" cmp -s absdump.txt absdump.want

# --- errors ---
"$SAMPLE" -info missing.vmdk > err.txt 2>&1
check "-info on a missing disk fails" test $? = 1
check "the error names the file and the cause" \
  grep -qE '^Error: \[.*\] 4 .*missing.vmdk.*No such file' err.txt
cp d.vmdk p.vmdk
check "-redo makes a child" "$SAMPLE" -redo p.vmdk child.vmdk
check "-info on the child: 2 links" \
  bash -c "'$SAMPLE' -info child.vmdk | grep -qx 'number of links   = 2'"
check "qemu-img sees the child's backing file" \
  bash -c "qemu-img info child.vmdk | grep -q 'backing file: p.vmdk'"
check "qemu-img compare child and parent" qemu-img compare -q child.vmdk p.vmdk
check "-fill on the child" "$SAMPLE" -fill -start 7 -count 1 -val 0x5a child.vmdk
qemu-img convert -O raw child.vmdk child.raw
check "qemu-img reads the child's write over the parent's data" python3 - d.raw child.raw <<'PY'
import sys
a = bytearray(open(sys.argv[1], 'rb').read())
a[7*512:8*512] = b'\x5a' * 512
sys.exit(0 if bytes(a) == open(sys.argv[2], 'rb').read() else 1)
PY
"$SAMPLE" -info -host 127.0.0.1:1 -user u -password p d.vmdk > remote.txt 2>&1
check "remote mode (vSphere: port 443 default) with nothing listening: VIX_E_HOST_NETWORK_CONN_REFUSED (0x36b9)" \
  grep -q '36b9 VixDiskLib_Connect: .*127.0.0.1:1.*connect' remote.txt
check "two commands are refused" bash -c "! '$SAMPLE' -info -dump d.vmdk >/dev/null 2>&1"

# --- options after the disk path are parsed, never silently dropped ---
cp d.vmdk after.vmdk; cp after.vmdk after.orig
"$SAMPLE" -fill -start 0 -count 1 -val 0x41 after.vmdk -host 127.0.0.1 > after.txt 2>&1; rc=$?
check "-fill DISK -host H (no -user): refused, exit 1" test "$rc" = 1
check "... and the local file is not written" cmp -s after.vmdk after.orig
"$SAMPLE" -fill -start 0 -count 1 -val 0x41 after.vmdk -host 127.0.0.1 -port 1 -user u -password p > after2.txt 2>&1; rc=$?
check "-fill DISK -host H -user -password: goes to the host (fails), exit 1" test "$rc" = 1
check "... and the local file is not written either" cmp -s after.vmdk after.orig
"$SAMPLE" -fill after.vmdk -start 9 -count 2 -val 0x33 > /dev/null 2>&1
qemu-img convert -O raw after.vmdk after.raw
check "-start/-count/-val after the disk path are honoured (qemu-img reads them)" python3 - d.raw after.raw <<'PY'
import sys
a = bytearray(open(sys.argv[1], 'rb').read())
a[9*512:11*512] = b'\x33' * 1024
sys.exit(0 if bytes(a) == open(sys.argv[2], 'rb').read() else 1)
PY
"$SAMPLE" -info d.vmdk extra.vmdk > extra.txt 2>&1; rc=$?
check "a second disk argument is refused by name" \
  bash -c "[ $rc = 1 ] && grep -q 'unexpected argument \"extra.vmdk\"' extra.txt"

# --- VMware's stock option names ---
check "-lssize 512 -pssize 512 -create" "$SAMPLE" -create -cap 1 -lssize 512 -pssize 512 ls.vmdk
check "qemu-img reads the -lssize disk" qemu-img check -q ls.vmdk
"$SAMPLE" -create -cap 1 -lssize 4096 ls4k.vmdk > ls4k.txt 2>&1; rc=$?
check "-lssize 4096 is refused (VMDK sectors are 512 bytes), no file made" \
  bash -c "[ $rc = 1 ] && [ ! -e ls4k.vmdk ] && grep -q 'lssize' ls4k.txt"
check "-unbuffered -fill" "$SAMPLE" -fill -unbuffered -start 3 -count 1 -val 0x44 ls.vmdk
qemu-img convert -O raw ls.vmdk ls.raw
check "-unbuffered write lands (qemu-img)" python3 -c "import sys; d=open('ls.raw','rb').read(); sys.exit(0 if d[3*512:4*512]==b'D'*512 else 1)"
mkdir -p folder
check "-diskFolder DIR -create" "$SAMPLE" -create -cap 1 -diskFolder folder inner.vmdk
check "... the disk is made in DIR" qemu-img check -q folder/inner.vmdk
check "-diskFolder DIR -clone SRC: both names in DIR" "$SAMPLE" -clone inner.vmdk -diskFolder folder inner2.vmdk
check "... qemu-img compare" qemu-img compare -q folder/inner.vmdk folder/inner2.vmdk
"$SAMPLE" -cleanup > cleanup.txt 2>&1; rc=$?
check "-cleanup on a local connection: exit 0, counts printed" \
  bash -c "[ $rc = 0 ] && grep -qx 'Cleaned up 0, 0 remaining' cleanup.txt"
"$SAMPLE" -info -fcdid 1234 -ds datastore-1 -fcdssid 5 -host vc.example.com -user u -password p d.vmdk > fcd.txt 2>&1
check "-ds and -fcdssid are known options (the host answers, not the parser)" \
  bash -c "! grep -q 'unknown option' fcd.txt && grep -q 'vc.example.com' fcd.txt"
done_testing
