/* Optional libraries loaded on first use.  libnbd (with GnuTLS), libcurl
 * (with Kerberos, LDAP, SSH...), libxml2 (with ICU) and libclamav pull in
 * about forty shared objects; linked in, the dynamic loader maps and
 * relocates them all in every process (about 10 ms of a `vdisk info`'s
 * 14 ms).  Loaded with dlopen by the first call that needs them, a
 * command that never touches NBD, vSphere or ClamAV never pays.
 *
 * Each library's table of functions (lib/io/nbd-dl.c and the like) is
 * filled once (under its lock; an atomic state says when it is done) and
 * only read after that: like the
 * dynamic loader's own tables, it is process-wide but never changes once
 * seen, so it is not the mutable state the house rules forbid. */
#include "base/base.h"

#include <dlfcn.h>
#include <stdio.h>

/* Load soname and resolve the n names into fns (what: the feature, for
 * the message).  0, or VD_ENOTSUP naming the library and what to
 * install.  The handle is never closed (the functions stay valid). */
static int
dl_load (const char *soname, const char *package, const char *what,
         const char *const *names, size_t n, void **fns)
{
  void *h = dlopen (soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *m = dlerror ();
    return vd__error (VD_ENOTSUP, 0, "%s needs %s, which cannot be loaded "
                      "(%s): install %s", what, soname, m ? m : "not found",
                      package);
  }
  for (size_t i = 0; i < n; i++) {
    fns[i] = dlsym (h, names[i]);
    if (!fns[i])
      return vd__error (VD_ENOTSUP, 0, "%s: %s has no %s (too old): "
                        "install a newer %s", what, soname, names[i],
                        package);
  }
  return 0;
}

/* The library l, loaded once (what: the URI or feature asking, for the
 * message): 0, or its error, the same for every caller.  The table is
 * filled before state says so (release), and read after (acquire). */
int
vd__dl_need (struct vd__dl_lib *l, const char *what)
{
  int st = __atomic_load_n (&l->state, __ATOMIC_ACQUIRE);
  if (st == 0) {
    pthread_mutex_lock (&l->mu);
    st = l->state;
    if (st == 0) {
      /* (a half-filled table is never read: state says -1) */
      int r = dl_load (l->soname, l->package, l->feature, l->names, l->n,
                       l->fns);
      if (r < 0) {
        l->code = r;
        snprintf (l->msg, sizeof l->msg, "%s", vd_last_error ()->message);
      }
      st = r == 0 ? 1 : -1;
      __atomic_store_n (&l->state, st, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock (&l->mu);
  }
  if (st > 0)
    return 0;
  return vd__error (l->code, 0, "%s: %s", what, l->msg);
}
