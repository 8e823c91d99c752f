/* The qemu provider: one daemonized qemu-system-x86_64 per machine (KVM, else TCG). */
#ifndef ENVUP_PROVIDERS_QEMU_H
#define ENVUP_PROVIDERS_QEMU_H

#include "providers/provider.h"

/* State and SSH endpoint (defined in providers/provider.c, with the other light halves). */
extern const struct provider provider_qemu;
/* up, halt, destroy, console_tail (providers/qemu.c; reached through provider_ops()). */
extern const struct provider_ops provider_qemu_ops;

struct local_args;
/* -virtfs for one synced folder shared live (share9p_add_fn; tests check the arguments). */
void qemu_add_virtfs(struct local_args *a, const char *host_escaped, const char *tag,
		     bool readonly);

#endif
