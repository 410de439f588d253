/* Clone a local disk onto a datastore, as the guide's "clone to a managed
 * disk" does: the result is a vmfs flat disk (descriptor + -flat.vmdk),
 * thin (ddb.thinProvisioned) when asked, written through the datastore
 * file service with PUT: first the -flat.vmdk, streamed from the source
 * disk's content, then the descriptor (so an interrupted upload never
 * leaves a descriptor naming a partial extent).  An existing disk is
 * refused unless VD_VSPHERE_UPLOAD_OVERWRITE.
 *
 * Holes are sent as zeros: the datastore file service (/folder) documents
 * GET, HEAD, PUT and DELETE, and a PUT replaces the whole file; it takes
 * no Content-Range (govmomi's simulator truncates the file and writes the
 * body, tests/vsphere/test-vsphere-upload.sh shows it), so a flat extent
 * cannot be written by ranged PUTs of its allocated data only.  The
 * zeros cost bandwidth, never correctness (docs/vsphere.md). */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/curl-dl.h"

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
    return vd__error (VD_ECANCELED, 0, "%s: upload canceled", display);
  if (src->failed)
    return src->disk ? VD_EIO   /* vd_disk_read recorded why */
           : vd__error (VD_EIO, errno, "%s: reading the local file failed",
                       display);
  if (c != CURLE_OK)
    return vd__error (VD_EIO, ECONNRESET, "%s: upload failed after %llu of "
                     "%llu bytes: %s", display,
                     (unsigned long long) src->pos,
                     (unsigned long long) src->size,
                     curl_easy_strerror (c));
  if (status != 200 && status != 201 && status != 204)
    return vd__error (VD_EIO, status == 401 || status == 403 ? EACCES : EIO,
                     "%s: the server answered HTTP %ld to the upload",
                     display, status);
  return 0;
}

/* A file on a datastore: its datastore, path and datacenter (given, or
 * found through the inventory). */
struct target {
  char *ds, *path, *dc;
};

static void
target_free (struct target *t)
{
  free (t->ds); free (t->path); free (t->dc);
}

static int
target_init (struct vd_vsphere *s, const char *dc, const char *dspath,
             struct target *t)
{
  int r = vd__https_split_dspath (dspath, &t->ds, &t->path);
  t->dc = NULL;
  if (r < 0)
    return r;
  if (!dc)
    return vd__vs_dc_of (s, t->ds, &t->dc);
  t->dc = strdup (dc);
  return t->dc ? 0 : vd__error (VD_ENOMEM, errno, "path");
}

/* The /folder URL of path (a file of t's datastore folder). */
static char *
target_url (struct vd_vsphere *s, const struct target *t, const char *path)
{
  CURL *h = curl_easy_init ();
  char *u = h ? vd__https_folder_url (h, vd__vs_base (s), t->dc, t->ds, path)
              : NULL;
  if (h)
    curl_easy_cleanup (h);
  if (!u)
    vd__error (VD_ENOMEM, errno, "url");
  return u;
}

/* 0 when "[ds] path" is not there (or overwrite), VD_EEXIST when it is
 * (what: "upload", "put"), or an error. */
