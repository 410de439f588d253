/* libFuzzer target: the descriptor parser (lib/formats/descriptor.c).
 * Whatever parses must emit text that parses again to the same extents
 * and keys, and edits through the API must keep it parseable.
 * Built by mk/fuzz.mk (make fuzz); replayed by tests/fuzz/test-fuzz-replay.c. */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
same_extents (const struct vd_descriptor *a, const struct vd_descriptor *b)
{
  if (a->n_extents != b->n_extents)
    abort ();
  for (size_t i = 0; i < a->n_extents; i++) {
    const struct vd_desc_extent *x = vd__desc_extent (a, i);
    const struct vd_desc_extent *y = vd__desc_extent (b, i);
    if (x->sectors != y->sectors || x->access != y->access
        || strcmp (x->type, y->type) != 0 || !x->file != !y->file
        || (x->file && strcmp (x->file, y->file) != 0)
        || x->offset != y->offset)
      abort ();
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vd_descriptor *d = NULL, *d2 = NULL, *d3 = NULL;
  char *text = NULL, *text2 = NULL;
  size_t len = 0, len2 = 0;

  if (vd__desc_parse (&d, (const char *) data, size, "fuzz.vmdk") < 0) {
    if (!vd_last_error ()->message)
      abort ();
    return 0;
  }
  (void) vd__desc_get (d, "createType");
  (void) vd__desc_get (d, "CID");
  (void) vd__desc_get (d, "parentFileNameHint");
  (void) vd__desc_get_ddb (d, "ddb.uuid");
  text = vd__desc_emit (d, &len);
  if (!text)
    goto out;
  /* emitted text parses again, to the same extents */
  if (vd__desc_parse (&d2, text, len, "emitted") < 0)
    abort ();
  same_extents (d, d2);
  /* edits keep it parseable */
  if (vd__desc_set (d2, "CID", "0badcafe", 0) == 0
      && vd__desc_set_ddb (d2, "ddb.comment", "fuzz value") == 0
      && vd__desc_set_ddb (d2, "ddb.uuid", NULL) == 0) {
    text2 = vd__desc_emit (d2, &len2);
    if (text2) {
      if (vd__desc_parse (&d3, text2, len2, "edited") < 0)
        abort ();
      same_extents (d, d3);
      if (strcmp (vd__desc_get (d3, "CID"), "0badcafe") != 0)
        abort ();
    }
  }
out:
  free (text);
  free (text2);
  vd__desc_free (d);
  vd__desc_free (d2);
  vd__desc_free (d3);
  return 0;
}
