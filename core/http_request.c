/* http_request: one request of any method, for publishing to a registry. The upload is read
 * from a file descriptor in large pieces (what `curl -T` does, with a bigger buffer), so that
 * a box goes out as fast as the server takes it. */
#include "core/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/http_impl.h"

/* The largest upload buffer libcurl accepts (CURL_MAX_READ_SIZE is 10 MB on newer ones). */
#define HTTP_UPLOAD_BUF (2L << 20)

struct upload {
	const struct http_request *rq;
	uint64_t off;
	bool failed;
	int err;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct upload *u = ud;
	uint64_t total = u->rq->from_fd ? u->rq->upload_size : u->rq->body_len;
	size_t want = size * n;
	ssize_t got;

	if (u->off >= total)
		return 0;
	if (want > total - u->off)
		want = (size_t)(total - u->off);
	if (!u->rq->from_fd) {
		memcpy(buf, (const char *)u->rq->body + u->off, want);
		u->off += want;
		return want;
	}
	do
		got = pread(u->rq->upload_fd, buf, want, (off_t)u->off);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		/* a file that shrank under us is as bad as a read error */
		u->failed = true;
		u->err = got < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	u->off += (uint64_t)got;
	return (size_t)got;
}

struct sink {
	struct http_response *rs;
	struct response *r;
	size_t max;
	bool too_big;
};

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = size * n;
	char *nb;

	if (s->r->status < 200 || s->r->status > 299 || !s->max)
		return len; /* error pages and unwanted bodies are dropped */
	if (s->rs->len + len > s->max) {
		s->too_big = true;
		return 0;
	}
	nb = realloc(s->rs->body, s->rs->len + len + 1);
	if (!nb)
		return 0;
	memcpy(nb + s->rs->len, p, len);
	s->rs->body = nb;
	s->rs->len += len;
	nb[s->rs->len] = '\0';
	return len;
}

static CURLcode perform(const struct http_request *rq, const struct http_opts *o,
			struct http_response *rs, struct response *r, struct upload *u,
			bool *too_big, char *errbuf, struct err *e)
{
	struct sink sink = {.rs = rs, .r = r, .max = rq->max_response};
	struct curl_slist *h = NULL;
	bool get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
	bool upload = rq->from_fd || rq->body;
	char line[HTTP_VALIDATOR_MAX + 32];
	CURL *c = http_easy_new(rq->url, o, r, e);
	CURLcode rc;
	char *eff = NULL;

	if (!c)
		return CURLE_FAILED_INIT;
	/* A PUT is not replayed elsewhere. A GET follows redirects only when it carries no token:
	 * libcurl would keep the token on a same-host redirect out of the registry's path, which
	 * http_easy_new's scope check cannot see (http.c's downloads decide at every hop). */
	if (get && !(o && o->bearer && *o->bearer)) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	}
	if (upload) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, HTTP_UPLOAD_BUF);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, u);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(rq->from_fd ? rq->upload_size : rq->body_len));
	}
	if (strcmp(rq->method, upload ? "PUT" : "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	if (!strcmp(rq->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (rq->if_match) {
		snprintf(line, sizeof(line), "If-Match: %s", rq->if_match);
		h = curl_slist_append(h, line);
	}
	if (rq->if_none_match) {
		snprintf(line, sizeof(line), "If-None-Match: %s", rq->if_none_match);
		h = curl_slist_append(h, line);
	}
	if (rq->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
		h = curl_slist_append(h, line);
	}
	if (get && rq->max_response)
		h = curl_slist_append(h, "Accept: application/json");
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) {
		free(rs->effective_url);
		rs->effective_url = strdup(eff);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	*too_big = sink.too_big;
	return rc;
}

int http_request(const struct http_request *rq, const struct http_opts *o, struct http_response *rs,
		 struct err *e)
{
	int retries = o && o->retries >= 0 ? o->retries : 5;

	memset(rs, 0, sizeof(*rs));
	if (!http_is_remote(rq->url))
		return err_set(e, ERR_USAGE, "%s: not an http(s) URL", rq->url);
	for (int attempt = 0;; attempt++) {
		struct response r = {.range_start = -1, .range_total = -1, .length = -1};
		struct upload u = {.rq = rq};
		char errbuf[CURL_ERROR_SIZE] = "";
		bool too_big = false;
		CURLcode rc;

		free(rs->body);
		rs->body = NULL;
		rs->len = 0;
		rc = perform(rq, o, rs, &r, &u, &too_big, errbuf, e);
		if (rc == CURLE_FAILED_INIT)
			return -1;
		if (u.failed) {
			errno = u.err;
			return err_sys(e, "cannot read what is being sent to %s", rq->url);
		}
		if (too_big)
			return err_set(e, ERR_CORRUPT, "%s: response is larger than %zu bytes",
				       rq->url, rq->max_response);
		if (rc == CURLE_OK && !(http_transient_status(r.status) && attempt < retries)) {
			rs->status = r.status;
			rs->sent = u.off;
			snprintf(rs->etag, sizeof(rs->etag), "%s", r.etag);
			snprintf(rs->content_type, sizeof(rs->content_type), "%s", r.content_type);
			if (r.status >= 200 && r.status <= 299 && rq->max_response && !rs->body &&
			    !(rs->body = strdup("")))
				return err_set(e, ERR_FAIL, "out of memory");
			return 0;
		}
		if (rc != CURLE_OK && (attempt >= retries || !http_transient_curl(rc))) {
			http_response_free(rs);
			return http_curl_error(rq->url, rc, errbuf, e);
		}
		http_backoff((unsigned)attempt + 1);
	}
}

void http_response_free(struct http_response *rs)
{
	free(rs->effective_url);
	free(rs->body);
	rs->effective_url = rs->body = NULL;
}
