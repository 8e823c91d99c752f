/* http_request: one request of any method, for publishing to a registry. The upload is read
 * from a file descriptor in large pieces (what `curl -T` does, with a bigger buffer), so that
 * a box goes out as fast as the server takes it. */
#include "core/http.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "core/http_impl.h"
#include "core/url.h"

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

/* The direct upload: a PUT of a file over plain http (no proxy, no -v trace) goes out with
 * sendfile(2) on the connection libcurl opened, so the box's pages go from the page cache to
 * the socket without passing through this process (a read into a buffer and a send from it
 * are the two copies `curl -T` makes). libcurl connects (and resolves, and applies
 * CONNECTTIMEOUT); the request line and headers are written here and the response's status
 * line and headers read back; the connection is closed after it. */
#define DIRECT_HEAD_MAX 16384
#define DIRECT_STALL_MS 60000

static bool direct_upload_possible(const struct http_request *rq, const struct http_opts *o)
{
	static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};

	if (!rq->from_fd || strcmp(rq->method, "PUT") || strncasecmp(rq->url, "http://", 7) ||
	    (o && o->trace))
		return false;
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		if (getenv(proxies[i]) && *getenv(proxies[i]))
			return false;
	/* header values written here verbatim: no line breaks can get into the request */
	if ((o && o->bearer && strpbrk(o->bearer, "\r\n")) ||
	    (rq->content_type && strpbrk(rq->content_type, "\r\n")) ||
	    (rq->if_match && strpbrk(rq->if_match, "\r\n")))
		return false;
	return true;
}

/* Waits until the socket is ready for events; false after DIRECT_STALL_MS without. */
static bool wait_socket(curl_socket_t sock, short events)
{
	struct pollfd p = {.fd = sock, .events = events};
	int n;

	do
		n = poll(&p, 1, DIRECT_STALL_MS);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

static CURLcode send_all(CURL *c, curl_socket_t sock, const char *buf, size_t len)
{
	while (len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(c, buf, len, &n);

		if (rc == CURLE_AGAIN) {
			if (!wait_socket(sock, POLLOUT))
				return CURLE_OPERATION_TIMEDOUT;
			continue;
		}
		if (rc != CURLE_OK)
			return rc;
		buf += n;
		len -= n;
	}
	return CURLE_OK;
}

/* Reads the response's status line and headers (the body, if any, is not wanted). */
static CURLcode read_head(CURL *c, curl_socket_t sock, struct response *r)
{
	char head[DIRECT_HEAD_MAX + 1], *line, *end;
	size_t len = 0;

	for (;;) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(c, head + len, DIRECT_HEAD_MAX - len, &n);

		if (rc == CURLE_AGAIN) {
			if (!wait_socket(sock, POLLIN))
				return CURLE_OPERATION_TIMEDOUT;
			continue;
		}
		if (rc != CURLE_OK)
			return rc;
		if (n == 0)
			return CURLE_GOT_NOTHING;
		len += n;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
		/* an interim 100 Continue is skipped, as libcurl does */
		if (end && !strncmp(head, "HTTP/1.1 100", 12)) {
			len -= (size_t)(end + 4 - head);
			memmove(head, end + 4, len + 1);
			continue;
		}
		if (end)
			break;
		if (len == DIRECT_HEAD_MAX)
			return CURLE_WEIRD_SERVER_REPLY;
	}
	*end = '\0';
	if (strncmp(head, "HTTP/1.", 7) || !strchr(head, ' '))
		return CURLE_WEIRD_SERVER_REPLY;
	r->status = strtol(strchr(head, ' ') + 1, NULL, 10);
	for (line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (!strncasecmp(line, "ETag:", 5)) {
			const char *v = line + 5 + strspn(line + 5, " \t");

			snprintf(r->etag, sizeof(r->etag), "%.*s", (int)strcspn(v, "\r"), v);
		}
	}
	return CURLE_OK;
}

