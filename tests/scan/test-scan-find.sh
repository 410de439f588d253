#!/bin/bash
# vdisk scan: signatures planted at sector-, grain- and extent-straddling
# offsets, deep in a 100 GiB sparse disk, in a child over a clean parent:
# each found at the sectors computed from where it was planted; clean
# disks are clean; holes are never read (bytes read = qemu-img's data
# bytes, and the process's rchar stays small); clamscan on the raw image
# (qemu-img convert) agrees on what is found and on the exact bytes.
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 clamscan
DB="$VDISK_TOP/tests/scan/db"
cd "$WORK"

EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
# the bytes of each test signature (wildcards filled in): eicar.bin, r20.bin,
# r32.bin, wild.bin
python3 - "$DB/vdisk-test.ndb" <<'PY'
import sys, re
files = {"Vdisk.Test.EICAR": "eicar.bin", "Vdisk.Test.Random20": "r20.bin",
         "Vdisk.Test.Random32": "r32.bin", "Vdisk.Test.Wildcard": "wild.bin"}
for line in open(sys.argv[1]):
    name, _, _, hexsig = line.strip().split(':')[:4]
    hexsig = re.sub(r'\{(\d+)-\d+\}', lambda m: 'cd' * (int(m.group(1)) + 1), hexsig)
    open(files[name], 'wb').write(bytes.fromhex(hexsig))
PY
check "EICAR signature bytes are the EICAR string" bash -c "[ \"\$(cat eicar.bin)\" = '$EICAR' ]"

# plant DISK OFFSET FILE; records "name offset length" in DISK.want
plant() { "$VDISK" write "$1" --offset "$2" --file "$3" >/dev/null && echo "$4 $2 $(stat -c %s "$3")" >> "$1.want"; }
# hits JSON -> "name offset length first last link file last_file" lines, sorted
hits() {
  python3 -c '
import json, sys, os
d = json.load(open(sys.argv[1]))
for disk in d["disks"]:
    for h in disk["hits"]:
        print(h["name"].replace(".UNOFFICIAL", ""), h["offset"], h["length"],
              h["first_sector"], h["last_sector"], h["link"],
              os.path.basename(h["file"] or "-"), os.path.basename(h["last_file"] or "-"))' "$1" | sort
}
# expected: from the .want list, sectors computed from offsets
want() {
  while read -r n o l; do echo "$n $o $l $((o / 512)) $(((o + l - 1) / 512))"; done < "$1" | sort
}
# field JSON KEY: a number of the first disk's record
field() { grep -o "\"$2\": [0-9]*" "$1" | head -1 | cut -d' ' -f2; }

# --- 1. a 64 MiB disk: sector, grain and tail straddles -------------------
"$VDISK" create --size 64M a.vmdk
pattern rnd.bin $((4 << 20)) 7
"$VDISK" write a.vmdk --offset 1M --file rnd.bin >/dev/null
plant a.vmdk $((1048576 + 7 * 512 - 30)) eicar.bin Vdisk.Test.EICAR        # inside data, across a sector
plant a.vmdk $((3 * 65536 - 20)) eicar.bin Vdisk.Test.EICAR                # across a grain
plant a.vmdk $((40 * 1048576 + 100)) r20.bin Vdisk.Test.Random20          # alone in a grain
plant a.vmdk $((3 * 1048576 + 65536 - 7)) wild.bin Vdisk.Test.Wildcard    # wildcard sig, across a grain
plant a.vmdk $((64 * 1048576 - 32)) r32.bin Vdisk.Test.Random32           # the last 32 bytes
"$VDISK" scan --db "$DB" --json a.vmdk > a.json; rc=$?
check "infected disk: exit 1" [ "$rc" = 1 ]
hits a.json | cut -d' ' -f1-5 > a.got
want a.vmdk.want > a.exp
check "every planted signature found once at its sectors" same_file a.got a.exp
hits a.json | awk '$6 != 0 || $7 != "a.vmdk" || $8 != "a.vmdk"' > a.bad
check "hits name the top link and its file" [ ! -s a.bad ] 
# text output
"$VDISK" scan --db "$DB" a.vmdk > a.txt 2>/dev/null
check "text output: sectors of the sector straddle" grep -q "Vdisk.Test.EICAR.UNOFFICIAL FOUND at byte $((1048576 + 7 * 512 - 30)), 68 bytes, sectors 2054-2055" a.txt
# windows and threads change nothing
for opt in "--threads 1 --window 64K" "--threads 2 --window 100K" "--threads 3 --window 1M"; do
  "$VDISK" scan --db "$DB" --json $opt a.vmdk > w.json
  hits w.json | cut -d' ' -f1-5 > w.got
  check "same hits with $opt" same_file w.got a.exp
