/* Load libvixDiskLib the way nbdkit's vddk plugin does: dlopen
 * LIBDIR/lib64/libvixDiskLib.so.8 (then .so.7, .so.6), resolve every
 * symbol it needs with dlsym, and run its sequence for a local file:
 * InitEx(6.5) -> AllocateConnectParams -> ConnectEx -> Create -> Open
 * (under a global lock) -> GetTransportMode -> GetInfo -> the
 * QueryAllocatedBlocks probe -> ReadAsync/WriteAsync from several worker
 * threads, each waiting for its own completion callback -> Wait -> Flush
 * -> Close -> Disconnect -> Exit.
 *
 * Then, on disks whose size is not a multiple of 64 KiB, the plugin's
 * read path in its own order: InitEx -> ConnectEx (read-only) -> Open
 * (READ_ONLY) -> GetInfo -> QueryAllocatedBlocks over whole 128-sector
 * chunks, the last one running past the end -> ReadAsync/Wait -> Close ->
 * Disconnect -> Exit.
 *
 * Usage: test-compat-dlopen [LIBDIR]   (default: ../compat from the
 * program's folder, i.e. $(O)/compat).  TAP output. */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The symbols, looked up by name as nbdkit's stubs list does. */
#define STUB(name) static __typeof__ (VixDiskLib_##name) *p_##name
STUB (InitEx); STUB (Exit); STUB (GetErrorText); STUB (FreeErrorText);
STUB (FreeConnectParams); STUB (ConnectEx); STUB (Open);
STUB (GetTransportMode); STUB (Close); STUB (Disconnect); STUB (GetInfo);
STUB (FreeInfo); STUB (Read); STUB (Write); STUB (Create); STUB (Flush);
STUB (ReadAsync); STUB (WriteAsync); STUB (Wait);
STUB (QueryAllocatedBlocks); STUB (FreeBlockList);
STUB (AllocateConnectParams);

/* Every other entry point of the header must also be exported. */
static const char *const others[] = {
  "VixDiskLib_Init", "VixDiskLib_ListTransportModes", "VixDiskLib_Cleanup",
  "VixDiskLib_Connect", "VixDiskLib_GetConnectParams",
  "VixDiskLib_PrepareForAccess", "VixDiskLib_EndAccess",
  "VixDiskLib_OpenEx", "VixDiskLib_QueryChangedAreas",
  "VixDiskLib_FreeChangedAreas", "VixDiskLib_GetMetadataKeys",
  "VixDiskLib_ReadMetadata", "VixDiskLib_WriteMetadata",
  "VixDiskLib_CreateChild", "VixDiskLib_Clone",
  "VixDiskLib_SpaceNeededForClone", "VixDiskLib_Grow", "VixDiskLib_Shrink",
  "VixDiskLib_Defragment", "VixDiskLib_Rename", "VixDiskLib_Unlink",
  "VixDiskLib_Attach", "VixDiskLib_IsAttachPossible",
  "VixDiskLib_CheckRepair",
};

static int log_count;

static void
log_fn (const char *fmt, va_list ap)
{
  char buf[1024];

  vsnprintf (buf, sizeof buf, fmt, ap);
  log_count++;
}

static pthread_mutex_t open_close_lock = PTHREAD_MUTEX_INITIALIZER;

/* A worker thread as in nbdkit's vddk plugin: it submits one async
 * request at a time and waits for its completion callback. */
struct completion {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  VixError err;
};

static void
complete (void *data, VixError result)
{
  struct completion *c = data;

  pthread_mutex_lock (&c->lock);
  c->done = 1;
  c->err = result;
  pthread_cond_signal (&c->cond);
  pthread_mutex_unlock (&c->lock);
}

struct worker {
  VixDiskLibHandle h;
  int id;
  int is_write;
  int failures;
};

#define WREQ 64
#define WSECT 16

static void
pattern (uint8 *buf, uint64 sector, uint64 n)
{
  uint64 i;

  for (i = 0; i < n * 512; i++)
    buf[i] = (uint8) ((sector * 512 + i) * 40503u >> 9);
}

