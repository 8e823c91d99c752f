/* How long-running work below cmd/ reports progress without printing: the caller passes a
 * callback, cmd/ wires it to the terminal UI. */
#ifndef ENVUP_CORE_PROGRESS_H
#define ENVUP_CORE_PROGRESS_H

#include <stdint.h>

struct progress {
	/* done and total in bytes (total 0: unknown). Called often; must be cheap. */
	void (*update)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

static inline void progress_update(const struct progress *p, uint64_t done, uint64_t total)
{
	if (p && p->update)
		p->update(p->ctx, done, total);
}

#endif
