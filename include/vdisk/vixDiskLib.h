/* vdisk: a VixDiskLib-compatible API (our own text, not VMware's header).
 *
 * Programs written for VMware's Virtual Disk Development Kit (VDDK) build
 * against this header and run on vdisk's libvixDiskLib.so.8 unchanged:
 * names, numeric values, structure field order and calling conventions
 * follow VDDK's documented ABI (LP64 Linux).  The library is a thin layer
 * over the native API in <vdisk/vdisk.h>; it handles local (hosted) disks
 * only: a connection that names a server is refused with
 * VIX_E_NOT_SUPPORTED.
 *
 * All offsets and lengths are in 512-byte sectors.  Functions return a
 * VixError; VIX_OK (0) is success.  VixDiskLib_GetErrorText explains a
 * failure in words (the message names the file and the problem).
 *
 * The header compiles as C89 and as C++.
 */
#ifndef VDISK_VIXDISKLIB_H
#define VDISK_VIXDISKLIB_H

#include <stdlib.h>   /* as VMware's header: callers free() with it alone */
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- VMware's basic vocabulary --------------------------------------- */

#ifndef VDISK_VIX_BASIC_TYPES
#define VDISK_VIX_BASIC_TYPES
typedef uint8_t uint8;
typedef uint16_t uint16;
typedef uint32_t uint32;
typedef uint64_t uint64;
typedef int8_t int8;
typedef int16_t int16;
typedef int32_t int32;
typedef int64_t int64;
typedef char Bool;
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* printf length modifiers: "%" FMT64 "u" prints a uint64, "%" FMTSZ "u"
 * a size_t. */
#ifndef FMT64
#if defined(__LP64__) || defined(_LP64)
#define FMT64 "l"
#else
#define FMT64 "ll"
#endif
#endif
#ifndef FMTSZ
#define FMTSZ "z"
#endif

/* ---- errors ---------------------------------------------------------- */

/* A 64-bit error; only the low 16 bits carry the code. */
typedef uint64 VixError;

#define VIX_ERROR_CODE(err) ((err) & 0xFFFF)
#define VIX_SUCCEEDED(err) (VIX_OK == (err))
#define VIX_FAILED(err) (VIX_OK != (err))

#ifndef VDISK_VIX_ERROR_CODES
#define VDISK_VIX_ERROR_CODES
enum {
  VIX_OK = 0,

  /* general */
  VIX_E_FAIL = 1,
  VIX_E_OUT_OF_MEMORY = 2,
  VIX_E_INVALID_ARG = 3,
  VIX_E_FILE_NOT_FOUND = 4,
  VIX_E_OBJECT_IS_BUSY = 5,
  VIX_E_NOT_SUPPORTED = 6,
  VIX_E_FILE_ERROR = 7,
  VIX_E_DISK_FULL = 8,
  VIX_E_INCORRECT_FILE_TYPE = 9,
  VIX_E_CANCELLED = 10,
  VIX_E_FILE_READ_ONLY = 11,
  VIX_E_FILE_ALREADY_EXISTS = 12,
  VIX_E_FILE_ACCESS_ERROR = 13,
  VIX_E_REQUIRES_LARGE_FILES = 14,
  VIX_E_FILE_ALREADY_LOCKED = 15,
  VIX_E_VMDB = 16,
  VIX_E_NOT_SUPPORTED_ON_REMOTE_OBJECT = 20,
  VIX_E_FILE_TOO_BIG = 21,
  VIX_E_FILE_NAME_INVALID = 22,
  VIX_E_ALREADY_EXISTS = 23,
  VIX_E_BUFFER_TOOSMALL = 24,
  VIX_E_OBJECT_NOT_FOUND = 25,
  VIX_E_HOST_NOT_CONNECTED = 26,
  VIX_E_INVALID_UTF8_STRING = 27,
  VIX_E_OPERATION_ALREADY_IN_PROGRESS = 31,
  VIX_E_UNFINISHED_JOB = 29,
  VIX_E_NEED_KEY = 30,
  VIX_E_LICENSE = 32,
  VIX_E_VM_HOST_DISCONNECTED = 34,
  VIX_E_AUTHENTICATION_FAIL = 35,
  VIX_E_HOST_CONNECTION_LOST = 36,
  VIX_E_DUPLICATE_NAME = 41,
  VIX_E_ARGUMENT_TOO_BIG = 44,

