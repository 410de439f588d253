/* A link's descriptor on disk: the one rewrite (in place when it fits,
 * embedded text NUL-padded, otherwise a new file renamed over the old)
 * and the one CID writer (the renewal before the first write of an open,
 * and commit's chosen CID). */
#include "internal.h"

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
    r = vd__descfile_write_embedded (l->desc_io, l->desc_offset,
                                     l->desc_capacity, text, len, l->path);
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
      r = vd__error (VD_EIO, errno, "%s: rename descriptor into place",
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

/* The one CID writer (l->mu held): CID=cid in the descriptor, with
 * new_long_id also a fresh ddb.longContentID whose last 8 digits are the
 * CID (open-vmdk's rule, when the disk has such a key), the descriptor
 * rewritten, and the change counted as this open's renewal. */
static int
write_cid_locked (struct vd_link *l, uint32_t cid, int new_long_id)
{
  char buf[16];
  int r;
  snprintf (buf, sizeof buf, "%08x", cid);
  r = vd__desc_set (l->desc, "CID", buf, 0);
  const char *lc = vd__desc_get_ddb (l->desc, "ddb.longContentID");
  if (r == 0 && new_long_id && lc && strlen (lc) == 32) {
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
  return r;
}

int
vd__link_before_write (struct vd_link *l)
{
  int r = 0;
  pthread_mutex_lock (&l->mu);
  if (!l->cid_renewed && !l->raw)
    r = write_cid_locked (l, vd__random_cid (), 1);
  pthread_mutex_unlock (&l->mu);
  return r;
}

int
vd__link_set_cid (struct vd_link *l, uint32_t cid)
{
  int r;
  pthread_mutex_lock (&l->mu);
  r = write_cid_locked (l, cid, 0);
  pthread_mutex_unlock (&l->mu);
  return r;
}
