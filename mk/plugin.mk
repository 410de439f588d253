# The nbdkit plugin (plugins/nbdkit): serves a datastore folder over NBD;
# built when mk/config.mk finds nbdkit's plugin header (Debian:
# nbdkit-plugin-dev).
#
# Build tree: $(O)/plugins/nbdkit-vdisk-plugin.so, linked with -lvdisk
# (rpath $ORIGIN/../lib).  Installed into $(PREFIX)/lib/nbdkit/plugins
# (rpath $ORIGIN/../.. finds $(PREFIX)/lib/libvdisk.so.0), so
# `nbdkit $(PREFIX)/lib/nbdkit/plugins/nbdkit-vdisk-plugin.so` or
# `vdisk serve` work without touching the system plugin folder.

ifneq ($(HAVE_NBDKIT),)
NBD_PLUGIN     := $(O)/plugins/nbdkit-vdisk-plugin.so
NBD_PLUGIN_DIR := $(PREFIX)/lib/nbdkit/plugins

.PHONY: nbd-plugin install-nbd-plugin
nbd-plugin: $(NBD_PLUGIN)
extra-build: nbd-plugin
install-extra: install-nbd-plugin

NBD_PLUGIN_SRCS := $(sort $(wildcard plugins/nbdkit/*.c))

# Only nbdkit's plugin_init is exported (-fvisibility=hidden).
$(NBD_PLUGIN): $(NBD_PLUGIN_SRCS) plugins/nbdkit/plugin.h include/vdisk/vdisk.h $(O)/lib/$(LIBSONAME) $(O)/lib/libvdisk.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(NBDKIT_CFLAGS) -fPIC -fvisibility=hidden -shared -o $@ \
	  $(NBD_PLUGIN_SRCS) \
	  -L$(O)/lib -lvdisk -Wl,-rpath,'$$ORIGIN/../lib:$$ORIGIN/../..' $(LDFLAGS_ALL)

$(O)/man/nbdkit-vdisk-plugin.1: plugins/nbdkit/nbdkit-vdisk-plugin.pod
	@mkdir -p $(dir $@)
	pod2man --section=1 --center="vdisk" --release="vdisk $(VERSION)" \
	  --name=NBDKIT-VDISK-PLUGIN $< > $@

install-nbd-plugin: $(NBD_PLUGIN) $(O)/man/nbdkit-vdisk-plugin.1
	install -d $(DESTDIR)$(NBD_PLUGIN_DIR) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(NBD_PLUGIN) $(DESTDIR)$(NBD_PLUGIN_DIR)/
	install -m 644 $(O)/man/nbdkit-vdisk-plugin.1 $(DESTDIR)$(PREFIX)/share/man/man1/
endif
