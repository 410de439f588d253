#!/bin/bash
# vSphere through the Web Services API, against govmomi's simulator on
# loopback (tests/vsphere/vcsim): login and certificate checks, the
# inventory, and disks read through the datastore file service
# (vsphere://) by every format driver, byte for byte equal to the local
# files (vdisk- and qemu-made: sparse, flat, streamOptimized, a chain).
source "$(dirname "$0")/../functions.sh"
requires qemu-img python3 timeout cmp
source "$(dirname "$0")/vcsim.sh"
cd "$WORK"
PW=s3cret-Pw0rd
printf '%s\n' "$PW" > pw
printf 'not-the-password\n' > badpw
export VCSIM_PASSWORD=$PW
start_vcsim -user root -calls "$WORK/calls.log"
check "the simulator runs on loopback" test -n "$VCSIM_HOST"
DS="$VCSIM_DIR"
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
S="root@$VCSIM_HOST"

# ---- disks with known content on the datastore ---------------------------
pattern a.bin 3000000 1
pattern b.bin 2000000 2
pattern c.bin 700000 3
vm0="$DS/ha-host_VM0" vm1="$DS/ha-host_VM1"
rm -f "$vm0"/disk1*.vmdk "$vm1"/disk1*.vmdk
"$VDISK" create --size 64M "$vm0/disk1.vmdk"                       # sparse
"$VDISK" write --offset 5M --file a.bin "$vm0/disk1.vmdk"
"$VDISK" create --type monolithicFlat --size 32M "$vm1/disk1.vmdk" # flat
"$VDISK" write --offset 1M --file b.bin "$vm1/disk1.vmdk"
mkdir -p "$DS/other dir"
"$VDISK" create --type twoGbMaxExtentSparse --size 48M "$DS/other dir/base.vmdk"
"$VDISK" write --offset 0 --file a.bin "$DS/other dir/base.vmdk"
"$VDISK" child "$DS/other dir/base.vmdk" "$DS/other dir/child.vmdk" >/dev/null
"$VDISK" write --offset 2M --file b.bin "$DS/other dir/child.vmdk"
"$VDISK" child "$DS/other dir/child.vmdk" "$DS/other dir/grandchild.vmdk" >/dev/null
"$VDISK" write --offset 40M --file c.bin "$DS/other dir/grandchild.vmdk"
"$VDISK" create --size 8M "$DS/rootbase.vmdk"                     # at the root
"$VDISK" write --offset 0 --file c.bin "$DS/rootbase.vmdk"
"$VDISK" child "$DS/rootbase.vmdk" "$DS/rootchild.vmdk" > /dev/null
"$VDISK" write --offset 4M --file c.bin "$DS/rootchild.vmdk"
cp "$vm1/disk1.vmdk" "$DS/other dir/sneaky.vmdk"       # names a file outside its folder
cp "$vm1/disk1-flat.vmdk" "$DS/x-flat.vmdk"
sed -i 's/"disk1-flat.vmdk"/"[LocalDS_0] x-flat.vmdk"/' "$DS/other dir/sneaky.vmdk"
cat a.bin b.bin c.bin a.bin > q.raw; truncate -s 20M q.raw
qemu-img convert -f raw -O vmdk q.raw "$DS/qemu-sparse.vmdk"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized q.raw "$DS/qemu-stream.vmdk"
qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat q.raw "$DS/qemu-flat.vmdk"

uri() { echo "vsphere://$S/[$VCSIM_DS] $1?cafile=$VCSIM_CERT"; }

# ---- session and certificates --------------------------------------------
"$VDISK" vsphere ls --cafile "$VCSIM_CERT" "$S" > ls.txt 2>err; rc=$?
check "login with a CA file and ls (exit $rc)" test $rc = 0
check "ls names the server's product" grep -q "VMware ESX" ls.txt
"$VDISK" vsphere ls "$S" > /dev/null 2>err; rc=$?
check "certificate verified by default: a self-signed one is refused (exit $rc)" \
  test $rc = 1 -a -n "$(grep -i 'TLS\|certificate' err)"
