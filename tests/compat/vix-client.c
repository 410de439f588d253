/* A small VDDK client for the shell tests.  It links nothing of vdisk: it
 * dlopens LIBDIR/lib64/libvixDiskLib.so.8 as VDDK programs do, so a
 * lib64/ folder copied on its own can be tried.
 *
 *   vix-client LIBDIR read DISK OUT
 *       read the whole disk into the raw file OUT
 *   vix-client LIBDIR stream DISK RAW SECTORS [async]
 *       Create DISK as VIXDISKLIB_DISK_STREAM_OPTIMIZED with RAW's size,
 *       Open it (flags 0) and write RAW front to back, SECTORS at a time
 *       (Write, or WriteAsync + Wait), then Close
 *   vix-client LIBDIR stream-behind DISK
 *       a stream written at 1 MiB, then at 0: the second write must fail
 *       with VIX_E_INVALID_ARG and say why
 *   vix-client LIBDIR changeid DISK
 *       print ReadMetadata("changeId")
 *   vix-client LIBDIR write DISK SECTOR RAW [async]
 *       write RAW at SECTOR (Write, or WriteAsync + Wait), then Close
 *   vix-client LIBDIR changes DISK ID
 *       QueryChangedAreas since ID over the whole disk through OpenEx:
 *       one "OFFSET LENGTH" line (sectors) per area
 *   vix-client LIBDIR write-exit DISK RAW [noexit]
 *       Create a monolithicSparse DISK, write RAW, then call Exit without
 *       Close (with noexit: return from main without Close or Exit)
 *
 * Exit status 0 on success; errors are printed with their text. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vdisk/vixDiskLib.h"

#define FN(name) static __typeof__ (VixDiskLib_##name) *p_##name
FN (InitEx); FN (Exit); FN (ConnectEx); FN (Disconnect); FN (Open);
FN (Close); FN (Create); FN (Read); FN (Write); FN (WriteAsync);
FN (Wait); FN (GetInfo); FN (FreeInfo); FN (GetErrorText);
FN (FreeErrorText); FN (ReadMetadata); FN (OpenEx);
FN (QueryChangedAreas); FN (FreeChangedAreas);

static int
fail (const char *what, VixError err)
{
  char *t = p_GetErrorText (err, NULL);
  fprintf (stderr, "vix-client: %s: error %llu: %s\n", what,
           (unsigned long long) err, t ? t : "(no text)");
  p_FreeErrorText (t);
  return 1;
}

static unsigned char *
slurp (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  struct stat st;
  unsigned char *buf;

  if (!f || fstat (fileno (f), &st) < 0) {
    perror (path);
    exit (2);
  }
  *len = (size_t) st.st_size;
  buf = malloc (*len ? *len : 1);
  if (!buf || fread (buf, 1, *len, f) != *len) {
    perror (path);
    exit (2);
  }
  fclose (f);
  return buf;
}

/* File scope: write-exit leaves them open on purpose (still reachable). */
static VixDiskLibConnection conn;
static VixDiskLibHandle h;

static void
done_cb (void *data, VixError err)
{
  VixError *slot = data;
  *slot = err;
}

