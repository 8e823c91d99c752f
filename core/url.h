/* URL origins: the one place that decides whether two URLs name the same server (scheme, host
 * and port), which is where a registry's token may go. Kept apart from any path rule so that
 * a normaliser for "is this URL under that one" can sit beside it. */
#ifndef ENVUP_CORE_URL_H
#define ENVUP_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>

#define URL_HOST_MAX 256

struct url_origin {
	char scheme[8];		 /* "http" or "https", lower case */
	char host[URL_HOST_MAX]; /* lower case, no brackets, no trailing dot */
	unsigned port;		 /* explicit, or the scheme's default */
};

/* Parses the origin of an http(s) URL; false for anything else or a malformed authority
 * (user info is skipped, an empty host or a port outside 1..65535 is malformed). */
bool url_origin_parse(const char *url, struct url_origin *o);

/* True when a and b are http(s) URLs with the same scheme, host and port ("HTTP://Host:80/x"
 * and "http://host/y" are the same; "http://h" and "https://h", or another port, are not). */
bool url_same_origin(const char *a, const char *b);

#endif
