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
 * Returns 0 with *out NULL when the file is not a descriptor; *embedded
 * says whether the text lives inside a sparse file. */
static int
peek_descriptor (int dirfd, const char *name, struct vd_descriptor **out,
                 int *embedded)
{
  struct vd_io *io = NULL;
  uint8_t magic[4] = { 0 };
  uint64_t fsize, off = 0, size;
  char *text = NULL;
  int r;

  *out = NULL;
  *embedded = 0;
  r = vd__io_posix_open (&io, dirfd, name, name, 0);
  if (r < 0)
    goto out;
  if (io->ops->size (io, &fsize) < 0 || fsize < 4)
    goto out;
  if (vd__io_pread (io, magic, 4, 0) < 0)
    goto out;
  if (memcmp (magic, "KDMV", 4) == 0) {
    if (vd__sparse_embedded_desc (io, &off, &size) < 0 || size == 0)
      goto out;
    *embedded = 1;
  }
  else if (fsize <= MAX_SMALL_DESC && magic[0] != 0)
    size = fsize;
  else
    goto out;
  text = malloc (size + 1);
  if (!text || vd__io_pread (io, text, (size_t) size, off) < 0)
    goto out;
  text[size] = '\0';
  /* a file that is not a descriptor is simply not a user */
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
vd__file_id (const char *path, struct vd_file_id *id)
{
  struct stat st;
  if (!path || stat (path, &st) < 0)
    return -1;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return 0;
}

/* The index in ids[0..n) of the file dir/name (or name, when absolute),
 * or -1. */
static long
id_index (int dirfd, const char *name, const struct vd_file_id *ids,
          size_t n)
{
  struct stat st;
  if (!name || !vd__name_ok (name, 1)
      || fstatat (name[0] == '/' ? AT_FDCWD : dirfd, name, &st, 0) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (ids[i].dev == st.st_dev && ids[i].ino == st.st_ino)
      return (long) i;
  return -1;
}

int
vd__find_user (const char *dir, const struct vd_file_id *ids, size_t n,
               unsigned uses, const struct vd_file_id *skip, size_t n_skip,
               const uint32_t *parent_cid, struct vd_user *u)
{
  DIR *d;
  struct dirent *de;
  int scanned = 0, found = 0;
  int fd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

  memset (u, 0, sizeof *u);
  if (fd < 0 || n == 0 || !(d = fdopendir (fd))) {
    if (fd >= 0)
      close (fd);
    return 0;                   /* cannot list: nothing to compare */
  }
  fd = dirfd (d);
  while (!found && (de = readdir (d)) && scanned < MAX_SCAN_FILES) {
    size_t len = strlen (de->d_name);
    struct vd_descriptor *desc;
    struct stat st;
    int embedded, is_skip = 0;
    long k = -1;
    unsigned how = 0;
    if (len < 5 || strcasecmp (de->d_name + len - 5, ".vmdk") != 0)
      continue;
    if (fstatat (fd, de->d_name, &st, 0) < 0 || !S_ISREG (st.st_mode))
      continue;
    for (size_t i = 0; i < n_skip; i++)
      if (skip[i].dev == st.st_dev && skip[i].ino == st.st_ino)
        is_skip = 1;
    if (is_skip)
      continue;
    scanned++;
    peek_descriptor (fd, de->d_name, &desc, &embedded);
    if (!desc)
      continue;
    if (uses & VD_USE_DESC)
      for (size_t i = 0; i < n && !how; i++)
        if (ids[i].dev == st.st_dev && ids[i].ino == st.st_ino) {
          k = (long) i;
          how = VD_USE_DESC;
        }
    if (!how && (uses & VD_USE_PARENT)) {
      const char *hint = vd__desc_get (desc, "parentFileNameHint");
      const char *pc = vd__desc_get (desc, "parentCID");
      if (hint && (!parent_cid
                   || (pc && (uint32_t) strtoul (pc, NULL, 16)
                               == *parent_cid))
          && (k = id_index (fd, hint, ids, n)) >= 0)
        how = VD_USE_PARENT;
    }
    for (size_t i = 0; !how && (uses & VD_USE_EXTENT) && i < desc->n_extents;
         i++) {
      const struct vd_desc_extent *e = vd__desc_extent (desc, i);
      /* vd__extent_path's rule: an embedded descriptor's first extent is
       * the file holding it */
      const char *name = embedded && i == 0 ? de->d_name : e->file;
      if (name && (k = id_index (fd, name, ids, n)) >= 0)
        how = VD_USE_EXTENT;
    }
    if (!how && (uses & VD_USE_CTK)
        && (k = id_index (fd, vd__desc_get (desc, "changeTrackPath"), ids,
                          n)) >= 0)
      how = VD_USE_CTK;
    vd__desc_free (desc);
    if (how) {
      u->disk = vd__path_join (dir, de->d_name);
      u->which = (size_t) k;
      u->how = how;
      found = u->disk != NULL;
    }
  }
  closedir (d);
  return found;
}

int
vd__find_child (struct vd_link *l, int match_cid, char **child)
{
  struct vd_file_id self;
  struct vd_user u;

  *child = NULL;
  if (l->dirfd < 0 || vd__file_id (l->path, &self) < 0)
    return 0;
  if (!vd__find_user (l->dir, &self, 1, VD_USE_PARENT, &self, 1,
                      match_cid ? &l->cid : NULL, &u))
    return 0;
  *child = u.disk;
  return 1;
}

const char *
vd__use_name (unsigned how)
{
  return how == VD_USE_PARENT ? "its parent"
         : how == VD_USE_CTK ? "its change-tracking file"
         : how == VD_USE_DESC ? "its descriptor" : "an extent";
}

/* Append the file at path to the list unless it is there already (by
 * device and inode) or does not exist. */
int
vd__files_add (struct vd_files *f, const char *path)
{
  struct vd_file_id id;
  if (!path || vd__file_id (path, &id) < 0)
    return 0;
  for (size_t j = 0; j < f->n; j++)
    if (f->ids[j].dev == id.dev && f->ids[j].ino == id.ino)
      return 0;
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 8;
    struct vd_file_id *ni = realloc (f->ids, cap * sizeof *ni);
    if (ni)
      f->ids = ni;
    char **nn = realloc (f->names, cap * sizeof *nn);
    if (nn)
      f->names = nn;
    if (!ni || !nn)
      return vd_error (VD_ENOMEM, errno, "file list");
    f->cap = cap;
  }
  f->names[f->n] = vd__strdup (path);
  if (!f->names[f->n])
    return VD_ENOMEM;
  f->ids[f->n++] = id;
  return 0;
}

int
vd__files_add_link (struct vd_files *f, struct vd_link *l, int with_desc,
                    int with_ctk)
{
  const char *ctk = with_ctk ? vd__desc_get (l->desc, "changeTrackPath")
                             : NULL;
  int r = 0;
  if (with_desc)
    r = vd__files_add (f, l->path);
  for (size_t i = 0; i < l->n_extents && r == 0; i++)
    if (l->extents[i].io)
      r = vd__files_add (f, l->extents[i].path);
  if (r == 0 && ctk && vd__name_ok (ctk, 0)) {
    char *p = vd__path_join (l->dir, ctk);
    r = p ? vd__files_add (f, p) : VD_ENOMEM;
    free (p);
  }
  return r;
}

void
vd__files_free (struct vd_files *f)
{
  for (size_t i = 0; i < f->n; i++)
    free (f->names[i]);
  free (f->names);
  free (f->ids);
  memset (f, 0, sizeof *f);
}

int
vd__refuse_shared (struct vd_link *l, int with_ctk, const char *what,
                   const char *hint)
{
  struct vd_files f = { 0 }, self = { 0 };
  struct vd_user u;
  int r;

  /* the files the disk writes or removes other than its descriptor file,
   * in any use; the descriptor file (an embedded one holds the data) as
   * another disk's extent or change-tracking file (children naming it
   * as their parent are the callers' own check, which force overrides) */
  r = vd__files_add (&self, l->path);
  if (r == 0)
    r = vd__files_add (&f, l->path);
  if (r == 0)
    r = vd__files_add_link (&f, l, 0, with_ctk);
  if (r == 0 && self.n && f.n
      && (vd__find_user (l->dir, f.ids + 1, f.n - 1, VD_USE_ANY, self.ids,
                         self.n, NULL, &u)
          ? (u.which++, 1)
          : vd__find_user (l->dir, f.ids, 1, VD_USE_EXTENT | VD_USE_CTK,
                           self.ids, self.n, NULL, &u))) {
    char *base = vd__basename (f.names[u.which]);
    r = vd_error (VD_EPARENT, 0, "%s: another disk in this folder, %s, uses "
                  "%s as %s: %s would change that disk too%s%s%s",
                  l->path, u.disk, base ? base : f.names[u.which],
                  vd__use_name (u.how), what, hint ? " (" : "",
                  hint ? hint : "", hint ? ")" : "");
    free (base);
    free (u.disk);
  }
  vd__files_free (&f);
  vd__files_free (&self);
  return r;
}

int
vd__check_no_child (struct vd_link *l)
{
  char *child;
  int r = 0;
  if (vd__find_child (l, 1, &child)) {
    r = vd_error (VD_EPARENT, 0, "%s: %s is a child of this disk (its "
                  "parentCID %08x matches); writing here would invalidate "
                  "it.  Open the child instead (or use the force option to write here and "
                  "invalidate the child)",
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

/* A child records its parent's CID, and a child whose parentCID is
 * ffffffff never opens: the parent needs a real CID line first. */
static int
parent_cid_ok (struct vd_link *p)
{
  if (!vd__desc_get (p->desc, "CID") || p->cid == 0xffffffffu)
    return vd_error (VD_EPARENT, 0, "%s: this disk has no CID (content ID) "
                     "line, so a child of it could never open; add a line "
                     "CID=<8 hex digits> to its descriptor first", p->path);
  return 0;
}

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
  if ((r = parent_cid_ok (parent->top)) < 0)
    return r;
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
  /* an overwrite never replaces a file of the parent chain */
  struct vd_files protect = { 0 };
  r = 0;
  for (unsigned i = 0; i < parent->n_links && r == 0; i++)
    r = vd__files_add_link (&protect, parent->links[i], 1, 1);
  nd.protect = &protect;
  if (r == 0)
    r = vd__newdisk_begin_child (&nd, path, &p, hint, parent->top->cid);
  if (r == 0)
    r = vd__newdisk_commit (&nd);
  vd__files_free (&protect);
  free (hint);
  if (r == 0)
    parent->has_child = 1;
  /* A child of a tracked disk is tracked too, in its own file (VMware
   * keeps one tracking file per link). */
  if (r == 0 && parent->top->cbt_state == VD_CBT_ON) {
    vd_disk *c = NULL;
    r = vd_disk_open (&c, path, flags & VD_OPEN_TRUSTED);
    if (r == 0)
      r = vd__link_cbt_enable (c->top, 0);
    if (c) {
      int r2 = vd_disk_close (c);
      if (r == 0)
        r = r2;
    }
  }
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
  open_flags &= VD_OPEN_TRUSTED | VD_OPEN_FORCE;
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
  if ((r = parent_cid_ok (parent->top)) < 0)
    goto out;
  /* a new parent changes what the child reads, but not its CID: a disk
   * made from the child would silently read other data */
  if (!(open_flags & VD_OPEN_FORCE)) {
    char *grandchild;
    if (vd__find_child (child->top, 0, &grandchild)) {
      r = vd_error (VD_EPARENT, 0, "%s: %s names it as its parent; a new "
                    "parent would change what that disk reads (force to do "
                    "it anyway)", child_path, grandchild);
      free (grandchild);
      goto out;
    }
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

  char *middle[VD_MAX_CHAIN];
  unsigned n_middle = 0;
  int force = (open_flags & VD_OPEN_FORCE) != 0;

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
  /* 0. Nothing but this chain may depend on what changes: the ancestor
   * gets a new CID and the links between are left without a use, so a
   * second child of any of them (a sibling of this chain) would no
   * longer open; and the ancestor's files must be its own. */
  for (unsigned li = 1; li <= k && !force; li++) {
    struct vd_file_id id, below;
    struct vd_user u;
    if (vd__file_id (c->links[li]->path, &id) < 0
        || vd__file_id (c->links[li - 1]->path, &below) < 0)
      continue;
    if (vd__find_user (c->links[li]->dir, &id, 1, VD_USE_PARENT, &below, 1,
                       &c->links[li]->cid, &u)) {
      r = vd_error (VD_EPARENT, 0, "%s: %s is another child of %s and "
                    "would no longer open after a commit %s it (force to "
                    "do it anyway)", child_path, u.disk, c->links[li]->path,
                    li == k ? "into" : "through");
      free (u.disk);
      goto out;
    }
  }
  if (!force && (r = vd__refuse_shared (c->links[k], 0,
                                        "committing into it",
                                        "force to do it anyway")) < 0)
    goto out;
  for (unsigned li = 1; li < k; li++)
    if ((middle[n_middle] = vd__strdup (c->links[li]->path)))
      n_middle++;
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
  /* A repeat finds the CID already set: it is this open's renewal too,
   * or the first write would give the ancestor a random CID and the
   * child's parentCID (new_cid) would never match it. */
  a->top->cid_renewed = 1;
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
  /* 5. The links between no longer hold a valid disk (their parent's
   * content and CID changed; their data is in the ancestor now): remove
   * them, nearest first, so no broken disk stays behind. */
  for (unsigned i = 0; i < n_middle; i++) {
    if (r == 0) {
      int r2 = vd_disk_unlink (middle[i], open_flags & VD_OPEN_TRUSTED);
      if (r2 < 0) {
        char msg[512];
        snprintf (msg, sizeof msg, "%s", vd_last_error ()->message);
        vd__error_clear ();
        r = vd_error (r2, 0, "%s: committed, but the collapsed link %s "
                      "(no longer a valid disk) could not be removed: %s",
                      child_path, middle[i], msg);
      }
    }
    free (middle[i]);
  }
  return r;
}
