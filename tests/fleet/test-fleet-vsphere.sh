#!/bin/bash
# A vSphere host as a fleet source (issue 18), against govmomi's simulator
# on loopback (tests/vsphere/vcsim): `vdisk inventory vsphere://USER@HOST`
# lists every disk of every VM once (stable ID, the vsphere://.../[ds] path
# URI, host, capacity, allocated, chain depth, VM name), the same IDs on a
# second run; `vdisk scan --manifest` opens those URIs and finds the
# planted signature in exactly the disk that holds it; the merged report
# says so.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout
DB=$VDISK_TOP/tests/scan/db
[ -d "$DB" ] || { echo "# skip: no $DB"; exit 77; }
source "$VDISK_TOP/tests/vsphere/vcsim.sh"
cd "$WORK"
PW=fleet-Pw0rd
printf '%s\n' "$PW" > pw
export VCSIM_PASSWORD=$PW VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
start_vcsim -user root
check "the simulator runs on loopback" test -n "$VCSIM_HOST"
DS=$VCSIM_DIR
SRC="vsphere://root@$VCSIM_HOST?cafile=$VCSIM_CERT"

# the simulator's VMs name their disks [ds] VM/disk1.vmdk: make them real,
# one a chain of two links, one with the signature (from tests/scan)
vms=()
for d in "$DS"/*/; do [ -d "$d" ] && vms+=("$(basename "$d")"); done
check "the simulator has VM folders (${#vms[@]})" test "${#vms[@]}" -ge 2
n=0
for v in "${vms[@]}"; do
  rm -f "$DS/$v"/disk1*.vmdk "$DS/$v"/base*.vmdk
  pattern r.bin 65536 $n
  if [ "$n" = 1 ]; then         # a chain: base (64 KiB) <- disk1 (64 KiB)
    "$VDISK" create --size 16M "$DS/$v/base.vmdk" >/dev/null
    "$VDISK" write -o 1M -f r.bin "$DS/$v/base.vmdk" >/dev/null
    "$VDISK" child "$DS/$v/base.vmdk" "$DS/$v/disk1.vmdk" >/dev/null
    "$VDISK" write -o 3M -f r.bin "$DS/$v/disk1.vmdk" >/dev/null
  else
    "$VDISK" create --size 16M "$DS/$v/disk1.vmdk" >/dev/null
    "$VDISK" write -o 1M -f r.bin "$DS/$v/disk1.vmdk" >/dev/null
  fi
  n=$((n + 1))
done
python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))" \
  "$(sed -n 's/^Vdisk.Test.EICAR:0:\*://p' "$DB/vdisk-test.ndb")" > eicar.bin
"$VDISK" write -o 8M -f eicar.bin "$DS/${vms[0]}/disk1.vmdk" >/dev/null

timeout 120 "$VDISK" inventory "$SRC" > m.jsonl 2> inv.err
rc=$?; sed 's/^/# /' inv.err
check "vdisk inventory vsphere://USER@HOST succeeds (exit $rc)" test "$rc" = 0
cat > chk.py <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
host, ds, nvm = sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = [d["id"] for d in lines]
assert len(lines) >= nvm, "%d disks for %d VMs" % (len(lines), nvm)
assert len(set(ids)) == len(ids), "IDs repeat"
uris = [d["uri"] for d in lines]
assert len(set(uris)) == len(uris), "URIs repeat"
for d in lines:
    assert d["uri"].startswith("vsphere://root@%s/[%s] " % (host, ds)), d["uri"]
    assert d["host"] == host, d["host"]
    assert d["vm"], d
    assert d["capacity"] > 0 and d["depth"] >= 0, d
    assert len(d["id"]) == 32, d["id"]
print(len(lines))
PY
count=$(python3 chk.py m.jsonl "$VCSIM_HOST" "$VCSIM_DS" "${#vms[@]}" 2> chk.err)
sed 's/^/# /' chk.err
check "one line per VM disk: unique IDs and URIs, host, capacity, VM name ($count)" test -n "$count"
check "a single disk: 16 MiB, depth 1, 64 KiB + the signature's grain allocated" \
  python3 -c "
import json; d=[json.loads(l) for l in open('m.jsonl') if '] ${vms[0]}/disk1.vmdk' in l][0]
assert d['capacity'] == 16 << 20 and d['depth'] == 1 and d['allocated'] == 2 * 65536, d
assert d['vm'] and d['vmx'].endswith('.vmx') and d['device'], d"
check "a chain of two links: depth 2, both links' data allocated" \
  python3 -c "
import json; d=[json.loads(l) for l in open('m.jsonl') if '] ${vms[1]}/disk1.vmdk' in l][0]
assert d['capacity'] == 16 << 20 and d['depth'] == 2 and d['allocated'] == 2 * 65536, d"
timeout 120 "$VDISK" inventory "$SRC" > m2.jsonl 2>/dev/null
check "the IDs are stable (a second inventory is the same)" cmp -s m.jsonl m2.jsonl
vuri=$(python3 -c "import json; print([json.loads(l)['uri'] for l in open('m.jsonl') if '] ${vms[1]}/disk1.vmdk' in l][0])")
"$VDISK" cat "$DS/${vms[1]}/disk1.vmdk" > local.raw
check "a manifest URI opens as vdisk cat vsphere:// (same bytes)" \
  bash -c "timeout 60 '$VDISK' cat '$vuri' | cmp -s - local.raw"

printf 'wrong\n' > badpw
VDISK_VSPHERE_PASSWORD_FILE=$WORK/badpw timeout 60 "$VDISK" inventory "$SRC" > bad.jsonl 2> bad.err
rc=$?
check "a refused login fails the inventory (exit $rc), lists nothing" \
  bash -c "[ $rc != 0 ] && [ $rc != 124 ] && [ ! -s bad.jsonl ] && [ -s bad.err ]"
timeout 60 "$VDISK" inventory "vsphere://?cafile=x" > /dev/null 2> bad2.err
rc=$?
check "a vsphere:// source without a host is refused (exit $rc)" \
  bash -c "[ $rc != 0 ] && grep -q 'expected vsphere://USER@HOST' bad2.err"

# ---- scan the manifest ----
timeout 300 "$VDISK" scan --db "$DB" --manifest m.jsonl --out res > scan.txt 2> scan.err
rc=$?; sed 's/^/# /' scan.txt; tail -3 scan.err | sed 's/^/# /'
check "vdisk scan --manifest over the vSphere URIs ran (exit $rc)" test "$rc" = 0
check "the disk with the signature is infected" grep -q "infected .*] ${vms[0]}/disk1.vmdk" scan.txt
check "every other disk that opens is clean, none failed but the unopenable" \
  python3 -c "
import json
m=[json.loads(l) for l in open('m.jsonl')]
st={l.split()[0]: l.split()[1] for l in open('scan.txt')}
bad=[d['uri'] for d in m if d['depth'] > 0 and '] ${vms[0]}/' not in d['uri'] and st.get(d['id']) != 'clean']
assert not bad and len(st) == len(m), (bad, len(st), len(m))"
"$VDISK" report res --json > rep.json
rc=$?
check "vdisk report exits 1 (a disk is infected; exit $rc)" test "$rc" = 1
check "vdisk report names the infected disk" \
  python3 -c "
import json; r=json.load(open('rep.json'))
s=json.dumps(r); assert '${vms[0]}/disk1.vmdk' in s and 'EICAR' in s.upper(), s[:300]"
done_testing
