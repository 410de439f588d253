/* A vSphere Web Services session (SOAP over HTTPS, urn:vim25): login
 * with SessionManager.Login, the session cookie shared by every transfer
 * of the session (SOAP and the datastore file service), certificate
 * verification (CA, CA file, or a pinned thumbprint as VDDK's
 * thumbPrint), re-login once on an expired session, logout on close.
 *
 * HTTP is libcurl's and XML is libxml2's.  Answers are bounded in size
 * (VD_VS_MAX_SOAP), parsed without network access, without entity
 * substitution and without any DTD (a DOCTYPE is refused before its
 * declarations are read), and walked with bounded depth.
 *
 * The password is kept in memory only for re-login (cleared on close);
 * it never appears in a message. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define VIM_NS "urn:vim25"
#define MAX_PASSWORD 1024

struct vd_vsphere {
  atomic_int refs;
  pthread_mutex_t mu;          /* the SOAP handle and the fields below */
  char *host;                  /* HOST:PORT */
  char *base;                  /* https://HOST:PORT */
  char *user;
  char *password;
  char *cafile;
  uint8_t pin[32];
  size_t pin_len;              /* 0, 20 (SHA-1) or 32 (SHA-256) */
  int insecure;
  char seen[100];              /* the thumbprint the server showed */
  int pin_failed;
  pthread_mutex_t pin_mu;
  CURLSH *share;
  pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
  CURL *soap;
  int logged_in;
  /* service content */
  char *pc, *sm, *root, *viewmgr, *api_type, *api_version, *full_name;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok;

static void
init_libs (void)
{
  init_ok = curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK;
  xmlInitParser ();
}

const char *vd__vs_base (const struct vd_vsphere *s) { return s->base; }
const char *vd__vs_host (const struct vd_vsphere *s) { return s->host; }
const char *vd__vs_pc (const struct vd_vsphere *s) { return s->pc; }
const char *vd__vs_root (const struct vd_vsphere *s) { return s->root; }
const char *vd__vs_viewmgr (const struct vd_vsphere *s) { return s->viewmgr; }

/* ---- curl handles ------------------------------------------------------ */

static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access a, void *p)
{
  struct vd_vsphere *s = p;
  (void) h; (void) a;
  pthread_mutex_lock (&s->share_mu[data]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *p)
{
  struct vd_vsphere *s = p;
  (void) h;
  pthread_mutex_unlock (&s->share_mu[data]);
}

static void
hex_colons (char *out, size_t outsz, const uint8_t *d, size_t n)
{
  size_t k = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && k + 3 < outsz; i++)
    k += (size_t) snprintf (out + k, outsz - k, i ? ":%02X" : "%02X", d[i]);
}

/* OpenSSL: the whole certificate check is "the leaf's digest is the
 * pinned one" (VDDK's thumbPrint semantics). */
static int
pin_verify (X509_STORE_CTX *x, void *arg)
{
  struct vd_vsphere *s = arg;
  X509 *leaf = X509_STORE_CTX_get0_cert (x);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  int ok;

  if (!leaf || !X509_digest (leaf, s->pin_len == 20 ? EVP_sha1 ()
                                   : EVP_sha256 (), md, &n))
    return 0;
  ok = n == s->pin_len && memcmp (md, s->pin, n) == 0;
  pthread_mutex_lock (&s->pin_mu);
  hex_colons (s->seen, sizeof s->seen, md, n);
  if (!ok)
    s->pin_failed = 1;
  pthread_mutex_unlock (&s->pin_mu);
  X509_STORE_CTX_set_error (x, ok ? X509_V_OK
                            : X509_V_ERR_CERT_SIGNATURE_FAILURE);
  return ok;
}

static CURLcode
ssl_ctx_cb (CURL *h, void *sslctx, void *arg)
{
  (void) h;
  SSL_CTX_set_cert_verify_callback ((SSL_CTX *) sslctx, pin_verify, arg);
  return CURLE_OK;
}