static CURLcode direct_upload(const struct http_request *rq, const struct http_opts *o,
			      struct response *r, struct upload *u, char *errbuf, struct err *e)
{
	CURL *c = http_easy_new(rq->url, o, r, e);
	CURLU *h = curl_url();
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *head = NULL;
	const char *scope = o && o->bearer_scope ? o->bearer_scope : rq->url;
	bool token = o && o->bearer && *o->bearer && url_is_under(scope, rq->url);
	sigset_t pipe_set, old_set;
	curl_socket_t sock = CURL_SOCKET_BAD;
	off_t off = 0;
	CURLcode rc;
	int hl;

	if (!c || !h) {
		curl_easy_cleanup(c);
		curl_url_cleanup(h);
		return CURLE_FAILED_INIT;
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &sock);
	if (rc != CURLE_OK)
		goto out;
	if (curl_url_set(h, CURLUPART_URL, rq->url, 0) ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(h, CURLUPART_PATH, &path, 0)) {
		rc = CURLE_URL_MALFORMAT;
		goto out;
	}
	curl_url_get(h, CURLUPART_PORT, &port, 0);
	curl_url_get(h, CURLUPART_QUERY, &query, 0);
	hl = asprintf(&head,
		      "PUT %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: envup/" ENVUP_VERSION
		      "\r\nAccept: */*\r\nContent-Length: %llu\r\n%s%s%s%s%s%s%s%s%s"
		      "Connection: close\r\n\r\n",
		      path, query ? "?" : "", query ? query : "", host, port ? ":" : "",
		      port ? port : "", (unsigned long long)rq->upload_size,
		      rq->content_type ? "Content-Type: " : "",
		      rq->content_type ? rq->content_type : "", rq->content_type ? "\r\n" : "",
		      token ? "Authorization: Bearer " : "", token ? o->bearer : "",
		      token ? "\r\n" : "", rq->if_match ? "If-Match: " : "",
		      rq->if_match ? rq->if_match : "", rq->if_match ? "\r\n" : "");
	if (hl < 0) {
		head = NULL;
		rc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	rc = send_all(c, sock, head, (size_t)hl);
	/* sendfile has no MSG_NOSIGNAL: a peer that closed early must not kill us with SIGPIPE */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	while (rc == CURLE_OK && (uint64_t)off < rq->upload_size) {
		ssize_t n = sendfile(sock, rq->upload_fd, &off, rq->upload_size - (uint64_t)off);

		if (n < 0 && errno == EAGAIN) {
			if (!wait_socket(sock, POLLOUT))
				rc = CURLE_OPERATION_TIMEDOUT;
		} else if (n < 0 && errno != EINTR) {
			rc = CURLE_SEND_ERROR;
			snprintf(errbuf, CURL_ERROR_SIZE, "%s", strerror(errno));
		} else if (n == 0) {
			/* the file is shorter than it was: as bad as a read error */
			u->failed = true;
			u->err = EIO;
			rc = CURLE_READ_ERROR;
		}
	}
	if (!sigismember(&old_set, SIGPIPE)) {
		struct timespec zero = {0, 0};
		sigset_t pending;

		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			sigtimedwait(&pipe_set, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	}
	u->off = (uint64_t)off;
	/* A server that refused early (401, 413) may have answered and closed: read its answer
	 * even when the body could not all be sent. */
	if (rc == CURLE_OK || rc == CURLE_SEND_ERROR) {
		CURLcode hr = read_head(c, sock, r);

		if (hr == CURLE_OK && (rc == CURLE_OK || r->status >= 400))
			rc = CURLE_OK;
		else if (rc == CURLE_OK)
			rc = hr;
	}
out:
	free(head);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	curl_easy_cleanup(c);
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
		rc = direct_upload_possible(rq, o)
			     ? direct_upload(rq, o, &r, &u, errbuf, e)
			     : perform(rq, o, rs, &r, &u, &too_big, errbuf, e);
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
