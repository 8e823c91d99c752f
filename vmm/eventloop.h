/* The device thread's poll loop: file descriptors with callbacks, plus one hook for
 * libraries (libslirp) that bring their own descriptors and timers. */
#ifndef ENVUP_VMM_EVENTLOOP_H
#define ENVUP_VMM_EVENTLOOP_H

#include <poll.h>
#include <stdbool.h>

#include "core/err.h"

#define EL_MAX_WATCH 64
/* The poll set grows as the hook adds descriptors, up to this many in all. libslirp opens one
 * socket per guest connection or UDP flow, so the guest decides how many it wants; past this
 * bound the hook must let its descriptors take turns. */
#define EL_MAX_POLL 16384

struct eventloop;

typedef void (*el_fn)(void *opaque, short revents);

/* Adds the hook's descriptors with el_poll_add; may lower *timeout_ms. */
typedef void (*el_prepare_fn)(void *opaque, struct eventloop *el, int *timeout_ms);
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
	struct pollfd *pfd;  /* this round's poll set: the watches, then the hook's */
	unsigned npoll, cap; /* entries used and allocated */
	unsigned nwatch;     /* watches at the start of pfd this round */
	unsigned max_poll;   /* bound on npoll; 0 means EL_MAX_POLL (tests lower it) */
};

/* Calls fn whenever fd has any of events. */
int el_add(struct eventloop *el, int fd, short events, el_fn fn, void *opaque, struct err *e);

/* Stops watching fd (safe from inside a callback). */
void el_remove(struct eventloop *el, int fd);

/* Installs the one library hook. */
void el_set_hook(struct eventloop *el, el_prepare_fn prepare, el_dispatch_fn dispatch,
		 void *opaque);

/* From the prepare hook: polls fd for events this round. Returns its index among the hook's
 * descriptors, or -1 when the poll set is at its bound (or memory ran out). */
int el_poll_add(struct eventloop *el, int fd, short events);

/* How many more descriptors el_poll_add takes this round. */
unsigned el_poll_room(const struct eventloop *el);

/* Polls once (timeout_ms, -1 forever) and runs the callbacks that are due. */
void el_run_once(struct eventloop *el, int timeout_ms);

/* Frees the poll set (the loop may be used again; it allocates anew). */
void el_free(struct eventloop *el);

#endif