  /* host permissions (VIX API; VDDK's answer to a refused vSphere login) */
  VIX_E_HOST_USER_PERMISSIONS = 3014,

  /* handles */
  VIX_E_INVALID_HANDLE = 1000,
  VIX_E_NOT_SUPPORTED_ON_HANDLE_TYPE = 1001,
  VIX_E_TOO_MANY_HANDLES = 1002,

  /* host and network transport */
  VIX_E_HOST_DISK_INVALID_VALUE = 14003,
  VIX_E_HOST_DISK_SECTORSIZE = 14004,
  VIX_E_HOST_FILE_ERROR_EOF = 14005,
  VIX_E_HOST_NETBLKDEV_HANDSHAKE = 14006,
  VIX_E_HOST_SOCKET_CREATION_ERROR = 14007,
  VIX_E_HOST_SERVER_NOT_FOUND = 14008,
  VIX_E_HOST_NETWORK_CONN_REFUSED = 14009,
  VIX_E_HOST_TCP_SOCKET_ERROR = 14010,
  VIX_E_HOST_TCP_CONN_LOST = 14011,
  VIX_E_HOST_NBD_HASHFILE_VOLUME = 14012,
  VIX_E_HOST_NBD_HASHFILE_INIT = 14013,

  /* disk library */
  VIX_E_DISK_INVAL = 16000,
  VIX_E_DISK_NOINIT = 16001,
  VIX_E_DISK_NOIO = 16002,
  VIX_E_DISK_PARTIALCHAIN = 16003,
  VIX_E_DISK_NEEDSREPAIR = 16006,
  VIX_E_DISK_OUTOFRANGE = 16007,
  VIX_E_DISK_CID_MISMATCH = 16008,
  VIX_E_DISK_CANTSHRINK = 16009,
  VIX_E_DISK_PARTMISMATCH = 16010,
  VIX_E_DISK_UNSUPPORTEDDISKVERSION = 16011,
  VIX_E_DISK_OPENPARENT = 16012,
  VIX_E_DISK_NOTSUPPORTED = 16013,
  VIX_E_DISK_NEEDKEY = 16014,
  VIX_E_DISK_NOKEYOVERRIDE = 16015,
  VIX_E_DISK_NOTENCRYPTED = 16016,
  VIX_E_DISK_NOKEY = 16017,
  VIX_E_DISK_INVALIDPARTITIONTABLE = 16018,
  VIX_E_DISK_NOTNORMAL = 16019,
  VIX_E_DISK_NOTENCDESC = 16020,
  VIX_E_DISK_NEEDVMFS = 16022,
  VIX_E_DISK_RAWTOOBIG = 16024,
  VIX_E_DISK_TOOMANYOPENFILES = 16027,
  VIX_E_DISK_TOOMANYREDO = 16028,
  VIX_E_DISK_RAWTOOSMALL = 16029,
  VIX_E_DISK_INVALIDCHAIN = 16030,
  VIX_E_DISK_KEY_NOTFOUND = 16052,
  VIX_E_DISK_SUBSYSTEM_INIT_FAIL = 16053,
  VIX_E_DISK_INVALID_CONNECTION = 16054,
  VIX_E_DISK_ENCODING = 16061,
  VIX_E_DISK_CANTREPAIR = 16062,
  VIX_E_DISK_INVALIDDISK = 16063,
  VIX_E_DISK_NOLICENSE = 16064,
  VIX_E_DISK_NODEVICE = 16065,
  VIX_E_DISK_UNSUPPORTEDDEVICE = 16066,
  VIX_E_DISK_CAPACITY_MISMATCH = 16067,
  VIX_E_DISK_PARENT_NOTALLOWED = 16068,
  VIX_E_DISK_ATTACH_ROOTLINK = 16069,

