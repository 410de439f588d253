#!/bin/bash
# VixDiskLib on vSphere (govmomi's ESX simulator on loopback): ConnectEx
# with serverName/port/thumbPrint/UID credentials/vmxSpec "moref=" (the
# remote rule: a thumbPrint or moref= sends a connection to vSphere),
# Open of "[ds] vm/disk.vmdk" read byte for byte against the local file,
# GetInfo, QueryAllocatedBlocks, QueryChangedAreas (answered by the
# simulator's -cbt override: verified only against that), changeId,
# Write refused clearly, wrong password / thumbprint / a dropped
# connection as VDDK's codes, Clone local -> vSphere, and VMware's sample
# driving the guide's two commands (-create, then -clone ... -host -user
# -password) onto the datastore.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp
source "$(dirname "$0")/vcsim.sh"
B="$VDISK_TOP/$VDISK_BUILD"
C="$B/tests/vix-vsphere"
L="$B/compat"
SAMPLE="$B/bin/vix-disklib-sample"
[ -x "$C" ] && [ -x "$SAMPLE" ] || { echo "# skip: vix-vsphere or the sample not built"; exit 77; }
cd "$WORK"
: > areas.txt
VCSIM_PASSWORD=pw start_vcsim -user root -cbt "$WORK/areas.txt"
D="$VCSIM_DIR/ha-host_VM0"
vm=$(sed -n 's/^VM=ha-host_VM0 \([^ ]*\) .*/\1/p' "$VCSIM_INFO")
export VIX_HOST=${VCSIM_HOST%:*} VIX_PORT=${VCSIM_HOST##*:} VIX_THUMB=$VCSIM_THUMBPRINT
export VIX_USER=root VIX_PASSWORD=pw VIX_VM=moref=$vm
DISK="[$VCSIM_DS] ha-host_VM0/disk1.vmdk"

# VM0's disk: a sparse disk with known content (1 MiB, as the VM says)
pattern a.bin 300000 1
pattern b.bin 70000 2
rm -f "$D"/disk1*.vmdk
"$VDISK" create --type monolithicSparse --size 1M "$D/disk1.vmdk"
"$VDISK" write --offset 65536 --file a.bin "$D/disk1.vmdk"
"$VDISK" write --offset 900000 --file b.bin "$D/disk1.vmdk"
"$VDISK" cat "$D/disk1.vmdk" > want.raw

timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "ConnectEx with the SHA-256 thumbprint, user and password, vmxSpec moref=$vm (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && grep -qx connected out"
sha1=$(python3 -c "import ssl,hashlib,sys; d=ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read()); print(':'.join('%02X' % b for b in hashlib.sha1(d).digest()))" "$VCSIM_CERT")
VIX_THUMB=$sha1 timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "  ... and with the SHA-1 thumbprint, as VDDK gives it (exit $rc)" test $rc = 0
# another print: its first byte changed (11 where the real one starts 00,
# else the two were the same once in 256 runs: the simulator's key is new
# each run)
case $VCSIM_THUMBPRINT in 00*) b=11 ;; *) b=00 ;; esac
bad=$(echo "$VCSIM_THUMBPRINT" | sed "s/^../$b/")
VIX_THUMB=$bad timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "a wrong thumbprint: VIX_E_NET_HTTP_SSL_SECURITY (30201), naming the server's (exit $rc: $(head -c 300 err))" \
  sh -c "test $rc = 1 && grep -q 'error 30201' err && grep -q 'thumbprint' err && grep -q '$VCSIM_THUMBPRINT' err"
VIX_PASSWORD=wrong timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "a wrong password: VIX_E_HOST_USER_PERMISSIONS (3014), a clear text without the password (exit $rc: $(head -c 300 err))" \
  sh -c "test $rc = 1 && grep -q 'error 3014' err && grep -q 'wrong user name or password' err && ! grep -q wrong: err"
VIX_VM=moref=vm-999 timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "an unknown VM: VIX_E_OBJECT_NOT_FOUND naming it (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'error 25' err && grep -q vm-999 err"
VIX_PORT=1 timeout 60 "$C" "$L" connect > out 2>err; rc=$?
check "nothing listening: VIX_E_HOST_NETWORK_CONN_REFUSED (14009) (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'error 14009' err"

