/* vd_disk_space_needed: the bytes a clone into a layout takes, from the
 * allocated grains of the source. */
#include "internal.h"
#include "manage/manage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- space needed for a clone ----------------------------------------------- */

struct grains {
  uint64_t grain;      /* bytes */
  uint64_t count;
  uint64_t last;       /* index + 1 of the last grain counted, 0 none */
  uint64_t bytes;      /* DATA bytes */
};

static int
count_grains (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct grains *g = payload;
  if (st != VD_STATUS_DATA)
    return 0;
  uint64_t first = off / g->grain, end = VD_DIV_ROUND_UP (off + len, g->grain);
  if (g->last > first)
    first = g->last;
  if (end > first)
    g->count += end - first;
  if (end > g->last)
    g->last = end;
  g->bytes += len;
  return 0;
}

#define DESC_BYTES 1024u   /* a separate descriptor file, about */

int
vd_disk_space_needed (vd_disk *src, enum vd_type type, uint64_t *bytes)
{
  struct grains g = { .grain = GRAIN_BYTES };
  uint64_t cap, sectors;
  int r;

  VD_ENTER ();
  if (!src || !bytes)
    return vd__error (VD_EINVAL, 0, "space needed: no disk or result");
  *bytes = 0;
  cap = VD_ROUND_UP (vd_disk_get_size (src), (uint64_t) VD_SECTOR);
  sectors = cap / VD_SECTOR;
  switch (type) {
  case VD_TYPE_RAW:
    *bytes = vd_disk_get_size (src);
    return 0;
  case VD_TYPE_MONOLITHIC_FLAT:
  case VD_TYPE_SPLIT_FLAT:
  case VD_TYPE_VMFS:
    *bytes = cap + DESC_BYTES;
    return 0;
  case VD_TYPE_MONOLITHIC_SPARSE:
  case VD_TYPE_SPLIT_SPARSE:
  case VD_TYPE_STREAM_OPTIMIZED:
  case VD_TYPE_VMFS_THIN:
    break;
  default:
    return vd__error (VD_ENOTSUP, 0, "space needed: vdisk cannot clone into "
                     "type %s", vd_type_name (type) ? vd_type_name (type)
                                                    : "(unknown)");
  }
  r = vd_disk_block_status (src, 0, vd_disk_get_size (src), count_grains,
                            &g);
  if (r < 0)
    return r;
  switch (type) {
  case VD_TYPE_MONOLITHIC_SPARSE:
    *bytes = vd__sparse_overhead (sectors, GRAIN_SECTORS, 1)
             + g.count * GRAIN_BYTES;
    break;
  case VD_TYPE_SPLIT_SPARSE:
    *bytes = DESC_BYTES + g.count * GRAIN_BYTES;
    for (uint64_t s = 0; s < sectors; s += SPLIT_SECTORS)
      *bytes += vd__sparse_overhead (VD_MIN (SPLIT_SECTORS, sectors - s),
                                       GRAIN_SECTORS, 0);
    break;
  case VD_TYPE_STREAM_OPTIMIZED:
    /* An upper bound: the grains as if they did not compress, each with
     * its marker sector, plus the tables and the footer. */
    *bytes = vd__sparse_overhead (sectors, GRAIN_SECTORS, 1)
             + g.count * (GRAIN_BYTES + VD_SECTOR)
             + 3 * VD_SECTOR;
    break;
  default:  /* vmfsThin: a sparse flat file holding the data */
    *bytes = DESC_BYTES + g.count * GRAIN_BYTES;
  }
  return 0;
}
