/* Box registries: where a name "org/box" is looked up. Order: the Envfile's registries, the
 * user config's, then $ENVUP_REGISTRY; in each, <registry>/<org>/<box> then
 * <registry>/<org>/<box>.json. A registry is an http(s) URL or a local directory. */
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
	const char *token; /* borrowed from the user config; NULL when none */
};

struct registry_list {
	struct registry *items;
	size_t n;
};

/* True when name looks like "org/box" (letters, digits, '.', '_', '-'; no "..") */
bool registry_name_valid(const char *name);

/* Builds the search list (duplicates dropped, tokens attached from uc). */
int registry_list_build(char *const *envfile_regs, size_t nenv, const struct userconf *uc,
			struct registry_list *out, struct err *e);

/* Frees the list. */
void registry_list_free(struct registry_list *l);

/* Finds name's catalog; *catalog_url is where it was found and *token the registry's token.
 * ERR_NOTFOUND lists every place tried. */
int registry_find(const struct registry_list *l, const char *name, const struct http_opts *o,
		  struct catalog **out, char **catalog_url, const char **token, struct err *e);

#endif
