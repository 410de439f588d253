/* The descriptor size cap lives in its one reader (vd__descfile_read):
 * text over VD_MAX_DESC_BYTES is refused there, naming the file, before
 * any allocation, whoever the caller is. */
#include "internal.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char head[] =
  "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
  "createType=\"monolithicFlat\"\n\nRW 2048 FLAT \"f.img\" 0\n";

static int
read_text (const char *name, size_t len, char **text)
{
  struct vd_io *io = NULL;
  struct vd_descfile w;
  char *data = calloc (1, len);
  int r;

  memset (data, '\n', len);
  memcpy (data, head, sizeof head - 1);
  r = vd__io_mem_open (&io, name, data, len, 0);
  free (data);
  if (r == 0)
    r = vd__descfile_locate (io, &w);
  if (r == 0)
    r = vd__descfile_read (io, &w, text);
  vd__io_close (io);
  return r;
}

int
main (void)
{
  char *text = NULL;
  const struct vd_error *e;
  char dir[] = "/tmp/vdisk-desccap.XXXXXX", p[256];
  FILE *f;
  int r;

  r = read_text ("small.vmdk", VD_MAX_DESC_BYTES, &text);
  is_u64 (r, 0, "a descriptor of exactly 1 MiB is read");
  ok (text && memcmp (text, head, sizeof head - 1) == 0, "its text");
  free (text);
  text = NULL;

  r = read_text ("big.vmdk", VD_MAX_DESC_BYTES + 1, &text);
  is_u64 (r, VD_ECORRUPT, "one byte more is refused by the reader itself");
  ok (text == NULL, "and nothing is returned");
  e = vd_last_error ();
  ok (e->message && strstr (e->message, "big.vmdk")
      && strstr (e->message, "1 MiB"), "the error names the file and the "
      "limit: %s", e->message ? e->message : "(none)");
  free (text);

  /* the callers keep that behaviour: open refuses, refs says "none" */
  if (!mkdtemp (dir))
    return 1;
  snprintf (p, sizeof p, "%s/huge.vmdk", dir);
  f = fopen (p, "wb");
  if (f) {
    fputs (head, f);
    for (size_t i = sizeof head; i <= VD_MAX_DESC_BYTES + 1; i++)
      fputc ('\n', f);
    fclose (f);
  }
  {
    vd_disk *d = NULL;
    r = vd_disk_open (&d, p, VD_OPEN_READ_ONLY);
    is_u64 (r, VD_ECORRUPT, "vd_disk_open refuses an oversized descriptor");
    e = vd_last_error ();
    ok (e->message && strstr (e->message, "huge.vmdk")
        && strstr (e->message, "raw"), "naming the file, with the raw "
        "hint: %s", e->message ? e->message : "(none)");
    if (d)
      vd_disk_close (d);
  }
  is_u64 (vd_descriptor_refs (p, NULL, NULL), VD_DESC_NONE,
          "vd_descriptor_refs: an oversized file is not a descriptor");
  unlink (p);
  rmdir (dir);
  return done_testing ();
}
