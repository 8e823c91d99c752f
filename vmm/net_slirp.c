#include "vmm/net_slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/strutil.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* How long sockets that sat a round out wait at most for their turn. */
#define NET_TURN_MS 10

struct slirp_timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct slirp_timer *next;
};

struct net_slirp {
	struct vm *vm;
	struct eventloop *el;
	Slirp *slirp;
	int wake_fd;
	net_deliver_fn deliver;
	void *opaque;
	struct slirp_timer *timers;
	/* Set while the event loop prepares a poll or dispatches its results. */
	struct eventloop *round;
	struct pollfd *pfd;
	/* When slirp has more sockets than the poll set takes, they take turns: a round skips
	 * the first `skip` that slirp lists and polls the next ones that fit. */
	unsigned listed, taken, skip;
	bool overflow, crowded; /* crowded: sockets are taking turns (logged once per episode) */
};

int net_parse(const char *arg, struct net_opts *o, struct err *e)
{
	const char *p;

	memset(o, 0, sizeof(*o));
	if (strncmp(arg, "user", 4) != 0 || (arg[4] && arg[4] != ','))
		return err_set(e, ERR_USAGE, "--net %s: only 'user' networking is supported", arg);
	p = arg + 4;
	while (*p == ',') {
		char addr[32] = "";
		int hp = -1, gp = -1, used = 0;
		p++;
		if (o->nfwd == NET_MAX_FWD)
			return err_set(e, ERR_USAGE, "--net: at most %d forwards", NET_MAX_FWD);
		/* hostfwd=tcp:[127.0.0.1]:HOST-[10.0.2.15]:GUEST */
		if (sscanf(p, "hostfwd=tcp:%31[0-9.]:%d-:%d%n", addr, &hp, &gp, &used) != 3 &&
		    sscanf(p, "hostfwd=tcp::%d-:%d%n", &hp, &gp, &used) != 2 &&
		    sscanf(p, "hostfwd=tcp:%31[0-9.]:%d-10.0.2.15:%d%n", addr, &hp, &gp, &used) !=
			    3)
			return err_set(
				e, ERR_USAGE,
				"--net: cannot read '%s' (want hostfwd=tcp:127.0.0.1:HOST-:GUEST)",
				p);
		if (addr[0] && strcmp(addr, "127.0.0.1") != 0)
			return err_set(e, ERR_USAGE,
				       "--net: forwards listen on 127.0.0.1 only, not %s", addr);
		if (hp < 1 || hp > 65535 || gp < 1 || gp > 65535)
			return err_set(e, ERR_USAGE, "--net: port out of range in '%s'", p);
		o->fwd[o->nfwd++] = (struct net_fwd){hp, gp};
		p += used;
	}
	if (*p)
		return err_set(e, ERR_USAGE, "--net: unexpected '%s'", p);
	return 0;
}

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *ns = opaque;

	ns->deliver(ns->opaque, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	log_guest("net: guest error: %s", msg);
}

static int64_t cb_clock_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_slirp *ns = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t) {
		log_msg(LOG_ERROR, "net: out of memory for a timer");
		return NULL;
	}
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = ns->timers;
	ns->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net_slirp *ns = opaque;

	for (struct slirp_timer **pp = &ns->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;

	if (t)
		t->expire_ms = expire_ms;
}

static void net_wake(struct net_slirp *ns)
{
	uint64_t one = 1;

	if (write(ns->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_msg(LOG_WARN, "net: wake: %s", strerror(errno));
}

static void cb_register_fd(int fd, void *opaque)
{
	net_wake(opaque); /* the poll set changes on the next round */
}

static void cb_unregister_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
	net_wake(opaque);
}

static int add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *ns = opaque;
	short ev = 0;
	int idx;

	if (ns->listed++ < ns->skip)
		return -1; /* had its turn in an earlier round; the later ones go first */
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	idx = el_poll_add(ns->round, fd, ev);
	if (idx < 0)
		ns->overflow = true;
	else
		ns->taken++;
	return idx;
}