static void *
worker_fn (void *arg)
{
  struct worker *w = arg;
  uint8 buf[WSECT * 512], want[WSECT * 512];
  struct completion c;
  int i;

  pthread_mutex_init (&c.lock, NULL);
  pthread_cond_init (&c.cond, NULL);
  for (i = 0; i < WREQ; i++) {
    uint64 sector = ((uint64) i * 4 + (uint64) w->id) * WSECT;
    VixError err;

    c.done = 0;
    c.err = VIX_E_FAIL;
    if (w->is_write) {
      pattern (buf, sector, WSECT);
      err = p_WriteAsync (w->h, sector, WSECT, buf, complete, &c);
    }
    else
      err = p_ReadAsync (w->h, sector, WSECT, buf, complete, &c);
    if (err != VIX_ASYNC) {
      w->failures++;
      continue;
    }
    pthread_mutex_lock (&c.lock);
    while (!c.done)
      pthread_cond_wait (&c.cond, &c.lock);
    pthread_mutex_unlock (&c.lock);
    if (c.err != VIX_OK)
      w->failures++;
    if (!w->is_write) {
      pattern (want, sector, WSECT);
      if (memcmp (buf, want, sizeof buf))
        w->failures++;
    }
  }
  pthread_cond_destroy (&c.cond);
  pthread_mutex_destroy (&c.lock);
  return NULL;
}

static int
run_workers (VixDiskLibHandle h, int is_write)
{
  pthread_t th[4];
  struct worker w[4];
  int i, failures = 0;

  for (i = 0; i < 4; i++) {
    w[i].h = h;
    w[i].id = i;
    w[i].is_write = is_write;
    w[i].failures = 0;
    pthread_create (&th[i], NULL, worker_fn, &w[i]);
  }
  for (i = 0; i < 4; i++) {
    pthread_join (th[i], NULL);
    failures += w[i].failures;
  }
  return failures;
}

/* One disk of cap sectors (not a multiple of 128): made and filled
 * through the library, then read back as nbdkit's vddk plugin does. */
