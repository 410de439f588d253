/* Changed block tracking: turn it on and off, read the state and the
 * change ID, answer "what changed since ID".  The tracking of writes is
 * ctk-link.c; the file format formats/ctk.c (docs/cbt.md). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "52 ab cd ef 01 23 45 67-89 ab cd ef 01 23 45 67/SEQ" (VMware's form). */
static void
format_change_id (const uint8_t epoch[16], uint64_t seq, char *buf,
                  size_t len)
{
  char *p = buf;
  for (int i = 0; i < 16; i++) {
    p += snprintf (p, 4, "%02x", epoch[i]);
    if (i == 7)
      *p++ = '-';
    else if (i != 15)
      *p++ = ' ';
  }
  snprintf (p, len - (size_t) (p - buf), "/%llu", (unsigned long long) seq);
}

static int
parse_change_id (const char *id, uint8_t epoch[16], uint64_t *seq)
{
  const char *p = id;
  for (int i = 0; i < 16; i++) {
    unsigned v;
    int n = 0;
    if (sscanf (p, "%2x%n", &v, &n) != 1 || n != 2)
      return -1;
    epoch[i] = (uint8_t) v;
    p += 2;
    if (i == 15)
      break;
    if (*p != (i == 7 ? '-' : ' ') && !(i == 7 && *p == ' '))
      return -1;
    p++;
  }
  if (*p++ != '/' || *p < '0' || *p > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long s = strtoull (p, &end, 10);
  if (errno || *end)
    return -1;
  *seq = s;
  return 0;
}

int
vd_disk_get_cbt (const vd_disk *d, struct vd_cbt_info *info)
{
  VD_ENTER ();
  if (!d || !info)
    return vd__error (VD_EINVAL, 0, "no disk or info");
  const struct vd_link *l = d->top;
  memset (info, 0, sizeof *info);
  info->state = (enum vd_cbt_state) l->cbt_state;
  info->file = l->desc ? vd__desc_get (l->desc, "changeTrackPath") : NULL;
  info->problem = l->cbt_problem;
  if (l->ctk) {
    struct vd__ctk_info ci;
    vd__ctk_info (l->ctk, &ci);
    format_change_id (ci.epoch, ci.seq, info->change_id,
                      sizeof info->change_id);
    info->block_size = ci.block_size;
    info->sequence = ci.seq;
    info->reset = ci.was_dirty && d->rw;
  }
  return 0;
}

struct star {
  vd_changed_area_cb cb;
  void *payload;
  int stopped;
};

static int
star_cb (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct star *s = payload;
  if (status == VD_STATUS_HOLE)
    return 0;
  if (s->cb (off, len, s->payload)) {
    s->stopped = 1;
    return 1;
  }
  return 0;
}

struct relay {
  vd_changed_area_cb cb;
  void *payload;
};

static int
relay_cb (uint64_t off, uint64_t len, void *payload)
{
  struct relay *r = payload;
  return r->cb (off, len, r->payload) ? 1 : 0;
}

int
vd_disk_query_changed_areas (vd_disk *d, const char *change_id,
                             uint64_t offset, uint64_t length,
                             vd_changed_area_cb cb, void *payload)
{
  uint8_t epoch[16];
  uint64_t seq;
  char q[80];

  VD_ENTER ();
  if (!d || !change_id || !cb)
    return vd__error (VD_EINVAL, 0, "no disk, change ID or callback");
  if (offset > d->top->size)
    return vd__error (VD_EINVAL, 0, "%s: offset %llu is past the end (%llu)",
                     d->top->path, (unsigned long long) offset,
                     (unsigned long long) d->top->size);
  length = VD_MIN (length, d->top->size - offset);
  if (strcmp (change_id, "*") == 0) {
    struct star s = { cb, payload, 0 };
    return vd_disk_block_status (d, offset, length, star_cb, &s);
  }
  if (parse_change_id (change_id, epoch, &seq) < 0)
    return vd__error (VD_EINVAL, 0, "'%s' is not a change ID (expected "
                     "\"xx xx xx xx xx xx xx xx-xx xx xx xx xx xx xx xx/N\" "
                     "or \"*\")",
                     vd__quote (q, sizeof q, change_id, strlen (change_id)));
  struct vd_link *l = d->top;
  if (l->cbt_state == VD_CBT_BROKEN)
    return vd__error (VD_ECORRUPT, 0, "%s: %s", l->path,
                     l->cbt_problem ? l->cbt_problem : "tracking is broken");
  if (!l->ctk)
    return vd__error (VD_ENOENT, 0, "%s: changed block tracking is not on "
                     "for this disk (vdisk cbt enable)", l->path);
  struct vd__ctk_info ci;
  vd__ctk_info (l->ctk, &ci);
  if (ci.was_dirty && !d->rw)
    return vd__error (VD_EPARENT, 0, "%s: a write was interrupted since the "
                     "last change set: every change ID of this epoch is "
                     "invalid once the disk is opened for writing; take a "
                     "full copy", l->path);
  if (memcmp (epoch, ci.epoch, 16) != 0) {
    char now[VD_CHANGE_ID_MAX];
    format_change_id (ci.epoch, ci.seq, now, sizeof now);
    return vd__error (VD_EPARENT, 0, "%s: change ID %s belongs to another "
                     "tracking epoch (tracking was reset; now %s): take a "
                     "full copy", l->path, change_id, now);
  }
  if (seq > ci.seq)
    return vd__error (VD_EINVAL, 0, "%s: change ID %s is in the future (the "
                     "disk is at sequence %llu)", l->path, change_id,
                     (unsigned long long) ci.seq);
  struct relay r = { cb, payload };
  return vd__ctk_changed (l->ctk, seq, offset, length, relay_cb, &r);
}

/* ---- enable / disable ------------------------------------------------- */

int
vd_disk_cbt_enable (const char *path, uint32_t flags)
{
  vd_disk *d = NULL;
  int r;

  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "no disk path given");
  r = vd_disk_open (&d, path, flags & (VD_OPEN_TRUSTED | VD_OPEN_FORCE));
  if (r < 0)
    return r;
  r = vd__link_cbt_enable (d->top, flags);
  int r2 = vd_disk_close (d);
  return r < 0 ? r : r2;
}

