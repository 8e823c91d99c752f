/* envvmm's user networking with the real libslirp and the real event loop: a guest that opens
 * many UDP flows gets every flow's answer, whether its sockets all fit the poll set (which grows
 * for them) or have to take turns (a lowered bound), and the crowding is logged once, not once
 * per round; --net's forwards as parsed, and a UDP forward on another loopback address. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/net_slirp.h"
#include "vmm/vm.h"

#define MAX_FLOWS 512
#define SPORT_BASE 20000

struct flows {
	unsigned answered;
	bool seen[MAX_FLOWS];
};

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* Records each UDP answer from 10.0.2.2 to a guest port of ours. */
static void deliver(void *opaque, const uint8_t *f, size_t len)
{
	struct flows *fl = opaque;
	unsigned port;

	if (len < 42 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17)
		return; /* not IPv4 UDP (the ARP reply) */
	port = (unsigned)f[36] << 8 | f[37];
	if (port >= SPORT_BASE && port < SPORT_BASE + MAX_FLOWS && !fl->seen[port - SPORT_BASE]) {
		fl->seen[port - SPORT_BASE] = true;
		fl->answered++;
	}
}

static uint16_t ip_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A 4-byte UDP datagram from 10.0.2.15:sport to 10.0.2.2:dport. */
static size_t udp_frame(uint8_t *f, uint16_t sport, uint16_t dport)
{
	static const uint8_t host_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t s;

	memset(f, 0, 46);
	memcpy(f, host_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 20 + 8 + 4; /* total length */
	ip[8] = 64;	    /* TTL */
	ip[9] = 17;	    /* UDP */
	memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 0, 2, 2}, 4);
	s = ip_sum(ip, 20);
	ip[10] = (uint8_t)(s >> 8);
	ip[11] = (uint8_t)s;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[5] = 8 + 4; /* length; checksum 0: none */
	memcpy(udp + 8, "ping", 4);
	return 46;
}

/* Sends the ARP request that tells slirp the guest's MAC. */
static void guest_arp(struct net_slirp *ns)
{
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
		10,   0,    2,	  15,	0,    0,    0,	  0,	0,    0,    10,	  0,	2,    2};

	net_slirp_input(ns, arp, sizeof(arp));
}

/* Answers each datagram where it came from: slirp sent each flow from its own host socket. */
static unsigned echo(int srv)
{
	struct sockaddr_in from;
	socklen_t sl = sizeof(from);
	unsigned k = 0;
	char buf[16];
	ssize_t n;

	while ((n = recvfrom(srv, buf, sizeof(buf), 0, (struct sockaddr *)&from, &sl)) >= 0) {
		assert_int_equal(sendto(srv, buf, (size_t)n, 0, (struct sockaddr *)&from, sl), n);
		sl = sizeof(from);
		k++;
	}
	return k;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens nflows UDP flows from the guest to a host server, which answers each; runs the event
 * loop (poll bound max_poll, 0: the default) until every answer reached the guest or 10 s
 * passed. Returns how many answers arrived; the log goes to the file *log_text reads back. */
static unsigned run_flows(unsigned nflows, unsigned max_poll, char *log_text, size_t log_size)
{
	static struct vm vm;
	static struct eventloop el;
	static struct flows fl;
	struct net_slirp *ns = NULL;
	struct net_opts o = {0};
	struct err e = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	char path[] = "/tmp/test-vmm-net-log.XXXXXX";
	int logfd = mkstemp(path), srv = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	unsigned echoed = 0;
	double deadline;
	ssize_t n;

	assert_true(logfd >= 0);
	assert_true(srv >= 0);
	assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(srv, (struct sockaddr *)&sa, &sl), 0);
	log_setup(logfd, LOG_INFO);
	vm_init(&vm);
	memset(&el, 0, sizeof(el));
	memset(&fl, 0, sizeof(fl));
	el.max_poll = max_poll;
	assert_int_equal(net_slirp_new(&vm, &el, &o, deliver, &fl, &ns, &e), 0);
	guest_arp(ns);
	for (unsigned i = 0; i < nflows; i++) {
		uint8_t f[64];
		size_t len = udp_frame(f, (uint16_t)(SPORT_BASE + i), ntohs(sa.sin_port));
		pthread_mutex_lock(&vm.lock);
		net_slirp_input(ns, f, len);
		pthread_mutex_unlock(&vm.lock);
		echoed += echo(srv); /* as it goes, or the server's receive buffer overflows */
	}
	deadline = now_s() + 10;
	while (fl.answered < nflows && now_s() < deadline)
		el_run_once(&el, 20);
	assert_int_equal(echoed, nflows);
	/* A few more rounds: an episode of crowding is not logged again. */
	for (int i = 0; i < 20; i++)
		el_run_once(&el, 0);
	log_setup(2, LOG_ERROR);
	n = pread(logfd, log_text, log_size - 1, 0);
	log_text[n > 0 ? n : 0] = 0;
	net_slirp_free(ns);
	el_free(&el);
	vm_destroy(&vm);
	close(srv);
	close(logfd);
	unlink(path);
	return fl.answered;
}

