/* nbdkit-vdisk-plugin: first class disks by ID.  "fcd:ID" serves the FCD
 * ID (its UUID in full or a unique prefix) of the datastore's catalog
 * (fcd-catalog.db, libvdisk's vd_fcd_* API); "fcd:ID@SSID" serves its
 * snapshot SSID, always read-only.  The catalog only says which link of
 * the datastore that is: the link is then served as the export of its
 * path, with the same checks (no symbolic link, a descriptor no disk uses
 * as an extent, every file opened inside the datastore). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin.h"

#define FCD_PREFIX "fcd:"

int
is_fcd_export (const char *export)
{
  const char *rest = strip_datastore (export);
  return rest && strncmp (rest, FCD_PREFIX, strlen (FCD_PREFIX)) == 0;
}

static void
fail_lib (const char *export)
{
  const struct vd_error *e = vd_last_error ();
  nbdkit_error ("export '%.64s': %s", export,
                e->message && *e->message ? e->message : "failed");
  nbdkit_set_error (e->code == VD_ENOENT ? ENOENT
                    : e->code == VD_ELOCKED ? EBUSY : EINVAL);
}

/* The snapshot (a UUID or unique prefix) vd_fcd_list_snapshots finds. */
struct snap_find {
  const char *ssid;
  size_t hits;
  char *path;                   /* the frozen link of the (last) match */
  int nomem;
};

static int
snap_match (const struct vd_fcd_snapshot *sn, void *payload)
{
  struct snap_find *f = payload;
  if (strncasecmp (sn->id, f->ssid, strlen (f->ssid)) != 0)
    return 0;
  f->hits++;
  free (f->path);
  if (!(f->path = strdup (sn->path ? sn->path : "")))
    f->nomem = 1;
  return f->nomem;
}

/* The absolute path of the link export names (malloc'd), or NULL with
 * the error reported: the catalog's own record (the FCD's top link, or
 * the snapshot's frozen link), no disk opened.  A read-only export only
 * reads the catalog (VD_FCD_READ_ONLY: nothing made, no intent
 * recovered); a writable one opens it as a writer does, so that an
 * unfinished intent is finished before the top link is written. */
static char *
fcd_link_path (const char *export, const char *id, const char *ssid,
               int readonly)
{
  vd_fcd_store *st;
  char *path = NULL;
  if (vd_fcd_store_open (&st, datastore,
                         readonly ? VD_FCD_READ_ONLY : 0) < 0) {
    fail_lib (export);
    return NULL;
  }
  if (!ssid) {
    struct vd_fcd_info info;
    if (vd_fcd_get_info (st, id, &info) == 0)
      path = strdup (info.path ? info.path : "");
  }
  else {
    struct snap_find f = { ssid, 0, NULL, 0 };
    if (vd_fcd_list_snapshots (st, id, snap_match, &f) == 0 && !f.nomem) {
      if (f.hits == 1) {
        path = f.path;
        f.path = NULL;
      }
      else {
        nbdkit_error (f.hits ? "export '%.64s': snapshot ID prefix %.36s "
                      "is ambiguous" : "export '%.64s': no snapshot with ID "
                      "%.36s", export, ssid);
        nbdkit_set_error (f.hits ? EINVAL : ENOENT);
        free (f.path);
        vd_fcd_store_close (st);
        return NULL;
      }
    }
    free (f.path);
  }
  if (!path && vd_last_error ()->code != VD_OK)
    fail_lib (export);
  else if (!path)
    nbdkit_set_error (ENOMEM);
  vd_fcd_store_close (st);
  return path;
}

