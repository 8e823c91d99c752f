#include "vmm/serial.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/vm.h"

#define COM1_BASE 0x3f8
#define COM1_IRQ 4

enum { IER_RDI = 1, IER_THRI = 2 };
enum { LSR_DR = 1, LSR_THRE = 0x20, LSR_TEMT = 0x40 };
enum { IIR_NONE = 1, IIR_THRI = 2, IIR_RDI = 4, IIR_FIFO = 0xc0 };
enum { LCR_DLAB = 0x80 };
enum { MCR_LOOP = 0x10 };

static void serial_update_irq(struct serial *s)
{
	int level = ((s->ier & IER_RDI) && s->rx_len) || ((s->ier & IER_THRI) && s->thre_pending);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, COM1_IRQ, level);
	}
}

static void serial_out(struct serial *s, uint8_t ch)
{
	ssize_t n;

	s->bytes_out++;
	if (s->out_fd < 0)
		return;
	do {
		n = write(s->out_fd, &ch, 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN) {
		log_msg(LOG_WARN, "console: write: %s; further output dropped", strerror(errno));
		s->out_fd = -1;
	}
}

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case 0:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO;
			s->rx_len--;
		}
		break;
	case 1: return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case 2:
		if ((s->ier & IER_RDI) && s->rx_len) {
			v = IIR_RDI;
		} else if ((s->ier & IER_THRI) && s->thre_pending) {
			v = IIR_THRI;
			s->thre_pending = 0; /* reading IIR acknowledges THRE */
		} else {
			v = IIR_NONE;
		}
		v |= IIR_FIFO;
		break;
	case 3: return s->lcr;
	case 4: return s->mcr;
	case 5: v = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0); break;
	case 6:
		/* In loopback the modem inputs follow the outputs; otherwise DCD, DSR, CTS. */
		v = (s->mcr & MCR_LOOP) ? (uint8_t)((s->mcr & 0x0c) << 4 | (s->mcr & 0x03) << 4)
					: 0xb0;
		break;
	case 7: return s->scr;
	}
	serial_update_irq(s);
	return v;
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case 0:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		if (s->mcr & MCR_LOOP) {
			serial_input(s, &v, 1);
		} else {
			serial_out(s, v);
		}
		s->thre_pending = 1;
		break;
	case 1:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thre_pending = 1;
		s->ier = v & 0x0f;
		break;
	case 2:
		if (v & 2) /* FCR: clear the receive FIFO */
			s->rx_len = 0;
		break;
	case 3: s->lcr = v; return;
	case 4: s->mcr = v & 0x1f; break;
	case 7: s->scr = v; return;
	}
	serial_update_irq(s);
}

static void serial_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct serial *s = opaque;

	if (write)
		serial_write_reg(s, (unsigned)off, data[0]);
	else
		data[0] = serial_read_reg(s, (unsigned)off);
	if (!write && len > 1)
		memset(data + 1, 0, len - 1);
}

size_t serial_room(const struct serial *s)
{
	return SERIAL_FIFO - s->rx_len;
}

size_t serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len && s->rx_len < SERIAL_FIFO) {
		s->rx[(s->rx_head + s->rx_len) % SERIAL_FIFO] = buf[n++];
		s->rx_len++;
	}
	serial_update_irq(s);
	return n;
}

int serial_init(struct serial *s, struct vm *vm, int out_fd, struct err *e)
{
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->out_fd = out_fd;
	s->dll = 12; /* 9600 baud, as after reset */
	return bus_add(&vm->pio, COM1_BASE, 8, serial_io, s, e);
}
