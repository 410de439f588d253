/* The streamOptimized driver's state, shared by its files: stream.c
 * (open, map, read, the write mode) and stream-check.c (check).  Private
 * to lib/formats. */
#ifndef VDISK_STREAM_H
#define VDISK_STREAM_H

#include "internal.h"
#include "kdmv.h"
#include "stream-enc.h"

#include <libdeflate.h>

/* The header struct, its flags and limits: kdmv.h (the one codec); the
 * markers: stream-enc.h.  Only the reader's own tunables here. */
#define SO_MIN_GRAIN 8u                 /* sectors, checklist item 18 */
#define SO_GT_CACHE 16                  /* GTs kept in memory (as QEMU) */

struct stream_state {
  struct kdmv_header h;         /* the header (layout A: the footer) */
  const char *path;
  uint64_t file_size;
  uint32_t grain_bytes;
  uint64_t n_grains;
  uint64_t n_gdes;
  uint64_t gd_sectors;
  uint32_t *gd;
  int footer;                   /* layout A: tables carry markers */
  uint64_t max_csize;           /* largest accepted compressed size */

  pthread_mutex_t mu;           /* everything below */
  int mu_init;
  uint64_t clock;
  int64_t cache_gd[SO_GT_CACHE];   /* GD index held, -1 = empty */
  uint64_t cache_used[SO_GT_CACHE];
  uint32_t cache_gt[SO_GT_CACHE][KDMV_N_GTES];
  /* The last grain inflated for a partial-grain read, so that small
   * sequential reads do not inflate the same grain again and again. */
  uint8_t *last;
  int64_t last_grain;
  /* Write mode (an empty stream opened read-write): the appender, under
   * mu. */
  struct vd__stream_appender *w;
};

/* A window of file bytes, so that consecutive grains cost one pread. */
struct so_window {
  uint8_t *buf;
  size_t cap;
  uint64_t start;
  size_t len;
};

/* Metadata marker at sector s: numSectors, size, type. */
int vd__so_read_marker (struct stream_state *st, struct vd_io *io,
                        uint64_t s, uint64_t *num, uint32_t *size,
                        uint32_t *type);
/* The marker in the sector before a table (layout A) must be of type
 * and cover sectors; VD_ECORRUPT otherwise. */
int vd__so_check_table_marker (struct stream_state *st, struct vd_io *io,
                               uint64_t table_sector, uint32_t type,
                               uint64_t sectors);
/* The grain table at sector gde (KDMV_GT_BYTES into raw); in layout A
 * its marker, the sector before, comes in the same read and is checked:
 * a bad one is VD_ECORRUPT with strict, else 1 (recorded, raw filled). */
int vd__so_read_gt (struct stream_state *st, struct vd_io *io, uint64_t gde,
                    uint8_t *raw, int strict);
/* Inflate grain g (GTE gte) into out (grain_bytes), through the window
 * w.  Security §4 items 27, 33 and 34. */
int vd__so_read_grain (struct vd_extent *e, struct so_window *w,
                       struct libdeflate_decompressor *dec, uint64_t g,
                       uint32_t gte, uint8_t *out);
/* stream-check.c: the driver's check (no fix mode). */
int vd__stream_check (struct vd_extent *e, struct vd_check_ctx *ctx,
                      int fix);

#endif /* VDISK_STREAM_H */