static int get_revents(int idx, void *opaque)
{
	struct net_slirp *ns = opaque;
	short r;
	int ev = 0;

	if (idx < 0)
		return 0;
	r = ns->pfd[idx].revents;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

static void net_prepare(void *opaque, struct eventloop *el, int *timeout_ms)
{
	struct net_slirp *ns = opaque;
	uint32_t t = UINT32_MAX;
	int64_t now = cb_clock_ns(NULL) / 1000000;
	unsigned room = el_poll_room(el);

	pthread_mutex_lock(&ns->vm->lock);
	ns->round = el;
	ns->listed = ns->taken = 0;
	ns->overflow = false;
	slirp_pollfds_fill(ns->slirp, &t, add_poll, ns);
	for (struct slirp_timer *tm = ns->timers; tm; tm = tm->next) {
		if (tm->expire_ms >= 0) {
			int64_t d = tm->expire_ms - now;
			if (d < 0)
				d = 0;
			if ((uint64_t)d < t)
				t = (uint32_t)d;
		}
	}
	pthread_mutex_unlock(&ns->vm->lock);
	if (ns->overflow || ns->skip) {
		/* Some sockets sat this round out: their turn comes in a short while, whatever
		 * happens on the others. Past the end of slirp's list, turns start over. */
		if (!ns->crowded)
			log_guest("net: the guest has more sockets open than the %u that fit the "
				  "poll set; they take turns",
				  room);
		ns->crowded = true;
		ns->skip = ns->overflow ? ns->skip + ns->taken : 0;
		if (t > NET_TURN_MS)
			t = NET_TURN_MS;
	} else {
		ns->crowded = false;
	}
	if (t != UINT32_MAX && (*timeout_ms < 0 || t < (uint32_t)*timeout_ms))
		*timeout_ms = (int)(t > 1000 ? 1000 : t);
}

static void net_dispatch(void *opaque, struct pollfd *pfd, unsigned n, bool ok)
{
	struct net_slirp *ns = opaque;
	int64_t now = cb_clock_ns(NULL) / 1000000;
	bool again = true;

	pthread_mutex_lock(&ns->vm->lock);
	ns->pfd = pfd;
	slirp_pollfds_poll(ns->slirp, !ok, get_revents, ns);
	/* A timer callback may free or add timers: restart the walk after each one. */
	while (again) {
		again = false;
		for (struct slirp_timer *tm = ns->timers; tm; tm = tm->next) {
			if (tm->expire_ms >= 0 && tm->expire_ms <= now) {
				tm->expire_ms = -1;
				slirp_handle_timer(ns->slirp, tm->id, tm->cb_opaque);
				again = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ns->vm->lock);
}

static void on_wake(void *opaque, short revents)
{
	struct net_slirp *ns = opaque;
	uint64_t v;

	if (read(ns->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_msg(LOG_WARN, "net: wake read: %s", strerror(errno));
}

static const SlirpCb slirp_cbs = {
	.send_packet = cb_send,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_fd,
	.unregister_poll_fd = cb_unregister_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

int net_slirp_new(struct vm *vm, struct eventloop *el, const struct net_opts *o,
		  net_deliver_fn deliver, void *opaque, struct net_slirp **out, struct err *e)
{
	struct net_slirp *ns = calloc(1, sizeof(*ns));
	SlirpConfig cfg = {.version = 4, .in_enabled = true};
	struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)}, guest;

	if (!ns)
		return err_set(e, ERR_FAIL, "net: out of memory");
	ns->vm = vm;
	ns->el = el;
	ns->deliver = deliver;
	ns->opaque = opaque;
	ns->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ns->wake_fd < 0) {
		free(ns);
		return err_sys(e, "net: eventfd");
	}
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	inet_pton(AF_INET, "10.0.2.15", &guest);
	cfg.vhostname = "envvmm";
	cfg.if_mtu = 1500;
	cfg.if_mru = 1500;
	ns->slirp = slirp_new(&cfg, &slirp_cbs, ns);
	if (!ns->slirp) {
		net_slirp_free(ns);
		return err_set(e, ERR_NET, "net: libslirp failed to start");
	}
	for (unsigned i = 0; i < o->nfwd; i++) {
		if (slirp_add_hostfwd(ns->slirp, 0, lo, o->fwd[i].host_port, guest,
				      o->fwd[i].guest_port) < 0) {
			err_set(e, ERR_NET, "--net: cannot listen on 127.0.0.1:%d (in use?)",
				o->fwd[i].host_port);
			net_slirp_free(ns);
			return -1;
		}
		log_msg(LOG_INFO, "net: 127.0.0.1:%d -> guest port %d", o->fwd[i].host_port,
			o->fwd[i].guest_port);
	}
	if (el_add(el, ns->wake_fd, POLLIN, on_wake, ns, e) < 0) {
		net_slirp_free(ns);
		return -1;
	}
	el_set_hook(el, net_prepare, net_dispatch, ns);
	*out = ns;
	return 0;
}

void net_slirp_input(struct net_slirp *ns, const uint8_t *frame, size_t len)
{
	slirp_input(ns->slirp, frame, (int)len);
	net_wake(ns); /* new connections may need polling */
}

void net_slirp_free(struct net_slirp *ns)
{
	if (!ns)
		return;
	if (ns->slirp)
		slirp_cleanup(ns->slirp);
	while (ns->timers) {
		struct slirp_timer *t = ns->timers;
		ns->timers = t->next;
		free(t);
	}
	if (ns->wake_fd >= 0)
		close(ns->wake_fd);
	free(ns);
}
