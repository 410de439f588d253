/* Consistency check of a disk's metadata against its files. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
vd_check (const char *path, uint32_t open_flags,
          struct vd_check_result *res, vd_check_message_cb message,
          void *payload)
{
  struct vd_check_ctx ctx = { .res = res, .message = message,
                              .payload = payload, .file = path };
  vd_disk *d = NULL;
  int r;

  VD_ENTER ();
  if (!path || !res)
    return vd__error (VD_EINVAL, 0, "check: no path or result");
  memset (res, 0, sizeof *res);
  res->struct_size = sizeof *res;
  r = vd_disk_open (&d, path, open_flags | VD_OPEN_READ_ONLY);
  if (r == VD_ECORRUPT) {
    /* metadata so broken the disk cannot open: that is the finding */
    vd__check_report (&ctx, VD_CHECK_SEVERITY_CORRUPT, "%s",
                      vd_last_error ()->message);
    return 0;
  }
  if (r < 0)
    return r;
  for (unsigned li = 0; li < d->n_links; li++) {
    struct vd_link *l = d->links[li];
    for (size_t i = 0; i < l->n_extents; i++) {
      struct vd_extent *e = &l->extents[i];
      if (e->drv->check) {
        r = e->drv->check (e, &ctx, 0);
        if (r < 0)
          goto out;
      }
    }
  }
out:
  vd_disk_close (d);
  return r;
}