  /* crypto */
  VIX_E_CRYPTO_UNKNOWN_ALGORITHM = 17000,
  VIX_E_CRYPTO_BAD_BUFFER_SIZE = 17001,
  VIX_E_CRYPTO_INVALID_OPERATION = 17002,
  VIX_E_CRYPTO_RANDOM_DEVICE = 17003,
  VIX_E_CRYPTO_NEED_PASSWORD = 17004,
  VIX_E_CRYPTO_BAD_PASSWORD = 17005,
  VIX_E_CRYPTO_NOT_IN_DICTIONARY = 17006,
  VIX_E_CRYPTO_NO_CRYPTO = 17007,
  VIX_E_CRYPTO_ERROR = 17008,
  VIX_E_CRYPTO_BAD_FORMAT = 17009,
  VIX_E_CRYPTO_LOCKED = 17010,
  VIX_E_CRYPTO_EMPTY = 17011,
  VIX_E_CRYPTO_KEYSAFE_LOCATOR = 17012,

  /* remote hosts */
  VIX_E_CANNOT_CONNECT_TO_HOST = 18000,
  VIX_E_NOT_FOR_REMOTE_HOST = 18001,
  VIX_E_INVALID_HOSTNAME_SPECIFICATION = 18002,

  /* asynchronous I/O */
  VIX_ASYNC = 25000,
  VIX_E_ASYNC_MIXEDMODE_UNSUPPORTED = 26000,

  /* HTTP transport */
  VIX_E_NET_HTTP_UNSUPPORTED_PROTOCOL = 30001,
  VIX_E_NET_HTTP_URL_MALFORMAT = 30003,
  VIX_E_NET_HTTP_COULDNT_RESOLVE_PROXY = 30005,
  VIX_E_NET_HTTP_COULDNT_RESOLVE_HOST = 30006,
  VIX_E_NET_HTTP_COULDNT_CONNECT = 30007,
  VIX_E_NET_HTTP_HTTP_RETURNED_ERROR = 30022,
  VIX_E_NET_HTTP_OPERATION_TIMEDOUT = 30028,
  VIX_E_NET_HTTP_SSL_CONNECT_ERROR = 30035,
  VIX_E_NET_HTTP_TOO_MANY_REDIRECTS = 30047,
  VIX_E_NET_HTTP_TRANSFER = 30200,
  VIX_E_NET_HTTP_SSL_SECURITY = 30201,
  VIX_E_NET_HTTP_GENERIC = 30202
};
#endif /* VDISK_VIX_ERROR_CODES */

/* ---- versions, sizes, flags ------------------------------------------ */

/* The API version a caller passes to Init/InitEx: as in VMware's header,
 * VIXDISKLIB_VERSION_MAJOR/MINOR are not defined here; programs define
 * them (after including this header) to the version they were written
 * for.  Any version from 1.0 is accepted. */

#define VIXDISKLIB_SECTOR_SIZE 512

/* QueryAllocatedBlocks chunk limits, in sectors (VMware's values: 64 KiB
 * to 64 MiB chunks, at most 512 Ki chunks in one query). */
#define VIXDISKLIB_MIN_CHUNK_SIZE 128
#define VIXDISKLIB_MAX_CHUNK_SIZE (64 * 2 * 1024)
#define VIXDISKLIB_MAX_CHUNK_NUMBER (512 * 1024)

/* Open flags. */
#define VIXDISKLIB_FLAG_OPEN_UNBUFFERED 0x01
#define VIXDISKLIB_FLAG_OPEN_SINGLE_LINK 0x02
#define VIXDISKLIB_FLAG_OPEN_READ_ONLY 0x04
#define VIXDISKLIB_FLAG_OPEN_COMPRESSION_ZLIB 0x10
#define VIXDISKLIB_FLAG_OPEN_COMPRESSION_FASTLZ 0x20
#define VIXDISKLIB_FLAG_OPEN_COMPRESSION_SKIPZ 0x40
/* six bits are reserved for NBD compression algorithms */
#define VIXDISKLIB_FLAG_OPEN_COMPRESSION_MASK 0x03f0