static unsigned count(const char *text, const char *what)
{
	unsigned k = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		k++;
	return k;
}

/* More flows than the poll set held once (256): the set grows, every socket is polled. */
static void test_net_many_flows_all_polled(void **state)
{
	static char log_text[1 << 16];

	assert_int_equal(run_flows(400, 0, log_text, sizeof(log_text)), 400);
	assert_int_equal(count(log_text, "take turns"), 0);
}

/* Past the bound the sockets take turns, so none starves, and the log says so once. */
static void test_net_flows_take_turns(void **state)
{
	static char log_text[1 << 16];

	assert_int_equal(run_flows(200, 32, log_text, sizeof(log_text)), 200);
	assert_int_equal(count(log_text, "take turns"), 1);
}

/* Forwards as --net writes them: tcp and udp, an address or none (127.0.0.1), [IPv6], the
 * guest's address spelled out; anything else refused naming the entry. */
static void test_net_parse_forwards(void **state)
{
	struct net_opts o;
	struct err e = {0};
	const struct sockaddr_in *s4;
	char *many = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(net_parse("user,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.2:53-10.0.2.15:"
				   "5353,hostfwd=tcp:[::1]:8080-:80,hostfwd=tcp:0.0.0.0:1-:2",
				   &o, &e),
			 0);
	assert_int_equal(o.nfwd, 4);
	s4 = (const struct sockaddr_in *)&o.fwd[0].host;
	assert_false(o.fwd[0].udp);
	assert_int_equal(s4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(ntohs(s4->sin_port), 2222);
	assert_int_equal(o.fwd[0].guest_port, 22);
	s4 = (const struct sockaddr_in *)&o.fwd[1].host;
	assert_true(o.fwd[1].udp);
	assert_int_equal(s4->sin_addr.s_addr, htonl(0x7f000002));
	assert_int_equal(o.fwd[1].guest_port, 5353);
	assert_int_equal(o.fwd[2].host.ss_family, AF_INET6);
	assert_int_equal(o.fwd[2].host_len, sizeof(struct sockaddr_in6));
	assert_int_equal(((const struct sockaddr_in *)&o.fwd[3].host)->sin_addr.s_addr, 0);
	assert_int_equal(net_parse("user,hostfwd=tcp:localhost:1-:2", &o, &e), -1);
	assert_non_null(strstr(e.msg, "'localhost' is no IPv4 address"));
	assert_int_equal(net_parse("user,hostfwd=udp:[::x]:1-:2", &o, &e), -1);
	assert_non_null(strstr(e.msg, "is no IPv6 address"));
	assert_int_equal(net_parse("user,hostfwd=tcp::0-:2", &o, &e), -1);
	assert_int_equal(net_parse("user,hostfwd=tcp::1-:65536", &o, &e), -1);
	assert_int_equal(net_parse("user,hostfwd=tcp::1-10.0.2.16:2", &o, &e), -1);
	assert_int_equal(net_parse("user,hostfwd=tcp::1-:2x", &o, &e), -1);
	assert_non_null(strstr(e.msg, "cannot read 'hostfwd=tcp::1-:2x'"));
	f = open_memstream(&many, &len);
	fputs("user", f);
	for (int i = 1; i <= NET_MAX_FWD; i++)
		fprintf(f, ",hostfwd=tcp::%d-:%d", 10000 + i, i);
	fclose(f);
	assert_int_equal(net_parse(many, &o, &e), 0);
	assert_int_equal(o.nfwd, NET_MAX_FWD);
	free(many);
}

struct udp_in {
	unsigned frames;
	uint16_t guest_port, from_port;
	uint8_t from_ip[4];
	char payload[8];
};

/* Records a UDP datagram to the guest (10.0.2.15). */
static void deliver_udp_in(void *opaque, const uint8_t *f, size_t len)
{
	struct udp_in *u = opaque;

	if (len < 46 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17 ||
	    memcmp(f + 30, (uint8_t[]){10, 0, 2, 15}, 4))
		return;
	u->frames++;
	u->guest_port = (uint16_t)(f[36] << 8 | f[37]);
	u->from_port = (uint16_t)(f[34] << 8 | f[35]);
	memcpy(u->from_ip, f + 26, 4);
	memcpy(u->payload, f + 42, 4);
}

/* A UDP forward on 127.0.0.2: a datagram sent there reaches the guest's port, and the
 * guest's answer reaches the sender. */
static void test_net_udp_forward_on_its_address(void **state)
{
	static struct vm vm;
	static struct eventloop el;
	static struct udp_in u;
	struct net_slirp *ns = NULL;
	struct net_opts o;
	struct err e = {0};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
	socklen_t sl = sizeof(to);
	int probe = socket(AF_INET, SOCK_DGRAM, 0), cl = socket(AF_INET, SOCK_DGRAM, 0);
	char arg[96];
	double deadline;

	/* a free port on 127.0.0.2 */
	assert_int_equal(bind(probe, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&to, &sl), 0);
	close(probe);
	snprintf(arg, sizeof(arg), "user,hostfwd=udp:127.0.0.2:%d-:5353", ntohs(to.sin_port));
	assert_int_equal(net_parse(arg, &o, &e), 0);
	vm_init(&vm);
	memset(&el, 0, sizeof(el));
	memset(&u, 0, sizeof(u));
	assert_int_equal(net_slirp_new(&vm, &el, &o, deliver_udp_in, &u, &ns, &e), 0);
	guest_arp(ns);
	assert_int_equal(sendto(cl, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	deadline = now_s() + 10;
	while (!u.frames && now_s() < deadline)
		el_run_once(&el, 20);
	assert_int_equal(u.frames, 1);
	assert_int_equal(u.guest_port, 5353);
	assert_memory_equal(u.payload, "ping", 4);
	/* the answer, from the guest's port to where the datagram came from (10.0.2.2) */
	{
		uint8_t f[64];
		char got[8] = "";
		size_t len = udp_frame(f, 5353, u.from_port);
		struct timeval tv = {.tv_sec = 0, .tv_usec = 20000};

		assert_memory_equal(u.from_ip, ((uint8_t[]){10, 0, 2, 2}), 4);
		setsockopt(cl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		pthread_mutex_lock(&vm.lock);
		net_slirp_input(ns, f, len);
		pthread_mutex_unlock(&vm.lock);
		deadline = now_s() + 10;
		while (recv(cl, got, sizeof(got), 0) != 4 && now_s() < deadline)
			el_run_once(&el, 20);
		assert_memory_equal(got, "ping", 4);
	}
	net_slirp_free(ns);
	el_free(&el);
	vm_destroy(&vm);
	close(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_parse_forwards),
		cmocka_unit_test(test_net_udp_forward_on_its_address),
		cmocka_unit_test(test_net_many_flows_all_polled),
		cmocka_unit_test(test_net_flows_take_turns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
