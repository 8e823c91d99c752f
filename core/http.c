#include "core/http.h"

#include <curl/curl.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/hashpipe.h"
#include "core/http_impl.h"
#include "core/strutil.h"
#include "core/url.h"

#define HTTP_DEFAULT_RETRIES 5
#define HTTP_META_MAX 8192
#define HTTP_WRITEBACK_CHUNK (8u << 20)
/* libcurl hands the body over in pieces of at most 16 KiB; they are gathered into buffers of
 * this size (the checksum ring's, when there is a checksum, which then digests them where they
 * are) and written in pieces of HTTP_WRITE_PIECE. Each write's size picks the size of the page
 * cache folios it allocates: 32 KiB (order 3) come from the per-CPU free lists, while 1 MiB
 * writes ask the buddy allocator for large folios, which on a VM with free page reporting are
 * often memory the host has reclaimed and must fault in again: measured 0.9-1.2 s of system
 * time per GiB with 32 KiB writes against 0.8-2.8 s with 1 MiB (docs/notes/boxes.md). */
#define HTTP_WRITE_BUF (1u << 20)
#define HTTP_WRITE_PIECE (32u << 10)

bool http_is_remote(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

/* file:///x -> /x; plain paths as they are. */
static const char *local_path(const char *url)
{
	if (!strncasecmp(url, "file://", 7))
		return url + 7;
	return url;
}

static void copy_value(char *dst, size_t size, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= size)
		n = 0; /* an oversized validator is useless: treat it as absent */
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct response *r = ud;
	size_t n = size * nitems;

	if (n > 5 && !strncmp(buf, "HTTP/", 5)) {
		const char *sp = memchr(buf, ' ', n);

		memset(r, 0, sizeof(*r));
		r->range_start = r->range_total = r->length = -1;
		if (sp)
			r->status = strtol(sp + 1, NULL, 10);
	} else if (n > 5 && !strncasecmp(buf, "ETag:", 5)) {
		copy_value(r->etag, sizeof(r->etag), buf + 5, n - 5);
	} else if (n > 14 && !strncasecmp(buf, "Last-Modified:", 14)) {
		copy_value(r->last_modified, sizeof(r->last_modified), buf + 14, n - 14);
	} else if (n > 14 && !strncasecmp(buf, "Content-Range:", 14)) {
		char v[128];

		copy_value(v, sizeof(v), buf + 14, n - 14);
		if (!strncasecmp(v, "bytes ", 6)) {
			const char *slash = strchr(v, '/');

			r->range_start = strtoll(v + 6, NULL, 10);
			if (slash && slash[1] >= '0' && slash[1] <= '9')
				r->range_total = strtoll(slash + 1, NULL, 10);
		}
	} else if (n > 13 && !strncasecmp(buf, "Content-Type:", 13)) {
		copy_value(r->content_type, sizeof(r->content_type), buf + 13, n - 13);
	} else if (n > 15 && !strncasecmp(buf, "Content-Length:", 15)) {
		char v[32];

		copy_value(v, sizeof(v), buf + 15, n - 15);
		r->length = v[0] >= '0' && v[0] <= '9' ? strtoll(v, NULL, 10) : -1;
	}
	return n;
}

/* -v: request and status lines, with credentials masked. */
static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
	const struct http_opts *o = ud;
	char line[1024];

	(void)c;
	if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN)
		return 0;
	while (size) {
		size_t n = 0, k;

		while (n < size && data[n] != '\n')
			n++;
		k = n && data[n - 1] == '\r' ? n - 1 : n;
		if (k >= sizeof(line))
			k = sizeof(line) - 1;
		memcpy(line, data, k);
		line[k] = '\0';
		if (type == CURLINFO_HEADER_IN && strncmp(line, "HTTP/", 5))
			line[0] = '\0'; /* of what comes back, the status lines say enough */
		if (!strncasecmp(line, "Authorization:", 14)) {
			char *sp = strchr(line + 15, ' ');

			/* "Authorization: Bearer ****": the scheme shows, the secret never */
			snprintf(sp ? sp : line + 14, sizeof(line) - (size_t)((sp ? sp : line + 14) - line),
				 " ****");
		}
		if (line[0])
			o->trace(o->trace_ctx, line);
		data += n < size ? n + 1 : n;
		size -= n < size ? n + 1 : n;
	}
	return 0;
}

