/* envbox package, repackage, publish, index (cmd/box_registry.c): making boxes and sharing
 * them through registries. Weak: they run in envctl-full. */
#ifndef ENVUP_CMD_BOX_REGISTRY_H
#define ENVUP_CMD_BOX_REGISTRY_H

#include "cmd/cmd.h"

CMD_FUNCTION(cmd_box_package);
CMD_FUNCTION(cmd_box_repackage);
CMD_FUNCTION(cmd_box_publish);
CMD_FUNCTION(cmd_box_index);

#endif
