/* envbox add, list, remove, outdated, update, prune (cmd/box_store.c), for cmd/box.c's table.
 * Weak (CMD_FUNCTION): they run in envctl-full, which links libcurl and libarchive. */
#ifndef ENVUP_CMD_BOX_STORE_H
#define ENVUP_CMD_BOX_STORE_H

#include "boxes/add.h"
#include "cmd/cmd.h"
#include "core/progress.h"
#include "core/ui.h"

/* Each returns an exit code; argv[0] is the subcommand's name. */
CMD_FUNCTION(cmd_box_add);
CMD_FUNCTION(cmd_box_list);
CMD_FUNCTION(cmd_box_remove);
CMD_FUNCTION(cmd_box_outdated);
CMD_FUNCTION(cmd_box_update);
CMD_FUNCTION(cmd_box_prune);

/* What a box add shows (envbox add, and envup fetching a machine's box): on a terminal one
 * bar whose label names the phase the bytes belong to; with -v each step and HTTP request.
 * Attach it to the options before box_add or box_ensure and call ui_progress_done(&p->bar)
 * after; the options point into *p, which must stay where it is until then. */
struct cmd_add_phase {
	struct ui_progress *bar;
	const char *name;
	struct progress on_update; /* what box_add_opts points at; its ctx is this phase */
};
struct cmd_add_progress {
	struct ui_progress bar;
	struct cmd_add_phase download, extract, download_unpack, convert;
};
void cmd_add_progress_attach(struct cmd_add_progress *p, struct box_add_opts *o);

/* -v tracing of HTTP requests (struct http_opts.trace): one indented line each. */
void cmd_box_trace(void *ctx, const char *line);

#endif
