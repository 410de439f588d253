#include "vdisk-tool.h"

extern const struct command cmd_create, cmd_info, cmd_cat, cmd_write,
  cmd_map, cmd_convert, cmd_clone, cmd_check, cmd_child, cmd_chain,
  cmd_attach, cmd_commit,
  cmd_rename, cmd_unlink, cmd_grow, cmd_shrink, cmd_defrag, cmd_meta, cmd_space_needed,
  cmd_clean;
extern const struct command cmd_scan, cmd_edit;
extern const struct command cmd_cbt, cmd_changes, cmd_backup, cmd_restore;
extern const struct command cmd_serve, cmd_upload, cmd_user; /* NBD */
extern const struct command cmd_mount, cmd_umount; /* mount */
extern const struct command cmd_vsphere; /* vSphere */
extern const struct command cmd_inventory, cmd_report; /* fleets */

const struct command *const commands[] = {
  &cmd_create, &cmd_info, &cmd_cat, &cmd_write, &cmd_map, &cmd_convert,
  &cmd_clone, &cmd_check, &cmd_child, &cmd_chain, &cmd_attach, &cmd_commit,
  &cmd_rename, &cmd_unlink, &cmd_grow, &cmd_shrink, &cmd_defrag, &cmd_meta, &cmd_space_needed,
  &cmd_clean,
  &cmd_scan, &cmd_edit,
  &cmd_cbt, &cmd_changes, &cmd_backup, &cmd_restore,
  &cmd_serve, &cmd_upload, &cmd_user, /* NBD */
  &cmd_mount, &cmd_umount, /* mount */
  &cmd_vsphere, /* vSphere */
  &cmd_inventory, &cmd_report, /* fleets */
  NULL
};
