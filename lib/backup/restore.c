/* vdisk restore: a point (or the newest at or before a time) rebuilt into
 * a new VM folder, RDM disks in the guide's two phases. */
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

/* ---- restore --------------------------------------------------------------- */

/* "2026-11-24T03:00", "...:SS", optional "Z": seconds since the epoch, UTC. */
static int
parse_time (const char *s, time_t *out)
{
  struct tm tm;
  memset (&tm, 0, sizeof tm);
  const char *e = strptime (s, "%Y-%m-%dT%H:%M", &tm);
  if (!e)
    e = strptime (s, "%Y-%m-%d", &tm);
  if (!e)
    return -1;
  if (*e == ':') {
    e = strptime (e + 1, "%S", &tm);
    if (!e)
      return -1;
  }
  if (*e == 'Z')
    e++;
  if (*e)
    return -1;
  *out = timegm (&tm);
  return 0;
}

static char *
pick_point (const char *repo, const char *point, const char *at)
{
  size_t np;
  char **points = vd__bk_list_points (repo, &np);
  char *pick = NULL;
  if (!points)
    return NULL;
  if (point) {
    for (size_t i = 0; i < np; i++)
      if (strcmp (points[i], point) == 0)
        pick = strdup (points[i]);
    if (!pick)
      vd__error (VD_ENOENT, 0, "%s: no point %s (vdisk backup list)", repo, point);
  }
  else if (at) {
    time_t want;
    if (parse_time (at, &want) < 0)
      vd__error (VD_EINVAL, 0, "'%s' is not a time (YYYY-MM-DDTHH:MM[:SS], UTC)", at);
    else
      for (size_t i = 0; i < np; i++) {
        json_object *m = vd__bk_load_manifest (repo, points[i]);
        time_t t;
        const char *ts = vd__bk_jstr (m, "time");
        if (ts && parse_time (ts, &t) == 0 && t <= want) {
          free (pick);
          pick = strdup (points[i]);
        }
        json_object_put (m);
      }
    if (!pick && vd_last_error ()->code == 0)
      vd__error (VD_ENOENT, 0, "%s: no point at or before %s", repo, at);
  }
  else if (np)
    pick = strdup (points[np - 1]);
  else
    vd__error (VD_ENOENT, 0, "%s: no backup points", repo);
  vd__bk_strv_free (points);
  return pick;
}

/* The .vmx without the lines of the listed devices (RDM phase one). */
static int
write_vmx_without (const char *from, const char *to, json_object *rdms)
{
  FILE *in = fopen (from, "re");
  FILE *out = in ? fopen (to, "we") : NULL;
  char line[4096];
  int r = 0;
  if (!in || !out) {
    if (in)
      fclose (in);
    return vd__error (VD_EIO, errno, "%s: rewrite", to);
  }
  while (fgets (line, sizeof line, in)) {
    int skip = 0;
    for (size_t i = 0; i < json_object_array_length (rdms); i++) {
      const char *dev = json_object_get_string (json_object_array_get_idx (rdms, i));
      size_t n = strlen (dev);
      const char *l = line;
      while (*l == ' ' || *l == '	')
        l++;
      if (strncasecmp (l, dev, n) == 0 && l[n] == '.')
        skip = 1;
    }
    if (!skip && fputs (line, out) == EOF)
      r = vd__error (VD_EIO, errno, "%s: write", to);
  }
  fclose (in);
  if (fflush (out) != 0 || fsync (fileno (out)) < 0)
    r = vd__error (VD_EIO, errno, "%s: sync", to);
  fclose (out);
  return r;
}

/* A disk of the point (its chain in the repository) converted to "to". */
static int
restore_disk (const char *repo, json_object *de, const char *to,
              const struct vd_restore_options *o)
{
  char *from = vd__bk_disk_file_of (repo, de);
  vd_disk *src = NULL;
  if (!from)
    return VD_ECORRUPT;
  int r = vd_disk_open (&src, from, VD_OPEN_READ_ONLY);
  if (r == 0 && (r = vd__bk_chain_inside (repo, src)) < 0)
    vd_disk_close (src);
  else if (r == 0) {
    struct vd_create_params p;
    vd_create_params_init (&p);
    const char *ct = vd__bk_jstr (de, "create_type");
    p.type = o && o->type ? o->type : ct ? vd_type_from_name (ct) : 0;
    if (!p.type || p.type == VD_TYPE_VMFS_SPARSE || p.type == VD_TYPE_SE_SPARSE)
      p.type = VD_TYPE_MONOLITHIC_SPARSE;
    p.adapter = vd_disk_get_adapter (src);
    vd_disk_get_geometry (src, &p.geometry, NULL);
    if (vd_disk_get_hw_version (src))
      p.hw_version = vd_disk_get_hw_version (src);
    r = vd_disk_convert (src, to, &p, NULL, NULL);
    vd_disk_close (src);
  }
  if (r == 0 && o && (o->flags & VD_RESTORE_KEEP_CBT))
    r = vd_disk_cbt_enable (to, 0);
  free (from);
  return r;
}

