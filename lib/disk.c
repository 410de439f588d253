/* The open disk: a chain of links, each a descriptor plus extents over
 * the virtual byte space.  Everything here is format-agnostic: extents
 * are reached through their driver's table (formats/registry.c). */
#include "internal.h"
#include "vsphere/vsphere-internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
vd_get_version (void)
{
  return "0.1.0";
}

/* ---- names ---------------------------------------------------------------- */

static const struct {
  const char *name;
  enum vd_type type;
} type_names[] = {
  { "monolithicSparse", VD_TYPE_MONOLITHIC_SPARSE },
  { "monolithicFlat", VD_TYPE_MONOLITHIC_FLAT },
  { "twoGbMaxExtentSparse", VD_TYPE_SPLIT_SPARSE },
  { "2GbMaxExtentSparse", VD_TYPE_SPLIT_SPARSE },
  { "twoGbMaxExtentFlat", VD_TYPE_SPLIT_FLAT },
  { "2GbMaxExtentFlat", VD_TYPE_SPLIT_FLAT },
  { "vmfs", VD_TYPE_VMFS },
  { "vmfsPreallocated", VD_TYPE_VMFS },
  { "vmfsEagerZeroedThick", VD_TYPE_VMFS },
  { "vmfsThick", VD_TYPE_VMFS },
  { "vmfsThin", VD_TYPE_VMFS_THIN },
  { "streamOptimized", VD_TYPE_STREAM_OPTIMIZED },
  { "vmfsSparse", VD_TYPE_VMFS_SPARSE },
  { "seSparse", VD_TYPE_SE_SPARSE },
  { "vmfsSeSparse", VD_TYPE_SE_SPARSE },
  { "custom", VD_TYPE_CUSTOM },
  { "raw", VD_TYPE_RAW },
};

enum vd_type
vd_type_from_name (const char *name)
{
  if (!name)
    return VD_TYPE_UNKNOWN;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (strcasecmp (name, type_names[i].name) == 0)
      return type_names[i].type;
  return VD_TYPE_UNKNOWN;
}

const char *
vd_type_name (enum vd_type type)
{
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (type_names[i].type == type)
      return type_names[i].name;
  return NULL;
}

static const char *const adapter_names[] = {
  [VD_ADAPTER_IDE] = "ide", [VD_ADAPTER_BUSLOGIC] = "buslogic",
  [VD_ADAPTER_LSILOGIC] = "lsilogic", [VD_ADAPTER_LEGACY_ESX] = "legacyESX",
  [VD_ADAPTER_PVSCSI] = "pvscsi",
};

enum vd_adapter
vd_adapter_from_name (const char *name)
{
  if (!name)
    return VD_ADAPTER_UNKNOWN;
  for (int i = 1; i <= VD_ADAPTER_PVSCSI; i++)
    if (strcasecmp (name, adapter_names[i]) == 0)
      return (enum vd_adapter) i;
  return VD_ADAPTER_UNKNOWN;
}

const char *
vd_adapter_name (enum vd_adapter a)
{
  if (a < VD_ADAPTER_IDE || a > VD_ADAPTER_PVSCSI)
    return NULL;
  return adapter_names[a];
}

/* ---- opening ---------------------------------------------------------------- */

static void
close_link (struct vd_link *l)
{
  if (!l)
    return;
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (e->drv && e->drv->close && e->state)
      e->drv->close (e);
    free (e->state);
    if (e->io && e->io != l->desc_io)
      vd__io_close (e->io);
    free (e->name);
    free (e->path);
  }
  free (l->extents);
  vd__link_cbt_close (l);
  vd__io_close (l->desc_io);
  vd__desc_free (l->desc);
  if (l->dirfd >= 0)
    close (l->dirfd);
  free (l->path);
  free (l->dir);
  pthread_mutex_destroy (&l->mu);
  free (l);
}

static uint32_t
parse_cid (const char *s)
{
  if (!s)
    return 0xffffffffu;
  return (uint32_t) strtoul (s, NULL, 16);
}

static enum vd_extent_type
extent_type (const char *t)
{
  if (strcmp (t, "FLAT") == 0) return VD_EXTENT_FLAT;
  if (strcmp (t, "SPARSE") == 0) return VD_EXTENT_SPARSE;
  if (strcmp (t, "ZERO") == 0) return VD_EXTENT_ZERO;
  if (strcmp (t, "VMFS") == 0) return VD_EXTENT_VMFS;
  if (strcmp (t, "VMFSSPARSE") == 0) return VD_EXTENT_VMFSSPARSE;
  if (strcmp (t, "SESPARSE") == 0) return VD_EXTENT_SESPARSE;
  return 0;
}

/* Pick the driver for a binary extent by the scores of its first bytes. */
static int
pick_driver (struct vd_extent *e)
{
  uint8_t buf[VD_SECTOR];
  uint64_t fsize;
  int best = 0, r;
  const struct vd_format_driver *drv = NULL;

  r = e->io->ops->size (e->io, &fsize);
  if (r < 0)
    return r;
  memset (buf, 0, sizeof buf);
  r = vd__io_pread (e->io, buf, (size_t) VD_MIN (fsize, sizeof buf), 0);
  if (r < 0)
    return r;
  for (size_t i = 0; vd__drivers[i]; i++) {
    int score = vd__drivers[i]->probe
                  ? vd__drivers[i]->probe (buf, (size_t) VD_MIN (fsize, sizeof buf))
                  : 0;
    if (score > best) {
      best = score;
      drv = vd__drivers[i];
    }
  }
  if (!drv)
    return vd_error (VD_ECORRUPT, 0, "%s: not a %s extent vdisk can read "
                     "(unknown magic %02x %02x %02x %02x)", e->path,
                     e->type == VD_EXTENT_SPARSE ? "sparse"
                     : e->type == VD_EXTENT_VMFSSPARSE ? "vmfsSparse"
                     : "seSparse", buf[0], buf[1], buf[2], buf[3]);
  e->drv = drv;
  return 0;
}

static int
is_flat_type (int type)
{
  return type == VD_EXTENT_FLAT || type == VD_EXTENT_VMFS;
}

