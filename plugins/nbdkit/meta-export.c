/* nbdkit-vdisk-plugin, the reserved text exports: meta:, meta-set:,
 * status: (the refusals recorded for status: are kept in vdisk.c's
 * process state). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "plugin.h"

/* Small read-only text exports beside the disks (never listed):
 *   meta:PATH                the disk database of PATH
 *   meta-set:KEY=VALUE:PATH  set a ddb key of PATH, then as meta:
 *   meta-set:KEY:PATH        remove it, then as meta:
 *   status:EXPORT            why this client's last open of EXPORT failed
 * meta: and meta-set: open PATH exactly as a disk export is opened (same
 * name checks, same shared handle, same read-only rules).  See
 * nbdkit-vdisk-plugin(1). */

#define FAIL_TTL 600            /* seconds a refusal is answered */
#define META_HEADER "# vdisk-meta 1\n"
#define STATUS_HEADER "# vdisk-status 1\n"

static const struct { int err; const char *name; } errno_names[] = {
  { EEXIST, "EEXIST" }, { ENOENT, "ENOENT" }, { EDQUOT, "EDQUOT" },
  { ENOSPC, "ENOSPC" }, { EROFS, "EROFS" }, { EPERM, "EPERM" },
  { EACCES, "EACCES" }, { EBUSY, "EBUSY" }, { EINVAL, "EINVAL" },
  { ENOMEM, "ENOMEM" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { EIO, "EIO" },
};

static const char *
errno_name (int err)
{
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].err == err)
      return errno_names[i].name;
  return "EIO";
}

/* Who is asking: the uid on a Unix socket, else the address (no port),
 * so one client cannot read the refusals of another host. */
static void
peer_key (char *out, size_t n)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char addr[INET6_ADDRSTRLEN] = "?";

  snprintf (out, n, "?");
  memset (&ss, 0, sizeof ss);
  if (nbdkit_peer_name ((struct sockaddr *) &ss, &len) < 0)
    return;
  if (ss.ss_family == AF_UNIX)
    snprintf (out, n, "uid:%" PRId64, nbdkit_peer_uid ());
  else if (ss.ss_family == AF_INET) {
    inet_ntop (AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr,
               sizeof addr);
    snprintf (out, n, "inet:%s", addr);
  }
  else if (ss.ss_family == AF_INET6) {
    inet_ntop (AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr,
               sizeof addr);
    snprintf (out, n, "inet6:%s", addr);
  }
}

/* The message without the server's own folder: "DATASTORE/vm/x.vmdk"
 * becomes "vm/x.vmdk". */
static char *
client_message (const char *msg)
{
  char *out = malloc (strlen (msg) + 1), *q = out;
  const char *rel;
  if (!out)
    return NULL;
  while (*msg) {
    if ((rel = inside_datastore (msg)))
      msg = rel;
    else
      *q++ = *msg++;
  }
  *q = '\0';
  return out;
}

void
record_failure (const char *export)
{
  char peer[64];
  struct failure *f = NULL;
  time_t now = time (NULL);
  char *name = strdup (export), *msg = client_message (last_msg[0]
                                                      ? last_msg
                                                      : "refused");
  if (!name || !msg) {
    free (name);
    free (msg);
    return;
  }
  peer_key (peer, sizeof peer);
  pthread_mutex_lock (&fail_lock);
  for (size_t i = 0; i < FAIL_SLOTS && !f; i++)
    if (failures[i].export && strcmp (failures[i].export, export) == 0
        && strcmp (failures[i].peer, peer) == 0)
      f = &failures[i];
  for (size_t i = 0; i < FAIL_SLOTS && !f; i++)
    if (!failures[i].export)
      f = &failures[i];
  if (!f) {
    f = &failures[0];
    for (size_t i = 1; i < FAIL_SLOTS; i++)
      if (failures[i].when < f->when)
        f = &failures[i];
  }
  free (f->export);
  free (f->msg);
  f->export = name;
  f->msg = msg;
  f->err = last_errno ? last_errno : EIO;
  f->when = now;
  snprintf (f->peer, sizeof f->peer, "%s", peer);
  pthread_mutex_unlock (&fail_lock);
}

void
free_failures (void)
{
  for (size_t i = 0; i < FAIL_SLOTS; i++) {
    free (failures[i].export);
    free (failures[i].msg);
    failures[i].export = failures[i].msg = NULL;
  }
}

