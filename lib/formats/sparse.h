/* The hosted sparse driver's state, shared by its files: sparse.c (open,
 * map, write, flush), sparse-check.c (check and repair) and
 * sparse-create.c.  Private to lib/formats. */
#ifndef VDISK_SPARSE_H
#define VDISK_SPARSE_H

#include "kdmv.h"

#define N_SLOTS 32

struct gt_slot {
  uint64_t gdi;       /* UINT64_MAX: empty */
  uint64_t stamp;
  uint32_t *gte;      /* KDMV_N_GTES entries, allocated on first use */
  int dirty;          /* entries changed since written */
  int fresh;          /* table not yet on disk (gd entry was 0) */
  uint64_t new_gt, new_rgt;  /* sectors chosen for a fresh table */
};

struct sparse {
  uint32_t version, flags;
  uint64_t capacity;          /* sectors */
  uint64_t grain;             /* sectors */
  uint64_t grain_bytes;
  uint64_t desc_off, desc_size, rgd_off, gd_off, overhead; /* sectors */
  uint64_t gd_entries, gd_sectors;
  uint32_t *gd, *rgd;
  uint64_t file_size;         /* bytes */
  uint64_t next_alloc;        /* sector of the next new grain */
  int zeroed_ok;
  int unclean;                /* found set at open */
  int rw;
  int marked_unclean;         /* we set uncleanShutdown in this open */
  int data_unsynced;
  int has_parent;             /* holes must not be skipped on zero writes */
  pthread_mutex_t mu;
  uint64_t clock;
  struct gt_slot slots[N_SLOTS];
};


/* sparse-check.c: the driver's check (fix 0) and repair (fix 1). */
int vd__sparse_check (struct vd_extent *e, struct vd_check_ctx *ctx, int fix);
/* sparse-create.c: the driver's create callback (vd__sparse_create). */
int vd__sparse_create_extent (struct vd_io *io,
                              const struct vd_extent_create *c);

#endif /* VDISK_SPARSE_H */
