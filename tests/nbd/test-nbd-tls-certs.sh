#!/bin/bash
# vdisk serve --tls-certificates: the client's certificate is its login.
# A client without a certificate signed by the server's CA is refused (it
# was accepted, with read-write access to every disk, before
# --tls-verify-peer was passed); --tls-no-verify-peer says so and accepts.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy openssl python3 timeout
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
cd "$WORK"
mkdir -p ds srv cli other
"$VDISK" create -s 1M ds/d.vmdk >/dev/null

# a CA, a server certificate and a client certificate; a second CA's
# client certificate
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() {  # ca DIR
  key "$1/ca-key.pem"
  openssl req -x509 -new -key "$1/ca-key.pem" -subj "/CN=test ca $1" -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -out "$1/ca-cert.pem" 2>/dev/null
}
cert() {  # cert CADIR NAME USAGE OUTPREFIX
  key "$4-key.pem"
  openssl req -new -key "$4-key.pem" -subj "/CN=$2" -out "$4.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=%s\n' "$3" > ext.cnf
  openssl x509 -req -in "$4.csr" -CA "$1/ca-cert.pem" -CAkey "$1/ca-key.pem" \
    -CAcreateserial -days 2 -extfile ext.cnf -out "$4-cert.pem" 2>/dev/null
}
ca srv; ca other
cert srv localhost serverAuth srv/server
cert srv alice clientAuth cli/client
cp srv/ca-cert.pem cli/
mkdir -p bad nocert
cert other mallory clientAuth bad/client
cp srv/ca-cert.pem bad/ ; cp srv/ca-cert.pem nocert/
rm -f srv/ca-key.pem
check "certificates made" test -s cli/client-cert.pem -a -s srv/server-cert.pem

S=$WORK/sock
serve() {  # serve LOG ARGS...
  local log=$1; shift
  rm -f "$S" pid
  start_server pidfile pid "$VDISK" serve --unix "$S" --pidfile pid "$@" ds 2>"$log" && return 0
  sed 's/^/# /' "$log"; return 1
}
stop() { stop_server; rm -f pid; }
u() { echo "nbds+unix:///d.vmdk?socket=$S&tls-certificates=$WORK/$1&tls-verify-peer=false"; }

check "vdisk serve --tls-certificates starts" serve serve.log --tls-certificates srv
check "a client with a certificate of the server's CA reads the disk" \
  bash -c "timeout 20 nbdcopy '$(u cli)' - | cmp -s - <('$VDISK' cat ds/d.vmdk)"
check "a client without a certificate is refused" \
  bash -c "! timeout 20 nbdinfo '$(u nocert)' >/dev/null 2>&1"
check "a client with another CA's certificate is refused" \
  bash -c "! timeout 20 nbdinfo '$(u bad)' >/dev/null 2>&1"
stop
check "--tls-no-verify-peer starts" serve serve2.log --tls-certificates srv --tls-no-verify-peer
check "it warns that any client is accepted" grep -q "any client" serve2.log
check "then a client without a certificate is accepted" \
  bash -c "timeout 20 nbdinfo '$(u nocert)' >/dev/null 2>&1"
stop
check "--tls-no-verify-peer without certificates is a usage error" \
  bash -c "! '$VDISK' serve --tls-no-verify-peer --unix '$S' ds 2>/dev/null"
done_testing