static int
same_file (struct vd_io *a, struct vd_io *b)
{
  struct stat sa, sb;
  if (!a || !b)
    return 0;
  if (a->fd < 0 || b->fd < 0)   /* in-memory files: by name */
    return a != b && strcmp (a->name, b->name) == 0;
  if (fstat (a->fd, &sa) < 0 || fstat (b->fd, &sb) < 0)
    return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int
vd__extent_path (const struct vd_descriptor *d, size_t i, int embedded,
                 const char *self, const char *dir, int trusted, char **out)
{
  const struct vd_desc_extent *de = vd__desc_extent (d, i);
  char qb[96];

  *out = NULL;
  if (!de || !de->file || strcmp (de->type, "ZERO") == 0)
    return 0;
  if (embedded && i == 0) {
    /* The line names the file as it was first called (a copy still names
     * the original; open-vmdk writes "disk" whatever the name): the
     * extent is the file that holds the descriptor. */
    if (strcmp (de->type, "SPARSE") != 0)
      return vd_error (VD_ECORRUPT, 0, "%s: embedded descriptor's first "
                       "extent is not SPARSE", self);
    *out = vd__strdup (self);
    return *out ? 0 : VD_ENOMEM;
  }
  if (!vd__name_ok (de->file, trusted))
    return vd_error (VD_EINVAL, 0, "%s: refusing extent file name "
                     "\"%s\": only plain names in the descriptor's "
                     "folder are allowed (absolute paths and folders "
                     "and '..' need the trusted option; ':' and control "
                     "characters never)", self,
                     vd__quote (qb, sizeof qb, de->file,
                                strlen (de->file)));
  *out = vd__path_join (dir, de->file);
  return *out ? 0 : VD_ENOMEM;
}

static int
open_extents (struct vd_link *l, uint32_t flags)
{
  const struct vd_descriptor *d = l->desc;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  uint64_t start = 0;
  int r;

  l->extents = calloc (d->n_extents, sizeof *l->extents);
  if (!l->extents)
    return vd_error (VD_ENOMEM, errno, "extents");
  for (size_t i = 0; i < d->n_extents; i++) {
    const struct vd_desc_extent *de = vd__desc_extent (d, i);
    struct vd_extent *e = &l->extents[l->n_extents++];
    e->link = l;
    e->type = extent_type (de->type);
    e->access = de->access;
    e->start = start;
    e->size = de->sectors * VD_SECTOR;
    e->file_offset = de->offset * VD_SECTOR;
    if (start > ((uint64_t) 1 << 62) - e->size)
      return vd_error (VD_ECORRUPT, 0, "%s: extent sizes add up to more "
                       "than 2^62 bytes", l->path);
    start += e->size;
    if (e->type == 0)
      return vd_error (VD_ENOTSUP, 0, "%s: extent type %s (raw device "
                       "mapping) is not supported", l->path, de->type);
    if (e->type == VD_EXTENT_ZERO) {
      e->drv = &vd__zero_driver;
      e->name = NULL;
      continue;
    }
    e->name = vd__strdup (de->file);
    if (!e->name)
      return VD_ENOMEM;
    r = vd__extent_path (d, i, l->embedded, l->path, l->dir, trusted,
                         &e->path);
    if (r < 0)
      return r;
    if (l->embedded && i == 0) {
      /* the file we opened (vd__extent_path's rule) */
      e->io = l->desc_io;
    }
    else {
      int ioflags = 0;
      if (l->rw && e->access == VD_ACCESS_RW)
        ioflags |= VD_IO_RDWR;
      if (trusted)
        ioflags |= VD_IO_FOLLOW;
      if (vd__io_is_https (l->desc_io))
        r = vd__io_https_sibling (&e->io, l->desc_io, e->name,
                                  (ioflags & VD_IO_RDWR) != 0);
      else
        r = vd__io_posix_open (&e->io, e->name[0] == '/' ? AT_FDCWD
                               : l->dirfd, e->name, e->path, ioflags);
      if (r < 0)
        return r;
      if (same_file (e->io, l->desc_io))
        return vd_error (VD_ECORRUPT, 0, "%s: extent \"%s\" is the "
                         "descriptor file itself", l->path, e->name);
      /* One file under two extents: only FLAT ranges that do not overlap
       * (a partitioned device's layout, as qemu-img reads it). */
      int locked_rw = 0;
      for (size_t k = 0; k + 1 < l->n_extents; k++) {
        const struct vd_extent *o = &l->extents[k];
        if (!same_file (e->io, o->io))
          continue;
        if (!is_flat_type (e->type) || !is_flat_type (o->type)
            || (e->file_offset < o->file_offset + o->size
                && o->file_offset < e->file_offset + e->size))
          return vd_error (VD_ECORRUPT, 0, "%s: extent file \"%s\" is "
                           "listed twice (only FLAT extents over ranges "
                           "of the file that do not overlap may share a "
                           "file)", l->path, e->name);
        if (l->rw && o->access == VD_ACCESS_RW)
          locked_rw = 1;   /* that extent's lock covers the file */
      }
      r = locked_rw ? 0 : vd__lock (e->io, l->rw && e->access == VD_ACCESS_RW);
      if (r < 0)
        return r;
    }
    switch (e->type) {
    case VD_EXTENT_FLAT:
    case VD_EXTENT_VMFS:
      e->drv = &vd__flat_driver;
      break;
    default:
      r = pick_driver (e);
      if (r < 0)
        return r;
      if (e->drv->name && strcmp (e->drv->name, "stream") == 0)
        e->type = VD_EXTENT_STREAM;
    }
  }
  l->size = start;
  if (l->size == 0)
    return vd_error (VD_ECORRUPT, 0, "%s: disk has no capacity", l->path);
  /* Open the drivers once the link is complete (they may look at it). */
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    e->rw = l->rw && e->access == VD_ACCESS_RW;
    if (e->drv->instance_size) {
      e->state = calloc (1, e->drv->instance_size);
      if (!e->state)
        return vd_error (VD_ENOMEM, errno, "extent state");
    }
    r = e->drv->open (e, e->rw);  /* its own refusal says the most */
    if (r < 0)
      return r;
    if (e->rw && !e->drv->pwrite)
      return vd_error (VD_ENOTSUP, 0, "%s: extent %zu (%s%s%s) cannot be "
                       "opened for writing; convert the disk to a writable "
                       "layout", l->path, i + 1, e->drv->name,
                       e->path ? ", " : "", e->path ? e->path : "");
  }
  return 0;
}

