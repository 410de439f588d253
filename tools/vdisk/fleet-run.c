/* One shard of a fleet manifest: the disks vd_fleet_shard gives it, one
 * at a time (so --per-host holds), each skipped when DIR already holds a
 * finished result for it, each result written by vd_fleet_result_write
 * (a rename).  A copy of the manifest is kept as DIR/manifest.jsonl for
 * `vdisk report DIR`. */
#include "fleet-run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A plain decimal number of s[0..len) (len 0: to the NUL): digits only
 * (no sign, space or suffix, which strtoul would take or skip), at most
 * max.  0, or -1. */
static int
parse_count (const char *s, size_t len, unsigned long max, unsigned long *out)
{
  unsigned long v = 0;
  if (!s)
    return -1;
  if (len == 0)
    len = strlen (s);
  if (len == 0 || len > 9)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned long) (s[i] - '0');
  }
  if (v > max)
    return -1;
  *out = v;
  return 0;
}

int
fleet_parse_per_host (const char *s, unsigned *out)
{
  unsigned long v;
  if (parse_count (s, 0, 100000, &v) < 0 || v < 1)
    return -1;
  *out = (unsigned) v;
  return 0;
}

/* I/N or auto/N (I from JOB_COMPLETION_INDEX, then SLURM_ARRAY_TASK_ID):
 * I and N plain decimal numbers, N 1..100000, I 0..N-1; anything else
 * (a sign, a space, a suffix, a second slash) is a usage error that
 * quotes the spec. */
static int
parse_shard (const char *verb, const char *s, unsigned *index,
             unsigned *count)
{
  const char *slash = s ? strchr (s, '/') : NULL;
  unsigned long i, n;

  if (!s) {
    *index = 0;
    *count = 1;
    return 0;
  }
  if (!slash || slash == s) {
    usage_error (verb, "--shard \"%.40s\": not I/N or auto/N", s);
    return -1;
  }
  if (parse_count (slash + 1, 0, 100000, &n) < 0 || n < 1) {
    usage_error (verb, "--shard \"%.40s\": N must be a plain number "
                 "1..100000", s);
    return -1;
  }
  if ((size_t) (slash - s) == 4 && strncmp (s, "auto", 4) == 0) {
    const char *env = getenv ("JOB_COMPLETION_INDEX");
    const char *from = "JOB_COMPLETION_INDEX";
    if (!env || !*env) {
      env = getenv ("SLURM_ARRAY_TASK_ID");
      from = "SLURM_ARRAY_TASK_ID";
    }
    if (!env || !*env) {
      usage_error (verb, "--shard auto/N needs JOB_COMPLETION_INDEX "
                   "(Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)");
      return -1;
    }
    if (parse_count (env, 0, n - 1, &i) < 0) {
      usage_error (verb, "--shard auto/%lu: %s=\"%.40s\" is not a shard "
                   "index 0..%lu", n, from, env, n - 1);
      return -1;
    }
  }
  else if (parse_count (s, (size_t) (slash - s), n - 1, &i) < 0) {
    usage_error (verb, "--shard \"%.40s\": I must be a plain number "
                 "0..N-1 (0..%lu; shards count from 0)", s, n - 1);
    return -1;
  }
  *index = (unsigned) i;
  *count = (unsigned) n;
  return 0;
}

/* DIR/manifest.jsonl: a copy of the manifest the first run used. */
static int
keep_manifest (const char *manifest, const char *dir)
{
  char *dst = NULL, *tmp = NULL, buf[65536];
  int in = -1, out = -1, r = -1;
  ssize_t n;

  if (asprintf (&dst, "%s/manifest.jsonl", dir) < 0)
    return -1;
  if (access (dst, F_OK) == 0) {
    free (dst);
    return 0;
  }
  if (asprintf (&tmp, "%s/.manifest.jsonl.%ld.tmp", dir, (long) getpid ()) < 0)
    goto out;
  in = open (manifest, O_RDONLY | O_CLOEXEC);
  out = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (in < 0 || out < 0)
    goto out;
  while ((n = read (in, buf, sizeof buf)) > 0)
    if (write (out, buf, (size_t) n) != n)
      goto out;
  if (n < 0 || fsync (out) < 0)
    goto out;
  /* link, not rename: the first shard's copy wins, none is replaced */
  if (link (tmp, dst) < 0 && errno != EEXIST)
    goto out;
  r = 0;
out:
  if (r < 0)
    fprintf (stderr, "vdisk: %s: could not keep a copy of the manifest: %s\n",
             dir, strerror (errno));
  if (in >= 0)
    close (in);
  if (out >= 0)
    close (out);
  if (tmp)
    unlink (tmp);
  free (tmp);
  free (dst);
  return r;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
fleet_run (const char *verb, const struct fleet_opts *fo,
           const struct fleet_job *job)
{
  vd_fleet *fleet = NULL;
  size_t *members = NULL, nm = 0, skipped = 0, ran = 0;
  unsigned index, count;
  int failed = 0;
  char shard[48];

  if (!fo->out) {
    usage_error (verb, "--manifest needs --out DIR (the results)");
    return 2;
  }
  if (parse_shard (verb, fo->shard, &index, &count) < 0)
    return 2;
  snprintf (shard, sizeof shard, "%u/%u", index, count);
  if (vd_fleet_load (&fleet, fo->manifest) < 0) {
    fail ();
    return 2;
  }
  if (mkdir (fo->out, 0755) < 0 && errno != EEXIST) {
    fprintf (stderr, "vdisk %s: %s: %s\n", verb, fo->out, strerror (errno));
    vd_fleet_free (fleet);
    return 2;
  }
  if (keep_manifest (fo->manifest, fo->out) < 0
      || vd_fleet_shard (fleet, index, count, fo->per_host, &members,
                         &nm) < 0) {
    if (vd_last_error ()->code)
      fail ();
    vd_fleet_free (fleet);
    return 2;
  }
  fprintf (stderr, "vdisk %s: shard %s: %zu of %zu disks\n", verb, shard, nm,
           vd_fleet_count (fleet));
  for (size_t k = 0; k < nm; k++) {
    const struct vd_fleet_disk *d = vd_fleet_get (fleet, members[k]);
    struct vd_fleet_result res;
    int done = vd_fleet_result_done (fo->out, d->id);
    if (done == 1) {
      skipped++;
      printf ("%s %-8s %s (done before)\n", d->id, "skip", d->uri);
      continue;
    }
    memset (&res, 0, sizeof res);
    double t0 = now_s ();
    if (job->run (job->payload, fleet, members[k], &res) != 0) {
      job->clear (job->payload);
      continue;
    }
    res.id = d->id;
    res.uri = d->uri;
    res.host = d->host;
    res.job = job->name;
    res.shard = shard;
    res.seconds = now_s () - t0;
    if (!res.status)
      res.status = "failed";
    if (!strcmp (res.status, "failed"))
      failed = 1;
    if (vd_fleet_result_write (fo->out, &res) < 0) {
      fail ();
      failed = 1;
    }
    printf ("%s %-8s %s\n", d->id, res.status, d->uri);
    fflush (stdout);
    job->clear (job->payload);
    ran++;
  }
  fprintf (stderr, "vdisk %s: shard %s: %zu run, %zu done before\n", verb,
           shard, ran, skipped);
  free (members);
  vd_fleet_free (fleet);
  /* for the job engine: 0 when every disk of the shard has its result
   * (infections included: `vdisk report` says 1 for them), 2 when one
   * failed (a retry of the shard runs only those) */
  return failed ? 2 : 0;
}
