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

/* A grow of a flat or split disk under way: what it made, to undo. */
struct grow {
  struct vd_link *l;
  struct vd_descriptor *nd;   /* the new descriptor */
  char **made;                /* new extent files */
  size_t n_made;
  char *stem;
  uint64_t add;               /* sectors still to add */
  struct vd_io *ext_io;       /* the last flat extent, grown */
  uint64_t old_fsize, new_fsize;
  int sparse, split, thick;
};

/* The last flat extent grows: all of it for monolithic layouts, up to
 * 2047 MiB for split ones. */
static int
grow_last_flat (struct grow *g)
{
  struct vd_link *l = g->l;
  struct vd_extent *last = &l->extents[l->n_extents - 1];
  uint64_t cur = last->size / VD_SECTOR, alloc;
  uint64_t grow = g->split ? (cur < SPLIT_SECTORS
                              ? VD_MIN (g->add, SPLIT_SECTORS - cur) : 0)
                           : g->add;
  int r;

  if (!grow)
    return 0;
  r = last->io->ops->size (last->io, &g->old_fsize);
  if (r < 0)
    return r;
  if (g->old_fsize != last->file_offset + last->size)
    return vd__error (VD_ENOTSUP, 0, "%s: file is %llu bytes, not the %llu "
                     "its extent ends at; refusing to grow it", last->path,
                     (unsigned long long) g->old_fsize,
                     (unsigned long long) (last->file_offset + last->size));
  if (vd__io_allocated_bytes (last->io, &alloc) == 0
      && alloc >= g->old_fsize && g->old_fsize > 0)
    g->thick = 1;      /* preallocated: keep it so */
  if (l->type == VD_TYPE_VMFS)
    g->thick = 1;
  r = vd__io_posix_open (&g->ext_io, AT_FDCWD, last->path, last->path,
                         VD_IO_RDWR);
  g->new_fsize = g->old_fsize + grow * VD_SECTOR;
  if (r == 0)
    r = g->ext_io->ops->truncate (g->ext_io, g->new_fsize);
  if (r == 0 && g->thick
      && vd__io_allocate (g->ext_io, g->old_fsize,
                          g->new_fsize - g->old_fsize) != 0)
    r = vd__error (VD_ENOSPC, ENOSPC, "%s: allocate %llu more bytes",
                  last->path,
                  (unsigned long long) (g->new_fsize - g->old_fsize));
  if (r == 0)
    r = vd__io_flush (g->ext_io);
  if (r < 0)
    return r;
  struct vd_desc_line *ln = vd__desc_extent_line (g->nd, l->n_extents - 1);
  ln->ext.sectors += grow;
  ln->modified = 1;
  g->add -= grow;
  return 0;
}

/* New extents of at most 2047 MiB for what is still to add. */
static int
add_extents (struct grow *g)
{
  struct vd_link *l = g->l;
  int r = 0;

  for (unsigned idx = (unsigned) l->n_extents + 1; g->add > 0 && r == 0;
       idx++) {
    uint64_t s = VD_MIN (g->add, SPLIT_SECTORS);
    struct vd_desc_extent de;
    struct vd_io *io = NULL;
    char *name;
    if (l->n_extents + g->n_made >= VD_MAX_EXTENTS || idx > 9999)
      return vd__error (VD_EINVAL, 0, "%s: too many extents", l->path);
    name = vd__asprintf ("%s-%c%03u.vmdk", g->stem, g->sparse ? 's' : 'f',
                         idx);
    if (!name)
      return VD_ENOMEM;
    r = vd__io_posix_open (&io, l->dirfd, name, name,
                           VD_IO_RDWR | VD_IO_CREATE);
    if (r == VD_EEXIST || (r < 0 && vd_last_error ()->errnum == EEXIST))
      r = vd__error (VD_EEXIST, EEXIST, "%s/%s: file exists (a new extent "
                    "would replace it)", l->dir, name);
    if (r < 0) {
      free (name);
      return r;
    }
    g->made[g->n_made++] = name;
    if (g->sparse)
      r = vd__sparse_create (io, s, NULL, 0, GRAIN_SECTORS);
    else {
      r = io->ops->truncate (io, s * VD_SECTOR);
      if (r == 0 && g->thick && vd__io_allocate (io, 0, s * VD_SECTOR) != 0)
        r = vd__error (VD_ENOSPC, ENOSPC, "%s: allocate", name);
    }
    if (r == 0)
      r = vd__io_flush (io);
    vd__io_close (io);
    memset (&de, 0, sizeof de);
    de.access = VD_ACCESS_RW;
    de.sectors = s;
    snprintf (de.type, sizeof de.type, "%s", g->sparse ? "SPARSE" : "FLAT");
    de.file = name;
    de.has_offset = !g->sparse;
    if (r == 0)
      r = vd__desc_add_extent (g->nd, &de);
    g->add -= s;
  }
  return r;
}

