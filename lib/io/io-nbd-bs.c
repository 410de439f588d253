/* The NBD client's block status: the extent cache, filled by several
 * block status requests in flight, and SEEK_DATA / SEEK_HOLE on it. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef VD_HAVE_LIBNBD
#include "io-nbd.h"

/* ---- the extent cache ---- */

/* The first cached extent that ends after pos (nio->next if none): the
 * extents are sorted and contiguous, so a binary search (a linear scan
 * from the start on every read and map call was quadratic in the number
 * of extents). */
static size_t
ext_find (const struct nbd_io *nio, uint64_t pos)
{
  size_t lo = 0, hi = nio->next;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (nio->ext[mid].off + nio->ext[mid].len <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Is [a, b) all zero by the cache?  1 yes, 0 no or unknown. */
int
vd__nbd_cached_zero (struct nbd_io *nio, uint64_t a, uint64_t b)
{
  if (a >= b)
    return 1;
  if (a < nio->ext_start || b > nio->ext_end)
    return 0;
  for (size_t i = ext_find (nio, a); i < nio->next; i++) {
    const struct extent *x = &nio->ext[i];
    if (x->off >= b)
      break;
    if (!x->zero)
      return 0;
  }
  return 1;
}

/* The end of the data extent holding pos by the cache, or the disk's end
 * when unknown; pos itself when the cache says pos is in a hole. */
uint64_t
vd__nbd_cached_data_end (struct nbd_io *nio, uint64_t pos, uint64_t *next_data)
{
  *next_data = pos;
  if (pos < nio->ext_start || pos >= nio->ext_end)
    return nio->size;
  for (size_t i = ext_find (nio, pos); i < nio->next; i++) {
    const struct extent *x = &nio->ext[i];
    if (!x->zero)
      return x->off + x->len;
    /* in a hole: where does data start again? */
    for (size_t j = i + 1; j < nio->next; j++)
      if (!nio->ext[j].zero) {
        *next_data = nio->ext[j].off;
        return pos;
      }
    *next_data = nio->ext_end;
    return pos;
  }
  return nio->size;
}

void
vd__nbd_cache_drop (struct nbd_io *nio)
{
  nio->next = 0;
  nio->ext_start = nio->ext_end = 0;
}

/* A block status answer's extents into its part: in the receiving thread,
 * without mu (the part is the asking thread's, which reads it only once
 * the request completed). */
int
vd__nbd_bs_cb (void *user_data, const char *metacontext, uint64_t offset,
               uint32_t *entries, size_t nr_entries, int *error)
{
  struct bs_part *bp = user_data;
  (void) error;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  if (offset != bp->start + bp->got)
    return 0;                   /* not where we are: ignore the chunk */
  for (size_t i = 0; i + 1 < nr_entries; i += 2) {
    uint64_t a = bp->start + bp->got, n = entries[i];
    int zero = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0;
    if (n == 0 || a >= bp->end)
      break;
    n = VD_MIN (n, bp->end - a);
    if (bp->n && bp->e[bp->n - 1].zero == zero)
      bp->e[bp->n - 1].len += n;
    else {
      if (bp->n == bp->cap) {
        size_t nc = bp->cap ? bp->cap * 2 : 64;
        struct extent *ne;
        if (nc > MAX_EXTENTS || !(ne = realloc (bp->e, nc * sizeof *ne)))
          break;                /* keep what fits */
        bp->e = ne;
        bp->cap = nc;
      }
      bp->e[bp->n++] = (struct extent) { a, n, zero };
    }
    bp->got += n;
  }
  return 0;
}

/* Fill the extent cache from pos on: BS_PARALLEL requests of BS_SPAN
 * bytes in flight, kept up to the first one the server answered only in
 * part.  0, or an error. */
static int
cache_fill (struct nbd_io *nio, uint64_t pos)
{
  struct bs_part parts[BS_PARALLEL];
  struct nbd_call call = { 0, 0, 0, NULL };
  unsigned np = 0;
  uint64_t gen = nio->ext_gen;
  int r = 0;

  memset (parts, 0, sizeof parts);
  for (uint64_t a = pos; a < nio->size && np < BS_PARALLEL; np++) {
    struct bs_part *bp = &parts[np];
    uint64_t n = VD_MIN (BS_SPAN, nio->size - a);
    bp->start = a;
    bp->end = a + n;
    vd__nbd_submit_bs (nio, n, a, bp, &call);
    if (call.errnum) {
      np++;
      break;
    }
    a += n;
  }
  vd__nbd_wait_call (nio, &call);
  if (call.errnum)
    r = vd__nbd_req_fail (nio, "block status", &call);
  else if (gen != nio->ext_gen || nio->writing) {
    /* a write raced with the question: the answer may be old; the
     * caller asks again (at most once per write) */
    vd__nbd_cache_drop (nio);
  }
  else {
    /* the answers in order, up to the first partial one, and at most
     * MAX_EXTENTS in all (the cap is the whole cache's: the cache then
     * ends where its last extent does) */
    size_t total = 0;
    for (unsigned k = 0; k < np && total < MAX_EXTENTS; k++) {
      total += VD_MIN (parts[k].n, MAX_EXTENTS - total);
      if (parts[k].got < parts[k].end - parts[k].start)
        break;
    }
    struct extent *e = total ? malloc (total * sizeof *e) : NULL;
    if (total && !e)
      r = vd__error (VD_ENOMEM, errno, "%s: extent cache", nio->io.name);
    else {
      free (nio->ext);
      nio->ext = e;
      nio->next = 0;
      nio->ext_start = pos;
      nio->ext_end = pos;
      for (unsigned i = 0; i < np && nio->next < total; i++) {
        size_t j;
        for (j = 0; j < parts[i].n && nio->next < total; j++)
          nio->ext[nio->next++] = parts[i].e[j];
        if (j < parts[i].n) {           /* cut at the cap */
          nio->ext_end = parts[i].e[j - 1].off + parts[i].e[j - 1].len;
          break;
        }
        nio->ext_end = parts[i].start + parts[i].got;
        if (parts[i].got < parts[i].end - parts[i].start)
          break;
      }
    }
  }
  for (unsigned i = 0; i < BS_PARALLEL; i++)
    free (parts[i].e);
  return r;
}

/* SEEK_DATA / SEEK_HOLE through NBD block status (zero reads as a hole,
 * for the flat driver's map). */
int
vd__nbdio_seek_data (struct vd_io *io, uint64_t off, int hole, uint64_t *result)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  uint64_t pos = off;
  int r = 0;

  if (!nio->has_bs)
    return VD_ENOTSUP;
  pthread_mutex_lock (&nio->mu);
  if (nio->n_wb) {
    /* writes in flight: the server's answer could be older than them;
     * "data" is always right (and a writer need not wait) */
    vd__nbd_unlock (nio);
    return VD_ENOTSUP;
  }
  while (pos < nio->size) {
    if (pos < nio->ext_start || pos >= nio->ext_end) {
      r = cache_fill (nio, pos);
      if (r < 0)
        break;
      if (nio->ext_end <= pos) {        /* no progress: say "data" */
        r = VD_ENOTSUP;
        break;
      }
    }
    for (size_t i = ext_find (nio, pos); i < nio->next; i++) {
      const struct extent *x = &nio->ext[i];
      if (x->zero == hole) {
        *result = VD_MAX (x->off, off);
        goto out;
      }
    }
    pos = nio->ext_end;
  }
  if (r == 0)
    *result = hole ? nio->size : UINT64_MAX;
out:
  vd__nbd_unlock (nio);
  return r;
}

#endif /* VD_HAVE_LIBNBD */
