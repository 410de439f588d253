#!/bin/bash
# vdisk serve (nbdkit + the vdisk plugin) with TLS-PSK on a Unix socket:
# listing, reads of every layout and a chain by nbdcopy and qemu-img
# (compared with local reads), map vs vdisk map, writes, refused logins
# and export names, quotas, clone local -> remote (vdisk upload and
# VixDiskLib_Clone) checked by vdisk check and qemu-img.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy qemu-img python3 timeout
# nbdkit is not built with ASan: serve with an uninstrumented plugin.
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
VIXHELPER="$VDISK_TOP/$VDISK_BUILD/tests/nbd-vix-remote"
cd "$WORK"
mkdir -p ds/vm ds/up outside pskdir

# ---- the datastore: every layout, a chain ----
M=$((1<<20))
pattern d1.bin 100000 1; pattern d2.bin 50000 2; pattern d3.bin 4096 3
fill() {  # fill DISK: data at 0, 3M+123, and the last 4 KiB
  "$VDISK" write -o 0 -f d1.bin "$1" && "$VDISK" write -o $((3*M+123)) -f d2.bin "$1" \
    && "$VDISK" write -o $((8*M-4096)) -f d3.bin "$1"
}
layouts="monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat vmfs vmfsThin"
for t in $layouts; do
  "$VDISK" create -t $t -s 8M ds/vm/$t.vmdk >/dev/null && fill ds/vm/$t.vmdk || echo "# could not make $t"
done
"$VDISK" convert -t streamOptimized ds/vm/monolithicSparse.vmdk ds/vm/stream.vmdk >/dev/null
"$VDISK" create -s 8M "ds/chain base.vmdk" >/dev/null && fill "ds/chain base.vmdk"
"$VDISK" child "ds/chain base.vmdk" ds/chain-top.vmdk >/dev/null
"$VDISK" write -o $((5*M)) -f d2.bin ds/chain-top.vmdk
disks="vm/monolithicSparse.vmdk vm/monolithicFlat.vmdk vm/twoGbMaxExtentSparse.vmdk vm/twoGbMaxExtentFlat.vmdk vm/vmfs.vmdk vm/vmfsThin.vmdk vm/stream.vmdk chain-top.vmdk"
cp ds/vm/monolithicSparse.vmdk outside/o.vmdk
ln -s ../outside/o.vmdk ds/evil.vmdk
ln -s "$WORK/outside" ds/evildir

# ---- users ----
echo secret | "$VDISK" user add --password-stdin users.psk alice
check "vdisk user list names the user" bash -c "'$VDISK' user list users.psk | grep -qx alice"
check "a second add of the same user is refused" bash -c "! echo x | '$VDISK' user add --password-stdin users.psk alice 2>/dev/null"
key=$(python3 -c "import hashlib;print(hashlib.pbkdf2_hmac('sha256',b'secret',b'vdisk-nbd-psk:alice',100000,32).hex())")
check "the stored key is PBKDF2-HMAC-SHA256 (python hashlib)" grep -qx "alice:$key" users.psk
cp users.psk pskdir/keys.psk     # for qemu's tls-creds-psk (dir=, keys.psk)
echo "alice:$(printf '%064d' 7)" > wrong.psk
echo "mallory:$key" > unknown.psk

S=$WORK/sock
declare -A served   # PIDFILE -> the server's pid (tests/functions.sh)
serve_vdisk() {  # serve_vdisk SOCKET PIDFILE LOG ARGS...
  local sock=$1 pid=$2 log=$3; shift 3
  rm -f "$sock" "$pid"
  start_server pidfile "$pid" "$VDISK" serve --unix "$sock" --pidfile "$pid" "$@" 2>"$log" &&
    { served[$pid]=$SERVER_PID; return 0; }
  echo "# server did not start:"; sed 's/^/# /' "$log"; return 1
}
stop_vdisk() { stop_server "${served[$1]:-none}"; }
check "vdisk serve --tls-psk starts" serve_vdisk "$S" pid serve.log --tls-psk users.psk ds
Q="socket=$S&tls-psk-file=$WORK/users.psk"
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?"+sys.argv[2])' "$1" "$Q"; }

timeout 20 nbdinfo --list "nbds+unix://alice@/?$Q" > list.txt 2>&1
for d in $disks "chain base.vmdk"; do
  check "nbdinfo --list lists $d" grep -qF "export=\"$d\"" list.txt
done
check "nbdinfo --list does not list extent files" bash -c "! grep -q -- '-flat.vmdk\|-s001.vmdk\|-f001.vmdk' list.txt"
check "nbdinfo --list does not list symlinks" bash -c "! grep -q evil list.txt"

