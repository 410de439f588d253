/* Converting a disk into a streamOptimized file (vd__stream_convert):
 * the allocated grains of the source, found through its block status, are
 * read and compressed by worker threads and written in order through the
 * encoder of formats/stream-write.c (layout A, see there), so the output
 * is the same for any thread count. */
#include "internal.h"
#include "formats/stream-enc.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum sw_state { SW_FREE = 0, SW_BUSY, SW_DONE };

struct sw_job {
  enum sw_state state;
  uint64_t seq;
  uint64_t grain;
  int skip;                     /* all zeros */
  uint32_t clen;                /* compressed bytes at out + 12 */
  uint8_t *in;
  uint8_t *out;
};

struct sw_conv {
  vd_disk *src;
  uint64_t size;                /* bytes of source */
  uint64_t n_grains;
  pthread_mutex_t mu;
  pthread_cond_t cv_work;       /* workers wait for a free slot */
  pthread_cond_t cv_done;       /* the writer waits for its next job */
  struct sw_job *slots;
  unsigned n_slots;
  uint64_t next_seq;            /* next job to hand out */
  uint64_t write_seq;           /* next job the writer takes */
  /* Enumerator of allocated grains, one GT (32 MiB) map at a time. */
  uint64_t cursor;              /* next grain to consider */
  int64_t map_gt;               /* GT whose map is in alloc[] */
  uint8_t alloc[KDMV_N_GTES];
  struct vd_runs gt_runs;       /* the DATA runs of that GT */
  int enum_done;
  unsigned n_waiting;           /* workers blocked on cv_work */
  int stop;
  int err;                      /* first worker error */
  int err_errnum;
  char err_msg[512];
};

/* Record a worker's error (first wins).  Called with mu held. */
static void
sw_fail (struct sw_conv *c, int code)
{
  if (!c->err)
    {
      const struct vd_error *le = vd_last_error ();
      c->err = code;
      c->err_errnum = le->errnum;
      snprintf (c->err_msg, sizeof c->err_msg, "%s",
                le->message && le->message[0] ? le->message
                : vd_strerror (code));
    }
  c->stop = 1;
  pthread_cond_broadcast (&c->cv_work);
  pthread_cond_broadcast (&c->cv_done);
}

