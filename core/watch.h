/* Watching directory trees for changes (inotify), with bursts coalesced: for envrsync-auto. */
#ifndef ENVUP_CORE_WATCH_H
#define ENVUP_CORE_WATCH_H

#include <signal.h>
#include <stdbool.h>

#include "core/err.h"

struct watch;

/* true: do not watch this directory (nor below it). */
typedef bool (*watch_skip_fn)(void *ctx, const char *dir);
/* A directory in which something changed; NULL when events were lost (assume everything). */
typedef void (*watch_changed_fn)(void *ctx, const char *dir);

int watch_open(struct watch **out, watch_skip_fn skip, void *ctx, struct err *e);
void watch_close(struct watch *w);

/* Watches root and every directory below it (new ones too, as they appear). */
int watch_add_tree(struct watch *w, const char *root, struct err *e);

/* Waits for a change, then until quiet_ms pass without another (at most max_ms after the
 * first), calling changed for each directory concerned. Returns 1 after changes, 0 when
 * *stop became true (a signal), -1 on error. */
int watch_wait(struct watch *w, int quiet_ms, int max_ms, watch_changed_fn changed, void *ctx,
	       volatile sig_atomic_t *stop, struct err *e);

#endif
