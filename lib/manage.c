/* Disk management: rename, unlink, grow, shrink, defragment and the space
 * a clone needs.
 *
 * Crash safety.  Nothing here writes into the files of the disk being
 * changed (except the embedded descriptor text during a rename):
 * - rename hard-links every file to its new name, writes the new
 *   descriptor, and only then removes the old names, so a crash leaves
 *   the old disk, the new disk, or both, complete;
 * - shrink, defragment and the growth of a monolithicSparse disk build a
 *   complete new copy of every extent in a hidden work folder beside the
 *   disk, make it durable, and rename the new extents over the old ones.
 *   Each renamed extent holds exactly the content of the one it replaces,
 *   under the same descriptor, so a crash between two renames of a split
 *   disk still leaves a disk that reads as before;
 * - growing a flat or split disk writes only new files and a longer flat
 *   file (a flat file longer than its extent is valid), then replaces the
 *   descriptor atomically (temporary file + rename).
 * A crash can leave a hidden ".vdisk-work-*" folder (workdir.c: the next
 * operation on the disk or vd_dir_clean removes it) or stray new extent
 * files next to the disk; the disk itself stays readable and unchanged.
 *
 * The disk is held with the write lock (lock.c) on each of its files for
 * the whole operation, so no other writer can interfere. */
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

#define SPLIT_SECTORS UINT64_C (4192256)   /* VMware's 2047 MiB extents */
#define GRAIN_SECTORS 128u                 /* as create.c */
#define GRAIN_BYTES (GRAIN_SECTORS * VD_SECTOR)
#define GT_ENTRIES 512u
#define CHUNK (1u << 20)
#define WINDOW (UINT64_C (1) << 30)

/* ---- small helpers --------------------------------------------------------- */

/* NAME.vmdk -> NAME (malloc'd) */
static char *
stem_of (const char *base)
{
  char *s = vd__strdup (base);
  size_t n = s ? strlen (s) : 0;
  if (s && n > 5 && strcasecmp (s + n - 5, ".vmdk") == 0)
    s[n - 5] = '\0';
  return s;
}

/* A copy of a descriptor (parse of its text). */
static int
desc_copy (struct vd_descriptor **out, const struct vd_descriptor *d,
           const char *where)
{
  size_t len;
  char *text = vd__desc_emit (d, &len);
  int r;
  if (!text)
    return VD_ENOMEM;
  r = vd__desc_parse (out, text, len, where);
  free (text);
  return r;
}

/* The i-th extent line of d (modifiable). */
static struct vd_desc_line *
extent_line (struct vd_descriptor *d, size_t i)
{
  return vd__desc_extent_line (d, i);
}

static int
set_extent_file (struct vd_desc_line *ln, const char *name)
{
  char *n = vd__strdup (name);
  if (!n)
    return VD_ENOMEM;
  if (!vd__desc_value_ok (name)) {
    free (n);
    return vd_error (VD_EINVAL, 0, "extent name \"%s\" holds a quote or a "
                     "line break", name);
  }
  free (ln->ext.file);
  ln->ext.file = n;
  ln->modified = 1;
  return 0;
}

static int
set_geometry (struct vd_descriptor *d, uint64_t capacity,
              enum vd_adapter adapter)
{
  struct vd_geometry g;
  char b[16];
  int r;
  vd_geometry_compute (&g, capacity, adapter);
  snprintf (b, sizeof b, "%u", g.cylinders);
  r = vd__desc_set_ddb (d, "ddb.geometry.cylinders", b);
  snprintf (b, sizeof b, "%u", g.heads);
  if (r == 0)
    r = vd__desc_set_ddb (d, "ddb.geometry.heads", b);
  snprintf (b, sizeof b, "%u", g.sectors);
  if (r == 0)
    r = vd__desc_set_ddb (d, "ddb.geometry.sectors", b);
  return r;
}

/* Write text as dirfd/base through a temporary file, durable, then
 * renamed over (or, with noreplace, beside) the old one. */
static int
write_file_atomic (int dirfd, const char *dir, const char *base,
                   const char *text, size_t len, mode_t mode, int noreplace)
{
  uint8_t rnd[4];
  char tmp[NAME_MAX + 1];
  int fd, r = 0;

  if (vd__random_bytes (rnd, sizeof rnd) < 0)
    return VD_EIO;
  snprintf (tmp, sizeof tmp, ".vdisk-tmp-%02x%02x%02x%02x.vmdk", rnd[0],
            rnd[1], rnd[2], rnd[3]);
  fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return vd_error (vd__errno_code (errno), errno, "%s/%s: cannot create "
                     "the new descriptor", dir, tmp);
  fchmod (fd, mode);
  for (size_t done = 0; done < len && r == 0;) {
    ssize_t n = write (fd, text + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      r = vd_error (vd__errno_code (errno), errno, "%s/%s: write", dir, tmp);
    else
      done += (size_t) n;
  }
  if (r == 0 && fsync (fd) < 0)
    r = vd_error (vd__errno_code (errno), errno, "%s/%s: fsync", dir, tmp);
  close (fd);
  if (r == 0 && renameat2 (dirfd, tmp, dirfd, base,
                           noreplace ? RENAME_NOREPLACE : 0) < 0) {
    int e = errno;
    r = vd_error (e == EEXIST ? VD_EEXIST : vd__errno_code (e), e,
                  "%s/%s: cannot put the descriptor in place%s", dir, base,
                  e == EEXIST ? " (file exists)" : "");
  }
  if (r < 0)
    unlinkat (dirfd, tmp, 0);
  else
    fsync (dirfd);
  return r;
}

/* ---- the write lock held over a whole operation ---------------------------- */

struct guard {
  struct vd_io *io[VD_MAX_EXTENTS + 1];
  size_t n;
};

static void
guard_release (struct guard *g)
{
  for (size_t i = 0; i < g->n; i++)
    vd__io_close (g->io[i]);
  g->n = 0;
}

/* Take the writer's lock on every file of link l: fails with VD_ELOCKED
 * when another handle or program writes to it.  The files are opened
 * read-only: the lock bytes work on any open file description. */
static int
guard_link (struct guard *g, struct vd_link *l, int trusted)
{
  int r;
  g->n = 0;
  if (l->desc_io && l->desc_io->fd < 0)
    return vd_error (VD_ENOTSUP, 0, "%s: not a local file", l->path);
  r = vd__io_posix_open (&g->io[g->n], AT_FDCWD, l->path, l->path,
                         VD_IO_FOLLOW);
  if (r < 0)
    return r;
  g->n++;
  r = vd__lock (g->io[0], 1);
  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    struct vd_extent *e = &l->extents[i];
    if (!e->io || e->io == l->desc_io)
      continue;
    r = vd__io_posix_open (&g->io[g->n], AT_FDCWD, e->path, e->path,
                           trusted ? VD_IO_FOLLOW : 0);
    if (r < 0)
      break;
    g->n++;
    r = vd__lock (g->io[g->n - 1], 1);
  }
  if (r < 0)
    guard_release (g);
  return r;
}

