/* First class disks: snapshots.  A snapshot freezes the FCD's top link
 * and puts a new child link on top (the FCD's writes go there); deleting
 * a snapshot merges the link above it into its link, so every other
 * snapshot reads as before. */
#include "fcd/fcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- snapshot --------------------------------------------------------- */

static int
finish_snapshot (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = fcd_load_snaps (s, in->uuid, &sn, &n);
  if (r == 0)
    r = fcd_retarget (s, s, in->uuid, in->arg);
  if (r == 0)
    r = fcd_begin (s);
  if (r == 0) {
    r = fcd_sql (s, "INSERT INTO snapshot (ssid, uuid, parent, created, "
                 "description, path, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 "tttitti", in->ssid, in->uuid, n ? sn[n - 1].ssid : NULL,
                 fcd_now (), in->arg2 ? in->arg2 : "", row.path,
                 n ? sn[n - 1].seq + 1 : (int64_t) 1);
    if (r == 0)
      r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt", in->arg,
                   in->uuid);
    if (r == 0)
      r = fcd_intent_done (s, in);
    r = fcd_end (s, r);
  }
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

int
fcd_recover_snapshot (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  if ((r = fcd_rel_ok (s, in->uuid, in->arg)) == 0) {
    if (fcd_child_of (s, in->arg, row.path)) {
      r = finish_snapshot (s, in);
      if (r == 0)
        r = fcd_sweep (s, in->uuid);
    }
    else
      r = fcd_undo_new_top (s, in);
  }
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_snapshot (vd_fcd_store *s, const char *id, const char *description,
                 char ssid[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "snapshot" };
  struct fcd_row row;
  VD_ENTER ();
  if (!s)
    return vd__error (VD_EINVAL, 0, "snapshot: no store");
  if (description && (strlen (description) > 4096))
    return vd__error (VD_EINVAL, 0, "snapshot: description longer than 4 KiB");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) < 0)
    goto out0;
  fcd_new_uuid (in.ssid);
  if (description && !(in.arg2 = strdup (description)))
    r = vd__error (VD_ENOMEM, errno, "snapshot");
  if (r == 0 && (r = fcd_new_top (s, &row, &in, row.path)) == 0
      && (r = finish_snapshot (s, &in)) == 0) {
    fcd_checkpoint (s);
    if (ssid)
      snprintf (ssid, VD_FCD_ID_SIZE, "%s", in.ssid);
  }
  fcd_intent_free (&in);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

int
vd_fcd_list_snapshots (vd_fcd_store *s, const char *id, vd_fcd_snapshot_cb cb,
                       void *payload)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  VD_ENTER ();
  if (!s || !cb)
    return vd__error (VD_EINVAL, 0, "snapshots: no store or callback");
  int r = fcd_load_id (s, id, &row);
  if (r < 0)
    return r;
  r = fcd_load_snaps (s, row.uuid, &sn, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct vd_fcd_snapshot v;
    char *p = fcd_abs (s, sn[i].path);
    if (!p) {
      r = VD_ENOMEM;
      break;
    }
    memset (&v, 0, sizeof v);
    memcpy (v.id, sn[i].ssid, sizeof v.id);
    memcpy (v.parent, sn[i].parent, sizeof v.parent);
    v.created = sn[i].created;
    v.description = sn[i].desc;
    v.path = p;
    int stop = cb (&v, payload);
    free (p);
    if (stop)
      break;
  }
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

/* ---- snapshot-delete -------------------------------------------------- */

/* Snapshot k's link L, the link C above it (the next snapshot's or the
 * (vd_disk_commit: repeatable), re-parent G onto L; step 1: the catalog
 * names L where it named C and forgets the snapshot; step 2: C's files
 * go (gc). */
int
fcd_do_snapdel (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  char *L = NULL, *C = NULL, *G = NULL;
  int r;

  if (in->step == 2)
    return fcd_gc_done (s, in);
  if ((r = fcd_load (s, in->uuid, &row)) < 0)
    return r;
  if ((r = fcd_load_snaps (s, in->uuid, &sn, &n)) < 0
      || (r = fcd_find_snap (sn, n, in->ssid, &k)) < 0)
    goto out;
  const char *crel = k + 1 < n ? sn[k + 1].path : row.path;
  const char *grel = k + 2 < n ? sn[k + 2].path
                     : k + 1 < n ? row.path : NULL;
  if (!in->arg || !in->arg2 || strcmp (in->arg, sn[k].path) != 0
      || strcmp (in->arg2, crel) != 0) {
    r = vd__error (VD_ECORRUPT, 0, "%s/%s: snapshot-delete intent %" PRId64
                  " does not match the catalog", s->ds, FCD_CATALOG, in->id);
    goto out;
  }
  L = fcd_abs (s, sn[k].path);
  C = fcd_abs (s, crel);
  G = grel ? fcd_abs (s, grel) : NULL;
  if (!L || !C || (grel && !G)) {
    r = VD_ENOMEM;
    goto out;
  }
  if ((r = vd_disk_commit (C, L, VD_OPEN_FORCE, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  if (G && (r = vd_disk_attach (G, L, VD_OPEN_FORCE)) < 0)
    goto out;
  fcd_checkpoint (s);
  if (!grel && (r = fcd_retarget (s, s, in->uuid, sn[k].path)) < 0)
    goto out;
  if ((r = fcd_begin (s)) < 0)
    goto out;
  if (k + 1 < n)
    r = fcd_sql (s, "UPDATE snapshot SET path = ?, parent = ? WHERE ssid = ?",
                 "ttt", sn[k].path, sn[k].parent[0] ? sn[k].parent : NULL,
                 sn[k + 1].ssid);
  else
    r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt",
                 sn[k].path, in->uuid);
  if (r == 0)
    r = fcd_sql (s, "DELETE FROM snapshot WHERE ssid = ?", "t", sn[k].ssid);
  if (r == 0)
    r = fcd_intent_step (s, in, 2);
  if ((r = fcd_end (s, r)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = fcd_gc_done (s, in);
out:
  free (L);
  free (C);
  free (G);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_delete_snapshot (vd_fcd_store *s, const char *id, const char *ssid)
{
  struct intent in = { .op = "snapdel" };
  struct fcd_at a;
  VD_ENTER ();
  if (!s)
    return vd__error (VD_EINVAL, 0, "snapshot-delete: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_at (s, id, ssid, &a)) < 0)
    goto out0;
  struct snap_row *sk = &a.sn[a.k];
  if ((r = fcd_check_no_writer (s, a.row.path)) < 0)
    goto out;
  memcpy (in.uuid, a.row.uuid, sizeof in.uuid);
  memcpy (in.ssid, sk->ssid, sizeof in.ssid);
  in.arg = strdup (sk->path);
  in.arg2 = strdup (a.k + 1 < a.n ? sk[1].path : a.row.path);
  if (!in.arg || !in.arg2) {
    r = vd__error (VD_ENOMEM, errno, "snapshot-delete");
    goto out;
  }
  if ((r = fcd_intent_begin (s, &in, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = fcd_do_snapdel (s, &in);
  if (r == 0)
    fcd_checkpoint (s);
out:
  fcd_intent_free (&in);
  fcd_at_free (&a);
out0:
  fcd_unlock (s);
  return r;
}
