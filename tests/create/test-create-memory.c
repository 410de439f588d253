/* vd_disk_create of every layout, what it wrote examined in memory.  The
 * in-memory backend cannot create files (tests/mem-files.h), so each disk
 * is created in a scratch folder, loaded into a memfs and deleted; then
 * - the set of files is VMware's naming for the layout (d.vmdk, d-flat,
 *   d-s00N, d-f00N) and nothing else;
 * - the descriptor (read here by hand, inside the sparse file for the
 *   monolithic sparse and stream layouts) says the createType, the CID
 *   asked for, parentCID ffffffff, the adapter, hardware version, uuid,
 *   the geometry VMware's rule gives (ide: 16 heads, 63 sectors), and one
 *   extent line per file with its size in sectors;
 * - every sparse extent starts with a VMDK4 header ("KDMV") whose
 *   capacity is the extent's sectors, grains of 128 sectors, 512 entries
 *   per grain table; the stream's is version 3, compressed, with markers,
 *   its grain directory at the end; flat extents are the extent's bytes;
 * - the disk opens from memory with those facts and reads as zeros;
 * - refusals: an existing disk (VD_EEXIST, files unchanged), a capacity
 *   not a multiple of 512 or a split size not a multiple of 64 KiB
 *   (VD_EINVAL, nothing left behind). */
#include "mem-files.h"
#include "tap.h"

#define MiB (UINT64_C (1) << 20)
#define CAP (5 * MiB + 3 * 512)          /* not whole grains */
#define EXT (2 * MiB)
#define CAP_S (CAP / 512)
#define EXT_S (EXT / 512)

struct layout {
  enum vd_type type;
  const char *create_type;
  const char *extent_kind;      /* in the extent lines */
  char suffix;                  /* file names: 0 one file, 'F' -flat,
                                   's' / 'f' -s00N / -f00N */
  unsigned extents;
  enum vd_adapter adapter;
};

static const struct layout layouts[] = {
  { VD_TYPE_MONOLITHIC_SPARSE, "monolithicSparse", "SPARSE", 0, 1, VD_ADAPTER_IDE },
  { VD_TYPE_SPLIT_SPARSE, "twoGbMaxExtentSparse", "SPARSE", 's', 3, VD_ADAPTER_IDE },
  { VD_TYPE_MONOLITHIC_FLAT, "monolithicFlat", "FLAT", 'F', 1, VD_ADAPTER_IDE },
  { VD_TYPE_SPLIT_FLAT, "twoGbMaxExtentFlat", "FLAT", 'f', 3, VD_ADAPTER_IDE },
  { VD_TYPE_VMFS, "vmfs", "VMFS", 'F', 1, VD_ADAPTER_LSILOGIC },
  { VD_TYPE_VMFS_THIN, "vmfs", "VMFS", 'F', 1, VD_ADAPTER_LSILOGIC },
  { VD_TYPE_STREAM_OPTIMIZED, "streamOptimized", "SPARSE", 0, 1, VD_ADAPTER_IDE },
};

static const uint8_t uuid[16] = { 0x60, 0x00, 0xc2, 0x9b, 0x01, 0x23, 0x45,
                                  0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc,
                                  0xba, 0x98 };
/* VMware writes a dash between the 8th and 9th byte, vdisk a space:
 * either is the same uuid */
#define UUID_TEXT "60 00 c2 9b 01 23 45 67 89 ab cd ef fe dc ba 98"
#define UUID_DASH "60 00 c2 9b 01 23 45 67-89 ab cd ef fe dc ba 98"

static uint32_t
le32 (const uint8_t *p)
{
  return p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
         | (uint32_t) p[3] << 24;
}

static uint64_t
le64 (const uint8_t *p)
{
  return le32 (p) | (uint64_t) le32 (p + 4) << 32;
}

/* the sectors of extent i of a disk of CAP bytes in EXT-byte extents */
static uint64_t
ext_sectors (const struct layout *L, unsigned i)
{
  if (L->extents == 1)
    return CAP_S;
  return i + 1 < L->extents ? EXT_S : CAP_S - (uint64_t) i * EXT_S;
}

static void
file_name (char *out, size_t n, const struct layout *L, unsigned i)
{
  if (L->suffix == 0)
    snprintf (out, n, "d.vmdk");
  else if (L->suffix == 'F')
    snprintf (out, n, "d-flat.vmdk");
  else
    snprintf (out, n, "d-%c%03u.vmdk", L->suffix, i + 1);
}

/* the descriptor text: the file itself, or the embedded one of a
 * monolithic sparse file (descriptorOffset/Size in sectors) */
static char *
descriptor (const uint8_t *f, size_t len)
{
  const uint8_t *p = f;
  size_t n = len;
  char *s;
  if (len >= 512 && le32 (f) == 0x564d444bu) {
    uint64_t off = le64 (f + 28) * 512, size = le64 (f + 36) * 512;
    if (off == 0 || off > len || size > len - off)
      return NULL;
    p = f + off;
    n = strnlen ((const char *) p, (size_t) size);
  }
  s = malloc (n + 1);
  memcpy (s, p, n);
  s[n] = 0;
  return s;
}

