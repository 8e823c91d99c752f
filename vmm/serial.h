/* 8250/16550 UART on COM1: output to the console file, input from the event loop. */
#ifndef ENVUP_VMM_SERIAL_H
#define ENVUP_VMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;

#define SERIAL_FIFO 64

struct serial {
	struct vm *vm;
	int out_fd;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t rx[SERIAL_FIFO];
	unsigned rx_head, rx_len;
	int thre_pending;
	int irq_level;
	uint64_t bytes_out;
};

/* Puts the UART at 0x3f8 (IRQ 4) on vm's port bus, writing guest output to out_fd. */
int serial_init(struct serial *s, struct vm *vm, int out_fd, struct err *e);

/* Queues host input for the guest (caller holds vm->lock); returns bytes taken. */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t len);

/* Room left in the receive FIFO (caller holds vm->lock). */
size_t serial_room(const struct serial *s);

#endif
