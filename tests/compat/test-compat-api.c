/* Every VixDiskLib entry point and its error paths, through the
 * compatibility library (linked with -lvixDiskLib, as a VDDK program is).
 * TAP output.  Expected values come from first principles: what the test
 * wrote, VDDK's documented rules (chunk alignment, size protocol) and the
 * numbers of VDDK's ABI. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vdisk/vixDiskLib.h"

static int n_test, n_failed;

static void
ok (int cond, const char *fmt, ...)
{
  va_list ap;

  n_test++;
  if (!cond)
    n_failed++;
  printf ("%s %d - ", cond ? "ok" : "not ok", n_test);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* err has code want, and its text explains it (not "Unknown error"); if
 * needle is given the text contains it. */
static void
is_err (VixError err, VixError want, const char *needle, const char *what)
{
  char *text = VixDiskLib_GetErrorText (err, NULL);
  int good = VIX_ERROR_CODE (err) == want && text
    && !strstr (text, "Unknown error")
    && (!needle || strstr (text, needle));

  ok (good, "%s: error %llu (want %llu): %s", what,
      (unsigned long long) err, (unsigned long long) want,
      text ? text : "(null)");
  VixDiskLib_FreeErrorText (text);
}

static void
is_ok (VixError err, const char *what)
{
  char *text = VIX_FAILED (err) ? VixDiskLib_GetErrorText (err, NULL) : NULL;

  ok (err == VIX_OK, "%s%s%s", what, text ? ": " : "", text ? text : "");
  VixDiskLib_FreeErrorText (text);
}

static int log_lines;

static void
test_log (const char *fmt, va_list ap)
{
  char buf[1024];

  vsnprintf (buf, sizeof buf, fmt, ap);
  log_lines++;
}

static void
test_warn (const char *fmt, va_list ap)
{
  test_log (fmt, ap);
}

static void
fill_pattern (uint8 *buf, uint64 sector, uint64 n)
{
  uint64 i;

  for (i = 0; i < n * 512; i++)
    buf[i] = (uint8) ((sector * 512 + i) * 2654435761u >> 13);
}

/* ---- asynchronous I/O from several threads --------------------------- */

#define ATHREADS 4
#define AREQ 32
#define ASECT 8

struct acount {
  pthread_mutex_t lock;
  int done, errors;
  int other_thread;
  pthread_t main;
};

static void
acb (void *data, VixError result)
{
  struct acount *c = data;

  pthread_mutex_lock (&c->lock);
  c->done++;
  if (result != VIX_OK)
    c->errors++;
  if (!pthread_equal (pthread_self (), c->main))
    c->other_thread = 1;
  pthread_mutex_unlock (&c->lock);
}

struct athread {
  VixDiskLibHandle h;
  int id;
  int is_write;
  struct acount *c;
  uint8 *buf;                   /* AREQ * ASECT sectors */
  int not_async;
};

static void *
athread_fn (void *arg)
{
  struct athread *t = arg;
  uint64 base = 4096 + (uint64) t->id * 1024;
  int i;

  for (i = 0; i < AREQ; i++) {
    uint8 *b = t->buf + (size_t) i * ASECT * 512;
    VixError e = t->is_write
      ? VixDiskLib_WriteAsync (t->h, base + (uint64) i * ASECT, ASECT, b,
                               acb, t->c)
      : VixDiskLib_ReadAsync (t->h, base + (uint64) i * ASECT, ASECT, b,
                              acb, t->c);
    if (e != VIX_ASYNC)
      t->not_async++;
  }
  return NULL;
}

static void
async_round (VixDiskLibHandle h, int is_write, uint8 *bufs[ATHREADS],
             struct acount *c)
{
  pthread_t th[ATHREADS];
  struct athread t[ATHREADS];
  int i, not_async = 0;

  memset (c, 0, sizeof *c);
  pthread_mutex_init (&c->lock, NULL);
  c->main = pthread_self ();
  for (i = 0; i < ATHREADS; i++) {
    t[i].h = h;
    t[i].id = i;
    t[i].is_write = is_write;
    t[i].c = c;
    t[i].buf = bufs[i];
    t[i].not_async = 0;
    pthread_create (&th[i], NULL, athread_fn, &t[i]);
  }
  for (i = 0; i < ATHREADS; i++) {
    pthread_join (th[i], NULL);
    not_async += t[i].not_async;
  }
  is_ok (VixDiskLib_Wait (h), is_write ? "Wait after WriteAsync"
         : "Wait after ReadAsync");
  ok (not_async == 0, "every %s returned VIX_ASYNC",
      is_write ? "WriteAsync" : "ReadAsync");
  ok (c->done == ATHREADS * AREQ && c->errors == 0,
      "all %d callbacks ran before Wait returned (%d ran, %d errors)",
      ATHREADS * AREQ, c->done, c->errors);
  ok (c->other_thread, "callbacks ran on a worker thread");
}