static int
has_line (const char *desc, const char *line)
{
  size_t n = strlen (line);
  for (const char *p = desc; (p = strstr (p, line)); p += n)
    if ((p == desc || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
      return 1;
  return 0;
}

static void
one_layout (const struct layout *L, const char *scratch)
{
  const char *name = vd_type_name (L->type);
  char dir[256], path[300], fn[64], line[160];
  struct vd_create_params p;
  struct vd_memfs *fs = vd__memfs_new ();
  uint8_t *f;
  size_t len;
  char *desc;
  vd_disk *d = NULL;
  int rc, n;

  snprintf (dir, sizeof dir, "%s/%s", scratch, name);
  mkdir (dir, 0700);
  snprintf (path, sizeof path, "%s/d.vmdk", dir);
  vd_create_params_init (&p);
  p.type = L->type;
  p.capacity = CAP;
  p.extent_size = EXT;
  p.adapter = L->adapter;
  p.hw_version = 11;
  p.cid = 0x0badcafe;
  p.uuid = uuid;
  rc = vd_disk_create (path, &p);
  ok (rc == 0, "%s: created%s%s", name, rc ? ": " : "",
      rc ? vd_last_error ()->message : "");

  /* the files, by name */
  n = 0;
  for (unsigned i = 0; L->suffix && i < L->extents; i++) {
    char ep[400];
    struct stat st;
    file_name (fn, sizeof fn, L, i);
    snprintf (ep, sizeof ep, "%s/%s", dir, fn);
    n += stat (ep, &st) == 0;
  }
  ok (n == (int) (L->suffix ? L->extents : 0),
      "%s: the extent files have VMware's names (%d of %u)", name, n,
      L->suffix ? L->extents : 0);
  rc = vd_disk_create (path, &p);
  ok (rc == VD_EEXIST, "%s: a second create is VD_EEXIST (%d)", name, rc);
  {
    struct vd_memfs *check = vd__memfs_new ();
    int again = mf_load_dir (check, dir, 0);
    is_u64 (again, 1 + (L->suffix ? L->extents : 0),
            "%s: the folder holds the descriptor and the extents, nothing "
            "else", name);
    vd__memfs_free (check);
  }
  mf_load_dir (fs, dir, 1);

  /* the descriptor */
  snprintf (path, sizeof path, "%s/d.vmdk", dir);
  f = NULL;
  vd__memfs_set_current (fs);
  {
    struct vd_io *io = NULL;
    uint64_t sz = 0;
    if (vd__memfs_open (fs, &io, "d.vmdk", 0) == 0
        && io->ops->size (io, &sz) == 0 && (f = malloc (sz + 1))
        && io->ops->pread (io, f, sz, 0) >= 0)
      len = (size_t) sz;
    else {
      free (f);
      f = NULL;
    }
    if (io)
      vd__io_close (io);
  }
  desc = f ? descriptor (f, len) : NULL;
  ok (desc != NULL, "%s: the descriptor read from memory", name);
  if (desc) {
    struct vd_geometry g;
    snprintf (line, sizeof line, "createType=\"%s\"", L->create_type);
    ok (has_line (desc, line), "%s: %s", name, line);
    ok (has_line (desc, "CID=0badcafe") && has_line (desc, "parentCID=ffffffff"),
        "%s: CID=0badcafe, parentCID=ffffffff", name);
    snprintf (line, sizeof line, "ddb.adapterType = \"%s\"",
              L->adapter == VD_ADAPTER_IDE ? "ide" : "lsilogic");
    ok (has_line (desc, line), "%s: %s", name, line);
    ok (has_line (desc, "ddb.virtualHWVersion = \"11\""),
        "%s: hardware version 11", name);
    ok (has_line (desc, "ddb.uuid = \"" UUID_TEXT "\"")
        || has_line (desc, "ddb.uuid = \"" UUID_DASH "\""),
        "%s: the uuid asked for", name);
    ok (has_line (desc, "ddb.thinProvisioned = \"1\"")
        == (L->type == VD_TYPE_VMFS_THIN), "%s: ddb.thinProvisioned %s", name,
        L->type == VD_TYPE_VMFS_THIN ? "set" : "absent");
    if (L->adapter == VD_ADAPTER_IDE) {
      /* ide: 16 heads, 63 sectors, cylinders = sectors / (16 * 63) */
      snprintf (line, sizeof line, "ddb.geometry.cylinders = \"%llu\"",
                (unsigned long long) (CAP_S / (16 * 63)));
      ok (has_line (desc, line) && has_line (desc, "ddb.geometry.heads = \"16\"")
          && has_line (desc, "ddb.geometry.sectors = \"63\""),
          "%s: geometry %llu/16/63", name,
          (unsigned long long) (CAP_S / (16 * 63)));
    }
    else {
      vd_geometry_compute (&g, CAP, L->adapter);
      snprintf (line, sizeof line, "ddb.geometry.cylinders = \"%u\"",
                (unsigned) g.cylinders);
      ok (has_line (desc, line), "%s: geometry as vd_geometry_compute (%s)",
          name, line);
    }
    n = 0;
    for (unsigned i = 0; i < L->extents; i++) {
      if (L->suffix)
        file_name (fn, sizeof fn, L, i);
      else
        snprintf (fn, sizeof fn, "d.vmdk");
      snprintf (line, sizeof line, "RW %llu %s \"%s\"%s",
                (unsigned long long) ext_sectors (L, i), L->extent_kind, fn,
                strcmp (L->extent_kind, "FLAT") == 0 ? " 0" : "");
      n += has_line (desc, line);
    }
    is_u64 (n, L->extents, "%s: one extent line per file, sizes in sectors",
            name);
  }
  free (desc);
  free (f);

  /* the extents */
  n = 0;
  for (unsigned i = 0; i < L->extents; i++) {
    struct vd_io *io = NULL;
    uint64_t sz = 0;
    uint8_t h[512];
    if (L->suffix)
      file_name (fn, sizeof fn, L, i);
    else
      snprintf (fn, sizeof fn, "d.vmdk");
    if (vd__memfs_open (fs, &io, fn, 0) < 0 || io->ops->size (io, &sz) < 0) {
      if (io)
        vd__io_close (io);
      continue;
    }
    if (strcmp (L->extent_kind, "SPARSE") != 0)
      n += sz == ext_sectors (L, i) * 512;
    else if (io->ops->pread (io, h, 512, 0) >= 0 && le32 (h) == 0x564d444bu
             && le64 (h + 12) == ext_sectors (L, i) && le64 (h + 20) == 128
             && le32 (h + 44) == 512) {
      if (L->type == VD_TYPE_STREAM_OPTIMIZED)
        n += le32 (h + 4) == 3 && (le32 (h + 8) & 0x30000u) == 0x30000u
             && (h[77] | h[78] << 8) == 1 && le64 (h + 56) == UINT64_MAX;
      else
        n += le32 (h + 4) == 1 && (h[77] | h[78] << 8) == 0;
    }
    vd__io_close (io);
  }
  is_u64 (n, L->extents, "%s: every extent as the format says (%s)", name,
          strcmp (L->extent_kind, "SPARSE") == 0 ? "KDMV header" : "size");

  /* opened from memory */
  rc = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  ok (rc == 0, "%s: opens from memory%s%s", name, rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  if (rc == 0) {
    uint8_t *r = malloc (CAP);
    struct vd_geometry g1, g2;
    memset (r, 0xee, CAP);
    vd_disk_get_geometry (d, &g1, &g2);
    ok (vd_disk_get_size (d) == CAP && vd_disk_get_cid (d) == 0x0badcafe
        && vd_disk_get_adapter (d) == L->adapter
        && vd_disk_get_hw_version (d) == 11
        && vd_disk_get_extent_count (d) == L->extents,
        "%s: size, CID, adapter, hardware version, extents", name);
    ok (L->adapter != VD_ADAPTER_IDE
        || (g1.cylinders == CAP_S / (16 * 63) && g1.heads == 16
            && g1.sectors == 63), "%s: geometry", name);
    ok (vd_disk_read (d, r, CAP, 0) == 0 && mf_all_zero (r, CAP),
        "%s: reads as zeros", name);
    vd_disk_close (d);
    free (r);
  }
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);
  mf_rm_dir (dir);
}

int
main (void)
{
  char scratch[] = "/tmp/vd-memcreate.XXXXXX", path[300];
  struct vd_create_params p;
  struct vd_memfs *left;
  int rc;

  if (!mkdtemp (scratch))
    return 1;
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
    one_layout (&layouts[i], scratch);

  snprintf (path, sizeof path, "%s/bad.vmdk", scratch);
  vd_create_params_init (&p);
  p.capacity = CAP + 100;
  rc = vd_disk_create (path, &p);
  ok (rc == VD_EINVAL, "a capacity not a multiple of 512: VD_EINVAL (%d)", rc);
  vd_create_params_init (&p);
  p.type = VD_TYPE_SPLIT_FLAT;
  p.capacity = CAP;
  p.extent_size = EXT + 512;
  rc = vd_disk_create (path, &p);
  ok (rc == VD_EINVAL, "a split size not a multiple of 64 KiB: VD_EINVAL (%d)",
      rc);
  left = vd__memfs_new ();
  ok (mf_load_dir (left, scratch, 0) == 0, "nothing left behind by either");
  vd__memfs_free (left);
  mf_rm_dir (scratch);
  return done_testing ();
}
