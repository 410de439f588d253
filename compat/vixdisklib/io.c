/* libvixDiskLib I/O: Read and Write, the asynchronous requests and their
 * worker threads (started with the first request, never earlier), Wait,
 * Flush, QueryAllocatedBlocks and QueryChangedAreas.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vix.h"

/* ---- I/O ------------------------------------------------------------- */

/* Check a sector range; set *offset and *count in bytes. */
static VixError
check_range (struct VixDiskLibHandleStruct *h, const char *func,
             VixDiskLibSectorType start, VixDiskLibSectorType num,
             const void *buf, uint64 *offset, size_t *count)
{
  if (!buf && num)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: buffer is NULL",
                      vd_disk_get_path (h->disk));
  if (start > h->capacity || num > h->capacity - start)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: sectors %llu+%llu are beyond the capacity of "
                      "%llu sectors", vd_disk_get_path (h->disk),
                      (unsigned long long) start, (unsigned long long) num,
                      (unsigned long long) h->capacity);
  if (num > SIZE_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: %llu sectors is too "
                      "many for one request", vd_disk_get_path (h->disk),
                      (unsigned long long) num);
  *offset = start * VIXDISKLIB_SECTOR_SIZE;
  *count = (size_t) num * VIXDISKLIB_SECTOR_SIZE;
  return VIX_OK;
}

static VixError
do_io (struct VixDiskLibHandleStruct *h, const char *func, int is_write,
       uint8 *buf, size_t count, uint64 offset)
{
  int rc;

  if (count == 0)
    return VIX_OK;
  rc = is_write ? vd_disk_write (h->disk, buf, count, offset)
    : vd_disk_read (h->disk, buf, count, offset);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

VIX_API VixError
VixDiskLib_Read (VixDiskLibHandle diskHandle, VixDiskLibSectorType startSector,
                 VixDiskLibSectorType numSectors, uint8 *readBuffer)
{
  const char *func = "VixDiskLib_Read";
  VixError err = vix_check_handle (diskHandle, func);
  uint64 offset;
  size_t count;

  if (err != VIX_OK)
    return err;
  err = check_range (diskHandle, func, startSector, numSectors, readBuffer,
                     &offset, &count);
  if (err != VIX_OK)
    return err;
  return do_io (diskHandle, func, 0, readBuffer, count, offset);
}

VIX_API VixError
VixDiskLib_Write (VixDiskLibHandle diskHandle,
                  VixDiskLibSectorType startSector,
                  VixDiskLibSectorType numSectors, const uint8 *writeBuffer)
{
  const char *func = "VixDiskLib_Write";
  VixError err = vix_check_handle (diskHandle, func);
  uint64 offset;
  size_t count;

  if (err != VIX_OK)
    return err;
  if (diskHandle->vs)   /* vSphere (vsphere.c) */
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: writing to a vSphere "
                      "disk is not supported: the datastore file service "
                      "has no ranged writes, so vdisk opens its disks "
                      "read-only (VixDiskLib_Clone uploads a whole disk)",
                      vd_disk_get_path (diskHandle->disk));
  err = check_range (diskHandle, func, startSector, numSectors, writeBuffer,
                     &offset, &count);
  if (err != VIX_OK)
    return err;
  return do_io (diskHandle, func, 1, (uint8 *) writeBuffer, count, offset);
}

static void
run_request (struct VixDiskLibHandleStruct *h, struct aio_req *r)
{
  VixError err = do_io (h, r->is_write ? "VixDiskLib_WriteAsync"
                        : "VixDiskLib_ReadAsync", r->is_write, r->buf,
                        r->count, r->offset);
  if (r->cb)
    r->cb (r->cb_data, err);
  free (r);
}

static void
request_done (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&h->lock);
  if (--h->pending == 0)
    pthread_cond_broadcast (&h->idle_cond);
  pthread_mutex_unlock (&h->lock);
}

static void *
aio_worker (void *arg)
{
  struct VixDiskLibHandleStruct *h = arg;
  struct aio_req *r;

  pthread_mutex_lock (&h->lock);
  for (;;) {
    while (!h->head && !h->stopping)
      pthread_cond_wait (&h->work_cond, &h->lock);
    if (!h->head)
      break;                    /* stopping, queue drained */
    r = h->head;
    h->head = r->next;
    if (!h->head)
      h->tail = NULL;
    pthread_mutex_unlock (&h->lock);
    run_request (h, r);
    pthread_mutex_lock (&h->lock);
    if (--h->pending == 0)
      pthread_cond_broadcast (&h->idle_cond);
  }
  pthread_mutex_unlock (&h->lock);
  return NULL;
}

