/* Publishing to an HTTP registry: the upload, and the catalog update that never loses a
 * concurrent publisher's release (boxes/publish.h says how). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxes/catalog.h"
#include "boxes/publish_impl.h"
#include "boxes/registry.h"
#include "core/fsutil.h"

#define OWNER_MAX 4096
#define OWNERLESS_STALE 30

static int denied_or(const struct box_publish_opts *o, const char *what, const char *url,
		     long status, struct err *e)
{
	if (status == 401 || status == 403)
		return registry_denied(o->registry, status, o->token_from, e);
	return err_set(e, ERR_NET, "%s %s: HTTP %ld%s", what, url, status,
		       !strcmp(what, "PUT") && (status == 405 || status == 501)
			       ? " (the server does not take uploads: nginx needs dav_methods PUT)"
			       : "");
}

static int request(const struct box_publish_opts *o, const char *method, const char *url,
		   struct http_response *rs, struct err *e)
{
	struct http_request rq = {.method = method, .url = url};

	return http_request(&rq, &o->http, rs, e);
}

/* Sleeps a random 20..220 ms, so that publishers that collided do not collide again. */
static void jitter(unsigned *seed)
{
	struct timespec ts = {0, (long)(20 + rand_r(seed) % 200) * 1000000L};

	nanosleep(&ts, NULL);
}

int publish_http_upload(const struct box_publish_opts *o, struct box_publish_result *r,
			struct err *e)
{
	struct http_request rq = {.method = "PUT",
				  .url = r->box_url,
				  .content_type = "application/octet-stream",
				  .from_fd = true,
				  .upload_size = r->size};
	struct http_response rs;
	struct publish_hash *h;
	struct err he = {0};
	int rc;

	rq.upload_fd = open(o->file, O_RDONLY | O_CLOEXEC);
	if (rq.upload_fd < 0)
		return err_sys(e, "cannot open %s", o->file);
	if (publish_hash_start(o->file, &h, e) < 0) {
		close(rq.upload_fd);
		return -1;
	}
	rc = http_request(&rq, &o->http, &rs, e);
	close(rq.upload_fd);
	if (publish_hash_join(h, r->sha256, &he) < 0 && rc == 0) {
		*e = he;
		rc = -1;
	}
	if (rc < 0)
		return -1;
	if (rs.status < 200 || rs.status > 299)
		rc = denied_or(o, "PUT", r->box_url, rs.status, e);
	http_response_free(&rs);
	return rc;
}

/* GET of the catalog: 0 with the body (NULL when there is none yet) and its ETag. */
static int get_catalog(const struct box_publish_opts *o, const char *url, char **body, size_t *len,
		       char *etag, size_t etag_size, struct err *e)
{
	struct http_request rq = {.method = "GET", .url = url, .max_response = CATALOG_MAX_BYTES};
	struct http_response rs;

	*body = NULL;
	*len = 0;
	etag[0] = '\0';
	if (http_request(&rq, &o->http, &rs, e) < 0)
		return -1;
	if (rs.status == 404 || rs.status == 410) {
		http_response_free(&rs);
		return 0;
	}
	if (rs.status < 200 || rs.status > 299) {
		long st = rs.status;

		http_response_free(&rs);
		return denied_or(o, "GET", url, st, e);
	}
	*body = rs.body;
	*len = rs.len;
	rs.body = NULL;
	snprintf(etag, etag_size, "%s", rs.etag);
	http_response_free(&rs);
	return 0;
}

int publish_http_precheck(const struct box_publish_opts *o, const struct catalog_release *rel,
			  const char *catalog_url, struct err *e)
{
	char etag[512], *body;
	size_t len;
	bool has;

	if (get_catalog(o, catalog_url, &body, &len, etag, sizeof(etag), e) < 0)
		return -1;
	has = catalog_has_release(body, len, rel);
	free(body);
	if (has && !o->force)
		return err_set(e, ERR_EXISTS,
			       "%s already has '%s' version %s for %s (%s); pass --force to "
			       "replace it",
			       catalog_url, rel->name, rel->version, rel->provider, rel->arch);
	return 0;
}

struct lock {
	char *url, *owner_url;
	bool held;
};

/* "host pid time": who holds the lock, and since when (this machine's clock). */
static int owner_text(char *buf, size_t n)
{
	char host[128] = "?";

	gethostname(host, sizeof(host) - 1);
	return snprintf(buf, n, "%s %ld %lld\n", host, (long)getpid(), (long long)time(NULL));
}

/* MKCOL works on this server (a fresh name can be made): then a 405 meant "exists". */
static bool mkcol_works(const struct box_publish_opts *o, const char *lock_url, unsigned *seed)
{
	struct http_response rs;
	char *probe;
	bool ok = false;

	if (asprintf(&probe, "%.*sprobe-%ld-%u/", (int)(strlen(lock_url) - 1), lock_url,
		     (long)getpid(), (unsigned)rand_r(seed)) < 0)
		return false;
	if (request(o, "MKCOL", probe, &rs, NULL) == 0) {
		ok = rs.status == 201;
		http_response_free(&rs);
		if (ok && request(o, "DELETE", probe, &rs, NULL) == 0)
			http_response_free(&rs);
	}
	free(probe);
	return ok;
}

static int lock_take(const struct box_publish_opts *o, struct lock *l, unsigned *seed,
		     struct err *e)
{
	time_t start = time(NULL), ownerless_since = 0;
	char owner[OWNER_MAX];

