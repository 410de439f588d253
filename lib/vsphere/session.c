/* A vSphere Web Services session (SOAP over HTTPS, urn:vim25): login
 * with SessionManager.Login, re-login once on an expired session, logout
 * on close; the server, certificate policy and password it is made from.
 * Its transfers are http.c's, its SOAP calls soap.c's.
 *
 * The password is kept in memory only for re-login (cleared on close);
 * it never appears in a message. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vsphere/xml-dl.h"

#define MAX_PASSWORD 1024

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok;

/* libcurl and libxml2 (loaded here, on first use), once per process. */
static void
init_libs (void)
{
  init_ok = vd__xml_load ("vSphere") == 0
            && curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (init_ok)
    xmlInitParser ();
}

const char *vd__vs_base (const struct vd_vsphere *s) { return s->base; }
const char *vd__vs_host (const struct vd_vsphere *s) { return s->host; }
const char *vd__vs_pc (const struct vd_vsphere *s) { return s->pc; }
const char *vd__vs_root (const struct vd_vsphere *s) { return s->root; }
const char *vd__vs_viewmgr (const struct vd_vsphere *s) { return s->viewmgr; }

static int login_locked (struct vd_vsphere *s);

int
vd__vs_call (struct vd_vsphere *s, xmlDocPtr req, xmlDocPtr *doc,
             xmlNodePtr *ret)
{
  char *fault = NULL;
  int r;

  *doc = NULL;
  *ret = NULL;
  if (!req)
    return vd__error (VD_ENOMEM, 0, "%s: request", s->host);
  pthread_mutex_lock (&s->mu);
  r = vd__vs_call_locked (s, req, doc, ret, &fault);
  if (r < 0 && fault && strcmp (fault, "NotAuthenticated") == 0
      && s->logged_in) {
    /* the session expired: log in again, once */
    vd__error_clear ();
    s->logged_in = 0;
    r = login_locked (s);
    if (r == 0)
      r = vd__vs_call_locked (s, req, doc, ret, NULL);
  }
  pthread_mutex_unlock (&s->mu);
  free (fault);
  xmlFreeDoc (req);
  return r;
}

/* ---- login ------------------------------------------------------------- */

static int
service_content (struct vd_vsphere *s)
{
  xmlNodePtr m, ret, rv, about;
  xmlDocPtr doc;
  int r;
  xmlDocPtr req = vd__vs_req ("RetrieveServiceContent", "ServiceInstance",
                              "ServiceInstance", &m);
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  r = vd__vs_call_locked (s, req, &doc, &ret, NULL);
  xmlFreeDoc (req);
  if (r < 0)
    return r;
  rv = vd__vs_child (ret, "returnval");
  about = vd__vs_child (rv, "about");
  s->pc = vd__vs_text (rv, "propertyCollector");
  s->sm = vd__vs_text (rv, "sessionManager");
  s->root = vd__vs_text (rv, "rootFolder");
  s->viewmgr = vd__vs_text (rv, "viewManager");
  s->filemgr = vd__vs_text (rv, "fileManager");
  s->search = vd__vs_text (rv, "searchIndex");
  s->api_type = vd__vs_text (about, "apiType");
  s->api_version = vd__vs_text (about, "apiVersion");
  s->full_name = vd__vs_text (about, "fullName");
  xmlFreeDoc (doc);
  if (!s->pc || !s->sm || !s->root)
    return vd__error (VD_ECORRUPT, 0, "%s: the service content lacks the "
                     "property collector, session manager or root folder",
                     s->host);
  if (!s->viewmgr)
    return vd__error (VD_ENOTSUP, 0, "%s: the server has no ViewManager "
                     "(vSphere API 4.0 or later is needed)", s->host);
  return 0;
}

