/* PCI enumeration and BAR sizing through configuration mechanism #1, and a minimal polling
 * virtio 1.x driver (modern capabilities, split queue, MSI-X checked through the LAPIC IRR). */
#include "kit_virtio.h"

uint32_t pci_rd32(unsigned slot, unsigned off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	return inl(0xcfc);
}

void pci_wr32(unsigned slot, unsigned off, uint32_t v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outl(0xcfc, v);
}

void pci_wr16(unsigned slot, unsigned off, uint16_t v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outw((uint16_t)(0xcfc + (off & 2)), v);
}

/* Reads virtio-rng's common configuration through its VIRTIO_PCI_CAP_PCI_CFG window. */
static void kit_cfg_window(void)
{
	unsigned slot = kv_find(4, 0), cap = 0;
	uint32_t nq, feat;

	if (slot == 0xff)
		return;
	for (unsigned o = pci_rd32(slot, 0x34) & 0xff; o; o = (pci_rd32(slot, o) >> 8) & 0xff)
		if ((pci_rd32(slot, o) & 0xff) == 0x09 && (pci_rd32(slot, o) >> 24) == 5)
			cap = o;
	if (!cap) {
		kit_result(false, "pci-cfg-window", "no VIRTIO_PCI_CAP_PCI_CFG");
		return;
	}
	pci_wr32(slot, cap + 4, 0);    /* BAR 0 */
	pci_wr32(slot, cap + 8, 0x12); /* num_queues */
	pci_wr32(slot, cap + 12, 2);
	nq = pci_rd32(slot, cap + 16) & 0xffff;
	pci_wr32(slot, cap + 8, 0x04); /* device_feature (select 0) */
	pci_wr32(slot, cap + 12, 4);
	feat = pci_rd32(slot, cap + 16);
	kit_result(nq == 1 && (feat & 0x30000000u) == 0x30000000u, "pci-cfg-window",
		   "num_queues=%u features=%x", nq, feat);
}

void kit_pci_checks(void)
{
	char buf[16];
	unsigned n = 0,
		 want = kit_arg("kit.pcidevs", buf, sizeof(buf)) ? (unsigned)kit_num(buf) : 0;
	bool bar_ok = true, sized = false;

	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = pci_rd32(s, 0), cls = pci_rd32(s, 8);
		if ((id & 0xffff) == 0xffff)
			continue;
		n++;
		kit_printf("kit: pci 00:%x.0 %x:%x class %x\n", s, id & 0xffff, id >> 16, cls >> 8);
		if ((id & 0xffff) == 0x1af4 && !sized) {
			/* Size BAR0 the way firmware does: all ones, read back, restore. */
			uint32_t old = pci_rd32(s, 0x10), size;
			pci_wr32(s, 0x10, 0xffffffff);
			size = ~(pci_rd32(s, 0x10) & ~0xfu) + 1;
			pci_wr32(s, 0x10, old);
			bar_ok = size == 0x8000 && pci_rd32(s, 0x10) == old && old >= 0xe0000000u;
			kit_result(bar_ok, "pci-bar", "slot=%u bar0=%x size=%x", s, old, size);
			sized = true;
		}
	}
	kit_result(n == want && n >= 1, "pci-enum", "devices=%u want=%u", n, want);
	kit_cfg_window();
}

/* Finds the index-th (from 0) virtio device of type dev_id; 0xff when none. */
unsigned kv_find(unsigned dev_id, unsigned index)
{
	for (unsigned s = 0; s < 32; s++) {
		if (pci_rd32(s, 0) == (0x1af4u | (0x1040u + dev_id) << 16) && index-- == 0)
			return s;
	}
	return 0xff;
}

static uint8_t rings[8][4096] __attribute__((aligned(4096)));
static unsigned rings_used;

