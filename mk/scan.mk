# Scanning (lib/scan.c, lib/scan-clamav.c): the libclamav backend is built
# when mk/config.mk finds libclamav (Debian: libclamav-dev); without it
# vd_scanner_new_clamav returns VD_ENOTSUP and callback scanners still work.
$(call vd_objs,scan-clamav.o): OBJ_CFLAGS += $(CLAMAV_CFLAGS)
PKG_LIBS += $(CLAMAV_LIBS)
