#include "core/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An http(s) URL cut into its parts (heap strings; query NULL when absent). */
struct url_parts {
	char *scheme, *auth, *path, *query;
};

static void parts_free(struct url_parts *u)
{
	free(u->scheme);
	free(u->auth);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

/* RFC 3986 "scheme ':'": true when s starts with one (length in *n, without the ':'). */
static bool has_scheme(const char *s, size_t *n)
{
	size_t i = 0;

	if (!isalpha((unsigned char)s[0]))
		return false;
	while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	*n = i;
	return s[i] == ':';
}

/* Splits "path?query#fragment" (the fragment is dropped). */
static int split_tail(const char *s, struct url_parts *u)
{
	size_t np = strcspn(s, "?#");

	u->path = strndup(s, np);
	if (s[np] == '?')
		u->query = strndup(s + np + 1, strcspn(s + np + 1, "#"));
	return u->path && (s[np] != '?' || u->query) ? 0 : -1;
}

static int parse(const char *url, struct url_parts *u, struct err *e)
{
	size_t n;
	const char *a;

	memset(u, 0, sizeof(*u));
	if (!has_scheme(url, &n) || strncmp(url + n, "://", 3) ||
	    !((n == 4 && !strncasecmp(url, "http", 4)) ||
	      (n == 5 && !strncasecmp(url, "https", 5))))
		return err_set(e, ERR_USAGE, "'%s' is not an http(s) URL", url);
	a = url + n + 3;
	u->scheme = strndup(url, n);
	u->auth = strndup(a, strcspn(a, "/?#"));
	if (!u->scheme || !u->auth || split_tail(a + strlen(u->auth), u) < 0) {
		parts_free(u);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (!u->auth[0]) {
		parts_free(u);
		return err_set(e, ERR_USAGE, "'%s' has no host", url);
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* %XX of unreserved characters decoded, other escapes upper-cased (in place: never longer). */
static int normalize_escapes(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (*r != '%') {
			*w++ = *r++;
			continue;
		}
		int hi = hexval((unsigned char)r[1]),
		    lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);

		if (hi < 0 || lo < 0)
			return -1;
		if (unreserved(hi * 16 + lo)) {
			*w++ = (char)(hi * 16 + lo);
		} else {
			*w++ = '%';
			*w++ = (char)toupper((unsigned char)r[1]);
			*w++ = (char)toupper((unsigned char)r[2]);
		}
		r += 3;
	}
	*w = '\0';
	return 0;
}

/* RFC 3986 5.2.4 remove_dot_segments, in place (the output never outgrows the input). */
static void remove_dot_segments(char *path)
{
	char *in = path, *out = path;
	size_t olen = 0;

	/* out and in share the buffer: out never passes in, so writes stay behind reads */
	while (*in) {
		if (!strncmp(in, "../", 3)) {
			in += 3;
		} else if (!strncmp(in, "./", 2)) {
			in += 2;
		} else if (!strncmp(in, "/./", 3)) {
			in += 2;
		} else if (!strcmp(in, "/.")) {
			in += 1;
			*in = '/';
		} else if (!strncmp(in, "/../", 4) || !strcmp(in, "/..")) {
			if (in[3] == '/') {
				in += 3;
			} else {
				in += 2;
				*in = '/';
			}
			while (olen && out[olen - 1] != '/')
				olen--;
			if (olen)
				olen--;
		} else if (!strcmp(in, ".") || !strcmp(in, "..")) {
			in += strlen(in);
		} else {
			size_t n = 1 + strcspn(in + 1, "/");

			if (*in != '/')
				n = strcspn(in, "/");
			memmove(out + olen, in, n);
			olen += n;
			in += n;
		}
	}
	out[olen] = '\0';
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Lower case, default port and empty port removed. */
static void normalize_auth(char *auth, const char *scheme)
{
	char *colon, *bracket = strrchr(auth, ']');

	lower(auth);
	colon = strrchr(bracket ? bracket : auth, ':');
	if (!colon || strchr(colon, '@'))
		return;
	if (!colon[1] || (!strcmp(scheme, "http") && !strcmp(colon + 1, "80")) ||
	    (!strcmp(scheme, "https") && !strcmp(colon + 1, "443")))
		*colon = '\0';
}

static int normalize_parts(struct url_parts *u, const char *url, struct err *e)
{
	lower(u->scheme);
	normalize_auth(u->auth, u->scheme);
	if (normalize_escapes(u->path) < 0 || (u->query && normalize_escapes(u->query) < 0))
		return err_set(e, ERR_USAGE, "'%s' has a malformed %%-escape", url);
	remove_dot_segments(u->path);
	if (!u->path[0]) {
		free(u->path);
		if (!(u->path = strdup("/")))
			return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

static int compose(const struct url_parts *u, char **out, struct err *e)
{
	if (asprintf(out, "%s://%s%s%s%s", u->scheme, u->auth, u->path, u->query ? "?" : "",
		     u->query ? u->query : "") < 0) {
		*out = NULL;
		return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

int url_normalize(const char *url, char **out, struct err *e)
{
	struct url_parts u;
	int rc;

	*out = NULL;
	if (parse(url, &u, e) < 0)
		return -1;
	rc = normalize_parts(&u, url, e);
	if (rc == 0)
		rc = compose(&u, out, e);
	parts_free(&u);
	return rc;
}

int url_resolve(const char *base, const char *ref, char **out, struct err *e)
{
	struct url_parts b, r = {0};
	size_t n;
	char *abs = NULL;
	int rc = -1;

	*out = NULL;
	if (has_scheme(ref, &n))
		return url_normalize(ref, out, e);
	if (parse(base, &b, e) < 0)
		return -1;
	if (!strncmp(ref, "//", 2)) {
		if (asprintf(&abs, "%s:%s", b.scheme, ref) < 0)
			abs = NULL;
		rc = abs ? url_normalize(abs, out, e) : err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (split_tail(ref, &r) < 0) {
		rc = err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (!r.path[0]) {
		free(r.path);
		r.path = strdup(b.path);
		if (!r.query && b.query)
			r.query = strdup(b.query);
	} else if (r.path[0] != '/') {
		const char *slash = strrchr(b.path, '/');
		char *merged;

		/* RFC 3986 5.2.3: the base path up to its last "/", then the reference */
		if (asprintf(&merged, "%.*s/%s", slash ? (int)(slash - b.path) : 0, b.path,
			     r.path) < 0)
			merged = NULL;
		free(r.path);
		r.path = merged;
	}
	r.scheme = strdup(b.scheme);
	r.auth = strdup(b.auth);
	if (!r.path || !r.scheme || !r.auth || (b.query && !r.query && !ref[0])) {
		rc = err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	rc = normalize_parts(&r, ref, e);
	if (rc == 0)
		rc = compose(&r, out, e);
out:
	free(abs);
	parts_free(&b);
	parts_free(&r);
	return rc;
}

bool url_is_under(const char *prefix, const char *url)
{
	struct url_parts p, u;
	bool under = false;
	size_t n;

	if (parse(prefix, &p, NULL) < 0)
		return false;
	if (parse(url, &u, NULL) < 0) {
		parts_free(&p);
		return false;
	}
	if (normalize_parts(&p, prefix, NULL) < 0 || normalize_parts(&u, url, NULL) < 0)
		goto out;
	/* user information could make "host:port@elsewhere" read as the host */
	if (strchr(p.auth, '@') || strchr(u.auth, '@') || strcmp(p.scheme, u.scheme) ||
	    strcmp(p.auth, u.auth))
		goto out;
	if (strstr(u.path, "%2F") || strstr(u.path, "%5C") || strchr(u.path, '\\'))
		goto out;
	n = strlen(p.path);
	while (n > 1 && p.path[n - 1] == '/')
		n--;
	under = n == 1 || (!strncmp(u.path, p.path, n) && (u.path[n] == '/' || !u.path[n]));
out:
	parts_free(&p);
	parts_free(&u);
	return under;
}