void
vix_wait_idle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&h->lock);
  while (h->pending > 0)
    pthread_cond_wait (&h->idle_cond, &h->lock);
  pthread_mutex_unlock (&h->lock);
}

static VixError
queue_io (VixDiskLibHandle diskHandle, const char *func, int is_write,
          VixDiskLibSectorType start, VixDiskLibSectorType num,
          uint8 *buf, VixDiskLibCompletionCB cb, void *cb_data)
{
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  struct aio_req *r;
  uint64 offset;
  size_t count;
  int inline_run = 0;

  if (err != VIX_OK)
    return err;
  err = check_range (h, func, start, num, buf, &offset, &count);
  if (err != VIX_OK)
    return err;
  if (is_write && vd_disk_is_read_only (h->disk))
    return vix_error (VIX_E_FILE_READ_ONLY, func,
                      "%s: the disk was opened read-only",
                      vd_disk_get_path (h->disk));
  r = calloc (1, sizeof *r);
  if (!r)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot queue the request");
  r->is_write = is_write;
  r->offset = offset;
  r->count = count;
  r->buf = buf;
  r->cb = cb;
  r->cb_data = cb_data;

  if (h->stream_writer) {
    /* A stream is written front to back: run its requests here, in the
     * order they are queued (the callback still runs once). */
    pthread_mutex_lock (&h->lock);
    h->pending++;
    pthread_mutex_unlock (&h->lock);
    run_request (h, r);
    request_done (h);
    return VIX_ASYNC;
  }
  pthread_mutex_lock (&h->lock);
  /* Threads start with the first asynchronous request, never earlier. */
  while (h->nthreads < AIO_THREADS && !h->stopping) {
    if (pthread_create (&h->threads[h->nthreads], NULL, aio_worker, h) != 0)
      break;
    h->nthreads++;
  }
  h->pending++;
  if (h->nthreads == 0)
    inline_run = 1;             /* no thread could start: run it here */
  else {
    if (h->tail)
      h->tail->next = r;
    else
      h->head = r;
    h->tail = r;
    pthread_cond_signal (&h->work_cond);
  }
  pthread_mutex_unlock (&h->lock);

  if (inline_run) {
    vix_log (LOG_WARN, "VixDiskLib: %s: no worker thread could be started; "
             "running the request synchronously\n", func);
    run_request (h, r);
    request_done (h);
  }
  return VIX_ASYNC;
}

VIX_API VixError
VixDiskLib_ReadAsync (VixDiskLibHandle diskHandle,
                      VixDiskLibSectorType startSector,
                      VixDiskLibSectorType numSectors, uint8 *readBuffer,
                      VixDiskLibCompletionCB callback, void *cbData)
{
  return queue_io (diskHandle, "VixDiskLib_ReadAsync", 0, startSector,
                   numSectors, readBuffer, callback, cbData);
}

VIX_API VixError
VixDiskLib_WriteAsync (VixDiskLibHandle diskHandle,
                       VixDiskLibSectorType startSector,
                       VixDiskLibSectorType numSectors,
                       const uint8 *writeBuffer,
                       VixDiskLibCompletionCB callback, void *cbData)
{
  return queue_io (diskHandle, "VixDiskLib_WriteAsync", 1, startSector,
                   numSectors, (uint8 *) writeBuffer, callback, cbData);
}

