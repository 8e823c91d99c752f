/* envbox convert and envbox info (cmd/box_image.c), for cmd/box.c's table. */
#ifndef ENVUP_CMD_BOX_IMAGE_H
#define ENVUP_CMD_BOX_IMAGE_H

#include "cmd/cmd.h"

/* envbox convert SRC DST [--from FORMAT] [--to qcow2|raw]; returns an exit code. */
CMD_FUNCTION(cmd_box_convert);
/* envbox info IMAGE [--format FORMAT] [--json]; returns an exit code. */
CMD_FUNCTION(cmd_box_info);

#endif