done

# --- 2. holes are never read --------------------------------------------
qdata() { qemu-img map --output=json "$1" | python3 -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin) if e["data"]))'; }
# bytes read: every allocated byte, plus the overlap re-read where a
# window splits a run
read_ok() {
  local r d w o q
  r=$(field "$1" bytes_read); d=$(field "$1" data_bytes); w=$(field "$1" windows); o=$(field "$1" overlap); q=$(qdata "$2")
  echo "# $2: read $r, allocated $d (qemu-img: $q), $w windows, overlap $o"
  [ "$d" = "$q" ] && [ "$r" -ge "$d" ] && [ "$r" -le $((d + w * o)) ]
}
check "bytes read = allocated bytes by qemu-img map" read_ok a.json a.vmdk
"$VDISK" scan --db "$DB" --json --window 64K a.vmdk > a64.json
check "bytes read, 64 KiB windows: allocated + overlaps only" read_ok a64.json a.vmdk

# --- 3. clean disks ---------------------------------------------------------
"$VDISK" create --size 32M clean.vmdk
"$VDISK" write clean.vmdk --offset 5M --file rnd.bin >/dev/null
"$VDISK" scan --db "$DB" clean.vmdk > clean.txt 2>&1; rc=$?
check "clean disk: exit 0" [ "$rc" = 0 ]
check "clean disk: OK" grep -q "clean.vmdk: OK" clean.txt
"$VDISK" create --size 1G empty.vmdk
"$VDISK" scan --db "$DB" --json empty.vmdk > empty.json; rc=$?
check "empty disk: exit 0, nothing read" [ "$rc:$(field empty.json bytes_read)" = "0:0" ]
"$VDISK" scan --db "$DB" nosuch.vmdk >/dev/null 2>&1; rc=$?
check "missing disk: exit 2" [ "$rc" = 2 ]
"$VDISK" scan --db "$WORK/nodb" a.vmdk >/dev/null 2>&1; rc=$?
check "missing database: exit 2" [ "$rc" = 2 ]

# --- 4. deep in a 100 GiB sparse disk --------------------------------------
"$VDISK" create --size 100G big.vmdk
plant big.vmdk $((100 * 1073741824 - 1048576 - 10)) eicar.bin Vdisk.Test.EICAR
plant big.vmdk $((37 * 1073741824 + 12345)) r20.bin Vdisk.Test.Random20
"$VDISK" write big.vmdk --offset 77G --file rnd.bin >/dev/null
io_before=$(awk '/^rchar/ {print $2}' /proc/$$/io)
"$VDISK" scan --db "$DB" --json big.vmdk > big.json; rc=$?
io_after=$(awk '/^rchar/ {print $2}' /proc/$$/io)
check "100 GiB disk: exit 1" [ "$rc" = 1 ]
hits big.json | cut -d' ' -f1-5 > big.got
want big.vmdk.want > big.exp
check "100 GiB disk: both found at their sectors" same_file big.got big.exp
check "100 GiB disk: bytes read = qemu-img's data bytes" read_ok big.json big.vmdk
echo "# rchar of the scan: $((io_after - io_before)) bytes"
check "100 GiB disk: the process read under 32 MiB in all" [ $((io_after - io_before)) -lt $((32 << 20)) ]

# --- 5. a child over a clean parent, and a parent hit under a child --------
"$VDISK" create --size 16M p.vmdk
"$VDISK" write p.vmdk --offset 0 --file rnd.bin >/dev/null
"$VDISK" write p.vmdk --offset 9M --file r20.bin >/dev/null
"$VDISK" child p.vmdk c.vmdk >/dev/null
"$VDISK" write c.vmdk --offset $((2 * 1048576 - 3)) --file eicar.bin >/dev/null
"$VDISK" scan --db "$DB" --json c.vmdk > c.json; rc=$?
check "child: exit 1" [ "$rc" = 1 ]
hits c.json > c.got
printf '%s\n' "Vdisk.Test.EICAR $((2 * 1048576 - 3)) 68 4095 4096 0 c.vmdk c.vmdk" \
  "Vdisk.Test.Random20 $((9 * 1048576)) 20 18432 18432 1 p.vmdk p.vmdk" | sort > c.exp