/* ---- finding disks that name this one as their parent ---------------------- */

/* VD_EPARENT when a VMDK in l's folder names l as its parent. */
static int
refuse_children (struct vd_link *l, const char *what)
{
  char *child;
  int r = 0;
  if (vd__find_child (l, 0, &child)) {
    r = vd_error (VD_EPARENT, 0, "%s: %s names this disk as its parent; "
                  "%s it would break that child (force to do it anyway)",
                  l->path, child, what);
    free (child);
  }
  return r;
}

/* VD_EINVAL when path is another name of a disk that renaming or
 * deleting its files would break: a symbolic link (the disk it points to
 * would lose its extents but keep its descriptor), or a text descriptor
 * with a second hard link (that name would name files that are gone).  A
 * sparse file with an embedded descriptor is the whole disk: another
 * name of it keeps all of it. */
static int
refuse_alias (struct vd_link *l, const char *path)
{
  struct stat st;
  if (lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
    return vd_error (VD_EINVAL, 0, "%s: is a symbolic link; give the path "
                     "of the disk's descriptor itself", path);
  if (!l->embedded && fstat (l->desc_io->fd, &st) == 0 && st.st_nlink > 1)
    return vd_error (VD_EINVAL, 0, "%s: this descriptor has %ju names (hard "
                     "links); moving or deleting its files would leave the "
                     "other names naming files that are gone (remove them "
                     "first)", path, (uintmax_t) st.st_nlink);
  return 0;
}

/* ---- rename ------------------------------------------------------------------ */

struct move {
  char *from, *to;   /* names in the old and the new folder */
  int how;           /* 0 not done, 1 hard-linked, 2 renamed */
};

/* VMware's name for file extent i (0-based among the file extents) of a
 * disk of this type. */
static char *
vmware_extent_name (const struct vd_link *l, const struct vd_extent *e,
                    unsigned idx, unsigned n_files, const char *old_stem,
                    const char *new_stem)
{
  switch (l->type) {
  case VD_TYPE_SPLIT_SPARSE:
    return vd__asprintf ("%s-s%03u.vmdk", new_stem, idx + 1);
  case VD_TYPE_SPLIT_FLAT:
    return vd__asprintf ("%s-f%03u.vmdk", new_stem, idx + 1);
  case VD_TYPE_MONOLITHIC_FLAT:
  case VD_TYPE_VMFS:
  case VD_TYPE_VMFS_THIN:
    if (n_files == 1)
      return vd__asprintf ("%s-flat.vmdk", new_stem);
    break;
  case VD_TYPE_VMFS_SPARSE:
    if (n_files == 1)
      return vd__asprintf ("%s-delta.vmdk", new_stem);
    break;
  case VD_TYPE_SE_SPARSE:
    if (n_files == 1)
      return vd__asprintf ("%s-sesparse.vmdk", new_stem);
    break;
  default:
    break;
  }
  /* other layouts: keep what follows the old stem ("-flat.vmdk") */
  size_t ls = strlen (old_stem);
  if (strncmp (e->name, old_stem, ls) == 0
      && (e->name[ls] == '-' || e->name[ls] == '.' || e->name[ls] == '_'))
    return vd__asprintf ("%s%s", new_stem, e->name + ls);
  return vd__asprintf ("%s-%03u.vmdk", new_stem, idx + 1);
}

/* The parent hint a disk moved to new_dir should carry. */
static char *
moved_hint (const struct vd_link *l, const char *hint, const char *new_dir)
{
  char pp[PATH_MAX], nd[PATH_MAX];
  char *joined = vd__path_join (l->dir, hint), *pdir, *r;
  if (!joined)
    return NULL;
  if (!realpath (joined, pp) || !realpath (new_dir, nd)) {
    vd_error (VD_EPARENT, errno, "%s: cannot resolve its parent %s",
              l->path, joined);
    free (joined);
    return NULL;
  }
  free (joined);
  pdir = vd__dirname (pp);
  if (!pdir)
    return NULL;
  r = strcmp (pdir, nd) == 0 ? vd__basename (pp) : vd__strdup (pp);
  free (pdir);
  return r;
}

/* Put one file under its new name: a hard link (the old name stays until
 * the end), or a rename where the file system has no hard links.  Never
 * replaces an existing file. */
static int
move_file (struct move *m, int sfd, const char *sdir, int dfd,
           const char *ddir)
{
  if (linkat (sfd, m->from, dfd, m->to, 0) == 0) {
    m->how = 1;
    return 0;
  }
  int e = errno;
  if (e == EPERM || e == ENOTSUP || e == EMLINK || e == ENOSYS) {
    if (renameat2 (sfd, m->from, dfd, m->to, RENAME_NOREPLACE) == 0) {
      m->how = 2;
      return 0;
    }
    e = errno;
  }
  if (e == EEXIST)
    return vd_error (VD_EEXIST, e, "%s/%s: file exists; rename never "
                     "replaces a file", ddir, m->to);
  if (e == EXDEV)
    return vd_error (VD_EINVAL, e, "%s/%s: the new name is on another file "
                     "system than %s/%s; rename works within one file "
                     "system (use convert to copy)", ddir, m->to, sdir,
                     m->from);
  return vd_error (vd__errno_code (e), e, "%s/%s: cannot create as the new "
                   "name of %s/%s", ddir, m->to, sdir, m->from);
}

static void
unmove_file (struct move *m, int sfd, int dfd)
{
  if (m->how == 1)
    unlinkat (dfd, m->to, 0);
  else if (m->how == 2)
    renameat (dfd, m->to, sfd, m->from);
  m->how = 0;
}

/* Rewrite the embedded descriptor of the sparse file at path. */
static int
write_embedded (const char *path, const char *text, size_t len)
{
  struct vd_io *io = NULL;
  uint64_t off, size;
  char *area = NULL;
  int r = vd__io_posix_open (&io, AT_FDCWD, path, path, VD_IO_RDWR);
  if (r == 0)
    r = vd__sparse_embedded_desc (io, &off, &size);
  if (r == 0 && len >= size)
    r = vd_error (VD_ENOSPC, 0, "%s: the new descriptor (%zu bytes) does not "
                  "fit the embedded area (%llu bytes)", path, len,
                  (unsigned long long) size);
  if (r == 0 && !(area = calloc (1, (size_t) size)))
    r = vd_error (VD_ENOMEM, errno, "descriptor");
  if (r == 0) {
    memcpy (area, text, len);
    r = vd__io_pwrite (io, area, (size_t) size, off);
  }
  if (r == 0)
    r = vd__io_flush (io);
  free (area);
  vd__io_close (io);
  return r;
}

int
vd_disk_rename (const char *old_path, const char *new_path, uint32_t flags)
{
  vd_disk *src = NULL;
  struct guard *g = NULL;
  struct vd_descriptor *nd = NULL;
  struct move *mv = NULL;
  size_t n_mv = 0;
  char *old_base = NULL, *new_base = NULL, *old_stem = NULL;
  char *new_stem = NULL, *new_dir = NULL, *old_text = NULL, *text = NULL;
  size_t old_len = 0, len = 0;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  int dfd = -1, desc_done = 0, embedded_rewritten = 0, r;
  struct vd_link *l;
  struct stat st;

  VD_ENTER ();
  if (!old_path || !new_path || !*old_path || !*new_path)
    return vd_error (VD_EINVAL, 0, "rename: need the old and the new name");
  r = vd_disk_open (&src, old_path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK
                                      | (flags & VD_OPEN_TRUSTED));
  if (r < 0)
    return r;
  l = src->top;
  if (l->raw) {
    r = vd_error (VD_EINVAL, 0, "%s: a raw image is a single file: rename "
                  "it with mv", old_path);
    goto out;
  }
  g = calloc (1, sizeof *g);
  if (!g) {
    r = vd_error (VD_ENOMEM, errno, "rename");
    goto out;
  }
  r = guard_link (g, l, trusted);
  if (r < 0)
    goto out;
  if (!(flags & VD_OPEN_FORCE) && (r = refuse_children (l, "renaming")) < 0)
    goto out;
  /* a copied descriptor names the original's files: moving them would
   * take them from under the other disk (no force for that) */
  if ((r = vd__refuse_shared (l, 1, "renaming it", NULL)) < 0
      || (r = refuse_alias (l, old_path)) < 0)
    goto out;
  old_base = vd__basename (l->path);
  new_base = vd__basename (new_path);
  new_dir = vd__dirname (new_path);
  if (!old_base || !new_base || !new_dir) {
    r = VD_ENOMEM;
    goto out;
  }
  if (!vd__name_ok (new_base, 0) || !vd__desc_value_ok (new_base)) {
    r = vd_error (VD_EINVAL, 0, "%s: invalid disk file name", new_path);
    goto out;
  }
  old_stem = stem_of (old_base);
  new_stem = stem_of (new_base);
  if (!old_stem || !new_stem) {
    r = VD_ENOMEM;
    goto out;
  }
  if (lstat (new_path, &st) == 0) {
    r = vd_error (VD_EEXIST, 0, "%s: file exists; rename never replaces a "
                  "file", new_path);
    goto out;
  }
  dfd = open (new_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0) {
    r = vd_error (vd__errno_code (errno), errno, "%s: open folder", new_dir);
    goto out;
  }
  r = desc_copy (&nd, l->desc, l->path);
  if (r < 0)
    goto out;

  /* The plan: one move per file extent, then the change-tracking file. */
  mv = calloc (l->n_extents + 2, sizeof *mv);
  if (!mv) {
    r = vd_error (VD_ENOMEM, errno, "rename");
    goto out;
  }
  {
    unsigned n_files = 0, idx = 0;
    for (size_t i = 0; i < l->n_extents; i++)
      if (l->extents[i].io && l->extents[i].io != l->desc_io)
        n_files++;
    for (size_t i = 0; i < l->n_extents && r == 0; i++) {
      struct vd_extent *e = &l->extents[i];
      struct vd_desc_line *ln = extent_line (nd, i);
      if (!ln) {
        r = vd_error (VD_ECORRUPT, 0, "%s: extent lines changed", l->path);
        break;
      }
      if (e->type == VD_EXTENT_ZERO)
        continue;
      if (e->io == l->desc_io) {
        /* the embedded descriptor's own extent line names the file */
        r = set_extent_file (ln, new_base);
        continue;
      }
      if (!vd__name_ok (e->name, 0)) {
        r = vd_error (VD_ENOTSUP, 0, "%s: extent \"%s\" is not a plain name "
                      "in the disk's folder; rename such disks by hand",
                      l->path, e->name);
        break;
      }
      mv[n_mv].from = vd__strdup (e->name);
      mv[n_mv].to = vmware_extent_name (l, e, idx++, n_files, old_stem,
                                        new_stem);
      if (!mv[n_mv].from || !mv[n_mv].to) {
        n_mv++;
        r = VD_ENOMEM;
        break;
      }
      r = set_extent_file (ln, mv[n_mv].to);
      n_mv++;
    }
  }
  if (r < 0)
    goto out;
  {
    const char *ctk = vd__desc_get (l->desc, "changeTrackPath");
    if (ctk && vd__name_ok (ctk, 0)
        && fstatat (l->dirfd, ctk, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      mv[n_mv].from = vd__strdup (ctk);
      mv[n_mv].to = vd__asprintf ("%s-ctk.vmdk", new_stem);
      n_mv++;
      if (!mv[n_mv - 1].from || !mv[n_mv - 1].to) {
        r = VD_ENOMEM;
        goto out;
      }
      r = vd__desc_set (nd, "changeTrackPath", mv[n_mv - 1].to, 1);
      if (r < 0)
        goto out;
    }
  }
  {
    const char *hint = vd__desc_get (l->desc, "parentFileNameHint");
    if (hint && !vd__same_path (l->dir, new_dir)) {
      char *nh = moved_hint (l, hint, new_dir);
      if (!nh) {
        r = VD_EPARENT;
        goto out;
      }
      r = vd__desc_set (nd, "parentFileNameHint", nh, 1);
      free (nh);
      if (r < 0)
        goto out;
    }
  }
  text = vd__desc_emit (nd, &len);
  old_text = vd__desc_emit (l->desc, &old_len);
  if (!text || !old_text) {
    r = VD_ENOMEM;
    goto out;
  }

  /* 1. every file under its new name as well */
  for (size_t i = 0; i < n_mv && r == 0; i++)
    r = move_file (&mv[i], l->dirfd, l->dir, dfd, new_dir);
  if (r < 0)
    goto rollback;
  /* 2. the new descriptor, last: the new disk exists from here */
  if (l->embedded) {
    struct move dm = { old_base, new_base, 0 };
    r = move_file (&dm, l->dirfd, l->dir, dfd, new_dir);
    if (r < 0)
      goto rollback;
    desc_done = dm.how;
    char *np = vd__path_join (new_dir, new_base);
    r = np ? write_embedded (np, text, len) : VD_ENOMEM;
    free (np);
    embedded_rewritten = 1;
    if (r < 0)
      goto rollback;
  }
  else {
    if (fstat (l->desc_io->fd, &st) < 0)
      st.st_mode = 0644;
    r = write_file_atomic (dfd, new_dir, new_base, text, len,
                           st.st_mode & 07777, 1);
    if (r < 0)
      goto rollback;
    desc_done = 3;
  }
  fsync (dfd);
  /* 3. the old names go: descriptor first, so no half disk stays */
  if (desc_done != 2 && unlinkat (l->dirfd, old_base, 0) < 0)
    r = vd_error (VD_EIO, errno, "%s: renamed, but the old descriptor could "
                  "not be removed", l->path);
  for (size_t i = 0; i < n_mv; i++)
    if (mv[i].how == 1 && unlinkat (l->dirfd, mv[i].from, 0) < 0 && r == 0)
      r = vd_error (VD_EIO, errno, "%s/%s: renamed, but the old name could "
                    "not be removed", l->dir, mv[i].from);
  fsync (l->dirfd);
  goto out;

rollback:
  if (embedded_rewritten) {
    char *np = vd__path_join (new_dir, new_base);
    /* the old text back (old and new names share the file) */
    if (np)
      write_embedded (np, old_text, old_len);
    free (np);
  }
  if (desc_done == 1 || desc_done == 3)
    unlinkat (dfd, new_base, 0);
  else if (desc_done == 2)
    renameat (dfd, new_base, l->dirfd, old_base);
  for (size_t i = n_mv; i-- > 0;)
    unmove_file (&mv[i], l->dirfd, dfd);
  fsync (dfd);
out:
  if (mv)
    for (size_t i = 0; i < n_mv; i++) {
      free (mv[i].from);
      free (mv[i].to);
    }
  free (mv);
  if (g)
    guard_release (g);
  free (g);
  vd__desc_free (nd);
  if (dfd >= 0)
    close (dfd);
  free (text);
  free (old_text);
  free (old_base);
  free (new_base);
  free (old_stem);
  free (new_stem);
  free (new_dir);
  vd_disk_close (src);
  return r;
}

/* ---- unlink ------------------------------------------------------------------ */

int
vd_disk_unlink (const char *path, uint32_t flags)
{
  vd_disk *src = NULL, *chain = NULL;
  struct guard *g = NULL;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0, r;
  struct vd_link *l;
  struct stat st;

  VD_ENTER ();
  if (!path || !*path)
    return vd_error (VD_EINVAL, 0, "unlink: no disk given");
  r = vd_disk_open (&src, path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK
                                  | (flags & VD_OPEN_TRUSTED));
  if (r < 0)
    return r;
  l = src->top;
  if (l->raw) {
    r = vd_error (VD_EINVAL, 0, "%s: a raw image is a single file: delete "
                  "it with rm", path);
    goto out;
  }
  g = calloc (1, sizeof *g);
  if (!g) {
    r = vd_error (VD_ENOMEM, errno, "unlink");
    goto out;
  }
  r = guard_link (g, l, trusted);
  if (r < 0)
    goto out;
  if (!(flags & VD_OPEN_FORCE) && (r = refuse_children (l, "deleting")) < 0)
    goto out;
  if (flags & VD_UNLINK_DESCRIPTOR_ONLY) {
    /* only the descriptor goes; it must not be another disk's file
     * (an embedded descriptor is the disk's data too) */
    struct vd_file_id self;
    struct vd_user u;
    if (vd__file_id (l->path, &self) == 0
        && vd__find_user (l->dir, &self, 1, VD_USE_EXTENT | VD_USE_CTK,
                          &self, 1, NULL, &u)) {
      r = vd_error (VD_EPARENT, 0, "%s: another disk in this folder, %s, "
                    "uses this file as %s; refusing to delete it", path,
                    u.disk, vd__use_name (u.how));
      free (u.disk);
      goto out;
    }
    if (unlink (l->path) < 0)
      r = vd_error (vd__errno_code (errno), errno, "%s: cannot delete",
                    l->path);
    else
      fsync (l->dirfd);
    goto out;
  }
  if ((r = vd__refuse_shared (l, 1, "deleting it",
                              "the descriptor-only option removes only "
                              "this descriptor")) < 0
      || (r = refuse_alias (l, path)) < 0)
    goto out;
  /* Never a file of the parent chain, whatever the extent lines say. */
  if (l->parent_cid != 0xffffffffu
      || vd__desc_get (l->desc, "parentFileNameHint")) {
    if (vd_disk_open (&chain, path, VD_OPEN_READ_ONLY | VD_OPEN_IGNORE_CID
                                      | (flags & VD_OPEN_TRUSTED)) < 0)
      vd__error_clear ();      /* parent missing: nothing to protect */
    for (unsigned k = 1; chain && k < chain->n_links && r == 0; k++) {
      struct vd_link *p = chain->links[k];
      for (size_t i = 0; i < l->n_extents && r == 0; i++) {
        if (!l->extents[i].path)
          continue;
        if (vd__same_path (l->extents[i].path, p->path))
          r = vd_error (VD_EPARENT, 0, "%s: extent %s is the descriptor of "
                        "its parent; refusing to delete it", path,
                        l->extents[i].path);
        for (size_t j = 0; j < p->n_extents && r == 0; j++)
          if (p->extents[j].path
              && vd__same_path (l->extents[i].path, p->extents[j].path))
            r = vd_error (VD_EPARENT, 0, "%s: extent %s belongs to its "
                          "parent %s too; refusing to delete it", path,
                          l->extents[i].path, p->path);
      }
    }
    vd_disk_close (chain);
    if (r < 0)
      goto out;
  }
  /* The descriptor first: from then on there is no disk, only files. */
  if (unlink (l->path) < 0) {
    r = vd_error (vd__errno_code (errno), errno, "%s: cannot delete",
                  l->path);
    goto out;
  }
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (!e->io || e->io == l->desc_io)
      continue;
    if (unlink (e->path) < 0 && errno != ENOENT && r == 0)
      r = vd_error (vd__errno_code (errno), errno, "%s: cannot delete the "
                    "extent", e->path);
  }
  {
    const char *ctk = vd__desc_get (l->desc, "changeTrackPath");
    if (ctk && vd__name_ok (ctk, 0)
        && fstatat (l->dirfd, ctk, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG (st.st_mode) && unlinkat (l->dirfd, ctk, 0) < 0 && r == 0)
      r = vd_error (vd__errno_code (errno), errno, "%s/%s: cannot delete "
                    "the change-tracking file", l->dir, ctk);
  }
  fsync (l->dirfd);
out:
  if (g)
    guard_release (g);
  free (g);
  vd_disk_close (src);
  return r;
}

/* ---- rebuilding sparse extents in a work folder --------------------------- */

struct run {
  uint64_t off, len;
  uint32_t st;
};

struct runs {
  struct run *v;
  size_t n, cap;
  int err;
};

static int
collect (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct runs *rs = payload;
  if (st == VD_STATUS_HOLE)
    return 0;
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 256;
    struct run *p = realloc (rs->v, cap * sizeof *p);
    if (!p) {
      rs->err = 1;
      return 1;
    }
    rs->v = p;
    rs->cap = cap;
  }
  rs->v[rs->n++] = (struct run) { off, len, st };
  return 0;
}

/* Copy what the top link of src holds into dst (a disk with the same
 * parent, or none), grain by grain in virtual order.  Blocks of zeros are
 * left out unless, in a child, they hide data of the parent. */
static int
copy_link (vd_disk *src, vd_disk *dst, vd_progress_cb progress,
           void *payload)
{
  struct vd_link *l = src->top;
  int has_parent = l->parent != NULL;
  uint64_t size = l->size;
  struct runs rs = { 0 };
  uint8_t *buf = NULL, *below = NULL;
  int r = 0;

  if (posix_memalign ((void **) &buf, 4096, CHUNK) != 0
      || !(below = malloc (GRAIN_BYTES))) {
    free (buf);
    return vd_error (VD_ENOMEM, errno, "%s: copy buffer", l->path);
  }
  for (uint64_t w = 0; w < size && r == 0; w += WINDOW) {
    uint64_t wl = VD_MIN (WINDOW, size - w);
    rs.n = 0;
    r = vd__link_block_status (l, w, wl, collect, &rs);
    if (r == 0 && rs.err)
      r = vd_error (VD_ENOMEM, 0, "%s: allocation map", l->path);
    for (size_t i = 0; i < rs.n && r == 0; i++) {
      uint64_t end = rs.v[i].off + rs.v[i].len;
      if (rs.v[i].st == VD_STATUS_ZERO && !has_parent)
        continue;
      for (uint64_t off = rs.v[i].off; off < end && r == 0;) {
        /* chunks on CHUNK boundaries, so blocks are on grain boundaries */
        uint64_t n = VD_MIN (end, (off / CHUNK + 1) * CHUNK) - off;
        if (rs.v[i].st == VD_STATUS_DATA)
          r = vd_disk_read (src, buf, (size_t) n, off);
        else
          memset (buf, 0, (size_t) n);
        uint64_t ks = 0, ke = 0;     /* pending run of kept bytes */
        for (uint64_t b = 0; b < n && r == 0;) {
          uint64_t bo = off + b;
          uint64_t bl = VD_MIN ((bo / GRAIN_BYTES + 1) * GRAIN_BYTES, off + n)
                        - bo;
          int keep = !vd__is_zero (buf + b, (size_t) bl);
          if (!keep && has_parent) {
            r = vd__link_read_below (l, below, (size_t) bl, bo);
            keep = r == 0 && !vd__is_zero (below, (size_t) bl);
          }
          if (keep) {
            if (ke != b) {
              if (ke > ks)
                r = vd_disk_write (dst, buf + ks, (size_t) (ke - ks),
                                   off + ks);
              ks = b;
            }
            ke = b + bl;
          }
          b += bl;
        }
        if (r == 0 && ke > ks)
          r = vd_disk_write (dst, buf + ks, (size_t) (ke - ks), off + ks);
        off += n;
        if (r == 0 && progress && progress (off, size, payload))
          r = vd_error (VD_ECANCELED, 0, "%s: canceled; the disk is "
                        "unchanged", l->path);
      }
    }
    if (r == 0 && progress && progress (w + wl, size, payload))
      r = vd_error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
                    l->path);
  }
  free (rs.v);
  free (buf);
  free (below);
  return r;
}

