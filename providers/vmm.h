/* The vmm provider: one detached envvmm (the bundled VMM) per machine. */
#ifndef ENVUP_PROVIDERS_VMM_H
#define ENVUP_PROVIDERS_VMM_H

#include "providers/provider.h"

/* State and SSH endpoint (defined in providers/provider.c, with the other light halves). */
extern const struct provider provider_vmm;
/* up, halt, destroy, console_tail (providers/vmm.c; reached through provider_ops()). */
extern const struct provider_ops provider_vmm_ops;

struct local_args;
/* --share for one synced folder shared live (share9p_add_fn; tests check the arguments). */
void vmm_add_share(struct local_args *a, const char *host_escaped, const char *tag, bool readonly);

#endif
