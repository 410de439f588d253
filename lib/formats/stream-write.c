/* streamOptimized writer: vd__stream_convert (the reader is stream.c).
 *
 * It produces layout A of vmdk-format.md §3.4, VMware's streaming layout:
 * it is what VMware's own exporters (ovftool, ESXi, disklib) emit and
 * therefore what ESXi/vCenter OVF import is built for; 7-Zip reads only
 * that layout (it requires the GD/GT markers and the footer); QEMU and
 * open-vmdk read it too.  It is also a pure stream -- written strictly
 * front to back, never seeking back -- so memory stays at one GT plus the
 * GD, whatever the disk size.  Layout B (open-vmdk) would need the whole
 * GT array in memory or a rewrite at the front after the data.
 *
 * The on-disk constants are repeated from stream.c on purpose (the two
 * files share no private header); they are fixed by the format. */

#include "internal.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SO_MAGIC 0x564d444bu            /* "KDMV" */
#define SO_GD_AT_END UINT64_MAX
#define SO_FLAGS_STREAM 0x30001u        /* NL detector, compressed, markers */
#define SO_MARKER_EOS 0u
#define SO_MARKER_GT 1u
#define SO_MARKER_GD 2u
#define SO_MARKER_FOOTER 3u
#define SO_GTES 512u
#define SO_GT_BYTES (SO_GTES * 4u)
#define SO_GT_SECTORS (SO_GT_BYTES / VD_SECTOR)
#define SO_MAX_GD_BYTES (64u << 20)

/* ======================================================================
 * Writer: vd__stream_convert, layout A.
 *
 *   sector 0          header, gdOffset = GD_AT_END
 *   sectors 1..20     embedded descriptor
 *   sector 128        first grain (overHead = 128, as VMware's exports)
 *   ...               [grain marker + zlib data, sector padded] in LBA order;
 *                     after the last grain of each non-empty GT:
 *                     [GT marker (4 sectors)][GT]
 *   end               [GD marker][GD][FOOTER marker][footer][EOS]
 *
 * Grains are read and compressed by worker threads; the calling thread
 * writes them in job order, so the file is the same for any thread count.
 * A window of SLOTS jobs bounds memory.  Compression is ISA-L (igzip,
 * level 2, zlib wrapper).  Measured in this writer (256 MiB, 2 threads):
 * incompressible data 0.4 s CPU against 3.1 s with libdeflate level 1, same
 * size; binaries 1.55 s against 2.0 s, output 3 % larger; level 2 costs
 * the same CPU as level 1 here and is 1 % smaller.  zlib level 6 (what
 * qemu-img uses) is 12 % smaller on binaries but 9x slower.  libdeflate
 * level 1 is only the fallback if ISA-L ever overflows its buffer.
 * ==================================================================== */

#define SW_GRAIN 128u                       /* sectors */
#define SW_GRAIN_BYTES (SW_GRAIN * VD_SECTOR)
#define SW_OVERHEAD 128u                    /* first grain sector */
#define SW_DESC_SECTORS VD_EMBEDDED_DESC_SECTORS
#define SW_OUT_CAP (SW_GRAIN_BYTES + 4096u) /* compressed grain + marker */
#define SW_WBUF (1u << 20)
#define SW_MAX_THREADS 64u
#define SW_PROGRESS_STEP (16u << 20)

/* The sparse header (§2.1) of our streams: version 3, 128-sector grains,
 * descriptor at 1 (20 sectors), no RGD, deflate. */
static void
sw_header (uint8_t *p, uint64_t capacity, uint64_t gd)
{
  memset (p, 0, VD_SECTOR);
  vd__put_le32 (p + 0, SO_MAGIC);
  vd__put_le32 (p + 4, 3);
  vd__put_le32 (p + 8, SO_FLAGS_STREAM);
  vd__put_le64 (p + 12, capacity);
  vd__put_le64 (p + 20, SW_GRAIN);
  vd__put_le64 (p + 28, 1);
  vd__put_le64 (p + 36, SW_DESC_SECTORS);
  vd__put_le32 (p + 44, SO_GTES);
  vd__put_le64 (p + 56, gd);
  vd__put_le64 (p + 64, SW_OVERHEAD);
  memcpy (p + 73, "\n \r\n", 4);
  p[77] = 1;                    /* compressAlgorithm: deflate */
}

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
  int enum_done;
  unsigned n_waiting;           /* workers blocked on cv_work */
  int stop;
  int err;                      /* first worker error */
  int err_errnum;
  char err_msg[512];
};