/* Read the descriptor of the file at path (already opened as io). */
static int
load_descriptor (struct vd_link *l)
{
  uint8_t magic[8] = { 0 };
  uint64_t fsize, off = 0, size = 0;
  char *text;
  int r;

  r = l->desc_io->ops->size (l->desc_io, &fsize);
  if (r < 0)
    return r;
  if (fsize >= 4) {
    r = vd__io_pread (l->desc_io, magic, (size_t) VD_MIN (fsize, 8), 0);
    if (r < 0)
      return r;
  }
  if (memcmp (magic, "KDMV", 4) == 0) {
    r = vd__sparse_embedded_desc (l->desc_io, &off, &size);
    if (r < 0)
      return r;
    if (size == 0)
      return vd_error (VD_EINVAL, 0, "%s: this sparse extent has no "
                       "embedded descriptor: open the disk's descriptor "
                       "file instead", l->path);
    l->embedded = 1;
    l->desc_offset = off;
    l->desc_capacity = size;
  }
  else if (memcmp (magic, "COWD", 4) == 0
           || vd__le64 (magic) == UINT64_C (0xcafebabe))
    return vd_error (VD_EINVAL, 0, "%s: this is an ESXi delta extent: open "
                     "the disk's descriptor file instead", l->path);
  else {
    if (fsize > VD_MAX_DESC_BYTES)
      return vd_error (VD_ECORRUPT, 0, "%s: not a VMDK descriptor (larger "
                       "than 1 MiB and no sparse header); to read a raw "
                       "image use the raw option", l->path);
    size = fsize;
  }
  text = malloc (size + 1);
  if (!text)
    return vd_error (VD_ENOMEM, errno, "descriptor");
  r = vd__io_pread (l->desc_io, text, (size_t) size, off);
  if (r == 0) {
    text[size] = '\0';
    l->desc_len = strlen (text);
    r = vd__desc_parse (&l->desc, text, (size_t) size, l->path);
  }
  free (text);
  return r;
}

/* The ddb lines of a disk on a vdisk server (see vd__io_nbd_get_meta),
 * keeping only well-formed `ddb.KEY = "VALUE"` lines: the server may not
 * put anything else (extents, a parent) into the descriptor. */
#define REMOTE_DDB_MAX_LINES 4096

static int
remote_ddb (struct vd_io *io, char **out)
{
  char *text = NULL, *buf = NULL, *line, *save = NULL;
  size_t size = 0;
  unsigned n = 0;
  FILE *fp;
  int r;

  *out = NULL;
  r = vd__io_nbd_get_meta (io, &text);
  if (r < 0 || !text)
    return r;
  fp = open_memstream (&buf, &size);
  if (!fp) {
    free (text);
    return vd_error (VD_ENOMEM, errno, "%s: metadata", io->name);
  }
  for (line = strtok_r (text, "\n", &save); line && n < REMOTE_DDB_MAX_LINES;
       line = strtok_r (NULL, "\n", &save)) {
    char *key = line, *k_end, *val, *v_end;
    size_t klen;
    k_end = key + strspn (key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                          "QRSTUVWXYZ0123456789._-");
    klen = (size_t) (k_end - key);
    if (klen <= 4 || klen > 64 || strncmp (key, "ddb.", 4) != 0
        || strncmp (k_end, " = \"", 4) != 0)
      continue;
    val = k_end + 4;
    v_end = strrchr (val, '"');
    if (!v_end || v_end[1] != '\0')
      continue;
    *k_end = '\0';
    *v_end = '\0';
    if (!vd__desc_value_ok (val) || strlen (val) > 1024)
      continue;
    fprintf (fp, "%s = \"%s\"\n", key, val);
    n++;
  }
  free (text);
  if (fclose (fp) != 0) {
    free (buf);
    return vd_error (VD_ENOMEM, errno, "%s: metadata", io->name);
  }
  *out = buf;
  return 0;
}