VIX_API VixError
VixDiskLib_Wait (VixDiskLibHandle diskHandle)
{
  VixError err = vix_check_handle (diskHandle, "VixDiskLib_Wait");

  if (err != VIX_OK)
    return err;
  vix_wait_idle (diskHandle);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Flush (VixDiskLibHandle diskHandle)
{
  const char *func = "VixDiskLib_Flush";
  VixError err = vix_check_handle (diskHandle, func);
  int rc;

  if (err != VIX_OK)
    return err;
  /* Flush covers every write that completed, including queued ones. */
  vix_wait_idle (diskHandle);
  if (vd_disk_is_read_only (diskHandle->disk))
    return VIX_OK;
  rc = vd_disk_flush (diskHandle->disk);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* ---- allocated blocks ------------------------------------------------ */

struct blocks_ctx {
  uint64 chunk;                 /* bytes */
  uint64 end;                   /* bytes, end of the query */
  VixDiskLibBlock *v;
  size_t n, cap;
  int oom;
};

static int
blocks_cb (uint64_t offset, uint64_t length, uint32_t status, void *payload)
{
  struct blocks_ctx *c = payload;
  uint64 first, last;           /* chunk-aligned byte range */

  /* Zeroed grains and holes read as zeros: only DATA is allocated. */
  if (status != VD_STATUS_DATA || length == 0)
    return 0;
  first = offset / c->chunk * c->chunk;
  last = (offset + length + c->chunk - 1) / c->chunk * c->chunk;
  if (last > c->end)
    last = c->end;
  first /= VIXDISKLIB_SECTOR_SIZE;
  last /= VIXDISKLIB_SECTOR_SIZE;
  if (c->n > 0 && c->v[c->n - 1].offset + c->v[c->n - 1].length >= first) {
    VixDiskLibBlock *b = &c->v[c->n - 1];
    if (last > b->offset + b->length)
      b->length = last - b->offset;
    return 0;
  }
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 64;
    VixDiskLibBlock *nv = realloc (c->v, ncap * sizeof *nv);
    if (!nv) {
      c->oom = 1;
      return 1;
    }
    c->v = nv;
    c->cap = ncap;
  }
  c->v[c->n].offset = first;
  c->v[c->n].length = last - first;
  c->n++;
  return 0;
}

VIX_API VixError
VixDiskLib_QueryAllocatedBlocks (VixDiskLibHandle diskHandle,
                                 VixDiskLibSectorType startSector,
                                 VixDiskLibSectorType numSectors,
                                 VixDiskLibSectorType chunkSize,
                                 VixDiskLibBlockList **blockList)
{
  const char *func = "VixDiskLib_QueryAllocatedBlocks";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  struct blocks_ctx c;
  VixDiskLibBlockList *list;
  const char *path;
  size_t i;
  int rc;

  if (err != VIX_OK)
    return err;
  path = vd_disk_get_path (h->disk);
  if (!blockList)
    return vix_error (VIX_E_INVALID_ARG, func, "output pointer is NULL");
  *blockList = NULL;
  if (chunkSize < VIXDISKLIB_MIN_CHUNK_SIZE
      || chunkSize > VIXDISKLIB_MAX_CHUNK_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: chunk size %llu sectors is outside %d..%d",
                      path, (unsigned long long) chunkSize,
                      VIXDISKLIB_MIN_CHUNK_SIZE, VIXDISKLIB_MAX_CHUNK_SIZE);
  if (startSector % chunkSize != 0 || numSectors % chunkSize != 0)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: start sector %llu and sector count %llu must be "
                      "multiples of the chunk size %llu", path,
                      (unsigned long long) startSector,
                      (unsigned long long) numSectors,
                      (unsigned long long) chunkSize);
  if (numSectors / chunkSize > VIXDISKLIB_MAX_CHUNK_NUMBER)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: %llu chunks in one query; the limit is %d", path,
                      (unsigned long long) (numSectors / chunkSize),
                      VIXDISKLIB_MAX_CHUNK_NUMBER);
  /* Callers query whole chunks: the last one may run past a capacity
   * that is not a multiple of the chunk size (nbdkit's vddk plugin rounds
   * its last request up).  A range that ends less than one chunk past the
   * capacity is answered up to the capacity; one that starts at or past
   * the capacity, or runs a whole chunk or more past it, is refused. */
  if (numSectors > 0
      && (startSector >= h->capacity
          || numSectors > h->capacity - startSector + (chunkSize - 1)))
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: sectors %llu+%llu are beyond the capacity of "
                      "%llu sectors (a query may run past it by less than "
                      "one chunk of %llu sectors)", path,
                      (unsigned long long) startSector,
                      (unsigned long long) numSectors,
                      (unsigned long long) h->capacity,
                      (unsigned long long) chunkSize);
  if (startSector > h->capacity)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: start sector %llu is beyond the capacity of "
                      "%llu sectors", path, (unsigned long long) startSector,
                      (unsigned long long) h->capacity);
  if (numSectors > h->capacity - startSector)
    numSectors = h->capacity - startSector;   /* clip the last chunk */

  memset (&c, 0, sizeof c);
  c.chunk = chunkSize * VIXDISKLIB_SECTOR_SIZE;
  c.end = (startSector + numSectors) * VIXDISKLIB_SECTOR_SIZE;
  if (numSectors > 0) {
    rc = vd_disk_block_status (h->disk, startSector * VIXDISKLIB_SECTOR_SIZE,
                               numSectors * VIXDISKLIB_SECTOR_SIZE,
                               blocks_cb, &c);
    if (c.oom) {
      free (c.v);
      return vix_error (VIX_E_OUT_OF_MEMORY, func,
                        "%s: cannot allocate the block list", path);
    }
    if (rc < 0) {
      free (c.v);
      return vd_to_vix (rc, func);
    }
  }

  list = malloc (offsetof (VixDiskLibBlockList, blocks)
                 + (c.n ? c.n : 1) * sizeof (VixDiskLibBlock));
  if (!list) {
    free (c.v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "%s: cannot allocate the block list", path);
  }
  list->numBlocks = (uint32) c.n;
  for (i = 0; i < c.n; i++)
    list->blocks[i] = c.v[i];
  free (c.v);
  *blockList = list;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_FreeBlockList (VixDiskLibBlockList *blockList)
{
  free (blockList);
  return VIX_OK;
}

