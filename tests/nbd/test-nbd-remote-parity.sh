#!/bin/bash
# Remote parity with a `vdisk serve` datastore (nbdkit + the vdisk plugin,
# TLS-PSK on a Unix socket): a clone onto the server keeps the source's
# adapter and geometry and is a vmfs disk over a thin flat file; remote
# GetInfo and metadata (meta:, meta-set:) work from the server; refusals
# say what they are (status:); PrepareForAccess/EndAccess with a server.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy qemu-img python3 timeout du stat
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
PARITY="$VDISK_TOP/$VDISK_BUILD/tests/nbd-vix-parity"
cd "$WORK"
mkdir -p ds/up ds/vm outside
M=$((1<<20))

# ---- the source: buslogic, a geometry vdisk would not compute, BIOS keys
"$VDISK" create -t monolithicFlat -a buslogic -s 8M src.vmdk >/dev/null
pattern d1.bin 100000 1; pattern d2.bin 50000 2
"$VDISK" write -o 0 -f d1.bin src.vmdk && "$VDISK" write -o $((5*M+7)) -f d2.bin src.vmdk
sed -i -e 's/^ddb.geometry.cylinders = .*/ddb.geometry.cylinders = "32"/' \
       -e 's/^ddb.geometry.heads = .*/ddb.geometry.heads = "8"/' \
       -e 's/^ddb.geometry.sectors = .*/ddb.geometry.sectors = "63"/' src.vmdk
printf 'ddb.geometry.biosCylinders = "8"\nddb.geometry.biosHeads = "64"\nddb.geometry.biosSectors = "32"\n' >> src.vmdk
check "the source has the test's adapter and geometry" \
  bash -c "'$VDISK' info src.vmdk | grep -q buslogic && '$VDISK' info src.vmdk | grep -q '32/8/63'"
"$VDISK" create -s 32M big.vmdk >/dev/null
"$VDISK" create -s 4M ds/vm/base.vmdk >/dev/null
"$VDISK" child ds/vm/base.vmdk ds/vm/base-child.vmdk >/dev/null
"$VDISK" create -s 4M ds/vm/plain.vmdk >/dev/null
cp ds/vm/plain.vmdk outside/o.vmdk
ln -s ../outside/o.vmdk ds/evil.vmdk
echo "not a disk" > ds/vm/notes.txt
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 100 FLAT "missing-flat.vmdk" 0\n' > ds/vm/bad.vmdk

echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
rm -f "$S" pid
start_server pidfile pid "$VDISK" serve --unix "$S" --pidfile pid --tls-psk users.psk \
  --quota-capacity 16M ds 2>serve.log
check "vdisk serve starts" test -s pid
Q="socket=$S&tls-psk-file=$WORK/users.psk"
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?"+sys.argv[2])' "$1" "$Q"; }
export VDISK_NBD_USER=alice VDISK_NBD_PASSWORD=secret
SU() { echo "nbds+unix:///$1?socket=$S"; }
settle() {  # the server finishes a closed upload after the client left
  for _ in $(seq 50); do grep -q incomplete "$1" 2>/dev/null || return 0; sleep 0.1; done
}

# is_vmfs_thin DESCRIPTOR FLAT: vmfs descriptor over a thin -flat.vmdk
vmfs_checks() {
  local d=$1 name=$2 flat=${1%.vmdk}-flat.vmdk
  check "$name: createType vmfs" grep -qx 'createType="vmfs"' "$d"
  check "$name: one VMFS extent, its -flat.vmdk" grep -qx "RW 16384 VMFS \"$(basename "$flat")\"" "$d"
  check "$name: thin (ddb.thinProvisioned)" grep -qx 'ddb.thinProvisioned = "1"' "$d"
  check "$name: the source's adapter" grep -qx 'ddb.adapterType = "buslogic"' "$d"
  check "$name: the source's geometry" bash -c "grep -qx 'ddb.geometry.cylinders = \"32\"' '$d' && grep -qx 'ddb.geometry.heads = \"8\"' '$d' && grep -qx 'ddb.geometry.sectors = \"63\"' '$d'"
  check "$name: the source's BIOS geometry" bash -c "grep -qx 'ddb.geometry.biosCylinders = \"8\"' '$d' && grep -qx 'ddb.geometry.biosHeads = \"64\"' '$d' && grep -qx 'ddb.geometry.biosSectors = \"32\"' '$d'"
  check "$name: not marked incomplete" bash -c "! grep -q incomplete '$d'"
  local blocks size
  blocks=$(stat -c %b "$flat" 2>/dev/null || echo 0)
  size=$(stat -c %s "$flat" 2>/dev/null || echo 0)
  check "$name: the flat file is $((8*M)) bytes, $((blocks*512)) allocated (thin)" \
    bash -c "[ '$size' = $((8*M)) ] && [ $((blocks*512)) -lt $((2*M)) ] && [ \$(du -B1 '$flat' | cut -f1) -lt $((2*M)) ]"
  check "$name: qemu-img compare with the source" qemu-img compare -q src.vmdk "$d"
}