static int
fsync_at (int dirfd, const char *name)
{
  int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  int r = 0;
  if (fd < 0 || fsync (fd) < 0)
    r = vd_error (vd__errno_code (errno), errno, "%s: fsync", name);
  if (fd >= 0)
    close (fd);
  return r;
}

enum rebuild_mode { REBUILD_SHRINK, REBUILD_DEFRAG, REBUILD_GROW };

/* Shrink, defragment, or grow a monolithicSparse disk: every sparse
 * extent of the top link is written anew, compact and in virtual order,
 * in a work folder, then renamed over the old one. */
static int
rebuild (vd_disk *src, enum rebuild_mode mode, uint64_t new_cap,
         uint32_t flags, vd_progress_cb progress, void *payload)
{
  struct vd_link *l = src->top;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  struct vd_descriptor *fin = NULL, *tmpd = NULL, *old_desc = NULL;
  char *fin_text = NULL, *tmp_text = NULL, *tmpdir = NULL, *base = NULL;
  char *tmp_desc = NULL;
  size_t fin_len = 0, tmp_len = 0;
  vd_disk *dst = NULL;
  int tfd = -1, r;

  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (e->drv != &vd__sparse_driver)
      return vd_error (VD_ENOTSUP, 0, "%s: only hosted sparse disks "
                       "(monolithicSparse, twoGbMaxExtentSparse) can be "
                       "shrunk or defragmented; extent %s is %s", l->path,
                       e->path ? e->path : "(zero)", e->drv->name);
    if (e->io != l->desc_io && !vd__name_ok (e->name, 0))
      return vd_error (VD_ENOTSUP, 0, "%s: extent \"%s\" is not a plain "
                       "name in the disk's folder", l->path, e->name);
  }
  if (l->embedded && l->n_extents != 1)
    return vd_error (VD_ENOTSUP, 0, "%s: an embedded descriptor with %zu "
                     "extents", l->path, l->n_extents);
  base = vd__basename (l->path);
  if (!base)
    return VD_ENOMEM;

  /* the final descriptor (the old one, the new size for grow) and the
   * one the work copy opens with (parent named by absolute path) */
  r = desc_copy (&fin, l->desc, l->path);
  if (r == 0 && mode == REBUILD_GROW) {
    struct vd_desc_line *ln = extent_line (fin, 0);
    ln->ext.sectors = new_cap / VD_SECTOR;
    ln->modified = 1;
    if (flags & VD_GROW_UPDATE_GEOMETRY)
      r = set_geometry (fin, new_cap, vd_disk_get_adapter (src));
  }
  if (r == 0 && !(fin_text = vd__desc_emit (fin, &fin_len)))
    r = VD_ENOMEM;
  if (r == 0)
    r = desc_copy (&tmpd, fin, l->path);
  if (r == 0 && l->parent) {
    char pp[PATH_MAX];
    if (!realpath (l->parent->path, pp))
      r = vd_error (VD_EPARENT, errno, "%s: cannot resolve its parent %s",
                    l->path, l->parent->path);
    else
      r = vd__desc_set (tmpd, "parentFileNameHint", pp, 1);
  }
  if (r == 0 && !(tmp_text = vd__desc_emit (tmpd, &tmp_len)))
    r = VD_ENOMEM;
  if (r < 0)
    goto out;

  r = vd__workdir_make (l->dir, "work", base, &tmpdir, &tfd);
  if (r < 0)
    goto out;
  /* empty extents of the same sizes (the new size for grow) */
  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    struct vd_extent *e = &l->extents[i];
    int emb = e->io == l->desc_io;
    const char *name = emb ? base : e->name;
    uint64_t sectors = mode == REBUILD_GROW ? new_cap / VD_SECTOR
                                            : e->size / VD_SECTOR;
    struct vd_io *io = NULL;
    char *p = vd__path_join (tmpdir, name);
    if (!p) {
      r = VD_ENOMEM;
      break;
    }
    r = vd__io_posix_open (&io, AT_FDCWD, p, p, VD_IO_RDWR | VD_IO_CREATE);
    free (p);
    if (r == 0)
      r = vd__sparse_create (io, sectors, emb ? tmp_text : NULL,
                             emb ? tmp_len : 0, GRAIN_SECTORS);
    vd__io_close (io);
  }
  if (r == 0 && !l->embedded) {
    struct vd_io *io = NULL;
    char *p = vd__path_join (tmpdir, base);
    r = p ? vd__io_posix_open (&io, AT_FDCWD, p, p, VD_IO_RDWR | VD_IO_CREATE)
          : VD_ENOMEM;
    if (r == 0)
      r = vd__io_pwrite (io, tmp_text, tmp_len, 0);
    vd__io_close (io);
    free (p);
  }
  tmp_desc = vd__path_join (tmpdir, base);
  if (r == 0 && !tmp_desc)
    r = VD_ENOMEM;
  if (r == 0)
    r = vd_disk_open (&dst, tmp_desc, (l->parent || trusted)
                                        ? VD_OPEN_TRUSTED : 0);
  if (r == 0)
    r = copy_link (src, dst, progress, payload);
  if (r == 0)
    r = vd_disk_flush (dst);
  if (r == 0 && l->embedded) {
    /* the old descriptor text (its CID, names, hint) into the copy */
    r = vd__desc_parse (&old_desc, fin_text, fin_len, tmp_desc);
    if (r == 0) {
      struct vd_descriptor *t = dst->top->desc;
      pthread_mutex_lock (&dst->top->mu);
      dst->top->desc = old_desc;
      old_desc = t;            /* freed after close: create_type uses it */
      r = vd__link_write_descriptor (dst->top);
      pthread_mutex_unlock (&dst->top->mu);
    }
  }
  if (dst) {
    int r2 = vd_disk_close (dst);
    dst = NULL;
    if (r == 0)
      r = r2;
  }
  for (size_t i = 0; i < l->n_extents && r == 0; i++)
    r = fsync_at (tfd, l->extents[i].io == l->desc_io ? base
                                                        : l->extents[i].name);
  if (r == 0)
    fsync (tfd);
  /* the last chance to cancel with nothing changed */
  if (r == 0 && progress && progress (l->size, l->size, payload))
    r = vd_error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
                  l->path);
  if (r < 0)
    goto out;
  /* Point of no return: each rename swaps one extent for a copy of the
   * same content. */
  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    const char *name = l->extents[i].io == l->desc_io ? base
                                                      : l->extents[i].name;
    if (renameat (tfd, name, l->dirfd, name) < 0)
      r = vd_error (vd__errno_code (errno), errno, "%s/%s: cannot move the "
                    "rewritten extent into place (the disk still reads as "
                    "before)", l->dir, name);
  }
  fsync (l->dirfd);
