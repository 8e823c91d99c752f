#include "vmm/eventloop.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"

int el_add(struct eventloop *el, int fd, short events, el_fn fn, void *opaque, struct err *e)
{
	if (el->n == EL_MAX_WATCH)
		return err_set(e, ERR_FAIL, "event loop: more than %d descriptors", EL_MAX_WATCH);
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

void el_run_once(struct eventloop *el, int timeout_ms)
{
	unsigned n = 0, nw, j = 0;
	int r;

	for (unsigned i = 0; i < el->n; i++) {
		if (el->w[i].fd >= 0)
			el->w[j++] = el->w[i];
	}
	el->n = nw = j;
	for (unsigned i = 0; i < nw; i++)
		el->pfd[n++] = (struct pollfd){.fd = el->w[i].fd, .events = el->w[i].events};
	if (el->prepare)
		el->prepare(el->hook_opaque, el->pfd, &n, EL_MAX_POLL, &timeout_ms);
	r = poll(el->pfd, n, timeout_ms);
	if (r < 0 && errno != EINTR)
		log_msg(LOG_WARN, "poll: %s", strerror(errno));
	if (el->dispatch)
		el->dispatch(el->hook_opaque, el->pfd + nw, n - nw, r >= 0);
	if (r <= 0)
		return;
	for (unsigned i = 0; i < nw; i++) {
		/* A callback may have removed a later watch: check its fd still matches. */
		if (el->pfd[i].revents && el->w[i].fd == el->pfd[i].fd)
			el->w[i].fn(el->w[i].opaque, el->pfd[i].revents);
	}
}