/* ddb.virtualHWVersion values. */
#define VIXDISKLIB_HWVERSION_WORKSTATION_4 3
#define VIXDISKLIB_HWVERSION_WORKSTATION_5 4
#define VIXDISKLIB_HWVERSION_WORKSTATION_6 6
#define VIXDISKLIB_HWVERSION_ESX30 VIXDISKLIB_HWVERSION_WORKSTATION_5
#define VIXDISKLIB_HWVERSION_ESX4X 7
#define VIXDISKLIB_HWVERSION_ESX50 8
#define VIXDISKLIB_HWVERSION_ESX51 9
#define VIXDISKLIB_HWVERSION_ESX55 10
#define VIXDISKLIB_HWVERSION_ESX60 11
#define VIXDISKLIB_HWVERSION_ESX65 13
#define VIXDISKLIB_HWVERSION_CURRENT VIXDISKLIB_HWVERSION_ESX65

/* Transport mode names. */
#define VIXDISKLIB_TRANSPORT_FILE "file"

/* ---- enumerations ---------------------------------------------------- */

typedef uint64 VixDiskLibSectorType;

typedef enum {
  VIXDISKLIB_DISK_MONOLITHIC_SPARSE = 1, /* one growable file */
  VIXDISKLIB_DISK_MONOLITHIC_FLAT = 2,   /* descriptor + one flat file */
  VIXDISKLIB_DISK_SPLIT_SPARSE = 3,      /* growable, 2 GB extents */
  VIXDISKLIB_DISK_SPLIT_FLAT = 4,        /* preallocated, 2 GB extents */
  VIXDISKLIB_DISK_VMFS_FLAT = 5,         /* ESX thick */
  VIXDISKLIB_DISK_STREAM_OPTIMIZED = 6,  /* compressed, for OVF */
  VIXDISKLIB_DISK_VMFS_THIN = 7,         /* ESX thin */
  VIXDISKLIB_DISK_VMFS_SPARSE = 8,       /* ESX redo log */
  VIXDISKLIB_DISK_UNKNOWN = 256
} VixDiskLibDiskType;

typedef enum {
  VIXDISKLIB_ADAPTER_IDE = 1,
  VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC = 2,
  VIXDISKLIB_ADAPTER_SCSI_LSILOGIC = 3,
  VIXDISKLIB_ADAPTER_UNKNOWN = 256
} VixDiskLibAdapterType;

typedef enum {
  VIXDISKLIB_CRED_UID = 1,       /* user name and password */
  VIXDISKLIB_CRED_SESSIONID = 2, /* vCenter session cookie */
  VIXDISKLIB_CRED_TICKETID = 3,  /* internal */
  VIXDISKLIB_CRED_SSPI = 4,      /* Windows only */
  VIXDISKLIB_CRED_UNKNOWN = 256
} VixDiskLibCredType;

/* How ConnectParams.spec names the disk's owner.  DATASTORE follows the
 * two older values; its number is vdisk's reading of the 8.x API. */
typedef enum {
  VIXDISKLIB_SPEC_VMX = 0,
  VIXDISKLIB_SPEC_VSTORAGE_OBJECT = 1,
  VIXDISKLIB_SPEC_DATASTORE = 2,
  VIXDISKLIB_SPEC_UNKNOWN = 3
} VixDiskLibSpecType;

/* ---- connection parameters ------------------------------------------- */

typedef struct VixDiskLibConnectParam *VixDiskLibConnection;
typedef struct VixDiskLibHandleStruct *VixDiskLibHandle;

typedef struct {
  char *userName;
  char *password;
} VixDiskLibUidPasswdCreds;

typedef struct {
  char *cookie;
  char *userName;
  char *key;
} VixDiskLibSessionIdCreds;

struct VixDiskLibTicketIdCreds;

/* A first-class disk (FCD, "vStorage object"). */
typedef struct {
  char *id;
  char *datastoreMoRef;
  char *ssId;
} VixDiskLibVStorageObjectSpec;

typedef struct {
  char *datastoreMoRef;
  char *diskFolder;
} VixDiskLibDatastoreSpec;

