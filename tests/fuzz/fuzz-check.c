/* libFuzzer target: vd_check over any layout (container input): every
 * driver's check code, and open/read of the same files.
 * Built by mk/fuzz.mk (make fuzz); replayed by tests/fuzz/test-fuzz-replay.c. */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fz_run (data, size, 1, 1, 0);
  return 0;
}
