/* Backup and restore of VM folders into a repository of VMDK chains.
 *
 * Repository layout (docs/backup.md):
 *   REPO/repo.json                   which VM the repository belongs to
 *   REPO/<POINT>/manifest.json       one folder per backup point, named by
 *   REPO/<POINT>/files/...           its UTC time (20261201T092133Z): the
 *                                    VM's .vmx/.vmsd/.vmxf/.nvram copies
 *   REPO/disks/<DEVICE>/<POINT>.vmdk one chain per VM disk: the first point
 *                                    a monolithicSparse copy, every later
 *                                    one a sparse child of the one before
 *                                    (plain parent names: any VMDK reader
 *                                    opens any point directly)
 * A point is built in REPO/.incomplete-<POINT>/ and appears by one rename
 * when complete, so a killed backup leaves the earlier points as they were
 * and nothing that looks like a point; disk files of points that never
 * appeared are removed by the next backup.
 *
 * The copy: the VM's disks are opened for writing (the write lock keeps
 * every other writer out while the frozen data is read), tracked with
 * vdisk's changed block tracking (enabled on the first backup); a full
 * point copies the allocated areas, an incremental one the areas changed
 * since the change ID the previous point recorded.  The VM folder is not
 * otherwise changed. */
#include "backup-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the VM ---------------------------------------------------------- */

static void
vm_free (struct vm *v)
{
  free (v->vmx);
  free (v->display);
  for (unsigned i = 0; i < v->n; i++) {
    free (v->disks[i].path);
    free (v->disks[i].name);
  }
}

static int
collect_disk (const char *vmx, const char *display, const char *device,
              const char *disk_path, void *payload)
{
  struct vm *v = payload;
  if (!v->vmx) {
    v->vmx = strdup (vmx);
    v->display = display ? strdup (display) : NULL;
  }
  else if (strcmp (v->vmx, vmx) != 0) {
    v->overflow = 2;          /* more than one VM */
    return 1;
  }
  if (!device || !disk_path)  /* a VM without disks: only its .vmx */
    return 0;
  if (v->n == MAX_DISKS) {
    v->overflow = 1;
    return 1;
  }
  struct vm_disk *d = &v->disks[v->n];
  snprintf (d->device, sizeof d->device, "%s", device);
  vd__bk_device_key (device, d->key);
  d->path = strdup (disk_path);
  d->name = vd__basename (disk_path);
  if (!d->path || !d->name)
    return 1;
  v->n++;
  return 0;
}

