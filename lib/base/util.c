/* Small helpers: random numbers, strings, path rules. */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int
vd__random_bytes (void *buf, size_t len)
{
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t r = getrandom (p, len, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return vd__error (VD_EIO, errno, "getrandom");
    }
    p += r;
    len -= (size_t) r;
  }
  return 0;
}

uint32_t
vd__random_cid (void)
{
  uint32_t cid = 0;
  /* ffffffff means "no parent" and fffffffe is reserved (open-vmdk). */
  while (cid == 0 || cid >= 0xfffffffeu)
    if (vd__random_bytes (&cid, sizeof cid) < 0)
      return 0x1u;
  return cid;
}

int
vd__is_zero (const void *buf, size_t len)
{
  const uint8_t *p = buf;
  /* Check the first 16 bytes, then compare the buffer with itself
   * shifted: memcmp is vectorised and this costs one pass. */
  size_t head = len < 16 ? len : 16;
  for (size_t i = 0; i < head; i++)
    if (p[i])
      return 0;
  if (len <= 16)
    return 1;
  return memcmp (p, p + 16, len - 16) == 0;
}

char *
vd__strdup (const char *s)
{
  char *r = s ? strdup (s) : NULL;
  if (s && !r)
    vd__error (VD_ENOMEM, errno, "strdup");
  return r;
}

char *
vd__asprintf (const char *fmt, ...)
{
  va_list ap;
  char *r = NULL;
  va_start (ap, fmt);
  if (vasprintf (&r, fmt, ap) < 0) {
    r = NULL;
    vd__error (VD_ENOMEM, errno, "asprintf");
  }
  va_end (ap);
  return r;
}

int
vd__name_ok (const char *name, int trusted)
{
  size_t len = strlen (name);
  if (len == 0 || len > (trusted ? 4095u : 255u))
    return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char) name[i];
    if (c < 0x20 || c == 0x7f || c == '"')
      return 0;
  }
  /* A protocol prefix ("json:", "nbd:", "C:") is never a plain file. */
  if (strchr (name, ':'))
    return 0;
  if (!trusted) {
    if (strchr (name, '/') || strchr (name, '\\'))
      return 0;
    if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
      return 0;
    return 1;
  }
  /* Trusted: folders, absolute paths and ".." (a parent named relative to
   * the child's folder, "../base.vmdk", as qemu-img reads it); never a
   * backslash. */
  if (strchr (name, '\\'))
    return 0;
  return 1;
}

char *
vd__dirname (const char *path)
{
  const char *s = strrchr (path, '/');
  if (!s)
    return vd__strdup (".");
  if (s == path)
    return vd__strdup ("/");
  char *r = strndup (path, (size_t) (s - path));
  if (!r)
    vd__error (VD_ENOMEM, errno, "strndup");
  return r;
}

char *
vd__basename (const char *path)
{
  const char *s = strrchr (path, '/');
  return vd__strdup (s ? s + 1 : path);
}

char *
vd__path_join (const char *dir, const char *name)
{
  if (name[0] == '/' || strcmp (dir, ".") == 0)
    return vd__strdup (name);
  return vd__asprintf ("%s/%s", dir, name);
}

void
vd__to_hex (const void *buf, size_t n, char *hex)
{
  static const char digits[] = "0123456789abcdef";
  const uint8_t *b = buf;
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = digits[b[i] >> 4];
    hex[2 * i + 1] = digits[b[i] & 15];
  }
  hex[2 * n] = 0;
}
