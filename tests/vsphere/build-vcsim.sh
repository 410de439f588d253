#!/bin/bash
# Build the vSphere simulator the vsphere tests talk to (tests/vsphere/vcsim/
# main.go, on govmomi's simulator package from Debian's
# golang-github-vmware-govmomi-dev), offline, into build/vcsim/vdisk-vcsim
# (one copy for every build folder: it does not depend on the C build).
# The binary is cached: it is rebuilt only when main.go changes (about 90 s
# otherwise).  Prints the binary's path; exit 77 when Go or govmomi is
# missing (the tests then skip).
#   usage: tests/vsphere/build-vcsim.sh   (VCSIM_CACHE=DIR to put it elsewhere)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${VCSIM_CACHE:-$top/build/vcsim}
src="$top/tests/vsphere/vcsim/main.go"
out="$build/vdisk-vcsim"
gopath=/usr/share/gocode
command -v go >/dev/null 2>&1 || { echo "build-vcsim: go missing (golang-go)" >&2; exit 77; }
[ -d "$gopath/src/github.com/vmware/govmomi/simulator" ] ||
  { echo "build-vcsim: govmomi missing (golang-github-vmware-govmomi-dev)" >&2; exit 77; }
mkdir -p "$build"
sum=$(cat "$src" | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ "$(cat "$out.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$out"; exit 0
fi
# One build at a time (parallel test runs share the cache).
exec 9>"$build/.build.lock"
flock 9
if [ -x "$out" ] && [ "$(cat "$out.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$out"; exit 0
fi
echo "build-vcsim: building $out (about 90 s)" >&2
cd "$top"
GO111MODULE=off GOPATH=$gopath GOFLAGS= GOCACHE="$build/gocache" \
  nice go build -o "$out.tmp" ./tests/vsphere/vcsim >&2
mv "$out.tmp" "$out"
echo "$sum" > "$out.sum"
echo "$out"
