#!/bin/bash
# A vSphere server that misbehaves (tests/vsphere/vcsim's switches): hostile
# SOAP answers (huge numbers, missing fields, deep nesting, an entity bomb,
# garbage, an endless answer), a datastore service that ignores Range or
# drops the connection mid-transfer, and a session that expires.  Each is a
# clear error or a recovery, never a crash, wrong data or unbounded memory.
source "$(dirname "$0")/../functions.sh"
requires python3 timeout cmp
source "$(dirname "$0")/vcsim.sh"
cd "$WORK"
printf 'pw\n' > pw
export VDISK_VSPHERE_PASSWORD_FILE=$WORK/pw
RELOGIN="$VDISK_TOP/$VDISK_BUILD/tests/vsphere-relogin"

# ---- hostile inventory answers ---------------------------------------------
python3 - <<'PY'
head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>')
tail = '</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>'
def vm(cap="1073741824", file="<fileName>[LocalDS_0] vmx/disk.vmdk</fileName>", extra=""):
    return ('<objects><obj type="VirtualMachine">vm-77</obj>'
            '<propSet><name>name</name><val xsi:type="xsd:string">hostile-vm</val></propSet>'
            '<propSet><name>config.hardware.device</name><val xsi:type="ArrayOfVirtualDevice">'
            '<VirtualDevice xsi:type="VirtualLsiLogicController"><key>1000</key><busNumber>0</busNumber></VirtualDevice>'
            '<VirtualDevice xsi:type="VirtualDisk"><key>2000</key>'
            '<backing xsi:type="VirtualDiskFlatVer2BackingInfo">' + file + '</backing>'
            '<controllerKey>1000</controllerKey><unitNumber>0</unitNumber>'
            '<capacityInBytes>' + cap + '</capacityInBytes>' + extra + '</VirtualDevice>'
            '</val></propSet></objects>')
w = lambda n, s: open(n, "w").write(s)
w("sane.xml", head + vm() + tail)
w("huge.xml", head + vm(cap="99999999999999999999999999") + tail)
w("toobig.xml", head + vm(cap=str(1 << 62)) + tail)
w("negative.xml", head + vm(cap="-1") + tail)
w("nofile.xml", head + vm(file="") + tail)
w("deep.xml", head + vm(extra="<a>" * 200000 + "</a>" * 200000) + tail)
w("deep100.xml", head + vm(extra="<a>" * 100 + "</a>" * 100) + tail)
bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1) if i else "&lol;") * 10)
                  for i in range(10))
        + ']>\n')
w("bomb.xml", bomb + head.split("\n", 1)[1] + vm(cap="&lol9;") + tail)
w("garbage.xml", "HTTP/1.1 200 OK\r\n\r\n\x00\x01 this is no XML <<<")
w("notsoap.xml", '<?xml version="1.0"?><html><body>hello</body></html>')
with open("endless.xml", "w") as f:
    f.write(head + vm())
    f.write("<x>" + " " * (70 << 20) + "</x>")
    f.write(tail)
PY

start_vcsim -hostile sane.xml
"$VDISK" vsphere ls --json --insecure "root@$VCSIM_HOST" > out 2>err; rc=$?
check "control: the hand-made sane answer is accepted (exit $rc)" \
  sh -c "test $rc = 0 && grep -q 'hostile-vm' out && grep -q '1073741824' out"
