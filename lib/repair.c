/* Repair of hosted sparse extents (vdisk check --repair), and the VMware
 * lock-folder test of read-write opens.  security-checklist.md §2.3, §6. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- VMware lock folders ------------------------------------------------ */

/* VMware hosted products keep DISK.vmdk.lck/ beside a disk while a VM uses
 * it (§2.2).  Unlike OFD locks it survives a crash, so it is only honoured
 * for writing, and VD_OPEN_FORCE overrides it. */
int
vd__check_vmware_lock (const char *path, uint32_t flags)
{
  struct stat st;
  char *lck;
  int r = 0;

  if ((flags & (VD_OPEN_READ_ONLY | VD_OPEN_FORCE)) || !path
      || vd__is_uri (path) || vd__memfs_current ())
    return 0;
  lck = vd__asprintf ("%s.lck", path);
  if (!lck)
    return vd_error (VD_ENOMEM, errno, "%s: lock folder name", path);
  if (lstat (lck, &st) == 0 && S_ISDIR (st.st_mode))
    r = vd_error (VD_ELOCKED, 0, "%s: in use by VMware (lock folder %s "
                  "exists); close the virtual machine, or remove a stale "
                  "lock folder, or open with the force option", path, lck);
  free (lck);
  return r;
}