typedef struct {
  char *vmxSpec;      /* "moref=vm-16": the virtual machine */
  char *serverName;   /* vCenter or ESXi host; NULL: local disks */
  char *thumbPrint;   /* SHA-1 of the server certificate */
  long privateUse;    /* reserved */
  VixDiskLibCredType credType;
  union VixDiskLibCreds {
    VixDiskLibUidPasswdCreds uid;
    VixDiskLibSessionIdCreds sessionId;
    struct VixDiskLibTicketIdCreds *ticketId;
  } creds;
  uint32 port;        /* HTTPS port, 443 */
  uint32 nfcHostPort; /* NFC port, 902 */
  char *vimApiVer;    /* unused */
  char reserved[8];
  void *state;        /* library's own */
  union VixDiskLibSpec {
    VixDiskLibVStorageObjectSpec vStorageObjSpec;
    VixDiskLibDatastoreSpec dsSpec;
  } spec;
  VixDiskLibSpecType specType;
} VixDiskLibConnectParams;

/* ---- disk information ------------------------------------------------ */

typedef struct {
  uint32 cylinders;
  uint32 heads;
  uint32 sectors;
} VixDiskLibGeometry;

typedef struct {
  VixDiskLibGeometry biosGeo;
  VixDiskLibGeometry physGeo;
  VixDiskLibSectorType capacity;      /* sectors */
  VixDiskLibAdapterType adapterType;
  int numLinks;                       /* links in the opened chain */
  char *parentFileNameHint;           /* NULL for a base disk */
  char *uuid;                         /* ddb.uuid, or NULL */
  uint32 logicalSectorSize;           /* VDDK 7.0 and later */
  uint32 physicalSectorSize;
} VixDiskLibInfo;

typedef struct {
  VixDiskLibDiskType diskType;
  VixDiskLibAdapterType adapterType;
  uint16 hwVersion;
  VixDiskLibSectorType capacity;      /* sectors */
  uint32 logicalSectorSize;           /* 0 or 512 */
  uint32 physicalSectorSize;          /* 0 or 512 */
} VixDiskLibCreateParams;

typedef struct {
  VixDiskLibSectorType offset;        /* sectors */
  VixDiskLibSectorType length;        /* sectors */
} VixDiskLibBlock;

typedef struct {
  uint32 numBlocks;
  VixDiskLibBlock blocks[1];          /* numBlocks entries */
} VixDiskLibBlockList;

/* OpenEx / changed-block queries (VDDK 9 sample).  vdisk answers the
 * queries from its own changed block tracking (vdisk cbt enable); the
 * current change ID is ReadMetadata's key "changeId". */
typedef struct {
  const char *path;
  uint32 flags;
  const char *changeId;
} VixDiskLibOpenParams;

typedef struct {
  VixDiskLibSectorType startOffset;   /* sectors */
  VixDiskLibSectorType length;        /* sectors, 0: to the end */
  const char *changeId;
} VixDiskLibQueryChangedAreaParams;

typedef struct {
  VixDiskLibSectorType startOffset;
  VixDiskLibSectorType length;
  uint32 numAreas;
  VixDiskLibBlock *areas;
} VixDiskLibDiskChangeInfo;

/* ---- callbacks ------------------------------------------------------- */

/* A log sink: printf-style format and its arguments. */
typedef void (VixDiskLibGenericLogFunc)(const char *fmt, va_list args);

/* Progress in percent; return FALSE to cancel. */
typedef Bool (*VixDiskLibProgressFunc)(void *progressData,
                                       int percentCompleted);

/* Completion of ReadAsync/WriteAsync, called once, from any thread. */
typedef void (*VixDiskLibCompletionCB)(void *cbData, VixError result);

/* ---- library --------------------------------------------------------- */

VixError VixDiskLib_InitEx (uint32 majorVersion, uint32 minorVersion,
                            VixDiskLibGenericLogFunc *log,
                            VixDiskLibGenericLogFunc *warn,
                            VixDiskLibGenericLogFunc *panic,
                            const char *libDir, const char *configFile);
VixError VixDiskLib_Init (uint32 majorVersion, uint32 minorVersion,
                          VixDiskLibGenericLogFunc *log,
                          VixDiskLibGenericLogFunc *warn,
                          VixDiskLibGenericLogFunc *panic,
                          const char *libDir);
/* The last Exit (one per Init) flushes and closes every disk handle the
 * process still has open; a later Close of such a handle only frees it.
 * Process exit does the same for a program that never calls Exit.
 * A write that returned VIX_OK reaches the disk's tables and stable
 * storage at Flush, Close or Exit; a crash before that may lose it, never
 * data flushed earlier. */