out:
  if (dst)
    vd_disk_close (dst);
  if (tmpdir)
    vd__workdir_remove (tmpdir, tfd);
  vd__desc_free (old_desc);
  vd__desc_free (fin);
  vd__desc_free (tmpd);
  free (fin_text);
  free (tmp_text);
  free (tmpdir);
  free (tmp_desc);
  free (base);
  return r;
}

/* Open the disk read-only with the writer's lock on its files. */
static int
open_guarded (vd_disk **out, struct guard **gp, const char *path,
              uint32_t flags)
{
  int r;
  *out = NULL;
  *gp = calloc (1, sizeof **gp);
  if (!*gp)
    return vd_error (VD_ENOMEM, errno, "lock");
  r = vd_disk_open (out, path, VD_OPEN_READ_ONLY | (flags & VD_OPEN_TRUSTED));
  if (r == 0 && (*out)->top->raw)
    r = vd_error (VD_ENOTSUP, 0, "%s: a raw image", path);
  if (r == 0)
    r = guard_link (*gp, (*out)->top, (flags & VD_OPEN_TRUSTED) != 0);
  /* the rewritten files replace those another disk may use too */
  if (r == 0)
    r = vd__refuse_shared ((*out)->top, 0, "rewriting it", NULL);
  if (r == 0) {
    /* what an earlier, killed shrink, defragment or grow left behind */
    char *base = vd__basename ((*out)->top->path);
    if (base)
      vd__workdir_clean_stale ((*out)->top->dir, base);
    free (base);
  }
  if (r < 0) {
    vd_disk_close (*out);
    *out = NULL;
    free (*gp);
    *gp = NULL;
  }
  return r;
}