/* Next allocated grain, or -1 when there are none.  mu held. */
static int
sw_next_grain (struct sw_conv *c, uint64_t *g)
{
  while (c->cursor < c->n_grains)
    {
      uint64_t gt = c->cursor / KDMV_N_GTES;
      if ((int64_t) gt != c->map_gt)
        {
          uint64_t base = gt * KDMV_N_GTES * (uint64_t) SW_GRAIN_BYTES;
          uint64_t len = VD_MIN ((uint64_t) KDMV_N_GTES * SW_GRAIN_BYTES,
                                 c->size - base);
          int r;

          memset (c->alloc, 0, sizeof c->alloc);
          r = vd__runs_collect (c->src, NULL, base, len, VD_RUNS_DATA,
                                &c->gt_runs);
          if (r < 0)
            return r;
          for (size_t i = 0; i < c->gt_runs.n; i++)
            {
              const struct vd_run *run = &c->gt_runs.v[i];
              uint64_t a = (run->off - base) / SW_GRAIN_BYTES;
              uint64_t b = (run->off - base + run->len - 1) / SW_GRAIN_BYTES;
              for (; a <= b && a < KDMV_N_GTES; a++)
                c->alloc[a] = 1;
            }
          c->map_gt = (int64_t) gt;
        }
      if (c->alloc[c->cursor % KDMV_N_GTES])
        {
          *g = c->cursor++;
          return 1;
        }
      c->cursor++;
    }
  return 0;
}
static void *
sw_worker (void *arg)
{
  struct sw_conv *c = arg;
  struct libdeflate_compressor *ld = NULL;
  uint8_t *lvl_buf = malloc (ISAL_DEF_LVL2_DEFAULT);

  pthread_mutex_lock (&c->mu);
  if (!lvl_buf)
    {
      vd__error (VD_ENOMEM, errno, "compression buffer");
      sw_fail (c, VD_ENOMEM);
    }
  for (;;)
    {
      struct sw_job *j;
      uint64_t g = 0, off, len;
      int r;

      while (!c->stop && !c->enum_done
             && c->next_seq >= c->write_seq + c->n_slots)
        {
          c->n_waiting++;
          pthread_cond_wait (&c->cv_work, &c->mu);
          c->n_waiting--;
        }
      if (c->stop || c->enum_done)
        break;
      r = sw_next_grain (c, &g);
      if (r < 0)
        {
          sw_fail (c, r);
          break;
        }
      if (r == 0)
        {
          c->enum_done = 1;
          pthread_cond_broadcast (&c->cv_work);
          pthread_cond_broadcast (&c->cv_done);
          break;
        }
      j = &c->slots[c->next_seq % c->n_slots];
      j->seq = c->next_seq++;
      j->grain = g;
      j->state = SW_BUSY;
      pthread_mutex_unlock (&c->mu);

      off = g * (uint64_t) SW_GRAIN_BYTES;
      len = VD_MIN ((uint64_t) SW_GRAIN_BYTES, c->size - off);
      r = vd_disk_read (c->src, j->in, (size_t) len, off);
      if (r >= 0)
        {
          if (len < SW_GRAIN_BYTES)
            memset (j->in + len, 0, SW_GRAIN_BYTES - len);
          j->skip = vd__is_zero (j->in, SW_GRAIN_BYTES);
          if (!j->skip)
            r = vd__sw_compress (&ld, lvl_buf, j->in, j->out + 12,
                             SW_OUT_CAP - 12, &j->clen);
        }

      pthread_mutex_lock (&c->mu);
      if (r < 0)
        {
          sw_fail (c, r);
          break;
        }
      j->state = SW_DONE;
      if (j->seq == c->write_seq)     /* the one the writer waits for */
        pthread_cond_signal (&c->cv_done);
    }
  pthread_mutex_unlock (&c->mu);
  free (lvl_buf);
  libdeflate_free_compressor (ld);
  return NULL;
}

/* The writer's side: the output, the grain directory and the grain table
 * being filled. */
struct sw_wr {
  struct vd__sw_out o;
  uint32_t *gd;
  uint32_t *table;
  uint64_t sectors;
  uint64_t n_gts;
  uint64_t cur_gt;
  uint64_t last_progress;
  int used;
  vd_progress_cb progress;
  void *payload;
};

/* The worker count: the parameter, or one per online CPU, capped. */
static unsigned
sw_thread_count (const struct vd_create_params *params)
{
  unsigned n_threads = params->threads;
  if (n_threads == 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      n_threads = n > 0 ? (unsigned) n : 1;
    }
  return VD_MIN (n_threads, SW_MAX_THREADS);
}

/* The output buffer, directory, table, job slots and thread ids. */
static int
sw_alloc (struct sw_conv *c, struct sw_wr *w, unsigned n_threads,
          pthread_t **tids)
{
  const char *oname = w->o.io->name;

  w->o.buf = malloc (SW_WBUF);
  w->gd = calloc (w->n_gts ? w->n_gts : 1, 4);
  w->table = calloc (KDMV_N_GTES, 4);
  c->slots = calloc (c->n_slots, sizeof *c->slots);
  *tids = calloc (n_threads, sizeof **tids);
  if (!w->o.buf || !w->gd || !w->table || !c->slots || !*tids)
    return vd__error (VD_ENOMEM, errno, "%s: buffers", oname);
  for (unsigned i = 0; i < c->n_slots; i++)
    {
      c->slots[i].in = malloc (SW_GRAIN_BYTES);
      c->slots[i].out = malloc (SW_OUT_CAP);
      if (!c->slots[i].in || !c->slots[i].out)
        return vd__error (VD_ENOMEM, errno, "%s: buffers", oname);
    }
  return 0;
}

