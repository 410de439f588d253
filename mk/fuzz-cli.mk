# The structure-aware CLI mutation campaign (tests/fuzz/fuzz-cli.py):
#
#   make fuzz-cli [SEED=1] [COUNT=2000] [FUZZ_CLI_TIMEOUT=30]
#       builds the ASan/UBSan CLI into build/check and runs COUNT cases of
#       seed SEED: one structural mutation of a folder of disks of every
#       layout, one vdisk command, the oracles (no crash or hang, read-only
#       commands change nothing, writing commands change only the named
#       disk's own files, failed commands change nothing, errors name a
#       file).  Each failure prints a command that reproduces it alone.
#
# make check runs a short seeded run: tests/fuzz/test-fuzz-cli.sh.
SEED  ?= 1
COUNT ?= 2000
FUZZ_CLI_TIMEOUT ?= 30
.PHONY: fuzz-cli
fuzz-cli:
	@$(MAKE) --no-print-directory O=build/check SAN=1 BOOTSTRAP=0 build
	@ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98} \
	  python3 tests/fuzz/fuzz-cli.py --vdisk build/check/bin/vdisk \
	  --seed $(SEED) --count $(COUNT) --timeout $(FUZZ_CLI_TIMEOUT)
