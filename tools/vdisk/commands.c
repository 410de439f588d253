#include "vdisk-tool.h"

extern const struct command cmd_create, cmd_info, cmd_cat, cmd_write,
  cmd_map, cmd_convert, cmd_clone, cmd_check;

const struct command *const commands[] = {
  &cmd_create, &cmd_info, &cmd_cat, &cmd_write, &cmd_map, &cmd_convert,
  &cmd_clone, &cmd_check, NULL
};