/* The lock, the conditions and the workers (at least one). */
static int
sw_start (struct sw_conv *c, const char *oname, pthread_t *tids,
          unsigned n_threads, unsigned *n_started, int *mu_ok)
{
  if (pthread_mutex_init (&c->mu, NULL) != 0
      || pthread_cond_init (&c->cv_work, NULL) != 0
      || pthread_cond_init (&c->cv_done, NULL) != 0)
    return vd__error (VD_ENOMEM, 0, "%s: thread setup", oname);
  *mu_ok = 1;
  for (unsigned i = 0; i < n_threads; i++)
    {
      int e = pthread_create (&tids[i], NULL, sw_worker, c);
      if (e != 0)
        {
          if (i == 0)
            return vd__error (VD_ENOMEM, e, "%s: cannot start a thread",
                              oname);
          break;
        }
      (*n_started)++;
    }
  return 0;
}

/* Wake the workers (telling them to stop if stop is set) and wait for
 * them to end. */
static void
sw_join (struct sw_conv *c, pthread_t *tids, unsigned n_started, int stop)
{
  pthread_mutex_lock (&c->mu);
  if (stop)
    c->stop = 1;
  pthread_cond_broadcast (&c->cv_work);
  pthread_mutex_unlock (&c->mu);
  for (unsigned i = 0; i < n_started; i++)
    pthread_join (tids[i], NULL);
}

/* The next job in sequence order once it is done, or NULL when the
 * conversion stops or every job is written. */
static struct sw_job *
sw_wait_job (struct sw_conv *c)
{
  struct sw_job *j;

  pthread_mutex_lock (&c->mu);
  for (;;)
    {
      j = &c->slots[c->write_seq % c->n_slots];
      if (c->stop)
        break;
      if (j->state == SW_DONE && j->seq == c->write_seq)
        break;
      if (c->enum_done && c->write_seq == c->next_seq)
        break;
      pthread_cond_wait (&c->cv_done, &c->mu);
    }
  if (c->stop || !(j->state == SW_DONE && j->seq == c->write_seq))
    j = NULL;
  pthread_mutex_unlock (&c->mu);
  return j;
}

/* Write one done job: close the GT before it if it starts a new one,
 * then its grain marker and data, then report progress. */
static int
sw_write_job (struct sw_conv *c, struct sw_wr *w, const struct sw_job *j)
{
  const char *oname = w->o.io->name;
  uint64_t gt = j->grain / KDMV_N_GTES;
  int r;

  if (gt != w->cur_gt)
    {
      r = vd__sw_emit_gt (&w->o, w->gd, w->cur_gt, w->table, &w->used);
      if (r < 0)
        return r;
      w->cur_gt = gt;
    }
  if (!j->skip)
    {
      uint64_t msec = vd__sw_tell (&w->o) / VD_SECTOR;
      if (msec > UINT32_MAX - 4)
        return vd__error (VD_ENOTSUP, 0, "%s: output exceeds 2 TiB, the "
                          "limit of 32-bit sector offsets", oname);
      vd__put_le64 (j->out, j->grain * SW_GRAIN);
      vd__put_le32 (j->out + 8, j->clen);
      r = vd__sw_put (&w->o, j->out, 12 + (size_t) j->clen);
      if (r == 0)
        r = vd__sw_pad (&w->o);
      if (r < 0)
        return r;
      w->table[j->grain % KDMV_N_GTES] = (uint32_t) msec;
      w->used = 1;
    }
  if (w->progress
      && (j->grain + 1) * (uint64_t) SW_GRAIN_BYTES
         >= w->last_progress + SW_PROGRESS_STEP)
    {
      w->last_progress = VD_MIN ((j->grain + 1) * (uint64_t) SW_GRAIN_BYTES,
                                 c->size);
      if (w->progress (w->last_progress, c->size, w->payload) != 0)
        return vd__error (VD_ECANCELED, 0, "%s: cancelled", oname);
    }
  return 0;
}

/* The writer: jobs in sequence order, each slot freed once written. */
static int
sw_write_all (struct sw_conv *c, struct sw_wr *w)
{
  struct sw_job *j;

  while ((j = sw_wait_job (c)))
    {
      /* The slot is ours until write_seq moves on. */
      int r = sw_write_job (c, w, j);
      if (r < 0)
        return r;
      pthread_mutex_lock (&c->mu);
      j->state = SW_FREE;
      c->write_seq++;
      if (c->n_waiting)
        pthread_cond_signal (&c->cv_work);
      pthread_mutex_unlock (&c->mu);
    }
  return 0;
}