void *
vd__vs_curl (struct vd_vsphere *s)
{
  CURL *h = curl_easy_init ();
  if (!h) {
    vd_error (VD_ENOMEM, 0, "%s: curl_easy_init failed", s->host);
    return NULL;
  }
  curl_easy_setopt (h, CURLOPT_SHARE, s->share);
  curl_easy_setopt (h, CURLOPT_COOKIEFILE, "");   /* cookie engine on */
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt (h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "vdisk/" "0.1");
  if (s->insecure) {
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  else if (s->pin_len) {
    /* the pin replaces the CA and name checks, as VDDK's thumbPrint */
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt (h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt (h, CURLOPT_SSL_CTX_DATA, s);
    curl_easy_setopt (h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }
  else {
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->cafile)
      curl_easy_setopt (h, CURLOPT_CAINFO, s->cafile);
  }
  return h;
}

/* A clear message for a failed transfer (never the request body). */
static int
curl_fail (struct vd_vsphere *s, CURLcode c, const char *what)
{
  int pin_failed;
  char seen[100];

  pthread_mutex_lock (&s->pin_mu);
  pin_failed = s->pin_failed;
  memcpy (seen, s->seen, sizeof seen);
  s->pin_failed = 0;
  pthread_mutex_unlock (&s->pin_mu);
  if (pin_failed)
    return vd_error (VD_EIO, EACCES, "%s: the server's certificate "
                     "thumbprint %s is not the pinned one: refusing to "
                     "talk to it", s->host, seen);
  switch (c) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CONNECT_ERROR:
    return vd_error (VD_EIO, EACCES, "%s: %s: TLS: %s (verify the "
                     "certificate with a CA file, pin its thumbprint, or "
                     "--insecure)", s->host, what, curl_easy_strerror (c));
  case CURLE_OPERATION_TIMEDOUT:
    return vd_error (VD_EIO, ETIMEDOUT, "%s: %s: timed out", s->host, what);
  case CURLE_COULDNT_CONNECT:
    return vd_error (VD_EIO, ECONNREFUSED, "%s: %s: cannot connect",
                     s->host, what);
  case CURLE_WRITE_ERROR:
    return vd_error (VD_EIO, EFBIG, "%s: %s: the answer is larger than "
                     "%u MiB", s->host, what, VD_VS_MAX_SOAP >> 20);
  default:
    return vd_error (VD_EIO, ECONNRESET, "%s: %s: %s", s->host, what,
                     curl_easy_strerror (c));
  }
}

/* ---- XML requests ------------------------------------------------------ */

xmlDocPtr
vd__vs_req (const char *method, const char *this_type,
            const char *this_value, xmlNodePtr *method_node)
{
  xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNodePtr env, body, m;
  xmlNsPtr soapns;

  if (!doc)
    return NULL;
  env = xmlNewNode (NULL, BAD_CAST "Envelope");
  soapns = xmlNewNs (env, BAD_CAST SOAP_NS, BAD_CAST "soapenv");
  xmlSetNs (env, soapns);
  xmlNewNs (env, BAD_CAST XSI_NS, BAD_CAST "xsi");
  xmlNewNs (env, BAD_CAST "http://www.w3.org/2001/XMLSchema",
            BAD_CAST "xsd");
  xmlDocSetRootElement (doc, env);
  body = xmlNewChild (env, soapns, BAD_CAST "Body", NULL);
  m = xmlNewChild (body, NULL, BAD_CAST method, NULL);
  xmlSetNs (m, xmlNewNs (m, BAD_CAST VIM_NS, NULL));
  vd__vs_add_ref (m, "_this", this_type, this_value);
  *method_node = m;
  return doc;
}

xmlNodePtr
vd__vs_add (xmlNodePtr parent, const char *name, const char *text)
{
  return xmlNewTextChild (parent, NULL, BAD_CAST name, BAD_CAST text);
}

xmlNodePtr
vd__vs_add_ref (xmlNodePtr parent, const char *name, const char *type,
                const char *value)
{
  xmlNodePtr n = vd__vs_add (parent, name, value);
  if (n)
    xmlNewProp (n, BAD_CAST "type", BAD_CAST type);
  return n;
}

void
vd__vs_xsi_type (xmlNodePtr n, const char *type)
{
  xmlNsPtr xsi = xmlSearchNsByHref (n->doc, n, BAD_CAST XSI_NS);
  xmlNewNsProp (n, xsi, BAD_CAST "type", BAD_CAST type);
}

/* ---- XML answers ------------------------------------------------------- */

static int
is_elem (xmlNodePtr n, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE
         && (!name || strcmp ((const char *) n->name, name) == 0);
}

xmlNodePtr
vd__vs_child (xmlNodePtr n, const char *name)
{
  if (!n)
    return NULL;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

xmlNodePtr
vd__vs_next (xmlNodePtr n, const char *name)
{
  for (xmlNodePtr c = n ? n->next : NULL; c; c = c->next)
    if (is_elem (c, name))
      return c;
  return NULL;
}

char *
vd__vs_text (xmlNodePtr n, const char *name)
{
  xmlNodePtr c = name ? vd__vs_child (n, name) : n;
  xmlChar *t;
  char *r;
  if (!c)
    return NULL;
  /* only direct text: an element where text was expected is ignored */
  for (xmlNodePtr k = c->children; k; k = k->next)
    if (k->type != XML_TEXT_NODE)
      return NULL;
  t = xmlNodeGetContent (c);
  if (!t)
    return NULL;
  if (strlen ((const char *) t) > 65536) {
    xmlFree (t);
    return NULL;
  }
  r = strdup ((const char *) t);
  xmlFree (t);
  return r;
}

char *
vd__vs_attr (xmlNodePtr n, const char *name)
{
  xmlChar *t = n ? xmlGetProp (n, BAD_CAST name) : NULL;
  char *r = t ? strdup ((const char *) t) : NULL;
  xmlFree (t);
  return r;
}

char *
vd__vs_type (xmlNodePtr n)
{
  xmlChar *t = n ? xmlGetNsProp (n, BAD_CAST "type", BAD_CAST XSI_NS) : NULL;
  const char *c;
  char *r;
  if (!t)
    return NULL;
  c = strchr ((const char *) t, ':');
  r = strdup (c ? c + 1 : (const char *) t);
  xmlFree (t);
  return r;
}

int
vd__vs_u64 (xmlNodePtr n, const char *name, uint64_t max, uint64_t *v,
            const char *what)
{
  char *t = vd__vs_text (n, name), *end;
  unsigned long long x;
  char qb[96];

  if (!t)
    return vd__vs_child (n, name)
           ? vd_error (VD_ECORRUPT, 0, "server answer: %s is not a number",
                       what)
           : 1;
  errno = 0;
  x = strtoull (t, &end, 10);
  if (!isdigit ((unsigned char) t[0]) || *end || errno || x > max) {
    vd_error (VD_ECORRUPT, 0, "server answer: %s \"%s\" is not a number "
              "from 0 to %llu", what, vd__quote (qb, sizeof qb, t, strlen (t)),
              (unsigned long long) max);
    free (t);
    return VD_ECORRUPT;
  }
  free (t);
  *v = x;
  return 0;
}

/* A DOCTYPE (and so any entity declaration) is refused before its
 * content is read: SOAP never has one. */
static void
refuse_dtd (void *ctx, const xmlChar *name, const xmlChar *ext,
            const xmlChar *sys)
{
  xmlParserCtxtPtr c = ctx;
  (void) name; (void) ext; (void) sys;
  c->_private = (void *) 1;
  xmlStopParser (c);
}

static int
depth_ok (xmlNodePtr n, int depth)
{
  if (depth > VD_VS_MAX_DEPTH)
    return 0;
  for (xmlNodePtr c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && !depth_ok (c, depth + 1))
      return 0;
    else if (c->type == XML_ENTITY_REF_NODE || c->type == XML_DTD_NODE)
      return 0;
  return 1;
}

static int
parse_answer (struct vd_vsphere *s, const char *buf, size_t len,
              const char *what, xmlDocPtr *out)
{
  xmlParserCtxtPtr c;
  xmlDocPtr doc = NULL;
  int dtd;

  *out = NULL;
  if (len > INT32_MAX)
    return vd_error (VD_ECORRUPT, 0, "%s: %s: answer too large", s->host,
                     what);
  c = xmlCreateMemoryParserCtxt (buf, (int) len);
  if (!c)
    return vd_error (VD_ENOMEM, 0, "%s: %s: xml parser", s->host, what);
  /* no network, no entity substitution, no DTD loading, no "huge" */
  xmlCtxtUseOptions (c, XML_PARSE_NONET | XML_PARSE_NOERROR
                        | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  c->sax->internalSubset = refuse_dtd;
  c->sax->externalSubset = NULL;
  c->sax->entityDecl = NULL;
  c->sax->getEntity = NULL;
  c->_private = NULL;
  xmlParseDocument (c);
  dtd = c->_private != NULL;
  doc = c->myDoc;
  c->myDoc = NULL;
  if (dtd || !c->wellFormed || !doc) {
    xmlFreeParserCtxt (c);
    xmlFreeDoc (doc);
    if (dtd)
      return vd_error (VD_ECORRUPT, 0, "%s: %s: the answer has a DOCTYPE "
                       "(SOAP never does): refused", s->host, what);
    return vd_error (VD_ECORRUPT, 0, "%s: %s: the answer is not "
                     "well-formed XML (or nests too deeply)", s->host, what);
  }
  xmlFreeParserCtxt (c);
  if (!xmlDocGetRootElement (doc)
      || !depth_ok (xmlDocGetRootElement (doc), 0)) {
    xmlFreeDoc (doc);
    return vd_error (VD_ECORRUPT, 0, "%s: %s: the answer nests deeper than "
                     "%d elements or holds entity references: refused",
                     s->host, what, VD_VS_MAX_DEPTH);
  }
  *out = doc;
  return 0;
}

/* ---- SOAP calls -------------------------------------------------------- */

struct buf {
  char *p;
  size_t len, cap, max;
};

static size_t
buf_write (char *data, size_t size, size_t n, void *arg)
{
  struct buf *b = arg;
  size_t add = size * n;
  if (add > b->max - b->len)
    return 0;  /* too large: curl stops with CURLE_WRITE_ERROR */
  if (b->len + add + 1 > b->cap) {
    size_t nc = VD_MAX (b->cap * 2, b->len + add + 1);
    char *np = realloc (b->p, nc);
    if (!np)
      return 0;
    b->p = np;
    b->cap = nc;
  }
  memcpy (b->p + b->len, data, add);
  b->len += add;
  b->p[b->len] = '\0';
  return add;
}

/* Send one request; *doc is the parsed answer (fault or not); *status
 * the HTTP status. */
static int
soap_post (struct vd_vsphere *s, const char *method, xmlDocPtr req,
           xmlDocPtr *doc, long *status)
{
  struct buf b = { .max = VD_VS_MAX_SOAP };
  struct curl_slist *hdr = NULL;
  xmlChar *text = NULL;
  int tlen = 0, r;
  char url[600];
  CURLcode c;

  *doc = NULL;
  xmlDocDumpMemoryEnc (req, &text, &tlen, "UTF-8");
  if (!text)
    return vd_error (VD_ENOMEM, 0, "%s: %s: request", s->host, method);
  snprintf (url, sizeof url, "%s/sdk", s->base);
  hdr = curl_slist_append (hdr, "Content-Type: text/xml; charset=utf-8");
  hdr = curl_slist_append (hdr, "SOAPAction: \"urn:vim25/6.7\"");
  hdr = curl_slist_append (hdr, "Expect:");
  curl_easy_setopt (s->soap, CURLOPT_URL, url);
  curl_easy_setopt (s->soap, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDS, (char *) text);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDSIZE, (long) tlen);
  curl_easy_setopt (s->soap, CURLOPT_WRITEFUNCTION, buf_write);
  curl_easy_setopt (s->soap, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt (s->soap, CURLOPT_TIMEOUT, 600L);
  c = curl_easy_perform (s->soap);
  curl_easy_setopt (s->soap, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt (s->soap, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all (hdr);
  explicit_bzero (text, (size_t) tlen);   /* may hold the password */
  xmlFree (text);
  if (c != CURLE_OK) {
    free (b.p);
    return curl_fail (s, c, method);
  }
  curl_easy_getinfo (s->soap, CURLINFO_RESPONSE_CODE, status);
  if (*status != 200 && *status != 500) {
    free (b.p);
    return vd_error (VD_EIO, *status == 401 || *status == 403 ? EACCES : EIO,
                     "%s: %s: the server answered HTTP %ld", s->host,
                     method, *status);
  }
  r = parse_answer (s, b.p ? b.p : "", b.len, method, doc);
  free (b.p);
  return r;
}

/* Find Body's first element.  A Fault: *fault_type gets the detail's
 * type (NotAuthenticated, InvalidLogin, ...), the return is an error. */
static int
answer_body (struct vd_vsphere *s, const char *method, xmlDocPtr doc,
             xmlNodePtr *ret, char **fault_type)
{
  xmlNodePtr env = xmlDocGetRootElement (doc);
  xmlNodePtr body = vd__vs_child (env, "Body");
  xmlNodePtr first = vd__vs_child (body, NULL);
  char qb[160], qt[96];

  *ret = NULL;
  if (!env || strcmp ((const char *) env->name, "Envelope") != 0 || !first)
    return vd_error (VD_ECORRUPT, 0, "%s: %s: the answer is not a SOAP "
                     "envelope", s->host, method);
  if (strcmp ((const char *) first->name, "Fault") == 0) {
    char *fs = vd__vs_text (first, "faultstring");
    xmlNodePtr detail = vd__vs_child (first, "detail");
    xmlNodePtr d1 = vd__vs_child (detail, NULL);
    char *type = vd__vs_type (d1);
    if (!type && d1) {
      /* <InvalidLoginFault> without xsi:type */
      const char *nm = (const char *) d1->name;
      size_t n = strlen (nm);
      type = strdup (nm);
      if (type && n > 5 && strcmp (type + n - 5, "Fault") == 0)
        type[n - 5] = '\0';
    }
    if (fault_type)
      *fault_type = type ? strdup (type) : NULL;
    vd_error (VD_EIO,
              type && (strcmp (type, "InvalidLogin") == 0
                       || strcmp (type, "NotAuthenticated") == 0
                       || strcmp (type, "NoPermission") == 0)
                ? EACCES : EIO,
              "%s: %s failed: %s%s%s", s->host, method,
              fs && *fs ? vd__quote (qb, sizeof qb, fs, strlen (fs))
                        : "SOAP fault",
              type ? " " : "",
              type ? vd__quote (qt, sizeof qt, type, strlen (type)) : "");
    free (fs);
    free (type);
    return VD_EIO;
  }
  {
    size_t n = strlen (method);
    const char *nm = (const char *) first->name;
    if (strncmp (nm, method, n) != 0 || strcmp (nm + n, "Response") != 0)
      return vd_error (VD_ECORRUPT, 0, "%s: %s: unexpected answer <%s>",
                       s->host, method,
                       vd__quote (qb, sizeof qb, nm, strlen (nm)));
  }
  *ret = first;
  return 0;
}

static const char *
method_name (xmlDocPtr req)
{
  xmlNodePtr env = xmlDocGetRootElement (req);
  xmlNodePtr m = vd__vs_child (vd__vs_child (env, "Body"), NULL);
  return m ? (const char *) m->name : "?";
}

static int
call_locked (struct vd_vsphere *s, xmlDocPtr req, xmlDocPtr *doc,
             xmlNodePtr *ret, char **fault_type)
{
  const char *method = method_name (req);
  long status = 0;
  int r = soap_post (s, method, req, doc, &status);
  if (r < 0)
    return r;
  r = answer_body (s, method, *doc, ret, fault_type);
  if (r < 0) {
    xmlFreeDoc (*doc);
    *doc = NULL;
  }
  return r;
}

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
    return vd_error (VD_ENOMEM, 0, "%s: request", s->host);
  pthread_mutex_lock (&s->mu);
  r = call_locked (s, req, doc, ret, &fault);
  if (r < 0 && fault && strcmp (fault, "NotAuthenticated") == 0
      && s->logged_in) {
    /* the session expired: log in again, once */
    vd__error_clear ();
    s->logged_in = 0;
    r = login_locked (s);
    if (r == 0)
      r = call_locked (s, req, doc, ret, NULL);
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
    return vd_error (VD_ENOMEM, 0, "request");
  r = call_locked (s, req, &doc, &ret, NULL);
  xmlFreeDoc (req);
  if (r < 0)
    return r;
  rv = vd__vs_child (ret, "returnval");
  about = vd__vs_child (rv, "about");
  s->pc = vd__vs_text (rv, "propertyCollector");
  s->sm = vd__vs_text (rv, "sessionManager");
  s->root = vd__vs_text (rv, "rootFolder");
  s->viewmgr = vd__vs_text (rv, "viewManager");
  s->api_type = vd__vs_text (about, "apiType");
  s->api_version = vd__vs_text (about, "apiVersion");
  s->full_name = vd__vs_text (about, "fullName");
  xmlFreeDoc (doc);
  if (!s->pc || !s->sm || !s->root)
    return vd_error (VD_ECORRUPT, 0, "%s: the service content lacks the "
                     "property collector, session manager or root folder",
                     s->host);
  if (!s->viewmgr)
    return vd_error (VD_ENOTSUP, 0, "%s: the server has no ViewManager "
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
    return vd_error (VD_ENOMEM, 0, "request");
  vd__vs_add (m, "userName", s->user);
  vd__vs_add (m, "password", s->password);
  r = call_locked (s, req, &doc, &ret, &fault);
  {
    /* clear the password from the request tree before freeing it */
    xmlNodePtr pw = vd__vs_child (m, "password");
    xmlNodeSetContent (pw, BAD_CAST "");
  }
  xmlFreeDoc (req);
  if (r < 0) {
    if (fault && strcmp (fault, "InvalidLogin") == 0) {
      vd__error_clear ();
      r = vd_error (VD_EIO, EACCES, "%s: login as %s refused: wrong user "
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
    return vd_error (vd__errno_code (errno), errno, "password file %s",
                     path);
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return vd_error (VD_EIO, errno, "password file %s", path);
  if (n > MAX_PASSWORD) {
    explicit_bzero (buf, sizeof buf);
    return vd_error (VD_EINVAL, 0, "password file %s: longer than %d "
                     "bytes", path, MAX_PASSWORD);
  }
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  *out = strdup (buf);
  explicit_bzero (buf, sizeof buf);
  return *out ? 0 : vd_error (VD_ENOMEM, errno, "password");
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
      return vd_error (VD_EINVAL, 0, "thumbprint: not 20 or 32 hex bytes "
                       "(AA:BB:...)");
    char h[3] = { p[0], p[1], 0 };
    s->pin[n++] = (uint8_t) strtoul (h, NULL, 16);
    p += 2;
  }
  if (n != 20 && n != 32)
    return vd_error (VD_EINVAL, 0, "thumbprint: %zu bytes: give the SHA-1 "
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
    return vd_error (VD_ENOMEM, errno, "url");
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

VD_API int
vd_vsphere_connect (vd_vsphere **out, const char *url, const char *user,
                    const char *password_or_file, uint32_t flags)
{
  VD_ENTER ();
  struct vd_vsphere *s;
  const char *p, *env;
  char *hostpart, *at;
  size_t n;
  int r;

  if (!out || !url || !*url)
    return vd_error (VD_EINVAL, 0, "vsphere: no server given");
  *out = NULL;
  pthread_once (&init_once, init_libs);
  if (!init_ok)
    return vd_error (VD_EIO, 0, "vsphere: curl_global_init failed");
  if (!(s = calloc (1, sizeof *s)))
    return vd_error (VD_ENOMEM, errno, "vsphere");
  atomic_init (&s->refs, 1);
  pthread_mutex_init (&s->mu, NULL);
  pthread_mutex_init (&s->pin_mu, NULL);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&s->share_mu[i], NULL);

  /* [scheme://][USER@]HOST[:PORT][/path][?options] */
  p = url;
  if (strncmp (p, "https://", 8) == 0)
    p += 8;
  else if (strncmp (p, "vsphere://", 10) == 0)
    p += 10;
  else if (strstr (p, "://")) {
    r = vd_error (VD_EINVAL, 0, "vsphere: %s: only https:// or vsphere:// "
                  "servers", url);
    goto fail;
  }
  n = strcspn (p, "/?");
  hostpart = strndup (p, n);
  if (!hostpart) {
    r = vd_error (VD_ENOMEM, errno, "vsphere");
    goto fail;
  }
  at = strrchr (hostpart, '@');
  if (at) {
    *at = '\0';
    if (!user)
      s->user = strdup (hostpart);
    memmove (hostpart, at + 1, strlen (at + 1) + 1);
  }
  if (!*hostpart || strspn (hostpart, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
                      != strlen (hostpart)) {
    free (hostpart);
    r = vd_error (VD_EINVAL, 0, "vsphere: %s: not a host name", url);
    goto fail;
  }
  s->host = hostpart;
  s->base = vd__asprintf ("https://%s", hostpart);
  if (user)
    s->user = strdup (user);
  else if (!s->user && (env = getenv ("VDISK_VSPHERE_USER")) && *env)
    s->user = strdup (env);
  if (!s->base) {
    r = VD_ENOMEM;
    goto fail;
  }
  if (!s->user || !*s->user) {
    r = vd_error (VD_EINVAL, 0, "%s: no user name (USER@HOST or "
                  "VDISK_VSPHERE_USER)", s->host);
    goto fail;
  }
  if ((p = strchr (url, '?'))) {
    r = url_options (s, p + 1, &flags);
    if (r < 0)
      goto fail;
  }
  if (!s->pin_len && (env = getenv ("VDISK_VSPHERE_THUMBPRINT")) && *env
      && (r = parse_thumbprint (s, env)) < 0)
    goto fail;
  if (!s->cafile && (env = getenv ("VDISK_VSPHERE_CAFILE")) && *env)
    s->cafile = strdup (env);
  if ((env = getenv ("VDISK_VSPHERE_INSECURE")) && strcmp (env, "1") == 0)
    flags |= VD_VSPHERE_INSECURE;
  s->insecure = (flags & VD_VSPHERE_INSECURE) != 0;
  if (s->pin_len) {
    curl_version_info_data *vi = curl_version_info (CURLVERSION_NOW);
    if (!vi->ssl_version || strncmp (vi->ssl_version, "OpenSSL", 7) != 0) {
      r = vd_error (VD_ENOTSUP, 0, "%s: a pinned thumbprint needs libcurl "
                    "with OpenSSL", s->host);
      goto fail;
    }
  }

  if (password_or_file && (flags & VD_VSPHERE_PASSWORD_FILE))
    r = read_password_file (password_or_file, &s->password);
  else if (password_or_file) {
    s->password = strdup (password_or_file);
    r = s->password ? 0 : VD_ENOMEM;
  }
  else if ((env = getenv ("VDISK_VSPHERE_PASSWORD_FILE")) && *env)
    r = read_password_file (env, &s->password);
  else if ((env = getenv ("VDISK_VSPHERE_PASSWORD"))) {
    s->password = strdup (env);
    r = s->password ? 0 : VD_ENOMEM;
  }
  else
    r = vd_error (VD_EINVAL, 0, "%s: no password (a password file, "
                  "VDISK_VSPHERE_PASSWORD_FILE or VDISK_VSPHERE_PASSWORD)",
                  s->host);
  if (r < 0)
    goto fail;

  s->share = curl_share_init ();
  if (!s->share) {
    r = vd_error (VD_ENOMEM, 0, "curl share");
    goto fail;
  }
  curl_share_setopt (s->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (s->share, CURLSHOPT_USERDATA, s);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  if (!s->pin_len)
    curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  s->soap = vd__vs_curl (s);
  if (!s->soap) {
    r = VD_ENOMEM;
    goto fail;
  }
  pthread_mutex_lock (&s->mu);
  r = service_content (s);
  if (r == 0)
    r = login_locked (s);
  pthread_mutex_unlock (&s->mu);
  if (r < 0)
    goto fail;
  *out = s;
  return 0;
fail:
  vd__vs_unref (s);
  return r;
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
    if (req && call_locked (s, req, &doc, &ret, NULL) == 0)
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