static void
add_note (char **notes, const char *dev, const char *name, const char *why)
{
  char *n2 = vd__asprintf ("%s%s: RDM disk %s left out (phase one): %s\n",
                           *notes ? *notes : "", dev, name, why);
  free (*notes);
  *notes = n2;
}

/* An RDM disk: phase one leaves the mapping out of the .vmx (and says what
 * to re-add); --rdm keep restores the mapping descriptor when the device
 * it mapped is still there; --rdm data restores the saved data (backed up
 * with --rdm-data) as a virtual disk of the RDM's name. */
static int
restore_rdm (const char *repo, const char *pdir, json_object *de,
             const char *to, const struct vd_restore_options *o,
             json_object *rdms, char **notes)
{
  const char *desc = vd__bk_jstr (de, "descriptor");
  const char *dev = vd__bk_jstr (de, "device"), *name = vd__bk_jstr (de, "name");
  const char *mapped = vd__bk_jstr (de, "mapped_device");
  uint32_t fl = o ? o->flags : 0;
  struct stat st;
  if (fl & VD_RESTORE_RDM_DATA) {
    if (!vd__bk_jstr (de, "file"))
      return vd__error (VD_ENOENT, 0, "%s: RDM disk %s (%s) was backed up "
                       "without its data (backup --rdm-data%s%s)", pdir, name,
                       dev, vd__bk_jstr (de, "data_skipped") ? ": " : "",
                       vd__bk_jstr (de, "data_skipped")
                       ? vd__bk_jstr (de, "data_skipped") : "");
    return restore_disk (repo, de, to, o);
  }
  if ((fl & VD_RESTORE_RDM_KEEP) && desc && strncmp (desc, "files/", 6) == 0
      && vd__bk_plain_name (desc + 6)) {
    if (mapped && stat (mapped, &st) < 0) {
      char *why = vd__asprintf ("its device %s is no longer there; re-add "
                                "it pointing at its LUN%s", mapped,
                                vd__bk_jstr (de, "file")
                                ? ", or restore its data with --rdm data" : "");
      add_note (notes, dev, name, why ? why : "");
      free (why);
      json_object_array_add (rdms, json_object_new_string (dev));
      return 0;
    }
    char *from = vd__asprintf ("%s/%s", pdir, desc);
    char hex[65];
    int r = from ? vd__bk_copy_file (from, to, hex, NULL) : VD_ENOMEM;
    free (from);
    return r;
  }
  json_object_array_add (rdms, json_object_new_string (dev));
  add_note (notes, dev, name, vd__bk_jstr (de, "file")
            ? "re-add it to the VM pointing at its LUN, or restore with "
              "--rdm keep (the mapping) or --rdm data (its saved data)"
            : "re-add it to the VM pointing at its LUN, or restore with "
              "--rdm keep");
  return 0;
}

