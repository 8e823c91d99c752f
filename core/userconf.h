/* The per-user configuration, $XDG_CONFIG_HOME/envup/config.yaml:
 *   registries:                 # searched after an Envfile's own registries
 *     - url: https://boxes.example.com
 *       token_env: TEAM_TOKEN   # sent as Authorization: Bearer to this registry's server;
 *                               # or token_file: PATH (mode 0600), or token: SECRET
 *     - https://mirror.example.org
 *   defaults:
 *     box_provider: libvirt     # preferred box provider when a catalog offers several
 *     box_arch: amd64           # architecture to choose instead of the host's
 */
#ifndef ENVUP_CORE_USERCONF_H
#define ENVUP_CORE_USERCONF_H

#include <stddef.h>

#include "core/err.h"

struct userconf_registry {
	char *url;
	char *token;	  /* NULL when none */
	char *token_from; /* how it is given ("token_env NAME (not set)"); NULL when not */
};

struct userconf {
	struct userconf_registry *registries;
	size_t nregistries;
	char *box_provider; /* NULL when unset */
	char *box_arch;
};

/* Loads path (NULL: the XDG location); a missing file is an empty configuration. */
int userconf_load(const char *path, struct userconf *uc, struct err *e);

/* Frees what userconf_load filled. */
void userconf_free(struct userconf *uc);

/* The registry entry for a registry URL (trailing slashes ignored), or NULL. */
const struct userconf_registry *userconf_registry_for(const struct userconf *uc, const char *url);

/* The token configured for a registry URL (trailing slashes ignored), or NULL. */
const char *userconf_token_for(const struct userconf *uc, const char *url);

#endif
