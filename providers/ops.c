/* The lifecycle operations of each registered provider. A file of its own so that only the
 * programs that call provider_ops() (envctl-full: up, halt, reload, destroy, ...) link the
 * providers' up code, and with it the overlay disks, the box store and the image codecs;
 * envstatus and envvalidate link providers/provider.c alone and start without them. */
#include <string.h>

#include "providers/provider.h"
#include "providers/qemu.h"
#include "providers/static.h"
#include "providers/vmm.h"

static const struct {
	const struct provider *pv;
	const struct provider_ops *ops;
} provider_ops_table[] = {
	{&provider_static, &provider_static_ops},
	{&provider_qemu, &provider_qemu_ops},
	{&provider_vmm, &provider_vmm_ops},
};

const struct provider_ops *provider_ops(const struct provider *pv)
{
	for (size_t i = 0; i < sizeof(provider_ops_table) / sizeof(provider_ops_table[0]); i++)
		if (!strcmp(provider_ops_table[i].pv->name, pv->name))
			return provider_ops_table[i].ops;
	return NULL;
}
