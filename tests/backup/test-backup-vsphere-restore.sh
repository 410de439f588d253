#!/bin/bash
# vdisk restore REPO [POINT] 'vsphere://USER@HOST/[DS] FOLDER' against
# govmomi's simulator on loopback: a point of a simulator VM restored into
# another datastore folder as thin vmfs flat disks (read back remotely,
# equal to a local restore), the .vmx and the saved .nvram byte for byte;
# a second restore without --force is refused and changes nothing; a
# failure half-way deletes what the restore had sent; a wrong password is
# a clear error that sends nothing.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp md5sum
source "$VDISK_TOP/tests/vsphere/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
printf 'wrong\n' > bad
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
VCSIM_PASSWORD=pw start_vcsim -user root -failput /broken/ha-host_VM0.vmx \
  -touchonput /race/disk1-flat.vmdk=race/ha-host_VM0.vmx
vm0="$VCSIM_DIR/ha-host_VM0"
rm -f "$vm0"/disk1*.vmdk
"$VDISK" create --size 32M "$vm0/disk1.vmdk"
pattern noise 300000 4
"$VDISK" write --offset 5M --file noise "$vm0/disk1.vmdk"
Q="?cafile=$VCSIM_CERT"
# the .nvram where the inventory says it is (the simulator: the datastore's top)
nv=$("$VDISK" vsphere ls --json "root@$VCSIM_HOST$Q" 2>/dev/null | python3 -c "
import json,sys; print([v for v in json.load(sys.stdin)['vms'] if v['name']=='ha-host_VM0'][0]['nvram'].split('] ',1)[1])")
pattern nvram.bin 8684 9
cp nvram.bin "$VCSIM_DIR/$nv"
H="vsphere://root@$VCSIM_HOST"
"$VDISK" backup "$H/ha-host_VM0$Q" repo > /dev/null 2>err; rc=$?
check "backup of the simulator VM (exit $rc: $(head -c 300 err))" test $rc = 0
"$VDISK" restore repo local 2>/dev/null
D="[$VCSIM_DS] restored"
"$VDISK" restore repo "$H/$D$Q" 2>err; rc=$?
check "restore into a datastore folder (exit $rc: $(head -c 300 err))" test $rc = 0
r="$VCSIM_DIR/restored"
check "the folder holds disk1.vmdk, disk1-flat.vmdk, the .vmx and the .nvram ($nv)" \
  sh -c "test -f '$r/disk1.vmdk' && test -f '$r/disk1-flat.vmdk' && test -f '$r/ha-host_VM0.vmx' && test -f '$r/${nv##*/}'"
check "the descriptor is a thin vmfs disk naming disk1-flat.vmdk" \
  sh -c "grep -q 'createType=\"vmfs\"' '$r/disk1.vmdk' && grep -q 'ddb.thinProvisioned = \"1\"' '$r/disk1.vmdk' && grep -q 'VMFS \"disk1-flat.vmdk\"' '$r/disk1.vmdk'"
"$VDISK" cat "$H/$D/disk1.vmdk$Q" > got.raw 2>err
"$VDISK" cat local/disk1.vmdk > want.raw
check "vdisk cat vsphere://... of the restored disk equals a local restore ($(stat -c %s got.raw) bytes)" \
  sh -c "test -s want.raw && cmp -s want.raw got.raw"
check "the .nvram is the saved one, byte for byte" cmp -s nvram.bin "$r/${nv##*/}"
check "the .vmx is the backed-up one" cmp -s local/ha-host_VM0.vmx "$r/ha-host_VM0.vmx"
before=$(cd "$r" && md5sum * | md5sum)
"$VDISK" restore repo "$H/$D$Q" 2>err; rc=$?
check "a second restore without --force is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'already exists' err && grep -q -- '--force' err"
check "  ... and changes nothing" test "$(cd "$r" && md5sum * | md5sum)" = "$before"
"$VDISK" write --offset 0 --file nvram.bin "$vm0/disk1.vmdk"
"$VDISK" backup "$H/ha-host_VM0$Q" repo > /dev/null 2>&1
"$VDISK" cat "$vm0/disk1.vmdk" > want2.raw
"$VDISK" restore --force repo "$H/$D$Q" 2>err; rc=$?
check "--force replaces it with the newest point (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && \"$VDISK\" cat '$r/disk1.vmdk' | cmp -s - want2.raw"
"$VDISK" restore repo "$H/[$VCSIM_DS] broken$Q" 2>err; rc=$?
check "a PUT that fails half-way is an error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'HTTP 500' err"
check "  ... and the disk it had sent is deleted again" \
  sh -c "! ls '$VCSIM_DIR/broken/'*.vmdk 2>/dev/null"
VDISK_VSPHERE_PASSWORD_FILE=$WORK/bad "$VDISK" restore repo "$H/[$VCSIM_DS] other$Q" 2>err; rc=$?
check "a wrong password is a clear error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'wrong user name or password' err"
check "  ... that sends nothing" test ! -e "$VCSIM_DIR/other"
"$VDISK" restore repo "$H/[$VCSIM_DS]%20restored2$Q" 2>err; rc=$?
check "%20 for the space works too (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -f '$VCSIM_DIR/restored2/disk1-flat.vmdk'"
"$VDISK" restore repo "$H/[$VCSIM_DS] a/../b$Q" 2>err; rc=$?
check "a folder with .. is refused (exit $rc)" sh -c "test $rc = 1 && grep -q 'plain datastore path' err"
"$VDISK" restore repo "$H/no-datastore$Q" 2>err; rc=$?
check "a destination without [DATASTORE] FOLDER is a usage error (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'DATASTORE' err"
# another client makes race/ha-host_VM0.vmx once the restore has looked
# (the simulator writes it when disk1-flat.vmdk's PUT arrives): the
# restore's own PUT of it is refused, and its undo must leave it alone
"$VDISK" restore repo "$H/[$VCSIM_DS] race$Q" 2>err; rc=$?
check "a target another client made meanwhile is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'already exists' err"
check "  ... the other client's file survives the undo" \
  sh -c "test \"\$(cat '$VCSIM_DIR/race/ha-host_VM0.vmx' 2>/dev/null)\" = foreign"
check "  ... and the disk the restore sent is deleted again" \
  sh -c "! ls '$VCSIM_DIR/race/'*.vmdk 2>/dev/null"
# vCenter SSO: USER@DOMAIN@HOST (the user ends at the last @)
S="vsphere://administrator@vsphere.local@$VCSIM_HOST"
"$VDISK" restore repo "$S/[$VCSIM_DS] sso$Q" 2>err; rc=$?
check "restore: user administrator@vsphere.local@HOST logs in as administrator@vsphere.local (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'login as administrator@vsphere.local refused' err"
"$VDISK" backup "$S/ha-host_VM0$Q" repo 2>err >/dev/null; rc=$?
check "backup: the same user name is kept whole (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'login as administrator@vsphere.local refused' err"
# USER and the VM name %-decoded as a URI's parts are (the simulator
# takes only root: ro%6Ft logs in only when decoded)
"$VDISK" backup --json "vsphere://ro%6Ft@$VCSIM_HOST/ha%2Dhost%5FVM0$Q" repo > pct.json 2>err; rc=$?
check "backup: vsphere://ro%6Ft@HOST/ha%2Dhost%5FVM0 is root's ha-host_VM0 (exit $rc: $(head -c 200 err))" \
  python3 -c "import json,sys; sys.exit(0 if $rc == 0 and json.load(open('pct.json')).get('display_name') == 'ha-host_VM0' else 1)"
"$VDISK" restore repo "vsphere://ro%6Ft@$VCSIM_HOST/[$VCSIM_DS] pctuser$Q" 2>err; rc=$?
check "restore: the user ro%6Ft is root too (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -f '$VCSIM_DIR/pctuser/disk1-flat.vmdk'"
"$VDISK" backup "vsphere://ro%6Ft@$VCSIM_HOST/ha-host%00x$Q" repo 2>err; rc=$?
check "backup: a VM name with %00 is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'bad %-escape' err"
"$VDISK" restore repo "$H/%5B$VCSIM_DS%5D%20pct%2Dx$Q" 2>err; rc=$?
check "the folder is %-decoded like every vsphere:// path (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 0 && test -f '$VCSIM_DIR/pct-x/disk1-flat.vmdk'"
for f in 'a/%2E%2E/b' 'a/%2e./b' 'x%01y' 'x%00y'; do
  "$VDISK" restore repo "$H/[$VCSIM_DS] $f$Q" 2>err; rc=$?
  check "a folder $f is refused after decoding (exit $rc: $(head -c 200 err))" \
    sh -c "test $rc = 1 && grep -q 'plain datastore path' err"
done
check "  ... and nothing of them was sent" sh -c "! ls -d '$VCSIM_DIR/a' '$VCSIM_DIR/b' '$VCSIM_DIR'/x* 2>/dev/null"
for o in --keep-cbt '--rdm keep' '--rdm data'; do
  "$VDISK" restore $o repo "$H/[$VCSIM_DS] opt$Q" 2>err; rc=$?
  check "restore $o to vSphere is refused (exit $rc: $(head -c 200 err))" \
    sh -c "test $rc = 1 && grep -q 'does not apply' err && grep -q -- '${o% *}' err"
done
check "  ... and sends nothing" test ! -e "$VCSIM_DIR/opt"
# a point whose file would land on a disk's -flat.vmdk
cp -a repo dup
pt=$(ls -d dup/*/manifest.json | tail -1); pt=${pt%/manifest.json}
python3 -c "
import json,sys; m=json.load(open(sys.argv[1]))
m['files'].append(dict(m['files'][0], name='files/disk1-flat.vmdk'))
json.dump(m, open(sys.argv[1],'w')); print(m['files'][0]['name'])" "$pt/manifest.json" > first
cp "$pt/$(cat first)" "$pt/files/disk1-flat.vmdk"
"$VDISK" restore dup "$H/[$VCSIM_DS] dup$Q" 2>err; rc=$?
check "two targets of one name are refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'would both be' err && grep -q 'disk1-flat.vmdk' err"
check "  ... before anything is sent" test ! -e "$VCSIM_DIR/dup"
done_testing
