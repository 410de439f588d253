# VM backup and restore (lib/backup.c): manifests with json-c (Debian:
# libjson-c-dev), SHA-256 with nettle (also used by the NBD client's keys);
# both are found by mk/config.mk and required for now.
$(call vd_objs,backup.o): OBJ_CFLAGS += $(JSONC_CFLAGS) $(NETTLE_CFLAGS)
PKG_LIBS += $(JSONC_LIBS) $(NETTLE_LIBS)
