# Sourced by the backup tests (backup/test-backup-restore.sh,
# crash/test-crash-backup.sh) in their $WORK: a VM folder vm/ with a
# chained disk, a split disk, an RDM mapping and an .nvram; state_of N
# keeps the VM's content as st/N/; scribble SEED writes at random into
# both disks and the nvram.
mkdir vm
$V create --size 48M vm/sys.vmdk
pattern s0 4000000 1; $V write --offset 0 --file s0 vm/sys.vmdk
$V child vm/sys.vmdk vm/sys-000001.vmdk
$V create --type twoGbMaxExtentSparse --size 24M vm/data.vmdk
cat > vm/rdm.vmdk <<'D'
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="vmfsRawDeviceMap"

# Extent description
RW 2048 VMFSRDM "rdm-rdm.vmdk"

# The Disk Data Base
#DDB
ddb.adapterType = "lsilogic"
D
cat > vm/web.vmx <<'X'
.encoding = "UTF-8"
displayName = "web"
nvram = "web.nvram"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "sys-000001.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "data.vmdk"
scsi0:2.present = "TRUE"
scsi0:2.fileName = "rdm.vmdk"
scsi0:2.mode = "independent-persistent"
X
pattern vm/web.nvram 8684 2

# state_of N: the VM's content at point N
state_of() {
  mkdir -p st/$1
  $V cat vm/sys-000001.vmdk > st/$1/sys.raw
  $V cat vm/data.vmdk > st/$1/data.raw
  cp vm/web.nvram st/$1/web.nvram
}
scribble() {  # a few random writes into both disks and the nvram
  python3 - "$1" <<'P'
import random, subprocess, sys, os
r = random.Random(int(sys.argv[1]))
V = os.environ["VDISK"]
for disk, cap in (("vm/sys-000001.vmdk", 48 << 20), ("vm/data.vmdk", 24 << 20)):
    for _ in range(6):
        n = r.randint(1, 200000); off = r.randrange(0, cap - n)
        data = bytes(r.getrandbits(8) for _ in range(n)) if r.random() < 0.8 else bytes(n)
        subprocess.run([V, "write", "--offset", str(off), disk], input=data, check=True)
nv = bytearray(open("vm/web.nvram", "rb").read()); nv[r.randrange(len(nv))] ^= 0xff
open("vm/web.nvram", "wb").write(nv)
P
}
