/* How many reads a streamOptimized (layout A) disk costs: a grain-table
 * miss reads the table's marker and the table in one read, a cached
 * table none; and the bytes are right.  Several threads mapping and
 * reading one handle at once get the same answers (run under
 * ThreadSanitizer by make tsan).  Reads counted with the io
 * wrapper hook (io-fault.c, counting only, nothing injected). */
#include "internal.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MiB (UINT64_C (1) << 20)
#define GRAIN 65536u
#define GT_SPAN (512 * (uint64_t) GRAIN)   /* bytes one grain table maps */

static void
fill (uint8_t *p, size_t n, uint64_t off)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t) (((off + i) * 2654435761u) >> 13);
}

static int
count (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    *(uint64_t *) p += len;
  return 0;
}

struct worker {
  vd_disk *d;
  uint64_t at;
  int bad;
};

static void *
worker_main (void *arg)
{
  struct worker *k = arg;
  uint8_t *w = malloc (GRAIN), *r = malloc (GRAIN);
  if (!w || !r) {
    k->bad = 1;
    goto out;
  }
  fill (w, GRAIN, k->at);
  for (int i = 0; i < 50 && !k->bad; i++) {
    uint64_t data = 0;
    if (vd_disk_block_status (k->d, 0, 3 * GT_SPAN, count, &data) != 0
        || data != 2 * GRAIN
        || vd_disk_read (k->d, r, GRAIN, k->at) != 0
        || memcmp (r, w, GRAIN) != 0)
      k->bad = 1;
  }
out:
  free (w);
  free (r);
  return NULL;
}

/* the second disk: a grain in each of NT tables, more than the GT cache
 * holds, so threads reading tables in different orders evict each
 * other's tables while they map and read */
#define NT 20
struct evict {
  vd_disk *d;
  int first;
  int bad;
};

static void *
evict_main (void *arg)
{
  struct evict *k = arg;
  uint8_t *w = malloc (GRAIN), *r = malloc (GRAIN);
  if (!w || !r) {
    k->bad = 1;
    goto out;
  }
  for (int i = 0; i < 10 * NT && !k->bad; i++) {
    int t = (k->first + (i * 7)) % NT;
    uint64_t at = (uint64_t) t * GT_SPAN + (uint64_t) (t % 5) * GRAIN, data = 0;
    fill (w, GRAIN, at);
    if (vd_disk_block_status (k->d, (uint64_t) t * GT_SPAN, GT_SPAN, count,
                              &data) != 0
        || data != GRAIN
        || vd_disk_read (k->d, r, GRAIN, at) != 0
        || memcmp (r, w, GRAIN) != 0)
      k->bad = 1;
  }
out:
  free (w);
  free (r);
  return NULL;
}

static void
evict_test (const char *path)
{
  struct vd_create_params cp;
  vd_disk *d = NULL;
  uint8_t *w = malloc (GRAIN);
  int okw = w != NULL;

  vd_create_params_init (&cp);
  cp.type = VD_TYPE_STREAM_OPTIMIZED;
  cp.capacity = NT * GT_SPAN;
  ok (w && vd_disk_create (path, &cp) == 0, "create a stream of %d tables",
      NT);
  ok (vd_disk_open (&d, path, 0) == 0, "open it for writing");
  for (int t = 0; t < NT && d && okw; t++) {
    uint64_t at = (uint64_t) t * GT_SPAN + (uint64_t) (t % 5) * GRAIN;
    fill (w, GRAIN, at);
    okw = vd_disk_write (d, w, GRAIN, at) == 0;
  }
  ok (d && okw, "a grain written in each table");
  ok (d && vd_disk_close (d) == 0, "close it");
  d = NULL;
  ok (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) == 0, "open it read-only");
  if (d) {
    struct evict k[4];
    pthread_t th[4];
    int started = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
      k[i] = (struct evict) { d, i * 5, 0 };
      if (pthread_create (&th[i], NULL, evict_main, &k[i]) == 0)
        started++;
      else
        break;
    }
    for (int i = 0; i < started; i++) {
      pthread_join (th[i], NULL);
      bad |= k[i].bad;
    }
    ok (started == 4 && !bad, "four threads over %d tables (the cache holds "
        "fewer: they evict each other's) map and read every grain right",
        NT);
    vd_disk_close (d);
  }
  unlink (path);
  free (w);
}

