/* Parallel read-ahead of a datastore file (https-internal.h): a reader
 * going through a file in order is served from chunks that
 * VD_HTTPS_AH_CONNS connections fetch ahead of it, each connection one
 * ranged GET of one chunk at a time (lowest offset first), so several
 * transfers run at once.  At most VD_HTTPS_AH_SLOTS chunks are held:
 * memory is bounded whatever the file's size.
 *
 * A failed GET fails only the read that needs its chunk, with that GET's
 * message (a dropped connection, a server that stopped honouring Range);
 * no byte of a failed chunk is ever given out.  A read that jumps out of
 * the window restarts it there; chunks no longer wanted are canceled. */
#include "io/https-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/curl-dl.h"

#define CHUNK VD_HTTPS_AH_CHUNK
#define NSLOTS VD_HTTPS_AH_SLOTS

static struct vd_https_slot *
lowest_wanted (struct vd_https_ahead *a)
{
  struct vd_https_slot *best = NULL;
  for (int i = 0; i < NSLOTS; i++)
    if (a->slot[i].state == AH_WANT && (!best || a->slot[i].off < best->off))
      best = &a->slot[i];
  return best;
}

static void *
worker_main (void *arg)
{
  struct vd_https_worker *w = arg;
  struct https_io *f = w->f;
  struct vd_https_ahead *a = &f->ah;
  struct vd_https_slot *s;

  pthread_mutex_lock (&a->mu);
  for (;;) {
    while (!a->stop && !(s = lowest_wanted (a)))
      pthread_cond_wait (&a->cv, &a->mu);
    if (a->stop)
      break;
    s->state = AH_BUSY;
    atomic_store (&s->cancel, 0);
    uint64_t off = s->off;
    size_t len = s->len;
    pthread_mutex_unlock (&a->mu);

    vd__error_reset ("vsphere read-ahead");
    int r = vd__https_get (f, w->h, off, len, s->data, 0, &s->cancel);
    const struct vd_error *e = vd_last_error ();

    pthread_mutex_lock (&a->mu);
    if (s->discard) {
      s->discard = 0;
      s->state = AH_FREE;
    }
    else if (r < 0) {
      s->state = AH_FAILED;
      s->code = e->code ? e->code : r;
      s->errnum = e->errnum;
      /* the message as recorded (its ": strerror" included): the
       * reader records a copy, code and errnum carried beside it */
      snprintf (s->msg, sizeof s->msg, "%s", e->message && e->message[0]
                ? e->message : "read-ahead failed");
    }
    else
      s->state = AH_DONE;
    pthread_cond_broadcast (&a->cv);
  }
  pthread_mutex_unlock (&a->mu);
  return NULL;
}

/* Let a slot go (a BUSY one is canceled and freed by its worker). */
static void
release (struct vd_https_slot *s)
{
  if (s->state == AH_BUSY) {
    s->discard = 1;
    atomic_store (&s->cancel, 1);
  }
  else
    s->state = AH_FREE;
}

/* Ask for chunks from a->next into every free slot. */
static int
refill (struct https_io *f)
{
  struct vd_https_ahead *a = &f->ah;
  for (int i = 0; i < NSLOTS && a->next < f->size; i++) {
    struct vd_https_slot *s = &a->slot[i];
    if (s->state != AH_FREE || s->discard)
      continue;
    if (!s->data && !(s->data = malloc (CHUNK)))
      return vd__error (VD_ENOMEM, errno, "%s: read-ahead", f->io.name);
    s->off = a->next;
    s->len = (size_t) VD_MIN ((uint64_t) CHUNK, f->size - a->next);
    s->state = AH_WANT;
    a->next += s->len;
  }
  pthread_cond_broadcast (&a->cv);
  return 0;
}

static void
restart_at (struct https_io *f, uint64_t off)
{
  struct vd_https_ahead *a = &f->ah;
  for (int i = 0; i < NSLOTS; i++)
    if (a->slot[i].state != AH_FREE)
      release (&a->slot[i]);
  a->next = off;
}

/* The slot holding off, after letting go of those wholly before it. */
static struct vd_https_slot *
slot_for (struct vd_https_ahead *a, uint64_t off)
{
  struct vd_https_slot *hit = NULL;
  for (int i = 0; i < NSLOTS; i++) {
    struct vd_https_slot *s = &a->slot[i];
    if (s->state == AH_FREE || s->discard)
      continue;
    if (s->off + s->len <= off)
      release (s);
    else if (s->off <= off)
      hit = s;
  }
  return hit;
}

