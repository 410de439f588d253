#!/bin/bash
# vdisk scan --vms FOLDER: every VM found by its .vmx (subfolders too),
# its disks from scsiX:Y / ideX:Y / sataX:Y / nvmeX:Y .fileName (absent
# devices, absent controllers and CD-ROMs skipped), each opened at the link
# the .vmx names (a snapshot's child reads through to its parent): one
# table, one command.  Also the sample program's -virus.
source "$(dirname "$0")/../functions.sh"
requires python3
DB="$VDISK_TOP/tests/scan/db"
cd "$WORK"
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin
pattern rnd.bin $((1 << 20)) 3
mk() { "$VDISK" create --size "$2" "$1" >/dev/null && "$VDISK" write "$1" --offset 64K --file rnd.bin >/dev/null; }

mkdir -p vms/alpha vms/lab/beta vms/gamma
# alpha: scsi0:0 infected; scsi0:1 present = FALSE (infected, skipped);
# a CD-ROM image; scsi1 controller absent (its disk skipped)
mk vms/alpha/alpha.vmdk 8M
"$VDISK" write vms/alpha/alpha.vmdk --offset $((3 * 1048576 - 10)) --file eicar.bin >/dev/null
mk vms/alpha/off.vmdk 8M
"$VDISK" write vms/alpha/off.vmdk --offset 0 --file eicar.bin >/dev/null
cp vms/alpha/off.vmdk vms/alpha/nobus.vmdk
cat > vms/alpha/alpha.vmx <<'VMX'
.encoding = "UTF-8"
displayName = "alpha"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "alpha.vmdk"
scsi0:1.present = "FALSE"
scsi0:1.fileName = "off.vmdk"
scsi1.present = "FALSE"
scsi1:0.present = "TRUE"
scsi1:0.fileName = "nobus.vmdk"
ide1:0.present = "TRUE"
ide1:0.deviceType = "cdrom-image"
ide1:0.fileName = "/iso/linux.iso"
VMX
# beta (in a subfolder): a snapshot chain, the .vmx names the newest link;
# the infection is in the base; nvme disk clean
mk vms/lab/beta/beta.vmdk 8M
"$VDISK" write vms/lab/beta/beta.vmdk --offset $((5 * 1048576 + 500)) --file eicar.bin >/dev/null
"$VDISK" child vms/lab/beta/beta.vmdk vms/lab/beta/beta-000001.vmdk >/dev/null
"$VDISK" write vms/lab/beta/beta-000001.vmdk --offset 1M --file rnd.bin >/dev/null
mk vms/lab/beta/data.vmdk 4M
cat > vms/lab/beta/beta.vmx <<'VMX'
displayName = "beta"
sata0.present = "TRUE"
sata0:0.fileName = "beta-000001.vmdk"
SATA0:0.Present = "TRUE"
nvme0:0.fileName = "data.vmdk"
VMX
# gamma: one clean IDE disk
mk vms/gamma/gamma.vmdk 4M
printf 'displayName = "gamma"\nide0:0.fileName = "gamma.vmdk"\n' > vms/gamma/gamma.vmx

"$VDISK" scan --db "$DB" --vms vms > t.txt 2>t.err; rc=$?
sed 's/^/# /' t.txt
check "--vms: exit 1 (infections found)" [ "$rc" = 1 ]
check "--vms: 4 disks listed" [ "$(grep -c 'vms/' t.txt)" = 4 ]
check "alpha scsi0:0 infected at its sectors" \
  grep -Eq "^alpha +scsi0:0 +vms/alpha/alpha.vmdk +infected: sectors $(((3 * 1048576 - 10) / 512))-$(((3 * 1048576 + 57) / 512)) Vdisk.Test.EICAR" t.txt
check "absent disk, absent controller and CD-ROM skipped" bash -c "! grep -q 'off.vmdk\|nobus.vmdk\|iso' t.txt"
check "beta sata0:0 (newest link) infected through its parent" \
  grep -Eq "^beta +sata0:0 +vms/lab/beta/beta-000001.vmdk +infected: sectors $(((5 * 1048576 + 500) / 512))-$(((5 * 1048576 + 567) / 512))" t.txt
