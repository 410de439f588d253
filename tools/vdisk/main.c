/* vdisk: the command-line tool. */
#include "vdisk-tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct command *current;   /* the command being run */

/* 1 when c's help lists the option --NAME (n bytes of name). */
static int
has_option (const struct command *c, const char *name, size_t n)
{
  for (const char *p = c && c->help ? c->help : ""; (p = strstr (p, "--"));
       p += 2)
    if (strncmp (p + 2, name, n) == 0
        && !(p[2 + n] == '-' || (p[2 + n] >= 'a' && p[2 + n] <= 'z')))
      return 1;
  return 0;
}

/* The library names its open flags in hints as "the NAME option" (the
 * trusted, force, ignore-cid, raw option).  Print them as this command's
 * --NAME, or as another command's 'vdisk CMD --NAME' when this command has
 * no such option, so that no hint names an option the command lacks. */
static void
print_hint_text (FILE *f, const char *msg)
{
  const char *p = msg, *q;
  while ((q = strstr (p, "the ")) != NULL) {
    const char *name = q + 4;
    size_t n = strspn (name, "abcdefghijklmnopqrstuvwxyz-");
    const struct command *other = NULL;
    if (n == 0 || strncmp (name + n, " option", 7) != 0) {
      fwrite (p, 1, (size_t) (name - p), f);
      p = name;
      continue;
    }
    fwrite (p, 1, (size_t) (q - p), f);
    if (has_option (current, name, n))
      fprintf (f, "--%.*s", (int) n, name);
    else {
      for (size_t i = 0; commands[i] && !other; i++)
        if (has_option (commands[i], name, n))
          other = commands[i];
      if (other)
        fprintf (f, "'vdisk %s --%.*s'", other->name, (int) n, name);
      else
        fwrite (q, 1, (size_t) (name + n + 7 - q), f);
    }
    p = name + n + 7;
  }
  fputs (p, f);
}

int
fail (void)
{
  const struct vd_error *e = vd_last_error ();
  fputs ("vdisk: ", stderr);
  print_hint_text (stderr, e->message[0] ? e->message
                                         : vd_strerror (e->code));
  fputc ('\n', stderr);
  return 1;
}

int
usage_error (const char *verb, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "vdisk %s: ", verb);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry 'vdisk %s --help'.\n", verb);
  return 1;
}

int
print_help (const struct command *c, FILE *f)
{
  fprintf (f, "Usage: vdisk %s %s\n\n%s\n", c->name, c->usage, c->summary);
  if (c->help && *c->help)
    fprintf (f, "\nOptions:\n%s", c->help);
  fprintf (f, "  -h, --help            show this help\n");
  return 0;
}

int
parse_size (const char *s, uint64_t *out)
{
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-')
    return -1;
  unsigned long long v = strtoull (s, &end, 10);
  if (errno || end == s)
    return -1;
  uint64_t mult = 1;
  if (*end) {
    switch (*end) {
    case 'b': case 'B': mult = 1; break;
    case 'k': case 'K': mult = 1ull << 10; break;
    case 'm': case 'M': mult = 1ull << 20; break;
    case 'g': case 'G': mult = 1ull << 30; break;
    case 't': case 'T': mult = 1ull << 40; break;
    case 's': case 'S': mult = 512; break;   /* sectors */
    default: return -1;
    }
    end++;
    if (*end == 'i' || *end == 'I')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
    if (*end)
      return -1;
  }
  if (v > UINT64_MAX / mult)
    return -1;
  *out = v * mult;
  return 0;
}

/* The one table of the open options (see vdisk-tool.h). */
static const struct option open_options[OO_COUNT] = {
  [OO_SINGLE_LINK] = { "single-link", no_argument, NULL,
                       OPT_OPEN + OO_SINGLE_LINK },
  [OO_IGNORE_CID] = { "ignore-cid", no_argument, NULL,
                      OPT_OPEN + OO_IGNORE_CID },
  [OO_TRUSTED] = { "trusted", no_argument, NULL, OPT_OPEN + OO_TRUSTED },
  [OO_RAW] = { "raw", no_argument, NULL, OPT_OPEN + OO_RAW },
  [OO_FORCE] = { "force", no_argument, NULL, OPT_OPEN + OO_FORCE },
};

const struct option *
with_open_options (const struct option *own, unsigned which)
{
  static struct option table[64];
  size_t n = 0;

  for (; own->name; own++) {
    if (n + OO_COUNT + 1 >= sizeof table / sizeof table[0])
      abort ();                 /* a command with too many options */
    table[n++] = *own;
  }
  for (unsigned i = 0; i < OO_COUNT; i++)
    if (which & (1u << i))
      table[n++] = open_options[i];
  memset (&table[n], 0, sizeof table[n]);
  return table;
}

