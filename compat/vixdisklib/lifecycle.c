/* libvixDiskLib lifecycle: Init/InitEx/Exit, the config file, the log
 * hooks and the registry of open handles.  This file holds all of the
 * library's process-wide state (VixDiskLib's Init/Exit take no context),
 * under one mutex; see vix.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vix.h"

/* ---- process state --------------------------------------------------- */

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned lib_init_count;
static VixDiskLibGenericLogFunc *lib_log_fn;
static VixDiskLibGenericLogFunc *lib_warn_fn;
static VixDiskLibGenericLogFunc *lib_panic_fn;
static int lib_trusted;         /* vdisk.trustedPaths from the config */
static struct VixDiskLibHandleStruct *open_handles;  /* the open handles */

void
vix_log (int level, const char *fmt, ...)
{
  VixDiskLibGenericLogFunc *fn;
  va_list ap;

  pthread_mutex_lock (&lib_lock);
  fn = level == LOG_PANIC ? lib_panic_fn
    : level == LOG_WARN ? lib_warn_fn : lib_log_fn;
  pthread_mutex_unlock (&lib_lock);

  va_start (ap, fmt);
  if (fn)
    fn (fmt, ap);
  else if (level != LOG_INFO && getenv ("VDISK_VIX_DEBUG")) {
    fputs ("libvixDiskLib: ", stderr);
    vfprintf (stderr, fmt, ap);
  }
  va_end (ap);
}

/* ---- library lifecycle ----------------------------------------------- */

static int
truthy (const char *v)
{
  return !strcasecmp (v, "1") || !strcasecmp (v, "true")
    || !strcasecmp (v, "yes") || !strcasecmp (v, "on");
}

/* The VDDK config file is "key = value" lines.  vdisk reads one key of its
 * own, vdisk.trustedPaths, and ignores the rest. */
static void
read_config (const char *path)
{
  FILE *f;
  char line[1024];
  int trusted = -1;

  if (!path || !*path)
    return;
  f = fopen (path, "r");
  if (!f) {
    vix_log (LOG_WARN, "VixDiskLib: cannot read config file %s: %s\n",
             path, strerror (errno));
    return;
  }
  while (fgets (line, sizeof line, f)) {
    char *k = line, *eq, *v, *end;

    while (*k == ' ' || *k == '\t')
      k++;
    if (*k == '#' || *k == ';' || !(eq = strchr (k, '=')))
      continue;
    for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
      ;
    *end = '\0';
    v = eq + 1;
    while (*v == ' ' || *v == '\t' || *v == '"')
      v++;
    end = v + strlen (v);
    while (end > v && strchr (" \t\r\n\"", end[-1]))
      end--;
    *end = '\0';
    if (!strcasecmp (k, "vdisk.trustedPaths"))
      trusted = truthy (v);
  }
  fclose (f);
  if (trusted >= 0) {
    pthread_mutex_lock (&lib_lock);
    lib_trusted = trusted;
    pthread_mutex_unlock (&lib_lock);
  }
}

