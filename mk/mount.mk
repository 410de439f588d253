# Mounts (lib/mount: partition tables, file system identification, FUSE).
# The partition parser is always built; the FUSE part is built when
# pkg-config finds fuse3 (Debian: libfuse3-dev; at run time fuse3 for
# fusermount3, fuse2fs and ntfs-3g for the volumes).  Without it
# vd_mount_new returns VD_ENOTSUP.
MOUNT_SRCS := $(sort $(wildcard lib/mount/*.c))
MOUNT_OBJS := $(MOUNT_SRCS:%.c=$(O)/%.o)
# (sort drops duplicates, should LIB_SRCS already name lib/mount)
LIB_SRCS   := $(sort $(LIB_SRCS) $(MOUNT_SRCS))
LIB_OBJS   := $(LIB_SRCS:%.c=$(O)/%.o)
$(LIBSO) $(LIBA): $(MOUNT_OBJS)
$(MOUNT_OBJS): lib/mount/mount-internal.h
ifneq ($(shell pkg-config --exists fuse3 2>/dev/null && echo yes),)
  CFLAGS_ALL += -DVD_HAVE_FUSE $(shell pkg-config --cflags fuse3)
  PKG_LIBS   += $(shell pkg-config --libs fuse3)
endif
