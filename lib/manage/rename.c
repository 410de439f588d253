/* vd_disk_rename: every file hard-linked under its new name, the new
 * descriptor written, and only then the old names removed, so a crash
 * leaves the old disk, the new disk, or both, complete. */
#include "internal.h"
#include "manage/manage.h"

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
    vd__error_why (VD_REASON_PARENT_MISSING, vd__error (VD_EPARENT, errno, "%s: cannot resolve its parent %s",
              l->path, joined));
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
    return vd__error (VD_EEXIST, e, "%s/%s: file exists; rename never "
                     "replaces a file", ddir, m->to);
  if (e == EXDEV)
    return vd__error (VD_EINVAL, e, "%s/%s: the new name is on another file "
                     "system than %s/%s; rename works within one file "
                     "system (use convert to copy)", ddir, m->to, sdir,
                     m->from);
  return vd__error (vd__errno_code (e), e, "%s/%s: cannot create as the new "
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
  struct vd_descfile w;
  int r = vd__io_posix_open (&io, AT_FDCWD, path, path, VD_IO_RDWR);
  if (r == 0)
    r = vd__descfile_locate (io, &w);
  if (r == 0 && w.kind != VD_DESCFILE_EMBEDDED
      && w.kind != VD_DESCFILE_SPARSE)   /* (no area: ENOSPC below) */
    r = vd__corrupt (path, "not a hosted sparse extent (bad "
                     "magic)");
  if (r == 0)
    r = vd__descfile_write_embedded (io, w.offset, w.size, text, len, path);
  if (r == 0)
    r = vd__io_flush (io);
  vd__io_close (io);
  return r;
}

/* What a rename does: the moves of the files and the new descriptor. */
struct rename_plan {
  struct vd_link *l;
  struct vd_descriptor *nd;   /* the new descriptor */
  struct move *mv;
  size_t n_mv;
  char *old_base, *new_base, *old_stem, *new_stem, *new_dir;
  int dfd;                    /* new_dir */
};

/* The moves of the file extents (VMware's names for the new stem), their
 * lines in the new descriptor, the change-tracking file and a parent
 * hint that must change with the folder. */
static int
plan_moves (struct rename_plan *p)
{
  struct vd_link *l = p->l;
  struct move *mv;
  unsigned n_files = 0, idx = 0;
  struct stat st;
  int r = 0;

  /* one move per file extent, then the change-tracking file */
  mv = p->mv = calloc (l->n_extents + 2, sizeof *mv);
  if (!mv)
    return vd__error (VD_ENOMEM, errno, "rename");
  for (size_t i = 0; i < l->n_extents; i++)
    if (l->extents[i].io && l->extents[i].io != l->desc_io)
      n_files++;
  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    struct vd_extent *e = &l->extents[i];
    struct vd_desc_line *ln = vd__desc_extent_line (p->nd, i);
    if (!ln)
      return vd__corrupt (l->path, "extent lines changed");
    if (e->type == VD_EXTENT_ZERO)
      continue;
    if (e->io == l->desc_io) {
      /* the embedded descriptor's own extent line names the file */
      r = vd__set_extent_file (ln, p->new_base);
      continue;
    }
    if (!vd__name_ok (e->name, 0))
      return vd__error (VD_ENOTSUP, 0, "%s: extent \"%s\" is not a plain "
                       "name in the disk's folder; rename such disks by "
                       "hand", l->path, e->name);
    mv[p->n_mv].from = vd__strdup (e->name);
    mv[p->n_mv].to = vmware_extent_name (l, e, idx++, n_files, p->old_stem,
                                         p->new_stem);
    if (!mv[p->n_mv].from || !mv[p->n_mv].to) {
      p->n_mv++;
      return VD_ENOMEM;
    }
    r = vd__set_extent_file (ln, mv[p->n_mv].to);
    p->n_mv++;
  }
  if (r < 0)
    return r;

  const char *ctk = vd__desc_get (l->desc, "changeTrackPath");
  if (ctk && vd__name_ok (ctk, 0)
      && fstatat (l->dirfd, ctk, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    struct move *m = &mv[p->n_mv++];
    m->from = vd__strdup (ctk);
    m->to = vd__asprintf ("%s-ctk.vmdk", p->new_stem);
    if (!m->from || !m->to)
      return VD_ENOMEM;
    r = vd__desc_set (p->nd, "changeTrackPath", m->to, 1);
    if (r < 0)
      return r;
  }

  const char *hint = vd__desc_get (l->desc, "parentFileNameHint");
  if (hint && !vd__same_path (l->dir, p->new_dir)) {
    char *nh = moved_hint (l, hint, p->new_dir);
    if (!nh)
      return VD_EPARENT;
    r = vd__desc_set (p->nd, "parentFileNameHint", nh, 1);
    free (nh);
  }
  return r;
}

/* Carry the plan out: every file under its new name, the new descriptor
 * (text), then the old names removed; on a failure before the new
 * descriptor is complete, everything undone (old_text back in a shared
 * embedded file). */
