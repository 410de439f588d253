/* vdisk: VixMntapi-compatible declarations (our own text).
 *
 * The layouts, enumerations, error codes and prototypes of VMware's
 * vixMntapi.h, implemented by vdisk's libvixMntapi.so.1 (compat/vixmntapi,
 * installed beside libvixDiskLib in lib/vdisk/vddk/lib64).  Volumes are
 * mounted in user space through FUSE: read-only ext2/3/4 served by vdisk
 * itself (libext2fs), fuse2fs for read-write ext, ntfs-3g for NTFS.  VixMntapi_OpenDiskSet is declared on every platform
 * (VMware declares it for Windows only).  FOR_MNTAPI, which VMware's
 * sample defines before including this header, is accepted and not
 * needed.
 */
#ifndef VDISK_VIXMNTAPI_H
#define VDISK_VIXMNTAPI_H

#include "vixDiskLib.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIXMNTAPI_MAJOR_VERSION 1
#define VIXMNTAPI_MINOR_VERSION 0

/* VixMntapi error codes (VMware's values). */
enum {
  VIX_E_MNTAPI_MOUNTPT_NOT_FOUND = 24000,
  VIX_E_MNTAPI_MOUNTPT_IN_USE = 24001,
  VIX_E_MNTAPI_DISK_NOT_FOUND = 24002,
  VIX_E_MNTAPI_DISK_NOT_MOUNTED = 24003,
  VIX_E_MNTAPI_DISK_IS_MOUNTED = 24004,
  VIX_E_MNTAPI_DISK_NOT_SAFE = 24005,
  VIX_E_MNTAPI_DISK_CANT_OPEN = 24006,
  VIX_E_MNTAPI_CANT_READ_PARTS = 24007,
  VIX_E_MNTAPI_UMOUNT_APP_NOT_FOUND = 24008,
  VIX_E_MNTAPI_UMOUNT = 24009,
  VIX_E_MNTAPI_NO_MOUNTABLE_PARTITONS = 24010,
  VIX_E_MNTAPI_PARTITION_RANGE = 24011,
  VIX_E_MNTAPI_PERM = 24012,
  VIX_E_MNTAPI_DICT = 24013,
  VIX_E_MNTAPI_DICT_LOCKED = 24014,
  VIX_E_MNTAPI_OPEN_HANDLES = 24015,
  VIX_E_MNTAPI_CANT_MAKE_VAR_DIR = 24016,
  VIX_E_MNTAPI_NO_ROOT = 24017,
  VIX_E_MNTAPI_LOOP_FAILED = 24018,
  VIX_E_MNTAPI_DAEMON = 24019,
  VIX_E_MNTAPI_INTERNAL = 24020,
  VIX_E_MNTAPI_SYSTEM = 24021,
  VIX_E_MNTAPI_NO_CONNECTION_DETAILS = 24022,
  VIX_E_MNTAPI_INCOMPATIBLE_VERSION = 24300,
  VIX_E_MNTAPI_OS_ERROR = 24301,
  VIX_E_MNTAPI_DRIVE_LETTER_IN_USE = 24302,
  VIX_E_MNTAPI_DRIVE_LETTER_ALREADY_ASSIGNED = 24303,
  VIX_E_MNTAPI_VOLUME_NOT_MOUNTED = 24304,
  VIX_E_MNTAPI_VOLUME_ALREADY_MOUNTED = 24305,
  VIX_E_MNTAPI_FORMAT_FAILURE = 24306,
  VIX_E_MNTAPI_NO_DRIVER = 24307,
  VIX_E_MNTAPI_ALREADY_OPENED = 24308,
  VIX_E_MNTAPI_ITEM_NOT_FOUND = 24309,
  VIX_E_MNTAPI_UNSUPPROTED_BOOT_LOADER = 24310,
  VIX_E_MNTAPI_UNSUPPROTED_OS = 24311,
  VIX_E_MNTAPI_CODECONVERSION = 24312,
  VIX_E_MNTAPI_REGWRITE_ERROR = 24313,
  VIX_E_MNTAPI_UNSUPPORTED_FT_VOLUME = 24314,
  VIX_E_MNTAPI_PARTITION_NOT_FOUND = 24315,
  VIX_E_MNTAPI_PUTFILE_ERROR = 24316,
  VIX_E_MNTAPI_GETFILE_ERROR = 24317,
  VIX_E_MNTAPI_REG_NOT_OPENED = 24318,
  VIX_E_MNTAPI_REGDELKEY_ERROR = 24319,
  VIX_E_MNTAPI_CREATE_PARTITIONTABLE_ERROR = 24320,
  VIX_E_MNTAPI_OPEN_FAILURE = 24321,
  VIX_E_MNTAPI_VOLUME_NOT_WRITABLE = 24322
};

