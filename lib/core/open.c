/* Opening a disk: the top link's descriptor and extents (each through
 * its driver, picked from the registry by its first bytes), then the
 * parents named by parentFileNameHint, checked link by link (capacity,
 * CID, loops).  The handle itself is core/disk.c. */
#include "internal.h"
#include "io/io-https.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- opening ---------------------------------------------------------------- */

void
vd__link_close (struct vd_link *l)
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
  int r;
  const struct vd_format_driver *drv;

  r = e->io->ops->size (e->io, &fsize);
  if (r < 0)
    return r;
  memset (buf, 0, sizeof buf);
  r = vd__io_pread (e->io, buf, (size_t) VD_MIN (fsize, sizeof buf), 0);
  if (r < 0)
    return r;
  drv = vd__driver_probe (buf, (size_t) VD_MIN (fsize, sizeof buf));
  if (!drv)
    return vd__corrupt (e->path, "not a %s extent vdisk can read "
                        "(unknown magic %02x %02x %02x %02x)",
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
  struct vd_file_id sa, sb;
  if (!a || !b)
    return 0;
  if (!vd__io_is_file (a) || !vd__io_is_file (b))  /* in memory: by name */
    return a != b && strcmp (a->name, b->name) == 0;
  if (vd__io_identity (a, &sa) != 0 || vd__io_identity (b, &sb) != 0)
    return 0;
  return sa.dev == sb.dev && sa.ino == sb.ino;
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
      return vd__corrupt (self, "embedded descriptor's first "
                          "extent is not SPARSE");
    *out = vd__strdup (self);
    return *out ? 0 : VD_ENOMEM;
  }
  if (!vd__name_ok (de->file, trusted))
    return vd__error_why (VD_REASON_UNTRUSTED_NAME, vd__error (VD_EINVAL, 0, "%s: refusing extent file name "
                     "\"%s\": only plain names in the descriptor's "
                     "folder are allowed (absolute paths and folders "
                     "and '..' need the trusted option; ':' and control "
                     "characters never)", self,
                     vd__quote (qb, sizeof qb, de->file,
                                strlen (de->file))));
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

  /* A monolithic sparse or streamOptimized file holds one extent, itself;
   * an embedded descriptor naming more would reach other files. */
  if (l->embedded && d->n_extents > 1)
    return vd__corrupt (l->path, "its embedded descriptor names %zu "
                        "extents; a monolithic sparse or streamOptimized file "
                        "holds exactly one, itself", d->n_extents);
  l->extents = calloc (d->n_extents, sizeof *l->extents);
  if (!l->extents)
    return vd__error (VD_ENOMEM, errno, "extents");
  for (size_t i = 0; i < d->n_extents; i++) {
    const struct vd_desc_extent *de = vd__desc_extent (d, i);
    struct vd_extent *e = &l->extents[l->n_extents++];
    e->link = l;
    e->below = vd__extent_read_below;
    e->type = extent_type (de->type);
    e->access = de->access;
    e->start = start;
    e->size = de->sectors * VD_SECTOR;
    e->file_offset = de->offset * VD_SECTOR;
    if (start > ((uint64_t) 1 << 62) - e->size)
      return vd__corrupt (l->path, "extent sizes add up to more "
                          "than 2^62 bytes");
    start += e->size;
    if (e->type == 0)
      return vd__error (VD_ENOTSUP, 0, "%s: extent type %s (raw device "
                       "mapping) is not supported", l->path, de->type);
    if (e->type == VD_EXTENT_ZERO) {
      e->drv = vd__driver_for_type (VD_EXTENT_ZERO);
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
        return vd__corrupt (l->path, "extent \"%s\" is the "
                            "descriptor file itself", e->name);
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
          return vd__corrupt (l->path, "extent file \"%s\" is "
                              "listed twice (only FLAT extents over ranges "
                              "of the file that do not overlap may share a "
                              "file)", e->name);
        if (l->rw && o->access == VD_ACCESS_RW)
          locked_rw = 1;   /* that extent's lock covers the file */
      }
      r = locked_rw ? 0 : vd__lock (e->io, l->rw && e->access == VD_ACCESS_RW);
      if (r < 0)
        return r;
    }
    e->drv = vd__driver_for_type (e->type);
    if (!e->drv) {
      r = pick_driver (e);
      if (r < 0)
        return r;
      if (e->drv->reports_type)
        e->type = e->drv->reports_type;
    }
  }
  l->size = start;
  if (l->size == 0)
    return vd__corrupt (l->path, "disk has no capacity");
  /* Open the drivers once the link is complete (they may look at it). */
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    e->rw = l->rw && e->access == VD_ACCESS_RW;
    if (e->drv->instance_size) {
      e->state = calloc (1, e->drv->instance_size);
      if (!e->state)
        return vd__error (VD_ENOMEM, errno, "extent state");
    }
    r = e->drv->open (e, e->rw);  /* its own refusal says the most */
    if (r < 0)
      return r;
    if (e->rw && !e->drv->pwrite)
      return vd__error (VD_ENOTSUP, 0, "%s: extent %zu (%s%s%s) cannot be "
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
  struct vd_descfile w;
  int r = vd__descfile_locate (l->desc_io, &w);
  if (r < 0)
    return r;
  switch (w.kind) {
  case VD_DESCFILE_SPARSE:
    return vd__error (VD_EINVAL, 0, "%s: this sparse extent has no "
                     "embedded descriptor: open the disk's descriptor "
                     "file instead", l->path);
  case VD_DESCFILE_DELTA:
    return vd__error (VD_EINVAL, 0, "%s: this is an ESXi delta extent: open "
                     "the disk's descriptor file instead", l->path);
  case VD_DESCFILE_EMBEDDED:
    l->embedded = 1;
    l->desc_offset = w.offset;
    l->desc_capacity = w.size;
    break;
  case VD_DESCFILE_TEXT:       /* (vd__descfile_read bounds its size) */
    break;
  }
  return vd__descfile_load (l->desc_io, &w, l->path, &l->desc, &l->desc_len);
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
    return vd__error (VD_ENOMEM, errno, "%s: metadata", io->name);
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
    return vd__error (VD_ENOMEM, errno, "%s: metadata", io->name);
  }
  *out = buf;
  return 0;
}

