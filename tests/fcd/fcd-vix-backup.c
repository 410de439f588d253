/* A backup program as the guide's "First Class Disk (FCD) Backup" code
 * writes it: AllocateConnectParams, specType VIXDISKLIB_SPEC_VSTORAGE_OBJECT
 * with vStorageObjSpec {id, datastoreMoRef, ssId}, Connect, Open with a
 * NULL path, QueryAllocatedBlocks over the whole disk, Read of every
 * allocated block into a raw copy, Close, Disconnect, FreeConnectParams.
 *
 *   fcd-vix-backup DATASTORE FCDID SSID OUT.raw
 *
 * OUT.raw gets the snapshot's capacity (holes where nothing is allocated).
 * Run by tests/fcd/test-fcd-vix.sh and test-fcd-serve.sh; links only
 * libvixDiskLib.  FCD_VIX_SERVER set: serverName (a `vdisk serve`
 * server, "unix:/path" for its socket) with credType UID from
 * FCD_VIX_USER and FCD_VIX_PASSWORD; DATASTORE is then the served
 * datastore's name.
 * FCD_VIX_ACCESS=prepare or end: make only that call and stop; hold: open
 * the FCD (by its UUID as the path) for writing until stdin closes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdisk/vixDiskLib.h"

#define CHECK(call)                                                     \
  do {                                                                  \
    VixError e_ = (call);                                               \
    if (e_ != VIX_OK) {                                                 \
      char *t_ = VixDiskLib_GetErrorText (e_, NULL);                    \
      fprintf (stderr, "%s: %s\n", #call, t_ ? t_ : "?");               \
      VixDiskLib_FreeErrorText (t_);                                    \
      exit (1);                                                         \
    }                                                                   \
  } while (0)

int
main (int argc, char **argv)
{
  if (argc != 5) {
    fprintf (stderr, "usage: fcd-vix-backup DATASTORE FCDID SSID OUT\n");
    return 2;
  }
  CHECK (VixDiskLib_InitEx (8, 0, NULL, NULL, NULL, NULL, NULL));
  VixDiskLibConnectParams *cp = VixDiskLib_AllocateConnectParams ();
  if (!cp)
    return 1;
  cp->specType = VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
  cp->spec.vStorageObjSpec.id = argv[2];
  cp->spec.vStorageObjSpec.datastoreMoRef = argv[1];
  cp->spec.vStorageObjSpec.ssId = argv[3];
  if (getenv ("FCD_VIX_SERVER")) {
    cp->serverName = getenv ("FCD_VIX_SERVER");
    cp->credType = VIXDISKLIB_CRED_UID;
    cp->creds.uid.userName = getenv ("FCD_VIX_USER");
    cp->creds.uid.password = getenv ("FCD_VIX_PASSWORD");
  }
  /* FCD_VIX_ACCESS=prepare|end: only that call (a backup held open) */
  const char *only = getenv ("FCD_VIX_ACCESS");
  if (only && strcmp (only, "end") == 0) {
    CHECK (VixDiskLib_EndAccess (cp, "fcd-vix-backup"));
    VixDiskLib_FreeConnectParams (cp);
    return 0;
  }
  if (only && strcmp (only, "hold") == 0) {
    /* the FCD itself open for writing until stdin closes */
    VixDiskLibConnection c;
    VixDiskLibHandle w;
    char line[8];
    CHECK (VixDiskLib_Connect (cp, &c));
    CHECK (VixDiskLib_Open (c, argv[2], 0, &w));
    printf ("open\n");
    fflush (stdout);
    while (fgets (line, sizeof line, stdin))
      ;
    CHECK (VixDiskLib_Close (w));
    CHECK (VixDiskLib_Disconnect (c));
    VixDiskLib_FreeConnectParams (cp);
    return 0;
  }
  CHECK (VixDiskLib_PrepareForAccess (cp, "fcd-vix-backup"));
  if (only) {
    VixDiskLib_FreeConnectParams (cp);
    return 0;
  }
  VixDiskLibConnection conn;
  CHECK (VixDiskLib_ConnectEx (cp, TRUE, NULL, NULL, &conn));
  VixDiskLibHandle h;
  CHECK (VixDiskLib_Open (conn, NULL, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &h));
  VixDiskLibInfo *info;
  CHECK (VixDiskLib_GetInfo (h, &info));
  VixDiskLibSectorType cap = info->capacity;
  VixDiskLib_FreeInfo (info);

  int out = open (argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || ftruncate (out, (off_t) cap * VIXDISKLIB_SECTOR_SIZE) < 0) {
    perror (argv[4]);
    return 1;
  }
  /* the query takes whole chunks: round the length up to one */
  VixDiskLibSectorType chunk = VIXDISKLIB_MIN_CHUNK_SIZE;
  VixDiskLibSectorType len = (cap + chunk - 1) / chunk * chunk;
  VixDiskLibBlockList *bl;
  CHECK (VixDiskLib_QueryAllocatedBlocks (h, 0, len, chunk, &bl));
  uint8 *buf = malloc (chunk * VIXDISKLIB_SECTOR_SIZE);
  unsigned long long sectors = 0;
  for (uint32 i = 0; i < bl->numBlocks; i++) {
    VixDiskLibSectorType off = bl->blocks[i].offset;
    VixDiskLibSectorType end = off + bl->blocks[i].length;
    if (end > cap)
      end = cap;
    for (; off < end; off += chunk) {
      VixDiskLibSectorType n = end - off < chunk ? end - off : chunk;
      CHECK (VixDiskLib_Read (h, off, n, buf));
      if (pwrite (out, buf, n * VIXDISKLIB_SECTOR_SIZE,
                  (off_t) off * VIXDISKLIB_SECTOR_SIZE)
          != (ssize_t) (n * VIXDISKLIB_SECTOR_SIZE)) {
        perror ("write");
        return 1;
      }
      sectors += n;
    }
  }
  /* a snapshot is read-only */
  VixError w = VixDiskLib_Write (h, 0, 1, buf);
  printf ("blocks %u sectors %llu write-to-snapshot %s\n", bl->numBlocks,
          sectors, w == VIX_OK ? "accepted" : "refused");
  free (buf);
  VixDiskLib_FreeBlockList (bl);
  close (out);
  CHECK (VixDiskLib_Close (h));
  CHECK (VixDiskLib_Disconnect (conn));
  CHECK (VixDiskLib_EndAccess (cp, "fcd-vix-backup"));
  VixDiskLib_FreeConnectParams (cp);
  VixDiskLib_Exit ();
  return 0;
}
