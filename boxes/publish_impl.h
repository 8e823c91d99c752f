/* What boxes/publish.c shares with boxes/publish_http.c. */
#ifndef ENVUP_BOXES_PUBLISH_IMPL_H
#define ENVUP_BOXES_PUBLISH_IMPL_H

#include "boxes/catalog_edit.h"
#include "boxes/publish.h"

/* Sends the box to the HTTP registry (PUT to r->box_url) while its sha256 is computed. */
int publish_http_upload(const struct box_publish_opts *o, struct box_publish_result *r,
			struct err *e);

/* Refuses (ERR_EXISTS) before anything is sent when the catalog has the release already. */
int publish_http_precheck(const struct box_publish_opts *o, const struct catalog_release *rel,
			  const char *catalog_url, struct err *e);

/* Adds rel to the catalog at catalog_url: lock where the server can, then read, edit,
 * conditional PUT, again on 412. */
int publish_http_catalog(const struct box_publish_opts *o, const struct catalog_release *rel,
			 struct box_publish_result *r, struct err *e);

/* Starts hashing path (sha256) on a thread; publish_hash_join gives the hex digest. */
struct publish_hash;
int publish_hash_start(const char *path, struct publish_hash **out, struct err *e);
int publish_hash_join(struct publish_hash *h, char *hex, struct err *e);

#endif
