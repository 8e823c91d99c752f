#include "boxes/registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int add(struct registry_list *l, const char *url, const struct userconf *uc, struct err *e)
{
	size_t n = strlen(url);
	struct registry *ni;

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
	ni[l->n].url = strndup(url, n);
	if (!ni[l->n].url)
		return err_set(e, ERR_FAIL, "out of memory");
	ni[l->n].token = userconf_token_for(uc, ni[l->n].url);
	l->n++;
	return 0;
}

int registry_list_build(char *const *envfile_regs, size_t nenv, const struct userconf *uc,
			struct registry_list *out, struct err *e)
{
	const char *env = getenv("ENVUP_REGISTRY");

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nenv; i++)
		if (add(out, envfile_regs[i], uc, e) < 0)
			goto fail;
	for (size_t i = 0; uc && i < uc->nregistries; i++)
		if (add(out, uc->registries[i].url, uc, e) < 0)
			goto fail;
	if (env && *env && add(out, env, uc, e) < 0)
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

int registry_find(const struct registry_list *l, const char *name, const struct http_opts *o,
		  struct catalog **out, char **catalog_url, const char **token, struct err *e)
{
	char tried[700] = "";
	size_t used = 0;
	struct err last = {0};

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
			struct http_opts ro = o ? *o : (struct http_opts){.retries = -1};
			char *url, *body;
			size_t len;
			int rc;

			if (asprintf(&url, "%s/%s%s", l->items[i].url, name, suffixes[s]) < 0)
				return err_set(e, ERR_FAIL, "out of memory");
			ro.bearer = l->items[i].token;
			ro.bearer_scope = l->items[i].url;
			ro.accept = "application/json";
			ro.progress = NULL;
			rc = http_get(url, &ro, CATALOG_MAX_BYTES, &body, &len, &last);
			if (rc == 0) {
				rc = catalog_parse(body, len, url, out, e);
				free(body);
				if (rc < 0) {
					free(url);
					return -1;
				}
				*catalog_url = url;
				*token = l->items[i].token;
				return 0;
			}
			if (used + 1 < sizeof(tried))
				used += (size_t)snprintf(tried + used, sizeof(tried) - used, "%s%s",
							 used ? ", " : "", url);
			free(url);
			if (last.code != ERR_NOTFOUND)
				break; /* this registry is unreachable: the next one may answer */
		}
	}
	if (last.code != ERR_NOTFOUND)
		return err_set(e, last.code, "box '%s' not found; last error: %s", name, last.msg);
	return err_set(e, ERR_NOTFOUND, "box '%s' not found (tried %s)", name, tried);
}