/* Grow a flat or split disk: longer last flat extent, new extent files,
 * then the descriptor replaced atomically. */
static int
grow_extents (vd_disk *src, uint64_t new_cap, uint32_t flags,
              vd_progress_cb progress, void *payload)
{
  struct vd_link *l = src->top;
  struct vd_extent *last = &l->extents[l->n_extents - 1];
  struct grow g = {
    .l = l, .add = (new_cap - l->size) / VD_SECTOR,
    .sparse = last->drv == &vd__sparse_driver,
    .split = l->type == VD_TYPE_SPLIT_SPARSE || l->type == VD_TYPE_SPLIT_FLAT,
  };
  char *base = NULL, *text = NULL;
  size_t len;
  int r;

  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (e->drv != &vd__flat_driver && e->drv != &vd__sparse_driver)
      return vd__error (VD_ENOTSUP, 0, "%s: cannot grow a disk with %s "
                       "extents", l->path, e->drv->name);
    if (e->type == VD_EXTENT_ZERO || !vd__name_ok (e->name, 0))
      return vd__error (VD_ENOTSUP, 0, "%s: cannot grow this layout (zero "
                       "extents or extent files outside the folder)",
                       l->path);
  }
  if (g.sparse && !g.split)
    return vd__error (VD_ENOTSUP, 0, "%s: cannot grow a custom sparse "
                     "layout", l->path);
  base = vd__basename (l->path);
  g.stem = base ? vd__stem_of (base) : NULL;
  g.made = calloc (VD_MAX_EXTENTS, sizeof *g.made);
  if (!g.stem || !g.made) {
    r = vd__error (VD_ENOMEM, errno, "grow");
    goto out;
  }
  r = vd__desc_copy (&g.nd, l->desc, l->path);
  if (r == 0 && !g.sparse)
    r = grow_last_flat (&g);
  if (r < 0)
    goto out;
  if (g.add && !g.split) {
    r = vd__error (VD_ENOTSUP, 0, "%s: internal: nothing to grow", l->path);
    goto out;
  }
  r = add_extents (&g);
  if (r == 0 && (flags & VD_GROW_UPDATE_GEOMETRY))
    r = vd__set_geometry (g.nd, new_cap, vd_disk_get_adapter (src));
  if (r == 0 && !(text = vd__desc_emit (g.nd, &len)))
    r = VD_ENOMEM;
  if (r == 0 && progress && progress (1, 1, payload))
    r = vd__error (VD_ECANCELED, 0, "%s: canceled; the disk is unchanged",
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
    for (size_t i = 0; i < g.n_made; i++)
      unlinkat (l->dirfd, g.made[i], 0);
    if (g.ext_io && g.new_fsize)
      if (g.ext_io->ops->truncate (g.ext_io, g.old_fsize) < 0)
        vd__error_clear ();
  }
  vd__io_close (g.ext_io);
  if (g.made)
    for (size_t i = 0; i < g.n_made; i++)
      free (g.made[i]);
  free (g.made);
  vd__desc_free (g.nd);
  free (text);
  free (g.stem);
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
    return vd__error (VD_EINVAL, 0, "grow: no disk given");
  if (new_capacity == 0 || new_capacity % VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "%s: new capacity %llu is not a positive "
                     "multiple of 512 bytes", path,
                     (unsigned long long) new_capacity);
  r = vd__open_guarded (&src, &g, path, flags);
  if (r < 0)
    return r;
  l = src->top;
  if (new_capacity < l->size)
    r = vd__error (VD_EINVAL, 0, "%s: new capacity %llu is smaller than the "
                  "current %llu; vdisk never cuts a disk (shrink gives back "
                  "unused space instead)", path,
                  (unsigned long long) new_capacity,
                  (unsigned long long) l->size);
  else if (src->n_links > 1)
    r = vd__error (VD_EPARENT, 0, "%s: is a child disk; its capacity must "
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
    r = vd__error (VD_ENOTSUP, 0, "%s: cannot grow a %s disk (convert it to "
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
