#!/bin/bash
# Build the vSphere simulator the vsphere tests talk to (tests/vsphere/vcsim/
# main.go, on govmomi's simulator package from Debian's
# golang-github-vmware-govmomi-dev), offline, into BUILD/vsphere/vdisk-vcsim.
# The binary is cached: it is rebuilt only when main.go changes (about 90 s
# otherwise).  Prints the binary's path; exit 77 when Go or govmomi is
# missing (the tests then skip).
#   usage: tests/vsphere/build-vcsim.sh [BUILD]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${VDISK_BUILD:-build/check}}
case "$build" in /*) ;; *) build="$top/$build";; esac
src="$top/tests/vsphere/vcsim/main.go"
out="$build/vsphere/vdisk-vcsim"
gopath=/usr/share/gocode
command -v go >/dev/null 2>&1 || { echo "build-vcsim: go missing (golang-go)" >&2; exit 77; }
[ -d "$gopath/src/github.com/vmware/govmomi/simulator" ] ||
  { echo "build-vcsim: govmomi missing (golang-github-vmware-govmomi-dev)" >&2; exit 77; }
mkdir -p "$build/vsphere"
sum=$(cat "$src" | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ "$(cat "$out.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$out"; exit 0
fi
# One build at a time (parallel test runs share the cache).
exec 9>"$build/vsphere/.build.lock"
flock 9
if [ -x "$out" ] && [ "$(cat "$out.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$out"; exit 0
fi
echo "build-vcsim: building $out (about 90 s)" >&2
cd "$top"
GO111MODULE=off GOPATH=$gopath GOFLAGS= GOCACHE="$build/vsphere/gocache" \
  nice go build -o "$out.tmp" ./tests/vsphere/vcsim >&2
mv "$out.tmp" "$out"
echo "$sum" > "$out.sum"
echo "$out"