# ---- vdisk convert onto the server (no --type) ----
check "vdisk convert onto the server" "$VDISK" convert src.vmdk "$(SU up/cli.vmdk)"
settle ds/up/cli.vmdk
vmfs_checks ds/up/cli.vmdk "vdisk convert"

# ---- VixDiskLib ----
if [ -x "$PARITY" ]; then
  timeout 120 "$PARITY" "unix:$S" alice secret "$WORK/src.vmdk" "$WORK/big.vmdk" > vix.txt 2>&1
  while read -r st what; do
    case $st in PASS) ok "VixDiskLib: $what";; FAIL) not_ok "VixDiskLib: $what";; esac
  done < vix.txt
  grep -q "^PASS done" vix.txt || { not_ok "VixDiskLib helper ran to the end"; sed 's/^/# /' vix.txt; }
  grep '^#' vix.txt
  settle ds/up/vix.vmdk
  vmfs_checks ds/up/vix.vmdk "VixDiskLib_Clone"
  check "WriteMetadata landed in the server's descriptor" \
    grep -qx 'ddb.vdiskTest.note = "remote: value 1"' ds/up/vix.vmdk
  check "nothing made by the refused clones" \
    bash -c "test ! -e ds/nofolder && test ! -e ds/up/big.vmdk && test ! -e ds/up/big-flat.vmdk"
else
  not_ok "the VixDiskLib parity helper was built ($PARITY)"
fi

# ---- the native API over NBD ----
"$VDISK" info "$(SU up/cli.vmdk)" > info.txt 2>&1
check "vdisk info URI: the adapter from the server" grep -q 'adapter: *buslogic' info.txt
check "vdisk info URI: the geometry from the server" grep -q '32/8/63' info.txt
check "vdisk meta URI KEY VALUE sets the key on the server" \
  "$VDISK" meta "$(SU up/cli.vmdk)" ddb.myTool.stamp "2026-12-01 09:00"
check "the key is in the server's descriptor" grep -qx 'ddb.myTool.stamp = "2026-12-01 09:00"' ds/up/cli.vmdk
check "vdisk meta URI lists it" bash -c "'$VDISK' meta '$(SU up/cli.vmdk)' | grep -q 'myTool.stamp'"
check "vdisk meta URI KEY (no value) reads it" \
  bash -c "[ \"\$('$VDISK' meta '$(SU up/cli.vmdk)' ddb.myTool.stamp)\" = '2026-12-01 09:00' ]"

# ---- refusals from the CLI say what they are ----
refused() {  # refused WHAT NEEDLE CMD...: fails, names NEEDLE, no login/TLS blame
  local what=$1 needle=$2; shift 2
  "$@" >/dev/null 2>err.txt && { not_ok "$what (it succeeded)"; return; }
  if grep -q -- "$needle" err.txt && ! grep -qi 'TLS refused\|login refused\|wrong user' err.txt; then
    ok "$what"
  else
    not_ok "$what"; sed 's/^/# /' err.txt
  fi
}
refused "upload onto an existing name: 'already exists'" "already exists" \
  "$VDISK" upload src.vmdk "$(SU up/cli.vmdk)"
refused "upload into a missing folder: 'folder does not exist'" "folder does not exist" \
  "$VDISK" upload src.vmdk "$(SU nofolder/x.vmdk)"
refused "upload over the capacity quota: 'quota'" "refused by quota" \
  "$VDISK" upload big.vmdk "$(SU up/big.vmdk)"
refused "a missing remote disk: 'No such file'" "No such file" \
  "$VDISK" info "$(SU up/missing.vmdk)"
refused "a server key cannot be set: 'kept by the server'" "kept by the server" \
  "$VDISK" meta "$(SU up/cli.vmdk)" ddb.vdisk.incomplete 1