/* RDM: a descriptor whose createType names a raw device mapping. */
static int
is_rdm (const char *path)
{
  char buf[4096];
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return 0;
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  close (fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  return strstr (buf, "createType=\"vmfsRawDeviceMap\"")
         || strstr (buf, "createType=\"vmfsPassthroughRawDeviceMap\"");
}

static int
load_vm (struct vm *v, const char *folder)
{
  memset (v, 0, sizeof *v);
  int r = vd_find_vm_disks (folder, collect_disk, v);
  if (r < 0)
    return r;
  if (v->overflow == 2)
    return vd__error (VD_EINVAL, 0, "%s: holds more than one VM (.vmx); back "
                      "up one VM folder at a time", folder);
  if (v->overflow)
    return vd__error (VD_ENOTSUP, 0, "%s: more than %d disks", folder,
                      MAX_DISKS);
  if (!v->vmx) {
    /* a VM without disks still has a .vmx to back up */
    DIR *d = opendir (folder);
    struct dirent *de;
    if (!d)
      return vd__error (VD_ENOENT, errno, "%s: open folder", folder);
    while ((de = readdir (d))) {
      size_t n = strlen (de->d_name);
      if (n > 4 && strcmp (de->d_name + n - 4, ".vmx") == 0) {
        v->vmx = vd__path_join (folder, de->d_name);
        break;
      }
    }
    closedir (d);
    if (!v->vmx)
      return vd__error (VD_ENOENT, 0, "%s: no .vmx file: not a VM folder",
                        folder);
  }
  for (unsigned i = 0; i < v->n; i++)
    v->disks[i].rdm = is_rdm (v->disks[i].path);
  return 0;
}


/* ---- copying ---------------------------------------------------------- */

/* Start the kernel writing what was copied (no waiting): the one
 * fdatasync at the end then has little left to do, and the device works
 * while the copy goes on. */
#define WRITEBACK_EVERY (64u << 20)

/* One write of the copy: the hasher beside it told how far the file is
 * final, or (a write that is not whole grains in increasing order) that
 * it must hash everything again at the end. */
static int
write_piece (struct copy *c, const uint8_t *buf, size_t n, uint64_t off)
{
  int r = vd_disk_write (c->dst, buf, n, off);
  if (r < 0)
    return r;
  c->written += n;
  if (c->hasher) {
    struct stat st;
    c->unadvanced += n;
    if (off % c->grain || off < c->next_off
        || (n % c->grain && off + n != vd_disk_get_size (c->dst)))
      vd__bk_hasher_redo (c->hasher);
    /* the frontier moves a piece (1 MiB or more) at a time: one fstat
     * per piece, not per write; the rest is hashed at the end */
    else if (c->unadvanced >= HASH_CHUNK_MIN && fstat (c->wb_fd, &st) == 0) {
      vd__bk_hasher_advance (c->hasher, (uint64_t) st.st_size);
      c->unadvanced = 0;
    }
    c->next_off = off + n;
  }
  c->unflushed += n;
  /* also without a sync at the end: the dirty pages stay few, so the
   * kernel does not throttle the copy (nor others) */
  if (c->wb_fd >= 0 && c->unflushed >= WRITEBACK_EVERY) {
    sync_file_range (c->wb_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    c->unflushed = 0;
  }
  return r;
}

/* Write buf (n bytes at off) to the copy, leaving blocks of zeros out
 * when the point is a full one (its file has no parent under it). */
int
vd__bk_put (struct copy *c, const uint8_t *buf, size_t n, uint64_t off)
{
  if (!c->skip_zero)
    return write_piece (c, buf, n, off);
  int r = 0;
  for (size_t b = 0; b < n && r == 0;) {
    size_t bl = VD_MIN ((size_t) ZERO_BLOCK, n - b);
    if (vd__is_zero (buf + b, bl)) {
      b += bl;
      continue;
    }
    size_t e = b + bl;
    while (e < n) {
      size_t l2 = VD_MIN ((size_t) ZERO_BLOCK, n - e);
      if (vd__is_zero (buf + e, l2))
        break;
      e += l2;
    }
    r = write_piece (c, buf + b, e - b, off + b);
    b = e;
  }
  return r;
}

int
vd__bk_copy_area (uint64_t off, uint64_t len, void *payload)
{
  struct copy *c = payload;
  while (len > 0 && c->r == 0) {
    size_t n = (size_t) VD_MIN (len, (uint64_t) COPY_CHUNK);
    c->r = vd_disk_read (c->src, c->buf, n, off);
    if (c->r == 0)
      c->r = vd__bk_put (c, c->buf, n, off);
    if (c->r == 0) {
      c->read += n;
      c->done += n;
      if (c->progress && c->progress (c->done, c->total, c->payload))
        c->r = vd__error (VD_ECANCELED, 0, "backup canceled");
    }
    off += n;
    len -= n;
  }
  return c->r ? 1 : 0;
}

int
vd__bk_copy_data (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  if (status != VD_STATUS_DATA)
    return 0;
  return vd__bk_copy_area (off, len, payload);
}

/* ---- backup ------------------------------------------------------------- */

enum vd_type
vd__bk_full_type (const struct vd_backup_options *o)
{
  if (o && o->struct_size >= offsetof (struct vd_backup_options, full_type)
                             + sizeof o->full_type && o->full_type)
    return o->full_type;
  return VD_TYPE_MONOLITHIC_SPARSE;
}

/* The new file of a point: a child of the previous point's file, or a
 * new sparse disk shaped like the source. */
int
vd__bk_create_point_file (vd_disk *src, const char *kind, const char *prev_path,
                   const char *dst_path, enum vd_type full_type)
{
  int r;
  if (strcmp (kind, "incremental") == 0) {
    vd_disk *parent = NULL;
    r = vd_disk_open (&parent, prev_path, VD_OPEN_READ_ONLY);
    if (r == 0) {
      r = vd_disk_create_child (parent, dst_path, VD_TYPE_MONOLITHIC_SPARSE, 0);
      vd_disk_close (parent);
    }
    return r;
  }
  struct vd_create_params p;
  vd_create_params_init (&p);
  p.type = full_type;
  p.capacity = vd_disk_get_size (src);
  p.adapter = vd_disk_get_adapter (src);
  if (p.adapter == VD_ADAPTER_UNKNOWN)
    p.adapter = VD_ADAPTER_IDE;
  vd_disk_get_geometry (src, &p.geometry, NULL);
  if (vd_disk_get_hw_version (src))
    p.hw_version = vd_disk_get_hw_version (src);
  return vd_disk_create (dst_path, &p);
}

struct sync_job {
  int fd;
  int err;
};

static void *
sync_main (void *payload)
{
  struct sync_job *j = payload;
  j->err = fdatasync (j->fd) < 0 ? errno : 0;
  return NULL;
}

/* The new disk file reaches the disk (fdatasync, unless !sync) before
 * the point appears; its hashes are finished meanwhile (by h, the hasher
 * that ran beside the copy, or read whole now): the device writes while
 * the CPU hashes.  h is freed. */
int
vd__bk_seal_file (const char *path, const char *rel, struct vd__bk_hasher *h,
                  int sync, json_object **fe)
{
  struct sync_job j = { -1, 0 };
  pthread_t t;
  int err = 0, threaded = 0;
  if (!sync) {
    *fe = vd__bk_disk_file_entry (rel, path, h, &err);
    vd__bk_hasher_free (h);
    return err;
  }
  j.fd = open (path, O_RDONLY | O_CLOEXEC);
  if (j.fd < 0) {
    vd__bk_hasher_free (h);
    return vd__error (VD_EIO, errno, "%s: sync", path);
  }
  threaded = pthread_create (&t, NULL, sync_main, &j) == 0;
  *fe = vd__bk_disk_file_entry (rel, path, h, &err);
  vd__bk_hasher_free (h);
  if (threaded)
    pthread_join (t, NULL);
  else
    sync_main (&j);
  close (j.fd);
  if (j.err) {
    vd__error_clear ();
    return vd__error (VD_EIO, j.err, "%s: sync", path);
  }
  return err;
}

/* A device's file-name-safe key: scsi0:0 -> scsi0-0. */
void
vd__bk_device_key (const char *device, char key[32])
{
  snprintf (key, 32, "%s", device);
  for (char *p = key; *p; p++)
    if (*p == ':')
      *p = '-';
}

/* After one disk's copy into dst_path (closed): the file sealed, the
 * result counted and the disk's manifest entry e completed, whatever the
 * source (a VM folder, vSphere). */
int
vd__bk_finish_disk (const struct vd__bk_point *pb, json_object *e,
                    const char *key, const char *kind, const char *dst_path,
                    vd_disk *src, const char *change_id,
                    const struct vd_backup_options *o, struct copy *c,
                    struct vd_backup_result *res)
{
  enum vd_type ft = vd__bk_full_type (o);
  int full = strcmp (kind, "full") == 0;
  res->bytes_read += c->read;
  res->bytes_written += c->written;
  char *rel = vd__asprintf ("disks/%s/%s.vmdk", key, pb->point);
  json_object *fe = NULL;
  int sync = !(o && (o->flags & VD_BACKUP_NO_SYNC));
  int r = rel ? vd__bk_seal_file (dst_path, rel, c->hasher, sync, &fe)
              : VD_ENOMEM;
  c->hasher = NULL;
  json_object_object_add (e, "kind", json_object_new_string (kind));
  json_object_object_add (e, "file", json_object_new_string (rel ? rel : ""));
  json_object_object_add (e, "capacity",
                          json_object_new_int64 ((int64_t) vd_disk_get_size (src)));
  json_object_object_add (e, "create_type",
                          json_object_new_string (vd_disk_get_create_type (src)));
  if (change_id)
    json_object_object_add (e, "change_id", json_object_new_string (change_id));
  json_object_object_add (e, "file_type", json_object_new_string
                          (full ? vd_type_name (ft) : "monolithicSparse"));
  json_object_object_add (e, "bytes_read", json_object_new_int64 ((int64_t) c->read));
  json_object_object_add (e, "bytes_written", json_object_new_int64 ((int64_t) c->written));
  json_object_object_add (e, "disk_file", fe);
  if (strcmp (kind, "incremental") == 0)
    json_object_object_add (e, "parent_point", json_object_new_string (pb->prev_point));
  free (rel);
  return r;
}

static int
backup_disk (const struct vd__bk_point *pb, struct vm_disk *vd,
             uint32_t flags, const struct vd_backup_options *o,
             struct vd_backup_result *res)
{
  const char *repo = pb->repo, *point = pb->point;
  vd_disk *src = NULL, *dst = NULL;
  struct vd_cbt_info ci;
  json_object *e = json_object_new_object ();
  char *dir = vd__asprintf ("%s/disks/%s", repo, vd->key);
  char *dst_path = dir ? vd__asprintf ("%s/%s.vmdk", dir, point) : NULL;
  char *prev_path = NULL;
  const char *kind = "full";
  struct copy c = { 0 };
  int r;

  c.wb_fd = -1;
  json_object_array_add (pb->disks, e);
  json_object_object_add (e, "device", json_object_new_string (vd->device));
  json_object_object_add (e, "name", json_object_new_string (vd->name));
  if (!dst_path)
    return VD_ENOMEM;
  if (mkdir (dir, 0755) < 0 && errno != EEXIST) {
    r = vd__error (VD_EIO, errno, "%s: mkdir", dir);
    goto out;
  }
  /* The disk, open for writing since vd_backup_vm checked it (the write
   * lock freezes it while it is read); changes tracked from the first
   * backup on. */
  src = vd->d;
  r = vd_disk_get_cbt (src, &ci);
  if (r < 0 || ci.state != VD_CBT_ON) {
    vd__error_clear ();
    if ((r = vd__link_cbt_enable (src->top, 0)) < 0
        || (r = vd_disk_get_cbt (src, &ci)) < 0)
      goto out;
  }
  char id_now[VD_CHANGE_ID_MAX];
  snprintf (id_now, sizeof id_now, "%s", ci.change_id);

  json_object *pd = pb->prev_point ? vd__bk_prev_disk (pb->prev, vd->device)
                                   : NULL;
  const char *prev_id = vd__bk_jstr (pd, "change_id");
  uint64_t cap = vd_disk_get_size (src);
  if (pd && prev_id && !(flags & VD_BACKUP_FULL)
      && (uint64_t) vd__bk_jint (pd, "capacity", -1) == cap
      && (prev_path = vd__bk_disk_file_of (repo, pd)) != NULL) {
    /* Incremental: only if the old ID still answers in this epoch. */
    int q = vd_disk_query_changed_areas (src, prev_id, 0, 0, vd__bk_copy_area, NULL);
    if (q == 0)
      kind = "incremental";
    else
      vd__error_clear ();
  }
  else
    vd__error_clear ();

  c.buf = malloc (COPY_CHUNK);
  c.src = src;
  c.progress = o ? o->progress : NULL;
  c.payload = o ? o->payload : NULL;
  c.total = cap;
  c.wb_fd = -1;
  c.skip_zero = strcmp (kind, "full") == 0;
  if (!c.buf) {
    r = vd__error (VD_ENOMEM, errno, "backup buffer");
    goto out;
  }
  unlink (dst_path);    /* a file of a point that never completed */
  enum vd_type ft = vd__bk_full_type (o);
  r = vd__bk_create_point_file (src, kind, prev_path, dst_path, ft);
  if (r == 0)
    r = vd_disk_open (&dst, dst_path, VD_OPEN_NO_SYNC);
  if (r == 0) {
    c.dst = dst;
    c.wb_fd = open (dst_path, O_RDONLY | O_CLOEXEC);
    if (c.skip_zero && c.wb_fd >= 0)
      c.hasher = vd__bk_hasher_early (dst_path, cap, &c.grain);
    if (strcmp (kind, "incremental") == 0)
      r = vd_disk_query_changed_areas (src, prev_id, 0, cap, vd__bk_copy_area, &c);
    else
      r = vd_disk_block_status (src, 0, cap, vd__bk_copy_data, &c);
    if (r == 0)
      r = c.r;
  }
  free (c.buf);
  if (c.wb_fd >= 0)
    close (c.wb_fd);
  if (dst) {
    int r2 = vd_disk_flush (dst);
    int r3 = vd_disk_close (dst);
    dst = NULL;
    if (r == 0)
      r = r2 < 0 ? r2 : r3;
  }
  if (r < 0)
    goto out;
  r = vd__bk_finish_disk (pb, e, vd->key, kind, dst_path, src, id_now, o,
                          &c, res);
out:
  vd__bk_hasher_free (c.hasher);
  free (prev_path);
  free (dst_path);
  free (dir);
  return r;
}

static int
vm_files (const char *folder, const char *files_dir, json_object *arr,
          uint64_t *bytes)
{
  static const char *const exts[] = { ".vmx", ".vmsd", ".vmxf", ".nvram", NULL };
  DIR *d = opendir (folder);
  struct dirent *de;
  int r = 0;
  if (!d)
    return vd__error (VD_ENOENT, errno, "%s: open folder", folder);
  while (r == 0 && (de = readdir (d))) {
    size_t n = strlen (de->d_name);
    int want = 0;
    for (int i = 0; exts[i]; i++) {
      size_t k = strlen (exts[i]);
      if (n > k && strcmp (de->d_name + n - k, exts[i]) == 0)
        want = 1;
    }
    if (!want || !vd__bk_plain_name (de->d_name))
      continue;
    char *from = vd__asprintf ("%s/%s", folder, de->d_name);
    char *to = vd__asprintf ("%s/%s", files_dir, de->d_name);
    char *rel = vd__asprintf ("files/%s", de->d_name);
    json_object *fe = NULL;
    if (!from || !to || !rel)
      r = VD_ENOMEM;
    else
      r = vd__bk_copy_file_entry (from, to, rel, bytes, &fe);
    if (r == 0)
      json_object_array_add (arr, fe);
    free (rel);
    free (from);
    free (to);
  }
  closedir (d);
  return r;
}

/* The VM's disks closed (their tracking written); r, or the first error. */
static int
close_disks (struct vm *v, int r)
{
  for (unsigned i = 0; i < v->n; i++)
    if (v->disks[i].d) {
      int r2 = vd_disk_close (v->disks[i].d);
      v->disks[i].d = NULL;
      if (r == 0)
        r = r2;
    }
  return r;
}

int
vd_backup_vm (const char *folder, const char *repo,
              const struct vd_backup_options *o, struct vd_backup_result *res)
{
  struct vd_backup_result dummy;
  struct vd__bk_point pb;
  struct vm vm;
  uint32_t flags = o ? o->flags : 0;
  int r;

  VD_ENTER ();
  if (!folder || !repo)
    return vd__error (VD_EINVAL, 0, "backup: need a VM folder and a "
                      "repository");
  if (o && o->struct_size < offsetof (struct vd_backup_options, payload)
                            + sizeof o->payload)
    return vd__error (VD_EINVAL, 0, "backup: options struct_size %u is too "
                      "small", o->struct_size);
  if (vd__bk_full_type (o) != VD_TYPE_MONOLITHIC_SPARSE
      && vd__bk_full_type (o) != VD_TYPE_STREAM_OPTIMIZED)
    return vd__error (VD_EINVAL, 0, "backup: a full point is monolithicSparse "
                     "or streamOptimized, not %s", vd_type_name (vd__bk_full_type (o)));
  if (!res)
    res = &dummy;
  memset (res, 0, sizeof *res);
  if (strncmp (folder, "vsphere://", 10) == 0)
    return vd__bk_backup_vsphere (folder, repo, o, res);
  memset (&pb, 0, sizeof pb);
  pb.lk = -1;
  r = load_vm (&vm, folder);
  if (r < 0)
    goto out;
  /* Every disk must be free for writing before anything is touched;
   * each stays open (locked) until the backup is done. */
  for (unsigned i = 0; i < vm.n && r == 0; i++)
    if (!vm.disks[i].rdm)
      r = vd_disk_open (&vm.disks[i].d, vm.disks[i].path, 0);
  if (r < 0)
    goto out;
  char *vmx_name = vd__basename (vm.vmx);
  r = vmx_name ? vd__bk_point_begin (&pb, repo, vmx_name, vm.display, flags)
               : VD_ENOMEM;
  free (vmx_name);
  if (r < 0)
    goto out;
  r = vm_files (folder, pb.files_dir, pb.files, &res->bytes_written);
  for (unsigned i = 0; i < vm.n && r == 0; i++) {
    if (vm.disks[i].rdm)
      r = vd__bk_backup_rdm (repo, pb.point, pb.files_dir, &vm.disks[i],
                             flags, pb.disks, res);
    else
      r = backup_disk (&pb, &vm.disks[i], flags, o, res);
    if (r == 0)
      res->disks++;
  }
  r = close_disks (&vm, r);
  if (r == 0)
    r = vd__bk_point_commit (&pb, o, res);
out:
  close_disks (&vm, r);
  vd__bk_point_end (&pb);
  vm_free (&vm);
  return r;
}
