/* Box registries: where a name "org/box" is looked up. Order: the Envfile's registries, the
 * user config's, then $ENVUP_REGISTRY; in each, <registry>/<org>/<box> then
 * <registry>/<org>/<box>.json. A registry is an http(s) URL or a local directory.
 * Anything at the first form that is not a catalog (a 403 or an HTML listing after a
 * static server's redirect to the directory org/box/, a 404) passes to the next form. */
#ifndef ENVUP_BOXES_REGISTRY_H
#define ENVUP_BOXES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "boxes/catalog.h"
#include "core/err.h"
#include "core/http.h"
#include "core/userconf.h"

struct registry {
	char *url;
	const char *token;	/* borrowed (user config or environment); NULL when none */
	const char *token_from; /* how it was given, for messages; NULL when not */
};

struct registry_list {
	struct registry *items;
	size_t n;
};

/* True when name looks like "org/box" (letters, digits, '.', '_', '-'; no "..") */
bool registry_name_valid(const char *name);

/* Builds the search list (duplicates dropped, tokens attached from uc; $ENVUP_REGISTRY's from
 * uc, else $ENVUP_REGISTRY_TOKEN). */
int registry_list_build(char *const *envfile_regs, size_t nenv, const struct userconf *uc,
			struct registry_list *out, struct err *e);

/* The token for registry url named directly (envbox publish --registry): its config.yaml
 * entry's, else $ENVUP_REGISTRY_TOKEN; *from says which (for messages). NULL when none. */
const char *registry_token(const struct userconf *uc, const char *url, const char **from);

/* Turns the error of a request to registry url that was refused (401/403) into one that names
 * the registry and how its token is, or could be, given. Returns -1. */
int registry_denied(const char *url, long status, const char *token_from, struct err *e);

/* Frees the list. */
void registry_list_free(struct registry_list *l);

/* Finds name's catalog; *catalog_url is where it was found and *token the registry's token.
 * ERR_NOTFOUND lists every place tried. */
int registry_find(const struct registry_list *l, const char *name, const struct http_opts *o,
		  struct catalog **out, char **catalog_url, const char **token, struct err *e);

#endif
