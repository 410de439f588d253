/* The NBD client's reads: straight into the caller's buffer, and the
 * read-ahead window of a sequential reader (see io-nbd.h). */

#include <stdlib.h>
#include <string.h>

#ifdef VD_HAVE_LIBNBD
#include "io-nbd.h"

#define PAR_QUIET 64

/* ---- read-ahead ---- */

static struct slot *
slot_at (struct nbd_io *nio, uint64_t pos)
{
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    if (s->state != SLOT_FREE && !s->orphan && pos >= s->off
        && pos < s->off + s->len)
      return s;
  }
  return NULL;
}

/* Forget the read-ahead buffers that [off, off + len) makes useless:
 * those it overlaps (a write), or all but the ones it reads (a jump). */
void
vd__nbd_ra_drop (struct nbd_io *nio, uint64_t off, uint64_t len,
                 int overlapping)
{
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    int ov = s->off < off + len && off < s->off + s->len;
    if (s->state == SLOT_FREE || s->orphan || ov != overlapping)
      continue;
    if (s->state == SLOT_BUSY || s->pins)
      s->orphan = 1;
    else
      vd__nbd_slot_release (s);
  }
}

/* Queue reads of the window of `window` bytes after end (under mu). */
static void
ra_fill (struct nbd_io *nio, uint64_t end, uint64_t window)
{
  uint64_t pos = end, limit = end + window;
  unsigned free_slots = 0;

  /* buffers wholly before end are used up */
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    if (s->state != SLOT_FREE && !s->orphan && !s->pins
        && s->off + s->len <= end) {
      if (s->state == SLOT_BUSY)
        s->orphan = 1;
      else
        vd__nbd_slot_release (s);
    }
    if (s->state == SLOT_FREE)
      free_slots++;
  }
  while (free_slots && pos < nio->size && pos < limit) {
    uint64_t next_data, dend = vd__nbd_cached_data_end (nio, pos, &next_data);
    struct slot *s = slot_at (nio, pos), *f = NULL;
    if (dend == pos) {          /* a hole: skip it */
      if (next_data <= pos)
        break;
      limit += next_data - pos;
      pos = next_data;
      continue;
    }
    if (s) {
      pos = s->off + s->len;
      continue;
    }
    for (unsigned i = 0; i < nio->ra_slots && !f; i++)
      if (nio->slots[i].state == SLOT_FREE)
        f = &nio->slots[i];
    if (!f || (!f->buf && !(f->buf = calloc (1, nio->chunk))))
      break;
    /* chunks from the first read-ahead position on, cut at the data end
     * and at buffers already there */
    uint64_t n = VD_MIN ((uint64_t) nio->chunk, VD_MIN (dend, nio->size) - pos);
    for (unsigned i = 0; i < nio->ra_slots; i++) {
      struct slot *o = &nio->slots[i];
      if (o->state != SLOT_FREE && !o->orphan && o->off > pos
          && o->off < pos + n)
        n = o->off - pos;
    }
    f->off = pos;
    f->len = (uint32_t) n;
    f->state = SLOT_BUSY;
    f->orphan = 0;
    vd__nbd_submit (nio, OP_READ, f->buf, n, pos, NULL, f, NULL);
    free_slots--;
    pos += n;
  }
}

/* Read [pos, stop) straight into p (which holds off..), CHUNK at a time. */
static void
read_direct (struct nbd_io *nio, uint8_t *p, uint64_t off, uint64_t pos,
             uint64_t stop, struct nbd_call *call)
{
  while (pos < stop) {
    uint64_t n = VD_MIN ((uint64_t) nio->chunk, stop - pos);
    vd__nbd_submit (nio, OP_READ, p + (pos - off), n, pos, call, NULL, NULL);
    pos += n;
  }
}

/* Take the read-ahead buffer s's part of [off, end) into p, or read it
 * again if it failed or was overwritten; then let go of s. */