static int
open_link (struct vd_disk *disk, struct vd_link **out, const char *path,
           uint32_t flags, int rw, int follow, struct vd_io *near)
{
  struct vd_link *l = calloc (1, sizeof *l);
  const char *v;
  int r;

  *out = NULL;
  if (!l)
    return vd_error (VD_ENOMEM, errno, "link");
  pthread_mutex_init (&l->mu, NULL);
  l->disk = disk;
  l->rw = rw;
  l->dirfd = -1;
  l->path = vd__strdup (path);
  l->dir = vd__dirname (path);
  if (!l->path || !l->dir) {
    r = VD_ENOMEM;
    goto fail;
  }
  if (vd__is_vsphere_uri (path)) {
    /* a file on a vSphere datastore (io-https.c); its extents and
     * parents come from the same datastore folder */
    r = vd__io_https_open_uri (&l->desc_io, path, rw, near);
    if (r < 0)
      goto fail;
    free (l->path);
    free (l->dir);
    l->path = vd__strdup (l->desc_io->name);  /* without ?options */
    l->dir = l->path ? vd__dirname (l->path) : NULL;
    if (!l->path || !l->dir) {
      r = VD_ENOMEM;
      goto fail;
    }
  }
  else if (vd__is_uri (path)) {
    /* a disk served over NBD: raw bytes, nothing beside it */
    r = vd__io_nbd_open (&l->desc_io, path, rw);
    if (r < 0)
      goto fail;
    flags |= VD_OPEN_RAW;
    l->remote = 1;
  }
  else {
    l->dirfd = open (l->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (l->dirfd < 0) {
      r = vd_error (vd__errno_code (errno), errno, "%s: open folder",
                    l->dir);
      goto fail;
    }
    r = vd__io_posix_open (&l->desc_io, AT_FDCWD, path, path,
                           (rw ? VD_IO_RDWR : 0)
                             | (follow ? VD_IO_FOLLOW : 0));
  }
  if (r < 0)
    goto fail;
  r = vd__lock (l->desc_io, rw);
  if (r < 0)
    goto fail;

  if (flags & VD_OPEN_RAW) {
    uint64_t fsize;
    char *text;
    r = l->desc_io->ops->size (l->desc_io, &fsize);
    if (r < 0)
      goto fail;
    if (fsize == 0) {
      r = vd_error (VD_EINVAL, 0, "%s: raw image is empty", path);
      goto fail;
    }
    l->raw = 1;
    l->type = VD_TYPE_RAW;
    l->create_type = "raw";
    l->cid = l->parent_cid = 0xffffffffu;
    l->extents = calloc (1, sizeof *l->extents);
    char *ddb = NULL;
    if (l->remote) {
      r = remote_ddb (l->desc_io, &ddb);
      if (r < 0)
        goto fail;
    }
    text = vd__asprintf ("version=1\ncreateType=\"custom\"\nRW %llu FLAT "
                         "\"raw\" 0\n%s",
                         (unsigned long long) VD_DIV_ROUND_UP (fsize,
                                                               VD_SECTOR),
                         ddb ? ddb : "");
    free (ddb);
    if (!l->extents || !text) {
      free (text);
      r = vd_error (VD_ENOMEM, errno, "raw");
      goto fail;
    }
    r = vd__desc_parse (&l->desc, text, strlen (text), path);
    free (text);
    if (r < 0)
      goto fail;
    struct vd_extent *e = &l->extents[0];
    l->n_extents = 1;
    e->link = l;
    e->drv = &vd__flat_driver;
    e->io = l->desc_io;
    e->type = VD_EXTENT_FLAT;
    e->access = VD_ACCESS_RW;
    e->size = fsize;
    e->rw = rw;
    e->path = vd__strdup (path);
    e->name = vd__basename (path);
    l->size = fsize;
    *out = l;
    return 0;
  }

  r = load_descriptor (l);
  if (r < 0)
    goto fail;
  for (size_t i = 0; i < l->desc->n_lines; i++) {
    const struct vd_desc_line *ln = &l->desc->lines[i];
    if (ln->kind == VD_LINE_HEADER && strncasecmp (ln->key, "encryption", 10) == 0) {
      r = vd_error (VD_ENOTSUP, 0, "%s: this disk uses VMware hosted "
                    "encryption (%s), which vdisk does not support", path,
                    ln->key);
      goto fail;
    }
  }
  l->create_type = vd__desc_get (l->desc, "createType");
  l->type = vd_type_from_name (l->create_type);
  if (l->type == VD_TYPE_UNKNOWN)
    l->type = VD_TYPE_CUSTOM;
  v = vd__desc_get_ddb (l->desc, "ddb.thinProvisioned");
  if (l->type == VD_TYPE_VMFS && v && strcmp (v, "1") == 0)
    l->type = VD_TYPE_VMFS_THIN;
  l->cid = parse_cid (vd__desc_get (l->desc, "CID"));
  l->parent_cid = parse_cid (vd__desc_get (l->desc, "parentCID"));
  r = open_extents (l, flags);
  if (r < 0)
    goto fail;
  *out = l;
  return 0;
fail:
  close_link (l);
  return r;
}

static int
link_identity (struct vd_link *l, dev_t *dev, ino_t *ino)
{
  struct stat st;
  if (l->desc_io->fd < 0) {
    /* not a real file (memory, network): identify it by its name */
    uint64_t h = 1469598103934665603u;
    for (const char *p = l->desc_io->name; *p; p++)
      h = (h ^ (uint8_t) *p) * 1099511628211u;
    *dev = 0;
    *ino = (ino_t) h;
    return 0;
  }
  if (fstat (l->desc_io->fd, &st) < 0)
    return -1;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return 0;
}

/* Open the parents named by parentFileNameHint, up to VD_MAX_CHAIN. */
static int
open_parents (struct vd_disk *disk)
{
  dev_t devs[VD_MAX_CHAIN];
  ino_t inos[VD_MAX_CHAIN];
  char qb[96];
  int trusted = (disk->flags & VD_OPEN_TRUSTED) != 0;
  int r;

  if (link_identity (disk->top, &devs[0], &inos[0]) < 0)
    return vd_error (VD_EIO, errno, "%s: fstat", disk->top->path);
  for (struct vd_link *child = disk->top;;) {
    const char *hint = vd__desc_get (child->desc, "parentFileNameHint");
    struct vd_link *parent;
    char *ppath;

    if (child->parent_cid == 0xffffffffu && !hint)
      return 0;
    if (!hint)
      return vd_error (VD_EPARENT, 0, "%s: parentCID is %08x but there is "
                       "no parentFileNameHint", child->path,
                       child->parent_cid);
    if (child->parent_cid == 0xffffffffu)
      return vd_error (VD_EPARENT, 0, "%s: names a parent but its parentCID "
                       "is ffffffff", child->path);
    if (disk->n_links >= VD_MAX_CHAIN)
      return vd_error (VD_EPARENT, 0, "%s: chain deeper than %d links",
                       disk->top->path, VD_MAX_CHAIN);
    if (!vd__name_ok (hint, trusted))
      return vd_error (VD_EINVAL, 0, "%s: refusing parentFileNameHint "
                       "\"%s\": only names in the same folder are allowed "
                       "(use the trusted option for absolute paths, "
                       "folders and '..')", child->path,
                       vd__quote (qb, sizeof qb, hint, strlen (hint)));
    ppath = vd__path_join (child->dir, hint);
    if (!ppath)
      return VD_ENOMEM;
    r = open_link (disk, &parent, ppath, disk->flags, 0, trusted,
                   child->desc_io);
    if (r == VD_ENOENT) {
      vd__error_clear ();
      r = vd_error (VD_EPARENT, ENOENT, "%s: parent \"%s\" not found",
                    child->path, ppath);
    }
    free (ppath);
    if (r < 0)
      return r;
    child->parent = parent;
    unsigned idx = disk->n_links++;
    disk->links[idx] = parent;
    if (link_identity (parent, &devs[idx], &inos[idx]) < 0)
      return vd_error (VD_EIO, errno, "%s: fstat", parent->path);
    for (unsigned k = 0; k < idx; k++)
      if (devs[k] == devs[idx] && inos[k] == inos[idx])
        return vd_error (VD_EPARENT, 0, "%s: parent chain loops back to "
                         "%s", child->path, disk->links[k]->path);
    if (parent->size != child->size)
      return vd_error (VD_EPARENT, 0, "%s: capacity %llu differs from its "
                       "parent %s (%llu)", child->path,
                       (unsigned long long) child->size, parent->path,
                       (unsigned long long) parent->size);
    /* An interrupted commit (chain.c) gave the ancestor the CID it
     * recorded in the top link: the chain still reads correctly. */
    if (parent->cid != child->parent_cid
        && !(disk->commit_cid && parent->cid == disk->commit_cid)
        && !((disk->flags & VD_OPEN_IGNORE_CID) && !disk->rw))
      return vd_error (VD_EPARENT, 0, "%s: parentCID %08x does not match "
                       "the CID %08x of its parent %s: the parent changed "
                       "after the child was made (the ignore-cid option "
                       "reads it anyway, read-only)", child->path, child->parent_cid,
                       parent->cid, parent->path);
    child = parent;
  }
}

int
vd_disk_open (vd_disk **out, const char *path, uint32_t flags)
{
  struct vd_disk *d;
  int rw = !(flags & VD_OPEN_READ_ONLY);
  int r;

  VD_ENTER ();
  if (!out || !path)
    return vd_error (VD_EINVAL, 0, "no disk path given");
  *out = NULL;
  if (rw && (flags & VD_OPEN_IGNORE_CID))
    return vd_error (VD_EINVAL, 0, "%s: ignoring the parent CID is only "
                     "allowed read-only", path);
  /* trust (lib/repair.c): a VMware PATH.lck/ folder means "in use" for a
   * read-write open unless VD_OPEN_FORCE */
  r = vd__check_vmware_lock (path, flags);
  if (r < 0)
    return r;
  d = calloc (1, sizeof *d);
  if (!d)
    return vd_error (VD_ENOMEM, errno, "disk");
  d->flags = flags;
  d->rw = rw;
  r = open_link (d, &d->top, path, flags, rw, 1, NULL);
  if (r < 0)
    goto fail;
  d->links[0] = d->top;
  d->n_links = 1;
  {
    const char *cc = vd__desc_get_ddb (d->top->desc, VD_COMMIT_KEY);
    d->commit_cid = cc ? (uint32_t) strtoul (cc, NULL, 16) : 0;
  }
  if (rw && !(flags & VD_OPEN_FORCE) && !d->top->raw) {
    r = vd__check_no_child (d->top);
    /* a copied descriptor shares its extent files with the original:
     * writing one would change the other */
    if (r == 0)
      r = vd__refuse_shared (d->top, 0, "writing to it",
                             "force the write to do it anyway");
    if (r < 0)
      goto fail;
  }
  if (flags & VD_OPEN_NO_SYNC) {
    d->top->desc_io->nosync = 1;
    for (size_t i = 0; i < d->top->n_extents; i++)
      if (d->top->extents[i].io)
        d->top->extents[i].io->nosync = 1;
  }
  if (!(flags & VD_OPEN_SINGLE_LINK)) {
    r = open_parents (d);
    if (r < 0)
      goto fail;
  }
  else if (rw && d->top->parent_cid != 0xffffffffu) {
    r = vd_error (VD_ENOTSUP, 0, "%s: a single-link open of a child disk "
                  "must be read-only", path);
    goto fail;
  }
  if (!d->top->raw && (r = vd__link_cbt_attach (d->top, rw, flags)) < 0)
    goto fail;
  *out = d;
  return 0;
fail:
  /* parents were recorded in links[] as soon as they opened */
  for (unsigned i = 1; i < d->n_links; i++)
    close_link (d->links[i]);
  close_link (d->top);
  free (d);
  return r;
}

int
vd_disk_close (vd_disk *d)
{
  int r = 0;
  if (!d)
    return 0;
  VD_ENTER ();
  if (d->rw && !d->failed) {
    struct vd_link *l = d->top;
    for (size_t i = 0; i < l->n_extents; i++) {
      struct vd_extent *e = &l->extents[i];
      int r2 = 0;
      if (e->rw && e->drv->close_clean)
        r2 = e->drv->close_clean (e);
      else if (e->rw && e->drv->flush)
        r2 = e->drv->flush (e);
      if (r2 < 0 && r == 0)
        r = r2;
    }
    int r3 = vd__link_cbt_commit (l);
    if (r3 < 0 && r == 0)
      r = r3;
  }
  for (unsigned i = 0; i < d->n_links; i++)
    close_link (d->links[i]);
  free (d);
  return r;
}

/* ---- I/O -------------------------------------------------------------------- */

/* Extent of l holding byte off (off < l->size). */
struct vd_extent *
vd__find_extent (struct vd_link *l, uint64_t off)
{
  size_t lo = 0, hi = l->n_extents;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (l->extents[mid].start <= off)
      lo = mid;
    else
      hi = mid;
  }
  return &l->extents[lo];
}

