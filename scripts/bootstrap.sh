#!/bin/sh
# Install every Debian package vdisk's build, tests and demo need, when
# missing.  Idempotent: a second run installs nothing and prints nothing.
set -eu

PKGS="build-essential pkg-config perl python3
zlib1g-dev libdeflate-dev libisal-dev time
qemu-utils p7zip-full 7zip libvmdk-utils python3-libvmdk
clang libclang-rt-14-dev valgrind
libclamav-dev clamav libjson-c-dev
nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin gnutls-bin nettle-dev
libfuse3-dev fuse3 fuse2fs ntfs-3g e2fsprogs libext2fs-dev fdisk util-linux
libcurl4-openssl-dev libxml2-dev libssl-dev curl golang-go golang-github-vmware-govmomi-dev
python3-yaml strace
libsqlite3-dev sqlite3 openssl"
# Intel's multi-buffer SHA-256 for backup hashing: amd64 only (elsewhere
# the same digests come from OpenSSL)
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] && PKGS="$PKGS libipsec-mb-dev"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "bootstrap: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bootstrap: need root (or sudo) to install:$missing" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list finds nothing: refresh it once.
$SUDO apt-get update -qq >&2 || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