static void
ra_take (struct nbd_io *nio, struct slot *s, uint8_t *p, uint64_t off,
         uint64_t end, struct nbd_call *call)
{
  while (s->state == SLOT_BUSY)
    vd__nbd_wait (nio);
  uint64_t a = VD_MAX (s->off, off), b = VD_MIN (s->off + s->len, end);
  if (s->state == SLOT_DONE && !s->orphan) {
    /* outside the lock: the answers of the other requests land
     * meanwhile (s is pinned: nobody frees or refills it) */
    vd__nbd_issue (nio);
    pthread_mutex_unlock (&nio->mu);
    memcpy (p + (a - off), s->buf + (a - s->off), (size_t) (b - a));
    pthread_mutex_lock (&nio->mu);
    nio->n_ra_hit++;
  }
  else
    read_direct (nio, p, off, a, b, call);
  s->pins--;
  if (!s->pins && (s->orphan || s->state == SLOT_FAILED
                   || s->off + s->len <= end))
    vd__nbd_slot_release (s);           /* used up */
}

/* Reads: what the read-ahead holds is copied (or waited for), the rest is
 * read straight into buf.  A sequential reader gets the window after its
 * read queued; one that reads as much as the window at once gets a
 * quarter of it (its own reads keep the wire busy, and what it reads
 * straight into its buffer needs no copy). */
int
vd__nbdio_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  struct nbd_call call = { 0, 0, 0, NULL };
  uint8_t *p = buf;
  uint64_t pos = off, end = off + count;
  uint64_t window = (uint64_t) nio->ra_slots * nio->chunk;
  struct slot *wait_for[RA_SLOTS];
  unsigned nw = 0;
  int r = 0;

  if (count == 0)
    return 0;
  if (off > nio->size || count > nio->size - off)
    return vd__error (VD_EIO, 0, "%s: read of %zu bytes at offset %llu is "
                     "past the end of the export (%llu bytes)", io->name,
                     count, (unsigned long long) off,
                     (unsigned long long) nio->size);
  pthread_mutex_lock (&nio->mu);
  vd__nbd_wb_wait (nio, off, count);    /* read what was written */
  if ((r = vd__nbd_wfail_hit (nio, off, count)) < 0) {
    vd__nbd_unlock (nio);
    return r;
  }
  /* a sequential reader gets read-ahead; one that reads in several
   * threads at once keeps the wire busy itself, and read-ahead would
   * fetch what its other threads are reading straight into their
   * buffers: none while reads overlap, nor for the next PAR_QUIET reads
   * (its pipeline drains now and then: one read alone is no sign) */
  if (++nio->reading > 1)
    nio->par_quiet = PAR_QUIET;
  else if (nio->par_quiet)
    nio->par_quiet--;
  int alone = nio->reading == 1 && !nio->par_quiet;
  int seq = nio->ra_slots && alone && (off == nio->last_end
                              || (off > nio->last_end
                                  && vd__nbd_cached_zero (nio, nio->last_end,
                                                          off)));
  if (nio->ra_slots && !seq && alone)
    vd__nbd_ra_drop (nio, off, count, 0);       /* a jump */
  while (pos < end) {
    struct slot *s = slot_at (nio, pos);
    if (s) {
      if (nw < RA_SLOTS) {
        s->pins++;
        wait_for[nw++] = s;
      }
      pos = VD_MIN (end, s->off + s->len);
      continue;
    }
    uint64_t stop = end;
    for (unsigned i = 0; i < nio->ra_slots; i++) {
      struct slot *o = &nio->slots[i];
      if (o->state != SLOT_FREE && !o->orphan && o->off > pos
          && o->off < stop)
        stop = o->off;
    }
    read_direct (nio, p, off, pos, stop, &call);
    pos = stop;
  }
  if (seq && !nio->writing)
    ra_fill (nio, end, count >= window
                       ? VD_MAX ((uint64_t) nio->chunk, window / 4) : window);
  nio->last_end = end;
  for (unsigned i = 0; i < nw; i++)
    ra_take (nio, wait_for[i], p, off, end, &call);
  vd__nbd_wait_call (nio, &call);
  nio->reading--;
  if (call.errnum)
    r = vd__nbd_req_fail (nio, "read", &call);
  vd__nbd_unlock (nio);
  return r;
}

#endif /* VD_HAVE_LIBNBD */
