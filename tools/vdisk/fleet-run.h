/* Running one shard of a fleet manifest (vdisk scan|backup --manifest):
 * tools/vdisk/fleet-run.c.  Public API only. */
#ifndef VDISK_FLEET_RUN_H
#define VDISK_FLEET_RUN_H

#include "vdisk-tool.h"

struct fleet_opts {
  const char *manifest;  /* --manifest M (NULL: not a fleet run) */
  const char *shard;     /* --shard I/N | auto/N (NULL: 0/1) */
  const char *out;       /* --out DIR */
  unsigned per_host;     /* --per-host K (0: no limit) */
};

/* The job for one disk: fill res->status ("clean", "infected", "done",
 * "failed"), error, detail, hits, bytes_read.  What it points to must
 * live until clear is called.  Returns 0 (the result is written) or
 * non-zero to write nothing (another disk's result covers it). */
struct fleet_job {
  const char *name;      /* "scan", "backup" */
  int (*run) (void *payload, const vd_fleet *fleet, size_t i,
              struct vd_fleet_result *res);
  void (*clear) (void *payload);
  void *payload;
};

/* Parse a --per-host value; -1 when bad. */
int fleet_parse_per_host (const char *s, unsigned *out);
/* Run the shard; returns the exit status: 0 when every disk of the shard
 * has a result (clean or infected: the report tells), 2 when one failed
 * or the run could not start (a job engine retries the shard). */
int fleet_run (const char *verb, const struct fleet_opts *fo,
               const struct fleet_job *job);

#endif