check "child: the child's hit in link 0, the parent's in link 1" same_file c.got c.exp
"$VDISK" create --size 16M p2.vmdk
"$VDISK" write p2.vmdk --offset 0 --file rnd.bin >/dev/null
"$VDISK" child p2.vmdk c2.vmdk >/dev/null
"$VDISK" write c2.vmdk --offset 100K --file eicar.bin >/dev/null
"$VDISK" scan --db "$DB" p2.vmdk >/dev/null 2>&1; rc=$?
check "clean parent alone: exit 0" [ "$rc" = 0 ]
# a straddle of the child's data and the parent's: half planted in each
python3 -c 'import sys; sys.stdout.buffer.write(open("eicar.bin","rb").read()[:40])' > e1.bin
python3 -c 'import sys; sys.stdout.buffer.write(open("eicar.bin","rb").read()[40:])' > e2.bin
"$VDISK" create --size 16M p3.vmdk
"$VDISK" write p3.vmdk --offset $((4 * 65536)) --file e2.bin >/dev/null
"$VDISK" child p3.vmdk c3.vmdk >/dev/null
"$VDISK" write c3.vmdk --offset $((4 * 65536 - 40)) --file e1.bin >/dev/null
"$VDISK" scan --db "$DB" --json c3.vmdk > c3.json
check "a match split between child and parent: found, links 0 and 1" \
  [ "$(hits c3.json)" = "Vdisk.Test.EICAR $((4 * 65536 - 40)) 68 511 512 0 c3.vmdk p3.vmdk" ]

# --- 6. split extents ------------------------------------------------------
"$VDISK" create --type twoGbMaxExtentSparse --size 5G s.vmdk
B=$("$VDISK" info --json s.vmdk | python3 -c 'import json,sys; e=json.load(sys.stdin)["extents"]; print(e[1]["start"])')
echo "# second extent starts at byte $B"
: > s.vmdk.want
plant s.vmdk $((B - 30)) eicar.bin Vdisk.Test.EICAR
"$VDISK" scan --db "$DB" --json s.vmdk > s.json
check "extent straddle: found, first byte in s001, last in s002" \
  [ "$(hits s.json)" = "Vdisk.Test.EICAR $((B - 30)) 68 $(((B - 30) / 512)) $(((B + 37) / 512)) 0 s-s001.vmdk s-s002.vmdk" ]

# --- 7. clamscan on the raw image agrees -----------------------------------
qemu-img convert -O raw a.vmdk a.raw
clamscan --no-summary --allmatch -d "$DB/vdisk-test.ndb" --max-filesize=200M --max-scansize=200M a.raw > cs.txt 2>&1
sed -n 's/^.*: \(.*\)\.UNOFFICIAL FOUND$/\1/p' cs.txt | sort -u > cs.names
cut -d' ' -f1 a.exp | sort -u > our.names
check "clamscan finds the same signatures in the raw image" same_file cs.names our.names
# exact bytes: each reported range alone is detected; one byte less is not
mkdir cuts
python3 - a.raw a.got <<'PY'
import sys
raw = open(sys.argv[1], 'rb').read()
for i, line in enumerate(open(sys.argv[2])):
    n, o, l = line.split()[:3]; o = int(o); l = int(l)
    open(f'cuts/{i}-whole', 'wb').write(raw[o:o + l])
    open(f'cuts/{i}-nofirst', 'wb').write(raw[o + 1:o + l])
    open(f'cuts/{i}-nolast', 'wb').write(raw[o:o + l - 1])
PY
clamscan --no-summary --allmatch -d "$DB/vdisk-test.ndb" cuts/ > cuts.txt 2>&1
n=$(wc -l < a.got)
check "clamscan: every reported range holds its signature" [ "$(grep -c -- '-whole: .* FOUND' cuts.txt)" = "$n" ]
check "clamscan: no reported range is one byte too long" [ "$(grep -c -- '-no\(first\|last\): .* FOUND' cuts.txt)" = 0 ]
done_testing