"$VDISK" vsphere ls --insecure "$S" > /dev/null 2>err; rc=$?
check "--insecure connects (exit $rc)" test $rc = 0
"$VDISK" vsphere ls --thumbprint "$VCSIM_THUMBPRINT" "$S" > /dev/null 2>err; rc=$?
check "the pinned SHA-256 thumbprint connects without a CA (exit $rc)" test $rc = 0
# another print: its first byte changed (11 where the real one starts 00,
# else the two were the same once in 256 runs: the simulator's key is new
# each run)
case $VCSIM_THUMBPRINT in 00*) b=11 ;; *) b=00 ;; esac
bad=$(echo "$VCSIM_THUMBPRINT" | sed "s/^../$b/")
"$VDISK" vsphere ls --thumbprint "$bad" "$S" > /dev/null 2>err; rc=$?
check "a wrong thumbprint is refused, naming the server's (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'thumbprint $VCSIM_THUMBPRINT is not the pinned one' err"
: > calls.log
"$VDISK" vsphere ls --thumbprint "$bad" "$S" > /dev/null 2>err
"$VDISK" vsphere ls --cafile /dev/null "$S" > /dev/null 2>err
"$VDISK" vsphere ls "$S" > /dev/null 2>err
check "with an unverified certificate no request (no Login, no password) reaches the server" \
  test ! -s calls.log
"$VDISK" vsphere ls --thumbprint "$VCSIM_THUMBPRINT" "$S" > /dev/null 2>err
check "control: the call log sees a verified session's Login" grep -qx Login calls.log
sha1=$(python3 -c "import ssl,hashlib,sys; d=ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read()); print(':'.join('%02X' % b for b in hashlib.sha1(d).digest()))" "$VCSIM_CERT")
"$VDISK" vsphere ls --thumbprint "$sha1" "$S" > /dev/null 2>err; rc=$?
check "a pinned SHA-1 thumbprint (VDDK's classic form) connects too (exit $rc)" test $rc = 0
"$VDISK" vsphere ls --thumbprint "12:34" "$S" > /dev/null 2>err; rc=$?
check "a malformed thumbprint is refused (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'SHA-1 (20) or SHA-256 (32)' err"
VDISK_VSPHERE_PASSWORD_FILE=$WORK/badpw "$VDISK" vsphere ls --cafile "$VCSIM_CERT" "$S" > /dev/null 2>err; rc=$?
check "a wrong password: exit 1 and a clear message" \
  sh -c "test $rc = 1 && grep -q 'wrong user name or password' err"
check "the password never appears in the message" sh -c "! grep -q 'not-the-password' err"
"$VDISK" vsphere ls --cafile "$VCSIM_CERT" -p "$WORK/badpw" "$S" > /dev/null 2>err; rc=$?
check "--password-file is read (a wrong one is refused, exit $rc)" test $rc = 1
env -u VDISK_VSPHERE_PASSWORD_FILE VDISK_VSPHERE_PASSWORD="$PW" \
  "$VDISK" vsphere ls --cafile "$VCSIM_CERT" "$S" > /dev/null 2>err </dev/null; rc=$?
check "the password from VDISK_VSPHERE_PASSWORD (exit $rc)" test $rc = 0
env -u VDISK_VSPHERE_PASSWORD_FILE "$VDISK" vsphere ls --cafile "$VCSIM_CERT" "$S" \
  > /dev/null 2>err </dev/null; rc=$?
