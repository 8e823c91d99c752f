/* The vmm provider: one detached envvmm (the bundled VMM) per machine. */
#ifndef ENVUP_PROVIDERS_VMM_H
#define ENVUP_PROVIDERS_VMM_H

#include "providers/provider.h"

extern const struct provider provider_vmm;

struct local_args;
/* --share for one synced folder shared live (share9p_add_fn; tests check the arguments). */
void vmm_add_share(struct local_args *a, const char *host_escaped, const char *tag, bool readonly);

#endif
