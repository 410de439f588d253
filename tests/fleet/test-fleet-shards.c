/* vd_fleet_shard: every disk in exactly one shard, the same split on every
 * call, loads within the largest disk of each other (largest first into
 * the lightest shard), --per-host K keeps each host on at most K shards;
 * manifests that are not what they claim are refused with the line;
 * results are written whole and read back by the report. */
#include "tap.h"

#include <vdisk/vdisk.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/vdisk-test-fleet.XXXXXX";

static int
write_manifest (const char *path, unsigned n, unsigned hosts, uint64_t seed)
{
  FILE *f = fopen (path, "w");
  if (!f)
    return -1;
  fprintf (f, "# a comment line\n\n");
  for (unsigned i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t alloc = (seed >> 33) % (1u << 30);
    if (i % 17 == 0)
      alloc = 0;                      /* empty disks weigh one byte */
    fprintf (f, "{\"id\":\"d%04u\",\"uri\":\"nbd://h%u/d%u\",\"host\":\"h%u\","
             "\"capacity\":%llu,\"allocated\":%llu,\"depth\":1}\n", i,
             i % hosts, i, i % hosts, (unsigned long long) (alloc + 1),
             (unsigned long long) alloc);
  }
  return fclose (f);
}

static const char *
write_text (const char *name, const char *text)
{
  static char path[256];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen (path, "w");
  fputs (text, f);
  fclose (f);
  return path;
}