check "no password anywhere: a clear error (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'no password' err"
# USER is %-decoded; an empty one (or one that decodes to a NUL) is an
# error before anything is sent, never a login as something else
"$VDISK" vsphere ls --cafile "$VCSIM_CERT" "r%6F%6Ft@$VCSIM_HOST" > /dev/null 2>err; rc=$?
check "the user r%6F%6Ft is root (exit $rc: $(head -c 200 err))" test $rc = 0
"$VDISK" vsphere ls --cafile "$VCSIM_CERT" "@$VCSIM_HOST" > /dev/null 2>err; rc=$?
check "an empty user (@HOST) is refused: 'no user name' (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'no user name' err"
"$VDISK" vsphere ls --cafile "$VCSIM_CERT" "ro%00t@$VCSIM_HOST" > /dev/null 2>err; rc=$?
check "a user with %00 is refused (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'bad %-escape in the user name' err"

# ---- inventory ------------------------------------------------------------
"$VDISK" vsphere ls --json --cafile "$VCSIM_CERT" "$S" > ls.json 2>err
check "ls --json lists every VM the simulator has, with its disks, .vmx and datastore" \
  python3 - ls.json "$VCSIM_INFO" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
sim = {}
for line in open(sys.argv[2]):
    if line.startswith("VM="):
        name, moref, vmx = line[3:].rstrip("\n").split(" ", 2)
        sim[name] = (moref, vmx)
vms = {v["name"]: v for v in inv["vms"]}
ok = set(vms) == set(sim) and len(sim) == 2
for n, (moref, vmx) in sim.items():
    v = vms.get(n, {})
    ok = ok and v.get("moref") == moref and v.get("vmx") == vmx
    ok = ok and v.get("power_state") == "poweredOn"
    folder = vmx.split("] ")[1].rsplit("/", 1)[0]
    ok = ok and [d["file"] for d in v["disks"]] == ["[LocalDS_0] %s/disk1.vmdk" % folder]
    ok = ok and v["disks"][0]["device"] == "scsi0:0" and v["disks"][0]["capacity"] > 0
    ok = ok and (v.get("nvram") or "").endswith(".nvram")
ds = inv["datastores"]
ok = ok and [(d["name"], d["datacenter"]) for d in ds] == [("LocalDS_0", "ha-datacenter")]
sys.exit(0 if ok else 1)
PY

# ---- disks over https -----------------------------------------------------
for f in "ha-host_VM0/disk1.vmdk" "ha-host_VM1/disk1.vmdk" rootchild.vmdk "other dir/base.vmdk" \
         "other dir/child.vmdk" "other dir/grandchild.vmdk" qemu-sparse.vmdk \
         qemu-stream.vmdk qemu-flat.vmdk; do
  "$VDISK" cat "$DS/$f" > local.raw
  "$VDISK" cat "$(uri "$f")" > remote.raw 2>err; rc=$?
  check "cat vsphere://…/$f equals the local disk byte for byte (exit $rc)" \
    sh -c "test $rc = 0 && cmp -s local.raw remote.raw && test -s local.raw"
done
qemu-img convert -f vmdk -O raw "$DS/other dir/grandchild.vmdk" peer.raw
"$VDISK" cat "$(uri "other dir/grandchild.vmdk")" > remote.raw
check "a three-link chain read remotely equals qemu-img's reading of it" cmp -s peer.raw remote.raw
check "the qemu-made sparse disk read remotely equals qemu's raw" \
  sh -c "\"$VDISK\" cat \"$(uri qemu-sparse.vmdk)\" | cmp -s - q.raw"