static int
refuse_existing (struct vd_vsphere *s, const struct target *t,
                 const char *dspath, const char *what, uint32_t flags)
{
  struct vd_io *io;
  int r;
  if (flags & VD_VSPHERE_UPLOAD_OVERWRITE)
    return 0;
  r = vd__vs_open_file (&io, s, t->dc, dspath, 0);
  if (r == 0) {
    vd__io_close (io);
    return vd__error (VD_EEXIST, EEXIST, "%s: %s already exists on the "
                     "datastore (overwrite it explicitly)", what, dspath);
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
    return vd__error (VD_EINVAL, 0, "upload: \"%s\" cannot be named in a "
                     "descriptor", base);
  vd_create_params_init (&cp);
  cp.type = thin ? VD_TYPE_VMFS_THIN : VD_TYPE_VMFS;
  cp.capacity = size;
  cp.adapter = vd_disk_get_adapter (src);
  if (cp.adapter == VD_ADAPTER_IDE || cp.adapter == VD_ADAPTER_UNKNOWN)
    cp.adapter = VD_ADAPTER_LSILOGIC;    /* what ESXi gives a vmfs disk */
  if (size == 0 || size % VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "upload: a capacity of %llu bytes is "
                     "not whole sectors", (unsigned long long) size);
  while (cid == 0 || cid == 0xffffffffu)
    if (vd__random_bytes ((uint8_t *) &cid, sizeof cid) < 0)
      return vd__error (VD_EIO, errno, "upload: random");
  ext = vd__asprintf ("RW %llu VMFS \"%s-flat.vmdk\"\n",
                      (unsigned long long) (size / VD_SECTOR), base);
  if (!ext)
    return VD_ENOMEM;
  *text = vd__make_descriptor (&cp, "vmfs", ext, cid, NULL, 0);
  free (ext);
  if (!*text)
    return vd__error (VD_ENOMEM, errno, "upload: descriptor");
  *len = strlen (*text);
  return 0;
}

/* "[ds] folder/NAME.vmdk" -> NAME and "folder/NAME-flat.vmdk". */
static int
flat_names (const char *dspath, const struct target *t, char **base,
            char **flat)
{
  size_t n = strlen (t->path);
  const char *slash = strrchr (t->path, '/');
  const char *name = slash ? slash + 1 : t->path;
  *base = *flat = NULL;
  if (n < 6 || strcmp (t->path + n - 5, ".vmdk") != 0 || strlen (name) < 6)
    return vd__error (VD_EINVAL, 0, "upload: %s: the target must be a "
                     "\"[datastore] folder/NAME.vmdk\"", dspath);
  *base = strndup (name, strlen (name) - 5);
  *flat = vd__asprintf ("%.*s-flat.vmdk", (int) (n - 5), t->path);
  return *base && *flat ? 0 : vd__error (VD_ENOMEM, errno, "upload");
}

int
vd__vs_upload (vd_vsphere *s, const char *src_path, const char *dc,
               const char *dspath, uint32_t flags,
               vd_progress_cb progress, void *payload, unsigned *put)
{
  struct target t = { 0 };
  char *base = NULL, *flat = NULL, *flat_ds = NULL, *url = NULL;
  char *desc = NULL;
  struct put_src p = { .fd = -1 };
  vd_disk *src = NULL;
  size_t dlen = 0;
  int r;

  if (!s || !src_path || !dspath)
    return vd__error (VD_EINVAL, 0, "upload: no session, source or target");
  r = vd__https_split_dspath (dspath, &t.ds, &t.path);
  if (r == 0)
    r = flat_names (dspath, &t, &base, &flat);
  if (r == 0 && !(flat_ds = vd__asprintf ("[%s] %s", t.ds, flat)))
    r = VD_ENOMEM;
  /* the datacenter (and every check) before anything is read or sent */
  if (r == 0)
    r = dc ? ((t.dc = strdup (dc)) ? 0 : VD_ENOMEM)
           : vd__vs_dc_of (s, t.ds, &t.dc);
  if (r == 0)
    r = refuse_existing (s, &t, dspath, "upload", flags);
  if (r == 0)
    r = refuse_existing (s, &t, flat_ds, "upload", flags);
  if (r == 0)
    r = vd_disk_open (&src, src_path, VD_OPEN_READ_ONLY);
  if (r == 0)
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
  if (!p.buf) {
    r = vd__error (VD_ENOMEM, errno, "upload");
    goto out;
  }
  url = target_url (s, &t, flat);
  if (url)
    *put |= VD_VS_PUT_DATA;
  r = url ? put_file (s, url, flat_ds, &p) : VD_ENOMEM;
  free (url);
  url = r == 0 ? target_url (s, &t, t.path) : NULL;
  if (r == 0 && !url)
    r = VD_ENOMEM;
  if (r == 0) {
    struct put_src d = { .fd = -1, .mem = desc, .size = dlen };
    *put |= VD_VS_PUT_DESC;
    r = put_file (s, url, dspath, &d);
  }
out:
  if (src)
    vd_disk_close (src);
  target_free (&t);
  free (p.buf); free (base); free (flat); free (flat_ds); free (url);
  free (desc);
  return r;
}

VD_API int
vd_vsphere_upload (vd_vsphere *s, const char *src_path, const char *dc,
                   const char *dspath, uint32_t flags,
                   vd_progress_cb progress, void *payload)
{
  VD_ENTER ();
  unsigned put = 0;
  return vd__vs_upload (s, src_path, dc, dspath, flags, progress, payload,
                        &put);
}

int
vd__vs_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                 const char *dspath, uint32_t flags, unsigned *put)
{
  struct target t = { 0 };
  struct put_src p = { .fd = -1 };
  struct stat st;
  char *url = NULL;
  int r;

  if (!s || !local_path)
    return vd__error (VD_EINVAL, 0, "put: no session or file");
  p.fd = open (local_path, O_RDONLY | O_CLOEXEC);
  if (p.fd < 0 || fstat (p.fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    r = vd__error (p.fd < 0 ? vd__errno_code (errno) : VD_EINVAL, errno,
                  "%s: %s", local_path, p.fd < 0 ? "open"
                  : "not a regular file");
    goto out;
  }
  p.size = (uint64_t) st.st_size;
  r = target_init (s, dc, dspath, &t);
  if (r == 0)
    r = refuse_existing (s, &t, dspath, "put", flags);
  if (r == 0 && !(url = target_url (s, &t, t.path)))
    r = VD_ENOMEM;
  if (r == 0) {
    *put |= VD_VS_PUT_DATA;
    r = put_file (s, url, dspath, &p);
  }
out:
  if (p.fd >= 0)
    close (p.fd);
  target_free (&t);
  free (url);
  return r;
}

VD_API int
vd_vsphere_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                     const char *dspath, uint32_t flags)
{
  VD_ENTER ();
  unsigned put = 0;
  return vd__vs_put_file (s, local_path, dc, dspath, flags, &put);
}