static int
login_locked (struct vd_vsphere *s)
{
  xmlNodePtr m, ret;
  xmlDocPtr doc, req = vd__vs_req ("Login", "SessionManager", s->sm, &m);
  char *fault = NULL;
  int r;

  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add (m, "userName", s->user);
  vd__vs_add (m, "password", s->password);
  r = vd__vs_call_locked (s, req, &doc, &ret, &fault);
  {
    /* clear the password from the request tree before freeing it */
    xmlNodePtr pw = vd__vs_child (m, "password");
    xmlNodeSetContent (pw, BAD_CAST "");
  }
  xmlFreeDoc (req);
  if (r < 0) {
    if (fault && strcmp (fault, "InvalidLogin") == 0) {
      vd__error_clear ();
      r = vd__error (VD_EIO, EACCES, "%s: login as %s refused: wrong user "
                    "name or password", s->host, s->user);
    }
    free (fault);
    return r;
  }
  free (fault);
  xmlFreeDoc (doc);
  s->logged_in = 1;
  return 0;
}

int
vd__vs_relogin (struct vd_vsphere *s)
{
  int r;
  pthread_mutex_lock (&s->mu);
  s->logged_in = 0;
  r = login_locked (s);
  pthread_mutex_unlock (&s->mu);
  return r;
}

/* ---- public API -------------------------------------------------------- */

static int
read_password_file (const char *path, char **out)
{
  char buf[MAX_PASSWORD + 2];
  ssize_t n;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return vd__error (vd__errno_code (errno), errno, "password file %s",
                     path);
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return vd__error (VD_EIO, errno, "password file %s", path);
  if (n > MAX_PASSWORD) {
    explicit_bzero (buf, sizeof buf);
    return vd__error (VD_EINVAL, 0, "password file %s: longer than %d "
                     "bytes", path, MAX_PASSWORD);
  }
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  *out = strdup (buf);
  explicit_bzero (buf, sizeof buf);
  return *out ? 0 : vd__error (VD_ENOMEM, errno, "password");
}

static int
parse_thumbprint (struct vd_vsphere *s, const char *t)
{
  size_t n = 0;
  for (const char *p = t; *p;) {
    if (*p == ':' || *p == ' ') {
      p++;
      continue;
    }
    if (!isxdigit ((unsigned char) p[0]) || !isxdigit ((unsigned char) p[1])
        || n >= sizeof s->pin)
      return vd__error (VD_EINVAL, 0, "thumbprint: not 20 or 32 hex bytes "
                       "(AA:BB:...)");
    char h[3] = { p[0], p[1], 0 };
    s->pin[n++] = (uint8_t) strtoul (h, NULL, 16);
    p += 2;
  }
  if (n != 20 && n != 32)
    return vd__error (VD_EINVAL, 0, "thumbprint: %zu bytes: give the SHA-1 "
                     "(20) or SHA-256 (32) digest of the certificate", n);
  s->pin_len = n;
  return 0;
}

/* Take "?k=v&k=v" options of the URL. */
static int
url_options (struct vd_vsphere *s, const char *q, uint32_t *flags)
{
  char *copy = strdup (q), *save = NULL;
  int r = 0;
  if (!copy)
    return vd__error (VD_ENOMEM, errno, "url");
  for (char *kv = strtok_r (copy, "&", &save); kv && r == 0;
       kv = strtok_r (NULL, "&", &save)) {
    char *v = strchr (kv, '=');
    if (v)
      *v++ = '\0';
    if (strcmp (kv, "thumbprint") == 0 && v)
      r = parse_thumbprint (s, v);
    else if (strcmp (kv, "cafile") == 0 && v) {
      free (s->cafile);
      s->cafile = strdup (v);
    }
    else if (strcmp (kv, "insecure") == 0)
      *flags |= (!v || strcmp (v, "0") != 0) ? VD_VSPHERE_INSECURE : 0;
    /* other keys (dc=) belong to the caller */
  }
  free (copy);
  return r;
}

