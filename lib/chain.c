/* Parent/child chains: create a child, find children beside a disk,
 * attach (re-parent), commit (consolidate), and per-link information.
 * vmdk-format.md §4.5-4.6, security-checklist.md §4 items 40-44. */
#include "internal.h"

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

#define MAX_SCAN_FILES 4096
#define MAX_SMALL_DESC (64u << 10)

/* ---- reading another disk's descriptor cheaply --------------------------- */

/* Parse the descriptor of the VMDK file path without opening its extents.
 * Returns 0 with *out NULL when the file is not a descriptor. */
static int
peek_descriptor (int dirfd, const char *name, struct vd_descriptor **out)
{
  struct vd_io *io = NULL;
  uint8_t magic[4] = { 0 };
  uint64_t fsize, off = 0, size;
  char *text = NULL;
  int r;

  *out = NULL;
  r = vd__io_posix_open (&io, dirfd, name, name, 0);
  if (r < 0)
    return 0;
  if (io->ops->size (io, &fsize) < 0 || fsize < 4)
    goto out;
  if (vd__io_pread (io, magic, 4, 0) < 0)
    goto out;
  if (memcmp (magic, "KDMV", 4) == 0) {
    if (vd__sparse_embedded_desc (io, &off, &size) < 0 || size == 0)
      goto out;
  }
  else if (fsize <= MAX_SMALL_DESC && magic[0] != 0)
    size = fsize;
  else
    goto out;
  text = malloc (size + 1);
  if (!text || vd__io_pread (io, text, (size_t) size, off) < 0)
    goto out;
  text[size] = '\0';
  /* a file that is not a descriptor is simply not a child */
  if (vd__desc_parse (out, text, (size_t) size, name) < 0)
    *out = NULL;
out:
  vd__error_clear ();
  free (text);
  vd__io_close (io);
  return 0;
}

