#include "vmm/i8042.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vmm/vm.h"

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_STATUS_SYS 0x04 /* system flag: POST passed */

static void i8042_data(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct i8042 *k = opaque;

	if (!write) {
		/* No keyboard is attached: reads return the controller RAM byte after a 0x20
		 * command, else nothing. */
		data[0] = k->cmd == 0x20 ? k->ram0 : 0;
		k->cmd = 0;
		return;
	}
	if (k->expect_data && k->cmd == 0x60)
		k->ram0 = data[0];
	else if (k->expect_data && k->cmd == 0xd1 && !(data[0] & 1))
		vm_request_exit(k->vm, 0, "guest reset (i8042 output port)");
	k->expect_data = 0;
	k->cmd = 0;
}

static void i8042_cmd(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct i8042 *k = opaque;

	if (!write) {
		data[0] = I8042_STATUS_SYS | (k->cmd == 0x20 ? 1 : 0);
		return;
	}
	k->cmd = data[0];
	k->expect_data = data[0] == 0x60 || data[0] == 0xd1;
	if (data[0] == 0xfe)
		vm_request_exit(k->vm, 0, "guest reset (i8042)");
}

int i8042_init(struct i8042 *k, struct vm *vm, struct err *e)
{
	memset(k, 0, sizeof(*k));
	k->vm = vm;
	if (bus_add(&vm->pio, I8042_DATA, 1, i8042_data, k, e) < 0)
		return -1;
	return bus_add(&vm->pio, I8042_CMD, 1, i8042_cmd, k, e);
}
