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

/* A port number of 1..65535 at *p (advancing it); -1 when there is none. */
static int parse_port(const char **p)
{
	long v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 6) {
		v = v * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	return digits && v >= 1 && v <= 65535 ? (int)v : -1;
}

/* One "hostfwd=PROTO:[ADDR]:HOST-[10.0.2.15]:GUEST" at p; *used: its length. */
static int parse_fwd(const char *p, struct net_fwd *f, size_t *used, struct err *e)
{
	const char *q = p, *a, *aend;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t len = strcspn(p, ",");
	bool v6 = false;

	memset(f, 0, sizeof(*f));
	if (str_starts_with(q, "hostfwd=tcp:"))
		f->udp = false;
	else if (str_starts_with(q, "hostfwd=udp:"))
		f->udp = true;
	else
		goto bad;
	q += strlen("hostfwd=tcp:");
	if (*q == '[') {
		a = ++q;
		aend = strchr(q, ']');
		if (!aend || aend[1] != ':')
			goto bad;
		q = aend + 2;
		v6 = true;
	} else {
		a = q;
		aend = q + strcspn(q, ":,");
		if (*aend != ':')
			goto bad;
		q = aend + 1;
	}
	if ((size_t)(aend - a) >= sizeof(addr))
		goto bad;
	memcpy(addr, a, (size_t)(aend - a));
	addr[aend - a] = 0;
	f->host_port = parse_port(&q);
	if (f->host_port < 0 || *q++ != '-')
		goto bad;
	/* the guest side: the guest's address (or nothing) and its port */
	if (str_starts_with(q, "10.0.2.15:"))
		q += strlen("10.0.2.15:");
	else if (*q++ != ':')
		goto bad;
	f->guest_port = parse_port(&q);
	if (f->guest_port < 0 || (*q && *q != ','))
		goto bad;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&f->host;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)f->host_port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return err_set(e, ERR_USAGE, "--net: '%.*s': '%s' is no IPv6 address",
				       (int)len, p, addr);
		f->host_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&f->host;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)f->host_port);
		/* no address: loopback, never every interface by default */
		if (inet_pton(AF_INET, addr[0] ? addr : "127.0.0.1", &s4->sin_addr) != 1)
			return err_set(e, ERR_USAGE, "--net: '%.*s': '%s' is no IPv4 address",
				       (int)len, p, addr);
		f->host_len = sizeof(*s4);
	}
	*used = (size_t)(q - p);
	return 0;
bad:
	return err_set(
		e, ERR_USAGE,
		"--net: cannot read '%.*s' (want hostfwd=tcp|udp:[ADDR]:HOSTPORT-:GUESTPORT, "
		"ADDR an IPv4 address, [IPv6] or empty for 127.0.0.1)",
		(int)len, p);
}

int net_parse(const char *arg, struct net_opts *o, struct err *e)
{
	const char *p;

	memset(o, 0, sizeof(*o));
	if (strncmp(arg, "user", 4) != 0 || (arg[4] && arg[4] != ','))
		return err_set(e, ERR_USAGE, "--net %s: only 'user' networking is supported", arg);
	p = arg + 4;
	while (*p == ',') {
		size_t used = 0;

		p++;
		if (o->nfwd == NET_MAX_FWD)
			return err_set(e, ERR_USAGE, "--net: at most %d forwards", NET_MAX_FWD);
		if (parse_fwd(p, &o->fwd[o->nfwd], &used, e) < 0)
			return -1;
		o->nfwd++;
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

/* "ADDR:PORT" or "[ADDR]:PORT" of a forward's host side, for messages. */
static void fwd_host_name(const struct net_fwd *f, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (f->host.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&f->host)->sin6_addr, a,
			  sizeof(a));
		snprintf(out, len, "[%s]:%d", a, f->host_port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&f->host)->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%d", a, f->host_port);
	}
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
	struct in_addr guest;

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
		const struct net_fwd *f = &o->fwd[i];
		struct sockaddr_in g = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)f->guest_port),
					.sin_addr = guest};
		char where[INET6_ADDRSTRLEN + 8];

		fwd_host_name(f, where, sizeof(where));
		if (slirp_add_hostxfwd(ns->slirp, (const struct sockaddr *)&f->host, f->host_len,
				       (const struct sockaddr *)&g, sizeof(g),
				       f->udp ? SLIRP_HOSTFWD_UDP : 0) < 0) {
			err_set(e, ERR_NET, "--net: cannot listen on %s/%s (in use?)", where,
				f->udp ? "udp" : "tcp");
			net_slirp_free(ns);
			return -1;
		}
		log_msg(LOG_INFO, "net: %s/%s -> guest port %d", where, f->udp ? "udp" : "tcp",
			f->guest_port);
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
