/* Replays every fuzz corpus and regression input (tests/fuzz/corpus/)
 * through the fuzz targets, in the normal gcc build (ASan+UBSan under
 * make check): a crash, sanitizer report or abort fails the test. */
#define LLVMFuzzerTestOneInput fz_descriptor
#include "fuzz-descriptor.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_sparse
#include "fuzz-sparse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_stream
#include "fuzz-stream.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_cowd
#include "fuzz-cowd.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_sesparse
#include "fuzz-sesparse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_chain
#include "fuzz-chain.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_check
#include "fuzz-check.c"
#undef LLVMFuzzerTestOneInput

#define FZ_TARGET_TABLE                                                 \
  { "descriptor", fz_descriptor }, { "sparse", fz_sparse },             \
  { "stream", fz_stream }, { "cowd", fz_cowd },                         \
  { "sesparse", fz_sesparse }, { "chain", fz_chain },                   \
  { "check", fz_check },
#include "standalone-driver.c"