"$VDISK" cat "vsphere://$S/%5B$VCSIM_DS%5D%20ha-host_VM0/disk1.vmdk?dc=$VCSIM_DC&cafile=$VCSIM_CERT" > remote.raw
"$VDISK" cat "$vm0/disk1.vmdk" > local.raw
check "a %-escaped URI with dc= reads the same" cmp -s local.raw remote.raw
"$VDISK" info "$(uri "other dir/grandchild.vmdk")" > info.txt 2>err
check "info of a remote chain: 3 links" grep -q "links in chain: *3" info.txt
"$VDISK" map "$(uri ha-host_VM0/disk1.vmdk)" > map.remote 2>err
"$VDISK" map "$vm0/disk1.vmdk" > map.local
check "map of a remote disk equals the local map" cmp -s map.remote map.local
"$VDISK" check "$(uri "other dir/grandchild.vmdk")" > check.txt 2>&1; rc=$?
check "check of a remote chain passes (exit $rc)" test $rc = 0
"$VDISK" convert "$(uri "other dir/grandchild.vmdk")" conv.vmdk > /dev/null 2>err; rc=$?
check "convert of a remote chain to a local disk (exit $rc)" test $rc = 0
qemu-img compare -f vmdk -F vmdk conv.vmdk "$DS/other dir/grandchild.vmdk" > cmp.txt 2>&1; rc=$?
sed "s/^/# /" cmp.txt
check "the converted disk equals qemu's reading of the original (qemu-img compare, exit $rc)" test $rc = 0
"$VDISK" write --offset 0 --file c.bin "$(uri ha-host_VM0/disk1.vmdk)" 2>err; rc=$?
check "writes to a remote disk are refused (exit $rc)" test $rc != 0
"$VDISK" cat "$(uri "other dir/sneaky.vmdk")" > /dev/null 2>err; rc=$?
check "an extent name cannot reach outside the descriptor's folder (exit $rc: $(head -c 160 err))" \
  sh -c "test $rc != 0 && grep -q 'other dir/\[LocalDS_0\] x-flat.vmdk: no such file' err"
"$VDISK" cat "$(uri "no such/disk.vmdk")" > /dev/null 2>err; rc=$?
check "a missing remote file: clear error (exit $rc)" \
  sh -c "test $rc != 0 && grep -qi 'no such file' err"
"$VDISK" cat "vsphere://$S/[NoSuchDS] x.vmdk?cafile=$VCSIM_CERT" > /dev/null 2>err; rc=$?
check "an unknown datastore: clear error (exit $rc)" \
  sh -c "test $rc != 0 && grep -q 'no datastore named' err"

# ---- vCenter (the simulator's VPX model) -----------------------------------
stop_vcsim
start_vcsim -vpx -user root
S="root@$VCSIM_HOST"
"$VDISK" vsphere ls --json --cafile "$VCSIM_CERT" "$S" > vpx.json 2>err; rc=$?
check "vCenter: ls works (exit $rc)" test $rc = 0
check "vCenter: every VM listed, datastores with their datacenter $VCSIM_DC" \
  python3 - vpx.json "$VCSIM_INFO" "$VCSIM_DC" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
sim = {l[3:].split(" ")[0] for l in open(sys.argv[2]) if l.startswith("VM=")}
ok = inv["api_type"] == "VirtualCenter" and {v["name"] for v in inv["vms"]} == sim and len(sim) >= 2
ok = ok and all(d["datacenter"] == sys.argv[3] for d in inv["datastores"]) and inv["datastores"]
ok = ok and all(v["disks"] for v in inv["vms"])
sys.exit(0 if ok else 1)
PY
vmx=$(sed -n 's/^VM=[^ ]* [^ ]* //p' "$VCSIM_INFO" | head -1)
folder=${vmx#*] }; folder=${folder%/*}
rm -f "$VCSIM_DIR/$folder"/disk1*.vmdk
"$VDISK" create --size 16M "$VCSIM_DIR/$folder/disk1.vmdk"
"$VDISK" write --offset 3M --file c.bin "$VCSIM_DIR/$folder/disk1.vmdk"
"$VDISK" cat "$VCSIM_DIR/$folder/disk1.vmdk" > local.raw
"$VDISK" cat "vsphere://$S/[$VCSIM_DS] $folder/disk1.vmdk?cafile=$VCSIM_CERT" > remote.raw 2>err; rc=$?
check "vCenter: a disk read without dc= (its datacenter found) equals the local one (exit $rc)" \
  sh -c "test $rc = 0 && cmp -s local.raw remote.raw"
done_testing
