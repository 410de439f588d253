# VM backup and restore (lib/backup/*.c): manifests with json-c (Debian:
# libjson-c-dev), SHA-256 with nettle (also used by the NBD client's keys);
# both are found by mk/config.mk and required for now.
$(filter $(O)/lib/backup/%,$(LIB_OBJS)): OBJ_CFLAGS += $(JSONC_CFLAGS) $(NETTLE_CFLAGS)
PKG_LIBS += $(JSONC_LIBS) $(NETTLE_LIBS)
# The disk files' chunks are hashed with OpenSSL's EVP SHA-256 where
# libcrypto is there (libssl-dev; about 10% faster than nettle on a CPU
# with SHA-NI, both use it), else with nettle.
$(eval $(call vd_detect,LIBCRYPTO,libcrypto))
$(O)/lib/backup/hash.o: OBJ_CFLAGS += $(LIBCRYPTO_CFLAGS)
PKG_LIBS += $(LIBCRYPTO_LIBS)
# Leaves of 32 KiB are hashed 16 at a time by Intel's multi-buffer crypto
# library where mk/config.mk found it (about 2.3x one SHA-NI stream on an
# AVX-512 CPU); the digests are the same without it.
ifneq ($(HAVE_IPSECMB),)
$(O)/lib/backup/hash.o: OBJ_CFLAGS += -DVD_HAVE_IPSECMB
PKG_LIBS += -lIPSec_MB
endif

# The long kill run (issue 14): 100 kill -9 during backup and 100 during
# restore (tests/crash/test-crash-backup.sh; make check runs 12).
.PHONY: backup-crash-long
backup-crash-long: tests
	@VDISK=$(CURDIR)/$(O)/bin/vdisk VDISK_TOP=$(CURDIR) VDISK_BUILD=$(O) \
	  BACKUP_KILLS=100 bash tests/crash/test-crash-backup.sh