# ---- reads: nbdcopy and qemu-img against local reads ----
QOBJ="tls-creds-psk,id=tls0,endpoint=client,dir=$WORK/pskdir,username=alice"
for d in $disks; do
  "$VDISK" cat "ds/$d" > local.raw
  rm -f n.raw q.raw
  timeout 30 nbdcopy "$(uri "$d")" n.raw 2>err.txt
  check "nbdcopy reads $d identical to vdisk cat" cmp -s local.raw n.raw
  e=${d//,/,,}
  timeout 30 qemu-img convert --object "$QOBJ" --image-opts \
    "driver=nbd,server.type=unix,server.path=$S,export=$e,tls-creds=tls0" -O raw q.raw 2>err.txt
  check "qemu-img (tls-creds-psk) reads $d identical" cmp -s local.raw q.raw
done
"$VDISK" cat ds/vm/monolithicSparse.vmdk > local.raw
check "the '[datastore] path' export form reads the disk" \
  bash -c "timeout 20 nbdcopy '$(uri "[ds] vm/monolithicSparse.vmdk")' - | cmp -s - local.raw"

# ---- map: nbdinfo --map (server) vs vdisk map (local) and vdisk map URI ----
DATAMAP="$VDISK_TOP/tests/helpers/datamap.py"
for d in vm/monolithicSparse.vmdk vm/vmfsThin.vmdk chain-top.vmdk; do
  "$VDISK" map --json "ds/$d" > m1.json
  timeout 20 nbdinfo --map --json "$(uri "$d")" > m2.json 2>err.txt
  check "nbdinfo --map agrees with vdisk map ($d)" \
    bash -c "[ \"\$(python3 $DATAMAP m1.json)\" = \"\$(python3 $DATAMAP m2.json)\" ]"
done
export VDISK_NBD_USER=alice VDISK_NBD_PASSWORD=secret
SU() { echo "nbds+unix:///$1?socket=$S"; }
"$VDISK" map --json "$(SU vm/monolithicSparse.vmdk)" > m3.json 2>err.txt
"$VDISK" map --json ds/vm/monolithicSparse.vmdk > m1.json
check "vdisk map of a URI shows the holes (password login)" \
  bash -c "[ \"\$(python3 $DATAMAP m1.json)\" = \"\$(python3 $DATAMAP m3.json)\" ] && grep -q hole m3.json"
check "vdisk cat of a URI equals the local read" \
  bash -c "'$VDISK' cat '$(SU vm/monolithicSparse.vmdk)' | cmp -s - local.raw"

# ---- writes ----
pattern w.bin $((1*M)) 9
check "nbdcopy writes into a served disk" timeout 30 nbdcopy w.bin "$(uri vm/monolithicSparse.vmdk)"
check "the write reads back over NBD" \
  bash -c "timeout 20 nbdcopy '$(uri vm/monolithicSparse.vmdk)' - | head -c $M | cmp -s - w.bin"
# hold a connection open (a slow reader) while a local writer tries
( timeout 20 "$VDISK" cat "$(SU vm/vmfs.vmdk)" | (sleep 3; cat >/dev/null) ) &
sleep 1.5
check "a second writer (local) is refused while a client is connected" \
  bash -c "! '$VDISK' write -o 0 -f d3.bin ds/vm/vmfs.vmdk 2>/dev/null"
wait $!

# ---- refused logins and names ----
check "a wrong key is refused" bash -c "! timeout 20 nbdinfo 'nbds+unix://alice@/vm/vmfs.vmdk?socket=$S&tls-psk-file=$WORK/wrong.psk' 2>/dev/null"
check "an unknown user is refused" bash -c "! timeout 20 nbdinfo 'nbds+unix://mallory@/vm/vmfs.vmdk?socket=$S&tls-psk-file=$WORK/unknown.psk' 2>/dev/null"
check "a plaintext client is refused" bash -c "! timeout 20 nbdinfo 'nbd+unix:///vm/vmfs.vmdk?socket=$S' 2>/dev/null"
check "a wrong password (vdisk client) is refused with a clear message" \
  bash -c "! VDISK_NBD_PASSWORD=nope '$VDISK' info '$(SU vm/vmfs.vmdk)' 2>e.txt && grep -q 'wrong user name or key' e.txt"
for e in "../outside/o.vmdk" "/etc/passwd.vmdk" "$WORK/outside/o.vmdk" "vm/../vm/vmfs.vmdk" "evil.vmdk" "evildir/o.vmdk" "vm/a;b.vmdk" "create:thin:2097152:vm/vmfs.vmdk" "create:thin:2097152:evildir/new.vmdk" "create:thin:2097152:../new.vmdk"; do
  check "export '$e' is refused" bash -c "! timeout 20 nbdinfo '$(uri "$e")' >/dev/null 2>&1"
done
check "the server log says why ('..')" grep -q "'..' is not allowed" serve.log
check "the server log says why (absolute)" grep -q "absolute paths are not allowed" serve.log
check "the server log says why (symlink)" grep -q "symbolic link" serve.log
check "the server log says why (exists)" grep -q "already exists" serve.log
check "nothing was created through the symlinked folder" test ! -e outside/new.vmdk

# ---- clone local -> remote: vdisk upload ----
"$VDISK" create -s 8M src.vmdk >/dev/null && fill src.vmdk
check "vdisk upload clones a local disk onto the server" "$VDISK" upload src.vmdk "$(SU up/new.vmdk)"
check "vdisk upload onto an existing name is refused" bash -c "! '$VDISK' upload src.vmdk '$(SU up/new.vmdk)' 2>/dev/null"
"$VDISK" cat src.vmdk > src.raw
check "the uploaded disk reads back identical over NBD" \
  bash -c "timeout 20 nbdcopy '$(uri up/new.vmdk)' - | cmp -s - src.raw"
if [ -x "$VIXHELPER" ]; then
  timeout 60 "$VIXHELPER" "unix:$S" alice secret "$WORK/src.vmdk" "[ds] up/vix.vmdk" > vix.txt 2>&1
  while read -r st what; do
    case $st in PASS) ok "VixDiskLib: $what";; FAIL) not_ok "VixDiskLib: $what";; esac
  done < vix.txt
  grep -q "PASS Close remote" vix.txt || { not_ok "VixDiskLib helper ran to the end"; sed 's/^/# /' vix.txt; }
