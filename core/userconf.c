#include "core/userconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/paths.h"
#include "core/yamlwalk.h"

#define USERCONF_MAX_BYTES (1u << 20)
#define USERCONF_MAX_REGISTRIES 64
#define USERCONF_TOKEN_MAX 4096

/* registries[i]: a URL, or {url, token | token_env | token_file}. */
static void reg_url(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf_registry *)t)->url);
}

/* A registry takes one way of giving its token; the first one wins, a second is an error. */
static bool token_once(struct loader *ld, struct userconf_registry *r, const yaml_node_t *v,
		       const char *path)
{
	if (!r->token_from)
		return true;
	ld_error(ld, v, path, "the token is already given by '%s'; give one of token, token_env, "
		 "token_file", r->token_from);
	return false;
}

static void reg_token(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct userconf_registry *r = t;

	if (!token_once(ld, r, v, path))
		return;
	SET_STR(r->token);
	r->token_from = strdup("token");
}

static void reg_token_env(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct userconf_registry *r = t;
	char *name = ld_string(ld, v, path);
	const char *val;

	if (!name || !token_once(ld, r, v, path)) {
		free(name);
		return;
	}
	if (!*name || strchr(name, '=')) {
		ld_error(ld, v, path, "'%s' is not an environment variable name", name);
		free(name);
		return;
	}
	val = getenv(name);
	if (val && *val)
		r->token = strdup(val);
	if (asprintf(&r->token_from, "token_env %s%s", name, val && *val ? "" : " (not set)") < 0)
		r->token_from = NULL;
	free(name);
}

/* Reads a token file as ssh reads a private key: refused when anyone else may read or write
 * it, or when it is not a plain file of its owner's. */
static char *read_token_file(struct loader *ld, const yaml_node_t *v, const char *path,
			     const char *file)
{
	int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char buf[USERCONF_TOKEN_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len;

	if (fd < 0) {
		ld_error(ld, v, path, "cannot open token file %s: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ld_error(ld, v, path, "token file %s is not a regular file", file);
		close(fd);
		return NULL;
	}
	if (st.st_mode & 077) {
		ld_error(ld, v, path,
			 "token file %s is accessible by others (mode %04o); run chmod 600 %s",
			 file, (unsigned)(st.st_mode & 07777), file);
		close(fd);
		return NULL;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		ld_error(ld, v, path, "token file %s belongs to another user (uid %u)", file,
			 (unsigned)st.st_uid);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t)n > USERCONF_TOKEN_MAX) {
		ld_error(ld, v, path, "token file %s: %s", file,
			 n < 0 ? strerror(errno) : "longer than 4096 bytes");
		return NULL;
	}
	len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (!len || strlen(buf) != len || strpbrk(buf, "\r\n")) {
		ld_error(ld, v, path, "token file %s must hold one line with the token", file);
		return NULL;
	}
	return strdup(buf);
}

static void reg_token_file(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct userconf_registry *r = t;
	char *file = ld_string(ld, v, path), *full;

	if (!file || !token_once(ld, r, v, path)) {
		free(file);
		return;
	}
	/* relative to config.yaml's directory, so that the file can sit beside it */
	full = file[0] == '/' || !ld->dir ? strdup(file) : fs_join(ld->dir, file);
	free(file);
	if (!full)
		return;
	r->token = read_token_file(ld, v, path, full);
	if (asprintf(&r->token_from, "token_file %s", full) < 0)
		r->token_from = NULL;
	free(full);
}

static const struct ld_key registry_keys[] = {
	{"url", reg_url},
	{"token", reg_token},
	{"token_env", reg_token_env},
	{"token_file", reg_token_file},
	{NULL, NULL},
};

static void k_registries(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct userconf *uc = t;
	size_t n;

	if (!ld_want_list(ld, v, path))
		return;
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > USERCONF_MAX_REGISTRIES) {
		ld_error(ld, v, path, "more than %d registries", USERCONF_MAX_REGISTRIES);
		return;
	}
	uc->registries = calloc(n ? n : 1, sizeof(*uc->registries));
	if (!uc->registries)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
		struct userconf_registry *r = &uc->registries[uc->nregistries++];
		char ipath[256];

		if (!item || !ld_visit(ld, item))
			break;
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (item->type == YAML_SCALAR_NODE) {
			r->url = ld_string(ld, item, ipath);
			continue;
		}
		ld_mapping(ld, item, ipath, registry_keys, r);
		if (item->type == YAML_MAPPING_NODE && !ld_has_key(ld, item, "url"))
			ld_error(ld, item, ipath, "'url' is required");
	}
}

static void def_box_provider(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf *)t)->box_provider);
}

static void def_box_arch(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	SET_STR(((struct userconf *)t)->box_arch);
}

static const struct ld_key defaults_keys[] = {
	{"box_provider", def_box_provider}, {"box_arch", def_box_arch}, {NULL, NULL},
};

static void k_defaults(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_mapping(ld, v, path, defaults_keys, t);
}

static const struct ld_key top_keys[] = {
	{"registries", k_registries}, {"defaults", k_defaults}, {NULL, NULL},
};

int userconf_load(const char *path, struct userconf *uc, struct err *e)
{
	struct yaml_report rep;
	struct loader ld;
	char *own = NULL, *dir = NULL;
	yaml_node_t *root;
	int rc;

	memset(uc, 0, sizeof(*uc));
	if (!path) {
		if (paths_config_dir(&dir, e) < 0)
			return -1;
		own = fs_join(dir, "config.yaml");
		free(dir);
		if (!own)
			return err_set(e, ERR_FAIL, "out of memory");
		path = own;
	}
	if (!fs_exists(path)) {
		free(own);
		return 0;
	}
	dir = fs_dirname(path);
	if (!dir) {
		free(own);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	rc = ld_open(&ld, path, path, USERCONF_MAX_BYTES, &rep, e);
	ld.dir = dir;
	root = rc > 0 ? yaml_document_get_root_node(&ld.doc) : NULL;
	if (root)
		ld_mapping(&ld, root, "", top_keys, uc);
	if (rc >= 0)
		rc = ld_close(&ld, e);
	yaml_report_free(&rep);
	if (rc < 0)
		userconf_free(uc);
	free(dir);
	free(own);
	return rc;
}

void userconf_free(struct userconf *uc)
{
	for (size_t i = 0; i < uc->nregistries; i++) {
		free(uc->registries[i].url);
		free(uc->registries[i].token);
		free(uc->registries[i].token_from);
	}
	free(uc->registries);
	free(uc->box_provider);
	free(uc->box_arch);
	memset(uc, 0, sizeof(*uc));
}

static size_t trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == '/')
		n--;
	return n;
}

const struct userconf_registry *userconf_registry_for(const struct userconf *uc, const char *url)
{
	size_t n = trimmed_len(url);

	for (size_t i = 0; uc && i < uc->nregistries; i++) {
		const char *r = uc->registries[i].url;

		if (r && trimmed_len(r) == n && !strncmp(r, url, n))
			return &uc->registries[i];
	}
	return NULL;
}

const char *userconf_token_for(const struct userconf *uc, const char *url)
{
	const struct userconf_registry *r = userconf_registry_for(uc, url);

	return r ? r->token : NULL;
}
