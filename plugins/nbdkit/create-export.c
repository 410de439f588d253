/* nbdkit-vdisk-plugin, create: exports.  "create:TYPE[,OPTION...]:BYTES:
 * PATH" creates a disk in the datastore and serves it writable; the disk
 * carries the ddb key ddb.vdisk.incomplete until its last connection
 * closes after every write was flushed, so an interrupted upload stays
 * marked.  The same create: name opens that incomplete disk again. */
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

/* The options of "create:TYPE,OPTION,...:BYTES:PATH", each KEY=VALUE:
 * adapter=NAME, geometry=C/H/S (physical), bios=C/H/S, hw=N.  A clone
 * onto the server keeps its source's adapter and geometry this way. */
static int
parse_chs (const char *v, struct vd_geometry *g)
{
  unsigned long c, h, s;
  char *end;
  errno = 0;
  c = strtoul (v, &end, 10);
  if (end == v || *end != '/' || errno)
    return -1;
  v = end + 1;
  h = strtoul (v, &end, 10);
  if (end == v || *end != '/' || errno)
    return -1;
  v = end + 1;
  s = strtoul (v, &end, 10);
  if (end == v || *end != '\0' || errno)
    return -1;
  if (c < 1 || c > UINT32_MAX || h < 1 || h > 255 || s < 1 || s > 63)
    return -1;
  g->cylinders = (uint32_t) c;
  g->heads = (uint32_t) h;
  g->sectors = (uint32_t) s;
  return 0;
}

static int
create_options (const char *export, char *opts,
                struct vd_create_params *params, struct vd_geometry *bios)
{
  char *save = NULL;
  for (char *o = strtok_r (opts, ",", &save); o;
       o = strtok_r (NULL, ",", &save)) {
    char *v = strchr (o, '=');
    int bad = !v;
    if (v) {
      *v++ = '\0';
      if (strcmp (o, "adapter") == 0) {
        params->adapter = vd_adapter_from_name (v);
        bad = params->adapter == VD_ADAPTER_UNKNOWN;
      }
      else if (strcmp (o, "geometry") == 0)
        bad = parse_chs (v, &params->geometry) < 0;
      else if (strcmp (o, "bios") == 0)
        bad = parse_chs (v, bios) < 0;
      else if (strcmp (o, "hw") == 0) {
        char *end;
        unsigned long n = strtoul (v, &end, 10);
        bad = end == v || *end || n < 3 || n > 255;
        params->hw_version = (uint32_t) n;
      }
      else
        bad = 1;
    }
    if (bad) {
      nbdkit_error ("export '%.64s': bad create option '%s%s%s' (adapter="
                    "NAME, geometry=C/H/S, bios=C/H/S, hw=N)", export, o,
                    v ? "=" : "", v ? v : "");
      nbdkit_set_error (EINVAL);
      return -1;
    }
  }
  return 0;
}

/* A new disk at path must not take a name that a disk in the datastore
 * names but that does not exist yet (its extent or parent would then be
 * the new disk's files): path itself, or STEM-* / STEM.* beside it. */
static int
dangling_clash (const char *path, const struct scan *s)
{
  size_t stem = strlen (path) - 5;      /* path ends in .vmdk */
  for (size_t i = 0; i < s->n_dangling; i++) {
    const char *d = s->dangling[i];
    if (strcmp (d, path) == 0
        || (strncmp (d, path, stem) == 0
            && (d[stem] == '-' || d[stem] == '.' || d[stem] == '_'))) {
      nbdkit_error ("%s: refused: a disk in the datastore names %s, which "
                    "this disk would create", path, d);
      nbdkit_set_error (EEXIST);
      return -1;
    }
  }
  return 0;
}