else
  echo "# no $VIXHELPER: VixDiskLib remote checks skipped"
fi
check "vdisk serve stops" stop_vdisk pid

# ---- the uploaded disks, checked locally ----
check "the uploaded disk reads identical locally" bash -c "'$VDISK' cat ds/up/new.vmdk | cmp -s - src.raw"
check "the uploaded disk passes vdisk check" "$VDISK" check ds/up/new.vmdk
check "the uploaded disk passes qemu-img check" qemu-img check -q ds/up/new.vmdk
check "qemu-img compare: uploaded == source" qemu-img compare -q src.vmdk ds/up/new.vmdk
check "the uploaded disk is thin (ddb.thinProvisioned)" grep -q 'ddb.thinProvisioned = "1"' ds/up/new.vmdk
check "the uploaded disk is not marked incomplete" bash -c "! grep -q incomplete ds/up/new.vmdk"
alloc=$(du -B1 ds/up/new-flat.vmdk | cut -f1)
check "the uploaded disk holds only its data ($alloc bytes on disk)" test "$alloc" -lt $((4*M))
if [ -x "$VIXHELPER" ]; then
  check "the VixDiskLib clone passes vdisk check" "$VDISK" check ds/up/vix.vmdk
  check "the VixDiskLib clone is thin" grep -q 'ddb.thinProvisioned = "1"' ds/up/vix.vmdk
fi
check "the served write landed (vdisk cat)" bash -c "'$VDISK' cat ds/vm/monolithicSparse.vmdk | head -c $M | cmp -s - w.bin"
check "the written disk passes vdisk check" "$VDISK" check ds/vm/monolithicSparse.vmdk

# ---- quotas ----
S=$WORK/sock2
Q="socket=$S&tls-psk-file=$WORK/users.psk"
# a small datastore of its own: one disk, room for one more
mkdir -p ds2
"$VDISK" create -s 1M ds2/one.vmdk >/dev/null
check "vdisk serve with quotas starts" serve_vdisk "$S" pid2 serve2.log --tls-psk users.psk \
  --quota-capacity 16M --quota-disks 2 ds2
check "create over the capacity quota is refused" \
  bash -c "! timeout 20 nbdinfo '$(uri create:thin:$((32*M)):big.vmdk)' >/dev/null 2>&1"
check "the server log names the capacity quota" grep -q "refused by quota" serve2.log
check "create within the quotas works" timeout 20 nbdinfo "$(uri create:thin:$((8*M)):q1.vmdk)"
check "create over the disk-count quota is refused" \
  bash -c "! timeout 20 nbdinfo '$(uri create:thin:$((8*M)):q2.vmdk)' >/dev/null 2>&1"
check "nothing was made by refused creates" bash -c "test ! -e ds/big.vmdk && test ! -e ds/q2.vmdk"
stop_vdisk pid2
[ "$_tap_failed" = 0 ] || sed "s/^/# /" serve2.log | grep -v debug | tail -5
done_testing