struct areas_ctx {
  VixDiskLibBlock *v;
  uint32 n, cap;
  int nomem;
};

static int
area_cb (uint64_t off, uint64_t len, void *payload)
{
  struct areas_ctx *c = payload;
  if (c->n == c->cap) {
    uint32 cap = c->cap ? c->cap * 2 : 64;
    VixDiskLibBlock *nv = cap > c->cap ? realloc (c->v, cap * sizeof *nv) : NULL;
    if (!nv) {
      c->nomem = 1;
      return 1;
    }
    c->v = nv;
    c->cap = cap;
  }
  /* whole sectors covering the area */
  c->v[c->n].offset = off / VIXDISKLIB_SECTOR_SIZE;
  c->v[c->n].length = (off + len + VIXDISKLIB_SECTOR_SIZE - 1)
                      / VIXDISKLIB_SECTOR_SIZE - off / VIXDISKLIB_SECTOR_SIZE;
  c->n++;
  return 0;
}

/* The areas written since params->changeId, from vdisk's changed block
 * tracking (vd_disk_query_changed_areas; "*" lists every allocated area).
 * An ID of another tracking epoch is VIX_E_FILE_ERROR, as VMware's
 * FileFault: the caller takes a full copy. */
VIX_API VixError
VixDiskLib_QueryChangedAreas (VixDiskLibHandle diskHandle,
                              const VixDiskLibQueryChangedAreaParams *params,
                              VixDiskLibDiskChangeInfo **changeInfo)
{
  const char *func = "VixDiskLib_QueryChangedAreas";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  struct areas_ctx c = { NULL, 0, 0, 0 };
  if (changeInfo)
    *changeInfo = NULL;
  if (err != VIX_OK)
    return err;
  if (!params || !params->changeId || !changeInfo)
    return vix_error (VIX_E_INVALID_ARG, func, "parameters, change ID or "
                      "output pointer is NULL");
  if (params->startOffset > h->capacity)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func, "%s: start sector %llu is "
                      "beyond the capacity of %llu sectors",
                      vd_disk_get_path (h->disk),
                      (unsigned long long) params->startOffset,
                      (unsigned long long) h->capacity);
  if (h->vs)            /* vSphere: QueryChangedDiskAreas (vsphere.c) */
    return vix_vsphere_changed_areas (h, params, changeInfo);
  VixDiskLibSectorType len = params->length ? params->length
                             : h->capacity - params->startOffset;
  if (len > h->capacity - params->startOffset)
    len = h->capacity - params->startOffset;
  int rc = vd_disk_query_changed_areas (h->disk, params->changeId,
                                        params->startOffset
                                        * VIXDISKLIB_SECTOR_SIZE,
                                        len * VIXDISKLIB_SECTOR_SIZE,
                                        area_cb, &c);
  if (rc == 0 && c.nomem)
    rc = VD_ENOMEM;
  if (rc < 0) {
    free (c.v);
    if (rc == VD_EPARENT || rc == VD_ENOENT)
      return vix_error (VIX_E_FILE_ERROR, func, "%s",
                        vd_last_error ()->message);
    return vd_to_vix (rc, func);
  }
  VixDiskLibDiskChangeInfo *ci = calloc (1, sizeof *ci);
  if (!ci) {
    free (c.v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "change info");
  }
  ci->startOffset = params->startOffset;
  ci->length = len;
  ci->numAreas = c.n;
  ci->areas = c.v;
  *changeInfo = ci;
  return VIX_OK;
}

VIX_API void
VixDiskLib_FreeChangedAreas (VixDiskLibDiskChangeInfo *changeInfo)
{
  if (!changeInfo)
    return;
  free (changeInfo->areas);
  free (changeInfo);
}
