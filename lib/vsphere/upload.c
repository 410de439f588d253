/* Clone a local disk onto a datastore, as the guide's "clone to a managed
 * disk" does: the result is a vmfs flat disk (descriptor + -flat.vmdk),
 * thin (ddb.thinProvisioned) when asked, written through the datastore
 * file service with PUT: first the -flat.vmdk, streamed from the source
 * disk's content, then the descriptor (so an interrupted upload never
 * leaves a descriptor naming a partial extent).  An existing disk is
 * refused unless VD_VSPHERE_UPLOAD_OVERWRITE. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#define CHUNK (4u << 20)

struct put_src {
  vd_disk *disk;          /* NULL: from mem or fd */
  int fd;                 /* >= 0: from this file */
  const char *mem;
  uint64_t size, pos;
  uint8_t *buf;
  size_t have, at;
  int failed;
  vd_progress_cb progress;
  void *payload;
  int canceled;
};

static size_t
put_read (char *dst, size_t size, size_t n, void *arg)
{
  struct put_src *p = arg;
  size_t want = size * n, k;
  if (p->pos >= p->size)
    return 0;
  if (!p->disk && p->fd >= 0) {
    ssize_t got = pread (p->fd, dst, (size_t) VD_MIN ((uint64_t) want,
                                                    p->size - p->pos),
                         (off_t) p->pos);
    if (got <= 0) {
      p->failed = 1;
      return CURL_READFUNC_ABORT;
    }
    p->pos += (uint64_t) got;
    return (size_t) got;
  }
  if (!p->disk) {
    k = (size_t) VD_MIN ((uint64_t) want, p->size - p->pos);
    memcpy (dst, p->mem + p->pos, k);
    p->pos += k;
    return k;
  }
  if (p->at == p->have) {
    size_t c = (size_t) VD_MIN ((uint64_t) CHUNK, p->size - p->pos);
    if (vd_disk_read (p->disk, p->buf, c, p->pos) < 0) {
      p->failed = 1;
      return CURL_READFUNC_ABORT;
    }
    p->have = c;
    p->at = 0;
  }
  k = VD_MIN (want, p->have - p->at);
  memcpy (dst, p->buf + p->at, k);
  p->at += k;
  p->pos += k;
  if (p->progress && p->progress (p->pos, p->size, p->payload)) {
    p->canceled = 1;
    return CURL_READFUNC_ABORT;
  }
  return k;
}

static size_t
discard (char *d, size_t size, size_t n, void *arg)
{
  (void) d; (void) arg;
  return size * n;
}

static int
put_file (struct vd_vsphere *s, const char *url, const char *display,
          struct put_src *src)
{
  CURL *h = vd__vs_curl (s);
  struct curl_slist *hdr = NULL;
  long status = 0;
  CURLcode c;

  if (!h)
    return VD_ENOMEM;
  hdr = curl_slist_append (hdr, "Content-Type: application/octet-stream");
  hdr = curl_slist_append (hdr, "Expect:");
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt (h, CURLOPT_READFUNCTION, put_read);
  curl_easy_setopt (h, CURLOPT_READDATA, src);
  curl_easy_setopt (h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) src->size);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt (h, CURLOPT_TIMEOUT, 0L);
  c = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all (hdr);
  curl_easy_cleanup (h);
  if (src->canceled)
    return vd_error (VD_ECANCELED, 0, "%s: upload canceled", display);
  if (src->failed)
    return src->disk ? VD_EIO   /* vd_disk_read recorded why */
           : vd_error (VD_EIO, errno, "%s: reading the local file failed",
                       display);
  if (c != CURLE_OK)
    return vd_error (VD_EIO, ECONNRESET, "%s: upload failed after %llu of "
                     "%llu bytes: %s", display,
                     (unsigned long long) src->pos,
                     (unsigned long long) src->size,
                     curl_easy_strerror (c));
  if (status != 200 && status != 201 && status != 204)
    return vd_error (VD_EIO, status == 401 || status == 403 ? EACCES : EIO,
                     "%s: the server answered HTTP %ld to the upload",
                     display, status);
  return 0;
}

