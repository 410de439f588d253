/* vdisk edit: replace a byte string by another of the same length at every
 * occurrence in the allocated data of a disk (across sector, grain and
 * extent boundaries), in place or into a new child disk. */
#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

static int
hexval (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* "56 6d 57" or "566d57" -> bytes; NULL on a bad string. */
static unsigned char *
parse_hex (const char *s, size_t *len)
{
  unsigned char *out = malloc (strlen (s) / 2 + 1);
  size_t n = 0;
  if (!out)
    return NULL;
  while (*s) {
    int hi, lo;
    if (*s == ' ' || *s == ':') {
      s++;
      continue;
    }
    hi = hexval (s[0]);
    lo = hi < 0 ? -1 : hexval (s[1]);
    if (lo < 0) {
      free (out);
      return NULL;
    }
    out[n++] = (unsigned char) (hi << 4 | lo);
    s += 2;
  }
  *len = n;
  return out;
}

struct listing {
  int dry_run;
  uint64_t n;
};

static int
found (uint64_t offset, void *payload)
{
  struct listing *l = payload;
  printf ("%s %llu (sector %llu)\n", l->dry_run ? "would replace at"
          : "replacing at", (unsigned long long) offset,
          (unsigned long long) (offset / 512));
  l->n++;
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "find", required_argument, NULL, 'f' },
    { "replace", required_argument, NULL, 'r' },
    { "hex", no_argument, NULL, 'x' },
    { "dry-run", no_argument, NULL, 'n' },
    { "into", required_argument, NULL, 'i' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (FORCE));
  const char *find = NULL, *repl = NULL, *into = NULL;
  struct listing l = { 0, 0 };
  struct open_opts oo = { 0 };
  unsigned char *fb = NULL, *rb = NULL;
  size_t fl = 0, rl = 0;
  int c, hex = 0, rc = 0;
  int64_t n;

  while ((c = next_option (argc, argv, "f:r:xn", opts, &oo)) != -1) {
    switch (c) {
    case 'f': find = optarg; break;
    case 'r': repl = optarg; break;
    case 'x': hex = 1; break;
    case 'n': l.dry_run = 1; break;
    case 'i': into = optarg; break;
    default: return usage_error ("edit", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("edit", "expected one DISK argument");
  if (!find || !repl)
    return usage_error ("edit", "--find and --replace are required");
  if (hex) {
    fb = parse_hex (find, &fl);
    rb = parse_hex (repl, &rl);
    if (!fb || !rb) {
      free (fb);
      free (rb);
      return usage_error ("edit", "--hex strings take pairs of hex digits");
    }
  }
  else {
    fb = (unsigned char *) strdup (find);
    rb = (unsigned char *) strdup (repl);
    fl = strlen (find);
    rl = strlen (repl);
    if (!fb || !rb) {
      free (fb);
      free (rb);
      return fail ();
    }
  }
  if (fl == 0 || fl != rl) {
    free (fb);
    free (rb);
    return usage_error ("edit", "the replacement must have the same length "
                        "as the string found (%zu and %zu bytes)", fl, rl);
  }
  n = vd_disk_replace (argv[optind], open_flags (&oo, 0), fb, rb, fl, into,
                       l.dry_run, found, &l);
  if (n < 0)
    rc = fail ();
  else if (l.dry_run)
    printf ("%lld occurrence%s (dry run: nothing changed)\n", (long long) n,
            n == 1 ? "" : "s");
  else
    printf ("%lld occurrence%s replaced%s%s\n", (long long) n,
            n == 1 ? "" : "s", into && n ? " into " : "",
            into && n ? into : "");
  free (fb);
  free (rb);
  return rc;
}

const struct command cmd_edit = {
  "edit", run,
  "DISK --find F --replace R [--hex] [--dry-run] [--into CHILD]",
  "Replace every occurrence of a byte string by another of the same length "
  "in the allocated data of DISK (in place, or into a new child disk).",
  "  -f, --find F          the string to find (not all zero bytes)\n"
  "  -r, --replace R       its replacement, of the same length\n"
  "  -x, --hex             F and R are hex (\"566d57617265\")\n"
  "  -n, --dry-run         list the offsets, change nothing\n"
  "      --into CHILD      write the changes into a new child disk\n"
  "      --force           write even if a child or .lck exists\n",
};
