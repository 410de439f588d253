/* Change tracking of an open disk's top link: find its tracking file at
 * open, mark every write before it happens, end the change set at flush
 * and close.  The file format is formats/ctk.c; enabling, disabling and
 * queries are cbt.c. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
vd__ctk_name_for (const char *descriptor_path)
{
  char *base = vd__basename (descriptor_path);
  char *name;
  size_t n;
  if (!base)
    return NULL;
  n = strlen (base);
  if (n > 5 && strcasecmp (base + n - 5, ".vmdk") == 0)
    base[n - 5] = '\0';
  name = vd__asprintf ("%s-ctk.vmdk", base);
  free (base);
  return name;
}

static void
set_problem (struct vd_link *l, int state, const char *fmt, const char *a,
             const char *b)
{
  free (l->cbt_problem);
  l->cbt_problem = vd__asprintf (fmt, a, b ? b : "");
  l->cbt_state = state;
}

int
vd__link_cbt_attach (struct vd_link *l, int rw, uint32_t flags)
{
  const char *name = l->desc ? vd__desc_get (l->desc, "changeTrackPath") : NULL;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0;
  struct vd_io *io = NULL;
  char *display;
  int r;

  l->cbt_state = VD_CBT_OFF;
  if (!name)
    return 0;
  if (!vd__name_ok (name, trusted)) {
    char q[80];
    set_problem (l, VD_CBT_BROKEN, "changeTrackPath \"%s\" is not a plain "
                 "file name in the disk's folder%s",
                 vd__quote (q, sizeof q, name, strlen (name)), NULL);
    return 0;
  }
  display = vd__path_join (l->dir, name);
  if (!display)
    return VD_ENOMEM;
  r = vd__io_posix_open (&io, l->dirfd, name, display,
                         (rw ? VD_IO_RDWR : 0) | (trusted ? VD_IO_FOLLOW : 0));
  if (r < 0) {
    set_problem (l, VD_CBT_BROKEN, "tracking file %s: %s", display,
                 vd_last_error ()->message);
    vd__error_clear ();
    free (display);
    return 0;
  }
  r = vd__ctk_open (&l->ctk, io, l->size, rw);
  if (r == VD_CTK_FOREIGN) {
    vd__io_close (io);
    set_problem (l, VD_CBT_FOREIGN, "%s is another program's tracking "
                 "file%s", display, NULL);
    free (display);
    return 0;
  }
  if (r < 0) {
    vd__io_close (io);
    set_problem (l, VD_CBT_BROKEN, "tracking file %s: %s", display,
                 vd_last_error ()->message);
    vd__error_clear ();
    free (display);
    return 0;
  }
  free (display);
  l->cbt_state = VD_CBT_ON;
  return 0;
}

/* Remove the changeTrackPath section, roll version 3 back to 1, rename the
 * named file aside (NAME.stale).  l->mu held. */
static int
drop_tracking (struct vd_link *l, const char *why)
{
  const char *name = vd__desc_get (l->desc, "changeTrackPath");
  char *copy = name ? strdup (name) : NULL;
  char *stale = copy ? vd__asprintf ("%s.stale", copy) : NULL;
  int r;

  if (name && !stale) {
    free (copy);
    return vd__error (VD_ENOMEM, errno, "change tracking");
  }
  r = vd__desc_set_change_track (l->desc, NULL);
  if (r == 0) {
    const char *v = vd__desc_get (l->desc, "version");
    if (v && strcmp (v, "3") == 0)
      r = vd__desc_set (l->desc, "version", "1", 0);
  }
  /* The descriptor first: a crash then leaves an unreferenced file, never
   * a reference to a file that no longer tells the truth. */
  if (r == 0)
    r = vd__link_write_descriptor (l);
  if (r == 0 && copy && vd__name_ok (copy, 0)
      && renameat (l->dirfd, copy, l->dirfd, stale) == 0)
    fsync (l->dirfd);
  if (r == 0) {
    char *msg = vd__asprintf ("%s: change tracking dropped (%s); the "
                              "descriptor is version 1 now%s%s%s", l->path,
                              why, copy ? ", the old file is " : "",
                              copy ? stale : "", "");
    free (l->cbt_problem);
    l->cbt_problem = msg;
    l->cbt_state = VD_CBT_DROPPED;
  }
  free (stale);
  free (copy);
  return r;
}

/* BROKEN with a usable name, before a write: start tracking again in a
 * fresh file (a new epoch; every old change ID is refused).  l->mu held. */
static int
recreate_tracking (struct vd_link *l)
{
  const char *name = vd__desc_get (l->desc, "changeTrackPath");
  struct vd_io *io = NULL;
  char *display = vd__path_join (l->dir, name);
  int r;
  if (!display)
    return VD_ENOMEM;
  unlinkat (l->dirfd, name, 0);
  r = vd__io_posix_open (&io, l->dirfd, name, display,
                         VD_IO_RDWR | VD_IO_CREATE);
  free (display);
  if (r == 0)
    r = vd__ctk_create (&l->ctk, io, l->size);
  if (r < 0) {
    vd__io_close (io);
    return r;
  }
  fsync (l->dirfd);
  free (l->cbt_problem);
  l->cbt_problem = NULL;
  l->cbt_state = VD_CBT_ON;
  return 0;
}

