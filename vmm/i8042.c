#include "vmm/i8042.h"

#include <stdint.h>
#include <string.h>

#include "vmm/vm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_STATUS_OBF 0x01 /* output buffer full */
#define I8042_STATUS_SYS 0x04 /* system flag: POST passed */

static void reply(struct i8042 *k, unsigned char v)
{
	k->out = v;
	k->out_full = true;
}

static void i8042_data(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct i8042 *k = opaque;

	if (!write) {
		data[0] = k->out_full ? k->out : 0;
		k->out_full = false;
		return;
	}
	if (k->expect_data && k->cmd == 0x60)
		k->ram0 = data[0];
	else if (k->expect_data && k->cmd == 0xd1 && !(data[0] & 1))
		vm_request_exit(k->vm, 0, "guest reset (i8042 output port)");
	/* Anything else is for a keyboard, and none is attached: it goes nowhere. */
	k->expect_data = 0;
	k->cmd = 0;
}

static void i8042_cmd(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct i8042 *k = opaque;

	if (!write) {
		data[0] = I8042_STATUS_SYS | (k->out_full ? I8042_STATUS_OBF : 0);
		return;
	}
	k->cmd = data[0];
	k->expect_data = data[0] == 0x60 || data[0] == 0xd1;
	switch (data[0]) {
	case 0x20: reply(k, k->ram0); break; /* read the command byte */
	case 0xaa:
		reply(k, 0x55);
		break; /* controller self-test: passed */
	/* Keyboard and mouse interface tests: "clock line stuck low", which is what a port
	 * with nothing plugged in reads as; drivers then leave the device alone. */
	case 0xab:
	case 0xa9: reply(k, 0x01); break;
	case 0xfe: vm_request_exit(k->vm, 0, "guest reset (i8042)"); break;
	}
}

int i8042_init(struct i8042 *k, struct vm *vm, struct err *e)
{
	memset(k, 0, sizeof(*k));
	k->vm = vm;
	if (bus_add(&vm->pio, I8042_DATA, 1, i8042_data, k, e) < 0)
		return -1;
	return bus_add(&vm->pio, I8042_CMD, 1, i8042_cmd, k, e);
}