/* A datastore file read whole into memory (at most max bytes). */
static int
read_whole (struct vd_vsphere *s, const struct target *t, const char *dspath,
            uint64_t max, uint8_t **buf, uint64_t *size)
{
  struct vd_io *io = NULL;
  int r = vd__vs_open_file (&io, s, t->dc, dspath, 0);
  *buf = NULL;
  *size = 0;
  if (r == 0)
    r = io->ops->size (io, size);
  if (r == 0 && *size > max)
    r = vd__error (VD_ENOTSUP, EFBIG, "get: %s: %llu bytes, more than the "
                  "%llu MiB a single file copy takes", dspath,
                  (unsigned long long) *size,
                  (unsigned long long) (max >> 20));
  if (r == 0 && !(*buf = malloc (*size ? *size : 1)))
    r = vd__error (VD_ENOMEM, errno, "get");
  if (r == 0 && *size)
    r = vd__io_pread (io, *buf, (size_t) *size, 0);
  vd__io_close (io);
  if (r < 0) {
    free (*buf);
    *buf = NULL;
  }
  return r;
}

VD_API int
vd_vsphere_get_file (vd_vsphere *s, const char *dc, const char *dspath,
                     const char *local_path, uint32_t flags)
{
  VD_ENTER ();
  struct target t = { 0 };
  uint8_t *buf = NULL;
  uint64_t size = 0;
  int r;

  if (!s || !local_path)
    return vd__error (VD_EINVAL, 0, "get: no session or file");
  if (!(flags & VD_VSPHERE_UPLOAD_OVERWRITE)
      && access (local_path, F_OK) == 0)
    return vd__error (VD_EEXIST, EEXIST, "get: %s exists (overwrite it "
                     "explicitly)", local_path);
  r = target_init (s, dc, dspath, &t);
  if (r == 0)
    r = read_whole (s, &t, dspath, VD_VS_MAX_FILE, &buf, &size);
  /* the one atomic replace (base/fsutil.c): complete or not there */
  if (r == 0)
    r = vd__replace_file (local_path, buf, (size_t) size, 0600);
  target_free (&t);
  free (buf);
  return r;
}

