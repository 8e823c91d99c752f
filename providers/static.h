/* The static provider: a machine that already exists somewhere (Envfile provider: static,
 * static: {host, port}). envup only connects to it; halt and destroy leave it running. */
#ifndef ENVUP_PROVIDERS_STATIC_H
#define ENVUP_PROVIDERS_STATIC_H

#include "providers/provider.h"

/* up waits (boot_timeout) until host:port accepts a TCP connection and records "running";
 * halt records "halted"; destroy does nothing to the machine; ssh_info is host:port. */
extern const struct provider provider_static;
extern const struct provider_ops provider_static_ops;

#endif
