/* The whole-disk write guard: the writer's lock (io/lock.c) on every
 * file of a link, held over an operation that replaces or moves the
 * files (manage/), so no other writer can interfere meanwhile. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

void
vd__guard_release (struct vd_guard *g)
{
  for (size_t i = 0; i < g->n; i++)
    vd__io_close (g->io[i]);
  g->n = 0;
}

/* Take the writer's lock on every file of link l: fails with VD_ELOCKED
 * when another handle or program writes to it.  The files are opened
 * read-only: the lock bytes work on any open file description. */
int
vd__guard_link (struct vd_guard *g, struct vd_link *l, int trusted)
{
  int r;
  g->n = 0;
  if (l->desc_io && !vd__io_is_file (l->desc_io))
    return vd__error (VD_ENOTSUP, 0, "%s: not a local file", l->path);
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
    vd__guard_release (g);
  return r;
}
