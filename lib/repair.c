/* Repair of hosted sparse extents (vdisk check --repair), and the VMware
 * lock-folder test of read-write opens.  security-checklist.md §2.3, §6. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- VMware lock folders ------------------------------------------------ */

/* VMware hosted products keep DISK.vmdk.lck/ beside a disk while a VM uses
 * it (§2.2).  Unlike OFD locks it survives a crash, so it is only honoured
 * for writing, and VD_OPEN_FORCE overrides it. */
int
vd__check_vmware_lock (const char *path, uint32_t flags)
{
  struct stat st;
  char *lck;
  int r = 0;

  if ((flags & (VD_OPEN_READ_ONLY | VD_OPEN_FORCE)) || !path
      || vd__is_uri (path) || vd__memfs_current ())
    return 0;
  lck = vd__asprintf ("%s.lck", path);
  if (!lck)
    return vd_error (VD_ENOMEM, errno, "%s: lock folder name", path);
  if (lstat (lck, &st) == 0 && S_ISDIR (st.st_mode))
    r = vd_error (VD_ELOCKED, 0, "%s: in use by VMware (lock folder %s "
                  "exists); close the virtual machine, or remove a stale "
                  "lock folder, or open with the force option", path, lck);
  free (lck);
  return r;
}

/* ---- repair of hosted sparse extents --------------------------------- */

#define R_MAGIC 0x564d444bu
#define R_FLAG_RGD 0x2u
#define R_FLAG_ZEROED 0x4u
#define R_FLAG_COMPRESSED 0x10000u
#define R_N_GTES 512u
#define R_GT_BYTES (R_N_GTES * 4u)
#define R_GT_SECTORS (R_GT_BYTES / VD_SECTOR)
#define R_MAX_GD_BYTES (64u << 20)

struct rx {
  const char *path;
  struct vd_io *io;
  uint8_t hdr[VD_SECTOR];
  uint32_t version, flags;
  uint64_t capacity, grain, desc_off, desc_size, rgd_off, gd_off, overhead;
  uint64_t gd_entries, gd_sectors, file_size;
  uint32_t *gd, *rgd;
  struct vd_check_ctx *ctx;
  unsigned fixes;
};