bool kv_open(struct kv *v, unsigned slot, uint64_t want, unsigned vector, unsigned nq)
{
	uint64_t bar = pci_rd32(slot, 0x10) & ~0xfULL;
	uint32_t lo, hi;

	memset(v, 0, sizeof(*v));
	v->slot = slot;
	pci_wr32(slot, 0x04, pci_rd32(slot, 0x04) | 0x6); /* memory, bus master */
	for (unsigned o = pci_rd32(slot, 0x34) & 0xff; o; o = (pci_rd32(slot, o) >> 8) & 0xff) {
		uint32_t w0 = pci_rd32(slot, o);
		if ((w0 & 0xff) == 0x09) {
			uint64_t a = bar + pci_rd32(slot, o + 8);
			switch ((w0 >> 24) & 0xff) {
			case 1: v->common = a; break;
			case 2:
				v->notify = a;
				v->notify_mult = pci_rd32(slot, o + 16);
				break;
			case 3: v->isr = a; break;
			case 4: v->device = a; break;
			}
		} else if ((w0 & 0xff) == 0x11) {
			v->msix_cap = o;
			v->msix_table = bar + (pci_rd32(slot, o + 4) & ~7u);
		}
	}
	if (!v->common || !v->notify || !v->isr)
		return false;
	mmio_w8(v->common + 0x14, 0);
	while (mmio_r8(v->common + 0x14))
		;
	mmio_w8(v->common + 0x14, 1 | 2);
	mmio_w32(v->common + 0x00, 0);
	lo = mmio_r32(v->common + 0x04);
	mmio_w32(v->common + 0x00, 1);
	hi = mmio_r32(v->common + 0x04);
	v->features = ((uint64_t)hi << 32 | lo) & want;
	mmio_w32(v->common + 0x08, 0);
	mmio_w32(v->common + 0x0c, (uint32_t)v->features);
	mmio_w32(v->common + 0x08, 1);
	mmio_w32(v->common + 0x0c, (uint32_t)(v->features >> 32));
	mmio_w8(v->common + 0x14, 1 | 2 | 8);
	if (!(mmio_r8(v->common + 0x14) & 8))
		return false;
	if (vector && v->msix_cap) {
		/* A software-disabled LAPIC accepts no interrupts: enable it (SVR bit 8). */
		mmio_w32(0xfee000f0ULL, mmio_r32(0xfee000f0ULL) | 0x100);
		/* Vector 0 of the table: fixed delivery of vector to APIC 0, then enable MSI-X. */
		mmio_w32(v->msix_table + 0, 0xfee00000u);
		mmio_w32(v->msix_table + 4, 0);
		mmio_w32(v->msix_table + 8, vector);
		mmio_w32(v->msix_table + 12, 0);
		pci_wr16(slot, v->msix_cap + 2, 0x8000);
		v->vector = vector;
	} else if (v->msix_cap) {
		pci_wr16(slot, v->msix_cap + 2, 0); /* INTx and the ISR register */
	}
	for (unsigned qi = 0; qi < nq; qi++) {
		struct kvq *q = &v->q[qi];
		mmio_w16(v->common + 0x16, (uint16_t)qi);
		q->qsize = mmio_r16(v->common + 0x18);
		if (q->qsize > 16)
			q->qsize = 16;
		mmio_w16(v->common + 0x18, q->qsize);
		if (v->vector)
			mmio_w16(v->common + 0x1a, 0);
		if (rings_used == 8)
			return false;
		q->ring = rings[rings_used++];
		q->desc = (struct vdesc *)q->ring;
		q->avail = (volatile uint16_t *)(q->ring + 1024);
		q->used = (volatile uint32_t *)(q->ring + 2048);
		q->notify_addr = v->notify + mmio_r16(v->common + 0x1e) * v->notify_mult;
		mmio_w32(v->common + 0x20, (uint32_t)(uint64_t)q->desc);
		mmio_w32(v->common + 0x24, 0);
		mmio_w32(v->common + 0x28, (uint32_t)(uint64_t)q->avail);
		mmio_w32(v->common + 0x2c, 0);
		mmio_w32(v->common + 0x30, (uint32_t)(uint64_t)q->used);
		mmio_w32(v->common + 0x34, 0);
		mmio_w16(v->common + 0x1c, 1);
	}
	mmio_w8(v->common + 0x14, 1 | 2 | 4 | 8);
	return (mmio_r8(v->common + 0x14) & 0x40) == 0;
}

void kvq_add(struct kvq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % q->qsize] = head;
	barrier();
	q->avail[1] = ++q->avail_idx;
	barrier();
	mmio_w16(q->notify_addr, 0);
}

bool kvq_used(struct kvq *q, uint16_t *head, uint32_t *len)
{
	volatile uint16_t *used_idx = (volatile uint16_t *)q->used + 1;

	if (*used_idx == q->last_used)
		return false;
	barrier();
	*head = (uint16_t)q->used[1 + 2 * (q->last_used % q->qsize)];
	*len = q->used[1 + 2 * (q->last_used % q->qsize) + 1];
	q->last_used++;
	return true;
}

/* Puts the chain starting at descriptor head on queue 0, kicks and polls. Returns the used
 * length, or -1 on timeout. The wait is in time, not in polls: how many polls a device needs
 * depends on how fast the host runs the VMM's threads (a loaded or nested host: thousands of
 * times more than an idle one). */
long kv_run(struct kv *v, uint16_t head)
{
	uint64_t end = kit_deadline(10000);
	uint16_t h;
	uint32_t len;

	kvq_add(&v->q[0], head);
	while (rdtsc() < end)
		if (kvq_used(&v->q[0], &h, &len))
			return len;
	return -1;
}

bool kv_irr(unsigned vector)
{
	return (mmio_r32(0xfee00200ULL + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}