static int
link_read (struct vd_link *l, uint8_t *buf, size_t count, uint64_t off)
{
  while (count > 0) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN ((uint64_t) count, e->size - eoff);
    struct vd_map m;
    int r;

    if (e->access == VD_ACCESS_NOACCESS)
      return vd_error (VD_EIO, 0, "%s: extent at byte %llu is NOACCESS",
                       l->path, (unsigned long long) e->start);
    r = e->drv->map (e, eoff, n, &m);
    if (r < 0)
      return r;
    if (m.length == 0 || m.length > n)
      return vd_error (VD_EIO, 0, "%s: internal error: bad map length",
                       e->path);
    switch (m.status) {
    case VD_MAP_DATA:
      r = vd__io_pread (e->io, buf, (size_t) m.length, m.file_offset);
      break;
    case VD_MAP_DRIVER:
      r = e->drv->pread (e, buf, (size_t) m.length, eoff);
      break;
    case VD_MAP_ZERO:
      memset (buf, 0, (size_t) m.length);
      break;
    case VD_MAP_HOLE:
      if (l->parent)
        r = link_read (l->parent, buf, (size_t) m.length, off);
      else
        memset (buf, 0, (size_t) m.length);
      break;
    }
    if (r < 0)
      return r;
    buf += m.length;
    off += m.length;
    count -= (size_t) m.length;
  }
  return 0;
}

int
vd__link_read_below (struct vd_link *l, void *buf, size_t len, uint64_t off)
{
  if (!l->parent) {
    memset (buf, 0, len);
    return 0;
  }
  return link_read (l->parent, buf, len, off);
}

static int
check_range (const vd_disk *d, size_t count, uint64_t off, const char *what)
{
  uint64_t size = d->top->size;
  if (off > size || count > size - off)
    return vd_error (VD_EINVAL, 0, "%s: %s of %zu bytes at offset %llu is "
                     "past the end of the disk (capacity %llu bytes)",
                     d->top->path, what, count, (unsigned long long) off,
                     (unsigned long long) size);
  return 0;
}

int
vd_disk_read (vd_disk *d, void *buf, size_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d || (!buf && count))
    return vd_error (VD_EINVAL, 0, "no disk or buffer");
  r = check_range (d, count, offset, "read");
  if (r < 0)
    return r;
  return link_read (d->top, buf, count, offset);
}

static int
writable (vd_disk *d)
{
  if (!d->rw)
    return vd_error (VD_EROFS, 0, "%s: disk was opened read-only",
                     d->top->path);
  if (d->failed)
    return vd_error (VD_EIO, 0, "%s: an earlier write failed; close and "
                     "reopen the disk", d->top->path);
  if (d->has_child)
    return vd_error (VD_EPARENT, 0, "%s: parent has a child: writing would "
                     "change its CID and invalidate the child; write to "
                     "the child instead", d->top->path);
  return 0;
}

