/* HTTP(S) through libcurl for catalogs and box files: redirects, TLS verified by default,
 * Bearer tokens, retries with backoff on transient failures, and downloads that resume across
 * runs (partial file in the cache keyed by URL, revalidated by ETag or Last-Modified).
 * file:// URLs and plain paths are read in place. */
#ifndef ENVUP_CORE_HTTP_H
#define ENVUP_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/progress.h"

struct http_opts {
	const char *cacert; /* CA bundle to trust instead of the system's */
	bool insecure;	    /* skip TLS verification (as Vagrant's --insecure) */
	const char *bearer; /* sent as "Authorization: Bearer ..." only to URLs under
			       bearer_scope (url_is_under), checked at every redirect hop */
	const char *bearer_scope; /* the registry URL the token belongs to; NULL: the URL
				     requested */
	int retries;	    /* extra attempts after a transient failure; <0: the default (5) */
	const char *accept; /* Accept header for http_get (catalogs: application/json) */
	const struct progress *progress;
	/* http_download: a file larger than this is refused, as soon as the server announces
	 * it or sends the byte past it, and its partial removed; 0: HTTP_DEFAULT_MAX_BYTES */
	uint64_t max_bytes;
	/* http_download: the caller reads the file at once and drops it after: no writeback
	 * while it arrives, no fsync, not marked complete (a later download of the URL asks
	 * for the bytes past its end and, when the server says there are none with the
	 * validator matching, takes it as complete without fetching it again) */
	bool defer_sync;
	/* http_download: told of the bytes [start, end) as they are written to the file (fd, to
	 * read them back: valid during the call only), in the order they come, so that the caller
	 * can read the file while it arrives. A resumed download starts past 0; one that starts
	 * over starts at 0 again. */
	void (*arrived)(void *ctx, int fd, uint64_t start, uint64_t end);
	void *arrived_ctx;
	/* -v: called with each request line and header sent and each status line received,
	 * Authorization values masked; NULL: quiet */
	void (*trace)(void *ctx, const char *line);
	void *trace_ctx;
};

#define HTTP_DEFAULT_MAX_BYTES (2ULL << 40) /* 2 TiB */

struct http_download {
	char *path;	       /* the complete file: in the cache, or the local file itself */
	bool in_cache;	       /* path is the cache's copy (remove with http_download_forget) */
	uint64_t size;	       /* bytes in the complete file */
	uint64_t resumed_from; /* bytes already in the cache when this call started */
	uint64_t fetched;      /* bytes received over the network by this call */
	unsigned attempts;     /* requests made */
	bool locked;	       /* lock_fd holds the cache file's lock (until http_download_free) */
	int lock_fd;
};

/* True when s is an http:// or https:// URL (anything else is a local file). */
bool http_is_remote(const char *s);

/* Fetches url into a NUL-terminated heap buffer of at most max bytes. A 404 or missing file
 * fails with ERR_NOTFOUND. */
int http_get(const char *url, const struct http_opts *o, size_t max, char **body, size_t *len,
	     struct err *e);

/* One request of any method (publishing: GET with its ETag, conditional PUT, MKCOL, DELETE). */
struct http_request {
	const char *method; /* "GET", "PUT", "DELETE", "MKCOL", ... */
	const char *url;
	const char *if_match;	   /* If-Match value (an ETag as received), or NULL */
	const char *if_none_match; /* If-None-Match value ("*": only when absent), or NULL */
	const char *content_type;  /* of the body sent */
	const void *body;	   /* PUT from memory (body_len bytes) ... */
	size_t body_len;
	bool from_fd;		/* ... or from upload_fd (upload_size bytes from offset 0) */
	int upload_fd;
	uint64_t upload_size;
	size_t max_response;	/* a 2xx body longer than this fails; 0: body discarded */
};

struct http_response {
	long status;		 /* the final response's */
	char etag[512];		 /* "" when none */
	char content_type[128];	 /* "" when none */
	char *effective_url;	 /* after redirects (heap) */
	char *body;		 /* 2xx only, NUL-terminated (heap), NULL when discarded */
	size_t len;
	uint64_t sent;		 /* body bytes uploaded */
};

/* Performs rq; 0 when a response arrived (any status: the caller reads it), -1 when none did
 * after the retries that transient failures get. Redirects are followed for GET only. */
int http_request(const struct http_request *rq, const struct http_opts *o,
		 struct http_response *rs, struct err *e);

/* Frees rs's strings. */
void http_response_free(struct http_response *rs);

/* The error for a final status that is not success: ERR_NOTFOUND for 404/410, ERR_NET with a
 * hint about tokens for 401/403 (worded by whether bearer was sent). Returns -1. */
int http_status_error(const char *url, long status, bool bearer, struct err *e);

/* Downloads url into cache_dir (resuming an earlier partial of the same URL when the server
 * still has the same file) while feeding every byte of the result to h (may be NULL). For a
 * local file, d->path is that file and h is fed from it. */
int http_download(const char *url, const char *cache_dir, const struct http_opts *o, struct hash *h,
		  struct http_download *d, struct err *e);

/* Frees d's strings and releases the cache file's lock (the file stays). */
void http_download_free(struct http_download *d);

/* Removes the cache's partial or complete copy of url (after use, or when it proved bad; call
 * it before http_download_free, while the lock is held). */
void http_download_forget(const char *url, const char *cache_dir);

/* Removes the partial and complete downloads in cache_dir that no download holds (envbox
 * prune); *bytes and *files say what was (or with dry_run, would be) freed. */
int http_cache_prune(const char *cache_dir, bool dry_run, uint64_t *bytes, unsigned *files,
		     struct err *e);

#endif