/* [scheme://][USER@]HOST[:PORT][/path][?options] -> host, base, user. */
static int
parse_server (struct vd_vsphere *s, const char *url, const char *user)
{
  const char *p = url, *env;
  char *hostpart, *at;
  size_t n;

  if (strncmp (p, "https://", 8) == 0)
    p += 8;
  else if (strncmp (p, "vsphere://", 10) == 0)
    p += 10;
  else if (strstr (p, "://"))
    return vd__error (VD_EINVAL, 0, "vsphere: %s: only https:// or "
                     "vsphere:// servers", url);
  n = strcspn (p, "/?");
  hostpart = strndup (p, n);
  if (!hostpart)
    return vd__error (VD_ENOMEM, errno, "vsphere");
  at = strrchr (hostpart, '@');
  if (at) {
    /* USER as in a URI's userinfo: %-decoded (administrator%40vsphere.local) */
    if (!user && !(s->user = vd__vs_unescape (hostpart, (size_t) (at - hostpart)))) {
      free (hostpart);
      return vd__error (VD_EINVAL, 0, "vsphere: %s: bad %%-escape in the "
                       "user name", url);
    }
    memmove (hostpart, at + 1, strlen (at + 1) + 1);
  }
  if (!*hostpart || strspn (hostpart, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
                      != strlen (hostpart)) {
    free (hostpart);
    return vd__error (VD_EINVAL, 0, "vsphere: %s: not a host name", url);
  }
  s->host = hostpart;
  s->base = vd__asprintf ("https://%s", hostpart);
  if (user)
    s->user = strdup (user);
  else if (!s->user && (env = getenv ("VDISK_VSPHERE_USER")) && *env)
    s->user = strdup (env);
  if (!s->base)
    return VD_ENOMEM;
  if (!s->user || !*s->user)
    return vd__error (VD_EINVAL, 0, "%s: no user name (USER@HOST or "
                     "VDISK_VSPHERE_USER)", s->host);
  return 0;
}

/* The certificate policy: URL options, then the environment. */
static int
tls_policy (struct vd_vsphere *s, const char *url, uint32_t flags)
{
  const char *p, *env;
  int r;

  if ((p = strchr (url, '?')) && (r = url_options (s, p + 1, &flags)) < 0)
    return r;
  if (!s->pin_len && (env = getenv ("VDISK_VSPHERE_THUMBPRINT")) && *env
      && (r = parse_thumbprint (s, env)) < 0)
    return r;
  if (!s->cafile && (env = getenv ("VDISK_VSPHERE_CAFILE")) && *env)
    s->cafile = strdup (env);
  if ((env = getenv ("VDISK_VSPHERE_INSECURE")) && strcmp (env, "1") == 0)
    flags |= VD_VSPHERE_INSECURE;
  s->insecure = (flags & VD_VSPHERE_INSECURE) != 0;
  if (s->pin_len) {
    curl_version_info_data *vi = curl_version_info (CURLVERSION_NOW);
    if (!vi->ssl_version || strncmp (vi->ssl_version, "OpenSSL", 7) != 0)
      return vd__error (VD_ENOTSUP, 0, "%s: a pinned thumbprint needs "
                       "libcurl with OpenSSL", s->host);
  }
  return 0;
}

/* The password: given, from a file, or from the environment. */
static int
password (struct vd_vsphere *s, const char *password_or_file,
          uint32_t flags)
{
  const char *env;
  if (password_or_file && (flags & VD_VSPHERE_PASSWORD_FILE))
    return read_password_file (password_or_file, &s->password);
  if (password_or_file)
    env = password_or_file;
  else if ((env = getenv ("VDISK_VSPHERE_PASSWORD_FILE")) && *env)
    return read_password_file (env, &s->password);
  else if (!(env = getenv ("VDISK_VSPHERE_PASSWORD")))
    return vd__error (VD_EINVAL, 0, "%s: no password (a password file, "
                     "VDISK_VSPHERE_PASSWORD_FILE or VDISK_VSPHERE_PASSWORD)",
                     s->host);
  s->password = strdup (env);
  return s->password ? 0 : VD_ENOMEM;
}

VD_API int
vd_vsphere_connect (vd_vsphere **out, const char *url, const char *user,
                    const char *password_or_file, uint32_t flags)
{
  VD_ENTER ();
  struct vd_vsphere *s;
  int r;

  if (!out || !url || !*url)
    return vd__error (VD_EINVAL, 0, "vsphere: no server given");
  *out = NULL;
  pthread_once (&init_once, init_libs);
  if (!init_ok) {
    if ((r = vd__xml_load (url)) < 0 || (r = vd__curl_load (url)) < 0)
      return r;                 /* a library that cannot be loaded */
    return vd__error (VD_EIO, 0, "vsphere: curl_global_init failed");
  }
  if (!(s = calloc (1, sizeof *s)))
    return vd__error (VD_ENOMEM, errno, "vsphere");
  atomic_init (&s->refs, 1);
  pthread_mutex_init (&s->mu, NULL);
  pthread_mutex_init (&s->pin_mu, NULL);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&s->share_mu[i], NULL);
  r = parse_server (s, url, user);
  if (r == 0)
    r = tls_policy (s, url, flags);
  if (r == 0)
    r = password (s, password_or_file, flags);
  if (r == 0)
    r = vd__vs_share_init (s);
  if (r == 0 && !(s->soap = vd__vs_curl (s)))
    r = VD_ENOMEM;
  if (r == 0) {
    pthread_mutex_lock (&s->mu);
    r = service_content (s);
    if (r == 0)
      r = login_locked (s);
    pthread_mutex_unlock (&s->mu);
  }
  if (r < 0) {
    vd__vs_unref (s);
    return r;
  }
  *out = s;
  return 0;
}

