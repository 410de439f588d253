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
    return r < 0 ? r : vd_error (VD_ECORRUPT, 0, "%s: %s without %s or %s",
                                 vd__vs_host (s), what, k1, k2);
  return 0;
}

VD_API int64_t
vd_vsphere_changed_areas (vd_vsphere *s, const char *vm_moref,
                          const char *snapshot, int32_t device_key,
                          uint64_t capacity, const char *change_id,
                          vd_vsphere_area_cb cb, void *payload)
{
  VD_ENTER ();
  uint64_t pos = 0, prev_end = 0;
  int64_t n = 0;
  char key[16], start[24];

  if (!s || !vm_moref || !*vm_moref || !change_id || !*change_id || !cb
      || device_key < 0 || capacity == 0 || capacity > VD_VS_MAX_CAPACITY)
    return vd_error (VD_EINVAL, 0, "changed areas: no session, VM, change "
                     "id, callback, device key or capacity");
  snprintf (key, sizeof key, "%d", (int) device_key);
  for (unsigned call = 0; pos < capacity; call++) {
    xmlNodePtr m, ret, rv;
    xmlDocPtr doc, req;
    uint64_t so = 0, len = 0;
    int r;

    if (call >= MAX_CALLS)
      return vd_error (VD_ECORRUPT, 0, "%s: QueryChangedDiskAreas: more "
                       "than %u pages", vd__vs_host (s), MAX_CALLS);
    req = vd__vs_req ("QueryChangedDiskAreas", "VirtualMachine", vm_moref,
                      &m);
    if (!req)
      return vd_error (VD_ENOMEM, 0, "request");
    if (snapshot)
      vd__vs_add_ref (m, "snapshot", "VirtualMachineSnapshot", snapshot);
    vd__vs_add (m, "deviceKey", key);
    snprintf (start, sizeof start, "%llu", (unsigned long long) pos);
    vd__vs_add (m, "startOffset", start);
    vd__vs_add (m, "changeId", change_id);
    r = vd__vs_call (s, req, &doc, &ret);
    if (r < 0)
      return r;
    rv = vd__vs_child (ret, "returnval");
    r = two_u64 (s, rv, "startOffset", "length", capacity, &so, &len,
                 "QueryChangedDiskAreas' answer");
    if (r < 0) {
      xmlFreeDoc (doc);
      return r;
    }
    if (so != pos || len == 0 || len > capacity - pos) {
      xmlFreeDoc (doc);
      return vd_error (VD_ECORRUPT, 0, "%s: QueryChangedDiskAreas asked "
                       "from %llu answered %llu+%llu (disk %llu bytes)",
                       vd__vs_host (s), (unsigned long long) pos,
                       (unsigned long long) so, (unsigned long long) len,
                       (unsigned long long) capacity);
    }
    for (xmlNodePtr a = vd__vs_child (rv, "changedArea"); a;
         a = vd__vs_next (a, "changedArea")) {
      uint64_t as = 0, al = 0;
      r = two_u64 (s, a, "start", "length", capacity, &as, &al,
                   "a changed area");
      if (r < 0) {
        xmlFreeDoc (doc);
        return r;
      }
      if (al == 0 || as < pos || as < prev_end || al > pos + len - as) {
        xmlFreeDoc (doc);
        return vd_error (VD_ECORRUPT, 0, "%s: changed area %llu+%llu is "
                         "outside %llu+%llu or overlaps the one before",
                         vd__vs_host (s), (unsigned long long) as,
                         (unsigned long long) al, (unsigned long long) pos,
                         (unsigned long long) len);
      }
      prev_end = as + al;
      n++;
      r = cb (as, al, payload);
      if (r != 0) {
        xmlFreeDoc (doc);
        return r < 0 ? r : vd_error (VD_ECANCELED, 0, "changed areas: "
                                     "stopped");
      }
    }
    xmlFreeDoc (doc);
    pos += len;
  }
  return n;
}

#endif /* VD_HAVE_VSPHERE */
