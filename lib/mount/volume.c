/* Guest volumes.  A read-only ext2/3/4 volume is served by this process
 * (extfs.c, libext2fs); otherwise the partition's file on a private mount
 * in a hidden folder, and the user-space driver of its file system
 * (fuse2fs for ext2/3/4, ntfs-3g for NTFS) started on it in the
 * foreground, so that its exit is the mount's to see. */
#include "fuse-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef VD_HAVE_FUSE

extern char **environ;

void
vd__mnt_hidden_cleanup (struct vd_mount *m)
{
  if (m->inner) {
    vd_mount_close (m->inner);
    m->inner = NULL;
  }
  if (m->log)
    unlink (m->log);
  if (m->hidden) {
    char p[4096];
    snprintf (p, sizeof p, "%s/parts", m->hidden);
    rmdir (p);
    rmdir (m->hidden);
  }
}

/* Volume n of the table and the driver that mounts it: "" for an ext
 * volume served read-only in this process. */
static int
volume_driver (struct vd_mount *m, unsigned n,
               const struct vd_partition_table *t,
               const struct vd_partition **part, const char **driver)
{
  const struct vd_partition *pt = NULL;
  for (unsigned i = 0; i < t->count; i++)
    if (t->parts[i].number == n)
      pt = &t->parts[i];
  if (!pt || (pt->flags & VD_PART_EXTENDED))
    return vd__error (VD_EINVAL, 0, "%s: %s %u", m->name,
                      pt ? "there is no volume in extended partition"
                         : "no partition", n);
  *part = pt;
  enum vd_fs_type fs = pt->fs.type;
  int ext = fs == VD_FS_EXT2 || fs == VD_FS_EXT3 || fs == VD_FS_EXT4;
  if ((m->flags & VD_MOUNT_FUSE2FS) && !ext)
    return vd__error (VD_EINVAL, 0, "%s: volume %u holds %s file system, "
                      "not ext2/3/4: fuse2fs cannot mount it", m->name, n,
                      vd_fs_type_name (fs));
  if (ext) {
    *driver = "fuse2fs";
#ifdef VD_HAVE_EXT2FS
    if (!(m->flags & (VD_MOUNT_WRITABLE | VD_MOUNT_FUSE2FS)))
      *driver = "";
#endif
  } else if (fs == VD_FS_NTFS)
    *driver = "ntfs-3g";
  else
    return vd__error (VD_ENOTSUP, 0, "%s: volume %u holds %s%s file system; "
                     "vdisk mounts ext2/3/4 (fuse2fs) and ntfs (ntfs-3g)",
                     m->name, n, fs == VD_FS_UNKNOWN ? "an " : "a ",
                     fs == VD_FS_UNKNOWN ? "unknown"
                                         : vd_fs_type_name (fs));
  return 0;
}

/* The hidden folder (under $TMPDIR or /tmp) and the private mount of the
 * partition files in HIDDEN/parts; the driver logs to HIDDEN/driver.log. */
static int
hidden_make (struct vd_mount *m, const struct vd_mount_options *o,
             const struct vd_partition_table *t)
{
  const char *tmp = getenv ("TMPDIR");
  char tmpl[4096];
  int r;
  snprintf (tmpl, sizeof tmpl, "%s/vdisk-mount.XXXXXX",
            tmp && *tmp && strlen (tmp) < 3000 ? tmp : "/tmp");
  if (!mkdtemp (tmpl))
    return vd__error (vd__errno_code (errno), errno, "%s: %s", tmpl,
                     strerror (errno));
  m->hidden = strdup (tmpl);
  size_t hl = strlen (tmpl) + 32;
  char *parts = malloc (hl);
  m->volfile = malloc (hl);
  m->log = malloc (hl);
  if (!m->hidden || !parts || !m->volfile || !m->log) {
    free (parts);
    rmdir (tmpl);
    return vd__error (VD_ENOMEM, 0, "out of memory");
  }
  snprintf (parts, hl, "%s/parts", tmpl);
  snprintf (m->volfile, hl, "%s/p%u", parts, o->volume);
  snprintf (m->log, hl, "%s/driver.log", tmpl);
  if (mkdir (parts, 0700) < 0) {
    r = vd__error (vd__errno_code (errno), errno, "%s: %s", parts,
                  strerror (errno));
    free (parts);
    vd__mnt_hidden_cleanup (m);
    return r;
  }
  struct vd_mount_options io = *o;
  io.volume = 0;
  io.flags &= ~VD_MOUNT_ALLOW_OTHER;
  r = vd__mnt_create (&m->inner, &m->src, m->disk, parts, &io, t);
  free (parts);
  if (r < 0)
    vd__mnt_hidden_cleanup (m);
  return r;
}