static char *
status_text (const char *export, size_t *len)
{
  char peer[64], *text = NULL;
  time_t now = time (NULL);
  int n = -1;

  peer_key (peer, sizeof peer);
  pthread_mutex_lock (&fail_lock);
  for (size_t i = 0; i < FAIL_SLOTS; i++) {
    struct failure *f = &failures[i];
    if (f->export && strcmp (f->export, export) == 0
        && strcmp (f->peer, peer) == 0 && now - f->when <= FAIL_TTL) {
      n = asprintf (&text, STATUS_HEADER "%s %s\n", errno_name (f->err),
                    f->msg);
      break;
    }
  }
  pthread_mutex_unlock (&fail_lock);
  if (n < 0)
    n = asprintf (&text, STATUS_HEADER "OK no refusal recorded\n");
  if (n < 0)
    return NULL;
  *len = (size_t) n;
  return text;
}

/* Keys a client may not set: the server's own marks. */
static int
key_is_servers (const char *key)
{
  return strncasecmp (key, "ddb.vdisk.", 10) == 0;
}

/* "# vdisk-meta 1" and one `KEY = "VALUE"` line per ddb key: the top
 * link's keys, then adapter, geometry and hardware version inherited from
 * a parent (vd_disk_get_meta's view).  meta_lock held. */
static char *
meta_text (vd_disk *d, size_t *len)
{
  static const char *const inherited[] = {
    "ddb.adapterType", "ddb.geometry.cylinders", "ddb.geometry.heads",
    "ddb.geometry.sectors", "ddb.geometry.biosCylinders",
    "ddb.geometry.biosHeads", "ddb.geometry.biosSectors",
    "ddb.virtualHWVersion",
  };
  char *text = NULL;
  size_t size = 0;
  unsigned n = vd_disk_get_meta_count (d);
  FILE *fp = open_memstream (&text, &size);

  if (!fp)
    return NULL;
  fputs (META_HEADER, fp);
  for (unsigned i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (d, i), *v;
    if (k && (v = vd_disk_get_meta (d, k)))
      fprintf (fp, "%s = \"%s\"\n", k, v);
  }
  for (size_t j = 0; j < sizeof inherited / sizeof inherited[0]; j++) {
    const char *v = vd_disk_get_meta (d, inherited[j]);
    unsigned i;
    for (i = 0; i < n; i++) {
      const char *k = vd_disk_get_meta_key (d, i);
      if (k && strcmp (k, inherited[j]) == 0)
        break;
    }
    if (i == n && v)
      fprintf (fp, "%s = \"%s\"\n", inherited[j], v);
  }
  if (fclose (fp) != 0) {
    free (text);
    return NULL;
  }
  *len = size;
  return text;
}

void *
open_meta (const char *export, int readonly)
{
  int set = strncmp (export, "meta-set:", 9) == 0;
  const char *path = export + (set ? 9 : 5);
  char *key = NULL, *value = NULL;
  struct handle *h;
  struct entry *e;

  if (set) {
    const char *last = strrchr (path, ':');
    if (!last || last == path) {
      nbdkit_error ("export '%.64s': expected meta-set:KEY=VALUE:PATH or "
                    "meta-set:KEY:PATH", export);
      nbdkit_set_error (EINVAL);
      return NULL;
    }
    key = strndup (path, (size_t) (last - path));
    if (!key) {
      nbdkit_set_error (ENOMEM);
      return NULL;
    }
    if ((value = strchr (key, '=')))
      *value++ = '\0';
    path = last + 1;
    if (key_is_servers (key)) {
      nbdkit_error ("export '%.64s': refused: keys ddb.vdisk.* are kept by "
                    "the server", export);
      nbdkit_set_error (EPERM);
      free (key);
      return NULL;
    }
  }
  if (!*path && default_name)
    path = default_name;
  h = calloc (1, sizeof *h);
  if (!h) {
    nbdkit_set_error (ENOMEM);
    free (key);
    return NULL;
  }
  pthread_mutex_lock (&table_lock);
  e = open_existing (path, readonly);
  pthread_mutex_unlock (&table_lock);
  if (!e) {
    free (h);
    free (key);
    return NULL;
  }
  h->e = e;
  pthread_mutex_lock (&meta_lock);
  if (set && (readonly || !e->rw)) {
    nbdkit_error ("export '%.64s': refused: %s is served read-only%s",
                  export, path, readonly ? " (read-only server)"
                  : " (it has a child, or another client opened it "
                  "read-only)");
    nbdkit_set_error (EROFS);
  }
  else if (set && vd_disk_set_meta (e->disk, key, value) < 0)
    plugin_fail ();
  else if (!(h->text = meta_text (e->disk, &h->text_len)))
    nbdkit_set_error (ENOMEM);
  pthread_mutex_unlock (&meta_lock);
  free (key);
  if (!h->text) {
    vdisk_close (h);
    return NULL;
  }
  return h;
}

void *
open_status (const char *export)
{
  struct handle *h = calloc (1, sizeof *h);
  if (!h || !(h->text = status_text (export + 7, &h->text_len))) {
    free (h);
    nbdkit_set_error (ENOMEM);
    return NULL;
  }
  return h;
}