void VixDiskLib_Exit (void);
/* Colon-separated static list ("file"); do not free. */
const char *VixDiskLib_ListTransportModes (void);
VixError VixDiskLib_Cleanup (const VixDiskLibConnectParams *connectParams,
                             uint32 *numCleanedUp, uint32 *numRemaining);

/* ---- connections ----------------------------------------------------- */

VixDiskLibConnectParams *VixDiskLib_AllocateConnectParams (void);
void VixDiskLib_FreeConnectParams (VixDiskLibConnectParams *connectParams);
VixError VixDiskLib_GetConnectParams (const VixDiskLibConnection connection,
                                      VixDiskLibConnectParams **connectParams);
VixError VixDiskLib_Connect (const VixDiskLibConnectParams *connectParams,
                             VixDiskLibConnection *connection);
/* readOnly is a hint for the transport.  For local disks (no serverName)
 * ConnectEx is Connect, as VMware documents: Open with flags 0 gives a
 * writable handle, or fails at Open saying why; only
 * VIXDISKLIB_FLAG_OPEN_READ_ONLY makes a read-only handle. */
VixError VixDiskLib_ConnectEx (const VixDiskLibConnectParams *connectParams,
                               Bool readOnly, const char *snapshotRef,
                               const char *transportModes,
                               VixDiskLibConnection *connection);
VixError VixDiskLib_Disconnect (VixDiskLibConnection connection);
VixError VixDiskLib_PrepareForAccess (const VixDiskLibConnectParams *connectParams,
                                      const char *identity);
VixError VixDiskLib_EndAccess (const VixDiskLibConnectParams *connectParams,
                               const char *identity);

/* ---- disks ----------------------------------------------------------- */

VixError VixDiskLib_Open (const VixDiskLibConnection connection,
                          const char *path, uint32 flags,
                          VixDiskLibHandle *diskHandle);
VixError VixDiskLib_OpenEx (const VixDiskLibConnection connection,
                            const VixDiskLibOpenParams *openParams,
                            VixDiskLibHandle *diskHandle);
VixError VixDiskLib_Close (VixDiskLibHandle diskHandle);
VixError VixDiskLib_GetInfo (VixDiskLibHandle diskHandle,
                             VixDiskLibInfo **info);
void VixDiskLib_FreeInfo (VixDiskLibInfo *info);
/* Static string ("file"); do not free. */
const char *VixDiskLib_GetTransportMode (VixDiskLibHandle diskHandle);

VixError VixDiskLib_Read (VixDiskLibHandle diskHandle,
                          VixDiskLibSectorType startSector,
                          VixDiskLibSectorType numSectors,
                          uint8 *readBuffer);
VixError VixDiskLib_Write (VixDiskLibHandle diskHandle,
                           VixDiskLibSectorType startSector,
                           VixDiskLibSectorType numSectors,
                           const uint8 *writeBuffer);
/* Queue an I/O: VIX_ASYNC means queued, and the callback will run once. */
VixError VixDiskLib_ReadAsync (VixDiskLibHandle diskHandle,
                               VixDiskLibSectorType startSector,
                               VixDiskLibSectorType numSectors,
                               uint8 *readBuffer,
                               VixDiskLibCompletionCB callback,
                               void *cbData);
VixError VixDiskLib_WriteAsync (VixDiskLibHandle diskHandle,
                                VixDiskLibSectorType startSector,
                                VixDiskLibSectorType numSectors,
                                const uint8 *writeBuffer,
                                VixDiskLibCompletionCB callback,
                                void *cbData);
/* Returns once every queued I/O of the handle has run its callback. */
VixError VixDiskLib_Wait (VixDiskLibHandle diskHandle);
VixError VixDiskLib_Flush (VixDiskLibHandle diskHandle);

/* startSector and numSectors are whole chunks of chunkSize sectors; the
 * range may end less than one chunk past the capacity (the answer stops
 * at the capacity), but not start at or past it (VIX_E_DISK_OUTOFRANGE). */
VixError VixDiskLib_QueryAllocatedBlocks (VixDiskLibHandle diskHandle,
                                          VixDiskLibSectorType startSector,
                                          VixDiskLibSectorType numSectors,
                                          VixDiskLibSectorType chunkSize,
                                          VixDiskLibBlockList **blockList);
