/* envbox add, list, remove, outdated, update, prune (cmd/box_store.c), for cmd/box.c's table.
 * Weak (CMD_FUNCTION): they run in envctl-full, which links libcurl and libarchive. */
#ifndef ENVUP_CMD_BOX_STORE_H
#define ENVUP_CMD_BOX_STORE_H

#include "cmd/cmd.h"

/* Each returns an exit code; argv[0] is the subcommand's name. */
CMD_FUNCTION(cmd_box_add);
CMD_FUNCTION(cmd_box_list);
CMD_FUNCTION(cmd_box_remove);
CMD_FUNCTION(cmd_box_outdated);
CMD_FUNCTION(cmd_box_update);
CMD_FUNCTION(cmd_box_prune);

/* -v tracing of HTTP requests (struct http_opts.trace): one indented line each. */
void cmd_box_trace(void *ctx, const char *line);

#endif