static void
close_guarded (vd_disk *d, struct guard *g)
{
  if (g)
    guard_release (g);
  free (g);
  vd_disk_close (d);
}

int
vd_disk_shrink (const char *path, uint32_t flags, vd_progress_cb progress,
                void *payload)
{
  vd_disk *src;
  struct guard *g;
  int r;
  VD_ENTER ();
  if (!path)
    return vd_error (VD_EINVAL, 0, "shrink: no disk given");
  r = open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  r = rebuild (src, REBUILD_SHRINK, 0, flags, progress, payload);
  close_guarded (src, g);
  return r;
}

int
vd_disk_defragment (const char *path, uint32_t flags,
                    vd_progress_cb progress, void *payload)
{
  vd_disk *src;
  struct guard *g;
  int r;
  VD_ENTER ();
  if (!path)
    return vd_error (VD_EINVAL, 0, "defragment: no disk given");
  r = open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  r = rebuild (src, REBUILD_DEFRAG, 0, flags, progress, payload);
  close_guarded (src, g);
  return r;
}

/* ---- grow ------------------------------------------------------------------- */

/* Grow a flat or split disk: longer last flat extent, new extent files,
 * then the descriptor replaced atomically. */
static int
grow_extents (vd_disk *src, uint64_t new_cap, uint32_t flags,
              vd_progress_cb progress, void *payload)
{
  struct vd_link *l = src->top;
  struct vd_extent *last = &l->extents[l->n_extents - 1];
  struct vd_descriptor *nd = NULL;
  char **made = NULL;
  size_t n_made = 0;
  char *stem = NULL, *base = NULL, *text = NULL;
  uint64_t add = (new_cap - l->size) / VD_SECTOR;
  uint64_t old_fsize = 0, new_fsize = 0;
  struct vd_io *ext_io = NULL;
  int sparse = last->drv == &vd__sparse_driver;
  int split = l->type == VD_TYPE_SPLIT_SPARSE || l->type == VD_TYPE_SPLIT_FLAT;
  int thick = 0;
  size_t len;
  int r;
  struct stat st;

  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (e->drv != &vd__flat_driver && e->drv != &vd__sparse_driver)
      return vd_error (VD_ENOTSUP, 0, "%s: cannot grow a disk with %s "
                       "extents", l->path, e->drv->name);
    if (e->type == VD_EXTENT_ZERO || !vd__name_ok (e->name, 0))
      return vd_error (VD_ENOTSUP, 0, "%s: cannot grow this layout (zero "
                       "extents or extent files outside the folder)",
                       l->path);
  }
  if (sparse && !split)
    return vd_error (VD_ENOTSUP, 0, "%s: cannot grow a custom sparse "
                     "layout", l->path);
  base = vd__basename (l->path);
  stem = base ? stem_of (base) : NULL;
  made = calloc (VD_MAX_EXTENTS, sizeof *made);
  if (!stem || !made) {
    r = vd_error (VD_ENOMEM, errno, "grow");
    goto out;
  }
  r = desc_copy (&nd, l->desc, l->path);
  if (r < 0)
    goto out;
  if (!sparse) {
    /* the last flat extent grows: all of it for monolithic layouts, up to
     * 2047 MiB for split ones */
    uint64_t cur = last->size / VD_SECTOR;
    uint64_t grow = split ? (cur < SPLIT_SECTORS
                             ? VD_MIN (add, SPLIT_SECTORS - cur) : 0)
                          : add;
    if (grow) {
      r = last->io->ops->size (last->io, &old_fsize);
      if (r < 0)
        goto out;
      if (old_fsize != last->file_offset + last->size) {
        r = vd_error (VD_ENOTSUP, 0, "%s: file is %llu bytes, not the %llu "
                      "its extent ends at; refusing to grow it", last->path,
                      (unsigned long long) old_fsize,
                      (unsigned long long) (last->file_offset + last->size));
        goto out;
      }
      if (fstat (last->io->fd, &st) == 0
          && (uint64_t) st.st_blocks * 512 >= old_fsize && old_fsize > 0)
        thick = 1;      /* preallocated: keep it so */
      if (l->type == VD_TYPE_VMFS)
        thick = 1;
      r = vd__io_posix_open (&ext_io, AT_FDCWD, last->path, last->path,
                             VD_IO_RDWR);
      new_fsize = old_fsize + grow * VD_SECTOR;
      if (r == 0 && ftruncate (ext_io->fd, (off_t) new_fsize) < 0)
        r = vd_error (vd__errno_code (errno), errno, "%s: extend to %llu "
                      "bytes", last->path, (unsigned long long) new_fsize);
      if (r == 0 && thick
          && posix_fallocate (ext_io->fd, (off_t) old_fsize,
                              (off_t) (new_fsize - old_fsize)) != 0)
        r = vd_error (VD_ENOSPC, ENOSPC, "%s: allocate %llu more bytes",
                      last->path,
                      (unsigned long long) (new_fsize - old_fsize));
      if (r == 0)
        r = vd__io_flush (ext_io);
      if (r < 0)
        goto out;
      struct vd_desc_line *ln = extent_line (nd, l->n_extents - 1);
      ln->ext.sectors += grow;
      ln->modified = 1;
      add -= grow;
    }
  }
  if (add && !split) {
    r = vd_error (VD_ENOTSUP, 0, "%s: internal: nothing to grow", l->path);
    goto out;
  }
  /* new extents of at most 2047 MiB */
  for (unsigned idx = (unsigned) l->n_extents + 1; add > 0 && r == 0; idx++) {
    uint64_t s = VD_MIN (add, SPLIT_SECTORS);
    struct vd_desc_extent de;
    struct vd_io *io = NULL;
    char *name;
    if (l->n_extents + n_made >= VD_MAX_EXTENTS || idx > 9999) {
      r = vd_error (VD_EINVAL, 0, "%s: too many extents", l->path);
      break;
    }
    name = vd__asprintf ("%s-%c%03u.vmdk", stem, sparse ? 's' : 'f', idx);
    if (!name) {
      r = VD_ENOMEM;
      break;
    }
    r = vd__io_posix_open (&io, l->dirfd, name, name,
                           VD_IO_RDWR | VD_IO_CREATE);
    if (r == VD_EEXIST || (r < 0 && vd_last_error ()->errnum == EEXIST))
      r = vd_error (VD_EEXIST, EEXIST, "%s/%s: file exists (a new extent "
                    "would replace it)", l->dir, name);
    if (r < 0) {
      free (name);
      break;
    }
    made[n_made++] = name;
    if (sparse)
      r = vd__sparse_create (io, s, NULL, 0, GRAIN_SECTORS);
    else {
      r = io->ops->truncate (io, s * VD_SECTOR);
      if (r == 0 && thick
          && posix_fallocate (io->fd, 0, (off_t) (s * VD_SECTOR)) != 0)
        r = vd_error (VD_ENOSPC, ENOSPC, "%s: allocate", name);
    }
    if (r == 0)
      r = vd__io_flush (io);
    vd__io_close (io);
    memset (&de, 0, sizeof de);
    de.access = VD_ACCESS_RW;
    de.sectors = s;
    snprintf (de.type, sizeof de.type, "%s", sparse ? "SPARSE" : "FLAT");
    de.file = name;
    de.has_offset = !sparse;
    if (r == 0)
      r = vd__desc_add_extent (nd, &de);
    add -= s;
  }
  if (r == 0 && (flags & VD_GROW_UPDATE_GEOMETRY))
    r = set_geometry (nd, new_cap, vd_disk_get_adapter (src));
  if (r == 0 && !(text = vd__desc_emit (nd, &len)))
    r = VD_ENOMEM;
  if (r == 0 && progress && progress (1, 1, payload))
    r = vd_error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
                  l->path);
  if (r == 0) {
    fsync (l->dirfd);
    if (fstat (l->desc_io->fd, &st) < 0)
      st.st_mode = 0644;
    r = write_file_atomic (l->dirfd, l->dir, base, text, len,
                           st.st_mode & 07777, 0);
  }