VixError VixDiskLib_FreeBlockList (VixDiskLibBlockList *blockList);
VixError VixDiskLib_QueryChangedAreas (VixDiskLibHandle diskHandle,
                                       const VixDiskLibQueryChangedAreaParams *params,
                                       VixDiskLibDiskChangeInfo **changeInfo);
void VixDiskLib_FreeChangedAreas (VixDiskLibDiskChangeInfo *changeInfo);

/* Metadata keys are the descriptor's ddb keys without "ddb.".  Both calls
 * use the two-call size protocol: a NULL or short buffer gives
 * VIX_E_BUFFER_TOOSMALL with *requiredLen (including the final NUL). */
VixError VixDiskLib_GetMetadataKeys (VixDiskLibHandle diskHandle,
                                     char *keysBuffer, size_t bufLen,
                                     size_t *requiredLen);
VixError VixDiskLib_ReadMetadata (VixDiskLibHandle diskHandle,
                                  const char *key, char *buf, size_t bufLen,
                                  size_t *requiredLen);
VixError VixDiskLib_WriteMetadata (VixDiskLibHandle diskHandle,
                                   const char *key, const char *val);

/* ---- creating and managing ------------------------------------------- */

/* VIXDISKLIB_DISK_STREAM_OPTIMIZED makes an empty stream.  Opened for
 * writing, it takes writes at increasing offsets (compressed as they
 * pass); the grain tables and footer are written at Flush and Close.  A
 * write into the part already streamed fails with VIX_E_INVALID_ARG. */
VixError VixDiskLib_Create (const VixDiskLibConnection connection,
                            const char *path,
                            const VixDiskLibCreateParams *createParams,
                            VixDiskLibProgressFunc progressFunc,
                            void *progressCallbackData);
VixError VixDiskLib_CreateChild (VixDiskLibHandle diskHandle,
                                 const char *childPath,
                                 VixDiskLibDiskType diskType,
                                 VixDiskLibProgressFunc progressFunc,
                                 void *progressCallbackData);
VixError VixDiskLib_Clone (const VixDiskLibConnection dstConnection,
                           const char *dstPath,
                           const VixDiskLibConnection srcConnection,
                           const char *srcPath,
                           const VixDiskLibCreateParams *vixCreateParams,
                           VixDiskLibProgressFunc progressFunc,
                           void *progressCallbackData, Bool overWrite);
VixError VixDiskLib_SpaceNeededForClone (VixDiskLibHandle diskHandle,
                                         VixDiskLibDiskType cloneDiskType,
                                         uint64 *spaceNeeded);
VixError VixDiskLib_Grow (VixDiskLibConnection connection, const char *path,
                          VixDiskLibSectorType capacityInSectors,
                          Bool updateGeometry,
                          VixDiskLibProgressFunc progressFunc,
                          void *progressCallbackData);
VixError VixDiskLib_Shrink (VixDiskLibHandle diskHandle,
                            VixDiskLibProgressFunc progressFunc,
                            void *progressCallbackData);
VixError VixDiskLib_Defragment (VixDiskLibHandle diskHandle,
                                VixDiskLibProgressFunc progressFunc,
                                void *progressCallbackData);
VixError VixDiskLib_Rename (const char *srcFileName, const char *dstFileName);
VixError VixDiskLib_Unlink (VixDiskLibConnection connection,
                            const char *path);
VixError VixDiskLib_Attach (VixDiskLibHandle parent, VixDiskLibHandle child);
VixError VixDiskLib_IsAttachPossible (VixDiskLibHandle parent,
                                      VixDiskLibHandle child);
VixError VixDiskLib_CheckRepair (const VixDiskLibConnection connection,
                                 const char *filename, Bool repair);

/* ---- errors ---------------------------------------------------------- */

/* A description of err (locale is ignored); free with FreeErrorText.
 * When err is the last error this thread got from the library, or one a
 * completion callback received, the text says what happened. */
char *VixDiskLib_GetErrorText (VixError err, const char *locale);
void VixDiskLib_FreeErrorText (char *errMsg);

#ifdef __cplusplus
}
#endif

#endif /* VDISK_VIXDISKLIB_H */