struct entry *
open_fcd (const char *export, int *readonly)
{
  const char *rest = strip_datastore (export) + strlen (FCD_PREFIX);
  const char *at = strchr (rest, '@');
  char id[VD_FCD_ID_SIZE], ssid[VD_FCD_ID_SIZE];
  size_t n = at ? (size_t) (at - rest) : strlen (rest);
  struct entry *e = NULL;

  if (!vd_fcd_id_valid (rest, n)
      || (at && !vd_fcd_id_valid (at + 1, strlen (at + 1)))) {
    nbdkit_error ("export '%.64s': refused: not fcd:ID or fcd:ID@SSID (an "
                  "ID is a UUID or a prefix of one)", export);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  snprintf (id, sizeof id, "%.*s", (int) n, rest);
  if (at)
    snprintf (ssid, sizeof ssid, "%s", at + 1);
  if (at)
    *readonly = 1;      /* a snapshot is never written */
  char *path = fcd_link_path (export, id, at ? ssid : NULL, *readonly);
  if (!path)
    return NULL;
  const char *rel = inside_datastore (path);
  if (!rel) {
    nbdkit_error ("export '%.64s': refused: the catalog names a disk "
                  "outside the datastore", export);
    nbdkit_set_error (EINVAL);
  }
  else
    e = open_existing (rel, *readonly);
  free (path);
  return e;
}

/* ---- list_exports ------------------------------------------------------- */

/* What vd_fcd_list tells of each FCD, kept for after the listing (the
 * snapshots are listed by another store call, not inside it). */
struct fcd_item {
  char id[VD_FCD_ID_SIZE];
  char name[256];               /* the description's: at most 255 bytes */
  unsigned snapshots;
};

struct fcd_ids {
  struct fcd_item *v;
  size_t n, cap;
  size_t limit;                 /* FCDs collected at most (the room left) */
  int nomem, cut;
};

static int
collect_id (const struct vd_fcd_info *info, void *payload)
{
  struct fcd_ids *x = payload;
  struct fcd_item *it;
  if (x->n >= x->limit) {       /* the list is full: the rest left out */
    x->cut = 1;
    return 1;
  }
  if (x->n == x->cap) {
    size_t nc = x->cap ? x->cap * 2 : 16;
    if (nc > x->limit)
      nc = x->limit;
    void *p = realloc (x->v, nc * sizeof *x->v);
    if (!p) {
      x->nomem = 1;
      return 1;
    }
    x->v = p;
    x->cap = nc;
  }
  it = &x->v[x->n++];
  memcpy (it->id, info->id, VD_FCD_ID_SIZE);
  snprintf (it->name, sizeof it->name, "%s", info->name ? info->name : "");
  it->snapshots = info->snapshots;
  return 0;
}

struct snap_add {
  struct nbdkit_exports *exports;
  const char *id;
  uint64_t *listed;
  int err;
  int *cut;
};

static int
add_snap (const struct vd_fcd_snapshot *sn, void *payload)
{
  struct snap_add *a = payload;
  char name[4 + 2 * VD_FCD_ID_SIZE], desc[16 + VD_FCD_ID_SIZE];
  if (*a->listed >= max_listed) {
    *a->cut = 1;
    return 1;
  }
  snprintf (name, sizeof name, FCD_PREFIX "%s@%s", a->id, sn->id);
  snprintf (desc, sizeof desc, "snapshot of " FCD_PREFIX "%s", a->id);
  if (nbdkit_add_export (a->exports, name, desc) < 0) {
    a->err = 1;
    return 1;
  }
  ++*a->listed;
  return 0;
}

int
list_fcd_exports (struct nbdkit_exports *exports, uint64_t *listed)
{
  vd_fcd_store *st;
  struct fcd_ids ids = { NULL, 0, 0, 0, 0, 0 };
  int r = 0;

  if (*listed >= max_listed)
    return 0;
  ids.limit = max_listed - *listed;

  if (vd_fcd_store_open (&st, datastore, VD_FCD_READ_ONLY) < 0) {
    if (vd_last_error ()->code != VD_ENOENT)   /* a catalog we cannot read */
      nbdkit_debug ("list_exports: %s: first class disks left out: %s",
                    datastore, vd_last_error ()->message);
    return 0;
  }
  if (vd_fcd_list (st, collect_id, &ids) < 0 || ids.nomem)
    nbdkit_debug ("list_exports: %s: first class disks left out: %s",
                  datastore, ids.nomem ? "out of memory"
                  : vd_last_error ()->message);
  else
    for (size_t i = 0; i < ids.n && r == 0; i++) {
      const struct fcd_item *it = &ids.v[i];
      char name[4 + VD_FCD_ID_SIZE], desc[300];
      if (*listed >= max_listed) {
        ids.cut = 1;
        break;
      }
      snprintf (name, sizeof name, FCD_PREFIX "%s", it->id);
      snprintf (desc, sizeof desc, "first class disk \"%s\"", it->name);
      if (nbdkit_add_export (exports, name, desc) < 0) {
        r = -1;
        break;
      }
      ++*listed;
      if (it->snapshots) {
        struct snap_add a = { exports, it->id, listed, 0, &ids.cut };
        vd_fcd_list_snapshots (st, it->id, add_snap, &a);
        if (a.err)
          r = -1;
      }
    }
  if (r == 0 && ids.cut)          /* logged once per listing */
    nbdkit_debug ("list_exports: %s: the list was cut at %" PRIu64
                  " exports (more first class disks or snapshots are "
                  "left out)", datastore, *listed);
  free (ids.v);
  vd_fcd_store_close (st);
  return r;
}
