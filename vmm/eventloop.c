#include "vmm/eventloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/log.h"

static unsigned el_max(const struct eventloop *el)
{
	return el->max_poll ? el->max_poll : EL_MAX_POLL;
}

/* Makes room for want entries in pfd; false when out of memory. */
static bool el_reserve(struct eventloop *el, unsigned want)
{
	struct pollfd *p;
	unsigned cap = el->cap ? el->cap : 2 * EL_MAX_WATCH;

	if (want <= el->cap)
		return true;
	while (cap < want)
		cap *= 2;
	p = realloc(el->pfd, cap * sizeof(*p));
	if (!p)
		return false;
	el->pfd = p;
	el->cap = cap;
	return true;
}

int el_add(struct eventloop *el, int fd, short events, el_fn fn, void *opaque, struct err *e)
{
	if (el->n == EL_MAX_WATCH)
		return err_set(e, ERR_FAIL, "event loop: more than %d descriptors", EL_MAX_WATCH);
	/* The watches always fit: el_run_once needs no allocation for them. */
	if (!el_reserve(el, el->n + 1))
		return err_set(e, ERR_FAIL, "event loop: out of memory");
	el->w[el->n++] = (struct el_watch){fd, events, fn, opaque};
	return 0;
}

void el_remove(struct eventloop *el, int fd)
{
	for (unsigned i = 0; i < el->n; i++) {
		if (el->w[i].fd == fd)
			el->w[i].fd = -1; /* compacted at the next el_run_once */
	}
}

void el_set_hook(struct eventloop *el, el_prepare_fn prepare, el_dispatch_fn dispatch, void *opaque)
{
	el->prepare = prepare;
	el->dispatch = dispatch;
	el->hook_opaque = opaque;
}

unsigned el_poll_room(const struct eventloop *el)
{
	return el->npoll < el_max(el) ? el_max(el) - el->npoll : 0;
}

int el_poll_add(struct eventloop *el, int fd, short events)
{
	if (!el_poll_room(el) || !el_reserve(el, el->npoll + 1))
		return -1;
	el->pfd[el->npoll] = (struct pollfd){.fd = fd, .events = events};
	return (int)(el->npoll++ - el->nwatch);
}

void el_run_once(struct eventloop *el, int timeout_ms)
{
	unsigned nw, j = 0;
	int r;

	for (unsigned i = 0; i < el->n; i++) {
		if (el->w[i].fd >= 0)
			el->w[j++] = el->w[i];
	}
	el->n = nw = j;
	el->npoll = 0;
	for (unsigned i = 0; i < nw; i++)
		el->pfd[el->npoll++] =
			(struct pollfd){.fd = el->w[i].fd, .events = el->w[i].events};
	el->nwatch = nw;
	if (el->prepare)
		el->prepare(el->hook_opaque, el, &timeout_ms);
	r = poll(el->pfd, el->npoll, timeout_ms);
	if (r < 0 && errno != EINTR)
		log_msg(LOG_WARN, "poll: %s", strerror(errno));
	if (el->dispatch)
		el->dispatch(el->hook_opaque, el->pfd + nw, el->npoll - nw, r >= 0);
	if (r <= 0)
		return;
	for (unsigned i = 0; i < nw; i++) {
		/* A callback may have removed a later watch: check its fd still matches. */
		if (el->pfd[i].revents && el->w[i].fd == el->pfd[i].fd)
			el->w[i].fn(el->w[i].opaque, el->pfd[i].revents);
	}
}

void el_free(struct eventloop *el)
{
	free(el->pfd);
	el->pfd = NULL;
	el->cap = el->npoll = 0;
}
