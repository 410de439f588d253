/* Helpers the management operations share: names, descriptor copies,
 * the atomic descriptor replacement, the alias refusal, and opening a
 * disk read-only under the writer's lock on every file of it. */
#include "internal.h"
#include "manage/manage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers --------------------------------------------------------- */

/* NAME.vmdk -> NAME (malloc'd) */
char *
vd__stem_of (const char *base)
{
  char *s = vd__strdup (base);
  size_t n = s ? strlen (s) : 0;
  if (s && n > 5 && strcasecmp (s + n - 5, ".vmdk") == 0)
    s[n - 5] = '\0';
  return s;
}

/* A copy of a descriptor (parse of its text). */
int
vd__desc_copy (struct vd_descriptor **out, const struct vd_descriptor *d,
           const char *where)
{
  size_t len;
  char *text = vd__desc_emit (d, &len);
  int r;
  if (!text)
    return VD_ENOMEM;
  r = vd__desc_parse (out, text, len, where);
  free (text);
  return r;
}

int
vd__set_extent_file (struct vd_desc_line *ln, const char *name)
{
  char *n = vd__strdup (name);
  if (!n)
    return VD_ENOMEM;
  if (!vd__desc_value_ok (name)) {
    free (n);
    return vd__error (VD_EINVAL, 0, "extent name \"%s\" holds a quote or a "
                     "line break", name);
  }
  free (ln->ext.file);
  ln->ext.file = n;
  ln->modified = 1;
  return 0;
}

int
vd__set_geometry (struct vd_descriptor *d, uint64_t capacity,
              enum vd_adapter adapter)
{
  struct vd_geometry g;
  char b[16];
  int r;
  vd_geometry_compute (&g, capacity, adapter);
  snprintf (b, sizeof b, "%u", g.cylinders);
  r = vd__desc_set_ddb (d, "ddb.geometry.cylinders", b);
  snprintf (b, sizeof b, "%u", g.heads);
  if (r == 0)
    r = vd__desc_set_ddb (d, "ddb.geometry.heads", b);
  snprintf (b, sizeof b, "%u", g.sectors);
  if (r == 0)
    r = vd__desc_set_ddb (d, "ddb.geometry.sectors", b);
  return r;
}

/* Open the disk read-only with the writer's lock on its files. */
int
vd__open_guarded (vd_disk **out, struct vd_guard **gp, const char *path,
              uint32_t flags)
{
  int r;
  *out = NULL;
  *gp = calloc (1, sizeof **gp);
  if (!*gp)
    return vd__error (VD_ENOMEM, errno, "lock");
  r = vd_disk_open (out, path, VD_OPEN_READ_ONLY | (flags & VD_OPEN_TRUSTED));
  if (r == 0 && (*out)->top->raw)
    r = vd__error (VD_ENOTSUP, 0, "%s: a raw image", path);
  if (r == 0)
    r = vd__guard_link (*gp, (*out)->top, (flags & VD_OPEN_TRUSTED) != 0);
  /* the rewritten files replace those another disk may use too */
  if (r == 0)
    r = vd__refuse_shared ((*out)->top, 0, "rewriting it", NULL);
  if (r == 0) {
    /* what an earlier, killed shrink, defragment or grow left behind */
    char *base = vd__basename ((*out)->top->path);
    if (base)
      vd__workdir_clean_stale ((*out)->top->dir, base);
    free (base);
  }
  if (r < 0) {
    vd_disk_close (*out);
    *out = NULL;
    free (*gp);
    *gp = NULL;
  }
  return r;
}

void
vd__close_guarded (vd_disk *d, struct vd_guard *g)
{
  if (g)
    vd__guard_release (g);
  free (g);
  vd_disk_close (d);
}
