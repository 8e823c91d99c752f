/* envbox index: turning a directory of box files laid out as org/name/VERSION/PROVIDER-ARCH.box
 * into a registry, by (re)writing every catalog org/name.json with each box's URL, sha256 and
 * size. Any static server (nginx, an object store, GitHub Pages) then serves it. */
#ifndef ENVUP_BOXES_INDEX_H
#define ENVUP_BOXES_INDEX_H

#include "core/err.h"

struct box_index_result {
	unsigned catalogs, boxes;
	unsigned skipped; /* files and directories that do not fit the layout */
};

/* Indexes dir; box URLs are base_url/org/name/VERSION/FILE, or relative to the catalog when
 * base_url is NULL. seen(ctx, path, why) is told of each thing skipped (why NULL: indexed). */
int box_index(const char *dir, const char *base_url,
	      void (*seen)(void *ctx, const char *path, const char *why), void *ctx,
	      struct box_index_result *r, struct err *e);

#endif