timeout 60 "$C" "$L" modes > out 2>err
check "ListTransportModes adds https" grep -qx 'file:nbdssl:nbd:https' out
timeout 60 "$C" "$L" info "$DISK" > out 2>err; rc=$?
check "Open + GetInfo of $DISK: 2048 sectors, transport https (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && grep -qx 'capacity 2048' out && grep -qx 'transport https' out"
timeout 60 "$C" "$L" read "$DISK" got.raw 2>err; rc=$?
check "Read of the whole disk equals the local file byte for byte (exit $rc)" \
  sh -c "test $rc = 0 && cmp -s want.raw got.raw"
timeout 60 "$C" "$L" read disk1.vmdk got2.raw 2>err; rc=$?
check "a bare name opens the file in the VM's folder (exit $rc)" cmp -s want.raw got2.raw
timeout 60 "$C" "$L" allocated "$DISK" > out 2>err; rc=$?
# the 64 KiB grains the two writes touched, as 128-sector chunks
want=$(python3 -c "
g = sorted({o // 65536 for a, n in ((65536, 300000), (900000, 70000)) for o in range(a, a + n, 512)})
runs = []
for c in g:
    if runs and runs[-1][0] + runs[-1][1] == c * 128: runs[-1][1] += 128
    else: runs.append([c * 128, 128])
print(' '.join('%d %d' % tuple(r) for r in runs))")
check "QueryAllocatedBlocks lists the chunks the writes touched ($want) (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test \"\$(cat out | tr '\n' ' ')\" = '$want '"
timeout 60 "$C" "$L" write "$DISK" > out 2>err; rc=$?
check "Write: VIX_E_NOT_SUPPORTED saying why (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'error 6' err && grep -q 'no ranged writes' err"

# changed areas, from the simulator's QueryChangedDiskAreas override
key=$("$VDISK" vsphere ls --json --thumbprint "$VCSIM_THUMBPRINT" -u root -p <(echo pw) "$VCSIM_HOST" 2>/dev/null |
      python3 -c "import json,sys; v={x['name']: x for x in json.load(sys.stdin)['vms']}; print(v['ha-host_VM0']['disks'][0]['key'])")
cat > areas.txt <<EOT
$vm $key 0 4096
$vm $key 65536 300000
$vm $key 900000 70000
EOT
# the areas in whole sectors covering them
sectors() { python3 -c "
import sys
out = []
for l in open('areas.txt'):
    f = l.split(); o, n = int(f[2]), int(f[3]); s, e = o // 512, (o + n + 511) // 512
    s = max(s, $1)
    if e > s: out.append('%d %d' % (s, e - s))
print(' '.join(out))"; }
want=$(sectors 0)
timeout 60 "$C" "$L" changes "$DISK" '*' > out 2>err; rc=$?
check "QueryChangedAreas pages QueryChangedDiskAreas: the three areas in sectors ($want) (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test \"\$(cat out | tr '\n' ' ')\" = '$want '"
want=$(sectors 1000)
timeout 60 "$C" "$L" changes "$DISK" '*' 1000 > out 2>err; rc=$?
check "  ... from startOffset 1000 only what lies after it ($want)" \
  sh -c "test $rc = 0 && test \"\$(cat out | tr '\n' ' ')\" = '$want '"

# Clone local -> vSphere
pattern c.bin 1000000 3
"$VDISK" create --type monolithicSparse --size 8M local.vmdk
"$VDISK" write --offset 2M --file c.bin local.vmdk
"$VDISK" cat local.vmdk > local.raw
timeout 60 "$C" "$L" clone local.vmdk "[$VCSIM_DS] ha-host_VM0/cloned.vmdk" > out 2>err; rc=$?
check "Clone from a local connection writes a vmfs flat disk on the datastore (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && grep -q 'createType=\"vmfs\"' '$D/cloned.vmdk' && test \$(stat -c %s '$D/cloned-flat.vmdk') = 8388608"
"$VDISK" cat "$D/cloned.vmdk" > cloned.raw
check "  ... whose content equals the local disk's" cmp -s local.raw cloned.raw
timeout 60 "$C" "$L" read "[$VCSIM_DS] ha-host_VM0/cloned.vmdk" back.raw 2>err
check "  ... and reads back through VixDiskLib the same" cmp -s local.raw back.raw

# VMware's sample: the guide's two commands, then its -info on the host
export VDISK_VSPHERE_CAFILE=$VCSIM_CERT
timeout 60 "$SAMPLE" -create -cap 16 virtdisk.vmdk > out 2>err; rc=$?
check "sample -create -cap 16 virtdisk.vmdk (exit $rc)" test $rc = 0
"$VDISK" write --offset 5M --file c.bin virtdisk.vmdk
"$VDISK" cat virtdisk.vmdk > virt.raw
timeout 120 "$SAMPLE" -clone virtdisk.vmdk -host "$VCSIM_HOST" -user root -password pw vmfsdisk.vmdk > out 2>err; rc=$?
check "sample -clone virtdisk.vmdk -host H -user U -password P vmfsdisk.vmdk (port 443 default: vSphere) (exit $rc: $(tail -c 300 err))" \
  sh -c "test $rc = 0 && grep -q 'Cloned virtdisk.vmdk to vmfsdisk.vmdk' out"
check "  ... made a vmfs flat disk at the datastore's root" \
  sh -c "grep -q 'createType=\"vmfs\"' '$VCSIM_DIR/vmfsdisk.vmdk' && test \$(stat -c %s '$VCSIM_DIR/vmfsdisk-flat.vmdk') = 16777216"
"$VDISK" cat "$VCSIM_DIR/vmfsdisk.vmdk" > vmfs.raw
check "  ... whose content equals the local one" cmp -s virt.raw vmfs.raw
timeout 60 "$SAMPLE" -info -host "$VCSIM_HOST" -user root -password pw -thumb "$VCSIM_THUMBPRINT" \
  -vm "moref=$vm" "[$VCSIM_DS] ha-host_VM0/disk1.vmdk" > out 2>err; rc=$?
check "sample -info -host -user -password -thumb -vm moref=... on the VM's disk (exit $rc: $(tail -c 300 err))" \
  sh -c "test $rc = 0 && grep -q 'capacity *= 2048 sectors' out && grep -q 'Transport mode of this handle: https' out"
timeout 60 "$SAMPLE" -info -host "$VCSIM_HOST" -user root -password nope -vm "moref=$vm" disk1.vmdk > out 2>err; rc=$?
check "sample with a wrong password: fails with 3014 (0xbc6) and says why (exit $rc)" \
  sh -c "test $rc != 0 && cat out err | grep -q 'bc6 VixDiskLib_Connect: .*cannot complete login'"
# a connection dropped mid-read (a server of its own, last)
VCSIM_PASSWORD=pw start_vcsim -user root -drop 1500000
pattern big.bin 8388608 4
rm -f "$VCSIM_DIR"/ha-host_VM0/disk1*.vmdk
"$VDISK" create --type monolithicFlat --size 8M "$VCSIM_DIR/ha-host_VM0/disk1.vmdk"
"$VDISK" write --offset 0 --file big.bin "$VCSIM_DIR/ha-host_VM0/disk1.vmdk"
VIX_PORT=${VCSIM_HOST##*:} VIX_THUMB=$VCSIM_THUMBPRINT VIX_VM= \
  timeout 60 "$C" "$L" read "[$VCSIM_DS] ha-host_VM0/disk1.vmdk" dropped.raw > out 2>err; rc=$?
check "a server that drops the connection mid-read: VIX_E_HOST_TCP_CONN_LOST (14011) (exit $rc: $(head -c 300 err))" \
  sh -c "test $rc = 1 && grep -q 'error 14011' err"
check "  ... and what was read before it is the disk's data, never wrong data" \
  sh -c "test \$(stat -c %s dropped.raw) -lt 8388608 && cmp -n \$(stat -c %s dropped.raw) dropped.raw big.bin"
stop_vcsim
done_testing
