/* Descriptor parse/emit: round trips keep unknown lines, edits are
 * minimal, hostile lines are refused. */
#include "internal.h"
#include "tap.h"

#include <stdlib.h>

static const char sample[] =
  "# Disk DescriptorFile\n"
  "version=1\n"
  "encoding=\"UTF-8\"\n"
  "CID=fffffffe\n"
  "parentCID=ffffffff\n"
  "isNativeSnapshot=\"no\"\n"
  "createType=\"twoGbMaxExtentSparse\"\n"
  "someVendorKey=\"kept as is\"\n"
  "\n"
  "# Extent description\n"
  "RW 4192256 SPARSE \"disk-s001.vmdk\"\n"
  "RDONLY 8192 FLAT \"disk-flat.vmdk\" 2048\n"
  "NOACCESS 100 ZERO\n"
  "\n"
  "# The Disk Data Base \n"
  "#DDB\n"
  "\n"
  "ddb.virtualHWVersion = \"4\"\n"
  "ddb.geometry.cylinders = \"16383\"\n"
  "ddb.adapterType = \"ide\"\n";

static int
parse (const char *text, struct vd_descriptor **d)
{
  return vd__desc_parse (d, text, strlen (text), "test.vmdk");
}

static void
expect_reject (const char *text, const char *words, const char *what)
{
  struct vd_descriptor *d = NULL;
  vd__error_reset ("test");
  int r = parse (text, &d);
  ok (r == VD_ECORRUPT, "rejects %s", what);
  const char *m = vd_last_error ()->message;
  ok (strstr (m, words) != NULL, "message for %s names \"%s\" (%s)", what,
      words, m);
  vd__desc_free (d);
}