int
main (int argc, char **argv)
{
  char so[4096];
  void *dl;
  VixDiskLibCreateParams cp;
  VixError err;
  const char *cmd;

  if (argc < 4) {
    fprintf (stderr, "usage: vix-client LIBDIR COMMAND DISK ...\n");
    return 2;
  }
  cmd = argv[2];
  snprintf (so, sizeof so, "%s/lib64/libvixDiskLib.so.8", argv[1]);
  dl = dlopen (so, RTLD_NOW);
  if (!dl) {
    fprintf (stderr, "vix-client: dlopen %s: %s\n", so, dlerror ());
    return 3;
  }
#define LOAD(name) do {                                                 \
    p_##name = (__typeof__ (p_##name)) dlsym (dl, "VixDiskLib_" #name); \
    if (!p_##name) {                                                    \
      fprintf (stderr, "vix-client: no VixDiskLib_%s\n", #name);        \
      return 3;                                                         \
    }                                                                   \
  } while (0)
  LOAD (InitEx); LOAD (Exit); LOAD (ConnectEx); LOAD (Disconnect);
  LOAD (Open); LOAD (Close); LOAD (Create); LOAD (Read); LOAD (Write);
  LOAD (WriteAsync); LOAD (Wait); LOAD (GetInfo); LOAD (FreeInfo);
  LOAD (GetErrorText); LOAD (FreeErrorText); LOAD (ReadMetadata);
  LOAD (OpenEx); LOAD (QueryChangedAreas); LOAD (FreeChangedAreas);

  if ((err = p_InitEx (7, 0, NULL, NULL, NULL, argv[1], NULL)) != VIX_OK)
    return fail ("InitEx", err);
  if ((err = p_ConnectEx (NULL, 0, NULL, NULL, &conn)) != VIX_OK)
    return fail ("ConnectEx", err);
  memset (&cp, 0, sizeof cp);
  cp.adapterType = VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
  cp.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;

  if (!strcmp (cmd, "read") && argc == 5) {
    VixDiskLibInfo *info = NULL;
    unsigned char buf[65536];
    uint64 s, cap;
    FILE *out;

    if ((err = p_Open (conn, argv[3], VIXDISKLIB_FLAG_OPEN_READ_ONLY, &h)))
      return fail ("Open", err);
    if ((err = p_GetInfo (h, &info)))
      return fail ("GetInfo", err);
    cap = info->capacity;
    p_FreeInfo (info);
    out = fopen (argv[4], "wb");
    if (!out) {
      perror (argv[4]);
      return 2;
    }
    for (s = 0; s < cap; s += 128) {
      uint64 n = cap - s < 128 ? cap - s : 128;
      if ((err = p_Read (h, s, n, buf)))
        return fail ("Read", err);
      fwrite (buf, 512, (size_t) n, out);
    }
    fclose (out);
  }
  else if (!strcmp (cmd, "changeid") && argc == 4) {
    char buf[128];
    if ((err = p_Open (conn, argv[3], VIXDISKLIB_FLAG_OPEN_READ_ONLY, &h)))
      return fail ("Open", err);
    if ((err = p_ReadMetadata (h, "changeId", buf, sizeof buf, NULL)))
      return fail ("ReadMetadata", err);
    printf ("%s\n", buf);
  }
  else if (!strcmp (cmd, "write") && argc >= 6) {
    FILE *in = fopen (argv[5], "rb");
    static unsigned char buf[1 << 20];
    size_t n;
    uint64 at = strtoull (argv[4], NULL, 10);
    int async = argc > 6 && !strcmp (argv[6], "async");
    if (!in) {
      perror (argv[5]);
      return 2;
    }
    if ((err = p_Open (conn, argv[3], 0, &h)))
      return fail ("Open", err);
    while ((n = fread (buf, 512, sizeof buf / 512, in)) > 0) {
      if (async) {
        err = p_WriteAsync (h, at, n, buf, NULL, NULL);
        if ((err != VIX_OK && err != VIX_ASYNC) || (err = p_Wait (h)))
          return fail ("WriteAsync", err);
      }
      else if ((err = p_Write (h, at, n, buf)))
        return fail ("Write", err);
      at += n;
    }
    fclose (in);
  }
  else if (!strcmp (cmd, "changes") && argc == 5) {
    VixDiskLibOpenParams op = { argv[3], VIXDISKLIB_FLAG_OPEN_READ_ONLY, NULL };
    VixDiskLibQueryChangedAreaParams qp = { 0, 0, argv[4] };
    VixDiskLibDiskChangeInfo *ci = NULL;
    if ((err = p_OpenEx (conn, &op, &h)))
      return fail ("OpenEx", err);
    if ((err = p_QueryChangedAreas (h, &qp, &ci)))
      return fail ("QueryChangedAreas", err);
    for (uint32 i = 0; i < ci->numAreas; i++)
      printf ("%llu %llu\n", (unsigned long long) ci->areas[i].offset,
              (unsigned long long) ci->areas[i].length);
    p_FreeChangedAreas (ci);
  }
  else if (!strcmp (cmd, "stream") && argc >= 6) {
    size_t len, off, step = (size_t) strtoul (argv[5], NULL, 0) * 512;
    unsigned char *raw = slurp (argv[4], &len);
    int async = argc > 6 && !strcmp (argv[6], "async");

    if (len % 512 || step == 0) {
      fprintf (stderr, "vix-client: size %zu or step %zu\n", len, step);
      return 2;
    }
    cp.diskType = VIXDISKLIB_DISK_STREAM_OPTIMIZED;
    cp.capacity = len / 512;
    if ((err = p_Create (conn, argv[3], &cp, NULL, NULL)))
      return fail ("Create streamOptimized", err);
    if ((err = p_Open (conn, argv[3], 0, &h)))
      return fail ("Open", err);
    for (off = 0; off < len; off += step) {
      size_t n = len - off < step ? len - off : step;
      if (async) {
        VixError res = VIX_E_FAIL;
        err = p_WriteAsync (h, off / 512, n / 512, raw + off, done_cb, &res);
        if (err != VIX_ASYNC)
          return fail ("WriteAsync", err);
        /* several requests in flight, then Wait */
        if ((off / step) % 4 == 3 || off + n >= len) {
          if ((err = p_Wait (h)))
            return fail ("Wait", err);
          if (res != VIX_OK)
            return fail ("WriteAsync completion", res);
        }
      }
      else if ((err = p_Write (h, off / 512, n / 512, raw + off)))
        return fail ("Write", err);
    }
    if ((err = p_Close (h)))
      return fail ("Close", err);
    free (raw);
  }
  else if (!strcmp (cmd, "stream-behind")) {
    static unsigned char buf[65536 * 2];
    char *t;
    int good;

    memset (buf, 0x5a, sizeof buf);
    cp.diskType = VIXDISKLIB_DISK_STREAM_OPTIMIZED;
    cp.capacity = 8192;
    if ((err = p_Create (conn, argv[3], &cp, NULL, NULL)))
      return fail ("Create streamOptimized", err);
    if ((err = p_Open (conn, argv[3], 0, &h)))
      return fail ("Open", err);
    if ((err = p_Write (h, 2048, 256, buf)))
      return fail ("Write at 1 MiB", err);
    err = p_Write (h, 0, 1, buf);
    t = p_GetErrorText (err, NULL);
    printf ("write behind: error %llu: %s\n", (unsigned long long) err,
            t ? t : "(null)");
    good = err == VIX_E_INVALID_ARG && t && strstr (t, "behind")
      && strstr (t, argv[3]);
    p_FreeErrorText (t);
    if ((err = p_Close (h)))
      return fail ("Close", err);
    if (!good)
      return 1;
  }
  else if (!strcmp (cmd, "write-exit") && argc >= 5) {
    size_t len;
    unsigned char *raw = slurp (argv[4], &len);

    cp.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
    cp.capacity = len / 512;
    if ((err = p_Create (conn, argv[3], &cp, NULL, NULL)))
      return fail ("Create", err);
    if ((err = p_Open (conn, argv[3], 0, &h)))
      return fail ("Open", err);
    if ((err = p_Write (h, 0, len / 512, raw)))
      return fail ("Write", err);
    free (raw);
    if (argc > 5 && !strcmp (argv[5], "noexit"))
      return 0;                 /* no Close, no Exit */
    p_Exit ();                  /* no Close */
    return 0;
  }
  else {
    fprintf (stderr, "vix-client: unknown command %s\n", cmd);
    return 2;
  }
  p_Disconnect (conn);
  p_Exit ();
  return 0;
}