int
vd__link_cbt_mark (struct vd_link *l, uint64_t off, uint64_t len)
{
  int r = 0;
  if (l->cbt_state == VD_CBT_FOREIGN || l->cbt_state == VD_CBT_BROKEN) {
    pthread_mutex_lock (&l->mu);
    if (l->cbt_state == VD_CBT_FOREIGN
        && !(l->disk->flags & VD_OPEN_FORCE))
      r = drop_tracking (l, "another program's tracking file would no "
                         "longer describe the disk");
    else if (l->cbt_state == VD_CBT_BROKEN) {
      const char *name = vd__desc_get (l->desc, "changeTrackPath");
      if (name && vd__name_ok (name, 0))
        r = recreate_tracking (l);
      else
        r = drop_tracking (l, l->cbt_problem ? l->cbt_problem
                           : "the tracking file is unusable");
    }
    pthread_mutex_unlock (&l->mu);
    if (r < 0)
      return r;
  }
  return l->ctk ? vd__ctk_mark (l->ctk, off, len) : 0;
}

/* Start tracking on an open read-write link (cbt.c, and chain.c for the
 * child of a tracked disk). */
int
vd__link_cbt_enable (struct vd_link *l, uint32_t flags)
{
  const char *path = l->path;
  struct vd_io *io = NULL;
  struct vd_ctk *c = NULL;
  char *name = NULL, *display = NULL;
  int r = 0;

  if (l->raw || !l->desc) {
    r = vd__error (VD_ENOTSUP, 0, "%s: a raw image has no descriptor to "
                  "track changes in", path);
    goto out;
  }
  if (l->cbt_state == VD_CBT_ON)
    goto out;
  if (l->cbt_state == VD_CBT_FOREIGN && !(flags & VD_OPEN_FORCE)) {
    r = vd__error (VD_EEXIST, 0, "%s: %s; vdisk never rewrites it: disable "
                  "tracking first, or force", path, l->cbt_problem);
    goto out;
  }
  if (strcasecmp (l->create_type ? l->create_type : "", "streamOptimized") == 0) {
    r = vd__error (VD_ENOTSUP, 0, "%s: a streamOptimized disk is written "
                  "once; track changes on a copy in another layout", path);
    goto out;
  }
  name = vd__ctk_name_for (l->path);
  display = name ? vd__path_join (l->dir, name) : NULL;
  if (!display) {
    r = VD_ENOMEM;
    goto out;
  }
  /* The name may hold an old file: ours when a crash came between the
   * file and the descriptor (replace it), another program's (only with
   * force, kept aside), anything else (refuse). */
  if (faccessat (l->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
    const char *cur = vd__desc_get (l->desc, "changeTrackPath");
    int ours = 0;
    struct vd_io *old = NULL;
    if (vd__io_posix_open (&old, l->dirfd, name, display, 0) == 0) {
      uint8_t b[8];
      ours = vd__io_pread (old, b, sizeof b, 0) == 0
             && vd__ctk_probe (b, sizeof b);
      vd__io_close (old);
    }
    vd__error_clear ();
    if (!ours && !(flags & VD_OPEN_FORCE)
        && !(cur && strcmp (cur, name) == 0)) {
      r = vd__error (VD_EEXIST, 0, "%s already exists and is not vdisk's "
                    "tracking file: move it away, or force", display);
      goto out;
    }
    if (!ours) {
      char *stale = vd__asprintf ("%s.stale", name);
      if (!stale || renameat (l->dirfd, name, l->dirfd, stale) < 0) {
        r = vd__error (VD_EIO, errno, "%s: move aside", display);
        free (stale);
        goto out;
      }
      free (stale);
    }
    else if (unlinkat (l->dirfd, name, 0) < 0) {
      r = vd__error (VD_EIO, errno, "%s: remove", display);
      goto out;
    }
  }
  /* The file first, then the descriptor that names it. */
  r = vd__io_posix_open (&io, l->dirfd, name, display,
                         VD_IO_RDWR | VD_IO_CREATE);
  if (r == 0)
    r = vd__ctk_create (&c, io, l->size);
  if (r < 0) {
    vd__io_close (io);
    unlinkat (l->dirfd, name, 0);
    goto out;
  }
  fsync (l->dirfd);
  pthread_mutex_lock (&l->mu);
  r = vd__desc_set_change_track (l->desc, name);
  if (r == 0)
    r = vd__desc_set (l->desc, "version", "3", 0);
  if (r == 0)
    r = vd__link_write_descriptor (l);
  pthread_mutex_unlock (&l->mu);
  if (r < 0) {
    vd__ctk_close (c);
    unlinkat (l->dirfd, name, 0);
    goto out;
  }
  vd__ctk_close (l->ctk);
  l->ctk = c;
  l->cbt_state = VD_CBT_ON;
out:
  free (name);
  free (display);
  return r;
}

int
vd__link_cbt_commit (struct vd_link *l)
{
  return l->ctk ? vd__ctk_commit (l->ctk) : 0;
}

void
vd__link_cbt_close (struct vd_link *l)
{
  vd__ctk_close (l->ctk);
  l->ctk = NULL;
  free (l->cbt_problem);
  l->cbt_problem = NULL;
}