	for (;;) {
		struct http_request get = {
			.method = "GET", .url = l->owner_url, .max_response = OWNER_MAX};
		struct http_response rs;
		long st;

		if (request(o, "MKCOL", l->url, &rs, e) < 0)
			return -1;
		st = rs.status;
		http_response_free(&rs);
		if (st == 201) {
			struct http_request put = {.method = "PUT",
						   .url = l->owner_url,
						   .body = owner,
						   .content_type = "text/plain"};

			put.body_len = (size_t)owner_text(owner, sizeof(owner));
			if (http_request(&put, &o->http, &rs, e) < 0)
				return -1;
			http_response_free(&rs);
			l->held = true;
			return 0;
		}
		if (st == 401 || st == 403)
			return denied_or(o, "MKCOL", l->url, st, e);
		if (st != 405)
			return 0; /* no WebDAV collections here: If-Match alone guards */
		if (http_request(&get, &o->http, &rs, e) < 0)
			return -1;
		if (rs.status == 200 && rs.body) {
			long long since = 0;
			char who[200] = "";

			sscanf(rs.body, "%199s %*d %lld", who, &since);
			ownerless_since = 0;
			if (since && time(NULL) - since > PUBLISH_LOCK_STALE) {
				/* its holder is gone: nothing takes seconds under the lock */
				http_response_free(&rs);
				if (request(o, "DELETE", l->url, &rs, e) < 0)
					return -1;
				http_response_free(&rs);
				continue;
			}
			if (time(NULL) - start > PUBLISH_LOCK_WAIT) {
				err_set(e, ERR_BUSY,
					"%s is held by %s since %lld; if that publisher is gone, "
					"delete it",
					l->url, who, since);
				http_response_free(&rs);
				return -1;
			}
		} else if (!ownerless_since) {
			if (!mkcol_works(o, l->url, seed)) {
				http_response_free(&rs);
				return 0; /* 405 meant "no MKCOL", not "exists" */
			}
			ownerless_since = time(NULL);
		} else if (time(NULL) - ownerless_since > OWNERLESS_STALE) {
			/* made and never claimed: its publisher died between the two requests */
			http_response_free(&rs);
			if (request(o, "DELETE", l->url, &rs, e) < 0)
				return -1;
			http_response_free(&rs);
			ownerless_since = 0;
			continue;
		}
		http_response_free(&rs);
		jitter(seed);
	}
}

static void lock_drop(const struct box_publish_opts *o, struct lock *l)
{
	struct http_response rs;

	if (l->held && request(o, "DELETE", l->url, &rs, NULL) == 0)
		http_response_free(&rs);
	l->held = false;
}

/* One read-edit-write round: 1 when the write lost a race (412), 0 done, -1 error. */
static int catalog_round(const struct box_publish_opts *o, const struct catalog_release *rel,
			 const char *url, bool locked, struct err *e)
{
	struct http_request put = {.method = "PUT", .url = url, .content_type = "application/json"};
	struct http_response rs;
	char etag[512], *body, *out;
	size_t len;
	int rc;

	if (get_catalog(o, url, &body, &len, etag, sizeof(etag), e) < 0)
		return -1;
	/* Neither a lock nor an ETag to make the write conditional: an overwrite could drop a
	 * version another publisher has just added, so this is refused rather than risked. */
	if (len && !etag[0] && !locked) {
		free(body);
		return err_set(e, ERR_UNSUPPORTED,
			       "%s: the server gives the catalog no ETag and offers no lock (WebDAV "
			       "MKCOL), so it cannot be updated without risking another publisher's "
			       "version; enable one of them, or publish into a directory",
			       url);
	}
	rc = catalog_edit_add(body, len, url, rel, o->force, &out, e);
	free(body);
	if (rc < 0)
		return -1;
	put.body = out;
	put.body_len = strlen(out);
	if (etag[0])
		put.if_match = etag;
	else if (!len)
		put.if_none_match = "*";
	rc = http_request(&put, &o->http, &rs, e);
	free(out);
	if (rc < 0)
		return -1;
	if (rs.status == 412)
		rc = 1;
	else if (rs.status < 200 || rs.status > 299)
		rc = denied_or(o, "PUT", url, rs.status, e);
	http_response_free(&rs);
	return rc;
}

int publish_http_catalog(const struct box_publish_opts *o, const struct catalog_release *rel,
			 struct box_publish_result *r, struct err *e)
{
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	struct lock l = {0};
	int rc = -1;

	if (asprintf(&l.url, "%s.lock/", r->catalog_url) < 0 ||
	    asprintf(&l.owner_url, "%s.lock/owner", r->catalog_url) < 0) {
		free(l.url);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (lock_take(o, &l, &seed, e) < 0)
		goto out;
	r->locked = l.held;
	for (r->catalog_tries = 1;; r->catalog_tries++) {
		int k = catalog_round(o, rel, r->catalog_url, l.held, e);

		if (k <= 0) {
			rc = k;
			break;
		}
		if (r->catalog_tries >= PUBLISH_TRIES) {
			err_set(e, ERR_BUSY,
				"%s changed under every one of %d attempts to update it; try "
				"again",
				r->catalog_url, PUBLISH_TRIES);
			break;
		}
		jitter(&seed);
	}
out:
	lock_drop(o, &l);
	free(l.url);
	free(l.owner_url);
	return rc;
}
