# Network disks: the nbdkit plugin (plugins/nbdkit) and the NBD client in
# libvdisk (lib/io-nbd.c, libnbd; password keys with nettle's PBKDF2).
#
# Build tree: $(O)/plugins/nbdkit-vdisk-plugin.so, linked with -lvdisk
# (rpath $ORIGIN/../lib).  Installed into $(PREFIX)/lib/nbdkit/plugins
# (rpath $ORIGIN/../.. finds $(PREFIX)/lib/libvdisk.so.0), so
# `nbdkit $(PREFIX)/lib/nbdkit/plugins/nbdkit-vdisk-plugin.so` or
# `vdisk serve` work without touching the system plugin folder.

PKG_LIBS   += $(shell pkg-config --libs libnbd nettle 2>/dev/null)
CFLAGS_ALL += $(shell pkg-config --cflags libnbd nettle 2>/dev/null)

NBD_PLUGIN     := $(O)/plugins/nbdkit-vdisk-plugin.so
NBD_PLUGIN_DIR := $(PREFIX)/lib/nbdkit/plugins
NBDKIT_CFLAGS  := $(shell pkg-config --cflags nbdkit 2>/dev/null)

.PHONY: nbd-plugin install-nbd-plugin
nbd-plugin: $(NBD_PLUGIN)
extra-build: nbd-plugin
install-extra: install-nbd-plugin

$(NBD_PLUGIN): plugins/nbdkit/vdisk.c include/vdisk/vdisk.h $(O)/lib/$(LIBSONAME) $(O)/lib/libvdisk.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(NBDKIT_CFLAGS) -fPIC -shared -o $@ $< \
	  -L$(O)/lib -lvdisk -Wl,-rpath,'$$ORIGIN/../lib:$$ORIGIN/../..' $(LDFLAGS_ALL)

$(O)/man/nbdkit-vdisk-plugin.1: plugins/nbdkit/nbdkit-vdisk-plugin.pod
	@mkdir -p $(dir $@)
	pod2man --section=1 --center="vdisk" --release="vdisk $(VERSION)" \
	  --name=NBDKIT-VDISK-PLUGIN $< > $@

install-nbd-plugin: $(NBD_PLUGIN) $(O)/man/nbdkit-vdisk-plugin.1
	install -d $(DESTDIR)$(NBD_PLUGIN_DIR) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(NBD_PLUGIN) $(DESTDIR)$(NBD_PLUGIN_DIR)/
	install -m 644 $(O)/man/nbdkit-vdisk-plugin.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# VixDiskLib against a vdisk server (run by tests/nbd/test-nbd-serve.sh; not a
# test-* program, as it needs the server the script starts).
NBD_VIX_HELPER := $(O)/tests/nbd-vix-remote
extra-tests: $(NBD_VIX_HELPER)
# (mk/vixdisklib.mk is read after this file: name its outputs directly.)
$(NBD_VIX_HELPER): tests/nbd/nbd-vix-remote.c include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixDiskLib.so.8 $(O)/compat/lib64/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# VixDiskLib remote parity (run by tests/nbd/test-nbd-remote-parity.sh).
NBD_VIX_PARITY := $(O)/tests/nbd-vix-parity
extra-tests: $(NBD_VIX_PARITY)
$(NBD_VIX_PARITY): tests/nbd/nbd-vix-parity.c include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixDiskLib.so.8 $(O)/compat/lib64/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)