static int
apply_moves (struct rename_plan *p, const char *text, size_t len,
             const char *old_text, size_t old_len)
{
  struct vd_link *l = p->l;
  struct move *mv = p->mv;
  int desc_done = 0, embedded_rewritten = 0, r = 0;

  /* 1. every file under its new name as well */
  for (size_t i = 0; i < p->n_mv && r == 0; i++)
    r = move_file (&mv[i], l->dirfd, l->dir, p->dfd, p->new_dir);
  if (r < 0)
    goto rollback;
  /* 2. the new descriptor, last: the new disk exists from here */
  if (l->embedded) {
    struct move dm = { p->old_base, p->new_base, 0 };
    r = move_file (&dm, l->dirfd, l->dir, p->dfd, p->new_dir);
    if (r < 0)
      goto rollback;
    desc_done = dm.how;
    char *np = vd__path_join (p->new_dir, p->new_base);
    r = np ? write_embedded (np, text, len) : VD_ENOMEM;
    free (np);
    embedded_rewritten = 1;
    if (r < 0)
      goto rollback;
  }
  else {
    struct vd_io_stat ist;
    if (vd__io_stat (l->desc_io, &ist) != 0)
      ist.mode = 0644;
    r = vd__write_file_atomic (p->dfd, p->new_dir, p->new_base, text, len,
                               ist.mode & 07777, 1);
    if (r < 0)
      goto rollback;
    desc_done = 3;
  }
  fsync (p->dfd);
  /* 3. the old names go: descriptor first, so no half disk stays */
  if (desc_done != 2 && unlinkat (l->dirfd, p->old_base, 0) < 0)
    r = vd__error (VD_EIO, errno, "%s: renamed, but the old descriptor could "
                  "not be removed", l->path);
  for (size_t i = 0; i < p->n_mv; i++)
    if (mv[i].how == 1 && unlinkat (l->dirfd, mv[i].from, 0) < 0 && r == 0)
      r = vd__error (VD_EIO, errno, "%s/%s: renamed, but the old name could "
                    "not be removed", l->dir, mv[i].from);
  fsync (l->dirfd);
  return r;

rollback:
  if (embedded_rewritten) {
    char *np = vd__path_join (p->new_dir, p->new_base);
    /* the old text back (old and new names share the file) */
    if (np)
      write_embedded (np, old_text, old_len);
    free (np);
  }
  if (desc_done == 1 || desc_done == 3)
    unlinkat (p->dfd, p->new_base, 0);
  else if (desc_done == 2)
    renameat (p->dfd, p->new_base, l->dirfd, p->old_base);
  for (size_t i = p->n_mv; i-- > 0;)
    unmove_file (&mv[i], l->dirfd, p->dfd);
  fsync (p->dfd);
  return r;
}

int
vd_disk_rename (const char *old_path, const char *new_path, uint32_t flags)
{
  vd_disk *src = NULL;
  struct vd_guard *g = NULL;
  struct rename_plan p = { .dfd = -1 };
  char *old_text = NULL, *text = NULL;
  size_t old_len = 0, len = 0;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  struct vd_link *l;
  struct stat st;
  int r;

  VD_ENTER ();
  if (!old_path || !new_path || !*old_path || !*new_path)
    return vd__error (VD_EINVAL, 0, "rename: need the old and the new name");
  r = vd_disk_open (&src, old_path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK
                                      | (flags & VD_OPEN_TRUSTED));
  if (r < 0)
    return r;
  l = p.l = src->top;
  if (l->raw) {
    r = vd__error (VD_EINVAL, 0, "%s: a raw image is a single file: rename "
                  "it with mv", old_path);
    goto out;
  }
  g = calloc (1, sizeof *g);
  if (!g) {
    r = vd__error (VD_ENOMEM, errno, "rename");
    goto out;
  }
  r = vd__guard_link (g, l, trusted);
  if (r < 0)
    goto out;
  if (!(flags & VD_OPEN_FORCE) && (r = vd__refuse_children (l, "renaming")) < 0)
    goto out;
  /* a copied descriptor names the original's files: moving them would
   * take them from under the other disk (no force for that) */
  if ((r = vd__refuse_shared (l, 1, "renaming it", NULL)) < 0
      || (r = vd__refuse_alias (l, old_path)) < 0)
    goto out;
  p.old_base = vd__basename (l->path);
  p.new_base = vd__basename (new_path);
  p.new_dir = vd__dirname (new_path);
  if (!p.old_base || !p.new_base || !p.new_dir) {
    r = VD_ENOMEM;
    goto out;
  }
  if (!vd__name_ok (p.new_base, 0) || !vd__desc_value_ok (p.new_base)) {
    r = vd__error (VD_EINVAL, 0, "%s: invalid disk file name", new_path);
    goto out;
  }
  p.old_stem = vd__stem_of (p.old_base);
  p.new_stem = vd__stem_of (p.new_base);
  if (!p.old_stem || !p.new_stem) {
    r = VD_ENOMEM;
    goto out;
  }
  if (lstat (new_path, &st) == 0) {
    r = vd__error (VD_EEXIST, 0, "%s: file exists; rename never replaces a "
                  "file", new_path);
    goto out;
  }
  p.dfd = open (p.new_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (p.dfd < 0) {
    r = vd__error (vd__errno_code (errno), errno, "%s: open folder",
                  p.new_dir);
    goto out;
  }
  r = vd__desc_copy (&p.nd, l->desc, l->path);
  if (r == 0)
    r = plan_moves (&p);
  if (r < 0)
    goto out;
  text = vd__desc_emit (p.nd, &len);
  old_text = vd__desc_emit (l->desc, &old_len);
  if (!text || !old_text) {
    r = VD_ENOMEM;
    goto out;
  }
  r = apply_moves (&p, text, len, old_text, old_len);
out:
  if (p.mv)
    for (size_t i = 0; i < p.n_mv; i++) {
      free (p.mv[i].from);
      free (p.mv[i].to);
    }
  free (p.mv);
  if (g)
    vd__guard_release (g);
  free (g);
  vd__desc_free (p.nd);
  if (p.dfd >= 0)
    close (p.dfd);
  free (text);
  free (old_text);
  free (p.old_base);
  free (p.new_base);
  free (p.old_stem);
  free (p.new_stem);
  free (p.new_dir);
  vd_disk_close (src);
  return r;
}
