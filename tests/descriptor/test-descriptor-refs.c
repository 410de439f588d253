/* vd_descriptor_refs: the kind of a VMDK file and the files its
 * descriptor names, without opening them (the NBD plugin's export rule
 * rests on it). */
#include <vdisk/vdisk.h>
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

struct seen {
  char names[8][64];
  int kinds[8];
  int n;
};

static int
cb (const char *name, int kind, void *payload)
{
  struct seen *s = payload;
  if (s->n < 8) {
    snprintf (s->names[s->n], sizeof s->names[0], "%s", name);
    s->kinds[s->n] = kind;
  }
  s->n++;
  return 0;
}

static void
put (const char *path, const void *data, size_t len)
{
  FILE *f = fopen (path, "wb");
  if (f) {
    fwrite (data, 1, len, f);
    fclose (f);
  }
}

static const char desc[] =
  "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=87654321\n"
  "parentFileNameHint=\"base.vmdk\"\ncreateType=\"twoGbMaxExtentSparse\"\n"
  "changeTrackPath=\"d-ctk.vmdk\"\n\n"
  "RW 2048 SPARSE \"d-s001.vmdk\"\nRW 2048 SPARSE \"d-s002.vmdk\"\n"
  "RW 2048 ZERO\n\nddb.adapterType = \"ide\"\n";

int
main (void)
{
  char dir[] = "/tmp/vdisk-refs.XXXXXX", p[256];
  struct seen s = { 0 };
  int k;

  if (!mkdtemp (dir))
    return 1;
  snprintf (p, sizeof p, "%s/d.vmdk", dir);
  put (p, desc, sizeof desc - 1);
  k = vd_descriptor_refs (p, cb, &s);
  is_u64 (k, VD_DESC_TEXT, "a text descriptor is VD_DESC_TEXT");
  is_u64 (s.n, 4, "two extents, the parent and the ctk file (ZERO names "
          "nothing)");
  is_str (s.names[0], "d-s001.vmdk", "first extent");
  ok (s.kinds[0] == VD_REF_EXTENT && s.kinds[1] == VD_REF_EXTENT,
      "extents are VD_REF_EXTENT");
  ok (s.kinds[2] == VD_REF_PARENT && strcmp (s.names[2], "base.vmdk") == 0,
      "the parent hint is VD_REF_PARENT");
  ok (s.kinds[3] == VD_REF_CHANGE_TRACKING
      && strcmp (s.names[3], "d-ctk.vmdk") == 0, "changeTrackPath");
  ok (access (p, F_OK) == 0, "nothing named needs to exist");

  /* descriptor text followed by NULs: what a flat extent can hold */
  {
    char buf[4096] = { 0 };
    memcpy (buf, desc, sizeof desc - 1);
    snprintf (p, sizeof p, "%s/x-flat.vmdk", dir);
    put (p, buf, sizeof buf);
    s.n = 0;
    k = vd_descriptor_refs (p, cb, &s);
    is_u64 (k, VD_DESC_TEXT_BINARY, "text then NULs is VD_DESC_TEXT_BINARY");
    is_u64 (s.n, 4, "its names are still reported");
  }
  /* binary data */
  {
    char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
      buf[i] = (char) (i * 7 + 3);
    snprintf (p, sizeof p, "%s/bin.vmdk", dir);
    put (p, buf, sizeof buf);
    s.n = 0;
    ok (vd_descriptor_refs (p, cb, &s) == VD_DESC_NONE && s.n == 0,
        "binary data is VD_DESC_NONE, no names");
  }
  /* a monolithic sparse file: its own extent is not reported */
  {
    struct vd_create_params cp;
    vd_create_params_init (&cp);
    cp.capacity = 1 << 20;
    snprintf (p, sizeof p, "%s/m.vmdk", dir);
    ok (vd_disk_create (p, &cp) == 0, "create monolithicSparse");
    s.n = 0;
    k = vd_descriptor_refs (p, cb, &s);
    is_u64 (k, VD_DESC_EMBEDDED, "a sparse file with a descriptor is "
            "VD_DESC_EMBEDDED");
    is_u64 (s.n, 0, "its single extent is the file itself: not reported");
    char q[300];
    snprintf (q, sizeof q, "%s/copy.vmdk", dir);
    ok (link (p, q) == 0, "a second name");
    s.n = 0;
    ok (vd_descriptor_refs (q, cb, &s) == VD_DESC_EMBEDDED && s.n == 0,
        "a copy's embedded extent name (m.vmdk) is not reported either");
    unlink (q);
    snprintf (q, sizeof q, "%s/lnk.vmdk", dir);
    ok (symlink ("m.vmdk", q) == 0, "a symlink");
    ok (vd_descriptor_refs (q, cb, &s) < 0, "a symlink is not followed");
    unlink (q);
    unlink (p);
  }
  ok (vd_descriptor_refs (NULL, cb, &s) == VD_EINVAL, "NULL path");
  snprintf (p, sizeof p, "%s/missing.vmdk", dir);
  ok (vd_descriptor_refs (p, NULL, NULL) == VD_ENOENT, "a missing file");
  snprintf (p, sizeof p, "rm -rf '%s'", dir);
  if (system (p) != 0)
    return 1;
  return done_testing ();
}
