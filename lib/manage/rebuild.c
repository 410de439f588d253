/* Shrink, defragment and the growth of a monolithicSparse disk: a
 * complete new copy of every extent in a hidden work folder beside the
 * disk, made durable, then renamed over the old ones.  Each renamed
 * extent holds exactly the content of the one it replaces, under the same
 * descriptor, so a crash between two renames of a split disk still
 * leaves a disk that reads as before. */
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

/* ---- rebuilding sparse extents in a work folder --------------------------- */

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
  struct vd_run_iter it;
  struct vd_run run;
  uint8_t *buf = NULL, *below = NULL;
  int r = 0, k;

  if (posix_memalign ((void **) &buf, 4096, CHUNK) != 0
      || !(below = malloc (GRAIN_BYTES))) {
    free (buf);
    return vd__error (VD_ENOMEM, errno, "%s: copy buffer", l->path);
  }
  vd__run_iter_init (&it, NULL, l, 0, size, WINDOW,
                     VD_RUNS_DATA | VD_RUNS_ZERO);
  while (r == 0 && (k = vd__run_iter_next (&it, &run)) != 0) {
    if (k < 0) {
      r = k;
      break;
    }
    if (k == VD_RUN_WINDOW) {
      if (progress && progress (it.window_end, size, payload))
        r = vd__error (VD_ECANCELED, 0, "%s: canceled; the disk is "
                      "unchanged", l->path);
      continue;
    }
    uint64_t end = run.off + run.len;
    if (run.status == VD_STATUS_ZERO && !has_parent)
      continue;
    for (uint64_t off = run.off; off < end && r == 0;) {
      /* chunks on CHUNK boundaries, so blocks are on grain boundaries */
      uint64_t n = VD_MIN (end, (off / CHUNK + 1) * CHUNK) - off;
      if (run.status == VD_STATUS_DATA)
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
        r = vd__error (VD_ECANCELED, 0, "%s: canceled; the disk is "
                      "unchanged", l->path);
    }
  }
  vd__run_iter_free (&it);
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
    r = vd__error (vd__errno_code (errno), errno, "%s: fsync", name);
  if (fd >= 0)
    close (fd);
  return r;
}


/* Only hosted sparse extents with plain names are rebuilt. */
static int
rebuildable (const struct vd_link *l)
{
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (e->drv != &vd__sparse_driver)
      return vd__error (VD_ENOTSUP, 0, "%s: only hosted sparse disks "
                       "(monolithicSparse, twoGbMaxExtentSparse) can be "
                       "shrunk or defragmented; extent %s is %s", l->path,
                       e->path ? e->path : "(zero)", e->drv->name);
    if (e->io != l->desc_io && !vd__name_ok (e->name, 0))
      return vd__error (VD_ENOTSUP, 0, "%s: extent \"%s\" is not a plain "
                       "name in the disk's folder", l->path, e->name);
  }
  if (l->embedded && l->n_extents != 1)
    return vd__error (VD_ENOTSUP, 0, "%s: an embedded descriptor with %zu "
                     "extents", l->path, l->n_extents);
  return 0;
}

/* The descriptor the rebuilt disk ends with (*fin and its text: the old
 * one, with the new size for grow) and the one the work copy opens with
 * (*tmp_text: the parent named by absolute path). */
static int
rebuild_texts (vd_disk *src, enum rebuild_mode mode, uint64_t new_cap,
               uint32_t flags, struct vd_descriptor **fin, char **fin_text,
               size_t *fin_len, char **tmp_text, size_t *tmp_len)
{
  struct vd_link *l = src->top;
  struct vd_descriptor *tmpd = NULL;
  int r;

  r = vd__desc_copy (fin, l->desc, l->path);
  if (r == 0 && mode == REBUILD_GROW) {
    struct vd_desc_line *ln = vd__desc_extent_line (*fin, 0);
    ln->ext.sectors = new_cap / VD_SECTOR;
    ln->modified = 1;
    if (flags & VD_GROW_UPDATE_GEOMETRY)
      r = vd__set_geometry (*fin, new_cap, vd_disk_get_adapter (src));
  }
  if (r == 0 && !(*fin_text = vd__desc_emit (*fin, fin_len)))
    r = VD_ENOMEM;
  if (r == 0)
    r = vd__desc_copy (&tmpd, *fin, l->path);
  if (r == 0 && l->parent) {
    char pp[PATH_MAX];
    if (!realpath (l->parent->path, pp))
      r = vd__error_why (VD_REASON_PARENT_MISSING,
                         vd__error (VD_EPARENT, errno, "%s: cannot resolve "
                                   "its parent %s", l->path,
                                   l->parent->path));
    else
      r = vd__desc_set (tmpd, "parentFileNameHint", pp, 1);
  }
  if (r == 0 && !(*tmp_text = vd__desc_emit (tmpd, tmp_len)))
    r = VD_ENOMEM;
  vd__desc_free (tmpd);
  return r;
}