out:
  if (r < 0) {
    /* put the disk back as it was */
    for (size_t i = 0; i < n_made; i++)
      unlinkat (l->dirfd, made[i], 0);
    if (ext_io && new_fsize)
      if (ftruncate (ext_io->fd, (off_t) old_fsize) < 0)
        vd__error_clear ();
  }
  vd__io_close (ext_io);
  if (made)
    for (size_t i = 0; i < n_made; i++)
      free (made[i]);
  free (made);
  vd__desc_free (nd);
  free (text);
  free (stem);
  free (base);
  return r;
}

int
vd_disk_grow (const char *path, uint64_t new_capacity, uint32_t flags,
              vd_progress_cb progress, void *payload)
{
  vd_disk *src;
  struct guard *g;
  struct vd_link *l;
  int r;

  VD_ENTER ();
  if (!path)
    return vd_error (VD_EINVAL, 0, "grow: no disk given");
  if (new_capacity == 0 || new_capacity % VD_SECTOR)
    return vd_error (VD_EINVAL, 0, "%s: new capacity %llu is not a positive "
                     "multiple of 512 bytes", path,
                     (unsigned long long) new_capacity);
  r = open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  l = src->top;
  if (new_capacity < l->size)
    r = vd_error (VD_EINVAL, 0, "%s: new capacity %llu is smaller than the "
                  "current %llu; vdisk never cuts a disk (shrink gives back "
                  "unused space instead)", path,
                  (unsigned long long) new_capacity,
                  (unsigned long long) l->size);
  else if (src->n_links > 1)
    r = vd_error (VD_EPARENT, 0, "%s: is a child disk; its capacity must "
                  "match its parent's (grow the base disk of a chain "
                  "without children)", path);
  else if (!(flags & VD_OPEN_FORCE) && (r = refuse_children (l, "growing"))
           < 0)
    ;
  else if (new_capacity == l->size)
    r = 0;
  else if (l->type == VD_TYPE_MONOLITHIC_SPARSE && l->embedded)
    r = rebuild (src, REBUILD_GROW, new_capacity, flags, progress, payload);
  else if (l->type == VD_TYPE_STREAM_OPTIMIZED
           || l->type == VD_TYPE_VMFS_SPARSE || l->type == VD_TYPE_SE_SPARSE)
    r = vd_error (VD_ENOTSUP, 0, "%s: cannot grow a %s disk (convert it to "
                  "another layout first)", path, l->create_type);
  else
    r = grow_extents (src, new_capacity, flags, progress, payload);
  close_guarded (src, g);
  /* Change tracking follows the new capacity (the new area counts as
   * changed): a read-write open resizes it. */
  if (r == 0) {
    vd_disk *d = NULL;
    r = vd_disk_open (&d, path, (flags & VD_OPEN_TRUSTED) | VD_OPEN_FORCE);
    if (r == 0)
      r = vd_disk_close (d);
  }
  return r;
}

