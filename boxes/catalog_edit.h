/* Writing catalogs: adding one release (version, provider, architecture) to a catalog's JSON
 * for envbox publish and envbox index. What the catalog already holds, including fields envup
 * does not know, is kept as it is. */
#ifndef ENVUP_BOXES_CATALOG_EDIT_H
#define ENVUP_BOXES_CATALOG_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct catalog_release {
	const char *name; /* "org/box" */
	const char *version, *provider, *arch;
	const char *url;
	const char *checksum_type, *checksum;
	uint64_t size;		 /* bytes of the box file (an extra field Vagrant ignores) */
	const char *description; /* NULL: keep the catalog's */
};

/* Returns (heap, in *out) the catalog json (NULL or len 0: a new one; source names it in
 * messages) with r added. A release with the same version, provider and architecture is
 * ERR_EXISTS unless replace. A catalog of another name, or one that does not parse as a
 * catalog, is refused. */
int catalog_edit_add(const char *json, size_t len, const char *source,
		     const struct catalog_release *r, bool replace, char **out, struct err *e);

/* True when the catalog json already holds r's version, provider and architecture. */
bool catalog_has_release(const char *json, size_t len, const struct catalog_release *r);

#endif
