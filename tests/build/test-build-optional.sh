#!/bin/bash
# The files whose code depends on an optional library (mk/config.mk) also
# compile without it, warning-free: each is compiled (syntax only, with
# the build's warnings as errors) with that library's VD_HAVE_* macro
# unset.  `make check-nonbd` links a whole build without libnbd; this
# catches the same breakage in seconds, in every `make check`.
. "$(dirname "$0")/../functions.sh"
requires "${CC:-cc}"
cc=${CC:-cc}
cd "$VDISK_TOP"
flags="-std=gnu11 -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Iinclude -Ilib -pthread \
  -Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wno-format-nonliteral -Werror -fsyntax-only"
inc_json=$(pkg-config --cflags json-c 2>/dev/null)
# without libnbd: the client is a stub
check "io-nbd.c compiles without libnbd" $cc $flags lib/io/io-nbd.c
check "io-nbd.c compiles without libnbd and nettle" $cc $flags -UVD_HAVE_NETTLE lib/io/io-nbd.c
# without libipsec-mb (and without libcrypto): the same digests, one leaf at a time
check "hash.c compiles without libipsec-mb" \
  $cc $flags $inc_json -DVD_HAVE_JSONC -DVD_HAVE_NETTLE -DVD_HAVE_LIBCRYPTO lib/backup/hash.c
check "hash.c compiles with nettle alone" \
  $cc $flags $inc_json -DVD_HAVE_JSONC -DVD_HAVE_NETTLE lib/backup/hash.c
# and with everything, as the build has it (the check can fail)
check "io-nbd.c compiles with libnbd" $cc $flags -DVD_HAVE_LIBNBD -DVD_HAVE_NETTLE lib/io/io-nbd.c
done_testing