int
next_option (int argc, char **argv, const char *optstring,
             const struct option *opts, struct open_opts *o)
{
  for (;;) {
    int c = getopt_long (argc, argv, optstring, opts, NULL);
    switch (c) {
    case OPT_OPEN + OO_SINGLE_LINK: o->single_link = 1; break;
    case OPT_OPEN + OO_IGNORE_CID: o->ignore_cid = 1; break;
    case OPT_OPEN + OO_TRUSTED: o->trusted = 1; break;
    case OPT_OPEN + OO_RAW: o->raw = 1; break;
    case OPT_OPEN + OO_FORCE: o->force = 1; break;
    default: return c;
    }
  }
}

uint32_t
open_flags (const struct open_opts *o, int read_only)
{
  uint32_t f = read_only ? VD_OPEN_READ_ONLY : 0;
  if (o->single_link) f |= VD_OPEN_SINGLE_LINK;
  if (o->ignore_cid) f |= VD_OPEN_IGNORE_CID;
  if (o->trusted) f |= VD_OPEN_TRUSTED;
  if (o->raw) f |= VD_OPEN_RAW;
  if (o->force) f |= VD_OPEN_FORCE;
  return f;
}

void
json_str (FILE *f, const char *s)
{
  if (!s) {
    fputs ("null", f);
    return;
  }
  fputc ('"', f);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf (f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf (f, "\\u%04x", *p);
    else
      fputc (*p, f);
  }
  fputc ('"', f);
}

void
progress_init (struct progress *p, int requested, int fd)
{
  p->fd = fd;
  p->last = -1;
  /* Long work shows progress whenever stderr is a terminal; -p=FD
   * writes "N/100" lines to FD instead (nbdcopy's format). */
  (void) requested;
  p->enabled = fd >= 0 || isatty (2);
}

int
progress_cb (uint64_t done, uint64_t total, void *payload)
{
  struct progress *p = payload;
  int pct;
  if (!p->enabled || total == 0)
    return 0;
  pct = (int) (done * 100 / total);
  if (pct == p->last)
    return 0;
  p->last = pct;
  if (p->fd >= 0)
    dprintf (p->fd, "%d/100\n", pct);
  else
    fprintf (stderr, "\r    (%3d/100%%)", pct);
  return 0;
}

void
progress_done (struct progress *p)
{
  if (p->enabled && p->fd < 0)
    fprintf (stderr, "\r    (100/100%%)\n");
}

const struct command *
find_command (const char *name)
{
  for (size_t i = 0; commands[i]; i++)
    if (strcmp (commands[i]->name, name) == 0)
      return commands[i];
  return NULL;
}

static void
usage (FILE *f)
{
  fprintf (f, "Usage: vdisk COMMAND [OPTIONS] ARGS...\n\n"
              "Read, write, create and convert VMware VMDK disks.\n\n"
              "Commands:\n");
  /* one line each: the summary's first sentence */
  for (size_t i = 0; commands[i]; i++) {
    const char *s = commands[i]->summary;
    size_t n = strcspn (s, "\n");
    const char *dot = strstr (s, ". ");
    if (dot && (size_t) (dot - s) + 1 < n)
      n = (size_t) (dot - s) + 1;
    fprintf (f, "  %-12s %.*s\n", commands[i]->name, (int) n, s);
  }
  fprintf (f, "\n'vdisk COMMAND --help' shows a command's options.\n"
              "  -V, --version  show the version\n"
              "Exit status: 0 success, 1 error (check: 2 corruption, "
              "3 leaks only).\n");
}

int
main (int argc, char **argv)
{
  const struct command *c;
  if (argc < 2) {
    usage (stderr);
    return 1;
  }
  if (!strcmp (argv[1], "-h") || !strcmp (argv[1], "--help")
      || !strcmp (argv[1], "help")) {
    if (argc > 2 && (c = find_command (argv[2])))
      return print_help (c, stdout);
    usage (stdout);
    return 0;
  }
  if (!strcmp (argv[1], "-V") || !strcmp (argv[1], "--version")) {
    printf ("vdisk %s\nlibvdisk %s\n", VD_VERSION_STRING, vd_get_version ());
    return 0;
  }
  c = find_command (argv[1]);
  if (!c) {
    fprintf (stderr, "vdisk: unknown command '%s'\n", argv[1]);
    usage (stderr);
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp (argv[i], "--"))
      break;
    if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help"))
      return print_help (c, stdout);
  }
  optind = 1;
  current = c;
  return c->run (argc - 1, argv + 1);
}