VIX_API VixError
VixDiskLib_InitEx (uint32 majorVersion, uint32 minorVersion,
                   VixDiskLibGenericLogFunc *log,
                   VixDiskLibGenericLogFunc *warn,
                   VixDiskLibGenericLogFunc *panic,
                   const char *libDir, const char *configFile)
{
  const char *env;

  (void) libDir;
  if (majorVersion < 1)
    return vix_error (VIX_E_INVALID_ARG, "VixDiskLib_InitEx",
                      "API version %u.%u is not valid",
                      majorVersion, minorVersion);
  pthread_mutex_lock (&lib_lock);
  lib_init_count++;
  lib_log_fn = log;
  lib_warn_fn = warn;
  lib_panic_fn = panic;
  env = getenv ("VDISK_VIX_TRUSTED");
  if (env)
    lib_trusted = truthy (env);
  pthread_mutex_unlock (&lib_lock);
  read_config (configFile);
  vix_log (LOG_INFO, "VixDiskLib: vdisk %s, API version %u.%u requested\n",
           vd_get_version (), majorVersion, minorVersion);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Init (uint32 majorVersion, uint32 minorVersion,
                 VixDiskLibGenericLogFunc *log,
                 VixDiskLibGenericLogFunc *warn,
                 VixDiskLibGenericLogFunc *panic, const char *libDir)
{
  return VixDiskLib_InitEx (majorVersion, minorVersion, log, warn, panic,
                            libDir, NULL);
}

/* Close every handle this process still has open (Exit, process exit):
 * each is flushed and closed and stays allocated as HANDLE_CLOSED, so a
 * later Close of it is harmless.  Handles inherited through fork() are
 * the parent's: they are forgotten, their files left alone. */
static void
close_all_handles (const char *why)
{
  struct VixDiskLibHandleStruct *h;
  pid_t self = getpid ();

  for (;;) {
    pthread_mutex_lock (&lib_lock);
    for (h = open_handles; h; h = h->reg_next)
      if (h->magic == HANDLE_MAGIC)
        break;
    if (h)
      h->magic = HANDLE_CLOSED;   /* claimed: no other caller takes it */
    pthread_mutex_unlock (&lib_lock);
    if (!h)
      break;
    if (h->pid != self || !h->disk) {
      h->disk = NULL;             /* the parent's (or already gone) */
      continue;
    }
    {
      char *path = strdup (vd_disk_get_path (h->disk));
      int rc = vix_shutdown_handle (h);
      if (rc < 0)
        vix_log (LOG_WARN, "VixDiskLib: %s: closing %s, still open: %s\n",
                 why, path ? path : "a disk", vd_last_error ()->message);
      else
        vix_log (LOG_INFO, "VixDiskLib: %s: flushed and closed %s, which "
                 "was still open\n", why, path ? path : "a disk");
      free (path);
    }
  }
}

/* The last Exit flushes and closes the handles still open, then forgets
 * the callbacks. */
VIX_API void
VixDiskLib_Exit (void)
{
  int last;

  vix_log (LOG_INFO, "VixDiskLib: exit\n");
  pthread_mutex_lock (&lib_lock);
  last = lib_init_count == 1;
  pthread_mutex_unlock (&lib_lock);
  if (last)
    close_all_handles ("VixDiskLib_Exit");
  pthread_mutex_lock (&lib_lock);
  if (lib_init_count > 0 && --lib_init_count == 0) {
    lib_log_fn = lib_warn_fn = lib_panic_fn = NULL;
  }
  pthread_mutex_unlock (&lib_lock);
}

/* A process that exits without Close or Exit (bindings closing at exit)
 * keeps its writes too. */
__attribute__((destructor)) static void
vix_at_exit (void)
{
  pthread_mutex_lock (&lib_lock);
  lib_log_fn = lib_warn_fn = lib_panic_fn = NULL;  /* their code may be gone */
  pthread_mutex_unlock (&lib_lock);
  close_all_handles ("process exit");
}

int
vix_is_initialized (void)
{
  unsigned n;

  pthread_mutex_lock (&lib_lock);
  n = lib_init_count;
  pthread_mutex_unlock (&lib_lock);
  return n > 0;
}

int
vix_trusted (void)
{
  int trusted;

  pthread_mutex_lock (&lib_lock);
  trusted = lib_trusted;
  pthread_mutex_unlock (&lib_lock);
  return trusted;
}

/* ---- the open handles (process-wide, as Init/Exit; under lib_lock) ---- */

void
vix_register_handle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&lib_lock);
  h->reg_prev = NULL;
  h->reg_next = open_handles;
  if (open_handles)
    open_handles->reg_prev = h;
  open_handles = h;
  pthread_mutex_unlock (&lib_lock);
}

void
vix_unregister_handle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&lib_lock);
  if (h->reg_prev)
    h->reg_prev->reg_next = h->reg_next;
  else if (open_handles == h)
    open_handles = h->reg_next;
  if (h->reg_next)
    h->reg_next->reg_prev = h->reg_prev;
  h->reg_prev = h->reg_next = NULL;
  pthread_mutex_unlock (&lib_lock);
}
