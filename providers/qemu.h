/* The qemu provider: one daemonized qemu-system-x86_64 per machine (KVM, else TCG). */
#ifndef ENVUP_PROVIDERS_QEMU_H
#define ENVUP_PROVIDERS_QEMU_H

#include "providers/provider.h"

extern const struct provider provider_qemu;

#endif