struct sw_map_ctx {
  uint64_t base;
  uint8_t *alloc;
};

static int
sw_map_cb (uint64_t offset, uint64_t length, uint32_t status, void *payload)
{
  struct sw_map_ctx *c = payload;
  uint64_t a, b;

  if (status != VD_STATUS_DATA || length == 0)
    return 0;
  a = (offset - c->base) / SW_GRAIN_BYTES;
  b = (offset - c->base + length - 1) / SW_GRAIN_BYTES;
  for (; a <= b && a < SO_GTES; a++)
    c->alloc[a] = 1;
  return 0;
}

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
          struct sw_map_ctx mc;
          uint64_t base = gt * SO_GTES * (uint64_t) SW_GRAIN_BYTES;
          uint64_t len = VD_MIN ((uint64_t) SO_GTES * SW_GRAIN_BYTES,
                                 c->size - base);
          int r;

          memset (c->alloc, 0, sizeof c->alloc);
          mc.base = base;
          mc.alloc = c->alloc;
          r = vd_disk_block_status (c->src, base, len, sw_map_cb, &mc);
          if (r < 0)
            return r;
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

static int
sw_compress (struct libdeflate_compressor **ld, uint8_t *lvl_buf,
             const uint8_t *in, uint8_t *out, size_t out_cap,
             uint32_t *clen)
{
  struct isal_zstream zs;
  size_t n;

  isal_deflate_stateless_init (&zs);
  zs.level = 2;
  zs.level_buf = lvl_buf;
  zs.level_buf_size = ISAL_DEF_LVL2_DEFAULT;
  zs.gzip_flag = IGZIP_ZLIB;
  zs.end_of_stream = 1;
  zs.flush = NO_FLUSH;
  zs.next_in = (uint8_t *) in;
  zs.avail_in = SW_GRAIN_BYTES;
  zs.next_out = out;
  zs.avail_out = (uint32_t) out_cap;
  if (isal_deflate_stateless (&zs) == COMP_OK)
    {
      *clen = zs.total_out;
      return 0;
    }
  /* Not expected (out_cap exceeds the stored-block bound), but safe. */
  if (!*ld && !(*ld = libdeflate_alloc_compressor (1)))
    return vd_error (VD_ENOMEM, errno, "compressor");
  n = libdeflate_zlib_compress (*ld, in, SW_GRAIN_BYTES, out, out_cap);
  if (n == 0)
    return vd_error (VD_EIO, 0, "compressing a grain failed");
  *clen = (uint32_t) n;
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
      vd_error (VD_ENOMEM, errno, "compression buffer");
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
            r = sw_compress (&ld, lvl_buf, j->in, j->out + 12,
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

/* Sequential output through a buffer. */
struct sw_out {
  struct vd_io *io;
  uint8_t *buf;
  size_t len;
  uint64_t pos;                 /* file offset of buf[0] */
};

static int
sw_flush (struct sw_out *o)
{
  int r;

  if (o->len == 0)
    return 0;
  r = vd__io_pwrite (o->io, o->buf, o->len, o->pos);
  if (r < 0)
    return r;
  o->pos += o->len;
  o->len = 0;
  return 0;
}

static uint64_t
sw_tell (const struct sw_out *o)
{
  return o->pos + o->len;
}

static int
sw_put (struct sw_out *o, const void *data, size_t n)
{
  const uint8_t *p = data;
  int r;

  while (n > 0)
    {
      size_t k = VD_MIN (n, SW_WBUF - o->len);
      if (p)
        memcpy (o->buf + o->len, p, k);
      else
        memset (o->buf + o->len, 0, k);
      o->len += k;
      n -= k;
      if (p)
        p += k;
      if (o->len == SW_WBUF)
        {
          r = sw_flush (o);
          if (r < 0)
            return r;
        }
    }
  return 0;
}

/* Zero padding up to the next sector. */
static int
sw_pad (struct sw_out *o)
{
  uint64_t t = sw_tell (o) % VD_SECTOR;
  return t ? sw_put (o, NULL, VD_SECTOR - t) : 0;
}

static int
sw_marker (struct sw_out *o, uint64_t num, uint32_t type)
{
  uint8_t m[VD_SECTOR];

  memset (m, 0, sizeof m);
  vd__put_le64 (m, num);
  vd__put_le32 (m + 12, type);
  return sw_put (o, m, sizeof m);
}

/* Emit the GT of table gt (if it holds anything) and note it in the GD. */
static int
sw_emit_gt (struct sw_out *o, uint32_t *gd, uint64_t gt, uint32_t *table,
            int *used)
{
  uint8_t raw[SO_GT_BYTES];
  unsigned k;
  int r;

  if (!*used)
    return 0;
  r = sw_marker (o, SO_GT_SECTORS, SO_MARKER_GT);
  if (r < 0)
    return r;
  gd[gt] = (uint32_t) (sw_tell (o) / VD_SECTOR);
  for (k = 0; k < SO_GTES; k++)
    vd__put_le32 (raw + 4 * k, table[k]);
  r = sw_put (o, raw, sizeof raw);
  memset (table, 0, SO_GT_BYTES);
  *used = 0;
  return r;
}

static int
sw_value_ok (const char *s)
{
  for (; *s; s++)
    if (*s == '"' || *s == '\r' || *s == '\n')
      return 0;
  return 1;
}

static char *
sw_descriptor (vd_disk *src, const char *name, uint64_t sectors,
               const struct vd_create_params *params, uint32_t cid)
{
  enum vd_adapter ad = params->adapter;
  struct vd_geometry geo = params->geometry;
  uint32_t hw = params->hw_version ? params->hw_version : 4;
  uint32_t rnd[3];
  char uuid[64] = "";

  if (ad == VD_ADAPTER_UNKNOWN)
    ad = vd_disk_get_adapter (src);
  if (ad == VD_ADAPTER_UNKNOWN)
    ad = VD_ADAPTER_IDE;
  if (geo.cylinders == 0 || geo.heads == 0 || geo.sectors == 0)
    vd_geometry_compute (&geo, sectors * VD_SECTOR, ad);
  if (vd__random_bytes (rnd, sizeof rnd) < 0)
    return NULL;
  if (!(params->flags & VD_CREATE_NO_UUID))
    {
      uint8_t u[16];
      if (params->uuid)
        memcpy (u, params->uuid, 16);
      else if (vd__random_bytes (u, sizeof u) < 0)
        return NULL;
      snprintf (uuid, sizeof uuid, "ddb.uuid = \"%02x %02x %02x %02x %02x "
                "%02x %02x %02x-%02x %02x %02x %02x %02x %02x %02x %02x\"\n",
                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
                u[10], u[11], u[12], u[13], u[14], u[15]);
    }
  return vd__asprintf (
    "# Disk DescriptorFile\n"
    "version=1\n"
    "encoding=\"UTF-8\"\n"
    "CID=%08x\n"
    "parentCID=ffffffff\n"
    "createType=\"streamOptimized\"\n"
    "\n"
    "# Extent description\n"
    "RW %llu SPARSE \"%s\"\n"
    "\n"
    "# The Disk Data Base\n"
    "#DDB\n"
    "\n"
    "ddb.adapterType = \"%s\"\n"
    "ddb.geometry.cylinders = \"%u\"\n"
    "ddb.geometry.heads = \"%u\"\n"
    "ddb.geometry.sectors = \"%u\"\n"
    "ddb.longContentID = \"%08x%08x%08x%08x\"\n"
    "ddb.toolsInstallType = \"4\"\n"
    "ddb.toolsVersion = \"2147483647\"\n"
    "%s"
    "ddb.virtualHWVersion = \"%u\"\n",
    cid, (unsigned long long) sectors, name,
    vd_adapter_name (ad), geo.cylinders, geo.heads, geo.sectors,
    rnd[0], rnd[1], rnd[2], cid, uuid, hw);
}

int
vd__stream_convert (vd_disk *src, struct vd_io *out, const char *name,
                    const struct vd_create_params *params,
                    vd_progress_cb progress, void *payload)
{
  struct sw_conv c;
  struct sw_out o = { .io = out };
  uint8_t sec[VD_SECTOR];
  uint64_t sectors, n_gts, gd_bytes, gd_sectors, cur_gt = 0,
    last_progress = 0, gd_at = 0;
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
  gd_sectors = VD_DIV_ROUND_UP (gd_bytes, VD_SECTOR);

  if (!name || !*name || !sw_value_ok (name) || strlen (name) > 255)
    return vd_error (VD_EINVAL, 0, "%s: bad extent name for the "
                     "descriptor", out->name ? out->name : "?");
  if (gd_bytes > SO_MAX_GD_BYTES)
    return vd_error (VD_ENOTSUP, 0, "%s: disk of %llu bytes is too large "
                     "for a streamOptimized file", out->name,
                     (unsigned long long) c.size);

  cid = params->cid;
  while (cid == 0 || cid == 0xffffffffu || cid == 0xfffffffeu)
    cid = vd__random_cid ();
  desc = sw_descriptor (src, name, sectors, params, cid);
  if (!desc)
    {
      r = vd_error (VD_ENOMEM, errno, "%s: descriptor", out->name);
      goto out;
    }
  if (strlen (desc) > SW_DESC_SECTORS * VD_SECTOR)
    {
      r = vd_error (VD_EINVAL, 0, "%s: descriptor too long", out->name);
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
      r = vd_error (VD_ENOMEM, errno, "%s: buffers", out->name);
      goto out;
    }
  for (i = 0; i < c.n_slots; i++)
    {
      c.slots[i].in = malloc (SW_GRAIN_BYTES);
      c.slots[i].out = malloc (SW_OUT_CAP);
      if (!c.slots[i].in || !c.slots[i].out)
        {
          r = vd_error (VD_ENOMEM, errno, "%s: buffers", out->name);
          goto out;
        }
    }

  /* Header (GD_AT_END), descriptor, padding to the first grain. */
  sw_header (sec, sectors, SO_GD_AT_END);
  r = sw_put (&o, sec, VD_SECTOR);
  if (r == 0)
    r = sw_put (&o, desc, strlen (desc));
  if (r == 0)
    r = sw_put (&o, NULL, SW_OVERHEAD * VD_SECTOR - sw_tell (&o));
  if (r < 0)
    goto out;

  if (pthread_mutex_init (&c.mu, NULL) != 0
      || pthread_cond_init (&c.cv_work, NULL) != 0
      || pthread_cond_init (&c.cv_done, NULL) != 0)
    {
      r = vd_error (VD_ENOMEM, 0, "%s: thread setup", out->name);
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
              r = vd_error (VD_ENOMEM, e, "%s: cannot start a thread",
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
          r = sw_emit_gt (&o, gd, cur_gt, table, &used);
          if (r < 0)
            goto stop;
          cur_gt = gt;
        }
      if (!j->skip)
        {
          msec = sw_tell (&o) / VD_SECTOR;
          if (msec > UINT32_MAX - 4)
            {
              r = vd_error (VD_ENOTSUP, 0, "%s: output exceeds 2 TiB, the "
                            "limit of 32-bit sector offsets", out->name);
              goto stop;
            }
          vd__put_le64 (j->out, j->grain * SW_GRAIN);
          vd__put_le32 (j->out + 8, j->clen);
          r = sw_put (&o, j->out, 12 + (size_t) j->clen);
          if (r == 0)
            r = sw_pad (&o);
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
              r = vd_error (VD_ECANCELED, 0, "%s: cancelled", out->name);
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
      r = vd_error (c.err, c.err_errnum, "%s", c.err_msg);
      goto out;
    }

  /* Last GT, GD, footer, EOS. */
  r = sw_emit_gt (&o, gd, cur_gt, table, &used);
  if (r == 0)
    r = sw_marker (&o, gd_sectors, SO_MARKER_GD);
  if (r < 0)
    goto out;
  gd_at = sw_tell (&o) / VD_SECTOR;
  for (i = 0; i < n_gts; i++)
    {
      uint8_t le[4];
      vd__put_le32 (le, gd[i]);
      r = sw_put (&o, le, 4);
      if (r < 0)
        goto out;
    }
  r = sw_pad (&o);
  if (r == 0)
    r = sw_marker (&o, 1, SO_MARKER_FOOTER);
  if (r == 0)
    {
      sw_header (sec, sectors, gd_at);
      r = sw_put (&o, sec, VD_SECTOR);
    }
  if (r == 0)
    r = sw_marker (&o, 0, SO_MARKER_EOS);
  if (r == 0)
    r = sw_flush (&o);
  if (r == 0 && progress && progress (c.size, c.size, payload) != 0)
    r = vd_error (VD_ECANCELED, 0, "%s: cancelled", out->name);

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
  free (tids);
  free (gd);
  free (table);
  free (o.buf);
  free (desc);
  return r;
}
