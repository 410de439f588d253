/* libvixMntapi, first class disks by UUID (fcd.c). */
#ifndef VDISK_MNT_FCD_H
#define VDISK_MNT_FCD_H

#include <stddef.h>

#include "vdisk/vixDiskLib.h"

/* The FCD cases of VixMntapi_OpenDisks: on a connection with a
 * vStorageObjSpec, a count other than 1 is VIX_E_INVALID_ARG (the name
 * then goes to VixDiskLib_Open, which checks it is that FCD); on a local
 * connection whose dsSpec names a datastore folder, a single name that is
 * an FCD ID is opened through a connection of its own (*own, kept and
 * disconnected with the set) into *h.  VIX_OK with *own NULL: not an FCD
 * case, open the names as paths.  On an error, why says what (for the
 * log). */
VixError mnt_open_disks_fcd (VixDiskLibConnection connection,
                             const char *diskNames[], size_t numberOfDisks,
                             uint32 flags, VixDiskLibHandle *h,
                             VixDiskLibConnection *own, char *why,
                             size_t whysz);

#endif