static int
write_or_zero (vd_disk *d, const uint8_t *buf, uint64_t count,
               uint64_t off)
{
  struct vd_link *l = d->top;
  int r;

  /* Refuse before anything changes (the CID included). */
  for (uint64_t o = off; o < off + count;) {
    struct vd_extent *e = vd__find_extent (l, o);
    if (e->access != VD_ACCESS_RW)
      return vd_error (VD_EROFS, 0, "%s: extent at byte %llu is %s",
                       l->path, (unsigned long long) e->start,
                       e->access == VD_ACCESS_RDONLY ? "read-only (RDONLY)"
                       : "NOACCESS");
    if (e->type == VD_EXTENT_ZERO)
      return vd_error (VD_EROFS, 0, "%s: cannot write to a ZERO extent",
                       l->path);
    if (!e->drv->pwrite)
      return vd_error (VD_ENOTSUP, 0, "%s: writing to this kind of extent "
                       "is not supported", e->path);
    /* the table entries the write follows must be sound too: a corrupt
     * one found half-way would leave the CID changed by a failed write */
    for (uint64_t stop = VD_MIN (off + count, e->start + e->size); o < stop;) {
      struct vd_map m;
      r = e->drv->map (e, o - e->start, stop - o, &m);
      if (r < 0)
        return r;
      if (m.length == 0)
        break;
      o += m.length;
    }
    o = e->start + e->size;
  }
  r = vd__link_before_write (l);
  if (r < 0)
    return r;
  /* Change tracking learns of the write before it happens. */
  r = vd__link_cbt_mark (l, off, count);
  if (r < 0)
    return r;
  while (count > 0) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN (count, e->size - eoff);
    if (buf)
      r = e->drv->pwrite (e, buf, (size_t) n, eoff);
    else if (e->drv->zero)
      r = e->drv->zero (e, n, eoff);
    else {
      static const uint8_t zeros[65536];
      r = 0;
      for (uint64_t done = 0; done < n && r == 0;) {
        size_t k = (size_t) VD_MIN (n - done, sizeof zeros);
        r = e->drv->pwrite (e, zeros, k, eoff + done);
        done += k;
      }
    }
    if (r < 0)
      return r;
    if (buf)
      buf += n;
    off += n;
    count -= n;
  }
  return 0;
}

int
vd_disk_write (vd_disk *d, const void *buf, size_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d || (!buf && count))
    return vd_error (VD_EINVAL, 0, "no disk or buffer");
  if ((r = writable (d)) < 0 || (r = check_range (d, count, offset,
                                                  "write")) < 0)
    return r;
  if (count == 0)
    return 0;
  return write_or_zero (d, buf, count, offset);
}

int
vd_disk_zero (vd_disk *d, uint64_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d)
    return vd_error (VD_EINVAL, 0, "no disk");
  if ((r = writable (d)) < 0
      || (r = check_range (d, (size_t) count, offset, "zero")) < 0)
    return r;
  if (count == 0)
    return 0;
  return write_or_zero (d, NULL, count, offset);
}

int
vd_disk_flush (vd_disk *d)
{
  int r = 0;
  VD_ENTER ();
  if (!d)
    return vd_error (VD_EINVAL, 0, "no disk");
  if (!d->rw)
    return 0;
  for (size_t i = 0; i < d->top->n_extents; i++) {
    struct vd_extent *e = &d->top->extents[i];
    if (e->rw && e->drv->flush) {
      int r2 = e->drv->flush (e);
      if (r2 < 0 && r == 0)
        r = r2;
    }
  }
  /* The data is durable: end the change set. */
  if (r == 0)
    r = vd__link_cbt_commit (d->top);
  return r;
}

/* ---- CID and descriptor rewrite --------------------------------------------- */

int
vd__link_write_descriptor (struct vd_link *l)
{
  size_t len;
  char *text = vd__desc_emit (l->desc, &len);
  int r;

  if (!text)
    return VD_ENOMEM;
  if (l->embedded) {
    /* in place, NUL-padded over the whole area: never truncated */
    if (len >= l->desc_capacity) {
      free (text);
      return vd_error (VD_ENOSPC, 0, "%s: descriptor (%zu bytes) no longer "
                       "fits the embedded area of %llu bytes", l->path, len,
                       (unsigned long long) l->desc_capacity);
    }
    char *area = calloc (1, l->desc_capacity);
    if (!area) {
      free (text);
      return vd_error (VD_ENOMEM, errno, "descriptor");
    }
    memcpy (area, text, len);
    r = vd__io_pwrite (l->desc_io, area, l->desc_capacity, l->desc_offset);
    free (area);
  }
  else if (len == l->desc_len) {
    /* Same length (a CID change): one small write in place. */
    r = vd__io_pwrite (l->desc_io, text, len, 0);
  }
  else {
    /* Otherwise a new file renamed over the old one, then the lock and
     * handle move to it. */
    char *base = vd__basename (l->path);
    char *tmpname = base ? vd__asprintf (".%s.vdisk-tmp", base) : NULL;
    struct vd_io *nio = NULL;
    r = tmpname ? 0 : VD_ENOMEM;
    if (r == 0) {
      unlinkat (l->dirfd, tmpname, 0);
      r = vd__io_posix_open (&nio, l->dirfd, tmpname, tmpname,
                             VD_IO_RDWR | VD_IO_CREATE);
    }
    if (r == 0)
      r = vd__io_pwrite (nio, text, len, 0);
    if (r == 0)
      r = vd__io_flush (nio);
    if (r == 0 && renameat (l->dirfd, tmpname, l->dirfd, base) < 0)
      r = vd_error (VD_EIO, errno, "%s: rename descriptor into place",
                    l->path);
    if (r == 0) {
      fsync (l->dirfd);
      vd__lock (nio, l->rw);
      /* extents never share the io of a separate descriptor */
      vd__io_close (l->desc_io);
      l->desc_io = nio;
      nio = NULL;
    }
    else if (tmpname)
      unlinkat (l->dirfd, tmpname, 0);
    vd__io_close (nio);
    free (tmpname);
    free (base);
  }
  if (r == 0)
    r = vd__io_flush (l->desc_io);
  if (r == 0)
    l->desc_len = len;
  free (text);
  return r;
}

