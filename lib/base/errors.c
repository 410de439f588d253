/* Thread-local error records (libnbd style): the message is set once at
 * the point of detection; the context is the public entry point. */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct err_state {
  struct vd_error pub;
  char context[64];
  char message[1024];
  int set;
};

static __thread struct err_state err;
static __thread int depth;

int
vd__enter (const char *context)
{
  if (depth++ == 0)
    vd__error_reset (context);
  return 0;
}

void
vd__leave (int *guard)
{
  (void) guard;
  depth--;
}

void
vd__error_clear (void)
{
  err.set = 0;
  err.pub.code = 0;
  err.pub.errnum = 0;
  err.pub.reason = 0;
  err.message[0] = '\0';
}

const struct vd_error *
vd_last_error (void)
{
  err.pub.context = err.context;
  err.pub.message = err.message;
  return &err.pub;
}

void
vd__error_reset (const char *context)
{
  err.set = 0;
  err.pub.code = 0;
  err.pub.errnum = 0;
  err.pub.reason = 0;
  err.message[0] = '\0';
  snprintf (err.context, sizeof err.context, "%s", context);
}

/* Start recording an error: 0 when one is recorded already (the first
 * error wins). */
static int
begin (int code, int errnum)
{
  if (err.set)
    return 0;
  err.set = 1;
  err.pub.code = code;
  err.pub.errnum = errnum;
  err.pub.reason = 0;
  return 1;
}

int
vd__error (int code, int errnum, const char *fmt, ...)
{
  va_list ap;

  if (!begin (code, errnum))
    return code;
  va_start (ap, fmt);
  vsnprintf (err.message, sizeof err.message, fmt, ap);
  va_end (ap);
  if (errnum) {
    size_t n = strlen (err.message);
    if (n < sizeof err.message - 2)
      snprintf (err.message + n, sizeof err.message - n, ": %s",
                strerror (errnum));
  }
  return code;
}

int
vd__error_copy (int code, int errnum, const char *message)
{
  if (!begin (code, errnum))
    return code;
  snprintf (err.message, sizeof err.message, "%s", message ? message : "");
  return code;
}

int
vd__corrupt (const char *where, const char *fmt, ...)
{
  va_list ap;
  size_t n;

  if (!begin (VD_ECORRUPT, 0))
    return VD_ECORRUPT;
  snprintf (err.message, sizeof err.message, "%s: ", where ? where : "(null)");
  n = strlen (err.message);
  va_start (ap, fmt);
  vsnprintf (err.message + n, sizeof err.message - n, fmt, ap);
  va_end (ap);
  return VD_ECORRUPT;
}

int
vd__error_why (int reason, int code)
{
  if (err.set && err.pub.code == code && !err.pub.reason)
    err.pub.reason = reason;
  return code;
}

int
vd__errno_code (int errnum)
{
  switch (errnum) {
  case ENOENT: return VD_ENOENT;
  case ENOSPC: case EDQUOT: case EFBIG: return VD_ENOSPC;
  case ENOMEM: return VD_ENOMEM;
  case EROFS: case EACCES: case EPERM: return VD_EROFS;
  case EEXIST: return VD_EEXIST;
  case EINVAL: return VD_EINVAL;
  case EAGAIN: return VD_ELOCKED;
  default: return VD_EIO;
  }
}

const char *
vd_strerror (int code)
{
  switch (code) {
  case VD_OK: return "success";
  case VD_EINVAL: return "invalid argument";
  case VD_EIO: return "input/output error";
  case VD_ENOMEM: return "out of memory";
  case VD_ENOTSUP: return "not supported";
  case VD_ECORRUPT: return "corrupt or invalid disk";
  case VD_ENOENT: return "no such file";
  case VD_EPARENT: return "parent link problem";
  case VD_EROFS: return "read-only";
  case VD_ECANCELED: return "canceled";
  case VD_ELOCKED: return "disk is locked";
  case VD_EEXIST: return "file exists";
  case VD_ENOSPC: return "no space left";
  default: return "unknown error";
  }
}

const char *
vd__quote (char *buf, size_t bufsz, const char *s, size_t len)
{
  size_t o = 0;
  const size_t max = 64;

  if (bufsz < 8) {
    if (bufsz)
      buf[0] = '\0';
    return buf;
  }
  for (size_t i = 0; i < len && i < max && o + 5 < bufsz; i++) {
    unsigned char c = (unsigned char) s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[o++] = (char) c;
    else
      o += (size_t) snprintf (buf + o, bufsz - o, "\\x%02x", c);
  }
  if (len > max && o + 4 < bufsz) {
    memcpy (buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}