/* The VD_URI_SCHEME entries (internal.h), bounds made by the linker
 * (weak: none when no object declares one). */
extern const struct vd_uri_scheme __start_vd_uri_schemes[]
  __attribute__ ((weak));
extern const struct vd_uri_scheme __stop_vd_uri_schemes[]
  __attribute__ ((weak));

static const struct vd_uri_scheme *
uri_scheme (const char *path)
{
  for (const struct vd_uri_scheme *u = __start_vd_uri_schemes;
       u && u < __stop_vd_uri_schemes; u++)
    if (strncmp (path, u->prefix, strlen (u->prefix)) == 0)
      return u;
  return NULL;
}

/* Open the top file at path: io when given, else by near (a parent of a
 * datastore file) or a URI scheme's opener.  1: done (a URI), 0: not a
 * URI, negative: an error. */
static int
open_uri (struct vd_link *l, const char *path, int rw, struct vd_io *near,
          struct vd_io *io)
{
  const struct vd_uri_scheme *u = NULL;
  int r = 0;
  if (io)
    l->desc_io = io;
  else if (near && vd__io_is_https (near))
    r = vd__io_https_parent (&l->desc_io, near, path, rw);
  else if ((u = uri_scheme (path)))
    r = u->open (&l->desc_io, path, rw);
  else
    return 0;
  if (r < 0)
    return r;
  /* its extents and parents are found from its name (no ?options) */
  free (l->path);
  free (l->dir);
  l->path = vd__strdup (l->desc_io->name);
  l->dir = l->path ? vd__dirname (l->path) : NULL;
  return l->path && l->dir ? 1 : VD_ENOMEM;
}