static int
set_bios_geometry (vd_disk *d, const struct vd_geometry *g)
{
  char v[16];
  if (!g->cylinders)
    return 0;
  snprintf (v, sizeof v, "%u", g->cylinders);
  if (vd_disk_set_meta (d, "ddb.geometry.biosCylinders", v) < 0)
    return -1;
  snprintf (v, sizeof v, "%u", g->heads);
  if (vd_disk_set_meta (d, "ddb.geometry.biosHeads", v) < 0)
    return -1;
  snprintf (v, sizeof v, "%u", g->sectors);
  return vd_disk_set_meta (d, "ddb.geometry.biosSectors", v);
}

/* The incomplete disk this server made for export, opened again (the same
 * create: name): 1 with *out set; 0 when there is none, or it is complete
 * now (a create must then refuse); -1 reported. */
static int
reopen_made (const char *export, struct entry **out)
{
  for (struct made *m = made_list; m; m = m->next)
    if (strcmp (m->name, export) == 0) {
      const char *v;
      struct scan ms;
      struct entry *e;
      char *path;
      vd_disk *d = NULL;
      int parent = 0;
      if (scan_datastore (&ms) < 0)
        return -1;
      if (export_check (m->path, &ms, &parent) == 0 && !parent)
        d = open_verified (m->path, 0, &ms);
      scan_free (&ms);
      if (!d)
        return 0;
      v = vd_disk_get_meta (d, INCOMPLETE_KEY);
      if (!v || strcmp (v, "1") != 0) {
        vd_disk_close (d);      /* complete now: a create must refuse */
        return 0;
      }
      path = strdup (m->path);
      e = path ? new_entry (path, d, 1) : NULL;
      if (!e) {
        free (path);
        vd_disk_close (d);
        return -1;
      }
      e->created = 1;
      e->create_name = strdup (export);
      *out = e;
      return 1;
    }
  return 0;
}

/* Parse "create:TYPE[,OPTION...]:BYTES:PATH" into type (256 bytes),
 * *params, *bios and *path (inside export).  0, or -1 reported. */
static int
parse_create (const char *export, char *type, struct vd_create_params *params,
              struct vd_geometry *bios, const char **path)
{
  const char *p = export + 7, *colon;
  char *end, *opts;
  uint64_t capacity;

