/* A machine that exists already (a server, a container with sshd, a VM made elsewhere). The
 * machine itself is never touched: only what envup records about it changes. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "providers/static.h"

static void say(const struct provider_ctx *c, const char *msg)
{
	if (c->log.info)
		c->log.info(c->log.ctx, msg);
}

/* One TCP connection attempt of at most timeout_ms; 0 when something listens. */
static int tcp_try(const char *host, int port, int timeout_ms, char *why, size_t wlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	char ports[16];
	int r, rc = -1;

	snprintf(ports, sizeof(ports), "%d", port);
	r = getaddrinfo(host, ports, &hints, &res);
	if (r) {
		snprintf(why, wlen, "cannot resolve %s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && rc < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd pfd;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = 0;
		} else if (errno == EINPROGRESS) {
			pfd = (struct pollfd){fd, POLLOUT, 0};
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && !soerr)
				rc = 0;
			else
				snprintf(why, wlen, "%s", soerr ? strerror(soerr) : "no answer");
		} else {
			snprintf(why, wlen, "%s", strerror(errno));
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

static int static_up(const struct provider_ctx *c, struct err *e)
{
	const struct static_host *h = &c->m->static_host;
	int timeout = c->m->boot_timeout > 0 ? c->m->boot_timeout : 300;
	time_t deadline = time(NULL) + timeout;
	char why[256] = "", last[256] = "", msg[400];

	if (!h->host || !*h->host)
		return err_set(e, ERR_USAGE, "machine '%s': provider static needs static.host",
			       c->m->name);
	while (tcp_try(h->host, h->port, 2000, why, sizeof(why)) < 0) {
		if (time(NULL) >= deadline)
			return err_set(e, ERR_TIMEOUT,
				       "machine '%s': %s:%d did not answer within %d s (%s)",
				       c->m->name, h->host, h->port, timeout, why);
		if (strcmp(why, last)) {
			snprintf(last, sizeof(last), "%s", why);
			snprintf(msg, sizeof(msg), "waiting for %s:%d to answer (%s)", h->host,
				 h->port, why);
			say(c, msg);
		}
		usleep(300 * 1000);
	}
	return provider_record_state(c, "static", MACHINE_RUNNING, e);
}

static int static_halt(const struct provider_ctx *c, bool force, struct err *e)
{
	enum machine_status s;

	if (provider_recorded_state(c, &s, e) < 0)
		return -1;
	if (s == MACHINE_NOT_CREATED)
		return 0;
	return provider_record_state(c, "static", MACHINE_HALTED, e);
}

static int static_destroy(const struct provider_ctx *c, struct err *e)
{
	return 0; /* the machine is not ours; the caller forgets keys and state */
}

static int static_state(const struct provider_ctx *c, enum machine_status *out, struct err *e)
{
	return provider_recorded_state(c, out, e);
}

static int static_ssh_info(const struct provider_ctx *c, struct provider_ssh_info *out,
			   struct err *e)
{
	const struct static_host *h = &c->m->static_host;

	if (!h->host || strlen(h->host) >= sizeof(out->host))
		return err_set(e, ERR_USAGE, "machine '%s': static.host is missing or too long",
			       c->m->name);
	snprintf(out->host, sizeof(out->host), "%s", h->host);
	out->port = h->port > 0 ? h->port : 22;
	return 0;
}

const struct provider provider_static = {
	.name = "static",
	.caps = 0,
	.state = static_state,
	.ssh_info = static_ssh_info,
};

/* static's operations need nothing heavy, so they live here with its state. */
const struct provider_ops provider_static_ops = {
	.up = static_up,
	.halt = static_halt,
	.destroy = static_destroy,
};
