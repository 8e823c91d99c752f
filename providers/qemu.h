/* The qemu provider: one daemonized qemu-system-x86_64 per machine (KVM, else TCG). */
#ifndef ENVUP_PROVIDERS_QEMU_H
#define ENVUP_PROVIDERS_QEMU_H

#include "providers/provider.h"

/* State and SSH endpoint (defined in providers/provider.c, with the other light halves). */
extern const struct provider provider_qemu;
/* up, halt, destroy, console_tail (providers/qemu.c; reached through provider_ops()). */
extern const struct provider_ops provider_qemu_ops;

#endif
