/* vd_disk_grow: a flat or split disk gets a longer last flat file and
 * new extent files, then its descriptor is replaced atomically (a flat
 * file longer than its extent is valid, so a crash leaves the old disk);
 * a monolithicSparse disk is rebuilt (rebuild.c). */
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

/* ---- grow ------------------------------------------------------------------- */

_Static_assert ((VD_GROW_UPDATE_GEOMETRY & 0xffffu) == 0,
                "VD_GROW_* must stay out of the VD_OPEN_* bits");

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
  stem = base ? vd__stem_of (base) : NULL;
  made = calloc (VD_MAX_EXTENTS, sizeof *made);
  if (!stem || !made) {
    r = vd_error (VD_ENOMEM, errno, "grow");
    goto out;
  }
  r = vd__desc_copy (&nd, l->desc, l->path);
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
      uint64_t alloc;
      if (vd__io_allocated_bytes (last->io, &alloc) == 0
          && alloc >= old_fsize && old_fsize > 0)
        thick = 1;      /* preallocated: keep it so */
      if (l->type == VD_TYPE_VMFS)
        thick = 1;
      r = vd__io_posix_open (&ext_io, AT_FDCWD, last->path, last->path,
                             VD_IO_RDWR);
      new_fsize = old_fsize + grow * VD_SECTOR;
      if (r == 0)
        r = ext_io->ops->truncate (ext_io, new_fsize);
      if (r == 0 && thick
          && vd__io_allocate (ext_io, old_fsize, new_fsize - old_fsize) != 0)
        r = vd_error (VD_ENOSPC, ENOSPC, "%s: allocate %llu more bytes",
                      last->path,
                      (unsigned long long) (new_fsize - old_fsize));
      if (r == 0)
        r = vd__io_flush (ext_io);
      if (r < 0)
        goto out;
      struct vd_desc_line *ln = vd__desc_extent_line (nd, l->n_extents - 1);
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
      if (r == 0 && thick && vd__io_allocate (io, 0, s * VD_SECTOR) != 0)
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
    r = vd__set_geometry (nd, new_cap, vd_disk_get_adapter (src));
  if (r == 0 && !(text = vd__desc_emit (nd, &len)))
    r = VD_ENOMEM;
  if (r == 0 && progress && progress (1, 1, payload))
    r = vd_error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
                  l->path);
  if (r == 0) {
    fsync (l->dirfd);
    struct vd_io_stat ist;
    if (vd__io_stat (l->desc_io, &ist) != 0)
      ist.mode = 0644;
    r = vd__write_file_atomic (l->dirfd, l->dir, base, text, len,
                               ist.mode & 07777, 0);
  }
out:
  if (r < 0) {
    /* put the disk back as it was */
    for (size_t i = 0; i < n_made; i++)
      unlinkat (l->dirfd, made[i], 0);
    if (ext_io && new_fsize)
      if (ext_io->ops->truncate (ext_io, old_fsize) < 0)
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
  struct vd_guard *g;
  struct vd_link *l;
  int r;

  VD_ENTER ();
  if (!path)
    return vd_error (VD_EINVAL, 0, "grow: no disk given");
  if (new_capacity == 0 || new_capacity % VD_SECTOR)
    return vd_error (VD_EINVAL, 0, "%s: new capacity %llu is not a positive "
                     "multiple of 512 bytes", path,
                     (unsigned long long) new_capacity);
  r = vd__open_guarded (&src, &g, path, flags);
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
  else if (!(flags & VD_OPEN_FORCE) && (r = vd__refuse_children (l, "growing"))
           < 0)
    ;
  else if (new_capacity == l->size)
    r = 0;
  else if (l->type == VD_TYPE_MONOLITHIC_SPARSE && l->embedded)
    r = vd__rebuild (src, REBUILD_GROW, new_capacity, flags, progress, payload);
  else if (l->type == VD_TYPE_STREAM_OPTIMIZED
           || l->type == VD_TYPE_VMFS_SPARSE || l->type == VD_TYPE_SE_SPARSE)
    r = vd_error (VD_ENOTSUP, 0, "%s: cannot grow a %s disk (convert it to "
                  "another layout first)", path, l->create_type);
  else
    r = grow_extents (src, new_capacity, flags, progress, payload);
  vd__close_guarded (src, g);
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