/* https://HOST/folder/PATH?dcPath=..&dsName=.. (escaped) */
static char *
make_url (struct vd_vsphere *s, const char *dc, const char *ds,
          const char *path)
{
  CURL *h = curl_easy_init ();
  char *u = NULL, *e;
  size_t cap, k;
  const char *p = path;
  if (!h)
    return NULL;
  cap = strlen (vd__vs_base (s)) + 3 * (strlen (dc) + strlen (ds)
                                         + strlen (path)) + 64;
  if (!(u = malloc (cap)))
    goto out;
  k = (size_t) snprintf (u, cap, "%s/folder", vd__vs_base (s));
  while (*p) {
    size_t n = strcspn (p, "/");
    if (n) {
      e = curl_easy_escape (h, p, (int) n);
      k += (size_t) snprintf (u + k, cap - k, "/%s", e ? e : "");
      curl_free (e);
    }
    p += n;
    if (*p == '/')
      p++;
  }
  e = curl_easy_escape (h, dc, 0);
  k += (size_t) snprintf (u + k, cap - k, "?dcPath=%s", e ? e : "");
  curl_free (e);
  e = curl_easy_escape (h, ds, 0);
  snprintf (u + k, cap - k, "&dsName=%s", e ? e : "");
  curl_free (e);
out:
  curl_easy_cleanup (h);
  return u;
}

/* Does "[ds] path" exist?  1 yes, 0 no, negative on error. */
static int
exists (struct vd_vsphere *s, const char *dc, const char *dspath)
{
  struct vd_io *io;
  int r = vd__vs_open_file (&io, s, dc, dspath, 0);
  if (r == 0) {
    vd__io_close (io);
    return 1;
  }
  if (r == VD_ENOENT) {
    vd__error_clear ();
    return 0;
  }
  return r;
}

/* The descriptor of a vmfs disk like src (made in memory, as
 * vd_disk_create writes one). */
static int
vmfs_descriptor (vd_disk *src, const char *base, int thin, char **text,
                 size_t *len)
{
  struct vd_create_params cp;
  uint32_t cid = 0;
  char *ext;
  uint64_t size = vd_disk_get_size (src);

  *text = NULL;
  if (!vd__desc_value_ok (base))
    return vd_error (VD_EINVAL, 0, "upload: \"%s\" cannot be named in a "
                     "descriptor", base);
  vd_create_params_init (&cp);
  cp.type = thin ? VD_TYPE_VMFS_THIN : VD_TYPE_VMFS;
  cp.capacity = size;
  cp.adapter = vd_disk_get_adapter (src);
  if (cp.adapter == VD_ADAPTER_IDE || cp.adapter == VD_ADAPTER_UNKNOWN)
    cp.adapter = VD_ADAPTER_LSILOGIC;    /* what ESXi gives a vmfs disk */
  if (size == 0 || size % VD_SECTOR)
    return vd_error (VD_EINVAL, 0, "upload: a capacity of %llu bytes is "
                     "not whole sectors", (unsigned long long) size);
  while (cid == 0 || cid == 0xffffffffu)
    if (vd__random_bytes ((uint8_t *) &cid, sizeof cid) < 0)
      return vd_error (VD_EIO, errno, "upload: random");
  ext = vd__asprintf ("RW %llu VMFS \"%s-flat.vmdk\"\n",
                      (unsigned long long) (size / VD_SECTOR), base);
  if (!ext)
    return VD_ENOMEM;
  *text = vd__make_descriptor (&cp, "vmfs", ext, cid, NULL, 0);
  free (ext);
  if (!*text)
    return vd_error (VD_ENOMEM, errno, "upload: descriptor");
  *len = strlen (*text);
  return 0;
}

