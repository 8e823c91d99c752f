/* What core/http.c and core/http_request.c share: one way to set up a libcurl handle (TLS,
 * tokens, redirects, tracing), the header parser and the retry rules. Not for other layers. */
#ifndef ENVUP_CORE_HTTP_IMPL_H
#define ENVUP_CORE_HTTP_IMPL_H

#include <curl/curl.h>
#include <stdbool.h>

#include "core/http.h"

#define HTTP_VALIDATOR_MAX 512

/* What one transfer saw in the headers of its final response (redirects reset it). */
struct response {
	long status;
	char etag[HTTP_VALIDATOR_MAX];
	char last_modified[HTTP_VALIDATOR_MAX];
	char content_type[128];
	long long range_start; /* from Content-Range, -1 when absent */
	long long range_total; /* the complete length from Content-Range, -1 when absent */
	long long length;      /* from Content-Length, -1 when absent */
};

/* A handle for url with o's TLS, token, tracing and redirect rules; headers go to r. */
CURL *http_easy_new(const char *url, const struct http_opts *o, struct response *r, struct err *e);

/* Failures worth another attempt. */
bool http_transient_curl(CURLcode rc);
bool http_transient_status(long s);

/* Fills e from a libcurl failure (with a --cacert hint for TLS trust failures); returns -1. */
int http_curl_error(const char *url, CURLcode rc, const char *detail, struct err *e);

/* Sleeps before retry n (1-based): 0.25 s doubling, capped at 8 s. */
void http_backoff(unsigned n);

#endif
