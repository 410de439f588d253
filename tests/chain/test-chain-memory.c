/* Chains over the in-memory backend (lib/io-mem.c): a three-link chain
 * (monolithicSparse base, a monolithicSparse child, a twoGbMaxExtentSparse
 * grandchild), each link written before the next is made, loaded into a
 * memfs with its files deleted (tests/mem-files.h), then from memory:
 * - the links and their CIDs: each link's parentCID is the CID of the link
 *   below, as the descriptors in the files say (read here by hand), the
 *   base's is ffffffff;
 * - the chain reads as the three writes laid over each other, one link
 *   alone (VD_OPEN_SINGLE_LINK) only the grains it holds; block status counts
 *   the grains of all links; a write lands in the top;
 * - a parent whose CID no longer matches is VD_EPARENT (and opens with
 *   VD_OPEN_IGNORE_CID read-only, reading the same bytes); a missing
 *   parent is VD_EPARENT naming it. */
#include "mem-files.h"
#include "tap.h"

#define MiB (UINT64_C (1) << 20)
#define CAP (4 * MiB)
#define GRAIN 65536u

/* the writes: A in the base, B in the child, C in the grandchild */
#define A_OFF 0
#define A_LEN (1 * MiB)
#define B_OFF (512 * 1024)
#define B_LEN (GRAIN + 100)
#define C_OFF (3 * MiB - 1000)
#define C_LEN 2000

struct file {
  const char *name;
  uint8_t *data;
  size_t len;
};

static struct file files[8];
static unsigned nfiles;

static int
write_at (const char *path, unsigned seed, uint64_t off, size_t len)
{
  vd_disk *d = NULL;
  uint8_t *b = malloc (len);
  int r = vd_disk_open (&d, path, 0);
  mf_fill (b, len, off, seed);
  if (r == 0)
    r = vd_disk_write (d, b, len, off);
  if (d && vd_disk_close (d) < 0)
    r = -1;
  free (b);
  return r;
}

static int
child_of (const char *parent, const char *child, enum vd_type t)
{
  vd_disk *d = NULL;
  int r = vd_disk_open (&d, parent, VD_OPEN_READ_ONLY);
  if (r == 0)
    r = vd_disk_create_child (d, child, t, 0);
  if (d)
    vd_disk_close (d);
  return r;
}

static struct file *
find (const char *name)
{
  for (unsigned i = 0; i < nfiles; i++)
    if (strcmp (files[i].name, name) == 0)
      return &files[i];
  return NULL;
}

/* The value of KEY=hex (KEY at a line start) in a descriptor inside f. */
static uint32_t
desc_hex (const struct file *f, const char *key)
{
  size_t kl = strlen (key);
  for (size_t i = 1; f && i + kl + 1 < f->len; i++)
    if (f->data[i - 1] == '\n' && memcmp (f->data + i, key, kl) == 0
        && f->data[i + kl] == '=')
      return (uint32_t) strtoul ((const char *) f->data + i + kl + 1, NULL,
                                 16);
  return 0;
}

/* A memfs of every file but skip, with the CID of file bump_cid changed. */
static struct vd_memfs *
make_fs (const char *skip, const char *bump_cid)
{
  struct vd_memfs *fs = vd__memfs_new ();
  for (unsigned i = 0; i < nfiles; i++) {
    struct file *f = &files[i];
    uint8_t *copy;
    if (skip && strcmp (f->name, skip) == 0)
      continue;
    copy = malloc (f->len + 1);
    memcpy (copy, f->data, f->len);
    if (bump_cid && strcmp (f->name, bump_cid) == 0)
      for (size_t k = 1; k + 12 < f->len; k++)
        if (copy[k - 1] == '\n' && memcmp (copy + k, "CID=", 4) == 0) {
          copy[k + 11] = copy[k + 11] == '0' ? '1' : '0';   /* last digit */
          break;
        }
    vd__memfs_add (fs, f->name, copy, f->len);
    free (copy);
  }
  return fs;
}

static int
count_data (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    *(uint64_t *) p += len;
  return 0;
}