void
vd__vs_ref (struct vd_vsphere *s)
{
  atomic_fetch_add (&s->refs, 1);
}

void
vd__vs_unref (struct vd_vsphere *s)
{
  if (!s || atomic_fetch_sub (&s->refs, 1) != 1)
    return;
  if (s->logged_in && s->soap) {
    xmlNodePtr m, ret;
    xmlDocPtr doc, req = vd__vs_req ("Logout", "SessionManager", s->sm, &m);
    if (req && vd__vs_call_locked (s, req, &doc, &ret, NULL) == 0)
      xmlFreeDoc (doc);
    xmlFreeDoc (req);
  }
  if (s->soap)
    curl_easy_cleanup (s->soap);
  if (s->share)
    curl_share_cleanup (s->share);
  if (s->password) {
    explicit_bzero (s->password, strlen (s->password));
    free (s->password);
  }
  free (s->host); free (s->base); free (s->user); free (s->cafile);
  free (s->pc); free (s->sm); free (s->root); free (s->viewmgr);
  free (s->filemgr); free (s->search);
  free (s->api_type); free (s->api_version); free (s->full_name);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy (&s->share_mu[i]);
  pthread_mutex_destroy (&s->mu);
  pthread_mutex_destroy (&s->pin_mu);
  free (s);
}

VD_API void
vd_vsphere_close (vd_vsphere *s)
{
  int guard = vd__enter (__func__);
  vd__vs_unref (s);
  vd__leave (&guard);
}

VD_API const char *
vd_vsphere_about (const vd_vsphere *s, int what)
{
  if (!s)
    return NULL;
  switch (what) {
  case VD_VSPHERE_ABOUT_API_TYPE: return s->api_type;
  case VD_VSPHERE_ABOUT_API_VERSION: return s->api_version;
  case VD_VSPHERE_ABOUT_NAME: return s->full_name;
  case VD_VSPHERE_ABOUT_HOST: return s->host;
  case VD_VSPHERE_ABOUT_USER: return s->user;
  default: return NULL;
  }
}

#endif /* VD_HAVE_VSPHERE */