int
vd_disk_cbt_disable (const char *path, uint32_t flags)
{
  vd_disk *d = NULL;
  int r;

  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "no disk path given");
  r = vd_disk_open (&d, path, flags & (VD_OPEN_TRUSTED | VD_OPEN_FORCE));
  if (r < 0)
    return r;
  struct vd_link *l = d->top;
  const char *cur = l->desc ? vd__desc_get (l->desc, "changeTrackPath") : NULL;
  if (!cur)
    goto out;
  char *name = strdup (cur);
  if (!name) {
    r = vd__error (VD_ENOMEM, errno, "change tracking");
    goto out;
  }
  int ours = l->cbt_state == VD_CBT_ON;
  /* The descriptor first: a crash leaves an unreferenced file. */
  pthread_mutex_lock (&l->mu);
  r = vd__desc_set_change_track (l->desc, NULL);
  const char *v = vd__desc_get (l->desc, "version");
  if (r == 0 && v && strcmp (v, "3") == 0)
    r = vd__desc_set (l->desc, "version", "1", 0);
  if (r == 0)
    r = vd__link_write_descriptor (l);
  pthread_mutex_unlock (&l->mu);
  if (r == 0) {
    vd__ctk_close (l->ctk);
    l->ctk = NULL;
    l->cbt_state = VD_CBT_OFF;
    if (vd__name_ok (name, 0)) {
      if (ours)
        unlinkat (l->dirfd, name, 0);
      else {
        char *stale = vd__asprintf ("%s.stale", name);
        if (stale)
          renameat (l->dirfd, name, l->dirfd, stale);
        free (stale);
      }
      fsync (l->dirfd);
    }
  }
  free (name);
out:
  {
    int r2 = vd_disk_close (d);
    if (r == 0)
      r = r2;
  }
  return r;
}

/* ---- keeping tracking on a copy (convert/clone --keep-cbt) ------------ */

#define COPY_PIECE (1u << 20)