check "beta nvme0:0 clean" grep -Eq "^beta +nvme0:0 +vms/lab/beta/data.vmdk +clean" t.txt
check "gamma ide0:0 clean" grep -Eq "^gamma +ide0:0 +vms/gamma/gamma.vmdk +clean" t.txt
"$VDISK" scan --db "$DB" --json --vms vms > t.json; rc=$?
check "--vms --json: parses, 2 infected of 4" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["vms"]
sys.exit(0 if len(v) == 4 and sum(d["status"] == "infected" for d in v) == 2 else 1)' t.json
# --- exit status: an infection is never hidden behind an error ---
"$VDISK" scan --db "$DB" vms/alpha/alpha.vmdk missing.vmdk > mix.txt 2>&1; rc=$?
check "one infected disk and one that fails: exit 1 (the infection shows)" [ "$rc" = 1 ]
check "... and the failure is still reported" grep -q "missing.vmdk" mix.txt
"$VDISK" scan --db "$DB" missing.vmdk vms/gamma/gamma.vmdk > mix2.txt 2>&1; rc=$?
check "a clean disk and one that fails: exit 2" [ "$rc" = 2 ]
mkdir -p vms/broken
printf 'displayName = "broken"\nscsi0:0.fileName = "gone.vmdk"\n' > vms/broken/broken.vmx
"$VDISK" scan --db "$DB" --vms vms > mix3.txt 2>&1; rc=$?
check "--vms: infected VMs and a VM whose disk fails: exit 1" [ "$rc" = 1 ]
check "... the failing disk is listed as an error" grep -Eq "^broken +scsi0:0 +vms/broken/gone.vmdk +error" mix3.txt
rm -r vms/broken
# --- a VM with no disks is listed, not left out ---
mkdir -p vms/empty
printf 'displayName = "diskless"\nide1:0.deviceType = "cdrom-image"\nide1:0.fileName = "x.iso"\n' > vms/empty/empty.vmx
"$VDISK" scan --db "$DB" --vms vms > nd.txt 2>&1; rc=$?
sed 's/^/# /' nd.txt
check "--vms lists a VM without disks" grep -Eq "^diskless +- +- +no disks" nd.txt
"$VDISK" scan --db "$DB" --json --vms vms > nd.json
check "--vms --json lists it with status 'no disks'" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["vms"]
sys.exit(0 if any(d["name"] == "diskless" and d["disk"] is None and d["status"] == "no disks" for d in v) else 1)' nd.json
rm -r vms/empty
rm -r vms/alpha vms/lab
"$VDISK" scan --db "$DB" --vms vms > t2.txt 2>&1; rc=$?
check "--vms on clean VMs: exit 0" [ "$rc" = 0 ]
mkdir empty
"$VDISK" scan --db "$DB" --vms empty > t3.txt 2>&1; rc=$?
check "--vms on a folder without VMs: exit 0, says so" bash -c "[ $rc = 0 ] && grep -q 'no VM disks' t3.txt"

# --- the sample program's -virus -------------------------------------------
SAMPLE="$VDISK_TOP/$VDISK_BUILD/bin/vix-disklib-sample"
if [ -x "$SAMPLE" ]; then
  mk s.vmdk 8M
  "$VDISK" write s.vmdk --offset $((2 * 1048576 - 20)) --file eicar.bin >/dev/null
  VDISK_SCAN_DB="$DB" "$SAMPLE" -virus s.vmdk > v.txt 2>&1; rc=$?
  sed 's/^/# /' v.txt
  check "sample -virus: a found virus is exit status 3" test "$rc" = 3
  check "sample -virus: reports the sectors and the name" \
    grep -q "Virus detected in sectors $(((2 * 1048576 - 20) / 512))–$(((2 * 1048576 + 47) / 512)): Vdisk.Test.EICAR" v.txt
  check "sample -virus: sectors scanned = allocated sectors" \
    grep -q "sectors scanned: $(( ($("$VDISK" scan --db "$DB" --json s.vmdk | grep -o '"data_bytes": [0-9]*' | cut -d' ' -f2)) / 512 ))" v.txt
  mk clean.vmdk 4M
  VDISK_SCAN_DB="$DB" "$SAMPLE" -virus clean.vmdk > vc.txt 2>&1; rc=$?
  check "sample -virus on a clean disk: no virus" bash -c "[ $rc = 0 ] && grep -q 'No virus found' vc.txt"
  for pos in before after; do
    if [ $pos = before ]; then set -- -virus -host 127.0.0.1 -user u -password p s.vmdk
    else set -- -virus s.vmdk -host 127.0.0.1 -user u -password p; fi
    VDISK_SCAN_DB="$DB" "$SAMPLE" "$@" > vh.txt 2>&1; rc=$?
    check "sample -virus with -host $pos the disk: refused, not a local scan" \
      bash -c "[ $rc = 1 ] && grep -q 'local disks only' vh.txt && ! grep -q 'Virus detected' vh.txt"
  done
fi
done_testing