  colon = strchr (p, ':');
  if (!colon || (size_t) (colon - p) >= 256) {
    nbdkit_error ("export '%.64s': expected create:TYPE[,OPTION...]:BYTES:"
                  "PATH", export);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  memcpy (type, p, (size_t) (colon - p));
  type[colon - p] = '\0';
  opts = strchr (type, ',');
  if (opts)
    *opts++ = '\0';
  p = colon + 1;
  errno = 0;
  if (!isdigit ((unsigned char) *p)
      || (capacity = strtoull (p, &end, 10), errno) || *end != ':'
      || capacity == 0 || capacity % 512) {
    nbdkit_error ("export '%.64s': the size must be a non-zero multiple of "
                  "512 bytes", export);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  *path = end + 1;

  vd_create_params_init (params);
  params->capacity = capacity;
  params->adapter = VD_ADAPTER_LSILOGIC;
  if (strcmp (type, "thin") == 0)
    params->type = VD_TYPE_VMFS_THIN;
  else if (strcmp (type, "thick") == 0 || strcmp (type, "preallocated") == 0) {
    params->type = VD_TYPE_VMFS;
    params->flags |= VD_CREATE_PREALLOCATE;
  }
  else if (strcmp (type, "sparse") == 0) {
    params->type = VD_TYPE_MONOLITHIC_SPARSE;
    params->adapter = VD_ADAPTER_IDE;
  }
  else {
    nbdkit_error ("export '%.64s': unknown disk type '%s' (thin, thick, "
                  "sparse)", export, type);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  if (opts && create_options (export, opts, params, bios) < 0)
    return -1;

  /* A flat extent of at most 1 MiB holding text the client wrote would
   * read as a descriptor (the library parses text files up to 1 MiB). */
  if (params->type != VD_TYPE_MONOLITHIC_SPARSE && capacity <= (1u << 20)) {
    nbdkit_error ("export '%.64s': refused: a %s disk must be larger than "
                  "1 MiB (its flat file could otherwise pass for a "
                  "descriptor); use sparse for small disks", export, type);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  return 0;
}

/* Remember that this server made export's disk at path (best effort). */
static void
remember_made (const char *export, const char *path)
{
  struct made *m = calloc (1, sizeof *m);
  if (m && (m->name = strdup (export)) && (m->path = strdup (path))) {
    m->next = made_list;
    made_list = m;
  }
  else if (m) {
    free (m->name);
    free (m);
  }
}

struct entry *
open_create (const char *export, int readonly)
{
  char type[256], *path;
  const char *rel;
  struct vd_create_params params;
  struct vd_geometry bios = { 0, 0, 0 };
  struct entry *e;
  struct scan s;
  vd_disk *d;

  /* A client opening more connections to the disk it is creating
   * (multi-conn) joins the handle of its first connection. */
  for (e = table; e; e = e->next)
    if (e->create_name && strcmp (e->create_name, export) == 0) {
      e->refs++;
      return e;
    }
  if (!readonly) {
    int r = reopen_made (export, &e);
    if (r != 0)
      return r > 0 ? e : NULL;
  }
  if (readonly || !allow_create) {
    nbdkit_error ("export '%.64s': creating disks is not allowed on this "
                  "server%s", export, readonly ? " (read-only)" : "");
    nbdkit_set_error (EPERM);
    return NULL;
  }
  if (parse_create (export, type, &params, &bios, &rel) < 0)
    return NULL;
  if (quota_check_create (export, params.capacity,
                          (params.flags & VD_CREATE_PREALLOCATE) != 0,
                          &s) < 0)
    return NULL;

  path = resolve (rel, 0);
  if (!path || dangling_clash (path, &s) < 0) {
    scan_free (&s);
    free (path);
    return NULL;
  }
  if (vd_disk_create (path, &params) < 0) {
    plugin_fail ();
    scan_free (&s);
    free (path);
    return NULL;
  }
  /* the new disk's files, checked as any export's are */
  scan_free (&s);
  d = NULL;
  if (scan_datastore (&s) == 0) {
    int parent = 0;
    if (export_check (path, &s, &parent) == 0 && !parent)
      d = open_verified (path, 0, &s);
    else if (parent)
      nbdkit_error ("%s: a disk names the new disk as its parent", path);
    scan_free (&s);
  }
  if (!d || vd_disk_set_meta (d, INCOMPLETE_KEY, "1") < 0
      || set_bios_geometry (d, &bios) < 0) {
    if (d)
      plugin_fail ();
    vd_disk_close (d);
    nbdkit_error ("%s: created but not opened", path);
    free (path);
    return NULL;
  }
  e = new_entry (path, d, 1);
  if (!e) {
    vd_disk_close (d);
    free (path);
    return NULL;
  }
  e->created = 1;
  e->create_name = strdup (export);
  remember_made (export, path);
  nbdkit_debug ("%s: created (%s, %" PRIu64 " bytes)", path, type,
                params.capacity);
  return e;
}

/* ---- the incomplete marker ------------------------------------------- */

/* A created disk stays marked incomplete unless it was flushed, every
 * write was flushed and nothing failed. */
void
finish_created (struct entry *e)
{
  if (!e->failed && e->flushes > 0 && e->fgen == e->wgen
      && vd_disk_flush (e->disk) == 0
      && vd_disk_set_meta (e->disk, INCOMPLETE_KEY, NULL) < 0)
    nbdkit_error ("%s: %s", e->path, vd_last_error ()->message);
}

void
free_made_list (void)
{
  while (made_list) {
    struct made *m = made_list;
    made_list = m->next;
    free (m->name);
    free (m->path);
    free (m);
  }
}
