# Scanning (lib/scan.c, lib/scan-clamav.c): the libclamav backend is built
# when mk/config.mk finds libclamav (Debian: libclamav-dev); without it
# vd_scanner_new_clamav returns VD_ENOTSUP and callback scanners still work.
# libclamav is loaded on first use (lib/scan/clamav-dl.c): its header at
# build time, no -lclamav.
$(call vd_objs,scan-clamav.o clamav-dl.o): OBJ_CFLAGS += $(CLAMAV_CFLAGS)
CLAM_SONAME := $(call vd_soname,libclamav,libclamav.so)
$(call vd_objs,clamav-dl.o): OBJ_CFLAGS += -DVD_CLAM_SONAME='"$(or $(CLAM_SONAME),libclamav.so.12)"'
