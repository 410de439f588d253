/* Building one backup point (docs/backup.md), whatever the source: the
 * repository made or checked to be this VM's, locked, swept; the point's
 * work folder and manifest skeleton; at the end the manifest written and
 * synced and the folder renamed into place (complete, or not at all). */
#include "backup-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The repository's repo.json: made, or checked to name vmx_name. */
static int
check_repo (struct vd__bk_point *pb, const char *vmx_name,
            const char *display, uint32_t flags)
{
  char *rpath = vd__asprintf ("%s/repo.json", pb->repo);
  int r = 0;
  if (!rpath)
    return VD_ENOMEM;
  if (access (rpath, F_OK) == 0) {
    json_object *rj = vd__bk_read_json (rpath);
    const char *had = vd__bk_jstr (rj, "vmx");
    if (!rj)
      r = vd_last_error ()->code;
    else if (!(flags & VD_BACKUP_FORCE) && (!had || strcmp (had, vmx_name) != 0))
      r = vd__error (VD_EINVAL, 0, "%s: repository of another VM (%s, not "
                    "%s); force to mix", pb->repo, had ? had : "?", vmx_name);
    json_object_put (rj);
  }
  else {
    json_object *rj = json_object_new_object ();
    json_object_object_add (rj, "format_version", json_object_new_int (1));
    json_object_object_add (rj, "vmx", json_object_new_string (vmx_name));
    if (display)
      json_object_object_add (rj, "display_name", json_object_new_string (display));
    r = vd__bk_write_json (rpath, rj, 1);
    json_object_put (rj);
  }
  free (rpath);
  return r;
}

int
vd__bk_point_begin (struct vd__bk_point *pb, const char *repo,
                    const char *vmx_name, const char *display, uint32_t flags)
{
  memset (pb, 0, sizeof *pb);
  pb->lk = -1;
  pb->repo = repo;
  if (mkdir (repo, 0755) < 0 && errno != EEXIST)
    return vd__error (VD_EIO, errno, "%s: mkdir", repo);
  int r = check_repo (pb, vmx_name, display, flags);
  if (r < 0)
    return r;
  pb->lk = vd__bk_lock_repo (repo);
  if (pb->lk < 0)
    return pb->lk;
  vd__bk_sweep (repo);
  pb->points = vd__bk_list_points (repo, &pb->np);
  if (!pb->points)
    return vd_last_error ()->code;
  if (pb->np && !(flags & VD_BACKUP_FULL)) {
    pb->prev = vd__bk_load_manifest (repo, pb->points[pb->np - 1]);
    if (!pb->prev)
      return vd_last_error ()->code;
    pb->prev_point = pb->points[pb->np - 1];
  }
  pb->point = vd__bk_now_point (repo, pb->iso);
  pb->work = pb->point ? vd__asprintf ("%s/.incomplete-%s", repo, pb->point) : NULL;
  pb->files_dir = pb->work ? vd__asprintf ("%s/files", pb->work) : NULL;
  pb->final = pb->point ? vd__asprintf ("%s/%s", repo, pb->point) : NULL;
  char *disks_dir = vd__asprintf ("%s/disks", repo);
  if (!pb->files_dir || !pb->final || !disks_dir || mkdir (pb->work, 0755) < 0
      || mkdir (pb->files_dir, 0755) < 0
      || (mkdir (disks_dir, 0755) < 0 && errno != EEXIST)) {
    free (disks_dir);
    return vd__error (VD_EIO, errno, "%s: make the point's folder", repo);
  }
  free (disks_dir);
  pb->m = json_object_new_object ();
  json_object_object_add (pb->m, "format_version", json_object_new_int (1));
  json_object_object_add (pb->m, "point", json_object_new_string (pb->point));
  json_object_object_add (pb->m, "time", json_object_new_string (pb->iso));
  json_object_object_add (pb->m, "vmx", json_object_new_string (vmx_name));
  if (display)
    json_object_object_add (pb->m, "display_name", json_object_new_string (display));
  pb->files = json_object_new_array ();
  json_object_object_add (pb->m, "files", pb->files);
  pb->disks = json_object_new_array ();
  json_object_object_add (pb->m, "disks", pb->disks);
  return 0;
}

int
vd__bk_point_commit (struct vd__bk_point *pb, const struct vd_backup_options *o,
                     struct vd_backup_result *res)
{
  json_object_object_add (pb->m, "bytes_read", json_object_new_int64 ((int64_t) res->bytes_read));
  json_object_object_add (pb->m, "bytes_written", json_object_new_int64 ((int64_t) res->bytes_written));
  int sync = !(o && (o->flags & VD_BACKUP_NO_SYNC));
  json_object_object_add (pb->m, "synced", json_object_new_boolean (sync));
  char *mp = vd__asprintf ("%s/manifest.json", pb->work);
  int r = mp ? vd__bk_write_json (mp, pb->m, sync) : VD_ENOMEM;
  free (mp);
  /* Every file is on the disk before the folder that holds them. */
  if (r == 0 && sync && (vd__fsync_dir (pb->files_dir) < 0
                         || vd__fsync_dir (pb->work) < 0))
    r = vd__error (VD_EIO, errno, "%s: sync", pb->work);
  /* One rename: the point exists complete, or not at all. */
  if (r == 0 && rename (pb->work, pb->final) < 0)
    r = vd__error (VD_EIO, errno, "%s: rename into place", pb->final);
  if (r == 0) {
    if (sync)
      vd__fsync_dir (pb->repo);
    pb->done = 1;
    snprintf (res->point, sizeof res->point, "%s", pb->point);
  }
  if (r == 0 && o && o->struct_size >= offsetof (struct vd_backup_options, summary_json)
                                       + sizeof o->summary_json && o->summary_json)
    *o->summary_json = strdup (json_object_to_json_string_ext (pb->m, JSON_C_TO_STRING_PRETTY
                                                               | JSON_C_TO_STRING_NOSLASHESCAPE));
  return r;
}

void
vd__bk_point_end (struct vd__bk_point *pb)
{
  if (!pb->done && pb->work)
    vd__rm_rf (pb->work);
  if (pb->lk >= 0)
    close (pb->lk);
  json_object_put (pb->prev);
  json_object_put (pb->m);
  vd__bk_strv_free (pb->points);
  free (pb->point);
  free (pb->work);
  free (pb->files_dir);
  free (pb->final);
  memset (pb, 0, sizeof *pb);
  pb->lk = -1;
}