int
main (void)
{
  struct vd_descriptor *d = NULL;
  char *out;
  size_t len;

  ok (parse (sample, &d) == 0, "parses a descriptor with every extent kind");
  is_u64 (d->n_extents, 3, "three extents");
  const struct vd_desc_extent *e = vd__desc_extent (d, 1);
  is_str (e->type, "FLAT", "second extent is FLAT");
  is_u64 (e->offset, 2048, "FLAT offset kept");
  ok (e->access == VD_ACCESS_RDONLY, "RDONLY access");
  ok (vd__desc_extent (d, 2)->file == NULL, "ZERO extent has no file");
  is_str (vd__desc_get (d, "cid"), "fffffffe", "keys are case-insensitive");
  is_str (vd__desc_get_ddb (d, "ddb.adapterType"), "ide", "ddb value");
  out = vd__desc_emit (d, &len);
  is_str (out, sample, "unmodified round trip is byte-identical");
  free (out);

  ok (vd__desc_set (d, "CID", "12345678", 0) == 0, "set CID");
  ok (vd__desc_set_ddb (d, "ddb.uuid", "00 11") == 0, "add a ddb key");
  ok (vd__desc_set_ddb (d, "ddb.adapterType", "lsilogic") == 0, "change one");
  out = vd__desc_emit (d, &len);
  ok (strstr (out, "CID=12345678\n") != NULL, "new CID emitted");
  ok (strstr (out, "someVendorKey=\"kept as is\"\n") != NULL,
      "unknown header line kept");
  ok (strstr (out, "# The Disk Data Base \n") != NULL, "comment kept");
  ok (strstr (out, "ddb.adapterType = \"lsilogic\"\n") != NULL, "edited");
  ok (strstr (out, "ddb.uuid = \"00 11\"\n") != NULL, "added at the end");
  ok (strstr (out, "ddb.virtualHWVersion = \"4\"\nddb.geometry") != NULL,
      "order kept");
  vd__desc_free (d);
  d = NULL;
  ok (parse (out, &d) == 0, "emitted text parses again");
  is_str (vd__desc_get_ddb (d, "ddb.uuid"), "00 11", "and keeps the edit");
  ok (vd__desc_set_ddb (d, "ddb.uuid", NULL) == 0
      && vd__desc_get_ddb (d, "ddb.uuid") == NULL, "remove a ddb key");
  ok (vd__desc_set_ddb (d, "ddb.x", "a\"b") == VD_EINVAL,
      "a quote cannot be injected into a value");
  ok (vd__desc_set_ddb (d, "ddb.x", "a\nRW 1 FLAT \"x\" 0") == VD_EINVAL,
      "a line break cannot inject an extent");
  vd__desc_free (d);
  free (out);

  /* CRLF and NUL padding as QEMU leaves them */
  {
    const char crlf[] = "version=1\r\nCID=1a2b\r\ncreateType=\"monolithicFlat\""
                        "\r\nRW 10 FLAT \"f.vmdk\" 0\r\n\0\0\0garbage";
    d = NULL;
    ok (vd__desc_parse (&d, crlf, sizeof crlf, "t") == 0,
        "CRLF line ends and NUL padding accepted");
    is_str (vd__desc_get (d, "CID"), "1a2b", "short CID accepted");
    vd__desc_free (d);
  }

  expect_reject ("version=9\ncreateType=\"monolithicFlat\"\nRW 1 FLAT \"a\" 0\n",
                 "version", "version 9");
  expect_reject ("version=1\ncreateType=\"weird\"\nRW 1 FLAT \"a\" 0\n",
                 "createType", "an unknown createType");
  expect_reject ("version=1\ncreateType=\"vmfs\"\ncreateType=\"vmfs\"\n"
                 "RW 1 VMFS \"a\"\n", "more than once", "a duplicate key");
  expect_reject ("version=1\ncreateType=\"vmfs\"\nRW 0 VMFS \"a\"\n",
                 "extent size", "a zero-sized extent");
  expect_reject ("version=1\ncreateType=\"vmfs\"\n"
                 "RW 99999999999999999999 VMFS \"a\"\n", "extent size",
                 "an overflowing extent size");
  expect_reject ("version=1\ncreateType=\"vmfs\"\nRW 1 VMFS \"a\" 7\n",
                 "offset", "an offset on a VMFS extent");
  expect_reject ("version=1\ncreateType=\"custom\"\nRW 1 ZERO \"a\"\n",
                 "ZERO", "a ZERO extent with a file");
  expect_reject ("version=1\ncreateType=\"custom\"\nRW 1 FLAT \"a\n",
                 "quote", "a missing quote");
  expect_reject ("version=1\ncreateType=\"custom\"\nRW 1 FLAT \"a\" 0 junk\n",
                 "trailing", "trailing garbage");
  expect_reject ("version=1\ncreateType=\"custom\"\nRW 1 BOGUS \"a\"\n",
                 "extent type", "an unknown extent type");
  expect_reject ("version=1\ncreateType=\"custom\"\nCID=xyz\n"
                 "RW 1 FLAT \"a\" 0\n", "CID", "a bad CID");
  expect_reject ("version=1\ncreateType=\"custom\"\n", "no extents",
                 "no extents");
  expect_reject ("version=1\ncreateType=\"custom\"\nhello world\n"
                 "RW 1 FLAT \"a\" 0\n", "unrecognised", "an unknown line");
  {
    char *big = malloc (6000);
    memset (big, 'x', 5999);
    big[5999] = '\0';
    memcpy (big, "# ", 2);
    char *t = vd__asprintf ("version=1\n%s\n", big);
    expect_reject (t, "longer", "an over-long line");
    free (t);
    free (big);
  }
  {
    /* extent count cap */
    size_t n = VD_MAX_EXTENTS + 1, cap = n * 24 + 64, o = 0;
    char *t = malloc (cap);
    o += (size_t) snprintf (t, cap, "version=1\ncreateType=\"custom\"\n");
    for (size_t i = 0; i < n; i++)
      o += (size_t) snprintf (t + o, cap - o, "RW 1 ZERO\n");
    expect_reject (t, "extents", "more than 4096 extents");
    free (t);
  }
  return done_testing ();
}
