/* User-mode networking on libslirp: DHCP, DNS and NAT for the guest (10.0.2.0/24, gateway
 * 10.0.2.2, DNS 10.0.2.3, guest 10.0.2.15) and TCP or UDP forwards from a host address
 * (127.0.0.1 unless the forward names another) to the guest.
 * Every call into libslirp happens with vm->lock held. */
#ifndef ENVUP_VMM_NET_SLIRP_H
#define ENVUP_VMM_NET_SLIRP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct eventloop;
struct net_slirp;

/* envup's machines have SSH plus up to 64 forwarded_ports; room to spare. */
#define NET_MAX_FWD 128

struct net_fwd {
	bool udp;
	struct sockaddr_storage host; /* address and port slirp listens on */
	socklen_t host_len;
	int host_port;
	int guest_port;
};

struct net_opts {
	struct net_fwd fwd[NET_MAX_FWD];
	unsigned nfwd;
};

/* Parses "user[,hostfwd=PROTO:[ADDR]:HOST-[10.0.2.15]:GUEST]...": PROTO tcp or udp, ADDR an
 * IPv4 address, an IPv6 one in brackets, or empty for 127.0.0.1. */
int net_parse(const char *arg, struct net_opts *o, struct err *e);

/* Frames for the guest go to deliver (called with vm->lock held). */
typedef void (*net_deliver_fn)(void *opaque, const uint8_t *frame, size_t len);

/* Starts slirp with o's forwards, polled by el. */
int net_slirp_new(struct vm *vm, struct eventloop *el, const struct net_opts *o,
		  net_deliver_fn deliver, void *opaque, struct net_slirp **out, struct err *e);

/* Hands a frame from the guest to slirp (vm->lock held). */
void net_slirp_input(struct net_slirp *ns, const uint8_t *frame, size_t len);

/* Stops slirp and frees everything. NULL is fine. */
void net_slirp_free(struct net_slirp *ns);

#endif