int
vd_restore_vm (const char *repo, const char *point, const char *dest,
               const struct vd_restore_options *o, char **report)
{
  char *pick = NULL, *pdir = NULL, *work = NULL;
  json_object *m = NULL, *rdms = json_object_new_array ();
  char *notes = NULL;
  int lk = -1, r;

  VD_ENTER ();
  if (report)
    *report = NULL;
  if (!repo || !dest) {
    json_object_put (rdms);
    return vd__error (VD_EINVAL, 0, "restore: need a repository and a "
                     "destination");
  }
  if (o && o->struct_size < offsetof (struct vd_restore_options, disk)
                            + sizeof o->disk) {
    json_object_put (rdms);
    return vd__error (VD_EINVAL, 0, "restore: options struct_size too small");
  }
  int remote = strncmp (dest, "vsphere://", 10) == 0;
  struct stat st;
  if (!remote && lstat (dest, &st) == 0) {
    json_object_put (rdms);
    return vd__error (VD_EEXIST, 0, "%s: exists; restore makes a new VM "
                     "folder", dest);
  }
  lk = vd__bk_lock_repo (repo);
  if (lk < 0) {
    json_object_put (rdms);
    return lk;
  }
  pick = pick_point (repo, point, o ? o->at : NULL);
  if (!pick) {
    r = vd_last_error ()->code;
    goto out;
  }
  /* the point's own files must match before anything is built from them */
  r = vd__bk_verify_point (repo, pick, 0);
  if (r < 0)
    goto out;
  m = vd__bk_load_manifest (repo, pick);
  if (remote) {
    r = m ? vd__bk_restore_vsphere (repo, pick, m, dest, o, report)
          : vd_last_error ()->code;
    goto out;
  }
  pdir = vd__asprintf ("%s/%s", repo, pick);
  char *dparent = vd__dirname (dest), *dbase = vd__basename (dest);
  work = dparent && dbase ? vd__asprintf ("%s/.%s.vdisk-restore-%d", dparent,
                                          dbase, (int) getpid ()) : NULL;
  free (dparent);
  free (dbase);
  if (!m || !pdir || !work) {
    r = m ? VD_ENOMEM : vd_last_error ()->code;
    goto out;
  }
  vd__rm_rf (work);
  if (mkdir (work, 0755) < 0) {
    r = vd__error (VD_EIO, errno, "%s: mkdir", work);
    goto out;
  }
  json_object *disks = vd__bk_jarr (m, "disks"), *files = vd__bk_jarr (m, "files");
  for (size_t i = 0; r == 0 && disks && i < json_object_array_length (disks); i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    const char *kind = vd__bk_jstr (de, "kind"), *name = vd__bk_jstr (de, "name");
    const char *dev = vd__bk_jstr (de, "device");
    if (!kind || !name || !dev || !vd__bk_plain_name (name)) {
      r = vd__error (VD_ECORRUPT, 0, "%s: manifest disk entry %zu is "
                    "incomplete", pdir, i);
      break;
    }
    if (o && o->disk >= 0 && (size_t) o->disk != i)
      continue;
    char *to = vd__asprintf ("%s/%s", work, name);
    if (!to) {
      r = VD_ENOMEM;
      break;
    }
    if (strcmp (kind, "rdm") == 0) {
      r = restore_rdm (repo, pdir, de, to, o, rdms, &notes);
      free (to);
      continue;
    }
    r = restore_disk (repo, de, to, o);
    free (to);
  }
  /* The VM's files: the .vmx (RDM entries left out in phase one), and the
   * saved .nvram over the new VM's (the guide's NVRAM step). */
  for (size_t i = 0; r == 0 && files && i < json_object_array_length (files); i++) {
    const char *name = vd__bk_jstr (json_object_array_get_idx (files, i), "name");
    if (!name || strncmp (name, "files/", 6) != 0 || !vd__bk_plain_name (name + 6)) {
      r = vd__error (VD_ECORRUPT, 0, "%s: manifest file entry %zu", pdir, i);
      break;
    }
    char *from = vd__asprintf ("%s/%s", pdir, name);
    char *to = vd__asprintf ("%s/%s", work, name + 6);
    char hex[65];
    size_t n = strlen (name);
    if (!from || !to)
      r = VD_ENOMEM;
    else if (n > 4 && strcmp (name + n - 4, ".vmx") == 0
             && json_object_array_length (rdms) > 0)
      r = write_vmx_without (from, to, rdms);
    else
      r = vd__bk_copy_file (from, to, hex, NULL);
    free (from);
    free (to);
  }
  if (r == 0 && vd__fsync_dir (work) < 0)
    r = vd__error (VD_EIO, errno, "%s: sync", work);
  if (r == 0 && rename (work, dest) < 0)
    r = vd__error (VD_EIO, errno, "%s: rename into place", dest);
  if (r == 0) {
    char *dp = vd__dirname (dest);
    if (dp)
      vd__fsync_dir (dp);
    free (dp);
    if (report) {
      *report = vd__asprintf ("restored point %s into %s\n%s", pick, dest,
                              notes ? notes : "");
    }
  }
out:
  if (r < 0 && work)
    vd__rm_rf (work);
  if (lk >= 0)
    close (lk);
  json_object_put (m);
  json_object_put (rdms);
  free (notes);
  free (pick);
  free (pdir);
  free (work);
  return r;
}