static void
nbdkit_read_path (const char *libdir, const char *dir, uint64 cap)
{
  char disk[256], *text;
  VixDiskLibConnectParams *params;
  VixDiskLibConnection conn = NULL;
  VixDiskLibHandle h = NULL;
  VixDiskLibCreateParams cp;
  VixDiskLibInfo *info = NULL;
  VixDiskLibBlockList *bl = NULL;
  uint64 chunk = VIXDISKLIB_MIN_CHUNK_SIZE, end, s, last = 0;
  uint8 buf[512], want[512];
  struct completion c;
  VixError err;
  int good;

  snprintf (disk, sizeof disk, "%s/odd-%llu.vmdk", dir,
            (unsigned long long) cap);
  /* Make it: data in the first sector and in the last one. */
  p_InitEx (8, 0, NULL, NULL, NULL, libdir, NULL);
  params = p_AllocateConnectParams ();
  p_ConnectEx (params, 0, NULL, NULL, &conn);
  memset (&cp, 0, sizeof cp);
  cp.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  cp.adapterType = VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
  cp.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;
  cp.capacity = cap;
  good = p_Create (conn, disk, &cp, NULL, NULL) == VIX_OK
    && p_Open (conn, disk, 0, &h) == VIX_OK;
  if (good) {
    pattern (buf, 0, 1);
    good = p_Write (h, 0, 1, buf) == VIX_OK;
    pattern (buf, cap - 1, 1);
    good = good && p_Write (h, cap - 1, 1, buf) == VIX_OK
      && p_Close (h) == VIX_OK;
  }
  ok (good, "%llu-sector disk made, first and last sector written",
      (unsigned long long) cap);
  p_Disconnect (conn);
  p_FreeConnectParams (params);
  p_Exit ();
  if (!good)
    return;

  /* nbdkit -r vddk file=DISK: the plugin's calls, in its order. */
  conn = NULL;
  h = NULL;
  ok (p_InitEx (6, 7, log_fn, log_fn, log_fn, libdir, NULL) == VIX_OK,
      "cap %llu: InitEx", (unsigned long long) cap);
  params = p_AllocateConnectParams ();
  ok (p_ConnectEx (params, 1, NULL, NULL, &conn) == VIX_OK,
      "cap %llu: ConnectEx (read-only)", (unsigned long long) cap);
  pthread_mutex_lock (&open_close_lock);
  err = p_Open (conn, disk, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &h);
  pthread_mutex_unlock (&open_close_lock);
  ok (err == VIX_OK, "cap %llu: Open (READ_ONLY)", (unsigned long long) cap);
  if (err != VIX_OK)
    goto out;
  ok (p_GetInfo (h, &info) == VIX_OK && info->capacity == cap,
      "cap %llu: GetInfo", (unsigned long long) cap);
  p_FreeInfo (info);
  /* can_extents: one chunk at 0 (past the end of a disk under 64 KiB). */
  err = p_QueryAllocatedBlocks (h, 0, chunk, chunk, &bl);
  ok (err == VIX_OK, "cap %llu: QueryAllocatedBlocks probe (0, 128, 128)",
      (unsigned long long) cap);
  if (bl)
    p_FreeBlockList (bl);
  bl = NULL;
  /* block_status over the whole disk: rounded up to whole chunks. */
  end = (cap + chunk - 1) / chunk * chunk;
  err = p_QueryAllocatedBlocks (h, 0, end, chunk, &bl);
  text = p_GetErrorText (err, NULL);
  ok (err == VIX_OK, "cap %llu: QueryAllocatedBlocks (0, %llu, 128) past "
      "the end%s%s", (unsigned long long) cap, (unsigned long long) end,
      err ? ": " : "", err ? text : "");
  p_FreeErrorText (text);
  if (bl && bl->numBlocks > 0) {
    VixDiskLibBlock *b = &bl->blocks[bl->numBlocks - 1];
    last = b->offset + b->length;
  }
  ok (bl && bl->numBlocks >= 1 && bl->blocks[0].offset == 0 && last == cap,
      "cap %llu: the answer is clipped at the capacity (ends at %llu)",
      (unsigned long long) cap, (unsigned long long) last);
  if (bl)
    p_FreeBlockList (bl);
  /* The last chunk alone, as the plugin asks for it. */
  bl = NULL;
  s = end - chunk;
  ok (p_QueryAllocatedBlocks (h, s, chunk, chunk, &bl) == VIX_OK && bl
      && bl->numBlocks == 1 && bl->blocks[0].offset + bl->blocks[0].length
      == cap, "cap %llu: the last chunk alone", (unsigned long long) cap);
  if (bl)
    p_FreeBlockList (bl);
  bl = NULL;
  ok (p_QueryAllocatedBlocks (h, end, chunk, chunk, &bl)
      == VIX_E_DISK_OUTOFRANGE && !bl,
      "cap %llu: a range starting past the end is refused",
      (unsigned long long) cap);
  ok (p_QueryAllocatedBlocks (h, s, 2 * chunk, chunk, &bl)
      == VIX_E_DISK_OUTOFRANGE && !bl,
      "cap %llu: a range a whole chunk past the end is refused",
      (unsigned long long) cap);
  /* pread: ReadAsync + Wait for the last sector. */
  pthread_mutex_init (&c.lock, NULL);
  pthread_cond_init (&c.cond, NULL);
  c.done = 0;
  c.err = VIX_E_FAIL;
  memset (buf, 0, sizeof buf);
  err = p_ReadAsync (h, cap - 1, 1, buf, complete, &c);
  ok (err == VIX_ASYNC && p_Wait (h) == VIX_OK && c.done && c.err == VIX_OK,
      "cap %llu: ReadAsync of the last sector, Wait", (unsigned long long) cap);
  pattern (want, cap - 1, 1);
  ok (memcmp (buf, want, sizeof buf) == 0, "cap %llu: last sector reads "
      "what was written", (unsigned long long) cap);
  pthread_cond_destroy (&c.cond);
  pthread_mutex_destroy (&c.lock);
  pthread_mutex_lock (&open_close_lock);
  ok (p_Close (h) == VIX_OK, "cap %llu: Close", (unsigned long long) cap);
  pthread_mutex_unlock (&open_close_lock);
 out:
  p_Disconnect (conn);
  p_FreeConnectParams (params);
  p_Exit ();
}