VD_API int
vd_vsphere_file_size (vd_vsphere *s, const char *dc, const char *dspath,
                      uint64_t *size)
{
  VD_ENTER ();
  struct target t = { 0 };
  struct vd_io *io = NULL;
  uint64_t n = 0;
  int r;

  if (size)
    *size = 0;
  if (!s || !dspath)
    return vd__error (VD_EINVAL, 0, "stat: no session or path");
  r = target_init (s, dc, dspath, &t);
  if (r == 0)
    r = vd__vs_open_file (&io, s, t.dc, dspath, 0);
  if (r == 0) {
    r = io->ops->size (io, &n);
    vd__io_close (io);
  }
  if (r == 0 && size)
    *size = n;
  target_free (&t);
  return r;
}

/* The Datacenter moref of the inventory path dc (FindByInventoryPath). */
static int
dc_moref (struct vd_vsphere *s, const char *dc, char **moref)
{
  xmlNodePtr m, ret;
  xmlDocPtr doc, req;
  int r;

  *moref = NULL;
  if (!s->search)
    return vd__error (VD_ENOTSUP, 0, "%s: the server has no SearchIndex",
                     s->host);
  req = vd__vs_req ("FindByInventoryPath", "SearchIndex", s->search, &m);
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add (m, "inventoryPath", dc);
  r = vd__vs_call (s, req, &doc, &ret);
  if (r < 0)
    return r;
  xmlNodePtr rv = vd__vs_child (ret, "returnval");
  char *type = vd__vs_attr (rv, "type");
  if (type && strcmp (type, "Datacenter") == 0)
    *moref = vd__vs_text (rv, NULL);
  free (type);
  xmlFreeDoc (doc);
  return *moref ? 0 : vd__error (VD_ENOENT, 0, "%s: no datacenter \"%s\"",
                                 s->host, dc);
}

VD_API int
vd_vsphere_delete_file (vd_vsphere *s, const char *dc, const char *dspath,
                        unsigned timeout_s)
{
  VD_ENTER ();
  struct target t = { 0 };
  char *dcref = NULL, *task = NULL;
  xmlNodePtr m;
  xmlDocPtr req = NULL;
  int r;

  if (!s || !dspath)
    return vd__error (VD_EINVAL, 0, "delete: no session or path");
  if (!s->filemgr)
    return vd__error (VD_ENOTSUP, 0, "%s: the server has no FileManager",
                     s->host);
  r = target_init (s, dc, dspath, &t);
  if (r == 0)
    r = dc_moref (s, t.dc, &dcref);
  if (r == 0 && !(req = vd__vs_req ("DeleteDatastoreFile_Task", "FileManager",
                                    s->filemgr, &m)))
    r = vd__error (VD_ENOMEM, 0, "request");
  if (r == 0) {
    vd__vs_add (m, "name", dspath);
    vd__vs_add_ref (m, "datacenter", "Datacenter", dcref);
    r = vd__vs_start_task (s, req, &task);
  }
  if (r == 0)
    r = vd__vs_wait_task (s, task, "DeleteDatastoreFile", timeout_s, NULL);
  free (task);
  free (dcref);
  target_free (&t);
  return r;
}

#endif /* VD_HAVE_VSPHERE */
