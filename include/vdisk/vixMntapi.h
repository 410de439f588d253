/* vdisk: VixMntapi-compatible declarations (our own text).
 *
 * Programs written for VMware's VDDK include this header unconditionally
 * beside vixDiskLib.h.  vdisk does not implement the mount API; unless
 * FOR_MNTAPI is defined this header only pulls in vixDiskLib.h.  With
 * FOR_MNTAPI the types and prototypes are declared, but libvixDiskLib
 * exports none of them (there is no libvixMntapi in vdisk yet).
 */
#ifndef VDISK_VIXMNTAPI_H
#define VDISK_VIXMNTAPI_H

#include "vixDiskLib.h"

#ifdef FOR_MNTAPI

#ifdef __cplusplus
extern "C" {
#endif

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

#endif /* FOR_MNTAPI */

#endif /* VDISK_VIXMNTAPI_H */