int
vd__link_before_write (struct vd_link *l)
{
  int r = 0;
  pthread_mutex_lock (&l->mu);
  if (!l->cid_renewed && !l->raw) {
    char buf[16];
    uint32_t cid = vd__random_cid ();
    snprintf (buf, sizeof buf, "%08x", cid);
    r = vd__desc_set (l->desc, "CID", buf, 0);
    const char *lc = vd__desc_get_ddb (l->desc, "ddb.longContentID");
    if (r == 0 && lc && strlen (lc) == 32) {
      /* the last 8 digits of the long ID follow the CID (open-vmdk) */
      uint8_t rnd[12];
      char nl[33];
      r = vd__random_bytes (rnd, sizeof rnd);
      for (int i = 0; i < 12; i++)
        snprintf (nl + 2 * i, 3, "%02x", rnd[i]);
      snprintf (nl + 24, 9, "%08x", cid);
      if (r == 0)
        r = vd__desc_set_ddb (l->desc, "ddb.longContentID", nl);
    }
    if (r == 0)
      r = vd__link_write_descriptor (l);
    if (r == 0) {
      l->cid = cid;
      l->cid_renewed = 1;
    }
  }
  pthread_mutex_unlock (&l->mu);
  return r;
}

/* ---- information ------------------------------------------------------------- */

uint64_t vd_disk_get_size (const vd_disk *d) { return d ? d->top->size : 0; }
int vd_disk_is_read_only (const vd_disk *d) { return d ? !d->rw : 1; }
const char *vd_disk_get_path (const vd_disk *d) { return d->top->path; }
const char *vd_disk_get_create_type (const vd_disk *d) { return d->top->create_type; }
enum vd_type vd_disk_get_type (const vd_disk *d) { return d->top->type; }
uint32_t vd_disk_get_cid (const vd_disk *d) { return d->top->cid; }
uint32_t vd_disk_get_parent_cid (const vd_disk *d) { return d->top->parent_cid; }
unsigned vd_disk_get_link_count (const vd_disk *d) { return d->n_links; }
unsigned vd_disk_get_extent_count (const vd_disk *d) { return (unsigned) d->top->n_extents; }

int
vd_disk_get_descriptor_version (const vd_disk *d)
{
  const char *v = vd__desc_get (d->top->desc, "version");
  return v ? atoi (v) : 1;
}

const char *
vd_disk_get_parent_hint (const vd_disk *d)
{
  return vd__desc_get (d->top->desc, "parentFileNameHint");
}

const char *
vd_disk_get_meta (const vd_disk *d, const char *key)
{
  if (!d || !key)
    return NULL;
  /* the newest link first, then up the chain (S1) */
  for (unsigned i = 0; i < d->n_links; i++) {
    const char *v = vd__desc_get_ddb (d->links[i]->desc, key);
    if (v)
      return v;
  }
  return NULL;
}

unsigned
vd_disk_get_meta_count (const vd_disk *d)
{
  size_t n = d ? vd__desc_ddb_count (d->top->desc) : 0;
  return n > UINT_MAX ? UINT_MAX : (unsigned) n;
}

const char *
vd_disk_get_meta_key (const vd_disk *d, unsigned i)
{
  const struct vd_desc_line *l = d ? vd__desc_ddb_line (d->top->desc, i)
                                   : NULL;
  return l ? l->key : NULL;
}

/* 1 when s is a decimal number in [lo, hi]. */
static int
dec_in (const char *s, unsigned long lo, unsigned long hi)
{
  char *end;
  unsigned long v;
  if (!s || !*s || *s < '0' || *s > '9' || strlen (s) > 10)
    return 0;
  errno = 0;
  v = strtoul (s, &end, 10);
  return !errno && !*end && v >= lo && v <= hi;
}

/* The keys vdisk, VMware and qemu-img read themselves: a value they
 * cannot parse would make the disk unreadable or misdescribed. */
static int
check_reserved_meta (const char *key, const char *value)
{
  const char *k = key + 4;   /* after "ddb." */
  if (!value)
    return 0;
  if (!strcmp (k, "adapterType")) {
    if (vd_adapter_from_name (value) == VD_ADAPTER_UNKNOWN)
      return vd_error (VD_EINVAL, 0, "ddb.adapterType \"%s\" is not an "
                       "adapter (ide, buslogic, lsilogic, legacyESX, "
                       "lsisas1068, pvscsi)", value);
  }
  else if (!strcmp (k, "geometry.cylinders")
           || !strcmp (k, "geometry.biosCylinders")) {
    if (!dec_in (value, 1, 0xffffffffUL))
      return vd_error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 4294967295", key, value);
  }
  else if (!strcmp (k, "geometry.heads") || !strcmp (k, "geometry.biosHeads")) {
    if (!dec_in (value, 1, 255))
      return vd_error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 255", key, value);
  }
  else if (!strcmp (k, "geometry.sectors")
           || !strcmp (k, "geometry.biosSectors")) {
    if (!dec_in (value, 1, 63))
      return vd_error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 63", key, value);
  }
  else if (!strcmp (k, "virtualHWVersion")) {
    if (!dec_in (value, 1, 255))
      return vd_error (VD_EINVAL, 0, "ddb.virtualHWVersion \"%s\" must be "
                       "a number from 1 to 255", value);
  }
  else if (!strcmp (k, "thinProvisioned")) {
    if (strcmp (value, "0") && strcmp (value, "1"))
      return vd_error (VD_EINVAL, 0, "ddb.thinProvisioned \"%s\" must be "
                       "0 or 1", value);
  }
  else if (!strcmp (k, "uuid")) {
    /* VMware's form: 16 bytes in hex, separated by spaces (one may be a
     * '-'): "60 00 c2 9f 12 34 56 78-9a bc de f0 12 34 56 78" */
    const char *p = value;
    for (int i = 0; i < 16; i++) {
      if (!isxdigit ((unsigned char) p[0]) || !isxdigit ((unsigned char) p[1]))
        goto bad_uuid;
      p += 2;
      if (i < 15) {
        if (*p != ' ' && *p != '-')
          goto bad_uuid;
        p++;
      }
    }
    if (*p)
      goto bad_uuid;
  }
  return 0;
bad_uuid:
  return vd_error (VD_EINVAL, 0, "ddb.uuid \"%s\" must be 16 hex bytes "
                   "separated by spaces (\"60 00 c2 9f ... 78\")", value);
}

