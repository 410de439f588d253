/* One writer per disk, with QEMU-compatible OFD byte locks
 * (security-checklist.md §6): permission bytes 100 + bit (0 consistent
 * read, 1 write) and "not shared" bytes 200 + bit.  A writer holds 101 and
 * 201; a reader holds 100 and shares writing.  Locks are shared (F_RDLCK);
 * a conflict is seen by testing with F_WRLCK, which fails while any other
 * open file description holds the byte.  OFD locks belong to the open file
 * description, so two handles in one process conflict too, and the
 * kernel drops them when a process dies. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PERM_READ 100
#define PERM_WRITE 101
#define UNSHARE_WRITE 201

static int
lock_byte (int fd, int byte)
{
  struct flock fl;
  memset (&fl, 0, sizeof fl);
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fcntl (fd, F_OFD_SETLK, &fl);
}

/* 1 when another open file description holds the byte. */
static int
byte_taken (int fd, int byte)
{
  struct flock fl;
  memset (&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  if (fcntl (fd, F_OFD_GETLK, &fl) < 0)
    return 0;
  return fl.l_type != F_UNLCK;
}

int
vd__lock (struct vd_io *io, int rw)
{
  int fd = io->fd;
  if (fd < 0)
    return 0;
  if (lock_byte (fd, PERM_READ) < 0)
    goto locked;
  if (!rw)
    return 0;
  if (lock_byte (fd, PERM_WRITE) < 0 || lock_byte (fd, UNSHARE_WRITE) < 0)
    goto locked;
  /* Someone else writing, or someone refusing to share writing. */
  if (byte_taken (fd, PERM_WRITE) || byte_taken (fd, UNSHARE_WRITE))
    goto locked;
  return 0;
locked:
  return vd__error (VD_ELOCKED, 0,
                   "%s: locked: another program (or handle) has the disk "
                   "open for writing", io->name);
}

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
    return vd__error (VD_ENOMEM, errno, "%s: lock folder name", path);
  if (lstat (lck, &st) == 0 && S_ISDIR (st.st_mode))
    r = vd__error (VD_ELOCKED, 0, "%s: in use by VMware (lock folder %s "
                  "exists); close the virtual machine, or remove a stale "
                  "lock folder, or open with the force option", path, lck);
  free (lck);
  return r;
}
