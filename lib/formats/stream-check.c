/* The streamOptimized driver's check (vd__stream_check): every grain
 * table entry's marker and data, grains named twice, and a walk of the
 * markers for grains no table names (leaks).  No fix mode. */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct so_ref {
  uint32_t sector;
  uint64_t grain;
};

static int
so_ref_cmp (const void *a, const void *b)
{
  const struct so_ref *x = a, *y = b;
  return x->sector < y->sector ? -1 : x->sector > y->sector;
}

struct so_refs {
  struct so_ref *v;
  size_t n, cap;
};

/* 1. Every table entry: marker and data must be sound.  1 when the
 * tables name more grains than the file holds (the check stops there). */
static int
check_tables (struct vd_extent *e, struct vd_check_ctx *ctx,
              struct so_refs *refs)
{
  struct stream_state *st = e->state;
  struct so_window w = { 0 };
  struct libdeflate_decompressor *dec = NULL;
  uint8_t *gbuf = NULL, raw[KDMV_GT_BYTES];
  uint64_t gi;
  int r = 0;

  w.cap = (size_t) st->max_csize + 12;
  w.buf = malloc (w.cap);
  gbuf = malloc (st->grain_bytes);
  dec = libdeflate_alloc_decompressor ();
  if (!w.buf || !gbuf || !dec)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: check buffers", st->path);
      goto out;
    }
  for (gi = 0; gi < st->n_gdes; gi++)
    {
      uint32_t gde = st->gd[gi];
      unsigned j;

      if (gde == 0)
        continue;
      r = vd__so_read_gt (st, e->io, gde, raw, 0);
      if (r < 0)
        goto out;
      if (r == 1)               /* a bad marker: reported, table read */
        {
          vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s",
                            vd_last_error ()->message);
          r = 0;
        }
      for (j = 0; j < KDMV_N_GTES; j++)
        {
          uint64_t g = gi * KDMV_N_GTES + j;
          uint32_t gte = vd__le32 (raw + 4 * j);

          if (gte == 0 || g >= st->n_grains)
            continue;
          if (gte == 1 && (st->h.flags & KDMV_FLAG_ZEROED_GTE))
            continue;
          /* More grains than the file has sectors means tables share
           * grains or tables (hostile): stop before that costs memory. */
          if (refs->n >= st->file_size / VD_SECTOR)
            {
              vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s: grain "
                                "tables name more grains than the file can "
                                "hold; check stopped", st->path);
              r = 1;
              goto out;
            }
          if (refs->n == refs->cap)
            {
              size_t nc = refs->cap ? 2 * refs->cap : 1024;
              struct so_ref *nr = realloc (refs->v, nc * sizeof *nr);
              if (!nr)
                {
                  r = vd__error (VD_ENOMEM, errno, "%s: check", st->path);
                  goto out;
                }
              refs->v = nr;
              refs->cap = nc;
            }
          refs->v[refs->n].sector = gte;
          refs->v[refs->n].grain = g;
          refs->n++;
          if (ctx->res)
            ctx->res->allocated++;
          r = vd__so_read_grain (e, &w, dec, g, gte, gbuf);
          if (r < 0)
            {
              vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s",
                                vd_last_error ()->message);
              r = 0;
            }
        }
    }
 out:
  free (w.buf);
  free (gbuf);
  libdeflate_free_decompressor (dec);
  return r;
}

/* 3. Walk the markers from overHead (checklist item 35: advance at least
 * one sector per step, stop at EOS or EOF): grains nobody points at
 * (refs, sorted by sector) are leaks. */
static int
check_walk (struct vd_extent *e, struct vd_check_ctx *ctx,
            const struct so_refs *refs)
{
  struct stream_state *st = e->state;
  uint64_t pos = st->h.overhead, leaks = 0;
  size_t k = 0;
  int r = 0;

  while (pos < st->file_size / VD_SECTOR)
    {
      uint64_t num;
      uint32_t size, type;

      if (pos + 1 > st->file_size / VD_SECTOR)
        break;
      r = vd__so_read_marker (st, e->io, pos, &num, &size, &type);
      if (r < 0)
        return r;
      if (size != 0)
        {
          uint64_t adv = VD_DIV_ROUND_UP (12 + (uint64_t) size, VD_SECTOR);
          if (size > st->max_csize)
            {
              vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s: "
                                "stream walk: grain marker at sector %llu "
                                "has size %u (max %llu); walk stopped",
                                st->path, (unsigned long long) pos, size,
                                (unsigned long long) st->max_csize);
              break;
            }
          while (k < refs->n && refs->v[k].sector < pos)
            k++;
          if (!(k < refs->n && refs->v[k].sector == pos))
            {
              /* The driver counts leaks; a few messages, then a total. */
              if (ctx->res)
                ctx->res->leaks++;
              if (++leaks <= 8)
                vd__check_report (ctx, VD_CHECK_SEVERITY_LEAK, "%s: grain "
                                  "at sector %llu (LBA %llu) is not "
                                  "referenced by any grain table",
                                  st->path, (unsigned long long) pos,
                                  (unsigned long long) num);
            }
          pos += adv;
          continue;
        }
      if (type == SO_MARKER_EOS)
        break;
      if (num > st->file_size / VD_SECTOR)
        {
          vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s: marker "
                            "at sector %llu covers %llu sectors, past the "
                            "end of the file", st->path,
                            (unsigned long long) pos,
                            (unsigned long long) num);
          break;
        }
      /* GT, GD, FOOTER, PROGRESS or unknown: skip its payload. */
      pos += 1 + num;
    }
  if (leaks > 8)
    vd__check_report (ctx, VD_CHECK_SEVERITY_LEAK, "%s: %llu grains in all "
                      "are not referenced by any grain table", st->path,
                      (unsigned long long) leaks);
  return 0;
}

int
vd__stream_check (struct vd_extent *e, struct vd_check_ctx *ctx, int fix)
{
  (void) fix;   /* no fix mode (can_fix 0) */
  struct stream_state *st = e->state;
  struct so_refs refs = { 0 };
  int r;

  if (st->h.unclean)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO, "%s: uncleanShutdown is "
                      "set", st->path);
  r = check_tables (e, ctx, &refs);
  if (r == 0)
    {
      /* 2. Two entries naming one grain (checklist item 28). */
      if (refs.n > 1)
        qsort (refs.v, refs.n, sizeof *refs.v, so_ref_cmp);
      for (size_t k = 1; k < refs.n; k++)
        if (refs.v[k].sector == refs.v[k - 1].sector)
          vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT, "%s: grains %llu "
                            "and %llu both point at sector %u", st->path,
                            (unsigned long long) refs.v[k - 1].grain,
                            (unsigned long long) refs.v[k].grain,
                            refs.v[k].sector);
      r = check_walk (e, ctx, &refs);
    }
  free (refs.v);
  return r < 0 ? r : 0;
}
