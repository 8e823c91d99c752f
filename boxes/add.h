/* Adding a box to the store: resolve (registry name, catalog URL or file, box URL or file),
 * download (resumable, checksum while streaming), extract safely, convert the main disk to
 * base.qcow2 once, record where it came from, and move it into place atomically. */
#ifndef ENVUP_BOXES_ADD_H
#define ENVUP_BOXES_ADD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxes/store.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/userconf.h"

struct box_add_opts {
	const char *source;	/* ORG/BOX, a catalog URL or file, or a box URL or file */
	const char *name;	/* the name to install as (required for a box URL or file) */
	const char *constraint; /* version constraint for catalogs */
	const char *provider;	/* NULL: the user default, else the preference order */
	const char *arch;	/* NULL: the user default, else Vagrant's host matching */
	const char *checksum;	/* overrides the catalog's */
	const char *checksum_type;
	const char *cacert;
	bool insecure;
	bool force;		 /* reinstall even when installed */
	char *const *registries; /* the Envfile's registries, searched first */
	size_t nregistries;
	const struct userconf *uc; /* may be NULL */
	const struct progress *download, *extract, *convert;
	/* a remote box's download while it is also unpacked (NULL: download's) */
	const struct progress *download_unpack;
	/* Called with a one-line description before each step ("downloading URL"). */
	void (*step)(void *ctx, const char *what);
	void *step_ctx;
	/* -v: each HTTP request and response line, credentials masked (core/http.h) */
	void (*trace)(void *ctx, const char *line);
	void *trace_ctx;
};

struct box_add_result {
	struct box_entry box;	/* what is installed now */
	bool already_installed; /* nothing was done */
	uint64_t archive_bytes; /* size of the box file */
	uint64_t fetched;	/* bytes received over the network */
	uint64_t resumed_from;	/* bytes reused from an earlier partial download */
	bool adopted;		/* the box's qcow2 became base.qcow2 as it was (no conversion) */
	bool streamed;		/* the disk was a stream VMDK converted while extracted */
	bool unpacked_while_downloading; /* extracted as the bytes arrived (boxes/follow.h) */
	char not_adopted[256];		 /* a qcow2 that was converted instead: why */
	double secs_resolve, secs_download, secs_verify, secs_extract, secs_convert;
};

/* Adds the box o describes to s (or finds it already installed). */
int box_add(const struct box_store *s, const struct box_add_opts *o, struct box_add_result *r,
	    struct err *e);

/* The box a machine needs: the newest installed version of o->name (else o->source) that
 * satisfies o->constraint, or else box_add(o). *added says which; out is the installed box. */
int box_ensure(const struct box_store *s, const struct box_add_opts *o, struct box_entry *out,
	       bool *added, struct err *e);

/* Frees r's strings. */
void box_add_result_free(struct box_add_result *r);

#endif
