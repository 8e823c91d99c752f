/* http(s) URLs as security decisions need them: normalized (RFC 3986 section 6: case, default
 * port, percent-encoding of unreserved characters, dot segments removed), resolved against a
 * base (section 5.2), the one test "does this URL lie under that registry?" that decides
 * whether a registry's token may be sent (made again for every redirect hop). */
#ifndef ENVUP_CORE_URL_H
#define ENVUP_CORE_URL_H

#include <stdbool.h>

#include "core/err.h"

/* The normal form of an http(s) URL as a heap string: scheme and host in lower case, no
 * default port, %XX of unreserved characters decoded (so "%2e%2E" is "..") and other escapes
 * in upper case, "." and ".." segments removed, no fragment. ERR_USAGE when url is not an
 * http(s) URL with a host. */
int url_normalize(const char *url, char **out, struct err *e);

/* ref resolved against the http(s) URL base as a browser would (RFC 3986 5.2: "x.box",
 * "../x.box", "/x.box", "//host/x.box", or absolute), normalized; heap string. */
int url_resolve(const char *base, const char *ref, char **out, struct err *e);

/* True when url, normalized, has prefix's scheme, host and port and a path equal to prefix's
 * path or below it at a "/" boundary. False for anything that does not parse, for URLs with
 * user information, and for paths holding an encoded "/" or "\" (a server that decodes them
 * before resolving ".." could leave the prefix). */
bool url_is_under(const char *prefix, const char *url);

#endif