CURL *http_easy_new(const char *url, const struct http_opts *o, struct response *r, struct err *e)
{
	CURL *c = curl_easy_init();

	if (!c) {
		err_set(e, ERR_FAIL, "cannot initialise libcurl");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* redirects are followed by perform(), which decides about the token at every hop */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled server is a transient failure to retry, not a hang. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "envup/" ENVUP_VERSION);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (o && o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (o && o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (o && o->bearer && *o->bearer &&
	    url_is_under(o->bearer_scope ? o->bearer_scope : url, url)) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, o->bearer);
		/* Only under the token's scope (url_is_under). Where libcurl follows redirects itself
		 * it drops the token on another host (CVE-2018-1000007, CVE-2022-27776) as long as it
		 * is never told otherwise; perform() below decides again at every hop. */
		curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	if (o && o->trace) {
		curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(c, CURLOPT_DEBUGDATA, o);
	}
	return c;
}

#define HTTP_MAX_REDIRECTS 10

/* curl_easy_perform with redirects followed here, not by libcurl: the bearer token goes with a
 * request only while its URL lies under the token's scope (url_is_under, the registry's URL, or
 * the first URL when none is given), decided again for every hop, so that neither a "../" in a
 * catalog nor a same-host redirect carries it elsewhere. */
static CURLcode perform(CURL *c, const char *url, const struct http_opts *o, struct response *r)
{
	const char *scope = o && o->bearer_scope ? o->bearer_scope : url;
	char *cur = strdup(url);
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	for (int hop = 0; cur; hop++) {
		char *next = NULL;
		bool token = o && o->bearer && *o->bearer && url_is_under(scope, cur);

		curl_easy_setopt(c, CURLOPT_URL, cur);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, token ? CURLAUTH_BEARER : CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, token ? o->bearer : NULL);
		rc = curl_easy_perform(c);
		if (rc != CURLE_OK || (r->status != 301 && r->status != 302 && r->status != 303 &&
				       r->status != 307 && r->status != 308))
			break;
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
			break; /* a 3xx without Location: the caller reports the status */
		if (!http_is_remote(next)) {
			rc = CURLE_UNSUPPORTED_PROTOCOL;
			break;
		}
		if (hop == HTTP_MAX_REDIRECTS) {
			rc = CURLE_TOO_MANY_REDIRECTS;
			break;
		}
		free(cur);
		cur = strdup(next);
	}
	free(cur);
	return rc;
}

bool http_transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return true;
	default: return false;
	}
}

