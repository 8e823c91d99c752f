#include "boxes/registry.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/fsutil.h"

#define REGISTRY_NAME_MAX 200

bool registry_name_valid(const char *name)
{
	const char *slash = strchr(name, '/');
	size_t n = strlen(name);

	if (!slash || strchr(slash + 1, '/') || slash == name || !slash[1] || n > REGISTRY_NAME_MAX)
		return false;
	if (strstr(name, "..") || name[0] == '.' || slash[1] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-/", *p))
			return false;
	return true;
}

#define ENV_TOKEN_FROM "ENVUP_REGISTRY_TOKEN"

const char *registry_token(const struct userconf *uc, const char *url, const char **from)
{
	const struct userconf_registry *r = userconf_registry_for(uc, url);
	const char *env = getenv("ENVUP_REGISTRY_TOKEN");

	*from = NULL;
	if (r && r->token_from) {
		*from = r->token_from;
		return r->token;
	}
	if (env && *env) {
		*from = ENV_TOKEN_FROM;
		return env;
	}
	return NULL;
}

int registry_denied(const char *url, long status, const char *token_from, struct err *e)
{
	if (token_from)
		return err_set(e, ERR_NET,
			       "registry %s refused access (HTTP %ld) with the token from %s: "
			       "check that the token is valid and allowed to do this",
			       url, status, token_from);
	return err_set(e, ERR_NET,
		       "registry %s refused access (HTTP %ld) and no token was sent: give it "
		       "one in config.yaml (registries: [{url: %s, token_env: VAR}] or "
		       "token_file: FILE with mode 0600) or in $ENVUP_REGISTRY_TOKEN",
		       url, status, url);
}

static int add(struct registry_list *l, const char *url, const struct userconf *uc, bool from_env,
	       struct err *e)
{
	size_t n = strlen(url);
	struct registry *ni;
	const struct userconf_registry *ur;

	while (n > 1 && url[n - 1] == '/')
		n--;
	if (!n)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->items[i].url) == n && !strncmp(l->items[i].url, url, n))
			return 0;
	ni = realloc(l->items, (l->n + 1) * sizeof(*ni));
	if (!ni)
		return err_set(e, ERR_FAIL, "out of memory");
	l->items = ni;
	ni = &l->items[l->n];
	memset(ni, 0, sizeof(*ni));
	ni->url = strndup(url, n);
	if (!ni->url)
		return err_set(e, ERR_FAIL, "out of memory");
	l->n++;
	ur = userconf_registry_for(uc, ni->url);
	if (from_env) {
		ni->token = registry_token(uc, ni->url, &ni->token_from);
	} else if (ur) {
		ni->token = ur->token;
		ni->token_from = ur->token_from;
	}
	return 0;
}

int registry_list_build(char *const *envfile_regs, size_t nenv, const struct userconf *uc,
			struct registry_list *out, struct err *e)
{
	const char *env = getenv("ENVUP_REGISTRY");

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nenv; i++)
		if (add(out, envfile_regs[i], uc, false, e) < 0)
			goto fail;
	for (size_t i = 0; uc && i < uc->nregistries; i++)
		if (add(out, uc->registries[i].url, uc, false, e) < 0)
			goto fail;
	if (env && *env && add(out, env, uc, true, e) < 0)
		goto fail;
	return 0;
fail:
	registry_list_free(out);
	return -1;
}

void registry_list_free(struct registry_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].url);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* Where the lookup has been and what each place answered, for the final message. */
struct tried {
	char buf[900];
	size_t used;
	long denied;		/* a 401/403 seen (its status), when no catalog is found */
	const struct registry *denied_by;
};

