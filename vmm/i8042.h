/* The i8042 keyboard controller with no keyboard or mouse attached: its reset line, its
 * command byte, and answers to the self-tests that firmware and OS drivers run, so that they
 * learn at once that no keyboard is there instead of waiting for one. */
#ifndef ENVUP_VMM_I8042_H
#define ENVUP_VMM_I8042_H

#include <stdbool.h>

#include "core/err.h"

struct vm;

struct i8042 {
	struct vm *vm;
	unsigned char cmd, ram0;
	int expect_data;   /* the next data byte completes command cmd */
	unsigned char out; /* the output buffer ... */
	bool out_full;	   /* ... and whether it holds a byte */
};

/* Claims ports 0x60 and 0x64; pulsing the reset line (0xfe) ends the VM with status 0. */
int i8042_init(struct i8042 *k, struct vm *vm, struct err *e);

#endif
