#!/bin/bash
# Changed block tracking on vSphere: `vdisk vsphere changed` pages
# QueryChangedDiskAreas over the whole disk.  govmomi's simulator lacks the
# method, so the simulator's main answers it (-cbt) from the areas this
# test wrote, at most 2 per page: this path is verified only against that.
# (govmomi's object-wrapping override breaks its ContainerView in the
# packaged version, so the simulator's front handler answers it.)
source "$(dirname "$0")/../functions.sh"
requires python3 timeout
source "$(dirname "$0")/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
: > areas.txt
start_vcsim -cbt "$WORK/areas.txt"
S="root@$VCSIM_HOST?cafile=$VCSIM_CERT"
"$VDISK" vsphere ls --json "$S" > ls.json 2>err; rc=$?
check "the inventory works on the simulator with the override (exit $rc)" test $rc = 0
read -r m0 k0 c0 m1 k1 < <(python3 -c "
import json; v={x['name']: x for x in json.load(open('ls.json'))['vms']}
a, b = v['ha-host_VM0'], v['ha-host_VM1']
print(a['moref'], a['disks'][0]['key'], a['disks'][0]['capacity'], b['moref'], b['disks'][0]['key'])")
# five areas of VM0's disk (3 pages), one of VM1's beyond its end
cat > areas.txt <<EOT
$m0 $k0 131072 4096
$m0 $k0 0 65536
$m0 $k0 500000 1000
$m0 $k0 700000 50000
$m0 $k0 1000000 $((c0 - 1000000))
$m1 $k1 $((c0 + 4096)) 512
EOT
"$VDISK" vsphere changed --json "$S" ha-host_VM0 > out.json 2>err; rc=$?
check "changed lists VM0's disk's areas (exit $rc: $(head -c 200 err))" test $rc = 0
check "every area, in order, over three pages, and nothing of VM1's" python3 - out.json "$c0" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); c = int(sys.argv[2])
want = [[0, 65536], [131072, 4096], [500000, 1000], [700000, 50000], [1000000, c - 1000000]]
ok = d["areas"] == want and d["changed_bytes"] == sum(x[1] for x in want)
sys.exit(0 if ok else 1)
PY
"$VDISK" vsphere changed "$S" ha-host_VM0 scsi0:0 > out.txt 2>err
check "text output names the same areas for the device scsi0:0" \
  sh -c "test \$(wc -l < out.txt) = 5 && head -1 out.txt | grep -qx '0 65536'"
"$VDISK" vsphere changed "$S" ha-host_VM1 > out.txt 2>err; rc=$?
check "an area past the disk's end is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -qE 'outside|from 0 to $c0' err"
echo "$m0 $k0 600000 200000" >> areas.txt        # overlaps 700000+50000
"$VDISK" vsphere changed "$S" ha-host_VM0 > out.txt 2>err; rc=$?
check "overlapping areas are refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc = 1 && grep -q 'overlaps' err"
"$VDISK" vsphere changed "$S" ha-host_VM0 scsi9:9 > out.txt 2>err; rc=$?
check "an unknown device: clear error (exit $rc)" \
  sh -c "test $rc = 1 && grep -q 'no disk scsi9:9' err"
done_testing
