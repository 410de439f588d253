# VM backup and restore (lib/backup/*.c): manifests with json-c (Debian:
# libjson-c-dev), SHA-256 with nettle (also used by the NBD client's keys);
# both are found by mk/config.mk and required for now.
$(filter $(O)/lib/backup/%,$(LIB_OBJS)): OBJ_CFLAGS += $(JSONC_CFLAGS) $(NETTLE_CFLAGS)
PKG_LIBS += $(JSONC_LIBS) $(NETTLE_LIBS)
