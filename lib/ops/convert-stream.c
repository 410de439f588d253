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
  uint8_t alloc[SO_GTES];
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
      uint64_t gt = c->cursor / SO_GTES;
      if ((int64_t) gt != c->map_gt)
        {
          uint64_t base = gt * SO_GTES * (uint64_t) SW_GRAIN_BYTES;
          uint64_t len = VD_MIN ((uint64_t) SO_GTES * SW_GRAIN_BYTES,
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
              for (; a <= b && a < SO_GTES; a++)
                c->alloc[a] = 1;
            }
          c->map_gt = (int64_t) gt;
        }
      if (c->alloc[c->cursor % SO_GTES])
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

int
vd__stream_convert (vd_disk *src, struct vd_io *out, const char *name,
                    const struct vd_create_params *params,
                    vd_progress_cb progress, void *payload)
{
  struct sw_conv c;
  struct vd__sw_out o = { .io = out };
  uint64_t sectors, n_gts, gd_bytes, cur_gt = 0, last_progress = 0;
  uint32_t *gd = NULL, *table = NULL, cid;
  pthread_t *tids = NULL;
  unsigned n_threads, n_started = 0, i;
  char *desc = NULL;
  int r = 0, used = 0, mu_ok = 0;

  memset (&c, 0, sizeof c);
  c.src = src;
  c.size = vd_disk_get_size (src);
  c.map_gt = -1;
  sectors = VD_DIV_ROUND_UP (c.size, VD_SECTOR);
  c.n_grains = VD_DIV_ROUND_UP (sectors, SW_GRAIN);
  n_gts = VD_DIV_ROUND_UP (c.n_grains, SO_GTES);
  gd_bytes = n_gts * 4;

  if (!name || !*name || !vd__sw_value_ok (name) || strlen (name) > 255)
    return vd__error (VD_EINVAL, 0, "%s: bad extent name for the "
                     "descriptor", out->name ? out->name : "?");
  if (gd_bytes > SO_MAX_GD_BYTES)
    return vd__error (VD_ENOTSUP, 0, "%s: disk of %llu bytes is too large "
                     "for a streamOptimized file", out->name,
                     (unsigned long long) c.size);

  cid = params->cid;
  while (cid == 0 || cid == 0xffffffffu || cid == 0xfffffffeu)
    cid = vd__random_cid ();
  desc = vd__sw_descriptor (vd_disk_get_adapter (src), name, sectors, params, cid);
  if (!desc)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: descriptor", out->name);
      goto out;
    }
  n_threads = params->threads;
  if (n_threads == 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      n_threads = n > 0 ? (unsigned) n : 1;
    }
  n_threads = VD_MIN (n_threads, SW_MAX_THREADS);
  /* The window must cover a write-buffer flush, or the workers stall
   * while the writer is in pwrite: 64 jobs = about 8.5 MiB. */
  c.n_slots = VD_MAX (64u, 8 * n_threads);

  o.buf = malloc (SW_WBUF);
  gd = calloc (n_gts ? n_gts : 1, 4);
  table = calloc (SO_GTES, 4);
  c.slots = calloc (c.n_slots, sizeof *c.slots);
  tids = calloc (n_threads, sizeof *tids);
  if (!o.buf || !gd || !table || !c.slots || !tids)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: buffers", out->name);
      goto out;
    }
  for (i = 0; i < c.n_slots; i++)
    {
      c.slots[i].in = malloc (SW_GRAIN_BYTES);
      c.slots[i].out = malloc (SW_OUT_CAP);
      if (!c.slots[i].in || !c.slots[i].out)
        {
          r = vd__error (VD_ENOMEM, errno, "%s: buffers", out->name);
          goto out;
        }
    }

  /* Header (GD_AT_END), descriptor, padding to the first grain. */
  r = vd__sw_prologue (&o, sectors, desc);
  if (r < 0)
    goto out;

  if (pthread_mutex_init (&c.mu, NULL) != 0
      || pthread_cond_init (&c.cv_work, NULL) != 0
      || pthread_cond_init (&c.cv_done, NULL) != 0)
    {
      r = vd__error (VD_ENOMEM, 0, "%s: thread setup", out->name);
      goto out;
    }
  mu_ok = 1;
  for (i = 0; i < n_threads; i++)
    {
      int e = pthread_create (&tids[i], NULL, sw_worker, &c);
      if (e != 0)
        {
          if (i == 0)
            {
              r = vd__error (VD_ENOMEM, e, "%s: cannot start a thread",
                            out->name);
              goto out;
            }
          break;
        }
      n_started++;
    }

  /* The writer: jobs in sequence order. */
  for (;;)
    {
      struct sw_job *j;
      uint64_t gt, msec;

      pthread_mutex_lock (&c.mu);
      for (;;)
        {
          j = &c.slots[c.write_seq % c.n_slots];
          if (c.stop)
            break;
          if (j->state == SW_DONE && j->seq == c.write_seq)
            break;
          if (c.enum_done && c.write_seq == c.next_seq)
            break;
          pthread_cond_wait (&c.cv_done, &c.mu);
        }
      if (c.stop || !(j->state == SW_DONE && j->seq == c.write_seq))
        {
          pthread_mutex_unlock (&c.mu);
          break;
        }
      pthread_mutex_unlock (&c.mu);

      /* The slot is ours until write_seq moves on. */
      gt = j->grain / SO_GTES;
      if (gt != cur_gt)
        {
          r = vd__sw_emit_gt (&o, gd, cur_gt, table, &used);
          if (r < 0)
            goto stop;
          cur_gt = gt;
        }
      if (!j->skip)
        {
          msec = vd__sw_tell (&o) / VD_SECTOR;
          if (msec > UINT32_MAX - 4)
            {
              r = vd__error (VD_ENOTSUP, 0, "%s: output exceeds 2 TiB, the "
                            "limit of 32-bit sector offsets", out->name);
              goto stop;
            }
          vd__put_le64 (j->out, j->grain * SW_GRAIN);
          vd__put_le32 (j->out + 8, j->clen);
          r = vd__sw_put (&o, j->out, 12 + (size_t) j->clen);
          if (r == 0)
            r = vd__sw_pad (&o);
          if (r < 0)
            goto stop;
          table[j->grain % SO_GTES] = (uint32_t) msec;
          used = 1;
        }

      if (progress
          && (j->grain + 1) * (uint64_t) SW_GRAIN_BYTES
             >= last_progress + SW_PROGRESS_STEP)
        {
          last_progress = VD_MIN ((j->grain + 1) * (uint64_t) SW_GRAIN_BYTES,
                                  c.size);
          if (progress (last_progress, c.size, payload) != 0)
            {
              r = vd__error (VD_ECANCELED, 0, "%s: cancelled", out->name);
              goto stop;
            }
        }

      pthread_mutex_lock (&c.mu);
      j->state = SW_FREE;
      c.write_seq++;
      if (c.n_waiting)
        pthread_cond_signal (&c.cv_work);
      pthread_mutex_unlock (&c.mu);
    }

 stop:
  pthread_mutex_lock (&c.mu);
  if (r < 0)
    c.stop = 1;
  pthread_cond_broadcast (&c.cv_work);
  pthread_mutex_unlock (&c.mu);
  for (i = 0; i < n_started; i++)
    pthread_join (tids[i], NULL);
  n_started = 0;
  if (r < 0)
    goto out;
  if (c.err)
    {
      r = vd__error (c.err, c.err_errnum, "%s", c.err_msg);
      goto out;
    }

  /* Last GT, GD, footer, EOS. */
  r = vd__sw_emit_gt (&o, gd, cur_gt, table, &used);
  if (r == 0)
    r = vd__sw_tail (&o, gd, n_gts, sectors);
  if (r == 0)
    r = vd__sw_flush (&o);
  if (r == 0 && progress && progress (c.size, c.size, payload) != 0)
    r = vd__error (VD_ECANCELED, 0, "%s: cancelled", out->name);

 out:
  if (n_started)
    {
      pthread_mutex_lock (&c.mu);
      c.stop = 1;
      pthread_cond_broadcast (&c.cv_work);
      pthread_mutex_unlock (&c.mu);
      for (i = 0; i < n_started; i++)
        pthread_join (tids[i], NULL);
    }
  if (mu_ok)
    {
      pthread_mutex_destroy (&c.mu);
      pthread_cond_destroy (&c.cv_work);
      pthread_cond_destroy (&c.cv_done);
    }
  if (c.slots)
    for (i = 0; i < c.n_slots; i++)
      {
        free (c.slots[i].in);
        free (c.slots[i].out);
      }
  free (c.slots);
  vd__runs_free (&c.gt_runs);
  free (tids);
  free (gd);
  free (table);
  free (o.buf);
  free (desc);
  return r;
}