/* ---- space needed for a clone ----------------------------------------------- */

struct grains {
  uint64_t grain;      /* bytes */
  uint64_t count;
  uint64_t last;       /* index + 1 of the last grain counted, 0 none */
  uint64_t bytes;      /* DATA bytes */
};

static int
count_grains (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct grains *g = payload;
  if (st != VD_STATUS_DATA)
    return 0;
  uint64_t first = off / g->grain, end = VD_DIV_ROUND_UP (off + len, g->grain);
  if (g->last > first)
    first = g->last;
  if (end > first)
    g->count += end - first;
  if (end > g->last)
    g->last = end;
  g->bytes += len;
  return 0;
}

/* Metadata of a hosted sparse extent of sectors as create.c makes it. */
static uint64_t
sparse_overhead (uint64_t sectors, int embedded)
{
  uint64_t grains = VD_DIV_ROUND_UP (sectors, GRAIN_SECTORS);
  uint64_t gts = VD_DIV_ROUND_UP (grains, GT_ENTRIES);
  uint64_t gd = VD_DIV_ROUND_UP (gts * 4, VD_SECTOR);
  uint64_t meta = 1 + (embedded ? VD_EMBEDDED_DESC_SECTORS : 0)
                  + 2 * (gd + gts * (GT_ENTRIES * 4 / VD_SECTOR));
  return VD_ROUND_UP (meta, GRAIN_SECTORS) * VD_SECTOR;
}