typedef struct VixDiskSetHandleStruct *VixDiskSetHandle;
typedef struct VixVolumeHandleStruct *VixVolumeHandle;

typedef enum {
  VIXMNTAPI_UNKNOWN_VOLTYPE = 0,
  VIXMNTAPI_BASIC_PARTITION = 1,
  VIXMNTAPI_GPT_PARTITION = 2,
  VIXMNTAPI_DYNAMIC_VOLUME = 3,
  VIXMNTAPI_LVM_VOLUME = 4
} VixVolumeType;

typedef enum {
  VIXMNTAPI_NO_OS = 0,
  VIXMNTAPI_WINDOWS = 1,
  VIXMNTAPI_OTHER = 255
} VixOsFamily;

typedef struct {
  VixOsFamily family;
  uint32 majorVersion;
  uint32 minorVersion;
  Bool osIs64Bit;
  char *vendor;
  char *edition;
  char *osFolder;
} VixOsInfo;

typedef struct {
  VixVolumeType type;
  Bool isMounted;
  char *symbolicLink;
  size_t numGuestMountPoints;
  char *inGuestMountPoints[1];
} VixVolumeInfo;

typedef struct {
  uint32 openFlags;
  char *mountPath;
} VixDiskSetInfo;

VixError VixMntapi_Init (uint32 majorVersion, uint32 minorVersion,
                         VixDiskLibGenericLogFunc *log,
                         VixDiskLibGenericLogFunc *warn,
                         VixDiskLibGenericLogFunc *panic,
                         const char *libDir, const char *configFile);
void VixMntapi_Exit (void);
VixError VixMntapi_OpenDiskSet (VixDiskLibHandle diskHandles[],
                                size_t numberOfDisks, uint32 openMode,
                                VixDiskSetHandle *handle);
VixError VixMntapi_OpenDisks (VixDiskLibConnection connection,
                              const char *diskNames[], size_t numberOfDisks,
                              uint32 openFlags, VixDiskSetHandle *handle);
VixError VixMntapi_GetDiskSetInfo (VixDiskSetHandle handle,
                                   VixDiskSetInfo **diskSetInfo);
void VixMntapi_FreeDiskSetInfo (VixDiskSetInfo *diskSetInfo);
VixError VixMntapi_CloseDiskSet (VixDiskSetHandle diskSet);
VixError VixMntapi_GetVolumeHandles (VixDiskSetHandle diskSet,
                                     size_t *numberOfVolumes,
                                     VixVolumeHandle **volumeHandles);
void VixMntapi_FreeVolumeHandles (VixVolumeHandle *volumeHandles);
VixError VixMntapi_GetOsInfo (VixDiskSetHandle diskSet, VixOsInfo **info);
void VixMntapi_FreeOsInfo (VixOsInfo *info);
VixError VixMntapi_MountVolume (VixVolumeHandle volumeHandle, Bool readOnly);
VixError VixMntapi_DismountVolume (VixVolumeHandle volumeHandle, Bool force);
VixError VixMntapi_GetVolumeInfo (VixVolumeHandle volumeHandle,
                                  VixVolumeInfo **info);
void VixMntapi_FreeVolumeInfo (VixVolumeInfo *info);

#ifdef __cplusplus
}
#endif

#endif /* VDISK_VIXMNTAPI_H */