check "a wrong password is still a refused login" \
  bash -c "! VDISK_NBD_PASSWORD=nope '$VDISK' info '$(SU up/cli.vmdk)' 2>e.txt && grep -q 'wrong user name or key' e.txt"

# ---- the reserved exports keep the disk rules ----
read_export() { rm -f out.txt; timeout 20 nbdcopy "$(uri "$1")" out.txt 2>/dev/null; }
check "meta:PATH serves the ddb of a disk" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export meta:up/cli.vmdk && head -1 out.txt | grep -qx '# vdisk-meta 1' && grep -qx 'ddb.adapterType = \"buslogic\"' out.txt"
check "meta:PATH holds nothing but ddb lines" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export meta:up/cli.vmdk && ! grep -v '^# vdisk-meta 1\$' out.txt | grep -v '^ddb\.[A-Za-z0-9._-]* = \"[^\"]*\"\$'"
for e in "meta:../outside/o.vmdk" "meta:evil.vmdk" "meta:vm/notes.txt" "meta:/etc/passwd" \
         "meta-set:ddb.x=1:evil.vmdk" "meta-set:ddb.x=1:../outside/o.vmdk"; do
  check "export '$e' is refused" bash -c "! timeout 20 nbdinfo '$(uri "$e")' >/dev/null 2>&1"
done
check "nothing was written outside the datastore" bash -c "! grep -q 'ddb.x' outside/o.vmdk"
check "meta-set: on a disk with a child (served read-only) is refused" \
  bash -c "! timeout 20 nbdinfo '$(uri "meta-set:ddb.x=1:vm/base.vmdk")' >/dev/null 2>&1"
check "status: names the read-only refusal" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export 'status:meta-set:ddb.x=1:vm/base.vmdk' && grep -q '^EROFS .*read-only' out.txt"
check "the parent was not changed" bash -c "! grep -q 'ddb.x' ds/vm/base.vmdk"
check "status: of the symlink refusal" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export 'status:meta:evil.vmdk' && grep -q 'symbolic link' out.txt"
timeout 20 nbdinfo "$(uri vm/bad.vmdk)" >/dev/null 2>&1
check "status: names the broken disk's missing extent, without the server's folder" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export 'status:vm/bad.vmdk' && grep -q 'vm/missing-flat.vmdk' out.txt && ! grep -q '$WORK' out.txt"
check "status: of an export never refused says so" \
  bash -c "$(declare -f read_export uri); Q='$Q'; read_export 'status:vm/plain.vmdk' && grep -q '^OK ' out.txt"
check "meta: exports are not listed" \
  bash -c "timeout 20 nbdinfo --list 'nbds+unix://alice@/?$Q' | grep -q 'export=\"vm/plain.vmdk\"' && ! timeout 20 nbdinfo --list 'nbds+unix://alice@/?$Q' | grep -q 'meta:\|status:'"

stop_server

# ---- a hostile server's meta: text adds nothing but ddb keys ----
H=$WORK/hsock
T=$(printf '# vdisk-meta 1\nparentFileNameHint="/etc/passwd"\nRW 100 FLAT "/etc/passwd" 0\nddb.adapterType = "ide"\nddb.bad = "x"y"\nddb.geometry.heads = "7"\n')
start_server pidfile "$WORK/hpid" nbdkit -f -U "$H" -P "$WORK/hpid" data raw="$T" 2>hostile.log
"$VDISK" info "nbd+unix:///any?socket=$H" > hinfo.txt 2>&1
"$VDISK" meta "nbd+unix:///any?socket=$H" > hmeta.txt 2>&1
stop_server
check "hostile meta: the well-formed ddb keys are taken" \
  bash -c "grep -q 'adapter: *ide' hinfo.txt && grep -qx 'ddb.geometry.heads = \"7\"' hmeta.txt"
check "hostile meta: no parent, no extra extent, no malformed key" \
  bash -c "grep -q 'links in chain: *1' hinfo.txt && ! grep -q passwd hinfo.txt && ! grep -q 'ddb.bad' hmeta.txt && [ \$(grep -c '^ddb' hmeta.txt) = 2 ]"

check "the datastore's disks pass vdisk check" bash -c "'$VDISK' check ds/up/cli.vmdk >/dev/null && { test ! -e ds/up/vix.vmdk || '$VDISK' check ds/up/vix.vmdk >/dev/null; }"
[ "$_tap_failed" = 0 ] || { echo "# server log:"; grep -v debug serve.log | tail -20 | sed 's/^/# /'; }
done_testing