/* Last GT, GD, footer, EOS, and the final progress report. */
static int
sw_finish (const struct sw_conv *c, struct sw_wr *w)
{
  int r = vd__sw_emit_gt (&w->o, w->gd, w->cur_gt, w->table, &w->used);
  if (r == 0)
    r = vd__sw_tail (&w->o, w->gd, w->n_gts, w->sectors);
  if (r == 0)
    r = vd__sw_flush (&w->o);
  if (r == 0 && w->progress && w->progress (c->size, c->size, w->payload) != 0)
    r = vd__error (VD_ECANCELED, 0, "%s: cancelled", w->o.io->name);
  return r;
}

static void
sw_free (struct sw_conv *c, struct sw_wr *w, int mu_ok)
{
  if (mu_ok)
    {
      pthread_mutex_destroy (&c->mu);
      pthread_cond_destroy (&c->cv_work);
      pthread_cond_destroy (&c->cv_done);
    }
  if (c->slots)
    for (unsigned i = 0; i < c->n_slots; i++)
      {
        free (c->slots[i].in);
        free (c->slots[i].out);
      }
  free (c->slots);
  vd__runs_free (&c->gt_runs);
  free (w->gd);
  free (w->table);
  free (w->o.buf);
}

int
vd__stream_convert (vd_disk *src, struct vd_io *out, const char *name,
                    const struct vd_create_params *params,
                    vd_progress_cb progress, void *payload)
{
  struct sw_conv c;
  struct sw_wr w;
  uint64_t gd_bytes;
  uint32_t cid;
  pthread_t *tids = NULL;
  unsigned n_threads, n_started = 0;
  char *desc = NULL;
  int r = 0, mu_ok = 0;

  memset (&c, 0, sizeof c);
  memset (&w, 0, sizeof w);
  w.o.io = out;
  w.progress = progress;
  w.payload = payload;
  c.src = src;
  c.size = vd_disk_get_size (src);
  c.map_gt = -1;
  w.sectors = VD_DIV_ROUND_UP (c.size, VD_SECTOR);
  c.n_grains = VD_DIV_ROUND_UP (w.sectors, SW_GRAIN);
  w.n_gts = VD_DIV_ROUND_UP (c.n_grains, KDMV_N_GTES);
  gd_bytes = w.n_gts * 4;

  if (!name || !*name || !vd__sw_value_ok (name) || strlen (name) > 255)
    return vd__error (VD_EINVAL, 0, "%s: bad extent name for the "
                     "descriptor", out->name ? out->name : "?");
  if (gd_bytes > KDMV_MAX_GD_BYTES)
    return vd__error (VD_ENOTSUP, 0, "%s: disk of %llu bytes is too large "
                     "for a streamOptimized file", out->name,
                     (unsigned long long) c.size);

  cid = params->cid;
  while (cid == 0 || cid == 0xffffffffu || cid == 0xfffffffeu)
    cid = vd__random_cid ();
  desc = vd__sw_descriptor (vd_disk_get_adapter (src), name, w.sectors,
                            params, cid);
  if (!desc)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: descriptor", out->name);
      goto out;
    }
  n_threads = sw_thread_count (params);
  /* The window must cover a write-buffer flush, or the workers stall
   * while the writer is in pwrite: 64 jobs = about 8.5 MiB. */
  c.n_slots = VD_MAX (64u, 8 * n_threads);

  r = sw_alloc (&c, &w, n_threads, &tids);
  /* Header (GD_AT_END), descriptor, padding to the first grain. */
  if (r == 0)
    r = vd__sw_prologue (&w.o, w.sectors, desc);
  if (r == 0)
    r = sw_start (&c, out->name, tids, n_threads, &n_started, &mu_ok);
  if (r < 0)
    goto out;

  r = sw_write_all (&c, &w);
  sw_join (&c, tids, n_started, r < 0);
  n_started = 0;
  if (r == 0 && c.err)
    r = vd__error (c.err, c.err_errnum, "%s", c.err_msg);
  if (r == 0)
    r = sw_finish (&c, &w);

 out:
  if (n_started)
    sw_join (&c, tids, n_started, 1);
  sw_free (&c, &w, mu_ok);
  free (tids);
  free (desc);
  return r;
}
