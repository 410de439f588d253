/* RDM disks in a backup (docs/backup.md): the mapping descriptor always;
 * with VD_BACKUP_RDM_DATA also the mapped device's data when it can be
 * read, as a monolithicSparse file of its own (full every time: a LUN has
 * no tracking here).  Restore's two phases are in restore.c. */
#include "backup-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RDM_DESC_MAX (64u << 10)

/* The device an RDM descriptor maps: its first extent, VMFSRDM or
 * VMFSRAW.  A plain name is in the descriptor's folder; an absolute name
 * must be a block device.  *path: malloc'd, as resolved (realpath);
 * *bytes: the extent's size.  Errors say why the data cannot be read. */
int
vd__bk_rdm_device (const char *desc_path, char **path, uint64_t *bytes)
{
  char buf[RDM_DESC_MAX];
  struct vd_descriptor *d = NULL;
  int fd = open (desc_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  *path = NULL;
  if (fd < 0)
    return vd__error (VD_ENOENT, errno, "%s: open", desc_path);
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  close (fd);
  if (n <= 0)
    return vd__error (VD_ECORRUPT, errno, "%s: empty descriptor", desc_path);
  buf[n] = 0;
  int r = vd__desc_parse (&d, buf, (size_t) n, desc_path);
  if (r < 0)
    return r;
  const struct vd_desc_extent *x = vd__desc_extent (d, 0);
  char *dir = vd__dirname (desc_path);
  if (!x || !x->file || (strcmp (x->type, "VMFSRDM") && strcmp (x->type, "VMFSRAW")))
    r = vd__error (VD_ECORRUPT, 0, "%s: no VMFSRDM extent naming the mapped "
                  "device", desc_path);
  else if (x->file[0] != '/' && !vd__name_ok (x->file, 0))
    r = vd__error (VD_EINVAL, 0, "%s: the mapped device \"%s\" is not a plain "
                  "name in the disk's folder nor an absolute device path",
                  desc_path, x->file);
  char *p = NULL;
  if (r == 0)
    p = x->file[0] == '/' ? strdup (x->file) : vd__path_join (dir, x->file);
  struct stat st;
  if (r == 0 && !p)
    r = VD_ENOMEM;
  else if (r == 0 && stat (p, &st) < 0)
    r = vd__error (VD_ENOENT, errno, "%s: mapped device %s", desc_path, p);
  else if (r == 0 && !S_ISBLK (st.st_mode)
           && (x->file[0] == '/' || !S_ISREG (st.st_mode)))
    r = vd__error (VD_EINVAL, 0, "%s: mapped device %s is not a block device%s",
                  desc_path, p, x->file[0] == '/' ? "" : " or a file");
  if (r == 0 && (x->sectors == 0 || x->sectors > UINT64_MAX / VD_SECTOR))
    r = vd__error (VD_ECORRUPT, 0, "%s: mapped extent of %llu sectors",
                   desc_path, (unsigned long long) x->sectors);
  if (r == 0) {
    *bytes = x->sectors * VD_SECTOR;
    *path = realpath (p, NULL);
    if (!*path)
      r = vd__error (VD_ENOENT, errno, "%s: mapped device %s", desc_path, p);
  }
  free (p);
  free (dir);
  vd__desc_free (d);
  return r;
}

/* Copy the device's bytes into a new monolithicSparse file at dst. */
static int
copy_device (const char *dev, uint64_t bytes, const char *dst,
             struct copy *c)
{
  struct vd_create_params p;
  int fd = open (dev, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return vd__error (VD_EIO, errno, "%s: open the mapped device", dev);
  uint64_t have = (uint64_t) lseek (fd, 0, SEEK_END);
  if (have < bytes) {
    close (fd);
    return vd__error (VD_EIO, 0, "%s: %llu bytes, the mapping says %llu",
                     dev, (unsigned long long) have,
                     (unsigned long long) bytes);
  }
  vd_create_params_init (&p);
  p.type = VD_TYPE_MONOLITHIC_SPARSE;
  p.capacity = bytes;
  p.adapter = VD_ADAPTER_LSILOGIC;
  unlink (dst);
  int r = vd_disk_create (dst, &p);
  if (r == 0)
    r = vd_disk_open (&c->dst, dst, VD_OPEN_NO_SYNC);
  c->skip_zero = 1;
  c->wb_fd = -1;
  for (uint64_t off = 0; r == 0 && off < bytes;) {
    size_t n = (size_t) VD_MIN ((uint64_t) COPY_CHUNK, bytes - off);
    ssize_t got = pread (fd, c->buf, n, (off_t) off);
    if (got < 0 && errno == EINTR)
      continue;
    if (got != (ssize_t) n)
      r = vd__error (VD_EIO, errno, "%s: read at %llu", dev,
                    (unsigned long long) off);
    else
      r = vd__bk_put (c, c->buf, n, off);
    c->read += n;
    off += n;
  }
  close (fd);
  if (c->dst) {
    int r2 = vd_disk_close (c->dst);
    c->dst = NULL;
    if (r == 0)
      r = r2;
  }
  return r;
}

/* One RDM disk into the point: its descriptor under files/, and with
 * VD_BACKUP_RDM_DATA the device's data under disks/KEY/POINT.vmdk (or why
 * it could not be read, in "data_skipped"). */
int
vd__bk_backup_rdm (const char *repo, const char *point, const char *files_dir,
                   struct vm_disk *vd, uint32_t flags, json_object *disks,
                   struct vd_backup_result *res)
{
  json_object *e = json_object_new_object ();
  char *to = vd__asprintf ("%s/rdm-%s-%s", files_dir, vd->key, vd->name);
  char *rel = vd__asprintf ("files/rdm-%s-%s", vd->key, vd->name);
  char hex[65] = "";
  char *dev = NULL;
  uint64_t bytes = 0;
  int r = to && rel ? vd__bk_copy_file (vd->path, to, hex, &res->bytes_written)
                    : VD_ENOMEM;
  json_object_array_add (disks, e);
  json_object_object_add (e, "device", json_object_new_string (vd->device));
  json_object_object_add (e, "name", json_object_new_string (vd->name));
  json_object_object_add (e, "kind", json_object_new_string ("rdm"));
  json_object_object_add (e, "descriptor", json_object_new_string (rel ? rel : ""));
  json_object_object_add (e, "descriptor_sha256", json_object_new_string (hex));
  if (r == 0) {
    /* where the LUN was (restore --rdm keep checks it is still there) */
    if (vd__bk_rdm_device (vd->path, &dev, &bytes) == 0)
      json_object_object_add (e, "mapped_device", json_object_new_string (dev));
    else if (flags & VD_BACKUP_RDM_DATA)
      json_object_object_add (e, "data_skipped",
                              json_object_new_string (vd_last_error ()->message));
    vd__error_clear ();
  }
  if (r == 0 && dev && (flags & VD_BACKUP_RDM_DATA)) {
    char *dir = vd__asprintf ("%s/disks/%s", repo, vd->key);
    char *dst = dir ? vd__asprintf ("%s/%s.vmdk", dir, point) : NULL;
    char *drel = vd__asprintf ("disks/%s/%s.vmdk", vd->key, point);
    struct copy c = { 0 };
    c.buf = malloc (COPY_CHUNK);
    if (!dst || !drel || !c.buf)
      r = vd__error (VD_ENOMEM, errno, "RDM data");
    else if (mkdir (dir, 0755) < 0 && errno != EEXIST)
      r = vd__error (VD_EIO, errno, "%s: mkdir", dir);
    else
      r = copy_device (dev, bytes, dst, &c);
    json_object *fe = NULL;
    if (r == 0)
      r = vd__bk_seal_file (dst, drel, NULL, !(flags & VD_BACKUP_NO_SYNC), &fe);
    if (r == 0) {
      json_object_object_add (e, "file", json_object_new_string (drel));
      json_object_object_add (e, "capacity", json_object_new_int64 ((int64_t) bytes));
      json_object_object_add (e, "create_type",
                              json_object_new_string ("monolithicSparse"));
      json_object_object_add (e, "disk_file", fe);
      json_object_object_add (e, "bytes_read", json_object_new_int64 ((int64_t) c.read));
      json_object_object_add (e, "bytes_written", json_object_new_int64 ((int64_t) c.written));
      res->bytes_read += c.read;
      res->bytes_written += c.written;
    }
    else
      json_object_put (fe);
    free (c.buf);
    free (dir);
    free (dst);
    free (drel);
  }
  free (dev);
  free (to);
  free (rel);
  return r;
}