#define DESC_BYTES 1024u   /* a separate descriptor file, about */

int
vd_disk_space_needed (vd_disk *src, enum vd_type type, uint64_t *bytes)
{
  struct grains g = { .grain = GRAIN_BYTES };
  uint64_t cap, sectors;
  int r;

  VD_ENTER ();
  if (!src || !bytes)
    return vd_error (VD_EINVAL, 0, "space needed: no disk or result");
  *bytes = 0;
  cap = VD_ROUND_UP (vd_disk_get_size (src), (uint64_t) VD_SECTOR);
  sectors = cap / VD_SECTOR;
  switch (type) {
  case VD_TYPE_RAW:
    *bytes = vd_disk_get_size (src);
    return 0;
  case VD_TYPE_MONOLITHIC_FLAT:
  case VD_TYPE_SPLIT_FLAT:
  case VD_TYPE_VMFS:
    *bytes = cap + DESC_BYTES;
    return 0;
  case VD_TYPE_MONOLITHIC_SPARSE:
  case VD_TYPE_SPLIT_SPARSE:
  case VD_TYPE_STREAM_OPTIMIZED:
  case VD_TYPE_VMFS_THIN:
    break;
  default:
    return vd_error (VD_ENOTSUP, 0, "space needed: vdisk cannot clone into "
                     "type %s", vd_type_name (type) ? vd_type_name (type)
                                                    : "(unknown)");
  }
  r = vd_disk_block_status (src, 0, vd_disk_get_size (src), count_grains,
                            &g);
  if (r < 0)
    return r;
  switch (type) {
  case VD_TYPE_MONOLITHIC_SPARSE:
    *bytes = sparse_overhead (sectors, 1) + g.count * GRAIN_BYTES;
    break;
  case VD_TYPE_SPLIT_SPARSE:
    *bytes = DESC_BYTES + g.count * GRAIN_BYTES;
    for (uint64_t s = 0; s < sectors; s += SPLIT_SECTORS)
      *bytes += sparse_overhead (VD_MIN (SPLIT_SECTORS, sectors - s), 0);
    break;
  case VD_TYPE_STREAM_OPTIMIZED:
    /* An upper bound: the grains as if they did not compress, each with
     * its marker sector, plus the tables and the footer. */
    *bytes = sparse_overhead (sectors, 1) + g.count * (GRAIN_BYTES + VD_SECTOR)
             + 3 * VD_SECTOR;
    break;
  default:  /* vmfsThin: a sparse flat file holding the data */
    *bytes = DESC_BYTES + g.count * GRAIN_BYTES;
  }
  return 0;
}