int
vd_disk_set_meta (vd_disk *d, const char *key, const char *value)
{
  int r;
  VD_ENTER ();
  if (!d || !key)
    return vd_error (VD_EINVAL, 0, "no disk or key");
  if ((r = writable (d)) < 0)
    return r;
  if (strncmp (key, "ddb.", 4) != 0 || strlen (key) > 64 || !key[4])
    return vd_error (VD_EINVAL, 0, "metadata key \"%s\" must start with "
                     "\"ddb.\" and be at most 64 characters", key);
  for (const char *p = key; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
          || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
          || *p == '-'))
      return vd_error (VD_EINVAL, 0, "metadata key \"%s\" holds a character "
                       "other than letters, digits, '.', '_' and '-'", key);
  if (value && (!vd__desc_value_ok (value) || strlen (value) > 1024))
    return vd_error (VD_EINVAL, 0, "metadata value for %s holds a quote, a "
                     "line break or is over 1024 bytes", key);
  if ((r = check_reserved_meta (key, value)) < 0)
    return r;
  pthread_mutex_lock (&d->top->mu);
  if (d->top->remote) {
    /* the server keeps the descriptor: change it there, then here */
    r = vd__io_nbd_set_meta (d->top->desc_io, key, value);
    if (r == 0)
      r = vd__desc_set_ddb (d->top->desc, key, value);
  }
  else {
    r = vd__desc_set_ddb (d->top->desc, key, value);
    if (r == 0)
      r = vd__link_write_descriptor (d->top);
  }
  pthread_mutex_unlock (&d->top->mu);
  return r;
}

enum vd_adapter
vd_disk_get_adapter (const vd_disk *d)
{
  return vd_adapter_from_name (vd_disk_get_meta (d, "ddb.adapterType"));
}

static uint32_t
meta_u32 (const vd_disk *d, const char *key)
{
  const char *v = vd_disk_get_meta (d, key);
  return v ? (uint32_t) strtoul (v, NULL, 10) : 0;
}

void
vd_disk_get_geometry (const vd_disk *d, struct vd_geometry *phys,
                      struct vd_geometry *bios)
{
  if (phys) {
    phys->cylinders = meta_u32 (d, "ddb.geometry.cylinders");
    phys->heads = meta_u32 (d, "ddb.geometry.heads");
    phys->sectors = meta_u32 (d, "ddb.geometry.sectors");
  }
  if (bios) {
    bios->cylinders = meta_u32 (d, "ddb.geometry.biosCylinders");
    bios->heads = meta_u32 (d, "ddb.geometry.biosHeads");
    bios->sectors = meta_u32 (d, "ddb.geometry.biosSectors");
  }
}

uint32_t
vd_disk_get_hw_version (const vd_disk *d)
{
  return meta_u32 (d, "ddb.virtualHWVersion");
}

const char *
vd_disk_get_uuid (const vd_disk *d)
{
  return vd_disk_get_meta (d, "ddb.uuid");
}

int
vd_disk_get_extent (const vd_disk *d, unsigned i, struct vd_extent_info *info)
{
  VD_ENTER ();
  if (!d || !info || i >= d->top->n_extents)
    return vd_error (VD_EINVAL, 0, "no extent %u", i);
  const struct vd_extent *e = &d->top->extents[i];
  memset (info, 0, sizeof *info);
  info->file = e->path;
  info->name = e->name;
  info->type = e->type;
  info->access = e->access;
  info->start = e->start;
  info->size = e->size;
  info->file_offset = e->file_offset;
  if (e->io)
    e->io->ops->size (e->io, &info->file_size);
  if (e->type == VD_EXTENT_SPARSE || e->type == VD_EXTENT_STREAM) {
    uint8_t h[28];
    if (vd__io_pread (e->io, h, sizeof h, 0) == 0) {
      info->version = vd__le32 (h + 4);
      info->grain_size = vd__le64 (h + 20) * VD_SECTOR;
    }
  }
  return 0;
}

/* ---- allocation map ----------------------------------------------------------- */

struct bs_acc {
  vd_block_status_cb cb;
  void *payload;
  uint64_t off, len;
  uint32_t status;
  int have, stop;
};

static int
bs_emit (struct bs_acc *a, uint64_t off, uint64_t len, uint32_t st)
{
  if (a->have && a->status == st && a->off + a->len == off) {
    a->len += len;
    return 0;
  }
  if (a->have && a->cb (a->off, a->len, a->status, a->payload)) {
    a->stop = 1;
    return 1;
  }
  a->have = 1;
  a->off = off;
  a->len = len;
  a->status = st;
  return 0;
}

/* Status of [off, off+len) in link l (and below it). */
static int
link_status (struct vd_link *l, uint64_t off, uint64_t len,
             struct bs_acc *a, int descend)
{
  while (len > 0 && !a->stop) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN (len, e->size - eoff);
    struct vd_map m;
    int r = e->drv->map (e, eoff, n, &m);
    if (r < 0)
      return r;
    if (m.length == 0 || m.length > n)
      return vd_error (VD_EIO, 0, "%s: internal error: bad map length",
                       e->path);
    switch (m.status) {
    case VD_MAP_DATA:
    case VD_MAP_DRIVER:
      bs_emit (a, off, m.length, VD_STATUS_DATA);
      break;
    case VD_MAP_ZERO:
      bs_emit (a, off, m.length, VD_STATUS_ZERO);
      break;
    case VD_MAP_HOLE:
      if (l->parent && descend) {
        r = link_status (l->parent, off, m.length, a, 1);
        if (r < 0)
          return r;
      }
      else
        bs_emit (a, off, m.length, VD_STATUS_HOLE);
      break;
    }
    off += m.length;
    len -= m.length;
  }
  return 0;
}

int
vd_disk_block_status (vd_disk *d, uint64_t offset, uint64_t length,
                      vd_block_status_cb cb, void *payload)
{
  struct bs_acc a = { .cb = cb, .payload = payload };
  int r;
  VD_ENTER ();
  if (!d || !cb)
    return vd_error (VD_EINVAL, 0, "no disk or callback");
  r = check_range (d, (size_t) length, offset, "block status");
  if (r < 0)
    return r;
  r = link_status (d->top, offset, length, &a, 1);
  if (r < 0)
    return r;
  if (a.have && !a.stop)
    cb (a.off, a.len, a.status, payload);
  return 0;
}

int
vd__link_block_status (struct vd_link *l, uint64_t off, uint64_t len,
                       vd_block_status_cb cb, void *payload)
{
  struct bs_acc a = { .cb = cb, .payload = payload };
  int r = link_status (l, off, len, &a, 0);
  if (r < 0)
    return r;
  if (a.have && !a.stop)
    cb (a.off, a.len, a.status, payload);
  return 0;
}