VD_API int
vd_vsphere_upload (vd_vsphere *s, const char *src_path, const char *dc,
                   const char *dspath, uint32_t flags,
                   vd_progress_cb progress, void *payload)
{
  VD_ENTER ();
  char *ds = NULL, *path = NULL, *base = NULL, *dcp = NULL, *flat = NULL;
  char *flat_ds = NULL, *url = NULL, *desc = NULL;
  const char *slash;
  struct put_src p = { .fd = -1 };
  vd_disk *src = NULL;
  size_t dlen = 0;
  int r;

  if (!s || !src_path || !dspath)
    return vd_error (VD_EINVAL, 0, "upload: no session, source or target");
  if (dspath[0] != '[' || !strchr (dspath, ']'))
    return vd_error (VD_EINVAL, 0, "upload: %s is not \"[datastore] "
                     "folder/disk.vmdk\"", dspath);
  ds = strndup (dspath + 1, (size_t) (strchr (dspath, ']') - dspath - 1));
  path = strdup (strchr (dspath, ']') + 1 + strspn (strchr (dspath, ']') + 1,
                                                    " "));
  if (!ds || !path) {
    r = vd_error (VD_ENOMEM, errno, "upload");
    goto out;
  }
  {
    size_t n = strlen (path);
    slash = strrchr (path, '/');
    if (!*ds || n < 6 || strcmp (path + n - 5, ".vmdk") != 0
        || strstr (path, "..") || path[0] == '/') {
      r = vd_error (VD_EINVAL, 0, "upload: %s: the target must be a "
                    "\"[datastore] folder/NAME.vmdk\"", dspath);
      goto out;
    }
    base = strndup (slash ? slash + 1 : path,
                    strlen (slash ? slash + 1 : path) - 5);
    flat = vd__asprintf ("%.*s-flat.vmdk", (int) (n - 5), path);
    flat_ds = vd__asprintf ("[%s] %s", ds, flat);
  }
  if (!base || !flat || !flat_ds || !*base) {
    r = base && !*base ? vd_error (VD_EINVAL, 0, "upload: no file name")
                       : VD_ENOMEM;
    goto out;
  }
  if (dc)
    dcp = strdup (dc);
  else if ((r = vd__vs_dc_of (s, ds, &dcp)) < 0)
    goto out;
  if (!dcp) {
    r = VD_ENOMEM;
    goto out;
  }
  if (!(flags & VD_VSPHERE_UPLOAD_OVERWRITE)) {
    int e1 = exists (s, dcp, dspath), e2 = e1 ? 0 : exists (s, dcp, flat_ds);
    if (e1 < 0 || e2 < 0) {
      r = e1 < 0 ? e1 : e2;
      goto out;
    }
    if (e1 || e2) {
      r = vd_error (VD_EEXIST, EEXIST, "upload: %s already exists on the "
                    "datastore (overwrite it explicitly)",
                    e1 ? dspath : flat_ds);
      goto out;
    }
  }
  r = vd_disk_open (&src, src_path, VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  r = vmfs_descriptor (src, base, (flags & VD_VSPHERE_UPLOAD_THIN) != 0,
                       &desc, &dlen);
  if (r < 0)
    goto out;
  /* the extent first, then the descriptor that names it */
  p.disk = src;
  p.size = vd_disk_get_size (src);
  p.progress = progress;
  p.payload = payload;
  p.buf = malloc (CHUNK);
  url = make_url (s, dcp, ds, flat);
  if (!p.buf || !url) {
    r = vd_error (VD_ENOMEM, errno, "upload");
    goto out;
  }
  r = put_file (s, url, flat_ds, &p);
  if (r < 0)
    goto out;
  free (url);
  url = make_url (s, dcp, ds, path);
  if (!url) {
    r = VD_ENOMEM;
    goto out;
  }
  {
    struct put_src d = { .fd = -1, .mem = desc, .size = dlen };
    r = put_file (s, url, dspath, &d);
  }
out:
  if (src)
    vd_disk_close (src);
  free (p.buf);
  free (ds); free (path); free (base); free (dcp); free (flat);
  free (flat_ds); free (url); free (desc);
  return r;
}

/* "[ds] path" -> ds, path (malloc'd); 0 or an error. */
static int
split_target (const char *dspath, char **ds, char **path)
{
  const char *e = dspath ? strchr (dspath, ']') : NULL;
  *ds = *path = NULL;
  if (!dspath || dspath[0] != '[' || !e || e == dspath + 1)
    return vd_error (VD_EINVAL, 0, "%s: not \"[datastore] folder/file\"",
                     dspath ? dspath : "(null)");
  *ds = strndup (dspath + 1, (size_t) (e - dspath - 1));
  *path = strdup (e + 1 + strspn (e + 1, " "));
  if (!*ds || !*path)
    return vd_error (VD_ENOMEM, errno, "path");
  if (!**path || strstr (*path, "..") || (*path)[0] == '/'
      || (*path)[strlen (*path) - 1] == '/')
    return vd_error (VD_EINVAL, 0, "%s: not a file path on the datastore",
                     dspath);
  return 0;
}

VD_API int
vd_vsphere_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                     const char *dspath, uint32_t flags)
{
  VD_ENTER ();
  char *ds = NULL, *path = NULL, *dcp = NULL, *url = NULL;
  struct put_src p = { .fd = -1 };
  struct stat st;
  int r;

  if (!s || !local_path)
    return vd_error (VD_EINVAL, 0, "put: no session or file");
  r = split_target (dspath, &ds, &path);
  if (r < 0)
    goto out;
  p.fd = open (local_path, O_RDONLY | O_CLOEXEC);
  if (p.fd < 0 || fstat (p.fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    r = vd_error (p.fd < 0 ? vd__errno_code (errno) : VD_EINVAL, errno,
                  "%s: %s", local_path, p.fd < 0 ? "open"
                  : "not a regular file");
    goto out;
  }
  p.size = (uint64_t) st.st_size;
  if (dc)
    dcp = strdup (dc);
  else if ((r = vd__vs_dc_of (s, ds, &dcp)) < 0)
    goto out;
  if (!dcp) {
    r = VD_ENOMEM;
    goto out;
  }
  if (!(flags & VD_VSPHERE_UPLOAD_OVERWRITE)) {
    r = exists (s, dcp, dspath);
    if (r > 0)
      r = vd_error (VD_EEXIST, EEXIST, "put: %s already exists on the "
                    "datastore (overwrite it explicitly)", dspath);
    if (r < 0)
      goto out;
  }
  url = make_url (s, dcp, ds, path);
  r = url ? put_file (s, url, dspath, &p) : VD_ENOMEM;
out:
  if (p.fd >= 0)
    close (p.fd);
  free (ds); free (path); free (dcp); free (url);
  return r;
}

VD_API int
vd_vsphere_get_file (vd_vsphere *s, const char *dc, const char *dspath,
                     const char *local_path, uint32_t flags)
{
  VD_ENTER ();
  char *ds = NULL, *path = NULL, *dcp = NULL, *tmp = NULL;
  struct vd_io *io = NULL;
  uint8_t *buf = NULL;
  uint64_t size = 0;
  int fd = -1, r;

  if (!s || !local_path)
    return vd_error (VD_EINVAL, 0, "get: no session or file");
  r = split_target (dspath, &ds, &path);
  if (r < 0)
    goto out;
  if (!(flags & VD_VSPHERE_UPLOAD_OVERWRITE)
      && access (local_path, F_OK) == 0) {
    r = vd_error (VD_EEXIST, EEXIST, "get: %s exists (overwrite it "
                  "explicitly)", local_path);
    goto out;
  }
  if (dc)
    dcp = strdup (dc);
  else if ((r = vd__vs_dc_of (s, ds, &dcp)) < 0)
    goto out;
  if (!dcp) {
    r = VD_ENOMEM;
    goto out;
  }
  r = vd__vs_open_file (&io, s, dcp, dspath, 0);
  if (r < 0)
    goto out;
  io->ops->size (io, &size);
  /* into a temporary beside it, renamed when complete */
  tmp = vd__asprintf ("%s.part.%ld", local_path, (long) getpid ());
  buf = malloc (CHUNK);
  if (!tmp || !buf) {
    r = vd_error (VD_ENOMEM, errno, "get");
    goto out;
  }
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    r = vd_error (vd__errno_code (errno), errno, "%s: create", tmp);
    goto out;
  }
  for (uint64_t off = 0; off < size && r == 0;) {
    size_t n = (size_t) VD_MIN ((uint64_t) CHUNK, size - off);
    r = vd__io_pread (io, buf, n, off);
    if (r == 0 && pwrite (fd, buf, n, (off_t) off) != (ssize_t) n)
      r = vd_error (VD_EIO, errno, "%s: write", tmp);
    off += n;
  }
  if (r == 0 && fsync (fd) < 0)
    r = vd_error (VD_EIO, errno, "%s: write", tmp);
  if (close (fd) < 0 && r == 0)
    r = vd_error (VD_EIO, errno, "%s: write", tmp);
  fd = -1;
  if (r == 0 && rename (tmp, local_path) < 0)
    r = vd_error (VD_EIO, errno, "%s: rename", local_path);
  if (r < 0)
    unlink (tmp);
out:
  if (fd >= 0) {
    close (fd);
    unlink (tmp);
  }
  vd__io_close (io);
  free (buf); free (tmp); free (ds); free (path); free (dcp);
  return r;
}

#endif /* VD_HAVE_VSPHERE */