bool http_transient_status(long s)
{
	return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

int http_status_error(const char *url, long status, bool bearer, struct err *e)
{
	if (status == 404 || status == 410)
		return err_set(e, ERR_NOTFOUND, "%s: not found (HTTP %ld)", url, status);
	if ((status == 401 || status == 403) && bearer)
		return err_set(e, ERR_NET, "%s: access denied (HTTP %ld): the token was refused",
			       url, status);
	if (status == 401 || status == 403)
		return err_set(e, ERR_NET,
			       "%s: access denied (HTTP %ld) and no token was sent; a private "
			       "registry's token goes in config.yaml (registries: - url: ... "
			       "token_env: VAR or token_file: FILE) or in $ENVUP_REGISTRY_TOKEN",
			       url, status);
	return err_set(e, ERR_NET, "%s: HTTP %ld", url, status);
}

int http_curl_error(const char *url, CURLcode rc, const char *detail, struct err *e)
{
	const char *hint = "";

	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		hint = " (pass --cacert FILE to trust a private CA, or --insecure)";
	return err_set(e, ERR_NET, "%s: %s%s", url,
		       detail && *detail ? detail : curl_easy_strerror(rc), hint);
}

/* Sleeps before attempt n (1-based retry): 0.25 s, 0.5 s, 1 s, ... capped at 8 s. */
void http_backoff(unsigned n)
{
	unsigned ms = 250u << (n > 5 ? 5 : n - 1);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	if (ms > 8000)
		ts = (struct timespec){.tv_sec = 8};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct membuf {
	char *data;
	size_t len, max;
	bool too_big;
	struct response *r;
};

static size_t mem_write(char *p, size_t size, size_t n, void *ud)
{
	struct membuf *m = ud;
	size_t len = size * n;
	char *nd;

	if (m->r->status < 200 || m->r->status > 299)
		return len; /* error pages are not the body */
	if (m->len + len > m->max) {
		m->too_big = true;
		return 0;
	}
	nd = realloc(m->data, m->len + len + 1);
	if (!nd)
		return 0;
	m->data = nd;
	memcpy(m->data + m->len, p, len);
	m->len += len;
	m->data[m->len] = '\0';
	return len;
}

int http_get(const char *url, const struct http_opts *o, size_t max, char **body, size_t *len,
	     struct err *e)
{
	int retries = o && o->retries >= 0 ? o->retries : HTTP_DEFAULT_RETRIES;

	if (!http_is_remote(url)) {
		const char *p = local_path(url);

		if (!fs_exists(p))
			return err_set(e, ERR_NOTFOUND, "%s: no such file", p);
		return fs_read_file(p, max, body, len, e);
	}
	for (int attempt = 0;; attempt++) {
		struct response r = {.range_start = -1, .range_total = -1, .length = -1};
		struct membuf m = {.max = max, .r = &r};
		struct curl_slist *hdrs = NULL;
		char errbuf[CURL_ERROR_SIZE] = "";
		CURL *c = http_easy_new(url, o, &r, e);
		CURLcode rc;

		if (!c)
			return -1;
		if (o && o->accept) {
			char line[256];

			snprintf(line, sizeof(line), "Accept: %s", o->accept);
			hdrs = curl_slist_append(NULL, line);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		}
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		rc = perform(c, url, o, &r);
		curl_easy_cleanup(c);
		curl_slist_free_all(hdrs);
		if (rc == CURLE_OK && r.status >= 200 && r.status <= 299) {
			if (!m.data && !(m.data = strdup("")))
				return err_set(e, ERR_FAIL, "out of memory");
			*body = m.data;
			if (len)
				*len = m.len;
			return 0;
		}
		free(m.data);
		if (m.too_big)
			return err_set(e, ERR_CORRUPT, "%s: response is larger than %zu bytes", url,
				       max);
		if (attempt >= retries ||
		    !(rc == CURLE_OK ? http_transient_status(r.status) : http_transient_curl(rc)))
			return rc == CURLE_OK ? http_status_error(url, r.status, o && o->bearer, e)
					      : http_curl_error(url, rc, errbuf, e);
		http_backoff((unsigned)attempt + 1);
	}
}

/* The cache files of one URL: KEY.part (the bytes) and KEY.json (URL and validators). */
struct cache_files {
	char *part, *meta;
};

static int cache_files_of(const char *url, const char *cache_dir, struct cache_files *cf,
			  struct err *e)
{
	char hex[33];

	if (hash_key_hex(url, hex, e) < 0)
		return -1;
	if (asprintf(&cf->part, "%s/downloads/%s.part", cache_dir, hex) < 0) {
		cf->part = NULL;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (asprintf(&cf->meta, "%s/downloads/%s.json", cache_dir, hex) < 0) {
		free(cf->part);
		cf->part = cf->meta = NULL;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

static void cache_files_free(struct cache_files *cf)
{
	free(cf->part);
	free(cf->meta);
}

struct meta {
	char etag[HTTP_VALIDATOR_MAX];
	char last_modified[HTTP_VALIDATOR_MAX];
	bool complete;
};

/* A missing or unreadable meta file just means "nothing to resume". */
static void meta_load(const char *path, const char *url, struct meta *m)
{
	struct json_object *root, *v;
	char *buf;
	size_t len;

	memset(m, 0, sizeof(*m));
	if (fs_read_file(path, HTTP_META_MAX, &buf, &len, NULL) < 0)
		return;
	root = json_tokener_parse(buf);
	free(buf);
	if (!root)
		return;
	/* a damaged cache file ("url": null) must not crash: get_string gives NULL for null */
	if (json_object_object_get_ex(root, "url", &v) && json_object_is_type(v, json_type_string) &&
	    !strcmp(json_object_get_string(v), url)) {
		if (json_object_object_get_ex(root, "etag", &v))
			snprintf(m->etag, sizeof(m->etag), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(root, "last_modified", &v))
			snprintf(m->last_modified, sizeof(m->last_modified), "%s",
				 json_object_get_string(v));
		if (json_object_object_get_ex(root, "complete", &v))
			m->complete = json_object_get_boolean(v);
	}
	json_object_put(root);
}

static int meta_save(const char *path, const char *url, const struct meta *m, struct err *e)
{
	struct json_object *root = json_object_new_object();
	const char *s;
	int rc;

	if (!root)
		return err_set(e, ERR_FAIL, "out of memory");
	json_object_object_add(root, "url", json_object_new_string(url));
	json_object_object_add(root, "etag", json_object_new_string(m->etag));
	json_object_object_add(root, "last_modified", json_object_new_string(m->last_modified));
	json_object_object_add(root, "complete", json_object_new_boolean(m->complete));
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	rc = fs_write_atomic(path, s, strlen(s), 0600, e);
	json_object_put(root);
	return rc;
}

/* One download attempt's state, shared with the libcurl callbacks. */
struct xfer {
	const char *url;
	const char *meta_path;
	int fd;
	uint64_t offset;       /* bytes taken: in the file, then fill bytes in buf */
	uint64_t start_offset; /* offset when this request was sent */
	uint64_t synced;       /* bytes handed to writeback */
	bool defer_sync;       /* http_opts.defer_sync */
	const struct http_opts *o; /* for its arrived callback */
	bool sent_if_range;    /* this request's Range was conditional on our validator */
	bool started;	       /* the final response's body has begun */
	bool not_modified;
	struct hash *hash;
	struct hashpipe *pipe; /* digests hash's bytes on a worker thread */
	char *buf;	       /* bytes not written yet: a ring buffer of pipe, or own */
	size_t fill, cap;
	char *own; /* the buffer when there is no pipe */
	struct response r;
	struct meta *meta;
	struct http_download *d;
	const struct progress *progress;
	struct err *e;
	bool failed;	    /* a local failure (disk, hash) stopped the transfer */
	uint64_t max_bytes; /* the file may not grow past this */
	bool too_big;	    /* ... and it would have */
};

static int xfer_too_big(struct xfer *x, uint64_t size)
{
	x->too_big = true;
	return err_set(x->e, ERR_CORRUPT,
		       "%s: the file is larger (%s%llu bytes) than the download limit of %llu "
		       "bytes; nothing was kept",
		       x->url, x->r.length >= 0 ? "" : "at least ", (unsigned long long)size,
		       (unsigned long long)x->max_bytes);
}

/* The disk must keep this much free after a download: the box is extracted and converted on
 * the same disk, and a full disk breaks everything else on the machine. */
#define HTTP_MIN_FREE (32ULL << 20)

/* Refuses to grow the partial by more bytes when the disk would keep less than HTTP_MIN_FREE
 * (checked before the body, with its announced length, and on every buffer written). */
static int xfer_check_space(struct xfer *x, uint64_t more)
{
	struct statvfs sv;
	uint64_t avail;

	if (fstatvfs(x->fd, &sv) < 0)
		return 0; /* unknown: the write itself will say */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= HTTP_MIN_FREE && more <= avail - HTTP_MIN_FREE)
		return 0;
	return err_set(x->e, ERR_IO,
		       "%s: not enough free space for the download (%llu MiB free, %s%llu MiB "
		       "more needed and %llu MiB kept free)",
		       x->url, (unsigned long long)(avail >> 20), x->r.length >= 0 ? "" : "at least ",
		       (unsigned long long)((more + (1 << 20) - 1) >> 20),
		       (unsigned long long)(HTTP_MIN_FREE >> 20));
}

/* The first body bytes decide what the response means for the partial file. */
static int xfer_begin(struct xfer *x)
{
	uint64_t base = x->r.status == 206 ? x->offset : 0;

	x->started = true;
	if (x->r.length >= 0 &&
	    (base > x->max_bytes || (uint64_t)x->r.length > x->max_bytes - base))
		return xfer_too_big(x, base + (uint64_t)x->r.length);
	if (x->r.length >= 0) {
		uint64_t need = (uint64_t)x->r.length;

		/* a 200 replaces the partial, whose blocks are then free again */
		if (x->r.status != 206)
			need = need > x->offset ? need - x->offset : 0;
		if (xfer_check_space(x, need) < 0)
			return -1;
	}
	if (x->r.status == 206) {
		if (x->r.range_start != (long long)x->offset) {
			err_set(x->e, ERR_NET, "%s: server resumed at byte %lld, not %llu", x->url,
				x->r.range_start, (unsigned long long)x->offset);
			return -1;
		}
		return 0;
	}
	/* 200: the whole file, again or changed (or the server ignored the Range): start over,
	 * and nothing was resumed. */
	x->d->resumed_from = 0;
	if (ftruncate(x->fd, 0) < 0) {
		err_sys(x->e, "cannot truncate the download of %s", x->url);
		return -1;
	}
	x->offset = x->start_offset = x->synced = 0;
	if (x->pipe)
		hashpipe_drain(x->pipe);
	if (x->hash && hash_reset(x->hash, x->e) < 0)
		return -1;
	snprintf(x->meta->etag, sizeof(x->meta->etag), "%s", x->r.etag);
	snprintf(x->meta->last_modified, sizeof(x->meta->last_modified), "%s", x->r.last_modified);
	x->meta->complete = false;
	return meta_save(x->meta_path, x->url, x->meta, x->e);
}

/* Writes the gathered bytes at the end of the file and queues them for the digest (the
 * buffer itself goes to the digest thread: nothing is copied). */
static int xfer_flush(struct xfer *x)
{
	uint64_t at = x->offset - x->fill;
	size_t done = 0;

	if (xfer_check_space(x, x->fill) < 0) {
		x->failed = true;
		return -1;
	}
	while (done < x->fill) {
		size_t n = x->fill - done < HTTP_WRITE_PIECE ? x->fill - done : HTTP_WRITE_PIECE;

		if (fs_pwrite_all(x->fd, x->buf + done, n, (off_t)(at + done)) < 0) {
			x->failed = true;
			return err_sys(x->e, "cannot write the download of %s", x->url);
		}
		done += n;
	}
	if (x->o && x->o->arrived)
		x->o->arrived(x->o->arrived_ctx, x->fd, at, at + x->fill);
	if (x->pipe) {
		hashpipe_put(x->pipe, x->fill);
		x->buf = NULL;
	}
	x->fill = 0;
	/* Start writeback as the file grows so that the final fsync has little left to wait
	 * for (a plain `curl -o` never syncs; this keeps the download close to it). */
	if (!x->defer_sync && x->offset - x->synced >= HTTP_WRITEBACK_CHUNK) {
		sync_file_range(x->fd, (off_t)x->synced, (off_t)(x->offset - x->synced),
				SYNC_FILE_RANGE_WRITE);
		x->synced = x->offset;
	}
	return 0;
}

static size_t file_write(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n, done = 0;

	if (x->r.status != 200 && x->r.status != 206)
		return len; /* an error page or a 304: not part of the file */
	if (!x->started && xfer_begin(x) < 0) {
		x->failed = true;
		return 0;
	}
	if (x->offset > x->max_bytes || len > x->max_bytes - x->offset) {
		xfer_too_big(x, x->offset + len);
		x->failed = true;
		return 0;
	}
	while (done < len) {
		size_t k;

		if (!x->buf)
			x->buf = hashpipe_get(x->pipe, &x->cap);
		k = x->cap - x->fill < len - done ? x->cap - x->fill : len - done;
		memcpy(x->buf + x->fill, p + done, k);
		x->fill += k;
		x->offset += k;
		done += k;
		if (x->fill == x->cap && xfer_flush(x) < 0)
			return 0;
	}
	x->d->fetched += len;
	return len;
}

static int xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct xfer *x = ud;
	uint64_t base = x->r.status == 206 ? x->start_offset : 0;

	if (dlnow == 0 && dltotal == 0)
		return 0; /* nothing known yet (connecting, redirects) */
	progress_update(x->progress, base + (uint64_t)dlnow,
			dltotal > 0 ? base + (uint64_t)dltotal : 0);
	return 0;
}

/* One request: Range + If-Range for a partial, a conditional GET for a complete copy. */
static CURLcode xfer_run(struct xfer *x, const struct http_opts *o, char *errbuf)
{
	struct curl_slist *hdrs = NULL;
	const char *validator = x->meta->etag[0] ? x->meta->etag : x->meta->last_modified;
	char line[HTTP_VALIDATOR_MAX + 32], range[64];
	CURL *c;
	CURLcode rc;

	memset(&x->r, 0, sizeof(x->r));
	x->r.range_start = x->r.range_total = -1;
	x->sent_if_range = false;
	x->started = false;
	x->not_modified = false;
	x->start_offset = x->offset;
	c = http_easy_new(x->url, o, &x->r, x->e);
	if (!c)
		return CURLE_FAILED_INIT;
	if (x->offset > 0 && x->meta->complete) {
		if (x->meta->etag[0])
			snprintf(line, sizeof(line), "If-None-Match: %s", x->meta->etag);
		else
			snprintf(line, sizeof(line), "If-Modified-Since: %s",
				 x->meta->last_modified);
		hdrs = curl_slist_append(hdrs, line);
	} else if (x->offset > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->offset);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
		/* Without a validator (a retry within this run) the bytes are trusted as they are;
		 * across runs a partial without one is never resumed (see download_remote). */
		if (validator[0]) {
			snprintf(line, sizeof(line), "If-Range: %s", validator);
			hdrs = curl_slist_append(hdrs, line);
			x->sent_if_range = true;
		}
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, file_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (x->progress) {
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	}
	rc = perform(c, x->url, o, &x->r);
	x->d->attempts++;
	/* What arrived is good, whether the transfer ended or broke (a retry resumes after it). */
	if (!x->failed && x->fill)
		xfer_flush(x);
	if (rc == CURLE_OK && x->r.status == 304)
		x->not_modified = true;
	/* An empty 200/206 body never reached file_write: settle the file state here. */
	if (rc == CURLE_OK && !x->started && (x->r.status == 200 || x->r.status == 206) &&
	    xfer_begin(x) < 0)
		x->failed = true;
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return rc;
}

/* Makes the file empty and the hash fresh (a partial we cannot trust). */
static int restart(struct xfer *x)
{
	if (ftruncate(x->fd, 0) < 0)
		return err_sys(x->e, "cannot truncate the download of %s", x->url);
	x->offset = x->synced = 0;
	memset(x->meta, 0, sizeof(*x->meta));
	if (x->pipe)
		hashpipe_drain(x->pipe);
	return x->hash ? hash_reset(x->hash, x->e) : 0;
}

static int download_remote(const char *url, const struct cache_files *cf, const struct http_opts *o,
			   struct hash *h, struct http_download *d, struct err *e)
{
	int retries = o && o->retries >= 0 ? o->retries : HTTP_DEFAULT_RETRIES;
	struct meta meta;
	struct xfer x = {.url = url,
			 .meta_path = cf->meta,
			 .hash = h,
			 .meta = &meta,
			 .d = d,
			 .progress = o ? o->progress : NULL,
			 .e = e,
			 .max_bytes = o && o->max_bytes ? o->max_bytes : HTTP_DEFAULT_MAX_BYTES,
			 .defer_sync = o && o->defer_sync,
			 .o = o};
	struct stat st;
	bool restarted = false;

	/* Two downloads of one URL at once (under different box names) would interleave: the
	 * second waits for the lock, which the first holds until it is done with the file
	 * (http_download_free). If the first removed the file meanwhile, the lock is on a file
	 * nobody will see: open the name again. */
	for (;;) {
		struct stat named;

		x.fd = open(cf->part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (x.fd < 0)
			return err_sys(e, "cannot open %s", cf->part);
		if (flock(x.fd, LOCK_EX) < 0 || fstat(x.fd, &st) < 0) {
			err_sys(e, "cannot lock %s", cf->part);
			close(x.fd);
			return -1;
		}
		if (stat(cf->part, &named) == 0 && named.st_dev == st.st_dev &&
		    named.st_ino == st.st_ino)
			break;
		close(x.fd);
	}
	meta_load(cf->meta, url, &meta);
	x.offset = x.synced = (uint64_t)st.st_size;
	if (x.offset > 0 && !meta.etag[0] && !meta.last_modified[0]) {
		if (restart(&x) < 0)
			goto fail;
	} else if (x.offset > 0) {
		d->resumed_from = x.offset;
		if (h && hash_file(h, cf->part, e) < 0)
			goto fail;
	}
	if (h && hashpipe_start(h, &x.pipe, e) < 0)
		goto fail;
	if (!h) {
		if (!(x.own = malloc(HTTP_WRITE_BUF))) {
			err_set(e, ERR_FAIL, "out of memory");
			goto fail;
		}
		x.buf = x.own;
		x.cap = HTTP_WRITE_BUF;
	}
	for (unsigned attempt = 0;; attempt++) {
		char errbuf[CURL_ERROR_SIZE] = "";
		CURLcode rc = xfer_run(&x, o, errbuf);

		if (x.failed || rc == CURLE_FAILED_INIT)
			goto fail;
		if (rc == CURLE_OK && (x.r.status == 200 || x.r.status == 206 || x.not_modified))
			break;
		/* Range past the end with our validator matching (else If-Range would have
		 * given a 200): the partial is the whole file, complete but not yet marked so
		 * (an add killed after its download) */
		if (rc == CURLE_OK && x.r.status == 416 && x.sent_if_range &&
		    x.r.range_total >= 0 && (uint64_t)x.r.range_total == x.offset)
			break;
		if (rc == CURLE_OK && x.r.status == 416 && !restarted) {
			/* Our partial is not a prefix of what the server has now. */
			restarted = true;
			d->resumed_from = 0;
			if (restart(&x) < 0)
				goto fail;
			continue;
		}
		if ((int)attempt >= retries ||
		    !(rc == CURLE_OK ? http_transient_status(x.r.status) : http_transient_curl(rc))) {
			if (rc == CURLE_OK)
				http_status_error(url, x.r.status, o && o->bearer, e);
			else
				http_curl_error(url, rc, errbuf, e);
			goto fail;
		}
		http_backoff(attempt + 1);
	}
	if (!x.defer_sync) {
		if (fsync(x.fd) < 0) {
			err_sys(e, "cannot write %s", cf->part);
			goto fail;
		}
		meta.complete = true;
		if (meta_save(cf->meta, url, &meta, e) < 0)
			goto fail;
	}
	d->size = x.offset;
	d->in_cache = true;
	if (!(d->path = strdup(cf->part))) {
		err_set(e, ERR_FAIL, "out of memory");
		goto fail;
	}
	hashpipe_finish(x.pipe);
	free(x.own);
	d->lock_fd = x.fd; /* still locked: released by http_download_free */
	d->locked = true;
	return 0;
fail:
	hashpipe_finish(x.pipe);
	free(x.own);
	/* Nothing worth resuming (a 404, a refused TLS handshake, a file over the limit, bytes
	 * without an ETag or Last-Modified that no later run would trust): leave no litter. */
	if (x.too_big || (!meta.etag[0] && !meta.last_modified[0]) ||
	    (fstat(x.fd, &st) == 0 && st.st_size == 0)) {
		unlink(cf->part);
		unlink(cf->meta);
	}
	close(x.fd);
	return -1;
}

int http_download(const char *url, const char *cache_dir, const struct http_opts *o, struct hash *h,
		  struct http_download *d, struct err *e)
{
	struct cache_files cf;
	char *dir;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!http_is_remote(url)) {
		const char *p = local_path(url);
		struct stat st;
		int fd;

		if (stat(p, &st) < 0 && errno == ENOENT)
			return err_set(e, ERR_NOTFOUND, "%s: no such file", p);
		/* never stat-then-open by name alone: a FIFO must not be opened blocking */
		fd = fs_open_input(p, false, e);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return err_sys(e, "cannot stat %s", p);
		}
		close(fd);
		if (h && hash_file(h, p, e) < 0)
			return -1;
		d->size = (uint64_t)st.st_size;
		if (!(d->path = strdup(p)))
			return err_set(e, ERR_FAIL, "out of memory");
		return 0;
	}
	if (asprintf(&dir, "%s/downloads", cache_dir) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	rc = fs_mkdir_p(dir, 0700, e);
	free(dir);
	if (rc < 0 || cache_files_of(url, cache_dir, &cf, e) < 0)
		return -1;
	rc = download_remote(url, &cf, o, h, d, e);
	cache_files_free(&cf);
	return rc;
}

void http_download_free(struct http_download *d)
{
	free(d->path);
	d->path = NULL;
	if (d->locked)
		close(d->lock_fd);
	d->locked = false;
}

void http_download_forget(const char *url, const char *cache_dir)
{
	struct cache_files cf;

	if (!http_is_remote(url) || cache_files_of(url, cache_dir, &cf, NULL) < 0)
		return;
	unlink(cf.part);
	unlink(cf.meta);
	cache_files_free(&cf);
}

int http_cache_prune(const char *cache_dir, bool dry_run, uint64_t *bytes, unsigned *files,
		     struct err *e)
{
	char *dir;
	DIR *d;
	struct dirent *de;

	*bytes = 0;
	*files = 0;
	if (asprintf(&dir, "%s/downloads", cache_dir) < 0)
		return err_set(e, ERR_FAIL, "out of memory");
	d = opendir(dir);
	if (!d) {
		int rc = errno == ENOENT ? 0 : err_sys(e, "cannot list %s", dir);

		free(dir);
		return rc;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;
		int fd;

		if (n < 6 || strcmp(de->d_name + n - 5, ".part"))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* a download in progress holds the lock: never take its file away */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			char meta[NAME_MAX + 1];

			snprintf(meta, sizeof(meta), "%.*s.json", (int)(n - 5), de->d_name);
			*bytes += (uint64_t)st.st_blocks * 512;
			(*files)++;
			if (!dry_run) {
				unlinkat(dirfd(d), de->d_name, 0);
				unlinkat(dirfd(d), meta, 0);
			}
		}
		close(fd);
	}
	closedir(d);
	free(dir);
	return 0;
}