static int
window_holds (struct https_io *f, uint64_t off)
{
  struct vd_https_ahead *a = &f->ah;
  uint64_t lo = a->next;
  for (int i = 0; i < NSLOTS; i++)
    if (a->slot[i].state != AH_FREE && !a->slot[i].discard)
      lo = VD_MIN (lo, a->slot[i].off);
  return off >= lo && off < a->next + VD_HTTPS_AH_SKIP;
}

int
vd__https_ahead_read (struct https_io *f, uint8_t *p, size_t count,
                      uint64_t off)
{
  struct vd_https_ahead *a = &f->ah;
  int r = 1;

  if (!a->running)
    return 0;
  pthread_mutex_lock (&a->mu);
  if (!window_holds (f, off)) {
    pthread_mutex_unlock (&a->mu);
    return 0;
  }
  while (count > 0) {
    struct vd_https_slot *s = slot_for (a, off);
    if (!s) {                        /* past the window, or a gap */
      restart_at (f, off);
      if ((r = refill (f)) < 0)
        break;
      if (!slot_for (a, off))        /* every slot still being canceled */
        pthread_cond_wait (&a->cv, &a->mu);
      continue;
    }
    if ((r = refill (f)) < 0)
      break;
    while (s->state == AH_WANT || s->state == AH_BUSY)
      pthread_cond_wait (&a->cv, &a->mu);
    if (s->state == AH_FAILED) {
      r = vd__error_copy (s->code, s->errnum, s->msg);
      release (s);                   /* a later read asks again */
      break;
    }
    size_t in = (size_t) (off - s->off);
    size_t k = VD_MIN (count, s->len - in);
    memcpy (p, s->data + in, k);
    p += k;
    off += k;
    count -= k;
    r = 1;
  }
  pthread_mutex_unlock (&a->mu);
  return r;
}

int
vd__https_ahead_start (struct https_io *f, uint64_t off)
{
  struct vd_https_ahead *a = &f->ah;
  int r = 0;

  pthread_mutex_lock (&a->mu);
  while (a->nw < VD_HTTPS_AH_CONNS) {
    struct vd_https_worker *w = &a->w[a->nw];
    w->f = f;
    if (!(w->h = f->sops->curl (f->sctx))) {
      r = VD_ENOMEM;
      break;
    }
    curl_easy_setopt (w->h, CURLOPT_TIMEOUT, 0L);
    if (pthread_create (&w->th, NULL, worker_main, w) != 0) {
      curl_easy_cleanup (w->h);
      w->h = NULL;
      r = vd__error (VD_ENOMEM, errno, "%s: read-ahead thread", f->io.name);
      break;
    }
    a->nw++;
  }
  if (a->nw > 0) {                   /* fewer connections still work */
    vd__error_clear ();
    r = 0;
    a->running = 1;
    restart_at (f, off);
    r = refill (f);
    if (r < 0) {                     /* left stopped: reads go direct */
      a->running = 0;
      restart_at (f, off);
    }
  }
  pthread_mutex_unlock (&a->mu);
  return r;
}

void
vd__https_ahead_init (struct https_io *f)
{
  pthread_mutex_init (&f->ah.mu, NULL);
  pthread_cond_init (&f->ah.cv, NULL);
  for (int i = 0; i < NSLOTS; i++)
    atomic_init (&f->ah.slot[i].cancel, 0);
}

void
vd__https_ahead_free (struct https_io *f)
{
  struct vd_https_ahead *a = &f->ah;
  pthread_mutex_lock (&a->mu);
  a->stop = 1;
  for (int i = 0; i < NSLOTS; i++)
    atomic_store (&a->slot[i].cancel, 1);
  pthread_cond_broadcast (&a->cv);
  pthread_mutex_unlock (&a->mu);
  for (int i = 0; i < a->nw; i++) {
    pthread_join (a->w[i].th, NULL);
    curl_easy_cleanup (a->w[i].h);
  }
  a->nw = 0;
  for (int i = 0; i < NSLOTS; i++)
    free (a->slot[i].data);
  pthread_mutex_destroy (&a->mu);
  pthread_cond_destroy (&a->cv);
}

#endif /* VD_HAVE_VSPHERE */
