/* The vmm provider: one detached envvmm (the bundled VMM) per machine. */
#ifndef ENVUP_PROVIDERS_VMM_H
#define ENVUP_PROVIDERS_VMM_H

#include "providers/provider.h"

/* State and SSH endpoint (defined in providers/provider.c, with the other light halves). */
extern const struct provider provider_vmm;
/* up, halt, destroy, console_tail (providers/vmm.c; reached through provider_ops()). */
extern const struct provider_ops provider_vmm_ops;

#endif