int
main (int argc, char **argv)
{
  char libdir[PATH_MAX], path[PATH_MAX + 64], exe[PATH_MAX];
  char dir[] = "/tmp/vix-dlopen.XXXXXX", disk[128];
  static const char *const sonames[] = { "8", "7", "6" };
  void *dl = NULL;
  unsigned i;
  ssize_t n;

  if (argc > 1)
    snprintf (libdir, sizeof libdir, "%s", argv[1]);
  else {
    n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
      perror ("readlink /proc/self/exe");
      return 1;
    }
    exe[n] = '\0';
    snprintf (libdir, sizeof libdir, "%s/compat", dirname (dirname (exe)));
  }

  /* Every soname nbdkit tries must load on its own. */
  for (i = 0; i < 3; i++) {
    void *d;
    snprintf (path, sizeof path, "%s/lib64/libvixDiskLib.so.%s", libdir,
              sonames[i]);
    d = dlopen (path, RTLD_NOW);
    ok (d != NULL, "dlopen %s%s%s", path, d ? "" : ": ", d ? "" : dlerror ());
    if (i == 0)
      dl = d;
    else if (d)
      dlclose (d);
  }
  if (!dl) {
    printf ("1..%d\n", n_test);
    return 1;
  }

#define LOAD(name, required) do {                                       \
    p_##name = (__typeof__ (p_##name)) dlsym (dl, "VixDiskLib_" #name); \
    if (required)                                                       \
      ok (p_##name != NULL, "required symbol VixDiskLib_%s", #name);    \
    else                                                                \
      ok (p_##name != NULL, "optional symbol VixDiskLib_%s", #name);    \
  } while (0)
  LOAD (InitEx, 1); LOAD (Exit, 1); LOAD (GetErrorText, 1);
  LOAD (FreeErrorText, 1); LOAD (FreeConnectParams, 1); LOAD (ConnectEx, 1);
  LOAD (Open, 1); LOAD (GetTransportMode, 1); LOAD (Close, 1);
  LOAD (Disconnect, 1); LOAD (GetInfo, 1); LOAD (FreeInfo, 1);
  LOAD (Read, 1); LOAD (Write, 1); LOAD (Create, 1); LOAD (Flush, 1);
  LOAD (ReadAsync, 1); LOAD (WriteAsync, 1); LOAD (Wait, 1);
  LOAD (QueryAllocatedBlocks, 0); LOAD (FreeBlockList, 0);
  LOAD (AllocateConnectParams, 0);
  {
    int missing = 0;
    for (i = 0; i < sizeof others / sizeof others[0]; i++)
      if (!dlsym (dl, others[i])) {
        printf ("# missing %s\n", others[i]);
        missing++;
      }
    ok (missing == 0, "the other %zu entry points are exported",
        sizeof others / sizeof others[0]);
  }
  ok (dlsym (dl, "vix_error") == NULL && dlsym (dl, "check_handle") == NULL,
      "internal functions are not exported");
  /* libvdisk is inside, hidden: nothing of it is reachable through the
   * handle (it is not a separate dependency either). */
  ok (dlsym (dl, "vd_disk_open") == NULL && dlsym (dl, "vd__enter") == NULL,
      "libvdisk's symbols are not reachable from libvixDiskLib");
  if (n_failed) {
    printf ("1..%d\n", n_test);
    return 1;
  }

  if (!mkdtemp (dir)) {
    perror ("mkdtemp");
    return 1;
  }
  snprintf (disk, sizeof disk, "%s/nbdkit.vmdk", dir);
  {
    VixDiskLibConnectParams *params;
    VixDiskLibConnection conn = NULL;
    VixDiskLibHandle h = NULL;
    VixDiskLibCreateParams cp;
    VixDiskLibInfo *info = NULL;
    VixDiskLibBlockList *bl = NULL;
    VixError err;
    char *text;
    uint8 buf[512];

    ok (p_InitEx (6, 5, log_fn, log_fn, log_fn, libdir, NULL) == VIX_OK,
        "InitEx (6, 5, log, warn, panic, libdir, NULL)");
    params = p_AllocateConnectParams ();
    ok (params != NULL, "AllocateConnectParams");
    ok (p_ConnectEx (params, 0, NULL, NULL, &conn) == VIX_OK && conn,
        "ConnectEx (params, readonly 0, NULL snapshot, NULL transports)");

    memset (&cp, 0, sizeof cp);
    cp.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
    cp.adapterType = VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
    cp.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;
    cp.capacity = 8192;
    ok (p_Create (conn, disk, &cp, NULL, NULL) == VIX_OK,
        "Create with NULL progress (nbdkit create=true)");

    pthread_mutex_lock (&open_close_lock);
    err = p_Open (conn, disk, 0, &h);
    pthread_mutex_unlock (&open_close_lock);
    text = p_GetErrorText (err, NULL);
    ok (err == VIX_OK && h, "Open (flags 0)%s%s", err ? ": " : "",
        err ? text : "");
    p_FreeErrorText (text);
    if (!h) {
      printf ("1..%d\n", n_test);
      return 1;
    }
    ok (!strcmp (p_GetTransportMode (h), "file"), "GetTransportMode");
    ok (p_GetInfo (h, &info) == VIX_OK && info->capacity == 8192
        && info->logicalSectorSize == 512,
        "GetInfo: capacity 8192, 512-byte sectors (trusted for so.8)");
    p_FreeInfo (info);
    err = p_QueryAllocatedBlocks (h, 0, 128, 128, &bl);
    ok (err == VIX_OK && bl && bl->numBlocks == 0,
        "QueryAllocatedBlocks probe on an empty disk: no blocks");
    if (bl)
      p_FreeBlockList (bl);

    ok (run_workers (h, 1) == 0, "WriteAsync from 4 worker threads");
    ok (p_Wait (h) == VIX_OK, "Wait before Flush");
    ok (p_Flush (h) == VIX_OK, "Flush");
    ok (run_workers (h, 0) == 0, "ReadAsync from 4 worker threads reads "
        "what was written");
    bl = NULL;
    err = p_QueryAllocatedBlocks (h, 0, 8192, 128, &bl);
    ok (err == VIX_OK && bl && bl->numBlocks == 1 && bl->blocks[0].offset == 0
        && bl->blocks[0].length == 4 * WREQ * WSECT,
        "allocated: one block of %d sectors", 4 * WREQ * WSECT);
    if (bl)
      p_FreeBlockList (bl);
    pattern (buf, 0, 1);
    ok (p_Write (h, 0, 1, buf) == VIX_OK && p_Read (h, 0, 1, buf) == VIX_OK,
        "synchronous Read/Write on the same handle");
    ok (p_Wait (h) == VIX_OK, "Wait before Close");
    pthread_mutex_lock (&open_close_lock);
    ok (p_Close (h) == VIX_OK, "Close");
    pthread_mutex_unlock (&open_close_lock);

    /* nbdkit's read-only export. */
    pthread_mutex_lock (&open_close_lock);
    err = p_Open (conn, disk, VIXDISKLIB_FLAG_OPEN_READ_ONLY
                  | VIXDISKLIB_FLAG_OPEN_SINGLE_LINK, &h);
    pthread_mutex_unlock (&open_close_lock);
    ok (err == VIX_OK, "Open READ_ONLY|SINGLE_LINK");
    if (err == VIX_OK) {
      ok (run_workers (h, 0) == 0, "ReadAsync on the read-only handle");
      ok (p_Wait (h) == VIX_OK && p_Close (h) == VIX_OK, "Wait, Close");
    }
    ok (p_Disconnect (conn) == VIX_OK, "Disconnect");
    p_FreeConnectParams (params);
    p_Exit ();
    ok (log_count > 0, "log callback got %d messages", log_count);
  }
  {
    /* 3 of 5 disks nbdcopy failed on: sizes that are not whole chunks. */
    static const uint64 caps[] = { 100, 1000, 8193, 20000 + 77 };
    for (i = 0; i < sizeof caps / sizeof caps[0]; i++)
      nbdkit_read_path (libdir, dir, caps[i]);
  }
  snprintf (path, sizeof path, "rm -rf '%s'", dir);
  if (system (path) != 0)
    fprintf (stderr, "# could not remove %s\n", dir);
  dlclose (dl);
  printf ("1..%d\n", n_test);
  return n_failed ? 1 : 0;
}