int
vd__same_path (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

int
vd__find_child (struct vd_link *l, int match_cid, char **child)
{
  DIR *dir;
  struct dirent *de;
  int scanned = 0, found = 0;
  int fd = dup (l->dirfd);

  *child = NULL;
  if (fd < 0 || !(dir = fdopendir (fd))) {
    if (fd >= 0)
      close (fd);
    return 0;                   /* cannot list: nothing to compare */
  }
  while (!found && (de = readdir (dir)) && scanned < MAX_SCAN_FILES) {
    size_t n = strlen (de->d_name);
    struct vd_descriptor *d;
    if (n < 5 || strcasecmp (de->d_name + n - 5, ".vmdk") != 0)
      continue;
    scanned++;
    char *p = vd__path_join (l->dir, de->d_name);
    if (!p)
      break;
    if (vd__same_path (p, l->path)) {
      free (p);
      continue;
    }
    peek_descriptor (l->dirfd, de->d_name, &d);
    if (d) {
      const char *hint = vd__desc_get (d, "parentFileNameHint");
      const char *pc = vd__desc_get (d, "parentCID");
      if (hint && (!match_cid
                   || (pc && (uint32_t) strtoul (pc, NULL, 16) == l->cid))) {
        char *pp = vd__path_join (l->dir, hint);
        found = pp && vd__same_path (pp, l->path);
        free (pp);
      }
      vd__desc_free (d);
    }
    if (found)
      *child = p;
    else
      free (p);
  }
  closedir (dir);
  return found;
}

int
vd__check_no_child (struct vd_link *l)
{
  char *child;
  int r = 0;
  if (vd__find_child (l, 1, &child)) {
    r = vd_error (VD_EPARENT, 0, "%s: %s is a child of this disk (its "
                  "parentCID %08x matches); writing here would invalidate "
                  "it.  Open the child instead, or force the write",
                  l->path, child, l->cid);
    free (child);
  }
  return r;
}

/* ---- CID -------------------------------------------------------------------------- */

int
vd__link_set_cid (struct vd_link *l, uint32_t cid)
{
  char buf[16];
  int r;
  pthread_mutex_lock (&l->mu);
  snprintf (buf, sizeof buf, "%08x", cid);
  r = vd__desc_set (l->desc, "CID", buf, 0);
  if (r == 0)
    r = vd__link_write_descriptor (l);
  if (r == 0) {
    l->cid = cid;
    l->cid_renewed = 1;
  }
  pthread_mutex_unlock (&l->mu);
  return r;
}

/* The name to write in parentFileNameHint for a parent at parent_path,
 * seen from a child in child_dir: a plain name when both share a folder,
 * otherwise the parent's absolute path (opening that needs the trusted
 * option, as VMware's absolute hints do). */
static char *
parent_hint (const char *child_dir, const char *parent_path)
{
  char cd[PATH_MAX], pp[PATH_MAX];
  if (!realpath (child_dir, cd) || !realpath (parent_path, pp)) {
    vd_error (VD_ENOENT, errno, "%s: cannot resolve", parent_path);
    return NULL;
  }
  char *pdir = vd__dirname (pp);
  char *r;
  if (!pdir)
    return NULL;
  if (strcmp (pdir, cd) == 0)
    r = vd__basename (pp);
  else
    r = vd__strdup (pp);
  free (pdir);
  return r;
}

/* ---- create child -------------------------------------------------------------------- */

int
vd_disk_create_child (vd_disk *parent, const char *path, enum vd_type type,
                      uint32_t flags)
{
  struct vd_create_params p;
  struct vd_newdisk nd;
  char *cdir, *hint;
  int r;

  VD_ENTER ();
  if (!parent || !path)
    return vd_error (VD_EINVAL, 0, "no parent or path");
  if (type == 0)
    type = VD_TYPE_MONOLITHIC_SPARSE;
  if (type != VD_TYPE_MONOLITHIC_SPARSE && type != VD_TYPE_SPLIT_SPARSE)
    return vd_error (VD_ENOTSUP, 0, "%s: a child disk is monolithicSparse "
                     "or twoGbMaxExtentSparse", path);
  if (parent->top->raw)
    return vd_error (VD_EINVAL, 0, "%s: a raw image cannot be a parent",
                     parent->top->path);
  if (parent->top->size % VD_SECTOR)
    return vd_error (VD_EINVAL, 0, "%s: capacity is not whole sectors",
                     parent->top->path);
  /* the CID the child records must be final: flush pending writes */
  if (parent->rw && (r = vd_disk_flush (parent)) < 0)
    return r;
  vd_create_params_init (&p);
  p.type = type;
  p.capacity = parent->top->size;
  p.flags = flags & (VD_CREATE_OVERWRITE | VD_CREATE_NO_UUID);
  p.adapter = vd_disk_get_adapter (parent);
  if (p.adapter == VD_ADAPTER_UNKNOWN)
    p.adapter = VD_ADAPTER_IDE;
  if (vd_disk_get_hw_version (parent))
    p.hw_version = vd_disk_get_hw_version (parent);
  vd_disk_get_geometry (parent, &p.geometry, NULL);
  cdir = vd__dirname (path);
  hint = cdir ? parent_hint (cdir, parent->top->path) : NULL;
  free (cdir);
  if (!hint)
    return VD_ENOENT;
  memset (&nd, 0, sizeof nd);
  r = vd__newdisk_begin_child (&nd, path, &p, hint, parent->top->cid);
  if (r == 0)
    r = vd__newdisk_commit (&nd);
  free (hint);
  if (r == 0)
    parent->has_child = 1;
  return r;
}

/* ---- attach ---------------------------------------------------------------------------- */

int
vd_disk_attach (const char *child_path, const char *parent_path,
                uint32_t open_flags)
{
  vd_disk *child = NULL, *parent = NULL;
  char *hint = NULL;
  char buf[16];
  int r;

  VD_ENTER ();
  if (!child_path || !parent_path)
    return vd_error (VD_EINVAL, 0, "attach: need a child and a parent");
  open_flags &= VD_OPEN_TRUSTED;
  r = vd_disk_open (&parent, parent_path, open_flags | VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  /* the child alone: its old parent may be gone or changed */
  r = vd_disk_open (&child, child_path, open_flags | VD_OPEN_SINGLE_LINK
                                          | VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  if (child->top->parent_cid == 0xffffffffu
      && !vd__desc_get (child->top->desc, "parentFileNameHint")) {
    r = vd_error (VD_EPARENT, 0, "%s: is a base disk (no parent), so it "
                  "cannot be attached to another", child_path);
    goto out;
  }
  if (child->top->type != VD_TYPE_MONOLITHIC_SPARSE
      && child->top->type != VD_TYPE_SPLIT_SPARSE
      && child->top->type != VD_TYPE_VMFS_SPARSE
      && child->top->type != VD_TYPE_SE_SPARSE) {
    r = vd_error (VD_EPARENT, 0, "%s: only sparse disks can be children",
                  child_path);
    goto out;
  }
  if (child->top->size != parent->top->size) {
    r = vd_error (VD_EPARENT, 0, "%s: capacity %llu differs from the new "
                  "parent %s (%llu)", child_path,
                  (unsigned long long) child->top->size, parent_path,
                  (unsigned long long) parent->top->size);
    goto out;
  }
  if (vd__same_path (child_path, parent_path)) {
    r = vd_error (VD_EPARENT, 0, "%s: a disk cannot be its own parent",
                  child_path);
    goto out;
  }
  hint = parent_hint (child->top->dir, parent_path);
  if (!hint) {
    r = VD_ENOENT;
    goto out;
  }
  /* rewrite the child's descriptor through a writable single-link
   * handle (the lock keeps other writers out meanwhile) */
  vd_disk_close (child);
  child = NULL;
  r = vd_disk_open (&child, child_path, open_flags | VD_OPEN_SINGLE_LINK
                                          | VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  {
    struct vd_link *l = child->top;
    struct vd_io *rwio = NULL;
    /* the descriptor file itself, opened for writing and locked */
    r = vd__io_posix_open (&rwio, AT_FDCWD, l->path, l->path, VD_IO_RDWR
                           | VD_IO_FOLLOW);
    if (r == 0)
      r = vd__lock (rwio, 1);
    if (r < 0) {
      vd__io_close (rwio);
      goto out;
    }
    if (l->embedded) {
      /* the extent shares the descriptor's io: swap in the writable one */
      if (l->n_extents && l->extents[0].io == l->desc_io)
        l->extents[0].io = rwio;
    }
    vd__io_close (l->desc_io);
    l->desc_io = rwio;
    snprintf (buf, sizeof buf, "%08x", parent->top->cid);
    r = vd__desc_set (l->desc, "parentCID", buf, 0);
    if (r == 0)
      r = vd__desc_set (l->desc, "parentFileNameHint", hint, 1);
    if (r == 0)
      r = vd__link_write_descriptor (l);
  }
out:
  free (hint);
  vd_disk_close (child);
  vd_disk_close (parent);
  return r;
}

/* ---- per-link information ---------------------------------------------------------------- */

static int
add_data (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st != VD_STATUS_HOLE)
    *(uint64_t *) p += len;
  return 0;
}

int
vd_disk_get_link_info (vd_disk *d, unsigned i, struct vd_link_info *info)
{
  struct stat st;
  VD_ENTER ();
  if (!d || !info || i >= d->n_links)
    return vd_error (VD_EINVAL, 0, "no link %u", i);
  struct vd_link *l = d->links[i];
  memset (info, 0, sizeof *info);
  info->path = l->path;
  info->create_type = l->create_type;
  info->cid = l->cid;
  info->parent_cid = l->parent_cid;
  info->extents = (unsigned) l->n_extents;
  if (fstat (l->desc_io->fd, &st) == 0) {
    info->mtime = (int64_t) st.st_mtime;
    if (!l->embedded)
      info->file_bytes += (uint64_t) st.st_blocks * 512;
  }
  for (size_t k = 0; k < l->n_extents; k++)
    if (l->extents[k].io && fstat (l->extents[k].io->fd, &st) == 0)
      info->file_bytes += (uint64_t) st.st_blocks * 512;
  return vd__link_block_status (l, 0, l->size, add_data,
                                &info->allocated_bytes);
}

/* ---- commit -------------------------------------------------------------------------------- */

#define UNIT 512u
#define CHUNK (1u << 20)

struct mark {
  uint8_t *bits;     /* one bit per 512-byte unit of the chunk */
  uint64_t base;
};

static int
mark_alloc (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  struct mark *m = p;
  if (st == VD_STATUS_HOLE)
    return 0;
  for (uint64_t u = (off - m->base) / UNIT;
       u < VD_DIV_ROUND_UP (off + len - m->base, UNIT); u++)
    m->bits[u / 8] |= (uint8_t) (1u << (u % 8));
  return 0;
}

static int
ignore_range (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off; (void) len; (void) st; (void) p;
  return 0;
}

static int
is_marked (const struct mark *m, uint64_t u)
{
  return (m->bits[u / 8] >> (u % 8)) & 1;
}

int
vd_disk_commit (const char *child_path, const char *ancestor_path,
                uint32_t open_flags, vd_progress_cb progress, void *payload)
{
  vd_disk *c = NULL, *a = NULL;
  uint8_t bits[CHUNK / UNIT / 8];
  uint8_t *buf = NULL;
  unsigned k = 1;
  uint32_t new_cid;
  char cidbuf[16];
  int r;

  VD_ENTER ();
  if (!child_path)
    return vd_error (VD_EINVAL, 0, "commit: no child");
  open_flags &= VD_OPEN_TRUSTED;
  /* The child read-write (its descriptor changes), forced: it may have
   * children of its own, whose view does not change. */
  r = vd_disk_open (&c, child_path, open_flags | VD_OPEN_FORCE);
  if (r < 0)
    return r;
  if (c->n_links < 2) {
    r = vd_error (VD_EPARENT, 0, "%s: has no parent to commit into",
                  child_path);
    goto out;
  }
  if (ancestor_path) {
    for (k = 1; k < c->n_links; k++)
      if (vd__same_path (c->links[k]->path, ancestor_path))
        break;
    if (k == c->n_links) {
      r = vd_error (VD_EPARENT, 0, "%s: %s is not an ancestor of this disk",
                    child_path, ancestor_path);
      goto out;
    }
  }
  /* 0. A corrupt table or an unreadable (NOACCESS) extent in a link to
   * merge would stop the copy half-way with the ancestor changed: check
   * every such link first. */
  for (unsigned li = 0; li < k && r == 0; li++) {
    struct vd_link *l = c->links[li];
    for (size_t i = 0; i < l->n_extents && r == 0; i++)
      if (l->extents[i].access == VD_ACCESS_NOACCESS)
        r = vd_error (VD_EIO, 0, "%s: extent at byte %llu is NOACCESS; "
                      "its data cannot be read to commit it", l->path,
                      (unsigned long long) l->extents[i].start);
    if (r == 0)
      r = vd__link_block_status (l, 0, c->top->size, ignore_range, NULL);
  }
  if (r < 0)
    goto out;
  /* 1. Record the CID the ancestor will have (or reuse the one of an
   * interrupted commit), so the chain stays readable meanwhile. */
  new_cid = c->commit_cid ? c->commit_cid : vd__random_cid ();
  if (!c->commit_cid) {
    snprintf (cidbuf, sizeof cidbuf, "%08x", new_cid);
    pthread_mutex_lock (&c->top->mu);
    r = vd__desc_set_ddb (c->top->desc, VD_COMMIT_KEY, cidbuf);
    if (r == 0)
      r = vd__link_write_descriptor (c->top);
    pthread_mutex_unlock (&c->top->mu);
    if (r < 0)
      goto out;
    c->commit_cid = new_cid;
  }
  /* 2. The ancestor, writable, with its new CID. */
  r = vd_disk_open (&a, c->links[k]->path, open_flags | VD_OPEN_FORCE);
  if (r < 0)
    goto out;
  if (a->top->cid != new_cid && (r = vd__link_set_cid (a->top, new_cid)) < 0)
    goto out;
  /* 3. Copy whatever the links above the ancestor hold (data and zeros),
   * read through the child: idempotent, so a repeat completes it. */
  buf = malloc (CHUNK);
  if (!buf) {
    r = vd_error (VD_ENOMEM, errno, "commit buffer");
    goto out;
  }
  uint64_t size = c->top->size;
  for (uint64_t base = 0; base < size && r == 0; base += CHUNK) {
    uint64_t len = VD_MIN ((uint64_t) CHUNK, size - base);
    struct mark m = { bits, base };
    memset (bits, 0, sizeof bits);
    for (unsigned li = 0; li < k && r == 0; li++)
      r = vd__link_block_status (c->links[li], base, len, mark_alloc, &m);
    uint64_t units = VD_DIV_ROUND_UP (len, UNIT);
    for (uint64_t u = 0; u < units && r == 0;) {
      if (!is_marked (&m, u)) {
        u++;
        continue;
      }
      uint64_t e = u;
      while (e < units && is_marked (&m, e))
        e++;
      uint64_t off = base + u * UNIT;
      size_t n = (size_t) VD_MIN ((e - u) * UNIT, base + len - off);
      r = vd_disk_read (c, buf, n, off);
      if (r == 0)
        r = vd_disk_write (a, buf, n, off);
      u = e;
    }
    if (r == 0 && progress && progress (base + len, size, payload))
      r = vd_error (VD_ECANCELED, 0, "commit canceled (run it again to "
                    "complete it)");
  }
  if (r == 0)
    r = vd_disk_flush (a);
  if (r == 0) {
    r = vd_disk_close (a);
    a = NULL;
  }
  if (r < 0)
    goto out;
  /* 4. One descriptor rewrite finishes it: the child points at the
   * ancestor with its new CID and the marker goes. */
  {
    struct vd_link *top = c->top;
    char *hint = NULL;
    pthread_mutex_lock (&top->mu);
    snprintf (cidbuf, sizeof cidbuf, "%08x", new_cid);
    r = vd__desc_set (top->desc, "parentCID", cidbuf, 0);
    if (r == 0 && k > 1) {
      hint = parent_hint (top->dir, c->links[k]->path);
      r = hint ? vd__desc_set (top->desc, "parentFileNameHint", hint, 1)
               : VD_ENOENT;
    }
    if (r == 0)
      r = vd__desc_set_ddb (top->desc, VD_COMMIT_KEY, NULL);
    if (r == 0)
      r = vd__link_write_descriptor (top);
    pthread_mutex_unlock (&top->mu);
    free (hint);
  }
out:
  free (buf);
  if (a)
    vd_disk_close (a);
  if (c) {
    int r2 = vd_disk_close (c);
    if (r == 0)
      r = r2;
  }
  return r;
}