/* src's tracking file into a new file dname in dst's folder, synced. */
static int
copy_ctk (struct vd_link *s, struct vd_link *t, const char *sname,
          const char *dname)
{
  struct vd_io *in = NULL, *out = NULL;
  char *sdisp = vd__path_join (s->dir, sname);
  char *ddisp = vd__path_join (t->dir, dname);
  uint8_t *buf = malloc (COPY_PIECE);
  uint64_t size = 0;
  int r = sdisp && ddisp && buf ? 0 : vd__error (VD_ENOMEM, errno, "tracking copy");
  if (r == 0)
    r = vd__io_posix_open (&in, s->dirfd, sname, sdisp, 0);
  if (r == 0)
    r = in->ops->size (in, &size);
  int created = 0;
  if (r == 0)
    r = vd__io_posix_open (&out, t->dirfd, dname, ddisp,
                           VD_IO_RDWR | VD_IO_CREATE);
  created = r == 0;
  for (uint64_t off = 0; r == 0 && off < size;) {
    size_t n = (size_t) VD_MIN ((uint64_t) COPY_PIECE, size - off);
    r = vd__io_pread (in, buf, n, off);
    if (r == 0)
      r = vd__io_pwrite (out, buf, n, off);
    off += n;
  }
  if (r == 0)
    r = vd__io_flush (out);
  /* and it must read as vdisk's tracking of this capacity */
  if (r == 0) {
    struct vd_ctk *c = NULL;
    int k = vd__ctk_open (&c, out, t->size, 0);
    if (k == 0) {
      out = NULL;            /* the ctk owns it */
      vd__ctk_close (c);
    }
    else
      r = k < 0 ? k : vd__error (VD_ECORRUPT, 0, "%s: not vdisk's tracking "
                                "file", sdisp);
  }
  vd__io_close (in);
  vd__io_close (out);
  if (r < 0 && created)
    unlinkat (t->dirfd, dname, 0);
  free (sdisp);
  free (ddisp);
  free (buf);
  return r;
}

int
vd_disk_cbt_copy (vd_disk *src, const char *dst, uint32_t flags)
{
  vd_disk *d = NULL;
  int r;

  VD_ENTER ();
  if (!src || !dst)
    return vd__error (VD_EINVAL, 0, "no source disk or copy path");
  struct vd_link *s = src->top;
  const char *sname = s->desc ? vd__desc_get (s->desc, "changeTrackPath") : NULL;
  if (s->cbt_state != VD_CBT_ON || !sname)
    return vd__error (VD_ENOENT, 0, "%s: no tracking of vdisk's to keep (%s)",
                     s->path, s->cbt_state == VD_CBT_FOREIGN
                     ? "another program's tracking file is never copied"
                     : "changed block tracking is not on");
  if (s->ctk) {
    struct vd__ctk_info ci;
    vd__ctk_info (s->ctk, &ci);
    if (ci.pending)
      return vd__error (VD_EINVAL, 0, "%s: tracked writes not yet committed: "
                       "flush the disk first", s->path);
  }
  r = vd_disk_open (&d, dst, flags & VD_OPEN_TRUSTED);
  if (r < 0)
    return r;
  struct vd_link *t = d->top;
  char *name = NULL;
  if (t->raw || !t->desc || t->cbt_state != VD_CBT_OFF)
    r = vd__error (VD_EINVAL, 0, "%s: %s", t->path, t->raw || !t->desc
                  ? "a raw image has no descriptor to track changes in"
                  : "already names a tracking file");
  else if (strcasecmp (t->create_type ? t->create_type : "",
                       "streamOptimized") == 0)
    r = vd__error (VD_ENOTSUP, 0, "%s: a streamOptimized disk is written "
                  "once; it does not carry tracking", t->path);
  else if (t->size != s->size)
    r = vd__error (VD_EINVAL, 0, "%s: capacity %llu differs from %s's "
                  "(%llu): tracking does not carry over", t->path,
                  (unsigned long long) t->size, s->path,
                  (unsigned long long) s->size);
  else if (!(name = vd__ctk_name_for (t->path)))
    r = VD_ENOMEM;
  else if (faccessat (t->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    r = vd__error (VD_EEXIST, 0, "%s/%s already exists: move it away",
                  t->dir, name);
  /* The file first, then the descriptor that names it (as enable). */
  if (r == 0)
    r = copy_ctk (s, t, sname, name);
  if (r == 0) {
    fsync (t->dirfd);
    pthread_mutex_lock (&t->mu);
    r = vd__desc_set_change_track (t->desc, name);
    if (r == 0)
      r = vd__desc_set (t->desc, "version", "3", 0);
    if (r == 0)
      r = vd__link_write_descriptor (t);
    pthread_mutex_unlock (&t->mu);
    if (r < 0)
      unlinkat (t->dirfd, name, 0);
  }
  free (name);
  int r2 = vd_disk_close (d);
  return r < 0 ? r : r2;
}