static void
rx_note (struct rx *x, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
static void
rx_note (struct rx *x, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (x->ctx->message)
    x->ctx->message (VD_CHECK_SEVERITY_INFO, msg, x->ctx->payload);
}

#define REFUSE(...) vd_error (VD_ECORRUPT, 0, __VA_ARGS__)

/* A table at sector g is usable: inside the file, clear of the header,
 * the descriptor and both directories. */
static int
rx_table_ok (const struct rx *x, uint64_t g)
{
  uint64_t max = x->file_size / VD_SECTOR;
  if (g == 0 || g > max || R_GT_SECTORS > max - g)
    return 0;
  if (x->desc_off && g < x->desc_off + x->desc_size
      && g + R_GT_SECTORS > x->desc_off)
    return 0;
  if (g < x->gd_off + x->gd_sectors && g + R_GT_SECTORS > x->gd_off)
    return 0;
  if (x->rgd_off && g < x->rgd_off + x->gd_sectors
      && g + R_GT_SECTORS > x->rgd_off)
    return 0;
  return 1;
}

/* Every entry of a grain table is followed safely. */
static int
rx_gt_ok (const struct rx *x, const uint8_t *raw)
{
  for (unsigned i = 0; i < R_N_GTES; i++) {
    uint64_t g = vd__le32 (raw + i * 4);
    if (g == 0 || (g == 1 && (x->flags & R_FLAG_ZEROED) && x->version >= 2))
      continue;
    if (g < x->overhead || g * VD_SECTOR > x->file_size)
      return 0;
  }
  return 1;
}

static int
rx_header (struct rx *x)
{
  int r = x->io->ops->size (x->io, &x->file_size);
  if (r < 0)
    return r;
  if (x->file_size < VD_SECTOR)
    return REFUSE ("%s: file too short for a sparse header; cannot repair",
                   x->path);
  r = vd__io_pread (x->io, x->hdr, VD_SECTOR, 0);
  if (r < 0)
    return r;
  if (vd__le32 (x->hdr) != R_MAGIC)
    return REFUSE ("%s: not a hosted sparse extent; cannot repair", x->path);
  x->version = vd__le32 (x->hdr + 4);
  x->flags = vd__le32 (x->hdr + 8);
  x->capacity = vd__le64 (x->hdr + 12);
  x->grain = vd__le64 (x->hdr + 20);
  x->desc_off = vd__le64 (x->hdr + 28);
  x->desc_size = vd__le64 (x->hdr + 36);
  x->rgd_off = vd__le64 (x->hdr + 48);
  x->gd_off = vd__le64 (x->hdr + 56);
  x->overhead = vd__le64 (x->hdr + 64);
  if (x->flags & R_FLAG_COMPRESSED)
    return REFUSE ("%s: streamOptimized (compressed) extents are written "
                   "once and not repaired; convert the disk instead",
                   x->path);
  if (x->version < 1 || x->version > 3 || (x->flags & 0xffff0000u))
    return REFUSE ("%s: sparse version %u / flags 0x%08x are not known; "
                   "not repaired", x->path, x->version, x->flags);
  if (x->grain < 8 || x->grain > 2048 || (x->grain & (x->grain - 1))
      || vd__le32 (x->hdr + 44) != R_N_GTES || x->capacity == 0
      || x->capacity > ((uint64_t) 1 << 40))
    return REFUSE ("%s: the header itself is damaged (grain size, table "
                   "size or capacity); there is no second copy of it, so "
                   "it is not repaired", x->path);
  x->gd_entries = VD_DIV_ROUND_UP (x->capacity, (uint64_t) R_N_GTES
                                                  * x->grain);
  x->gd_sectors = VD_DIV_ROUND_UP (x->gd_entries * 4, VD_SECTOR);
  if (x->gd_entries * 4 > R_MAX_GD_BYTES || x->gd_entries * 4 > x->file_size)
    return REFUSE ("%s: capacity too large for the file; not repaired",
                   x->path);
  if (!(x->flags & R_FLAG_RGD))
    x->rgd_off = 0;
  if (x->overhead * VD_SECTOR > x->file_size)
    return REFUSE ("%s: file truncated below its metadata (overHead "
                   "sector %llu); data is missing and cannot be repaired",
                   x->path, (unsigned long long) x->overhead);
  return 0;
}

/* Load a directory at sector off (0: none). */
static int
rx_load_dir (struct rx *x, uint64_t off, uint32_t **out)
{
  uint64_t max = x->file_size / VD_SECTOR;
  size_t bytes = (size_t) x->gd_entries * 4;
  uint8_t *raw;
  *out = NULL;
  if (off == 0 || off > max || x->gd_sectors > max - off)
    return 0;
  raw = malloc (bytes);
  *out = malloc (bytes);
  if (!raw || !*out) {
    free (raw);
    free (*out);
    *out = NULL;
    return vd_error (VD_ENOMEM, errno, "%s: directory", x->path);
  }
  int r = vd__io_pread (x->io, raw, bytes, off * VD_SECTOR);
  for (uint64_t i = 0; r == 0 && i < x->gd_entries; i++)
    (*out)[i] = vd__le32 (raw + i * 4);
  free (raw);
  if (r < 0) {
    free (*out);
    *out = NULL;
  }
  return r;
}

static int
rx_dir_ok (struct rx *x, const uint32_t *gd)
{
  if (!gd)
    return 0;
  for (uint64_t i = 0; i < x->gd_entries; i++)
    if (gd[i] != 0 && !rx_table_ok (x, gd[i]))
      return 0;
  return 1;
}

/* Append a table at the grain-aligned end of the file. */
static int
rx_append_table (struct rx *x, const uint8_t *raw, uint32_t *sector)
{
  uint64_t s = VD_ROUND_UP (VD_DIV_ROUND_UP (x->file_size, VD_SECTOR),
                            x->grain);
  int r;
  if (s + x->grain > UINT32_MAX)
    return REFUSE ("%s: no room for a new grain table", x->path);
  r = vd__io_pwrite (x->io, raw, R_GT_BYTES, s * VD_SECTOR);
  if (r == 0 && x->grain * VD_SECTOR > R_GT_BYTES) {
    /* pad to a whole grain so later grains stay aligned */
    uint8_t z = 0;
    r = vd__io_pwrite (x->io, &z, 1, (s + x->grain) * VD_SECTOR - 1);
  }
  if (r < 0)
    return r;
  x->file_size = (s + x->grain) * VD_SECTOR;
  *sector = (uint32_t) s;
  return 0;
}

static int
rx_write_dir_entry (struct rx *x, uint64_t dir, uint64_t i, uint32_t v)
{
  uint8_t le[4];
  vd__put_le32 (le, v);
  return vd__io_pwrite (x->io, le, 4, dir * VD_SECTOR + i * 4);
}

/* Make the two directories and every table pair agree. */
static int
rx_tables (struct rx *x, int dry)
{
  uint8_t a[R_GT_BYTES], b[R_GT_BYTES];
  int gd_ok = rx_dir_ok (x, x->gd);
  int rgd_ok = x->rgd_off ? rx_dir_ok (x, x->rgd) : 1;
  int r;

  if (!gd_ok && !(x->rgd_off && rgd_ok))
    return REFUSE ("%s: the grain directory is damaged and there is no "
                   "good redundant copy; not repaired", x->path);
  if (!x->rgd_off)
    return 0;
  for (uint64_t i = 0; i < x->gd_entries; i++) {
    uint32_t p = gd_ok ? x->gd[i] : 0, q = rgd_ok ? x->rgd[i] : 0;
    int pa = 0, qa = 0;
    if (p && (r = vd__io_pread (x->io, a, R_GT_BYTES,
                                (uint64_t) p * VD_SECTOR)) < 0)
      return r;
    if (q && (r = vd__io_pread (x->io, b, R_GT_BYTES,
                                (uint64_t) q * VD_SECTOR)) < 0)
      return r;
    pa = p && rx_gt_ok (x, a);
    qa = q && rx_gt_ok (x, b);
    if (p && q && pa && qa) {
      if (memcmp (a, b, R_GT_BYTES) == 0)
        continue;
      /* A crash between the two copies leaves one behind the other:
       * entries set in one and 0 in the other.  Both point at synced
       * grains, so the union is safe; two different grains for one
       * slot are not decidable. */
      for (unsigned k = 0; k < R_N_GTES; k++) {
        uint32_t u = vd__le32 (a + k * 4), v = vd__le32 (b + k * 4);
        if (u && v && u != v)
          return REFUSE ("%s: grain table %llu: the primary and redundant "
                         "copies give grain %llu different places (sectors "
                         "%u and %u); cannot tell which is right, not "
                         "repaired", x->path, (unsigned long long) i,
                         (unsigned long long) (i * R_N_GTES + k), u, v);
        if (!u)
          memcpy (a + k * 4, b + k * 4, 4);
      }
      rx_note (x, "%s: grain table %llu: the two copies merged (one lagged "
               "behind after an interrupted write)", x->path,
               (unsigned long long) i);
      x->fixes++;
      if (!dry && ((r = vd__io_pwrite (x->io, a, R_GT_BYTES,
                                       (uint64_t) p * VD_SECTOR)) < 0
                   || (r = vd__io_pwrite (x->io, a, R_GT_BYTES,
                                          (uint64_t) q * VD_SECTOR)) < 0))
        return r;
      continue;
    }
    if (!p && !q)
      continue;
    /* one copy missing or unusable: rebuild it from the other */
    if ((p && !pa && q && !qa) || (!pa && !qa))
      return REFUSE ("%s: grain table %llu is damaged in both copies; not "
                     "repaired", x->path, (unsigned long long) i);
    {
      int from_primary = pa;
      const uint8_t *good = from_primary ? a : b;
      uint32_t bad_loc = from_primary ? q : p;
      uint64_t dir = from_primary ? x->rgd_off : x->gd_off;
      rx_note (x, "%s: %s grain table %llu rebuilt from the %s copy",
               x->path, from_primary ? "redundant" : "primary",
               (unsigned long long) i,
               from_primary ? "primary" : "redundant");
      x->fixes++;
      if (dry)
        continue;
      if (bad_loc && rx_table_ok (x, bad_loc)
          && (from_primary ? rgd_ok : gd_ok))
        r = vd__io_pwrite (x->io, good, R_GT_BYTES,
                           (uint64_t) bad_loc * VD_SECTOR);
      else {
        uint32_t loc = 0;
        r = rx_append_table (x, good, &loc);
        if (r == 0)
          r = vd__io_flush (x->io);    /* the table before its entry */
        if (r == 0)
          r = rx_write_dir_entry (x, dir, i, loc);
      }
      if (r < 0)
        return r;
    }
  }
  /* a directory with bad entries that were all rebuilt: rewrite the rest
   * of it from the good one for entries that were 0 on both sides */
  if (!dry && (!gd_ok || !rgd_ok)) {
    uint32_t *bad = gd_ok ? x->rgd : x->gd;
    uint64_t dir = gd_ok ? x->rgd_off : x->gd_off;
    const uint32_t *good = gd_ok ? x->gd : x->rgd;
    for (uint64_t i = 0; bad && i < x->gd_entries; i++)
      if (good[i] == 0 && bad[i] != 0
          && (r = rx_write_dir_entry (x, dir, i, 0)) < 0)
        return r;
  }
  return 0;
}

/* Trailing grains nothing points at: cut them off. */
static int
rx_trailing_leaks (struct rx *x, int dry)
{
  uint64_t end = VD_ROUND_UP (x->overhead, x->grain);
  uint8_t raw[R_GT_BYTES];
  const uint32_t *dirs[2] = { x->gd, x->rgd };
  int r;
  for (int d = 0; d < 2; d++) {
    if (!dirs[d] || (d == 1 && !x->rgd_off))
      continue;
    for (uint64_t i = 0; i < x->gd_entries; i++) {
      uint64_t g = dirs[d][i];
      if (!g)
        continue;
      end = VD_MAX (end, g + R_GT_SECTORS);
      if ((r = vd__io_pread (x->io, raw, R_GT_BYTES, g * VD_SECTOR)) < 0)
        return r;
      for (unsigned k = 0; k < R_N_GTES; k++) {
        uint64_t s = vd__le32 (raw + k * 4);
        if (s > 1)
          end = VD_MAX (end, s + x->grain);
      }
    }
  }
  end = VD_ROUND_UP (end, x->grain);
  if (end * VD_SECTOR >= x->file_size)
    return 0;
  rx_note (x, "%s: %llu bytes of leaked grains at the end of the file "
           "given back", x->path,
           (unsigned long long) (x->file_size - end * VD_SECTOR));
  x->fixes++;
  if (dry)
    return 0;
  r = x->io->ops->truncate (x->io, end * VD_SECTOR);
  if (r == 0)
    x->file_size = end * VD_SECTOR;
  return r;
}

static int
rx_extent (const char *path, struct vd_check_ctx *ctx, uint32_t flags,
           int dry)
{
  struct rx x;
  int r;
  memset (&x, 0, sizeof x);
  x.path = path;
  x.ctx = ctx;
  r = vd__check_vmware_lock (path, flags & VD_OPEN_FORCE);
  if (r < 0)
    return r;
  r = vd__io_posix_open (&x.io, AT_FDCWD, path, path,
                         dry ? 0 : VD_IO_RDWR);
  if (r < 0)
    return r;
  if (!dry && (r = vd__lock (x.io, 1)) < 0)
    goto out;
  if ((r = rx_header (&x)) < 0)
    goto out;
  if ((r = rx_load_dir (&x, x.gd_off, &x.gd)) < 0
      || (x.rgd_off && (r = rx_load_dir (&x, x.rgd_off, &x.rgd)) < 0))
    goto out;
  if ((r = rx_tables (&x, dry)) < 0)
    goto out;
  if (!dry && x.fixes && (r = vd__io_flush (x.io)) < 0)
    goto out;
  /* reload what was rewritten before measuring the tail */
  free (x.gd);
  free (x.rgd);
  x.gd = x.rgd = NULL;
  if ((r = rx_load_dir (&x, x.gd_off, &x.gd)) < 0
      || (x.rgd_off && (r = rx_load_dir (&x, x.rgd_off, &x.rgd)) < 0))
    goto out;
  if (rx_dir_ok (&x, x.gd) && (!x.rgd_off || rx_dir_ok (&x, x.rgd))
      && (r = rx_trailing_leaks (&x, dry)) < 0)
    goto out;
  if (x.hdr[72]) {
    rx_note (&x, "%s: uncleanShutdown cleared", path);
    x.fixes++;
    if (!dry) {
      uint8_t zero = 0;
      r = vd__io_flush (x.io);     /* the repairs before the flag */
      if (r == 0)
        r = vd__io_pwrite (x.io, &zero, 1, 72);
    }
  }
  if (r == 0 && !dry)
    r = vd__io_flush (x.io);
out:
  free (x.gd);
  free (x.rgd);
  vd__io_close (x.io);
  return r < 0 ? r : (int) x.fixes;
}

/* The files of the top link's hosted sparse extents, from its
 * descriptor (read here: a normal open may refuse the damaged disk). */
static int
rx_extent_paths (const char *path, uint32_t flags, char ***out, size_t *n)
{
  struct vd_io *io = NULL;
  struct vd_descriptor *d = NULL;
  uint64_t size, doff = 0, dsize = 0;
  char *text = NULL, *dir = NULL;
  uint8_t magic[4];
  int r;

  *out = NULL;
  *n = 0;
  r = vd__io_posix_open (&io, AT_FDCWD, path, path, VD_IO_FOLLOW);
  if (r < 0)
    return r;
  r = io->ops->size (io, &size);
  if (r == 0 && size >= 4)
    r = vd__io_pread (io, magic, 4, 0);
  if (r < 0)
    goto out;
  if (size >= 4 && vd__le32 (magic) == R_MAGIC) {
    r = vd__sparse_embedded_desc (io, &doff, &dsize);
    if (r < 0)
      goto out;
    if (dsize == 0) {       /* a lone extent: repair the file itself */
      *out = calloc (1, sizeof **out);
      if (*out && ((*out)[0] = vd__strdup (path)))
        *n = 1;
      else
        r = VD_ENOMEM;
      goto out;
    }
  }
  else {
    dsize = size;
    if (dsize > VD_MAX_DESC_BYTES) {
      r = REFUSE ("%s: descriptor larger than 1 MiB", path);
      goto out;
    }
  }
  text = malloc ((size_t) dsize + 1);
  if (!text) {
    r = vd_error (VD_ENOMEM, errno, "%s: descriptor", path);
    goto out;
  }
  r = vd__io_pread (io, text, (size_t) dsize, doff);
  if (r < 0)
    goto out;
  text[dsize] = 0;
  r = vd__desc_parse (&d, text, (size_t) dsize, path);
  if (r < 0)
    goto out;
  dir = vd__dirname (path);
  *out = calloc (d->n_extents ? d->n_extents : 1, sizeof **out);
  if (!dir || !*out) {
    r = VD_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < d->n_extents; i++) {
    const struct vd_desc_extent *e = vd__desc_extent (d, i);
    if (!e->file || strcmp (e->type, "SPARSE") != 0)
      continue;
    /* the rule of every open: an embedded descriptor's extent is this
     * very file, whatever name its line gives (a copy names the
     * original) */
    r = vd__extent_path (d, i, dsize != 0 && doff != 0, path, dir,
                         (flags & VD_OPEN_TRUSTED) != 0, &(*out)[*n]);
    if (r < 0)
      goto out;
    (*n)++;
  }
out:
  if (r < 0 && *out) {
    for (size_t i = 0; i < *n; i++)
      free ((*out)[i]);
    free (*out);
    *out = NULL;
    *n = 0;
  }
  free (dir);
  free (text);
  vd__desc_free (d);
  vd__io_close (io);
  return r;
}

int
vd_check_repair (const char *path, uint32_t open_flags,
                 struct vd_check_result *result,
                 vd_check_message_cb message, void *payload)
{
  struct vd_check_result scratch;
  struct vd_check_ctx ctx = { .res = result ? result : &scratch,
                              .message = message, .payload = payload,
                              .file = path };
  char **files = NULL;
  size_t n = 0;
  int r, fixes = 0;

  VD_ENTER ();
  if (!path)
    return vd_error (VD_EINVAL, 0, "repair: no path");
  if (open_flags & VD_OPEN_READ_ONLY)
    return vd_error (VD_EINVAL, 0, "%s: repair writes; a read-only repair "
                     "is a check", path);
  r = vd__check_vmware_lock (path, open_flags);
  if (r < 0)
    return r;
  r = rx_extent_paths (path, open_flags, &files, &n);
  if (r < 0)
    return r;
  {
    /* a copied descriptor names the original's extents: repairing them
     * writes another disk's files */
    struct vd_files f = { 0 }, self = { 0 };
    struct vd_user u;
    char *dir = vd__dirname (path);
    r = dir ? vd__files_add (&self, path) : VD_ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
      r = vd__files_add (&f, files[i]);
    if (r == 0 && !(open_flags & VD_OPEN_FORCE)
        && vd__find_user (dir, f.ids, f.n,
                          VD_USE_EXTENT | VD_USE_CTK | VD_USE_DESC, self.ids,
                          self.n, NULL, &u)) {
      r = vd_error (VD_EPARENT, 0, "%s: another disk in this folder, %s, "
                    "uses %s as %s too; the repair would write that "
                    "disk's file (force to repair it anyway)", path, u.disk,
                    f.names[u.which], vd__use_name (u.how));
      free (u.disk);
    }
    vd__files_free (&f);
    vd__files_free (&self);
    free (dir);
  }
  for (size_t i = 0; i < n && r >= 0; i++) {
    r = rx_extent (files[i], &ctx, open_flags, 0);
    if (r > 0)
      fixes += r;
  }
  for (size_t i = 0; i < n; i++)
    free (files[i]);
  free (files);
  if (r < 0)
    return r;
  /* what is left, as a check sees it */
  if (result) {
    r = vd_check (path, open_flags & ~VD_OPEN_READ_ONLY, result, message,
                  payload);
    if (r < 0)
      return r;
  }
  return fixes;
}
