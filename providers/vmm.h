/* The vmm provider: one detached envvmm (the bundled VMM) per machine. */
#ifndef ENVUP_PROVIDERS_VMM_H
#define ENVUP_PROVIDERS_VMM_H

#include "providers/provider.h"

extern const struct provider provider_vmm;

#endif
