/* VixDiskLib against a `vdisk serve` datastore (driven by test-nbd-serve.sh):
 *   nbd-vix-remote SERVER USER PASSWORD LOCAL.vmdk REMOTE-PATH
 * Prints "PASS what" / "FAIL what" lines; the shell turns them into TAP.
 * SERVER is "unix:/path/to/socket". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "vdisk/vixDiskLib.h"

static int failures;

static void
result (int good, const char *what, VixError err)
{
  if (good)
    printf ("PASS %s\n", what);
  else {
    char *t = VixDiskLib_GetErrorText (err, NULL);
    printf ("FAIL %s (error %llu: %s)\n", what, (unsigned long long) err,
            t ? t : "");
    VixDiskLib_FreeErrorText (t);
    failures++;
  }
}

static void
quiet (const char *fmt, va_list ap)
{
  (void) fmt;
  (void) ap;
}

static int async_done;
static VixError async_err;
static void
async_cb (void *data, VixError err)
{
  (void) data;
  __atomic_add_fetch (&async_done, 1, __ATOMIC_SEQ_CST);
  if (err != VIX_OK)
    async_err = err;
}

int
main (int argc, char **argv)
{
  VixDiskLibConnectParams *cp;
  VixDiskLibConnection remote = NULL, local = NULL, bad = NULL;
  VixDiskLibHandle hr = NULL, hl = NULL;
  VixDiskLibCreateParams create = { 0 };
  VixDiskLibInfo *ir = NULL, *il = NULL;
  VixDiskLibBlockList *bl = NULL;
  VixError err;
  uint8 *a, *b;
  const uint64 chunk = 128;      /* sectors */

  if (argc != 6) {
    fprintf (stderr, "usage: %s SERVER USER PASSWORD LOCAL REMOTE\n",
             argv[0]);
    return 2;
  }
  err = VixDiskLib_Init (7, 0, quiet, quiet, quiet, NULL);
  result (err == VIX_OK, "Init", err);
  result (strstr (VixDiskLib_ListTransportModes (), "nbdssl") != NULL,
          "ListTransportModes lists nbdssl", VIX_OK);

  cp = VixDiskLib_AllocateConnectParams ();
  cp->serverName = argv[1];
  cp->credType = VIXDISKLIB_CRED_UID;
  cp->creds.uid.userName = argv[2];
  cp->creds.uid.password = (char *) "not-the-password";
  err = VixDiskLib_Connect (cp, &bad);
  result (err == VIX_E_AUTHENTICATION_FAIL && !bad,
          "Connect with a wrong password: VIX_E_AUTHENTICATION_FAIL", err);
  if (err != VIX_OK) {
    char *t = VixDiskLib_GetErrorText (err, NULL);
    result (t && strstr (t, "login refused") && strstr (t, argv[2]),
            "the message names the refused login and user", err);
    VixDiskLib_FreeErrorText (t);
  }
  cp->creds.uid.password = argv[3];
  err = VixDiskLib_Connect (cp, &remote);
  result (err == VIX_OK, "Connect with user and password", err);
  err = VixDiskLib_Connect (NULL, &local);
  result (err == VIX_OK, "Connect locally", err);
  if (!remote || !local)
    return 1;

  create.diskType = VIXDISKLIB_DISK_VMFS_THIN;
  create.adapterType = VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
  err = VixDiskLib_Clone (remote, argv[5], local, argv[4], &create, NULL,
                          NULL, FALSE);
  result (err == VIX_OK, "Clone local -> remote", err);
  err = VixDiskLib_Clone (remote, argv[5], local, argv[4], &create, NULL,
                          NULL, FALSE);
  result (err != VIX_OK, "Clone onto an existing remote name is refused",
          VIX_OK);

  err = VixDiskLib_Open (remote, argv[5], 0, &hr);
  result (err == VIX_OK, "Open the remote disk by datastore path", err);
  err = VixDiskLib_Open (local, argv[4], VIXDISKLIB_FLAG_OPEN_READ_ONLY, &hl);
  result (err == VIX_OK, "Open the local disk", err);
  if (!hr || !hl)
    return 1;
  result (strcmp (VixDiskLib_GetTransportMode (hr), "nbdssl") == 0,
          "GetTransportMode is nbdssl", VIX_OK);
  err = VixDiskLib_GetInfo (hr, &ir);
  result (err == VIX_OK, "GetInfo remote", err);
  VixDiskLib_GetInfo (hl, &il);
  result (ir && il && ir->capacity == il->capacity,
          "remote capacity equals the local one", err);

  uint64 sectors = il ? il->capacity : 0;
  a = malloc (sectors * 512);
  b = malloc (sectors * 512);
  err = VixDiskLib_Read (hl, 0, sectors, a);
  if (err == VIX_OK)
    err = VixDiskLib_Read (hr, 0, sectors, b);
  result (err == VIX_OK && memcmp (a, b, sectors * 512) == 0,
          "Read: the remote clone reads identical to the source", err);

  /* Writes, sync and async, then Flush and read back. */
  memset (a, 0xa5, 512 * 8);
  err = VixDiskLib_Write (hr, 8, 8, a);
  result (err == VIX_OK, "Write 8 sectors", err);
  memset (a + 512 * 8, 0x3c, 512 * 8);
  err = VixDiskLib_WriteAsync (hr, 64, 8, a + 512 * 8, async_cb, NULL);
  if (err == VIX_ASYNC)
    err = VixDiskLib_Wait (hr);
  result (err == VIX_OK && async_err == VIX_OK && async_done == 1,
          "WriteAsync + Wait", err ? err : async_err);
  err = VixDiskLib_ReadAsync (hr, 64, 8, b, async_cb, NULL);
  if (err == VIX_ASYNC)
    err = VixDiskLib_Wait (hr);
  result (err == VIX_OK && async_done == 2 && memcmp (a + 512 * 8, b, 4096) == 0,
          "ReadAsync reads the async write back", err);
  err = VixDiskLib_Flush (hr);
  result (err == VIX_OK, "Flush", err);
  err = VixDiskLib_Read (hr, 8, 8, b);
  result (err == VIX_OK && memcmp (a, b, 4096) == 0, "Read back the write",
          err);

  err = VixDiskLib_QueryAllocatedBlocks (hr, 0, sectors - sectors % chunk,
                                         chunk, &bl);
  result (err == VIX_OK && bl && bl->numBlocks > 0,
          "QueryAllocatedBlocks on the remote disk", err);
  if (bl) {
    uint64 total = 0;
    for (uint32 i = 0; i < bl->numBlocks; i++)
      total += bl->blocks[i].length;
    result (total < sectors, "the remote clone is not fully allocated",
            VIX_OK);
    VixDiskLib_FreeBlockList (bl);
  }
  VixDiskLib_FreeInfo (ir);
  VixDiskLib_FreeInfo (il);
  result (VixDiskLib_Close (hr) == VIX_OK, "Close remote", VIX_OK);
  VixDiskLib_Close (hl);
  VixDiskLib_Disconnect (remote);
  VixDiskLib_Disconnect (local);
  VixDiskLib_FreeConnectParams (cp);
  VixDiskLib_Exit ();
  free (a);
  free (b);
  return failures ? 1 : 0;
}
