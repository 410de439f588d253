/* The transfers of a vSphere session: curl handles sharing the
 * session's cookie (SOAP and the datastore file service alike), the TLS
 * policy (a CA, a CA file, or a pinned thumbprint as VDDK's thumbPrint,
 * or none when asked), and clear messages for failed transfers.  HTTP is
 * libcurl's. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
    vd__error (VD_ENOMEM, 0, "%s: curl_easy_init failed", s->host);
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

int
vd__vs_share_init (struct vd_vsphere *s)
{
  s->share = curl_share_init ();
  if (!s->share)
    return vd__error (VD_ENOMEM, 0, "curl share");
  curl_share_setopt (s->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (s->share, CURLSHOPT_USERDATA, s);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  if (!s->pin_len)
    curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return 0;
}

/* A clear message for a failed transfer (never the request body). */
int
vd__vs_curl_fail (struct vd_vsphere *s, CURLcode c, const char *what)
{
  int pin_failed;
  char seen[100];

  pthread_mutex_lock (&s->pin_mu);
  pin_failed = s->pin_failed;
  memcpy (seen, s->seen, sizeof seen);
  s->pin_failed = 0;
  pthread_mutex_unlock (&s->pin_mu);
  if (pin_failed)
    return vd__error (VD_EIO, EACCES, "%s: the server's certificate "
                     "thumbprint %s is not the pinned one: refusing to "
                     "talk to it", s->host, seen);
  switch (c) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CONNECT_ERROR:
    return vd__error (VD_EIO, EACCES, "%s: %s: TLS: %s (verify the "
                     "certificate with a CA file, pin its thumbprint, or "
                     "--insecure)", s->host, what, curl_easy_strerror (c));
  case CURLE_OPERATION_TIMEDOUT:
    return vd__error (VD_EIO, ETIMEDOUT, "%s: %s: timed out", s->host, what);
  case CURLE_COULDNT_CONNECT:
    return vd__error (VD_EIO, ECONNREFUSED, "%s: %s: cannot connect",
                     s->host, what);
  case CURLE_WRITE_ERROR:
    return vd__error (VD_EIO, EFBIG, "%s: %s: the answer is larger than "
                     "%u MiB", s->host, what, VD_VS_MAX_SOAP >> 20);
  default:
    return vd__error (VD_EIO, ECONNRESET, "%s: %s: %s", s->host, what,
                     curl_easy_strerror (c));
  }
}

size_t
vd__vs_buf_write (char *data, size_t size, size_t n, void *arg)
{
  struct vd_vs_buf *b = arg;
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

#endif /* VD_HAVE_VSPHERE */
