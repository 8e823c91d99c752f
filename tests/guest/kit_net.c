/* virtio-net checks: DHCP from slirp, then TCP both ways (a tiny stack: ARP replies, IPv4,
 * UDP for DHCP, TCP with one segment in flight): out to a server the host test runs (through
 * slirp's NAT at 10.0.2.2) and in through a 127.0.0.1 host forward. */
#include "kit_virtio.h"

#define NRX 8
static uint8_t rxbuf[NRX][2048] __attribute__((aligned(64)));
static uint8_t txbuf[2048] __attribute__((aligned(64)));
static struct kv nv;
static uint8_t mac[6], gw_mac[6];
static uint32_t my_ip, gw_ip, dns_ip, srv_ip;

#define deadline kit_deadline

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void pbe16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void pbe32(uint8_t *p, uint32_t v)
{
	pbe16(p, (uint16_t)(v >> 16));
	pbe16(p + 2, (uint16_t)v);
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, unsigned len)
{
	for (unsigned i = 0; i + 1 < len; i += 2)
		s += be16(p + i);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void ip_str(char *b, uint32_t ip)
{
	for (int i = 3; i >= 0; i--) {
		unsigned v = (ip >> (8 * i)) & 0xff, n = 0;
		char t[4];
		do {
			t[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (n)
			*b++ = t[--n];
		*b++ = i ? '.' : 0;
	}
}

static void rx_post(uint16_t i)
{
	nv.q[0].desc[i] = (struct vdesc){(uint64_t)rxbuf[i], sizeof(rxbuf[i]), VD_WRITE, 0};
	kvq_add(&nv.q[0], i);
}

static bool eth_send(const uint8_t *dst, uint16_t type, unsigned len)
{
	uint8_t *f = txbuf + 12;
	uint64_t end = deadline(1000);
	uint16_t h;
	uint32_t l;

	memset(txbuf, 0, 12);
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	pbe16(f + 12, type);
	nv.q[1].desc[0] = (struct vdesc){(uint64_t)txbuf, 12 + 14 + len, 0, 0};
	kvq_add(&nv.q[1], 0);
	while (rdtsc() < end)
		if (kvq_used(&nv.q[1], &h, &l))
			return true;
	return false;
}

/* Builds an IPv4 header at p for payload bytes of proto. */
static void ip_hdr(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, unsigned payload)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	pbe16(p + 2, (uint16_t)(20 + payload));
	p[8] = 64;
	p[9] = proto;
	pbe32(p + 12, src);
	pbe32(p + 16, dst);
	pbe16(p + 10, csum_fold(csum_add(0, p, 20)));
}

static void arp_reply(const uint8_t *req)
{
	uint8_t *a = txbuf + 12 + 14;
	memcpy(a, req, 8);
	a[7] = 2; /* reply */
	memcpy(a + 8, mac, 6);
	pbe32(a + 14, my_ip);
	memcpy(a + 18, req + 8, 10);
	eth_send(req + 8, 0x0806, 28);
}

/* Receives frames until one is IPv4 of proto (ARP requests answered on the way); returns a
 * pointer to its IP header and keeps the buffer until rx_done. */
static uint16_t cur_rx = 0xffff;

static void rx_done(void)
{
	if (cur_rx != 0xffff)
		rx_post(cur_rx);
	cur_rx = 0xffff;
}

static const uint8_t *ip_recv(uint8_t proto, unsigned ms, const uint8_t **eth)
{
	uint64_t end = deadline(ms);
	uint16_t h;
	uint32_t l;

	rx_done();
	while (rdtsc() < end) {
		const uint8_t *f;
		if (!kvq_used(&nv.q[0], &h, &l))
			continue;
		f = rxbuf[h] + 12;
		if (l > 12 + 14 && be16(f + 12) == 0x0806 && be16(f + 20) == 1 && my_ip &&
		    be32(f + 38) == my_ip) {
			arp_reply(f + 14);
		} else if (l >= 12 + 14 + 20 && be16(f + 12) == 0x0800 && f[14 + 9] == proto) {
			cur_rx = h;
			*eth = f;
			return f + 14;
		}
		rx_post(h);
	}
	return NULL;
}

static bool dhcp_send(uint8_t type, uint32_t xid, uint32_t req_ip, uint32_t server)
{
	uint8_t *ip = txbuf + 12 + 14, *udp = ip + 20, *b = udp + 8, *o;
	const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	memset(b, 0, 300);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	pbe32(b + 4, xid);
	pbe16(b + 10, 0x8000);
	memcpy(b + 28, mac, 6);
	pbe32(b + 236, 0x63825363);
	o = b + 240;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (req_ip) {
		*o++ = 50, *o++ = 4;
		pbe32(o, req_ip);
		o += 4;
		*o++ = 54, *o++ = 4;
		pbe32(o, server);
		o += 4;
	}
	*o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;
	*o++ = 255;
	pbe16(udp, 68);
	pbe16(udp + 2, 67);
	pbe16(udp + 4, 8 + 300);
	pbe16(udp + 6, 0);
	ip_hdr(ip, 17, 0, 0xffffffffu, 8 + 300);
	return eth_send(bcast, 0x0800, 20 + 8 + 300);
}

/* Waits for a DHCP reply of type want; fills the addresses it carries. */
static bool dhcp_recv(uint8_t want, uint32_t xid, uint32_t *server)
{
	const uint8_t *ip, *eth;
	uint64_t end = deadline(3000);

	while (rdtsc() < end && (ip = ip_recv(17, 3000, &eth))) {
		const uint8_t *udp = ip + (ip[0] & 15) * 4, *b = udp + 8, *o = b + 240;
		uint8_t type = 0;
		if (be16(udp + 2) != 68 || be32(b + 4) != xid || b[0] != 2)
			continue;
		while (o < b + 548 && *o != 255) {
			if (*o == 0) {
				o++;
				continue;
			}
			if (o[0] == 53)
				type = o[2];
			if (o[0] == 54)
				*server = be32(o + 2);
			if (o[0] == 3)
				gw_ip = be32(o + 2);
			if (o[0] == 6)
				dns_ip = be32(o + 2);
			o += 2 + o[1];
		}
		if (type != want)
			continue;
		my_ip = be32(b + 16);
		memcpy(gw_mac, eth + 6, 6);
		return true;
	}
	return false;
}

static bool dhcp(void)
{
	uint32_t xid = 0x4b495431, server = 0, offered;
	char a[16], g[16], d[16];

	if (!dhcp_send(1, xid, 0, 0) || !dhcp_recv(2, xid, &server))
		return false;
	offered = my_ip;
	my_ip = 0;
	if (!dhcp_send(3, xid, offered, server) || !dhcp_recv(5, xid, &server))
		return false;
	ip_str(a, my_ip);
	ip_str(g, gw_ip);
	ip_str(d, dns_ip);
	kit_result(my_ip == offered, "net-dhcp", "ip=%s router=%s dns=%s", a, g, d);
	return true;
}

struct tcb {
	uint32_t peer;
	uint16_t lport, rport;
	uint32_t snd_nxt, rcv_nxt;
};

static bool tcp_send(struct tcb *t, uint8_t flags, const void *data, unsigned len)
{
	uint8_t *ip = txbuf + 12 + 14, *tcp = ip + 20, pseudo[12];
	uint32_t s;

	memset(tcp, 0, 20);
	pbe16(tcp, t->lport);
	pbe16(tcp + 2, t->rport);
	pbe32(tcp + 4, t->snd_nxt);
	pbe32(tcp + 8, t->rcv_nxt);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	pbe16(tcp + 14, 8192);
	memcpy(tcp + 20, data, len);
	pbe32(pseudo, my_ip);
	pbe32(pseudo + 4, t->peer);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pbe16(pseudo + 10, (uint16_t)(20 + len));
	s = csum_add(csum_add(0, pseudo, 12), tcp, 20 + len);
	pbe16(tcp + 16, csum_fold(s));
	ip_hdr(ip, 6, my_ip, t->peer, 20 + len);
	t->snd_nxt += len + ((flags & 0x03) ? 1 : 0); /* SYN and FIN take a sequence number */
	return eth_send(gw_mac, 0x0800, 20 + 20 + len);
}

/* Waits for a segment of connection t (any port when t->rport is 0); returns its TCP header,
 * payload in data and len. */
static const uint8_t *tcp_recv(struct tcb *t, unsigned ms, const uint8_t **data, unsigned *len)
{
	const uint8_t *ip, *eth;
	uint64_t end = deadline(ms);

	while (rdtsc() < end && (ip = ip_recv(6, ms, &eth))) {
		unsigned ihl = (ip[0] & 15) * 4, tot = be16(ip + 2);
		const uint8_t *tcp = ip + ihl;
		unsigned doff = (tcp[12] >> 4) * 4;
		if (be16(tcp + 2) != t->lport || (t->rport && be16(tcp) != t->rport))
			continue;
		*data = tcp + doff;
		*len = tot - ihl - doff;
		return tcp;
	}
	return NULL;
}

static void tcp_out(void)
{
	char buf[16];
	struct tcb t = {.lport = 40000, .snd_nxt = 0x1000};
	const uint8_t *seg, *data;
	unsigned len;
	char reply[64] = {0};
	static const char msg[] = "hello from the kit\n";

	if (!kit_arg("kit.netsrv", buf, sizeof(buf)))
		return;
	t.peer = gw_ip;
	t.rport = (uint16_t)kit_num(buf);
	tcp_send(&t, 0x02, NULL, 0); /* SYN */
	seg = tcp_recv(&t, 3000, &data, &len);
	if (!seg || (seg[13] & 0x12) != 0x12 || be32(seg + 8) != t.snd_nxt) {
		kit_result(false, "net-tcp-out", "no SYN-ACK from 10.0.2.2:%u", t.rport);
		return;
	}
	t.rcv_nxt = be32(seg + 4) + 1;
	tcp_send(&t, 0x10, NULL, 0);		  /* ACK */
	tcp_send(&t, 0x18, msg, sizeof(msg) - 1); /* PSH ACK */
	while ((seg = tcp_recv(&t, 3000, &data, &len)) && len == 0 && !(seg[13] & 1))
		;
	if (seg && len) {
		memcpy(reply, data, len < 63 ? len : 63);
		for (unsigned i = 0; reply[i]; i++)
			if (reply[i] == '\n')
				reply[i] = 0;
		t.rcv_nxt += len;
	}
	tcp_send(&t, 0x11, NULL, 0); /* FIN ACK */
	kit_result(seg && len > 0, "net-tcp-out", "reply=%s", reply);
	rx_done();
}

static void tcp_in(void)
{
	char buf[16];
	struct tcb t = {.snd_nxt = 0x9000};
	const uint8_t *seg, *data;
	unsigned len;
	char got[64] = {0};
	static const char banner[] = "kit says hi\n";

	if (!kit_arg("kit.netfwd", buf, sizeof(buf)))
		return;
	t.lport = (uint16_t)kit_num(buf);
	kit_printf("kit: listening on port %u\n", t.lport);
	seg = tcp_recv(&t, 20000, &data, &len);
	if (!seg || !(seg[13] & 0x02)) {
		kit_result(false, "net-tcp-in", "no SYN on port %u", t.lport);
		return;
	}
	t.rport = be16(seg);
	t.peer = be32(seg - 20 + 12);
	t.rcv_nxt = be32(seg + 4) + 1;
	tcp_send(&t, 0x12, NULL, 0); /* SYN ACK */
	seg = tcp_recv(&t, 3000, &data, &len);
	tcp_send(&t, 0x18, banner, sizeof(banner) - 1);
	while ((seg = tcp_recv(&t, 5000, &data, &len)) && len == 0 && !(seg[13] & 1))
		;
	if (seg && len) {
		memcpy(got, data, len < 63 ? len : 63);
		for (unsigned i = 0; got[i]; i++)
			if (got[i] == '\n')
				got[i] = 0;
		t.rcv_nxt += len;
		tcp_send(&t, 0x10, NULL, 0);
	}
	tcp_send(&t, 0x11, NULL, 0);
	kit_result(seg && len > 0, "net-tcp-in", "got=%s", got);
	rx_done();
}

void kit_net_checks(void)
{
	unsigned slot = kv_find(1, 0);

	if (slot == 0xff) {
		kit_result(false, "net", "no virtio-net device");
		return;
	}
	if (!kv_open(&nv, slot, VIRTIO_F_VERSION_1 | (1 << 5) | (1 << 16), 0, 2)) {
		kit_result(false, "net", "device setup failed");
		return;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = mmio_r8(nv.device + i);
	kit_result(mac[0] == 0x52 && mac[1] == 0x54 && (mmio_r16(nv.device + 6) & 1), "net-config",
		   "mac=%x:%x:%x:%x:%x:%x link up", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(i);
	if (!dhcp()) {
		kit_result(false, "net-dhcp", "no lease");
		return;
	}
	(void)srv_ip;
	tcp_out();
	tcp_in();
}