static int
open_link (struct vd_disk *disk, struct vd_link **out, const char *path,
           uint32_t flags, int rw, int follow, struct vd_io *near,
           struct vd_io *io)
{
  struct vd_link *l = calloc (1, sizeof *l);
  const char *v;
  int r;

  *out = NULL;
  if (!l) {
    vd__io_close (io);
    return vd__error (VD_ENOMEM, errno, "link");
  }
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
  if ((r = open_uri (l, path, rw, near, io)) != 0) {
    if (r < 0)
      goto fail;
    r = 0;
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
      r = vd__error (vd__errno_code (errno), errno, "%s: open folder",
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
      r = vd__error (VD_EINVAL, 0, "%s: raw image is empty", path);
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
      r = vd__error (VD_ENOMEM, errno, "raw");
      goto fail;
    }
    r = vd__desc_parse (&l->desc, text, strlen (text), path);
    free (text);
    if (r < 0)
      goto fail;
    struct vd_extent *e = &l->extents[0];
    l->n_extents = 1;
    e->link = l;
    e->below = vd__extent_read_below;
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
      r = vd__error (VD_ENOTSUP, 0, "%s: this disk uses VMware hosted "
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
  vd__link_close (l);
  return r;
}

static int
link_identity (struct vd_link *l, dev_t *dev, ino_t *ino)
{
  struct vd_file_id id;
  int e;
  if (!vd__io_is_file (l->desc_io)) {
    /* not a real file (memory, network): identify it by its name */
    uint64_t h = 1469598103934665603u;
    for (const char *p = l->desc_io->name; *p; p++)
      h = (h ^ (uint8_t) *p) * 1099511628211u;
    *dev = 0;
    *ino = (ino_t) h;
    return 0;
  }
  if ((e = vd__io_identity (l->desc_io, &id)) != 0) {
    errno = e;          /* the caller's message names it */
    return -1;
  }
  *dev = id.dev;
  *ino = id.ino;
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
    return vd__error (VD_EIO, errno, "%s: fstat", disk->top->path);
  for (struct vd_link *child = disk->top;;) {
    const char *hint = vd__desc_get (child->desc, "parentFileNameHint");
    struct vd_link *parent;
    char *ppath;

    if (child->parent_cid == 0xffffffffu && !hint)
      return 0;
    if (!hint)
      return vd__error_why (VD_REASON_BAD_CHAIN, vd__error (VD_EPARENT, 0, "%s: parentCID is %08x but there is "
                       "no parentFileNameHint", child->path,
                       child->parent_cid));
    if (child->parent_cid == 0xffffffffu)
      return vd__error_why (VD_REASON_BAD_CHAIN, vd__error (VD_EPARENT, 0, "%s: names a parent but its parentCID "
                       "is ffffffff", child->path));
    if (disk->n_links >= VD_MAX_CHAIN)
      return vd__error_why (VD_REASON_BAD_CHAIN, vd__error (VD_EPARENT, 0, "%s: chain deeper than %d links",
                       disk->top->path, VD_MAX_CHAIN));
    if (!vd__name_ok (hint, trusted))
      return vd__error_why (VD_REASON_UNTRUSTED_NAME, vd__error (VD_EINVAL, 0, "%s: refusing parentFileNameHint "
                       "\"%s\": only names in the same folder are allowed "
                       "(use the trusted option for absolute paths, "
                       "folders and '..')", child->path,
                       vd__quote (qb, sizeof qb, hint, strlen (hint))));
    ppath = vd__path_join (child->dir, hint);
    if (!ppath)
      return VD_ENOMEM;
    r = open_link (disk, &parent, ppath, disk->flags, 0, trusted,
                   child->desc_io, NULL);
    if (r == VD_ENOENT) {
      vd__error_clear ();
      r = vd__error_why (VD_REASON_PARENT_MISSING, vd__error (VD_EPARENT, ENOENT, "%s: parent \"%s\" not found",
                    child->path, ppath));
    }
    free (ppath);
    if (r < 0)
      return r;
    child->parent = parent;
    unsigned idx = disk->n_links++;
    disk->links[idx] = parent;
    if (link_identity (parent, &devs[idx], &inos[idx]) < 0)
      return vd__error (VD_EIO, errno, "%s: fstat", parent->path);
    for (unsigned k = 0; k < idx; k++)
      if (devs[k] == devs[idx] && inos[k] == inos[idx])
        return vd__error_why (VD_REASON_BAD_CHAIN, vd__error (VD_EPARENT, 0, "%s: parent chain loops back to "
                         "%s", child->path, disk->links[k]->path));
    if (parent->size != child->size)
      return vd__error_why (VD_REASON_BAD_CHAIN, vd__error (VD_EPARENT, 0, "%s: capacity %llu differs from its "
                       "parent %s (%llu)", child->path,
                       (unsigned long long) child->size, parent->path,
                       (unsigned long long) parent->size));
    /* An interrupted commit (chain.c) gave the ancestor the CID it
     * recorded in the top link: the chain still reads correctly. */
    if (parent->cid != child->parent_cid
        && !(disk->commit_cid && parent->cid == disk->commit_cid)
        && !((disk->flags & VD_OPEN_IGNORE_CID) && !disk->rw))
      return vd__error_why (VD_REASON_CID_MISMATCH, vd__error (VD_EPARENT, 0, "%s: parentCID %08x does not match "
                       "the CID %08x of its parent %s: the parent changed "
                       "after the child was made (the ignore-cid option "
                       "reads it anyway, read-only)", child->path, child->parent_cid,
                       parent->cid, parent->path));
    child = parent;
  }
}

static int
disk_open (vd_disk **out, const char *path, struct vd_io *io, uint32_t flags)
{
  struct vd_disk *d;
  int rw = !(flags & VD_OPEN_READ_ONLY);
  int r;

  if (rw && (flags & VD_OPEN_IGNORE_CID))
    r = vd__error (VD_EINVAL, 0, "%s: ignoring the parent CID is only "
                  "allowed read-only", path);
  else
    /* trust (lib/repair.c): a VMware PATH.lck/ folder means "in use" for
     * a read-write open unless VD_OPEN_FORCE */
    r = io ? 0 : vd__check_vmware_lock (path, flags);
  d = r < 0 ? NULL : calloc (1, sizeof *d);
  if (!d) {
    vd__io_close (io);            /* the disk's, even on error */
    return r < 0 ? r : vd__error (VD_ENOMEM, errno, "disk");
  }
  d->flags = flags;
  d->rw = rw;
  r = open_link (d, &d->top, path, flags, rw, 1, NULL, io);
  if (r < 0)
    goto fail;
  d->links[0] = d->top;
  d->n_links = 1;
  {
    const char *cc = vd__desc_get_ddb (d->top->desc, VD_COMMIT_KEY);
    d->commit_cid = cc ? (uint32_t) strtoul (cc, NULL, 16) : 0;
  }
  if (rw && !(flags & VD_OPEN_FORCE) && !d->top->raw) {
    /* no child names it, and no other disk shares its files (a copied
     * descriptor: writing one would change the other) */
    r = vd__check_rw_open (d->top);
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
    r = vd__error (VD_ENOTSUP, 0, "%s: a single-link open of a child disk "
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
    vd__link_close (d->links[i]);
  vd__link_close (d->top);
  free (d);
  return r;
}

int
vd_disk_open (vd_disk **out, const char *path, uint32_t flags)
{
  VD_ENTER ();
  if (!out || !path)
    return vd__error (VD_EINVAL, 0, "no disk path given");
  *out = NULL;
  return disk_open (out, path, NULL, flags);
}

int
vd__disk_open_io (vd_disk **out, struct vd_io *io, uint32_t flags)
{
  *out = NULL;
  return disk_open (out, io->name, io, flags);
}