static void tried_add(struct tried *t, const char *url, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tried_add(struct tried *t, const char *url, const char *fmt, ...)
{
	char why[300];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (t->used + 1 >= sizeof(t->buf))
		return;
	n = snprintf(t->buf + t->used, sizeof(t->buf) - t->used, "%s%s (%s)", t->used ? "; " : "",
		     url, why);
	t->used += n > 0 ? (size_t)n : 0;
	if (t->used >= sizeof(t->buf))
		t->used = sizeof(t->buf) - 1;
}

/* A body that is a web page rather than JSON: a listing, a login page, an error page. */
static bool looks_html(const char *ctype, const char *body)
{
	while (*body == ' ' || *body == '\n' || *body == '\r' || *body == '\t')
		body++;
	return !strncasecmp(ctype, "text/html", 9) || *body == '<';
}

enum outcome { FOUND, NEXT_FORM, NEXT_REGISTRY, FAILED };

/* One URL of one registry: a catalog, or why not. */
static enum outcome try_url(const struct registry *r, const char *url, const struct http_opts *o,
			    struct catalog **out, struct tried *t, struct err *e)
{
	struct http_opts ro = o ? *o : (struct http_opts){.retries = -1};
	struct http_request rq = {.method = "GET", .url = url, .max_response = CATALOG_MAX_BYTES};
	struct http_response rs;
	struct err pe = {0};
	char *body = NULL;
	size_t len = 0;
	enum outcome res = NEXT_FORM;

	ro.bearer = r->token;
	ro.bearer_scope = r->url;
	ro.progress = NULL;
	if (!http_is_remote(url)) {
		const char *p = !strncasecmp(url, "file://", 7) ? url + 7 : url;
		struct stat st;

		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			tried_add(t, url, "%s", stat(p, &st) < 0 ? "no such file" : "not a file");
			return NEXT_FORM;
		}
		if (fs_read_file(p, CATALOG_MAX_BYTES, &body, &len, &pe) < 0) {
			tried_add(t, url, "%s", pe.msg);
			return NEXT_FORM;
		}
	} else {
		if (http_request(&rq, &ro, &rs, &pe) < 0) {
			tried_add(t, url, "%s", pe.msg);
			return NEXT_REGISTRY; /* unreachable: the next registry may answer */
		}
		if (rs.status < 200 || rs.status > 299) {
			bool moved = rs.effective_url && strcmp(rs.effective_url, url);

			tried_add(t, url, "HTTP %ld%s%s", rs.status,
				  moved ? " after a redirect to " : "", moved ? rs.effective_url : "");
			if ((rs.status == 401 || rs.status == 403) && !t->denied) {
				t->denied = rs.status;
				t->denied_by = r;
			}
			http_response_free(&rs);
			return NEXT_FORM;
		}
		if (looks_html(rs.content_type, rs.body)) {
			tried_add(t, url, "an HTML page, not a catalog");
			http_response_free(&rs);
			return NEXT_FORM;
		}
		body = rs.body;
		len = rs.len;
		rs.body = NULL;
		http_response_free(&rs);
	}
	if (catalog_parse(body, len, url, out, &pe) == 0)
		res = FOUND;
	else
		tried_add(t, url, "not a catalog: %s", pe.msg);
	free(body);
	(void)e;
	return res;
}

int registry_find(const struct registry_list *l, const char *name, const struct http_opts *o,
		  struct catalog **out, char **catalog_url, const char **token, struct err *e)
{
	struct tried t = {.used = 0};

	if (!registry_name_valid(name))
		return err_set(e, ERR_USAGE,
			       "'%s' is not a box name (ORG/BOX), a URL or an existing file", name);
	if (!l->n)
		return err_set(e, ERR_NOTFOUND,
			       "box '%s': no registry to look it up in (add 'registries:' to the "
			       "Envfile or config.yaml, or set ENVUP_REGISTRY)",
			       name);
	for (size_t i = 0; i < l->n; i++) {
		static const char *const suffixes[] = {"", ".json"};

		for (size_t s = 0; s < 2; s++) {
			enum outcome oc;
			char *url;

			if (asprintf(&url, "%s/%s%s", l->items[i].url, name, suffixes[s]) < 0)
				return err_set(e, ERR_FAIL, "out of memory");
			oc = try_url(&l->items[i], url, o, out, &t, e);
			if (oc == FOUND) {
				*catalog_url = url;
				*token = l->items[i].token;
				return 0;
			}
			free(url);
			if (oc == NEXT_REGISTRY)
				break;
		}
	}
	if (t.denied) {
		registry_denied(t.denied_by->url, t.denied, t.denied_by->token_from, e);
		return err_wrap(e, "box '%s' not found (tried %s)", name, t.buf);
	}
	return err_set(e, ERR_NOTFOUND, "box '%s' not found (tried %s)", name, t.buf);
}
