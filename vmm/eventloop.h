/* The device thread's poll loop: file descriptors with callbacks, plus one hook for
 * libraries (libslirp) that bring their own descriptors and timers. */
#ifndef ENVUP_VMM_EVENTLOOP_H
#define ENVUP_VMM_EVENTLOOP_H

#include <poll.h>
#include <stdbool.h>

#include "core/err.h"

#define EL_MAX_WATCH 64
#define EL_MAX_POLL 256

typedef void (*el_fn)(void *opaque, short revents);

/* Adds the hook's descriptors from index *n on; may lower *timeout_ms. */
typedef void (*el_prepare_fn)(void *opaque, struct pollfd *pfd, unsigned *n, unsigned max,
			      int *timeout_ms);
/* Sees the poll results of the descriptors it added (ok: poll did not fail). */
typedef void (*el_dispatch_fn)(void *opaque, struct pollfd *pfd, unsigned n, bool ok);

struct el_watch {
	int fd;
	short events;
	el_fn fn;
	void *opaque;
};

struct eventloop {
	struct el_watch w[EL_MAX_WATCH];
	unsigned n;
	el_prepare_fn prepare;
	el_dispatch_fn dispatch;
	void *hook_opaque;
	struct pollfd pfd[EL_MAX_POLL];
};

/* Calls fn whenever fd has any of events. */
int el_add(struct eventloop *el, int fd, short events, el_fn fn, void *opaque, struct err *e);

/* Stops watching fd (safe from inside a callback). */
void el_remove(struct eventloop *el, int fd);

/* Installs the one library hook. */
void el_set_hook(struct eventloop *el, el_prepare_fn prepare, el_dispatch_fn dispatch,
		 void *opaque);

/* Polls once (timeout_ms, -1 forever) and runs the callbacks that are due. */
void el_run_once(struct eventloop *el, int timeout_ms);

#endif