/* ---- open/close from several threads --------------------------------- */

struct oc_arg {
  VixDiskLibConnection conn;
  const char *path;
  int failures;
};

static void *
oc_fn (void *arg)
{
  struct oc_arg *a = arg;
  int i;

  for (i = 0; i < 20; i++) {
    VixDiskLibHandle h = NULL;
    uint8 buf[512];
    if (VixDiskLib_Open (a->conn, a->path, VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                         &h) != VIX_OK
        || VixDiskLib_Read (h, 0, 1, buf) != VIX_OK)
      a->failures++;
    if (h && VixDiskLib_Close (h) != VIX_OK)
      a->failures++;
  }
  return NULL;
}

static Bool
progress_cb (void *data, int pct)
{
  int *last = data;

  if (pct < *last || pct > 100)
    *last = 1000;               /* marks a bad sequence */
  else
    *last = pct;
  return TRUE;
}

static Bool
cancel_cb (void *data, int pct)
{
  (void) data;
  (void) pct;
  return FALSE;
}

int
main (void)
{
  char dir[] = "/tmp/vix-api.XXXXXX";
  char disk[256], disk2[256], clone[256], clone2[256], missing[256];
  VixDiskLibConnectParams *cp, *got = NULL;
  VixDiskLibConnection conn = NULL, conn2 = NULL;
  VixDiskLibHandle h = NULL, h2 = NULL;
  VixDiskLibCreateParams create;
  VixDiskLibInfo *info = NULL;
  VixDiskLibBlockList *bl = NULL;
  VixError err;
  uint8 *wbuf, *rbuf, *abufs[ATHREADS], *rbufs[ATHREADS];
  struct acount c;
  size_t need;
  char small[4], *keys, meta[64];
  uint32 cleaned = 9, remaining = 9;
  uint64 space;
  int i;

  if (!mkdtemp (dir)) {
    perror ("mkdtemp");
    return 1;
  }
  snprintf (disk, sizeof disk, "%s/disk.vmdk", dir);
  snprintf (disk2, sizeof disk2, "%s/other.vmdk", dir);
  snprintf (clone, sizeof clone, "%s/clone.vmdk", dir);
  snprintf (clone2, sizeof clone2, "%s/cancelled.vmdk", dir);
  snprintf (missing, sizeof missing, "%s/missing.vmdk", dir);
  wbuf = malloc (256 * 512);
  rbuf = malloc (256 * 512);

  /* --- library and connections --- */
  err = VixDiskLib_Connect (NULL, &conn);
  is_err (err, VIX_E_DISK_NOINIT, "Init", "Connect before Init");
  is_ok (VixDiskLib_InitEx (6, 5, test_log, test_warn, NULL, NULL, NULL),
         "InitEx with log and warn callbacks, NULL panic");
  is_ok (VixDiskLib_Init (8, 0, NULL, NULL, NULL, NULL),
         "Init again with NULL callbacks (refcounted)");
  VixDiskLib_Exit ();
  ok (strstr (VixDiskLib_ListTransportModes (), "file") != NULL,
      "ListTransportModes includes file");

  cp = VixDiskLib_AllocateConnectParams ();
  ok (cp && !cp->serverName && !cp->vmxSpec && cp->credType == 0,
      "AllocateConnectParams returns zeroed params");
  cp->vmxSpec = (char *) "moref=vm-1";
  is_ok (VixDiskLib_ConnectEx (cp, FALSE, NULL, NULL, &conn),
         "ConnectEx local (no serverName)");
  is_ok (VixDiskLib_GetConnectParams (conn, &got), "GetConnectParams");
  ok (got && got->vmxSpec && !strcmp (got->vmxSpec, "moref=vm-1")
      && got->vmxSpec != cp->vmxSpec && !got->serverName,
      "GetConnectParams gives a copy");
  VixDiskLib_FreeConnectParams (got);
  is_ok (VixDiskLib_PrepareForAccess (cp, "test"), "PrepareForAccess local");
  is_ok (VixDiskLib_EndAccess (cp, "test"), "EndAccess local");
  is_ok (VixDiskLib_Cleanup (cp, &cleaned, &remaining), "Cleanup local");
  ok (cleaned == 0 && remaining == 0, "Cleanup reports 0/0");

  /* vmxSpec "moref=" sends a server connection to vSphere: nothing
   * listens on loopback port 1 */
  cp->serverName = (char *) "127.0.0.1";
  cp->port = 1;
  cp->credType = VIXDISKLIB_CRED_UID;
  cp->creds.uid.userName = (char *) "root";
  cp->creds.uid.password = (char *) "secret";
  err = VixDiskLib_Connect (cp, &conn2);
  is_err (err, VIX_E_HOST_NETWORK_CONN_REFUSED, "127.0.0.1",
          "Connect to a vSphere server that is not there");
  ok (conn2 == NULL, "no connection returned on failure");
  is_err (VixDiskLib_PrepareForAccess (cp, "test"),
          VIX_E_HOST_NETWORK_CONN_REFUSED, "connect",
          "PrepareForAccess remote");
  is_err (VixDiskLib_Cleanup (cp, NULL, NULL),
          VIX_E_HOST_NETWORK_CONN_REFUSED, NULL, "Cleanup remote");
  cp->port = 0;
  cp->serverName = NULL;
  cp->credType = 0;
  cp->creds.uid.userName = cp->creds.uid.password = NULL;
  VixDiskLib_FreeConnectParams (cp);
  is_err (VixDiskLib_ConnectEx (NULL, TRUE, "snapshot-1", NULL, &conn2),
          VIX_E_NOT_SUPPORTED, "snapshot-1", "ConnectEx with a snapshot");

  /* --- create --- */
  memset (&create, 0, sizeof create);
  create.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  create.adapterType = VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
  create.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;
  create.capacity = 32768;      /* 16 MiB */
  is_ok (VixDiskLib_Create (conn, disk, &create, NULL, NULL), "Create");
  is_err (VixDiskLib_Create (conn, disk, &create, NULL, NULL),
          VIX_E_FILE_ALREADY_EXISTS, "disk.vmdk", "Create over an existing disk");
  {
    /* The text speaks VDDK, not the CLI. */
    char *t = VixDiskLib_GetErrorText (VIX_E_FILE_ALREADY_EXISTS, NULL);
    ok (t && strstr (t, "VixDiskLib_Unlink") && !strstr (t, "--")
        && !strstr (t, "VD_CREATE"), "Create over an existing disk: the "
        "hint names VDDK calls, no CLI option: %s", t ? t : "(null)");
    VixDiskLib_FreeErrorText (t);
  }
  create.diskType = (VixDiskLibDiskType) 77;
  is_err (VixDiskLib_Create (conn, disk2, &create, NULL, NULL),
          VIX_E_INVALID_ARG, "disk type 77", "Create with a bad disk type");
  create.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  create.logicalSectorSize = 4096;
  is_err (VixDiskLib_Create (conn, disk2, &create, NULL, NULL),
          VIX_E_NOT_SUPPORTED, "512", "Create with 4K sectors");
  create.logicalSectorSize = 0;
  is_err (VixDiskLib_Create (NULL, disk2, &create, NULL, NULL),
          VIX_E_DISK_INVALID_CONNECTION, NULL, "Create without a connection");

  /* --- open --- */
  is_err (VixDiskLib_Open (conn, missing, 0, &h), VIX_E_FILE_NOT_FOUND,
          "missing.vmdk", "Open a missing disk");
  ok (h == NULL, "no handle on failure");
  is_err (VixDiskLib_Open (NULL, disk, 0, &h),
          VIX_E_DISK_INVALID_CONNECTION, NULL, "Open with a NULL connection");
  is_ok (VixDiskLib_Open (conn, disk, VIXDISKLIB_FLAG_OPEN_UNBUFFERED, &h),
         "Open read-write (UNBUFFERED accepted)");
  is_err (VixDiskLib_Open (conn, disk, 0, &h2), VIX_E_FILE_ALREADY_LOCKED,
          NULL, "second read-write Open is refused (locked)");
  if (h2) {
    VixDiskLib_Close (h2);
    h2 = NULL;
  }
  ok (!strcmp (VixDiskLib_GetTransportMode (h), "file"),
      "GetTransportMode is file");
  is_ok (VixDiskLib_GetInfo (h, &info), "GetInfo");
  ok (info && info->capacity == 32768 && info->numLinks == 1
      && info->adapterType == VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC
      && info->logicalSectorSize == 512 && info->physicalSectorSize == 512
      && info->physGeo.heads > 0 && info->biosGeo.sectors > 0
      && info->parentFileNameHint == NULL,
      "GetInfo: capacity %llu, links %d, adapter %d, geometry %u/%u/%u",
      info ? (unsigned long long) info->capacity : 0ULL,
      info ? info->numLinks : -1, info ? (int) info->adapterType : -1,
      info ? info->physGeo.cylinders : 0, info ? info->physGeo.heads : 0,
      info ? info->physGeo.sectors : 0);
  VixDiskLib_FreeInfo (info);
  VixDiskLib_FreeInfo (NULL);

  /* --- synchronous I/O --- */
  fill_pattern (wbuf, 0, 128);
  is_ok (VixDiskLib_Write (h, 0, 128, wbuf), "Write sectors 0..127");
  fill_pattern (wbuf + 128 * 512, 1000, 2);
  is_ok (VixDiskLib_Write (h, 1000, 2, wbuf + 128 * 512),
         "Write sectors 1000..1001");
  is_ok (VixDiskLib_Read (h, 0, 128, rbuf), "Read sectors 0..127");
  ok (!memcmp (wbuf, rbuf, 128 * 512), "read back what was written");
  is_ok (VixDiskLib_Read (h, 1000, 2, rbuf), "Read sectors 1000..1001");
  ok (!memcmp (wbuf + 128 * 512, rbuf, 2 * 512), "read back sectors 1000..1001");
  is_ok (VixDiskLib_Read (h, 20000, 1, rbuf), "Read a never-written sector");
  for (i = 0; i < 512 && rbuf[i] == 0; i++)
    ;
  ok (i == 512, "never-written sector reads as zeros");
  is_err (VixDiskLib_Read (h, 32767, 2, rbuf), VIX_E_DISK_OUTOFRANGE,
          "32768", "Read past the capacity");
  is_err (VixDiskLib_Write (h, 40000, 1, wbuf), VIX_E_DISK_OUTOFRANGE,
          NULL, "Write past the capacity");
  is_err (VixDiskLib_Read (h, 0, 1, NULL), VIX_E_INVALID_ARG, "NULL",
          "Read into NULL");
  is_err (VixDiskLib_Read (NULL, 0, 1, rbuf), VIX_E_INVALID_ARG, "handle",
          "Read on a NULL handle");

  /* --- asynchronous I/O from several threads --- */
  for (i = 0; i < ATHREADS; i++) {
    abufs[i] = malloc (AREQ * ASECT * 512);
    rbufs[i] = calloc (1, AREQ * ASECT * 512);
    fill_pattern (abufs[i], 4096 + (uint64) i * 1024, AREQ * ASECT);
  }
  async_round (h, 1, abufs, &c);
  is_ok (VixDiskLib_Flush (h), "Flush after async writes");
  async_round (h, 0, rbufs, &c);
  for (i = 0; i < ATHREADS; i++)
    if (memcmp (abufs[i], rbufs[i], AREQ * ASECT * 512))
      break;
  ok (i == ATHREADS, "ReadAsync returns what WriteAsync wrote");
  memset (&c, 0, sizeof c);
  pthread_mutex_init (&c.lock, NULL);
  err = VixDiskLib_ReadAsync (h, 32760, 16, rbuf, acb, &c);
  is_err (err, VIX_E_DISK_OUTOFRANGE, NULL, "ReadAsync past the capacity");
  VixDiskLib_Wait (h);
  ok (c.done == 0, "no callback for a request that was not queued");
  err = VixDiskLib_ReadAsync (h, 0, 1, rbuf, NULL, NULL);
  ok (err == VIX_ASYNC, "ReadAsync with no callback is accepted");
  is_ok (VixDiskLib_Wait (h), "Wait");

  /* --- allocated blocks: written ranges, widened to 128-sector chunks --- */
  is_ok (VixDiskLib_QueryAllocatedBlocks (h, 0, 32768, 128, &bl),
         "QueryAllocatedBlocks over the whole disk");
  {
    static const uint64 want[][2] = {
      { 0, 128 }, { 896, 128 }, { 4096, 256 }, { 5120, 256 },
      { 6144, 256 }, { 7168, 256 },
    };
    int good = bl && bl->numBlocks == 6;
    uint32 b;
    for (b = 0; good && b < 6; b++)
      good = bl->blocks[b].offset == want[b][0]
        && bl->blocks[b].length == want[b][1];
    ok (good, "allocated blocks are the written chunks (%u blocks)",
        bl ? bl->numBlocks : 0);
    if (bl)
      for (b = 0; b < bl->numBlocks; b++)
        printf ("# block %llu+%llu\n",
                (unsigned long long) bl->blocks[b].offset,
                (unsigned long long) bl->blocks[b].length);
  }
  is_ok (VixDiskLib_FreeBlockList (bl), "FreeBlockList");
  bl = NULL;
  is_ok (VixDiskLib_QueryAllocatedBlocks (h, 0, 128, 128, &bl),
         "QueryAllocatedBlocks probe (0, 128, 128) as nbdkit does");
  ok (bl && bl->numBlocks == 1 && bl->blocks[0].offset == 0
      && bl->blocks[0].length == 128, "probe finds the first chunk");
  VixDiskLib_FreeBlockList (bl);
  bl = NULL;
  is_ok (VixDiskLib_QueryAllocatedBlocks (h, 8192, 1024, 256, &bl),
         "QueryAllocatedBlocks over an empty range, chunk 256");
  ok (bl && bl->numBlocks == 0, "no blocks in an unwritten range");
  VixDiskLib_FreeBlockList (bl);
  bl = NULL;
  is_err (VixDiskLib_QueryAllocatedBlocks (h, 1, 128, 128, &bl),
          VIX_E_INVALID_ARG, "multiples", "unaligned start refused");
  is_err (VixDiskLib_QueryAllocatedBlocks (h, 0, 200, 128, &bl),
          VIX_E_INVALID_ARG, "multiples", "unaligned length refused");
  is_err (VixDiskLib_QueryAllocatedBlocks (h, 0, 128, 64, &bl),
          VIX_E_INVALID_ARG, "chunk size", "chunk below the minimum refused");
  is_err (VixDiskLib_QueryAllocatedBlocks (h, 0,
                                           (VIXDISKLIB_MAX_CHUNK_NUMBER + 1)
                                           * 128ULL, 128, &bl),
          VIX_E_INVALID_ARG, "chunks", "more than MAX_CHUNK_NUMBER chunks refused");
  is_err (VixDiskLib_QueryAllocatedBlocks (h, 32768, 128, 128, &bl),
          VIX_E_DISK_OUTOFRANGE, NULL, "range past the capacity refused");
  ok (bl == NULL, "no list on failure");

  /* --- metadata --- */
  err = VixDiskLib_GetMetadataKeys (h, NULL, 0, &need);
  ok (err == VIX_E_BUFFER_TOOSMALL && need > 1,
      "GetMetadataKeys size call: BUFFER_TOOSMALL, %zu bytes", need);
  keys = malloc (need);
  is_ok (VixDiskLib_GetMetadataKeys (h, keys, need, NULL), "GetMetadataKeys");
  {
    int found = 0, count = 0;
    char *k;
    for (k = keys; *k; k += strlen (k) + 1) {
      count++;
      if (!strcmp (k, "adapterType"))
        found = 1;
      if (!strncmp (k, "ddb.", 4))
        found = -100;
    }
    ok (found == 1 && k == keys + need - 1,
        "keys are NUL-separated, end with an empty string, have no ddb. "
        "prefix, include adapterType (%d keys)", count);
  }
  free (keys);
  err = VixDiskLib_ReadMetadata (h, "adapterType", NULL, 0, &need);
  ok (err == VIX_E_BUFFER_TOOSMALL && need == strlen ("buslogic") + 1,
      "ReadMetadata size call: BUFFER_TOOSMALL, need %zu", need);
  need = 0;
  err = VixDiskLib_ReadMetadata (h, "adapterType", small, sizeof small, &need);
  ok (err == VIX_E_BUFFER_TOOSMALL && need == 9,
      "ReadMetadata with a 4-byte buffer: BUFFER_TOOSMALL, need %zu", need);
  is_ok (VixDiskLib_ReadMetadata (h, "adapterType", meta, sizeof meta, NULL),
         "ReadMetadata adapterType");
  ok (!strcmp (meta, "buslogic"), "adapterType = %s", meta);
  is_err (VixDiskLib_ReadMetadata (h, "noSuchKey", meta, sizeof meta, &need),
          VIX_E_DISK_KEY_NOTFOUND, "noSuchKey", "ReadMetadata of a missing key");
  is_ok (VixDiskLib_WriteMetadata (h, "vdiskTest", "hello world"),
         "WriteMetadata");
  is_ok (VixDiskLib_ReadMetadata (h, "vdiskTest", meta, sizeof meta, NULL),
         "ReadMetadata of the new key");
  ok (!strcmp (meta, "hello world"), "value read back: %s", meta);
  err = VixDiskLib_WriteMetadata (h, "bad key!", "x");
  ok (VIX_FAILED (err) && VIX_ERROR_CODE (err) != VIX_E_FAIL,
      "WriteMetadata with a bad key fails with a specific code (%llu)",
      (unsigned long long) err);

  /* --- not supported yet --- */
  is_err (VixDiskLib_CreateChild (h, disk2, VIXDISKLIB_DISK_VMFS_FLAT,
                                  NULL, NULL),
          VIX_E_NOT_SUPPORTED, "sparse", "CreateChild of a flat child");
  is_ok (VixDiskLib_CreateChild (h, disk2, VIXDISKLIB_DISK_MONOLITHIC_SPARSE,
                                 NULL, NULL), "CreateChild");
  is_err (VixDiskLib_Write (h, 0, 1, wbuf), VIX_E_DISK_CID_MISMATCH, "child",
          "the parent refuses writes once it has a child");
  {
    VixDiskLibHandle ch = NULL;
    is_ok (VixDiskLib_Open (conn, disk2, 0, &ch), "Open the child");
    is_ok (VixDiskLib_GetInfo (ch, &info), "GetInfo on the child");
    ok (info && info->numLinks == 2 && info->capacity == 32768
        && info->parentFileNameHint
        && strstr (info->parentFileNameHint, "disk.vmdk"),
        "child: 2 links, parent hint %s",
        info && info->parentFileNameHint ? info->parentFileNameHint : "-");
    VixDiskLib_FreeInfo (info);
    info = NULL;
    is_ok (VixDiskLib_Read (ch, 0, 128, rbuf), "Read through the child");
    ok (!memcmp (wbuf, rbuf, 128 * 512), "the child reads the parent's data");
    is_ok (VixDiskLib_Close (ch), "Close the child");
  }
  space = 0;
  is_ok (VixDiskLib_SpaceNeededForClone (h, VIXDISKLIB_DISK_MONOLITHIC_SPARSE,
                                         &space), "SpaceNeededForClone");
  /* 128 sectors written: one 64 KiB grain plus the metadata */
  ok (space >= 65536 && space < (4u << 20), "space needed %llu bytes",
      (unsigned long long) space);
  is_err (VixDiskLib_SpaceNeededForClone (h, (VixDiskLibDiskType) 99, &space),
          VIX_E_INVALID_ARG, "type", "SpaceNeededForClone of a bad type");
  is_ok (VixDiskLib_Shrink (h, NULL, NULL), "Shrink (the parent of a child)");
  is_ok (VixDiskLib_Defragment (h, NULL, NULL), "Defragment");
  is_ok (VixDiskLib_Read (h, 0, 128, rbuf), "Read after Defragment");
  ok (!memcmp (wbuf, rbuf, 128 * 512), "content kept by Shrink/Defragment");
  is_err (VixDiskLib_Attach (h, h), VIX_E_INVALID_ARG, "own parent",
          "Attach of a disk to itself");
  is_err (VixDiskLib_IsAttachPossible (h, h), VIX_E_INVALID_ARG,
          "own parent", "IsAttachPossible of a disk to itself");
  is_ok (VixDiskLib_Close (h), "Close");
  h = NULL;
  is_err (VixDiskLib_Grow (conn, disk, 65536, FALSE, NULL, NULL),
          VIX_E_DISK_CID_MISMATCH, "child", "Grow of a parent with a child");
  is_err (VixDiskLib_Rename (disk, "renamed.vmdk"), VIX_E_DISK_CID_MISMATCH,
          "child", "Rename of a parent with a child");
  is_err (VixDiskLib_Rename (disk2, disk), VIX_E_FILE_ALREADY_EXISTS,
          "exists", "Rename onto an existing disk");
  is_err (VixDiskLib_Unlink (conn, disk), VIX_E_DISK_CID_MISMATCH,
          "child", "Unlink of a parent with a child");
  is_err (VixDiskLib_Close (NULL), VIX_E_INVALID_ARG, NULL, "Close(NULL)");

  /* --- read-only reopen: everything persisted --- */
  {
    VixDiskLibOpenParams op;
    VixDiskLibQueryChangedAreaParams qp;
    VixDiskLibDiskChangeInfo *ci = (VixDiskLibDiskChangeInfo *) 1;

    memset (&op, 0, sizeof op);
    op.path = disk;
    op.flags = VIXDISKLIB_FLAG_OPEN_READ_ONLY;
    is_ok (VixDiskLib_OpenEx (conn, &op, &h), "OpenEx read-only");
    memset (&qp, 0, sizeof qp);
    is_err (VixDiskLib_QueryChangedAreas (h, &qp, &ci), VIX_E_INVALID_ARG,
            "NULL", "QueryChangedAreas without a change ID");
    ok (ci == NULL, "no change info on failure");
    qp.changeId = "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1";
    ci = (VixDiskLibDiskChangeInfo *) 1;
    is_err (VixDiskLib_QueryChangedAreas (h, &qp, &ci), VIX_E_FILE_ERROR,
            "not on", "QueryChangedAreas on an untracked disk (FileFault)");
    ok (ci == NULL, "no change info on failure");
    qp.changeId = "*";
    is_ok (VixDiskLib_QueryChangedAreas (h, &qp, &ci), "QueryChangedAreas '*'");
    ok (ci && ci->numAreas >= 1 && ci->areas[0].offset == 0
        && ci->length == 32768,
        "'*' lists the allocated areas (sector 0 first) over the whole disk");
    VixDiskLib_FreeChangedAreas (ci);
    VixDiskLib_FreeChangedAreas (NULL);
  }
  is_ok (VixDiskLib_Read (h, 0, 128, rbuf), "Read after reopen");
  ok (!memcmp (wbuf, rbuf, 128 * 512), "data persisted across close");
  is_ok (VixDiskLib_ReadMetadata (h, "vdiskTest", meta, sizeof meta, NULL),
         "metadata persisted across close");
  is_err (VixDiskLib_Write (h, 0, 1, wbuf), VIX_E_FILE_READ_ONLY, NULL,
          "Write on a read-only handle");
  is_err (VixDiskLib_WriteAsync (h, 0, 1, wbuf, acb, &c),
          VIX_E_FILE_READ_ONLY, "read-only", "WriteAsync on a read-only handle");
  is_err (VixDiskLib_WriteMetadata (h, "x", "y"), VIX_E_FILE_READ_ONLY, NULL,
          "WriteMetadata on a read-only handle");
  is_ok (VixDiskLib_Flush (h), "Flush on a read-only handle");

  /* Open/Close from several threads at once. */
  {
    pthread_t th[4];
    struct oc_arg a[4];
    int failures = 0;
    for (i = 0; i < 4; i++) {
      a[i].conn = conn;
      a[i].path = disk;
      a[i].failures = 0;
      pthread_create (&th[i], NULL, oc_fn, &a[i]);
    }
    for (i = 0; i < 4; i++) {
      pthread_join (th[i], NULL);
      failures += a[i].failures;
    }
    ok (failures == 0, "80 read-only Open/Read/Close from 4 threads (%d "
        "failures)", failures);
  }
  is_ok (VixDiskLib_Close (h), "Close the read-only handle");
  h = NULL;

  /* --- clone --- */
  {
    int last = -1;
    struct stat st;

    create.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
    create.adapterType = VIXDISKLIB_ADAPTER_IDE;
    is_ok (VixDiskLib_Clone (conn, clone, conn, disk, &create, progress_cb,
                             &last, FALSE), "Clone");
    ok (last == 100, "progress rose to 100%% (last %d)", last);
    is_err (VixDiskLib_Clone (conn, clone, conn, disk, &create, NULL, NULL,
                              FALSE),
            VIX_E_FILE_ALREADY_EXISTS, "overWrite = TRUE",
            "Clone onto an existing disk");
    {
      char *t = VixDiskLib_GetErrorText (VIX_E_FILE_ALREADY_EXISTS, NULL);
      ok (t && !strstr (t, "--overwrite") && !strstr (t, "VD_CREATE"),
          "Clone onto an existing disk: no CLI option in the text");
      VixDiskLib_FreeErrorText (t);
    }
    is_ok (VixDiskLib_Clone (conn, clone, conn, disk, &create, NULL, NULL,
                             TRUE), "Clone with overwrite");
    is_err (VixDiskLib_Clone (conn, clone2, conn, disk, &create, cancel_cb,
                              NULL, FALSE),
            VIX_E_CANCELLED, NULL, "Clone cancelled by the progress callback");
    ok (stat (clone2, &st) == -1 && errno == ENOENT,
        "a cancelled clone leaves nothing behind");
    is_err (VixDiskLib_Clone (conn, clone2, conn, missing, &create, NULL,
                              NULL, FALSE),
            VIX_E_FILE_NOT_FOUND, "missing.vmdk", "Clone of a missing disk");
    is_ok (VixDiskLib_Open (conn, clone, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &h),
           "Open the clone");
    is_ok (VixDiskLib_GetInfo (h, &info), "GetInfo on the clone");
    ok (info && info->capacity == 32768
        && info->adapterType == VIXDISKLIB_ADAPTER_IDE,
        "clone: same capacity, adapter from the create params");
    VixDiskLib_FreeInfo (info);
    is_ok (VixDiskLib_Read (h, 0, 128, rbuf), "Read the clone");
    ok (!memcmp (wbuf, rbuf, 128 * 512), "clone holds the source data");
    is_ok (VixDiskLib_Read (h, 4096 + 3 * 1024, AREQ * ASECT, rbufs[0]),
           "Read async-written range of the clone");
    ok (!memcmp (abufs[3], rbufs[0], AREQ * ASECT * 512),
        "clone holds the async-written data");
    is_ok (VixDiskLib_Close (h), "Close the clone");
    h = NULL;
  }

  /* --- check --- */
  is_ok (VixDiskLib_CheckRepair (conn, disk, FALSE), "CheckRepair (check)");
  is_ok (VixDiskLib_CheckRepair (conn, clone, TRUE),
         "CheckRepair (repair) of a clean disk");
  is_err (VixDiskLib_CheckRepair (conn, missing, FALSE),
          VIX_E_FILE_NOT_FOUND, "missing.vmdk", "CheckRepair of a missing disk");

  /* --- ConnectEx (readOnly = TRUE) on local files --- */
  {
    /* VMware: for local disks ConnectEx is equivalent to Connect, so
     * readOnly is a hint: Open with flags 0 is writable (or fails at
     * Open), never silently read-only. */
    VixDiskLibConnection ro = NULL;
    VixDiskLibHandle rh = NULL;
    char rodisk[300];
    uint8 b[512], rb[512];

    snprintf (rodisk, sizeof rodisk, "%s/ro.vmdk", dir);
    create.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
    is_ok (VixDiskLib_Create (conn, rodisk, &create, NULL, NULL),
           "Create a disk for the readOnly rule");
    is_ok (VixDiskLib_ConnectEx (NULL, TRUE, NULL, "file", &ro),
           "ConnectEx (readOnly TRUE)");
    is_ok (VixDiskLib_Open (ro, rodisk, 0, &rh),
           "Open (flags 0) through the readOnly connection");
    memset (b, 0xa5, sizeof b);
    if (rh) {
      is_ok (VixDiskLib_Write (rh, 77, 1, b),
             "that handle is writable: Write succeeds");
      is_ok (VixDiskLib_Read (rh, 77, 1, rb), "Read it back");
      ok (!memcmp (b, rb, sizeof b), "the write is there");
      is_ok (VixDiskLib_Close (rh), "Close");
      rh = NULL;
    }
    is_ok (VixDiskLib_Open (ro, rodisk, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &rh),
           "Open (READ_ONLY) through the readOnly connection");
    if (rh) {
      is_err (VixDiskLib_Write (rh, 78, 1, b), VIX_E_FILE_READ_ONLY, NULL,
              "Write on the READ_ONLY handle is refused");
      is_ok (VixDiskLib_Read (rh, 77, 1, rb), "Read on it");
      ok (!memcmp (b, rb, sizeof b), "the earlier write persisted");
      is_ok (VixDiskLib_Close (rh), "Close");
    }
    is_ok (VixDiskLib_Disconnect (ro), "Disconnect the readOnly connection");
  }

  /* --- error texts --- */
  {
    char *t = VixDiskLib_GetErrorText (VIX_OK, NULL);
    ok (t && *t, "GetErrorText(VIX_OK): %s", t ? t : "(null)");
    VixDiskLib_FreeErrorText (t);
    t = VixDiskLib_GetErrorText (VIX_E_DISK_CANTSHRINK, "en");
    ok (t && strstr (t, "shrunk"), "GetErrorText of a code never returned: %s",
        t ? t : "(null)");
    VixDiskLib_FreeErrorText (t);
    t = VixDiskLib_GetErrorText (54321, NULL);
    ok (t && strstr (t, "54321") && !strstr (t, "Unknown error"),
        "GetErrorText of an unknown code names it: %s", t ? t : "(null)");
    VixDiskLib_FreeErrorText (t);
    VixDiskLib_FreeErrorText (NULL);
  }
  ok (log_lines > 0, "the log callbacks received %d messages", log_lines);

  /* --- after fork: a child process can use the library --- */
  {
    pid_t pid = fork ();
    int status = -1;
    if (pid == 0) {
      VixDiskLibConnection cc = NULL;
      VixDiskLibHandle ch = NULL;
      uint8 b[512];
      int rc = VixDiskLib_InitEx (8, 0, NULL, NULL, NULL, NULL, NULL) == VIX_OK
        && VixDiskLib_Connect (NULL, &cc) == VIX_OK
        && VixDiskLib_Open (cc, disk, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &ch)
           == VIX_OK
        && VixDiskLib_ReadAsync (ch, 0, 1, b, NULL, NULL) == VIX_ASYNC
        && VixDiskLib_Wait (ch) == VIX_OK
        && memcmp (b, wbuf, 512) == 0
        && VixDiskLib_Close (ch) == VIX_OK
        && VixDiskLib_Disconnect (cc) == VIX_OK;
      VixDiskLib_Exit ();
      _exit (rc ? 0 : 1);
    }
    if (pid > 0)
      waitpid (pid, &status, 0);
    ok (pid > 0 && WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "after fork the child initialises, opens and reads asynchronously");
  }

  is_ok (VixDiskLib_Disconnect (conn), "Disconnect");
  is_err (VixDiskLib_Disconnect (NULL), VIX_E_DISK_INVALID_CONNECTION, NULL,
          "Disconnect(NULL)");
  VixDiskLib_Exit ();

  for (i = 0; i < ATHREADS; i++) {
    free (abufs[i]);
    free (rbufs[i]);
  }
  free (wbuf);
  free (rbuf);
  {
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
      fprintf (stderr, "# could not remove %s\n", dir);
  }
  printf ("1..%d\n", n_test);
  return n_failed ? 1 : 0;
}
