/* Changed block tracking on vSphere: QueryChangedDiskAreas paged over the
 * whole disk.  Every answer is checked: it starts where asked, covers a
 * non-empty range inside the disk, and its areas are ascending, disjoint
 * and inside that range. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 1000000u

/* Two numbers of n, both required: 0, or an error naming what lacks. */
static int
two_u64 (struct vd_vsphere *s, xmlNodePtr n, const char *k1, const char *k2,
         uint64_t max, uint64_t *v1, uint64_t *v2, const char *what)
{
  int r;
  if ((r = vd__vs_u64 (n, k1, max, v1, k1)) != 0
      || (r = vd__vs_u64 (n, k2, max, v2, k2)) != 0)
    return r < 0 ? r : vd__error (VD_ECORRUPT, 0, "%s: %s without %s or %s",
                                 vd__vs_host (s), what, k1, k2);
  return 0;
}

struct page {
  struct vd_vsphere *s;
  uint64_t capacity, pos, prev_end;
  int64_t n;
  vd_vsphere_area_cb cb;
  void *payload;
};

/* One answer (returnval): its range must start at pg->pos; its areas
 * ascend inside it without overlap.  Returns the range's length (> 0) or
 * an error. */
static int64_t
one_page (struct page *pg, xmlNodePtr rv)
{
  uint64_t so = 0, len = 0, pos = pg->pos;
  int r = two_u64 (pg->s, rv, "startOffset", "length", pg->capacity, &so,
                   &len, "QueryChangedDiskAreas' answer");
  if (r < 0)
    return r;
  if (so != pos || len == 0 || len > pg->capacity - pos)
    return vd__error (VD_ECORRUPT, 0, "%s: QueryChangedDiskAreas asked "
                     "from %llu answered %llu+%llu (disk %llu bytes)",
                     vd__vs_host (pg->s), (unsigned long long) pos,
                     (unsigned long long) so, (unsigned long long) len,
                     (unsigned long long) pg->capacity);
  for (xmlNodePtr a = vd__vs_child (rv, "changedArea"); a;
       a = vd__vs_next (a, "changedArea")) {
    uint64_t as = 0, al = 0;
    r = two_u64 (pg->s, a, "start", "length", pg->capacity, &as, &al,
                 "a changed area");
    if (r < 0)
      return r;
    if (al == 0 || as < pos || as < pg->prev_end || al > pos + len - as)
      return vd__error (VD_ECORRUPT, 0, "%s: changed area %llu+%llu is "
                       "outside %llu+%llu or overlaps the one before",
                       vd__vs_host (pg->s), (unsigned long long) as,
                       (unsigned long long) al, (unsigned long long) pos,
                       (unsigned long long) len);
    pg->prev_end = as + al;
    pg->n++;
    r = pg->cb (as, al, pg->payload);
    if (r != 0)
      return r < 0 ? r : vd__error (VD_ECANCELED, 0, "changed areas: "
                                   "stopped");
  }
  return (int64_t) len;
}

VD_API int64_t
vd_vsphere_changed_areas (vd_vsphere *s, const char *vm_moref,
                          const char *snapshot, int32_t device_key,
                          uint64_t capacity, const char *change_id,
                          vd_vsphere_area_cb cb, void *payload)
{
  VD_ENTER ();
  struct page pg = { .s = s, .capacity = capacity, .cb = cb,
                     .payload = payload };
  char key[16], start[24];

  if (!s || !vm_moref || !*vm_moref || !change_id || !*change_id || !cb
      || device_key < 0 || capacity == 0 || capacity > VD_VS_MAX_CAPACITY)
    return vd__error (VD_EINVAL, 0, "changed areas: no session, VM, change "
                     "id, callback, device key or capacity");
  snprintf (key, sizeof key, "%d", (int) device_key);
  for (unsigned call = 0; pg.pos < capacity; call++) {
    xmlNodePtr m, ret;
    xmlDocPtr doc, req;
    int64_t len;
    int r;

    if (call >= MAX_CALLS)
      return vd__error (VD_ECORRUPT, 0, "%s: QueryChangedDiskAreas: more "
                       "than %u pages", vd__vs_host (s), MAX_CALLS);
    req = vd__vs_req ("QueryChangedDiskAreas", "VirtualMachine", vm_moref,
                      &m);
    if (!req)
      return vd__error (VD_ENOMEM, 0, "request");
    if (snapshot)
      vd__vs_add_ref (m, "snapshot", "VirtualMachineSnapshot", snapshot);
    vd__vs_add (m, "deviceKey", key);
    snprintf (start, sizeof start, "%llu", (unsigned long long) pg.pos);
    vd__vs_add (m, "startOffset", start);
    vd__vs_add (m, "changeId", change_id);
    r = vd__vs_call (s, req, &doc, &ret);
    if (r < 0)
      return r;
    len = one_page (&pg, vd__vs_child (ret, "returnval"));
    xmlFreeDoc (doc);
    if (len < 0)
      return len;
    pg.pos += (uint64_t) len;
  }
  return pg.n;
}

#endif /* VD_HAVE_VSPHERE */