stop_vcsim
t=1
for case in "huge:is not a number" "toobig:is not a number" "negative:is not a number" \
            "nofile:without a backing file name" "deep:nests too deeply" \
            "deep100:nests deeper than" "bomb:DOCTYPE" "garbage:not well-formed" \
            "notsoap:not a SOAP envelope" "endless:larger than"; do
  name=${case%%:*} want=${case#*:}
  start_vcsim -hostile "$name.xml"
  /usr/bin/time -f %M -o mem "$VDISK" vsphere ls --insecure "root@$VCSIM_HOST" > out 2>err; rc=$?
  mem=$(tail -1 mem)
  check "hostile answer '$name': exit 1 with '$want' (exit $rc: $(head -c 200 err))" \
    sh -c "test $rc = 1 && grep -q '$want' err"
  check "hostile answer '$name': bounded memory (${mem} KiB)" test "$mem" -lt 800000
  stop_vcsim
done

# ---- datastore file service misbehaving ------------------------------------
pattern data.bin 3000000 7
seed_disk() {
  rm -f "$VCSIM_DIR/ha-host_VM0"/disk1*.vmdk
  "$VDISK" create --type monolithicFlat --size 16M "$VCSIM_DIR/ha-host_VM0/disk1.vmdk"
  "$VDISK" write --offset 0 --file data.bin "$VCSIM_DIR/ha-host_VM0/disk1.vmdk"
}
U() { echo "vsphere://root@$VCSIM_HOST/[$VCSIM_DS] ha-host_VM0/disk1.vmdk?insecure=1"; }
start_vcsim -norange
seed_disk
"$VDISK" cat "$(U)" > out 2>err; rc=$?
check "a server that ignores Range is refused clearly (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc != 0 && grep -q 'ignores Range' err && test ! -s out"
stop_vcsim
start_vcsim -drop 1500000
seed_disk
"$VDISK" cat "$VCSIM_DIR/ha-host_VM0/disk1.vmdk" > local.raw
"$VDISK" cat "$(U)" > out 2>err; rc=$?
check "a connection dropped mid-transfer is an error, not short data (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc != 0 && ! cmp -s out local.raw"
check "what was written before the drop is correct data" \
  sh -c "test \$(stat -c %s out) -lt \$(stat -c %s local.raw) && cmp -n \$(stat -c %s out) out local.raw"
stop_vcsim
# the same during the parallel read-ahead (past the first 4 MiB, which the
# block cache reads): the GET carrying byte 9000000 drops, whichever
# connection has it; the chunks around it are fetched at the same time
start_vcsim -dropat 9000000 -calls calls
seed_disk
"$VDISK" cat "$(U)" > out 2>err; rc=$?
check "a parallel ranged GET dropped mid-transfer is an error (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc != 0 && grep -q 'failed after' err && ! cmp -s out local.raw"
check "  ... named once, with the GET's own message ($(head -c 300 err | tail -c 120))" \
  sh -c "grep -q 'read of bytes [0-9]*-[0-9]* failed' err && ! grep -q 'peer: Connection reset by peer' err"
check "what was written before that GET dropped is correct data" \
  sh -c "test \$(stat -c %s out) -gt 4194304 && test \$(stat -c %s out) -le 9000000 && cmp -n \$(stat -c %s out) out local.raw"
n=$(grep -c 'GET ha-host_VM0/disk1-flat.vmdk' calls)
check "the read-ahead used several GETs of the extent ($n)" test "$n" -ge 4
stop_vcsim
# a server that honours Range at first, then answers 200 with the whole
# file to a read-ahead GET: refused at its first byte, not downloaded
# (GETs 1-6: the descriptor's probe and read, the extent's probe, the
# cache's 1, 2 and 4 MiB blocks; the 7th is one of the read-ahead's)
start_vcsim -norangeafter 6
seed_disk
"$VDISK" cat "$(U)" > out 2>err; rc=$?
check "a server that stops honouring Range mid-read is refused (exit $rc: $(head -c 200 err))" \
  sh -c "test $rc != 0 && grep -q 'ignores Range' err && ! cmp -s out local.raw"
check "what was written before is correct data" \
  sh -c "test \$(stat -c %s out) -ge 3145728 && cmp -n \$(stat -c %s out) out local.raw"
stop_vcsim
# a healthy server: the parallel read-ahead gives the same bytes
start_vcsim
seed_disk
"$VDISK" cat "$(U)" > out 2>err; rc=$?
check "control: the whole disk read with the parallel read-ahead is correct (exit $rc)" \
  sh -c "test $rc = 0 && cmp out local.raw"
stop_vcsim

# ---- an expired session is logged in again ---------------------------------
if [ -x "$RELOGIN" ]; then
  start_vcsim -idle 1
  VDISK_VSPHERE_INSECURE=1 "$RELOGIN" "root@$VCSIM_HOST" 3 > out 2>err; rc=$?
  check "after the session expired (idle 3 s > 1 s), the inventory logs in again (exit $rc: $(cat err))" \
    sh -c "test $rc = 0 && grep -q '^2 VMs' out"
  stop_vcsim
else
  not_ok "tests/helpers/vsphere-relogin was not built"
fi
done_testing
