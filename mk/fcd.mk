# First class disks (lib/fcd): the per-datastore catalog is SQLite
# (Debian: libsqlite3-dev; the tests use the sqlite3 shell as well).
PKG_LIBS   += $(shell pkg-config --libs sqlite3 2>/dev/null)
CFLAGS_ALL += $(shell pkg-config --cflags sqlite3 2>/dev/null)

# A VDDK-style FCD backup program (run by tests/fcd/test-fcd-vix.sh).
# (mk/vixdisklib.mk is read after this file: name its outputs directly.)
FCD_VIX_BACKUP := $(O)/tests/fcd-vix-backup
extra-tests: $(FCD_VIX_BACKUP)
$(FCD_VIX_BACKUP): tests/fcd/fcd-vix-backup.c include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixDiskLib.so.8 $(O)/compat/lib64/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# The long crash run: 50 random kill -9 per operation (plus every step
# boundary), as tests/fcd/test-fcd-crash.sh describes.
.PHONY: fcd-crash-long
fcd-crash-long: tests
	@VDISK=$(CURDIR)/$(O)/bin/vdisk VDISK_TOP=$(CURDIR) VDISK_BUILD=$(O) \
	  FCD_KILLS=50 bash tests/fcd/test-fcd-crash.sh

# VixMntapi on an FCD (run by tests/fcd/test-fcd-mntapi.sh); linked like a
# VDDK program: -lvixMntapi -lvixDiskLib.
FCD_MNTAPI := $(O)/tests/fcd-mntapi
extra-tests: $(FCD_MNTAPI)
$(FCD_MNTAPI): tests/fcd/fcd-mntapi.c include/vdisk/vixMntapi.h include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixMntapi.so.1 $(O)/compat/lib64/libvixMntapi.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixMntapi -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)
