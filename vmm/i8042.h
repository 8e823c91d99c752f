/* The i8042 keyboard controller, reduced to what guests use of it: its reset line. */
#ifndef ENVUP_VMM_I8042_H
#define ENVUP_VMM_I8042_H

#include "core/err.h"

struct vm;

struct i8042 {
	struct vm *vm;
	unsigned char cmd, ram0;
	int expect_data; /* the next data byte completes command cmd */
};

/* Claims ports 0x60 and 0x64; pulsing the reset line (0xfe) ends the VM with status 0. */
int i8042_init(struct i8042 *k, struct vm *vm, struct err *e);

#endif
