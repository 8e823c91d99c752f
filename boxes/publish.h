/* envbox publish: putting a box into a registry and adding it to the registry's catalog
 * REGISTRY/org/name.json, laid out as envbox index expects (org/name/VERSION/PROVIDER-ARCH.box).
 *
 * A registry is an http(s) URL that takes PUT (a WebDAV server such as nginx with
 * dav_methods, Apache mod_dav, an object store) or a directory (a file share). The catalog
 * update never loses another publisher's version:
 *   - HTTP: read the catalog and its ETag, add the release, PUT it back with If-Match (or
 *     If-None-Match: * for a new one); a 412 starts again, up to PUBLISH_TRIES times. Servers
 *     that ignore If-Match on PUT (nginx) are made safe by a lock taken around that step
 *     where the server has WebDAV MKCOL: the collection "org/name.json.lock/" (MKCOL is an
 *     atomic mkdir; a second one is refused with 405), with an "owner" file saying who holds
 *     it and since when, broken after PUBLISH_LOCK_STALE seconds.
 *   - directory: the box copied to a temporary name and renamed into place; the catalog
 *     rewritten (temporary file, rename) under flock on "org/.name.json.lock". */
#ifndef ENVUP_BOXES_PUBLISH_H
#define ENVUP_BOXES_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/http.h"

#define PUBLISH_TRIES 30
#define PUBLISH_LOCK_STALE 120
#define PUBLISH_LOCK_WAIT 600

struct box_publish_opts {
	const char *file;     /* the .box */
	const char *registry; /* http(s) URL or directory */
	const char *name;     /* org/name */
	const char *version;
	const char *provider, *arch; /* NULL: the box's metadata.json says (arch: else unknown) */
	const char *description;     /* NULL: the catalog's stays */
	bool force;		     /* replace a release that exists */
	struct http_opts http;	     /* TLS, token (bearer), tracing */
	const char *token_from;	     /* how the token was given, for messages */
	void (*step)(void *ctx, const char *what);
	void *step_ctx;
};

struct box_publish_result {
	char *box_url, *catalog_url;
	char sha256[HASH_HEX_MAX];
	uint64_t size;
	const char *provider, *arch; /* borrowed from the options or the result's own copies */
	unsigned catalog_tries;	     /* catalog writes made (more than 1: lost a race) */
	bool locked;		     /* the registry's lock was used */
	double secs_upload, secs_catalog;
	char provider_buf[64], arch_buf[64];
};

/* Publishes o->file; r is filled on success (free with box_publish_result_free). */
int box_publish(const struct box_publish_opts *o, struct box_publish_result *r, struct err *e);

/* Frees r's strings. */
void box_publish_result_free(struct box_publish_result *r);

#endif
