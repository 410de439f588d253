/* Shared by the vdisk commands (tools/vdisk/cmd-*.c).  The CLI uses only
 * the public API, <vdisk/vdisk.h>. */
#ifndef VDISK_TOOL_H
#define VDISK_TOOL_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <vdisk/vdisk.h>

struct command {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *usage;     /* one line: arguments */
  const char *summary;
  const char *help;      /* options, one per line */
};

extern const struct command *const commands[];

/* Print "vdisk: CONTEXT: MESSAGE" from vd_last_error(); returns 1. */
int fail (void);
/* Print "vdisk VERB: message" and usage hint; returns 1. */
int usage_error (const char *verb, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Handle -h/--help for a command (prints, returns 1 if handled). */
int print_help (const struct command *c, FILE *f);
const struct command *find_command (const char *name);

/* "1G", "512M", "4096", "10T": bytes; -1 on error. */
int parse_size (const char *s, uint64_t *out);
/* The options that set open flags, shared by the commands that open a
 * disk: --single-link, --ignore-cid, --trusted, --raw and --force (long
 * options only; a command's "-f" stays its own).  A command builds its
 * getopt table with with_open_options (its own options, the OO () bits of
 * the ones it takes) and reads its options with next_option. */
enum { OO_SINGLE_LINK, OO_IGNORE_CID, OO_TRUSTED, OO_RAW, OO_FORCE, OO_COUNT };
#define OO(name) (1u << OO_##name)
#define OPT_OPEN 0x400          /* getopt's code for OO_x: OPT_OPEN + OO_x */
struct open_opts {
  int single_link, ignore_cid, trusted, raw, force;
};
/* own (ending in { 0 }) and the open options in which, in one table (a
 * static buffer: valid until the next call). */
const struct option *with_open_options (const struct option *own,
                                        unsigned which);
/* getopt_long (argc, argv, optstring, opts, NULL), except that the open
 * options are recorded in *o and not returned. */
int next_option (int argc, char **argv, const char *optstring,
                 const struct option *opts, struct open_opts *o);
/* Open flags from the open options. */
uint32_t open_flags (const struct open_opts *o, int read_only);

/* JSON output helpers: a string with escaping. */
void json_str (FILE *f, const char *s);

/* Progress on stderr when it is a terminal (or forced). */
struct progress {
  int enabled;
  int fd;            /* --progress=FD: "N/100" lines */
  int last;
};
void progress_init (struct progress *p, int requested, int fd);
int progress_cb (uint64_t done, uint64_t total, void *payload);
void progress_done (struct progress *p);

/* info/check: report the leftover work folders beside disk (cmd-clean.c):
 * json: a ",\n  \"leftovers\": [...]" member on stdout; else notes on stderr. */
void report_leftovers (const char *disk, int json);

/* vsphere ls: the server's first class disks (cmd-vsphere-fcd.c): json: a
 * ",\n \"fcds\": [...]" member on stdout (null, with a note on stderr,
 * when they cannot be listed); else "fcd ..." lines. */
void vsphere_print_fcds (vd_vsphere *s, int json);

#define OPT_HELP { "help", no_argument, NULL, 'h' }

#endif
