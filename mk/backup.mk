# VM backup and restore (lib/backup/backup.c): manifests with json-c (Debian:
# libjson-c-dev), SHA-256 with nettle (also used by the NBD layer).
PKG_LIBS   += $(shell pkg-config --libs json-c nettle 2>/dev/null)
CFLAGS_ALL += $(shell pkg-config --cflags json-c nettle 2>/dev/null)
