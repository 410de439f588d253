/* vdisk backup prune: merge the oldest points into the base (commit) so
 * every surviving point reads as before. */
#include "backup-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- prune ----------------------------------------------------------------- */

/* Add the real path of f to refs; -1 when it cannot be resolved or kept. */
static int
refs_push (char ***refs, size_t *n, size_t *cap, const char *f)
{
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    char **nr = realloc (*refs, nc * sizeof **refs);
    if (!nr)
      return -1;
    *refs = nr;
    *cap = nc;
  }
  char *real = f ? realpath (f, NULL) : NULL;
  if (!real)
    return -1;
  (*refs)[(*n)++] = real;
  return 0;
}

/* The real paths of every file some point's chain uses.  -1 when any point,
 * disk or link could not be read: the caller then removes nothing (a file
 * left over is harmless; one removed while a point needs it is not). */
static int
collect_refs (const char *repo, char ***refs, size_t *n, size_t *cap)
{
  size_t np;
  int bad = 0;
  char **points = vd__bk_list_points (repo, &np);
  if (!points)
    bad = 1;
  for (size_t i = 0; !bad && i < np; i++) {
    json_object *m = vd__bk_load_manifest (repo, points[i]);
    json_object *ds = vd__bk_jarr (m, "disks");
    if (!m || !ds)
      bad = 1;
    for (size_t k = 0; !bad && k < json_object_array_length (ds); k++) {
      json_object *de = json_object_array_get_idx (ds, k);
      const char *kind = vd__bk_jstr (de, "kind");
      int rdm = kind && strcmp (kind, "rdm") == 0;
      if (rdm && !vd__bk_jstr (de, "file"))
        continue;               /* an RDM saved as its descriptor only */
      char *f = vd__bk_disk_file_of (repo, de);
      vd_disk *d = NULL;
      if (!f)
        bad = 1;
      else if (rdm)             /* an RDM's data: one file, no chain */
        bad = refs_push (refs, n, cap, f) < 0;
      else if (vd_disk_open (&d, f, VD_OPEN_READ_ONLY) < 0)
        bad = 1;
      for (unsigned l = 0; d && !bad && l < vd_disk_get_link_count (d); l++) {
        struct vd_link_info li;
        bad = vd_disk_get_link_info (d, l, &li) < 0
              || refs_push (refs, n, cap, li.path) < 0;
      }
      vd_disk_close (d);
      free (f);
    }
    json_object_put (m);
  }
  vd__bk_strv_free (points);
  vd__error_clear ();
  return bad ? -1 : 0;
}

static void
gc (const char *repo)
{
  char **refs = NULL;
  size_t n = 0, cap = 0;
  char *disks = NULL;
  if (collect_refs (repo, &refs, &n, &cap) == 0)
    disks = vd__asprintf ("%s/disks", repo);
  DIR *dd = disks && vd__bk_real_dir (disks, NULL) ? opendir (disks) : NULL;
  struct dirent *de;
  while (dd && (de = readdir (dd))) {
    if (!vd__bk_plain_name (de->d_name) || !vd__bk_real_dir (disks, de->d_name))
      continue;
    char *sub = vd__asprintf ("%s/%s", disks, de->d_name);
    DIR *sd = sub ? opendir (sub) : NULL;
    struct dirent *fe;
    while (sd && (fe = readdir (sd))) {
      size_t len = strlen (fe->d_name);
      if (len < 6 || strcmp (fe->d_name + len - 5, ".vmdk"))
        continue;
      char *f = vd__asprintf ("%s/%s", sub, fe->d_name);
      char *real = f ? realpath (f, NULL) : NULL;
      int used = 0;
      for (size_t i = 0; real && i < n; i++)
        if (refs[i] && strcmp (refs[i], real) == 0)
          used = 1;
      if (real && !used)
        unlink (f);
      free (real);
      free (f);
    }
    if (sd)
      closedir (sd);
    free (sub);
  }
  if (dd)
    closedir (dd);
  free (disks);
  for (size_t i = 0; i < n; i++)
    free (refs[i]);
  free (refs);
}

/* Merge the oldest point into the next one.  The oldest point's folder
 * goes first (a crash then leaves the next point as an incremental over
 * the old file, which stays: consistent); then each device's incremental
 * file of the next point is committed into the old file, the point after
 * is re-attached to it, the manifests name the merged file, and files no
 * chain uses are removed. */