int
main (void)
{
  char dir[] = "/tmp/vd-memchain.XXXXXX", base[300], c1[300], c2[300];
  struct vd_create_params p;
  struct vd_memfs *fs;
  struct vd_link_info li[3];
  uint8_t *want = calloc (1, CAP), *got = malloc (CAP), *top = calloc (1, CAP);
  vd_disk *d = NULL;
  int rc, r;

  if (!mkdtemp (dir) || !want || !got || !top)
    return 1;
  snprintf (base, sizeof base, "%s/base.vmdk", dir);
  snprintf (c1, sizeof c1, "%s/c1.vmdk", dir);
  snprintf (c2, sizeof c2, "%s/c2.vmdk", dir);
  vd_create_params_init (&p);
  p.capacity = CAP;
  p.cid = 0x1234abcd;
  ok (vd_disk_create (base, &p) == 0 && write_at (base, 1, A_OFF, A_LEN) == 0
      && child_of (base, c1, VD_TYPE_MONOLITHIC_SPARSE) == 0
      && write_at (c1, 2, B_OFF, B_LEN) == 0
      && child_of (c1, c2, VD_TYPE_SPLIT_SPARSE) == 0
      && write_at (c2, 3, C_OFF, C_LEN) == 0,
      "a three-link chain made and written in a scratch folder");
  mf_fill (want + A_OFF, A_LEN, A_OFF, 1);
  mf_fill (want + B_OFF, B_LEN, B_OFF, 2);
  mf_fill (want + C_OFF, C_LEN, C_OFF, 3);
  mf_fill (top + C_OFF, C_LEN, C_OFF, 3);

  {
    const char *names[] = { "base.vmdk", "c1.vmdk", "c2.vmdk", "c2-s001.vmdk",
                            "c2-s002.vmdk" };
    for (unsigned i = 0; i < 5; i++) {
      char path[400];
      snprintf (path, sizeof path, "%s/%s", dir, names[i]);
      files[nfiles].name = names[i];
      if ((files[nfiles].data = mf_slurp (path, &files[nfiles].len)))
        nfiles++;
      unlink (path);
    }
    /* 4 MiB in 2047 MiB extents: one extent file, no second */
    is_u64 (nfiles, 4, "the four files of the chain read (base, c1, c2 and "
            "its one extent)");
    /* the folder stays (the library opens it), empty */
    struct vd_memfs *left = vd__memfs_new ();
    ok (mf_load_dir (left, dir, 0) == 0,
        "and deleted: the scratch folder is empty");
    vd__memfs_free (left);
  }
  uint32_t cid_base = desc_hex (find ("base.vmdk"), "CID");
  uint32_t cid_c1 = desc_hex (find ("c1.vmdk"), "CID");
  uint32_t cid_c2 = desc_hex (find ("c2.vmdk"), "CID");
  ok (desc_hex (find ("c1.vmdk"), "parentCID") == cid_base
      && desc_hex (find ("c2.vmdk"), "parentCID") == cid_c1
      && desc_hex (find ("base.vmdk"), "parentCID") == 0xffffffffu,
      "the descriptors chain by CID: %08x <- %08x <- %08x", cid_base,
      cid_c1, cid_c2);
  ok (cid_base != 0x1234abcd, "the base's first write renewed the CID it "
      "was created with (%08x)", cid_base);

  /* the whole chain, from memory */
  fs = make_fs (NULL, NULL);
  vd__memfs_set_current (fs);
  rc = vd_disk_open (&d, c2, VD_OPEN_READ_ONLY);
  ok (rc == 0, "the top opens read-only from memory%s%s", rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  if (rc == 0) {
    uint64_t data = 0;
    is_u64 (vd_disk_get_link_count (d), 3, "three links");
    r = 0;
    for (unsigned i = 0; i < 3; i++)
      r |= vd_disk_get_link_info (d, i, &li[i]);
    ok (r == 0 && li[0].cid == cid_c2 && li[1].cid == cid_c1
        && li[2].cid == cid_base, "link CIDs top to base as in the files");
    ok (r == 0 && li[0].parent_cid == li[1].cid
        && li[1].parent_cid == li[2].cid && li[2].parent_cid == 0xffffffffu,
        "each link's parentCID is the CID of the link below");
    ok (r == 0 && strstr (li[2].path, "base.vmdk")
        && strcmp (li[1].create_type, "monolithicSparse") == 0
        && strcmp (li[0].create_type, "twoGbMaxExtentSparse") == 0,
        "link paths and types: %s %s / %s", r ? "" : li[2].path,
        r ? "" : li[1].create_type, r ? "" : li[0].create_type);
    is_u64 (vd_disk_get_cid (d), cid_c2, "vd_disk_get_cid is the top's");
    is_u64 (vd_disk_get_parent_cid (d), cid_c1,
            "vd_disk_get_parent_cid is the top's parentCID");
    memset (got, 0xee, CAP);
    ok (vd_disk_read (d, got, CAP, 0) == 0 && memcmp (got, want, CAP) == 0,
        "the chain reads as A, then B, then C laid over each other");
    /* grains 0-15 (A; B falls inside them), 47 and 48 (C) */
    vd_disk_block_status (d, 0, CAP, count_data, &data);
    is_u64 (data, 18 * GRAIN, "block status: the 18 grains of all links");
    vd_disk_close (d);
    d = NULL;
  }
  rc = vd_disk_open (&d, c2, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK);
  ok (rc == 0 && vd_disk_get_link_count (d) == 1
      && vd_disk_read (d, got, CAP, 0) == 0 && memcmp (got, top, CAP) == 0,
      "the top alone (single link) holds only C");
  if (d)
    vd_disk_close (d);
  d = NULL;
  rc = vd_disk_open (&d, c2, 0);
  ok (rc == 0, "the top opens read-write from memory%s%s", rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  if (rc == 0) {
    mf_fill (want + B_OFF + 100, 5000, B_OFF + 100, 4);
    ok (vd_disk_write (d, want + B_OFF + 100, 5000, B_OFF + 100) == 0
        && vd_disk_read (d, got, CAP, 0) == 0 && memcmp (got, want, CAP) == 0,
        "a write over B in the top reads back, the rest of the chain as "
        "before");
    ok (vd_disk_flush (d) == 0 && vd_disk_close (d) == 0, "flush and close");
    mf_fill (want + B_OFF + 100, 5000, B_OFF + 100, 2);   /* as before */
  }
  d = NULL;
  rc = vd_disk_open (&d, c1, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK);
  /* B fills grain 8 and 100 bytes of grain 9; a child allocates whole
   * grains, so the rest of grain 9 was copied up from the base (A) */
  memset (top, 0, CAP);
  memcpy (top + 8 * GRAIN, want + 8 * GRAIN, 2 * GRAIN);
  ok (rc == 0 && vd_disk_read (d, got, CAP, 0) == 0
      && memcmp (got, top, CAP) == 0, "the middle link alone holds B in "
      "whole grains (8 and 9, the rest of 9 copied from the base)%s%s",
      rc ? ": " : "", rc ? vd_last_error ()->message : "");
  if (d)
    vd_disk_close (d);
  d = NULL;
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);

  /* the middle link's CID changed behind its child's back */
  fs = make_fs (NULL, "c1.vmdk");
  vd__memfs_set_current (fs);
  rc = vd_disk_open (&d, c2, VD_OPEN_READ_ONLY);
  ok (rc == VD_EPARENT, "a parent whose CID does not match: VD_EPARENT (%d: "
      "%s)", rc, rc ? vd_last_error ()->message : "opened");
  ok (rc < 0 && strstr (vd_last_error ()->message, "c1.vmdk")
      && strstr (vd_last_error ()->message, "CID"),
      "the message names the parent and the CID");
  if (rc == 0)
    vd_disk_close (d);
  d = NULL;
  rc = vd_disk_open (&d, c2, VD_OPEN_READ_ONLY | VD_OPEN_IGNORE_CID);
  ok (rc == 0 && vd_disk_read (d, got, CAP, 0) == 0
      && memcmp (got, want, CAP) == 0,
      "with VD_OPEN_IGNORE_CID it opens and reads the same chain");
  if (d)
    vd_disk_close (d);
  d = NULL;
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);

  /* the base missing */
  fs = make_fs ("base.vmdk", NULL);
  vd__memfs_set_current (fs);
  rc = vd_disk_open (&d, c2, VD_OPEN_READ_ONLY);
  ok (rc == VD_EPARENT && strstr (vd_last_error ()->message, "base.vmdk"),
      "a missing base: VD_EPARENT naming it (%d: %s)", rc,
      rc ? vd_last_error ()->message : "opened");
  if (rc == 0)
    vd_disk_close (d);
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);

  for (unsigned i = 0; i < nfiles; i++)
    free (files[i].data);
  rmdir (dir);
  free (want);
  free (got);
  free (top);
  return done_testing ();
}