/* In tmpdir: empty sparse extents of the same sizes (the new size for
 * grow) and the descriptor tmp_text (embedded, or its own file base). */
static int
empty_copy (struct vd_link *l, enum rebuild_mode mode, uint64_t new_cap,
            const char *tmpdir, const char *base, const char *tmp_text,
            size_t tmp_len)
{
  int r = 0;

  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    struct vd_extent *e = &l->extents[i];
    int emb = e->io == l->desc_io;
    const char *name = emb ? base : e->name;
    uint64_t sectors = mode == REBUILD_GROW ? new_cap / VD_SECTOR
                                            : e->size / VD_SECTOR;
    struct vd_io *io = NULL;
    char *p = vd__path_join (tmpdir, name);
    if (!p)
      return VD_ENOMEM;
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
  return r;
}

/* Shrink, defragment, or grow a monolithicSparse disk: every sparse
 * extent of the top link is written anew, compact and in virtual order,
 * in a work folder, then renamed over the old one. */
int
vd__rebuild (vd_disk *src, enum rebuild_mode mode, uint64_t new_cap,
                 uint32_t flags, vd_progress_cb progress, void *payload)
{
  struct vd_link *l = src->top;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  struct vd_descriptor *fin = NULL, *old_desc = NULL;
  char *fin_text = NULL, *tmp_text = NULL, *tmpdir = NULL, *base = NULL;
  char *tmp_desc = NULL;
  size_t fin_len = 0, tmp_len = 0;
  vd_disk *dst = NULL;
  int tfd = -1, r;

  r = rebuildable (l);
  if (r < 0)
    return r;
  base = vd__basename (l->path);
  if (!base)
    return VD_ENOMEM;

  r = rebuild_texts (src, mode, new_cap, flags, &fin, &fin_text, &fin_len,
                     &tmp_text, &tmp_len);
  if (r < 0)
    goto out;

  r = vd__workdir_make (l->dir, "work", base, &tmpdir, &tfd);
  if (r < 0)
    goto out;
  r = empty_copy (l, mode, new_cap, tmpdir, base, tmp_text, tmp_len);
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
    r = vd__error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
                  l->path);
  if (r < 0)
    goto out;
  /* Point of no return: each rename swaps one extent for a copy of the
   * same content. */
  for (size_t i = 0; i < l->n_extents && r == 0; i++) {
    const char *name = l->extents[i].io == l->desc_io ? base
                                                      : l->extents[i].name;
    if (renameat (tfd, name, l->dirfd, name) < 0)
      r = vd__error (vd__errno_code (errno), errno, "%s/%s: cannot move the "
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
  free (fin_text);
  free (tmp_text);
  free (tmpdir);
  free (tmp_desc);
  free (base);
  return r;
}

int
vd_disk_shrink (const char *path, uint32_t flags, vd_progress_cb progress,
                void *payload)
{
  vd_disk *src;
  struct vd_guard *g;
  int r;
  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "shrink: no disk given");
  r = vd__open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  r = vd__rebuild (src, REBUILD_SHRINK, 0, flags, progress, payload);
  vd__close_guarded (src, g);
  return r;
}

int
vd_disk_defragment (const char *path, uint32_t flags,
                    vd_progress_cb progress, void *payload)
{
  vd_disk *src;
  struct vd_guard *g;
  int r;
  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "defragment: no disk given");
  r = vd__open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  r = vd__rebuild (src, REBUILD_DEFRAG, 0, flags, progress, payload);
  vd__close_guarded (src, g);
  return r;
}
