#!/bin/bash
# Install: `make install PREFIX=...` into a scratch prefix gives a working
# vdisk binary, a pkg-config file with which a small C program builds against
# the installed header and library, and a man page that renders.
#
# The install builds from a copy of the already built release tree (cp -a
# keeps the timestamps, so make only links and copies), which leaves the
# shared build folder alone.
source "$(dirname "$0")/../functions.sh"
requires make cc pkg-config qemu-img
TOP=$VDISK_TOP
REL=${VDISK_RELEASE:-build/release}
case $REL in /*) ;; *) REL=$TOP/$REL;; esac
[ -f "$REL/lib/libvdisk.a" ] || { echo "# skip: no release build in $REL"; exit 77; }

OBJ=$WORK/obj; INST=$WORK/inst
cp -a "$REL" "$OBJ"
have_docs=1
if [ ! -f "$TOP/docs/vdisk.pod" ] || [ ! -f "$TOP/docs/libvdisk.pod" ]; then
  # make install needs the man pages; until docs/ exists, stand-ins let the
  # rest of the install be tested (and the man check is skipped)
  have_docs=0
  echo "# docs/vdisk.pod or docs/libvdisk.pod missing: man pages stubbed, man check skipped"
  mkdir -p "$OBJ/man"
  printf '.TH VDISK 1\n.SH NAME\nvdisk \\- stand-in\n' > "$OBJ/man/vdisk.1"
  printf '.TH LIBVDISK 3\n.SH NAME\nlibvdisk \\- stand-in\n' > "$OBJ/man/libvdisk.3"
fi
make -C "$TOP" --no-print-directory -s install BOOTSTRAP=0 O="$OBJ" PREFIX="$INST" > "$WORK/install.log" 2>&1; rc=$?
if [ $rc = 0 ]; then ok "make install PREFIX=\$WORK/inst exits 0"
else not_ok "make install PREFIX=\$WORK/inst exits 0 (exit $rc)"; tail -5 "$WORK/install.log" | sed 's/^/#   /'; fi

for f in bin/vdisk include/vdisk/vdisk.h lib/pkgconfig/vdisk.pc lib/libvdisk.a lib/libvdisk.so.0 lib/libvdisk.so share/man/man1/vdisk.1 share/man/man3/libvdisk.3; do
  check "installed: $f" test -e "$INST/$f"
done
check "the installed vdisk.h has no merge markers nor lib file names in its headings" \
  bash -c "! grep -nE '@@[A-Z]+@@|^/\\* ---- .*\\((lib/|[a-z-]+\\.c)' '$INST/include/vdisk/vdisk.h'"
check "the installed vdisk runs (finds its library)" bash -c "env -u LD_LIBRARY_PATH '$INST/bin/vdisk' --version >/dev/null"

# a disk to read: made by qemu-img, with data from qemu-io
qemu-img create -q -f vmdk "$WORK/d.vmdk" 3M
qemu-io -f vmdk -c 'write -P 0x5c 70000 100000' "$WORK/d.vmdk" >/dev/null
qemu-img convert -f vmdk -O raw "$WORK/d.vmdk" "$WORK/d.raw"

cat > "$WORK/reader.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <vdisk/vdisk.h>

int
main (int argc, char **argv)
{
  vd_disk *disk;
  if (argc != 2 || vd_disk_open (&disk, argv[1], VD_OPEN_READ_ONLY) < 0)
    {
      fprintf (stderr, "open: %s\n", vd_last_error ()->message);
      return 1;
    }
  uint64_t size = vd_disk_get_size (disk), off;
  static char buf[65536];
  for (off = 0; off < size; off += sizeof buf)
    {
      size_t n = size - off < sizeof buf ? size - off : sizeof buf;
      if (vd_disk_read (disk, buf, n, off) < 0 || fwrite (buf, 1, n, stdout) != n)
        {
          fprintf (stderr, "read: %s\n", vd_last_error ()->message);
          return 1;
        }
    }
  fprintf (stderr, "%s %s\n", vd_get_version (), vd_type_name (vd_disk_get_type (disk)));
  return vd_disk_close (disk) < 0;
}
C
export PKG_CONFIG_PATH=$INST/lib/pkgconfig
check "pkg-config finds vdisk" pkg-config --exists vdisk
v=$("$INST/bin/vdisk" --version 2>/dev/null | head -1 | awk '{print $2}')
check "pkg-config --modversion ($(pkg-config --modversion vdisk 2>/dev/null)) == vdisk --version ($v)" \
  test "$(pkg-config --modversion vdisk 2>/dev/null)" = "$v"
# shellcheck disable=SC2046
check "a C program builds with pkg-config --cflags --libs vdisk" \
  cc -std=c99 -Wall -Wextra -pedantic -Werror -o "$WORK/reader" "$WORK/reader.c" $(pkg-config --cflags --libs vdisk)
check "  ... it links the installed library" \
  bash -c "LD_LIBRARY_PATH='$INST/lib' ldd '$WORK/reader' | grep -q '$INST/lib/libvdisk.so.0'"
check "  ... and reads the disk as qemu-img does" \
  bash -c "LD_LIBRARY_PATH='$INST/lib' '$WORK/reader' '$WORK/d.vmdk' 2>'$WORK/reader.err' | cmp -s - '$WORK/d.raw'"
check "  ... naming the version and type ($(cat "$WORK/reader.err" 2>/dev/null))" \
  grep -q "^$v monolithicSparse" "$WORK/reader.err"
check "  ... and fails cleanly on a missing disk" \
  bash -c "! LD_LIBRARY_PATH='$INST/lib' '$WORK/reader' '$WORK/missing.vmdk' 2>'$WORK/err' && grep -q missing.vmdk '$WORK/err'"
# shellcheck disable=SC2046
check "a static build links with pkg-config --static" \
  bash -c "cc -o '$WORK/reader-static' '$WORK/reader.c' \$(pkg-config --cflags vdisk) '$INST/lib/libvdisk.a' \$(pkg-config --static --libs-only-l vdisk | sed 's/-lvdisk//') && '$WORK/reader-static' '$WORK/d.vmdk' 2>/dev/null | cmp -s - '$WORK/d.raw'"

if [ $have_docs = 1 ]; then
  check "man -l vdisk.1 renders" bash -c "MANWIDTH=80 man -l '$INST/share/man/man1/vdisk.1' 2>/dev/null | grep -q vdisk"
  check "man -l libvdisk.3 renders" bash -c "MANWIDTH=80 man -l '$INST/share/man/man3/libvdisk.3' 2>/dev/null | grep -q vd_disk_open"
else
  echo "# skip: man pages (no docs/*.pod yet)"
fi

done_testing
