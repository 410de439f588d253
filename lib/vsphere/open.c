/* Disks on a datastore: the vsphere:// URI scheme vd_disk_open serves
 * through core's URI hook (VD_URI_SCHEME, internal.h), and
 * vd_disk_open_vsphere, which opens the top file through a session and
 * hands it to core (vd__disk_open_io).  The files themselves are the io
 * tier's datastore backend (io/io-https.h), given this session's table. */
#include "vsphere/vsphere-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VD_HAVE_VSPHERE

#include "io/curl-dl.h"

static void *
ses_curl (void *ctx)
{
  return vd__vs_curl (ctx);
}

static int
ses_relogin (void *ctx)
{
  return vd__vs_relogin (ctx);
}

static void
ses_ref (void *ctx)
{
  vd__vs_ref (ctx);
}

static void
ses_unref (void *ctx)
{
  vd__vs_unref (ctx);
}

static const struct vd_https_session session_ops = {
  .curl = ses_curl,
  .relogin = ses_relogin,
  .ref = ses_ref,
  .unref = ses_unref,
};

int
vd__vs_open_file (struct vd_io **out, struct vd_vsphere *s, const char *dc,
                  const char *dspath, int rw)
{
  char *ds = NULL, *path = NULL, *dcp = NULL;
  int r;

  *out = NULL;
  r = vd__https_split_dspath (dspath, &ds, &path);
  if (r == 0 && !dc)
    r = vd__vs_dc_of (s, ds, &dcp);
  if (r == 0)
    r = vd__io_https_open (out, &session_ops, s, vd__vs_base (s),
                           vd__vs_host (s), dc ? dc : dcp, dspath, rw);
  free (ds); free (path); free (dcp);
  return r;
}

char *
vd__vs_unescape (const char *s, size_t n)
{
  if (n == 0)                   /* (curl would take 0 as "up to the NUL") */
    return strdup ("");
  CURL *h = curl_easy_init ();
  int len = 0;
  char *un = h ? curl_easy_unescape (h, s, (int) n, &len) : NULL;
  char *r = un && (int) strlen (un) == len ? strdup (un) : NULL;
  curl_free (un);
  if (h)
    curl_easy_cleanup (h);
  return r;
}

/* The value of key= in the query q ("k=v&k=v"), decoded; NULL if absent. */
static int
query_value (const char *q, const char *key, char **out)
{
  size_t kl = strlen (key);
  *out = NULL;
  for (const char *k = q; k && *k;) {
    const char *e = strchr (k, '&');
    size_t n = e ? (size_t) (e - k) : strlen (k);
    if (n > kl && strncmp (k, key, kl) == 0 && k[kl] == '=') {
      free (*out);
      if (!(*out = vd__vs_unescape (k + kl + 1, n - kl - 1)))
        return VD_EINVAL;
    }
    k = e ? e + 1 : NULL;
  }
  return 0;
}

/* vsphere://USER@HOST[:PORT]/[DS] PATH?dc=DC&...  -> session and file. */
static int
open_uri (struct vd_io **out, const char *uri, int rw)
{
  const char *p = uri + 10, *slash, *q;
  char *server = NULL, *dspath = NULL, *dc = NULL;
  struct vd_vsphere *s = NULL;
  int r;

  *out = NULL;
  slash = strchr (p, '/');
  if (!slash)
    return vd__error (VD_EINVAL, 0, "%s: no datastore path (vsphere://USER@"
                     "HOST/[datastore] folder/disk.vmdk)", uri);
  q = strchr (slash, '?');
  /* the server part with the options for the session */
  server = vd__asprintf ("vsphere://%.*s%s%s", (int) (slash - p), p,
                         q ? "?" : "", q ? q + 1 : "");
  dspath = vd__vs_unescape (slash + 1, q ? (size_t) (q - slash - 1)
                                  : strlen (slash + 1));
  if (!server || !dspath) {
    r = vd__error (VD_EINVAL, 0, "%s: bad URI", uri);
    goto out;
  }
  if (q && query_value (q + 1, "dc", &dc) < 0) {
    r = vd__error (VD_EINVAL, 0, "%s: bad dc=", uri);
    goto out;
  }
  r = vd_vsphere_connect (&s, server, NULL, NULL, 0);
  if (r == 0)
    r = vd__vs_open_file (out, s, dc, dspath, rw);
out:
  vd__vs_unref (s);    /* the file keeps its own reference */
  free (server); free (dspath); free (dc);
  return r;
}

VD_URI_SCHEME (vsphere) = { "vsphere://", open_uri };

VD_API int
vd_disk_open_vsphere (vd_disk **out, vd_vsphere *s, const char *dc,
                      const char *dspath, uint32_t flags)
{
  VD_ENTER ();
  struct vd_io *io = NULL;
  int r;

  if (!out)
    return vd__error (VD_EINVAL, 0, "vsphere: no output");
  *out = NULL;
  if (!s)
    return vd__error (VD_EINVAL, 0, "vsphere: no session");
  r = vd__vs_open_file (&io, s, dc, dspath, 0);
  if (r == 0)
    r = vd__disk_open_io (out, io, flags | VD_OPEN_READ_ONLY);
  return r;
}

#endif /* VD_HAVE_VSPHERE */
