#include "core/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool url_origin_parse(const char *url, struct url_origin *o)
{
	const char *p, *auth_end, *at, *host, *host_end, *port = NULL;
	size_t n;

	memset(o, 0, sizeof(*o));
	if (!strncasecmp(url, "http://", 7)) {
		strcpy(o->scheme, "http");
		o->port = 80;
		p = url + 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		strcpy(o->scheme, "https");
		o->port = 443;
		p = url + 8;
	} else {
		return false;
	}
	auth_end = p + strcspn(p, "/?#");
	/* user info ends at the last '@' of the authority */
	at = NULL;
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	host = at ? at + 1 : p;
	if (*host == '[') {
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (!host_end)
			return false;
		host++;
		if (host_end + 1 < auth_end) {
			if (host_end[1] != ':')
				return false;
			port = host_end + 2;
		}
	} else {
		host_end = memchr(host, ':', (size_t)(auth_end - host));
		if (host_end)
			port = host_end + 1;
		else
			host_end = auth_end;
	}
	n = (size_t)(host_end - host);
	while (n && host[n - 1] == '.')
		n--; /* "host." is the same host */
	if (!n || n >= sizeof(o->host))
		return false;
	for (size_t i = 0; i < n; i++)
		o->host[i] = (char)tolower((unsigned char)host[i]);
	if (port && port < auth_end) {
		unsigned long v = 0;

		for (const char *q = port; q < auth_end; q++) {
			if (!isdigit((unsigned char)*q) || v > 65535)
				return false;
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (!v || v > 65535)
			return false;
		o->port = (unsigned)v;
	}
	return true;
}

bool url_same_origin(const char *a, const char *b)
{
	struct url_origin x, y;

	return url_origin_parse(a, &x) && url_origin_parse(b, &y) && !strcmp(x.scheme, y.scheme) &&
	       !strcmp(x.host, y.host) && x.port == y.port;
}