int
main (void)
{
  char dir[] = "/tmp/vd-streamreads.XXXXXX", path[256];
  struct vd_create_params cp;
  struct vd_fault plan;
  uint8_t *w = malloc (GRAIN), *r = malloc (GRAIN);
  vd_disk *d = NULL;
  uint64_t before, data;
  const uint64_t at = 2 * GT_SPAN + 5 * GRAIN;   /* in the third table */

  if (!mkdtemp (dir) || !w || !r)
    return 1;
  snprintf (path, sizeof path, "%s/s.vmdk", dir);
  vd_create_params_init (&cp);
  cp.type = VD_TYPE_STREAM_OPTIMIZED;
  cp.capacity = 3 * GT_SPAN;
  ok (vd_disk_create (path, &cp) == 0, "create a %llu MiB stream",
      (unsigned long long) (cp.capacity / MiB));
  ok (vd_disk_open (&d, path, 0) == 0, "open it for writing");
  fill (w, GRAIN, 0);
  ok (d && vd_disk_write (d, w, GRAIN, 0) == 0, "a grain in the first table");
  fill (w, GRAIN, at);
  ok (d && vd_disk_write (d, w, GRAIN, at) == 0, "a grain in the third");
  ok (d && vd_disk_close (d) == 0, "close: tables with markers, footer");
  d = NULL;

  vd__fault_init (&plan);
  plan.counted = VD_FAULT_PREAD;
  vd__io_set_wrapper (vd__fault_wrap, &plan);
  ok (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) == 0, "open read-only");
  if (!d)
    return done_testing ();
  before = plan.calls;
  data = 0;
  ok (vd_disk_block_status (d, at, GRAIN, count, &data) == 0
      && data == GRAIN, "block status of the grain in the third table");
  is_u64 (plan.calls - before, 1, "a grain-table miss is one read (its "
          "marker and the table together)");
  before = plan.calls;
  data = 0;
  ok (vd_disk_block_status (d, 2 * GT_SPAN, GT_SPAN, count, &data) == 0
      && data == GRAIN, "block status of the whole third table");
  is_u64 (plan.calls - before, 0, "a cached table costs no read");
  before = plan.calls;
  data = 0;
  ok (vd_disk_block_status (d, 0, 3 * GT_SPAN, count, &data) == 0
      && data == 2 * GRAIN, "block status of the whole disk: two grains");
  is_u64 (plan.calls - before, 1, "  ... one more read, the first table "
          "(the second is absent from the directory)");
  ok (vd_disk_read (d, r, GRAIN, at) == 0 && memcmp (r, w, GRAIN) == 0,
      "the grain reads back");
  fill (w, GRAIN, 0);
  ok (vd_disk_read (d, r, GRAIN, 0) == 0 && memcmp (r, w, GRAIN) == 0,
      "and the first one");
  vd__io_set_wrapper (NULL, NULL);
  vd_disk_close (d);
  d = NULL;

  /* one handle, four threads mapping and reading at once */
  ok (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) == 0, "open again");
  if (d) {
    struct worker k[4];
    pthread_t t[4];
    int started = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
      k[i] = (struct worker) { d, i % 2 ? at : 0, 0 };
      if (pthread_create (&t[i], NULL, worker_main, &k[i]) == 0)
        started++;
      else
        break;
    }
    for (int i = 0; i < started; i++) {
      pthread_join (t[i], NULL);
      bad |= k[i].bad;
    }
    ok (started == 4 && !bad, "four threads mapping and reading one "
        "handle get the same answers");
    vd_disk_close (d);
  }
  unlink (path);
  snprintf (path, sizeof path, "%s/evict.vmdk", dir);
  evict_test (path);
  rmdir (dir);
  free (w);
  free (r);
  return done_testing ();
}