static int
merge_oldest (const char *repo, char **points, size_t np)
{
  json_object *m0 = vd__bk_load_manifest (repo, points[0]);
  json_object *m1 = m0 ? vd__bk_load_manifest (repo, points[1]) : NULL;
  json_object *m2 = m1 && np > 2 ? vd__bk_load_manifest (repo, points[2]) : NULL;
  int r = m1 && (np <= 2 || m2) ? 0 : vd_last_error ()->code;
  if (r == 0) {
    char *p0 = vd__asprintf ("%s/%s", repo, points[0]);
    char *gone = vd__asprintf ("%s/.incomplete-pruned-%s", repo, points[0]);
    if (!p0 || !gone || rename (p0, gone) < 0)
      r = vd__error (VD_EIO, errno, "%s: remove point %s", repo, points[0]);
    else {
      vd__fsync_dir (repo);
      vd__rm_rf (gone);
    }
    free (p0);
    free (gone);
  }
  json_object *d1 = vd__bk_jarr (m1, "disks");
  for (size_t i = 0; r == 0 && d1 && i < json_object_array_length (d1); i++) {
    json_object *e1 = json_object_array_get_idx (d1, i);
    const char *dev = vd__bk_jstr (e1, "device"), *kind = vd__bk_jstr (e1, "kind");
    if (!dev || !kind || strcmp (kind, "incremental") != 0)
      continue;
    json_object *e0 = vd__bk_prev_disk (m0, dev);
    const char *t0 = vd__bk_jstr (e0, "file_type");
    if (t0 && strcmp (t0, "streamOptimized") == 0)
      continue;   /* written once: nothing merges into it; the next point
                   * stays a child of it (its chain keeps the file) */
    char *f0 = e0 ? vd__bk_disk_file_of (repo, e0) : NULL;
    char *f1 = f0 ? vd__bk_disk_file_of (repo, e1) : NULL;
    char *f2 = NULL;
    if (!f1) {
      free (f0);
      r = vd__error (VD_ECORRUPT, 0, "%s: point %s: no earlier file for %s",
                    repo, points[1], dev);
      break;
    }
    /* a hostile point's chain must not lead the commit (or the attach)
     * to write outside the repository */
    r = vd__bk_file_inside (repo, f0);
    if (r == 0)
      r = vd__bk_file_inside (repo, f1);
    if (r == 0)
      r = vd_disk_commit (f1, NULL, 0, NULL, NULL);
    json_object *e2 = m2 ? vd__bk_prev_disk (m2, dev) : NULL;
    const char *k2 = vd__bk_jstr (e2, "kind");
    int re2 = e2 && k2 && strcmp (k2, "incremental") == 0;
    if (r == 0 && re2) {
      f2 = vd__bk_disk_file_of (repo, e2);
      /* forced: f2 has children of its own (later points), and what they
       * read does not change (f0 now holds what f1 held) */
      r = f2 ? vd__bk_file_inside (repo, f2) : VD_ECORRUPT;
      if (r == 0)
        r = vd_disk_attach (f2, f0, VD_OPEN_FORCE);
    }
    if (r == 0) {
      int err = 0;
      json_object_object_add (e1, "kind", json_object_new_string ("full"));
      json_object_object_add (e1, "file",
                              json_object_new_string (vd__bk_jstr (e0, "file")));
      json_object_object_add (e1, "disk_file",
                              vd__bk_disk_file_entry (vd__bk_jstr (e0, "file"), f0,
                                                      NULL, &err));
      json_object_object_del (e1, "parent_point");
      r = err;
    }
    if (r == 0 && re2) {
      int err = 0;
      json_object_object_add (e2, "disk_file",
                              vd__bk_disk_file_entry (vd__bk_jstr (e2, "file"), f2,
                                                      NULL, &err));
      r = err;
    }
    free (f0);
    free (f1);
    free (f2);
  }
  if (r == 0 && m2) {
    char *p2 = vd__asprintf ("%s/%s/manifest.json", repo, points[2]);
    r = p2 ? vd__bk_write_json (p2, m2, 1) : VD_ENOMEM;
    free (p2);
  }
  if (r == 0) {
    char *p1 = vd__asprintf ("%s/%s/manifest.json", repo, points[1]);
    r = p1 ? vd__bk_write_json (p1, m1, 1) : VD_ENOMEM;
    free (p1);
  }
  if (r == 0)
    gc (repo);
  json_object_put (m0);
  json_object_put (m1);
  json_object_put (m2);
  return r;
}

int
vd_backup_prune (const char *repo, unsigned keep)
{
  VD_ENTER ();
  if (!repo || keep == 0)
    return vd__error (VD_EINVAL, 0, "prune: need a repository and keep >= 1");
  int lk = vd__bk_lock_repo (repo);
  if (lk < 0)
    return lk;
  int r = 0;
  for (;;) {
    size_t np;
    char **points = vd__bk_list_points (repo, &np);
    if (!points) {
      r = vd_last_error ()->code;
      break;
    }
    if (np <= keep) {
      vd__bk_strv_free (points);
      break;
    }
    r = merge_oldest (repo, points, np);
    vd__bk_strv_free (points);
    if (r < 0)
      break;
  }
  close (lk);
  return r;
}