int
main (void)
{
  char path[256];
  vd_fleet *f;

  if (!mkdtemp (dir))
    return 1;
  snprintf (path, sizeof path, "%s/m.jsonl", dir);
  ok (write_manifest (path, 500, 7, 42) == 0, "a manifest of 500 disks");
  ok (vd_fleet_load (&f, path) == 0, "loads");
  is_u64 (vd_fleet_count (f), 500, "500 disks (comments and blank lines skipped)");

  unsigned counts[] = { 1, 3, 7, 16, 64 };
  for (unsigned c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    unsigned N = counts[c];
    unsigned char *seen = calloc (500, 1);
    uint64_t lo = UINT64_MAX, hi = 0, biggest = 0;
    int same = 1, order = 1;
    for (unsigned i = 0; i < N; i++) {
      size_t *m, n, *m2, n2;
      uint64_t load = 0;
      if (vd_fleet_shard (f, i, N, 0, &m, &n) < 0
          || vd_fleet_shard (f, i, N, 0, &m2, &n2) < 0)
        return 1;
      same &= n == n2 && memcmp (m, m2, n * sizeof *m) == 0;
      for (size_t k = 0; k < n; k++) {
        const struct vd_fleet_disk *d = vd_fleet_get (f, m[k]);
        seen[m[k]]++;
        load += d->allocated ? d->allocated : 1;
        if (d->allocated > biggest)
          biggest = d->allocated;
        if (k && vd_fleet_get (f, m[k - 1])->allocated < d->allocated)
          order = 0;
      }
      if (load < lo)
        lo = load;
      if (load > hi)
        hi = load;
      free (m);
      free (m2);
    }
    int once = 1;
    for (unsigned k = 0; k < 500; k++)
      once &= seen[k] == 1;
    ok (once, "N=%u: every disk in exactly one shard", N);
    ok (same, "N=%u: the same split on every call", N);
    ok (order, "N=%u: each shard runs its disks largest first", N);
    ok (hi - lo <= biggest, "N=%u: shard loads within the largest disk "
        "(%llu..%llu, largest %llu)", N, (unsigned long long) lo,
        (unsigned long long) hi, (unsigned long long) biggest);
    free (seen);
  }
  for (unsigned K = 1; K <= 3; K++) {
    unsigned N = 10;
    unsigned char used[7][10];
    unsigned char *seen = calloc (500, 1);
    memset (used, 0, sizeof used);
    for (unsigned i = 0; i < N; i++) {
      size_t *m, n;
      if (vd_fleet_shard (f, i, N, K, &m, &n) < 0)
        return 1;
      for (size_t k = 0; k < n; k++) {
        seen[m[k]]++;
        used[atoi (vd_fleet_get (f, m[k])->host + 1)][i] = 1;
      }
      free (m);
    }
    int cap = 1, once = 1;
    for (unsigned h = 0; h < 7; h++) {
      unsigned s = 0;
      for (unsigned i = 0; i < N; i++)
        s += used[h][i];
      cap &= s >= 1 && s <= K;
    }
    for (unsigned k = 0; k < 500; k++)
      once &= seen[k] == 1;
    ok (cap, "per_host=%u: each host's disks on 1..%u shards", K, K);
    ok (once, "per_host=%u: every disk in exactly one shard", K);
    free (seen);
  }
  size_t *m, n;
  ok (vd_fleet_shard (f, 7, 7, 0, &m, &n) == VD_EINVAL, "shard 7/7 refused");
  ok (vd_fleet_shard (f, 0, 0, 0, &m, &n) == VD_EINVAL, "0 shards refused");

  /* results */
  struct vd_fleet_hit hit = { "Sig.X", 1000, 68, 1, 2 };
  struct vd_fleet_result r = { 0 };
  r.id = "d0001";
  r.uri = "nbd://h1/d1";
  r.status = "infected";
  r.job = "scan";
  r.hits = &hit;
  r.n_hits = 1;
  r.bytes_read = 4096;
  ok (vd_fleet_result_write (dir, &r) == 0, "a result is written");
  ok (vd_fleet_result_done (dir, "d0001") == 1, "... and counts as done");
  ok (vd_fleet_result_done (dir, "d0002") == 0, "a disk without one is not done");
  r.id = "d0002";
  r.status = "failed";
  r.n_hits = 0;
  r.error = "could not open";
  ok (vd_fleet_result_write (dir, &r) == 0, "a failed result is written");
  ok (vd_fleet_result_done (dir, "d0002") == 0, "... and is not done (retried)");
  r.id = "../evil";
  ok (vd_fleet_result_write (dir, &r) == VD_EINVAL, "an ID with '/' is refused");
  write_text ("d0003.json", "{\"status\": \"clean\", \"hits\": [");
  struct vd_fleet_totals t;
  char *json = NULL;
  ok (vd_fleet_report (dir, f, NULL, NULL, &t, &json) == 0, "report");
  is_u64 (t.disks, 500, "report: every manifest disk");
  is_u64 (t.infected, 1, "report: one infected");
  is_u64 (t.failed, 2, "report: the failed one and the torn document");
  is_u64 (t.missing, 497, "report: the others not done");
  is_u64 (t.hits, 1, "report: one hit");
  ok (json && strstr (json, "\"Sig.X\"") && strstr (json, "\"not_done\""),
      "report: the JSON has the hit and the list of disks not done");
  free (json);
  vd_fleet_free (f);

  /* bad manifests */
  const char *bad[][2] = {
    { "{\"id\":\"a\",\"uri\":\"x\"}\n{\"id\":\"a\",\"uri\":\"y\"}\n", "line 2" },
    { "{\"uri\":\"x\"}\n", "line 1" },
    { "{\"id\":\"a/b\",\"uri\":\"x\"}\n", "line 1" },
    { "{\"id\":\"a\",\"uri\":\"x\",\"allocated\":-5}\n", "line 1" },
    { "[1,2]\n", "line 1" },
    { "{\"id\":\"a\",\"uri\":\"x\"}\n{broken\n", "line 2" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *p = write_text ("bad.jsonl", bad[i][0]);
    int rc = vd_fleet_load (&f, p);
    ok (rc == VD_ECORRUPT && strstr (vd_last_error ()->message, bad[i][1]),
        "bad manifest %zu refused naming %s", i, bad[i][1]);
  }
  char cmd[300];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    return 1;
  return done_testing ();
}
