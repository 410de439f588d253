/* The check context drivers report their findings into (the check(fix)
 * callback of struct vd_format_driver): counts by severity, and the
 * caller's message callback. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

void
vd__check_report (struct vd_check_ctx *ctx, int severity, const char *fmt,
                  ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  /* Drivers count leaked grains themselves (one message for many). */
  if (severity == VD_CHECK_SEVERITY_CORRUPT)
    ctx->res->corruptions++;
  else if (severity == VD_CHECK_SEVERITY_INFO)
    ctx->res->warnings++;
  else if (severity == VD_CHECK_SEVERITY_REPAIRABLE)
    ctx->res->repairable++;
  if (ctx->message)
    ctx->message (severity, msg, ctx->payload);
}