/* Start the driver in the foreground (its exit is ours to see), its
 * output into the log. */
static int
driver_start (struct vd_mount *m, enum vd_fs_type fs, const char *driver)
{
  int rw = (m->flags & VD_MOUNT_WRITABLE) != 0;
  const char *other = (m->flags & VD_MOUNT_ALLOW_OTHER) ? ",allow_other"
                                                        : "";
  char opt[256];
  char *argv[12];
  int a = 0;
  argv[a++] = (char *) driver;
  if (fs == VD_FS_NTFS) {
    snprintf (opt, sizeof opt, "%s,no_detach%s", rw ? "rw" : "ro", other);
    argv[a++] = "-o";
    argv[a++] = opt;
    argv[a++] = m->volfile;
    argv[a++] = m->dir;
  } else {
    snprintf (opt, sizeof opt, "%s%s", rw ? "rw" : "ro", other);
    argv[a++] = m->volfile;
    argv[a++] = m->dir;
    argv[a++] = "-f";
    argv[a++] = "-o";
    argv[a++] = opt;
  }
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t sa;
  sigset_t none;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, m->log,
                                    O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2 (&fa, 1, 2);
  vd__mnt_close_others (&fa);
  posix_spawnattr_init (&sa);
  sigemptyset (&none);
  posix_spawnattr_setsigmask (&sa, &none);
  posix_spawnattr_setflags (&sa, POSIX_SPAWN_SETSIGMASK);
  int r = posix_spawnp (&m->driver, driver, &fa, &sa, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&sa);
  if (r != 0) {
    m->driver = -1;
    vd__mnt_hidden_cleanup (m);
    return vd__error (VD_ENOTSUP, r, "%s: cannot run %s: %s (install it: "
                     "Debian %s)", m->dir, driver, strerror (r),
                     fs == VD_FS_NTFS ? "ntfs-3g" : "fuse2fs");
  }
  return 0;
}

/* Wait until the folder is a mount point, or the driver gave up. */
static int
driver_wait (struct vd_mount *m, unsigned n, enum vd_fs_type fs,
             const char *driver, dev_t dev0)
{
  for (int ms = 0;; ms += 10) {
    int st;
    pid_t w = waitpid (m->driver, &st, WNOHANG);
    if (w == m->driver) {
      char last[512];
      m->driver_reaped = 1;
      m->driver_status = st;
      vd__mnt_log_tail (m->log, last, sizeof last);
      vd__mnt_hidden_cleanup (m);
      return vd__error (VD_EIO, 0, "%s: %s could not mount volume %u "
                       "(%s file system)%s%s", m->dir, driver, n,
                       vd_fs_type_name (fs), last[0] ? ": " : "", last);
    }
    struct stat s;
    if (stat (m->dir, &s) == 0 && s.st_dev != dev0)
      return 0;
    if (ms >= MOUNT_TIMEOUT_MS) {
      kill (m->driver, SIGTERM);
      waitpid (m->driver, NULL, 0);
      m->driver_reaped = 1;
      vd__mnt_unmount_dir (m->dir, 1);
      vd__error_clear ();
      vd__mnt_hidden_cleanup (m);
      return vd__error (VD_EIO, ETIMEDOUT, "%s: %s did not mount volume %u "
                       "within %d s", m->dir, driver, n,
                       MOUNT_TIMEOUT_MS / 1000);
    }
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
}

int
vd__mnt_volume (struct vd_mount *m, const struct vd_mount_options *o,
                dev_t dev0, const struct vd_partition_table *t)
{
  const struct vd_partition *pt = NULL;
  const char *driver = NULL;
  int r;
  if ((r = volume_driver (m, o->volume, t, &pt, &driver)) < 0)
    return r;
  enum vd_fs_type fs = pt->fs.type;
#ifdef VD_HAVE_EXT2FS
  if (!*driver)
    return vd__mnt_extfs (m, pt, dev0);
#endif
  if ((r = hidden_make (m, o, t)) < 0
      || (r = driver_start (m, fs, driver)) < 0)
    return r;
  return driver_wait (m, o->volume, fs, driver, dev0);
}

#endif /* VD_HAVE_FUSE */
