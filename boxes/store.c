#include "boxes/store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/catalog.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/paths.h"

#define SLASH_ESC "-VAGRANTSLASH-"
#define USERS_FILE_MAX 4096

int box_store_open(struct box_store *s, struct err *e)
{
	char *data = NULL;

	memset(s, 0, sizeof(*s));
	if (paths_data_dir(&data, e) < 0 || paths_cache_dir(&s->cache, e) < 0)
		goto fail;
	s->root = fs_join(data, "boxes");
	free(data);
	data = NULL;
	if (!s->root) {
		err_set(e, ERR_FAIL, "out of memory");
		goto fail;
	}
	if (fs_mkdir_p(s->root, 0755, e) < 0)
		goto fail;
	return 0;
fail:
	free(data);
	box_store_close(s);
	return -1;
}

void box_store_close(struct box_store *s)
{
	free(s->root);
	free(s->cache);
	s->root = s->cache = NULL;
}

void box_entry_free(struct box_entry *b)
{
	free(b->name);
	free(b->version);
	free(b->provider);
	free(b->arch);
	free(b->dir);
	memset(b, 0, sizeof(*b));
}

void box_entries_free(struct box_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		box_entry_free(&v[i]);
	free(v);
}

/* "org/box" -> "org-VAGRANTSLASH-box" (names never contain that text themselves). */
static char *escape_name(const char *name)
{
	const char *slash = strchr(name, '/');
	char *out;

	if (!slash)
		return strdup(name);
	if (asprintf(&out, "%.*s" SLASH_ESC "%s", (int)(slash - name), name, slash + 1) < 0)
		return NULL;
	return out;
}

static char *unescape_name(const char *dir)
{
	const char *p = strstr(dir, SLASH_ESC);
	char *out;

	if (!p)
		return strdup(dir);
	if (asprintf(&out, "%.*s/%s", (int)(p - dir), dir, p + strlen(SLASH_ESC)) < 0)
		return NULL;
	return out;
}

char *box_store_path(const struct box_store *s, const char *name, const char *version,
		     const char *provider, const char *arch)
{
	char *esc = escape_name(name), *out;

	if (!esc)
		return NULL;
	if (asprintf(&out, "%s/%s/%s/%s-%s", s->root, esc, version, provider, arch) < 0)
		out = NULL;
	free(esc);
	return out;
}

/* Bytes on disk under dirfd (no links followed, depth-bounded). */
static uint64_t du_at(int dirfd, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	uint64_t sum = 0;

	if (depth > 32 || !(d = fdopendir(dirfd))) {
		close(dirfd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0)
				sum += du_at(fd, depth + 1);
		} else {
			sum += (uint64_t)st.st_blocks * 512;
		}
	}
	closedir(d);
	return sum;
}

uint64_t box_entry_size(const struct box_entry *b)
{
	int fd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? 0 : du_at(fd, 0);
}

static int list_dir(const char *dir, char ***out, size_t *n, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : err_sys(e, "cannot list %s", dir);
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (*n + 1) * sizeof(*v));
		if (!nv || !(nv[*n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			for (size_t i = 0; i < *n; i++)
				free(v[i]);
			free(v);
			*n = 0;
			closedir(d);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		v = nv;
		(*n)++;
	}
	closedir(d);
	*out = v;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void sweep_tmp(const struct box_store *s, bool dry_run);

static int entry_cmp(const void *pa, const void *pb)
{
	const struct box_entry *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (!c)
		c = catalog_version_cmp(a->version, b->version);
	if (!c)
		c = strcmp(a->provider, b->provider);
	if (!c)
		c = strcmp(a->arch, b->arch);
	return c;
}

static int push_entry(struct box_entry **v, size_t *n, const char *root, const char *ename,
		      const char *ver, const char *pa, struct err *e)
{
	const char *dash = strchr(pa, '-');
	struct box_entry *nv, *b;

	if (!dash)
		return 0; /* not ours */
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return err_set(e, ERR_FAIL, "out of memory");
	*v = nv;
	b = &nv[*n];
	memset(b, 0, sizeof(*b));
	b->name = unescape_name(ename);
	b->version = strdup(ver);
	b->provider = strndup(pa, (size_t)(dash - pa));
	b->arch = strdup(dash + 1);
	if (asprintf(&b->dir, "%s/%s/%s/%s", root, ename, ver, pa) < 0)
		b->dir = NULL;
	(*n)++;
	if (!b->name || !b->version || !b->provider || !b->arch || !b->dir)
		return err_set(e, ERR_FAIL, "out of memory");
	return 0;
}

/* A directory of the store's tree as readable as it should be; anything else is reported and
 * skipped, so that one stray file never hides every box. 1: a directory, 0: skipped. */
static int tree_dir(const char *path, const char *what, box_store_skip_fn skip, void *ctx)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	if (skip)
		skip(ctx, path, what);
	return 0;
}

int box_store_list_report(const struct box_store *s, struct box_entry **out, size_t *n,
			  box_store_skip_fn skip, void *ctx, struct err *e)
{
	char **names, **vers, **pas;
	size_t nn, nv, np;
	struct box_entry *v = NULL;
	size_t count = 0;
	int rc = 0;

	if (list_dir(s->root, &names, &nn, e) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < nn; i++) {
		char *nd = fs_join(s->root, names[i]);

		if (!nd) {
			rc = err_set(e, ERR_FAIL, "out of memory");
			break;
		}
		if (!tree_dir(nd, "not a box name directory", skip, ctx) ||
		    list_dir(nd, &vers, &nv, e) < 0) {
			free(nd);
			continue;
		}
		for (size_t j = 0; rc == 0 && j < nv; j++) {
			char *vd = fs_join(nd, vers[j]);

			if (!vd) {
				rc = err_set(e, ERR_FAIL, "out of memory");
				break;
			}
			if (!tree_dir(vd, "not a version directory", skip, ctx) ||
			    list_dir(vd, &pas, &np, e) < 0) {
				free(vd);
				continue;
			}
			if (!np && skip)
				skip(ctx, vd, "an empty version directory");
			for (size_t k = 0; rc == 0 && k < np; k++) {
				char *pd = fs_join(vd, pas[k]), *rec = pd ? fs_join(pd, BOX_RECORD_FILE)
									 : NULL;
				struct stat st;

				if (!rec) {
					rc = err_set(e, ERR_FAIL, "out of memory");
				} else if (!strchr(pas[k], '-') ||
					   !tree_dir(pd, "not a PROVIDER-ARCH directory", skip, ctx)) {
					/* reported (or not ours) */
				} else if (stat(rec, &st) < 0 || !S_ISREG(st.st_mode)) {
					if (skip)
						skip(ctx, pd, "no " BOX_RECORD_FILE
							      " (not an installed box)");
				} else {
					rc = push_entry(&v, &count, s->root, names[i], vers[j],
							pas[k], e);
				}
				free(rec);
				free(pd);
			}
			strv_free(pas, np);
			free(vd);
		}
		strv_free(vers, nv);
		free(nd);
	}
	strv_free(names, nn);
	if (rc < 0) {
		box_entries_free(v, count);
		return -1;
	}
	if (count)
		qsort(v, count, sizeof(*v), entry_cmp);
	*out = v;
	*n = count;
	return 0;
}

int box_store_list(const struct box_store *s, struct box_entry **out, size_t *n, struct err *e)
{
	return box_store_list_report(s, out, n, NULL, NULL, e);
}

static int entry_dup(const struct box_entry *src, struct box_entry *dst, struct err *e)
{
	dst->name = strdup(src->name);
	dst->version = strdup(src->version);
	dst->provider = strdup(src->provider);
	dst->arch = strdup(src->arch);
	dst->dir = strdup(src->dir);
	if (!dst->name || !dst->version || !dst->provider || !dst->arch || !dst->dir) {
		box_entry_free(dst);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	return 0;
}

static int provider_rank(const char *p)
{
	int i = 0;

	for (; catalog_provider_preference[i]; i++)
		if (!strcmp(catalog_provider_preference[i], p))
			break;
	return i;
}

/* Newer version first; for one version the preferred box provider, then the host's
 * architecture. */
static bool better(const struct box_entry *a, const struct box_entry *b)
{
	int c = catalog_version_cmp(a->version, b->version);
	const char *host = catalog_host_arch();

	if (c)
		return c > 0;
	if (provider_rank(a->provider) != provider_rank(b->provider))
		return provider_rank(a->provider) < provider_rank(b->provider);
	return !strcmp(a->arch, host) && strcmp(b->arch, host);
}

int box_store_find(const struct box_store *s, const char *name, const char *constraint,
		   const char *provider, const char *arch, struct box_entry *out, struct err *e)
{
	struct constraint vc;
	struct box_entry *v;
	size_t n;
	const struct box_entry *best = NULL;
	int rc;

	if (constraint_parse(constraint ? constraint : "", &vc, e) < 0 ||
	    box_store_list(s, &v, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name) && (!provider || !strcmp(v[i].provider, provider)) &&
		    (!arch || !strcmp(v[i].arch, arch)) &&
		    catalog_version_matches(v[i].version, &vc) && (!best || better(&v[i], best)))
			best = &v[i];
	if (best)
		rc = entry_dup(best, out, e);
	else
		rc = err_set(e, ERR_NOTFOUND, "box '%s'%s%s is not installed", name,
			     constraint && *constraint ? " matching " : "",
			     constraint ? constraint : "");
	box_entries_free(v, n);
	return rc;
}

static char *special_path(const struct box_store *s, const char *sub, const char *name,
			  const char *suffix)
{
	char *esc = escape_name(name), *out;

	if (!esc)
		return NULL;
	if (asprintf(&out, "%s/%s/%s%s", s->root, sub, esc, suffix) < 0)
		out = NULL;
	free(esc);
	return out;
}

static int lock_path(const char *path, bool wait, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(e, "cannot open lock %s", path);
	if (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			err_set(e, ERR_BUSY, "%s is locked by another envup", path);
		else
			err_sys(e, "cannot lock %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

int box_store_lock(const struct box_store *s, const char *name, bool wait, struct err *e)
{
	char *dir = fs_join(s->root, ".locks"), *path;
	int fd;

	if (!dir || fs_mkdir_p(dir, 0755, e) < 0) {
		free(dir);
		return dir ? -1 : err_set(e, ERR_FAIL, "out of memory");
	}
	free(dir);
	path = special_path(s, ".locks", name, ".lock");
	if (!path)
		return err_set(e, ERR_FAIL, "out of memory");
	fd = lock_path(path, wait, e);
	free(path);
	return fd;
}

void box_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int box_store_workdir(const struct box_store *s, const char *name, char **out, struct err *e)
{
	char *tmp = fs_join(s->root, ".tmp"), *w;

	if (!tmp || fs_mkdir_p(tmp, 0755, e) < 0) {
		free(tmp);
		return tmp ? -1 : err_set(e, ERR_FAIL, "out of memory");
	}
	free(tmp);
	w = special_path(s, ".tmp", name, ".work");
	if (!w)
		return err_set(e, ERR_FAIL, "out of memory");
	if (fs_remove_tree(w, e) < 0) {
		free(w);
		return -1;
	}
	if (mkdir(w, 0755) < 0) {
		err_sys(e, "cannot create %s", w);
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

/* Removes dir and then its parents up to (not including) root while they are empty. */
static void remove_empty_parents(const char *root, const char *dir)
{
	char *d = fs_dirname(dir);

	while (d && strlen(d) > strlen(root) && !strncmp(d, root, strlen(root))) {
		char *up;

		if (rmdir(d) < 0)
			break;
		up = fs_dirname(d);
		free(d);
		d = up;
	}
	free(d);
}

int box_store_commit(const struct box_store *s, const char *workdir, const char *name,
		     const char *version, const char *provider, const char *arch, bool replace,
		     struct err *e)
{
	char *final = box_store_path(s, name, version, provider, arch), *parent = NULL;
	char *old = NULL;
	int rc = -1;

	if (!final || !(parent = fs_dirname(final))) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (fs_exists(final)) {
		if (!replace) {
			err_set(e, ERR_EXISTS, "box '%s' version %s (%s, %s) is already installed",
				name, version, provider, arch);
			goto out;
		}
		old = special_path(s, ".tmp", name, ".old");
		if (!old || fs_remove_tree(old, e) < 0 || rename(final, old) < 0) {
			if (old)
				err_sys(e, "cannot move %s aside", final);
			else
				err_set(e, ERR_FAIL, "out of memory");
			goto out;
		}
		/* Machines built on the old copy keep their records. */
		{
			char *ou = fs_join(old, "users"), *nu = fs_join(workdir, "users");

			if (ou && nu && fs_exists(ou))
				rename(ou, nu);
			free(ou);
			free(nu);
		}
	}
	if (fs_mkdir_p(parent, 0755, e) < 0)
		goto out;
	if (rename(workdir, final) < 0) {
		err_sys(e, "cannot move %s into place", workdir);
		goto out;
	}
	rc = fs_fsync_parent(final, e);
	if (old)
		fs_remove_tree(old, NULL);
out:
	free(final);
	free(parent);
	free(old);
	return rc;
}

static char *users_file(const struct box_entry *b, const char *machine_dir, struct err *e)
{
	char hex[33], *out;

	if (hash_key_hex(machine_dir, hex, e) < 0)
		return NULL;
	if (asprintf(&out, "%s/users/%s", b->dir, hex) < 0) {
		err_set(e, ERR_FAIL, "out of memory");
		return NULL;
	}
	return out;
}

int box_store_use(const struct box_entry *b, const char *machine_dir, struct err *e)
{
	char *f = users_file(b, machine_dir, e), *dir;
	int rc;

	if (!f)
		return -1;
	dir = fs_dirname(f);
	rc = dir ? fs_mkdir_p(dir, 0755, e) : err_set(e, ERR_FAIL, "out of memory");
	if (rc == 0)
		rc = fs_write_atomic(f, machine_dir, strlen(machine_dir), 0644, e);
	free(dir);
	free(f);
	return rc;
}

int box_store_unuse(const struct box_entry *b, const char *machine_dir, struct err *e)
{
	char *f = users_file(b, machine_dir, e);
	int rc = 0;

	if (!f)
		return -1;
	if (unlink(f) < 0 && errno != ENOENT)
		rc = err_sys(e, "cannot remove %s", f);
	free(f);
	return rc;
}

void box_store_users_free(char **v, size_t n)
{
	strv_free(v, n);
}

int box_store_users(const struct box_entry *b, char ***out, size_t *n, struct err *e)
{
	char *dir = fs_join(b->dir, "users"), **files;
	size_t nf;
	char **v = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (!dir)
		return err_set(e, ERR_FAIL, "out of memory");
	if (list_dir(dir, &files, &nf, e) < 0) {
		free(dir);
		return -1;
	}
	for (size_t i = 0; i < nf; i++) {
		char *f = fs_join(dir, files[i]), *machine = NULL, **nv;

		if (!f)
			continue;
		if (fs_read_file(f, USERS_FILE_MAX, &machine, NULL, NULL) < 0) {
			free(f);
			continue;
		}
		if (machine[0] != '/' || !fs_exists(machine)) {
			unlink(f); /* the machine is gone: the record is stale */
			free(machine);
			free(f);
			continue;
		}
		free(f);
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv) {
			free(machine);
			strv_free(v, count);
			strv_free(files, nf);
			free(dir);
			return err_set(e, ERR_FAIL, "out of memory");
		}
		v = nv;
		v[count++] = machine;
	}
	strv_free(files, nf);
	free(dir);
	*out = v;
	*n = count;
	return 0;
}

int box_store_remove(const struct box_store *s, const struct box_entry *b, bool force,
		     struct err *e)
{
	char **users, *tmp;
	size_t nu;

	if (box_store_users(b, &users, &nu, e) < 0)
		return -1;
	if (nu && !force) {
		err_set(e, ERR_BUSY,
			"box '%s' version %s (%s, %s) is used by %zu machine%s (%s%s); destroy "
			"them first or pass --force",
			b->name, b->version, b->provider, b->arch, nu, nu == 1 ? "" : "s", users[0],
			nu > 1 ? ", ..." : "");
		box_store_users_free(users, nu);
		return -1;
	}
	box_store_users_free(users, nu);
	/* Rename first so that a half-removed box is never listed. */
	tmp = special_path(s, ".tmp", b->name, ".removing");
	if (!tmp)
		return err_set(e, ERR_FAIL, "out of memory");
	if (fs_mkdir_p(s->root, 0755, e) < 0 || fs_remove_tree(tmp, e) < 0) {
		free(tmp);
		return -1;
	}
	{
		char *td = fs_dirname(tmp);

		if (td)
			fs_mkdir_p(td, 0755, NULL);
		free(td);
	}
	if (rename(b->dir, tmp) < 0) {
		err_sys(e, "cannot remove %s", b->dir);
		free(tmp);
		return -1;
	}
	remove_empty_parents(s->root, b->dir);
	if (fs_remove_tree(tmp, e) < 0) {
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

void box_store_sweep(const struct box_store *s)
{
	sweep_tmp(s, false);
}

/* Leftovers of killed runs in .tmp/ whose name lock nobody holds. */
static void sweep_tmp(const struct box_store *s, bool dry_run)
{
	char *tmp = fs_join(s->root, ".tmp"), **names;
	size_t n;

	if (!tmp || list_dir(tmp, &names, &n, NULL) < 0) {
		free(tmp);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *dot = strrchr(names[i], '.'), *lock, *path;
		int fd;

		if (!dot)
			continue;
		if (asprintf(&lock, "%s/.locks/%.*s.lock", s->root, (int)(dot - names[i]),
			     names[i]) < 0)
			continue;
		fd = lock_path(lock, false, NULL);
		free(lock);
		if (fd < 0)
			continue;
		path = fs_join(tmp, names[i]);
		if (path && !dry_run)
			fs_remove_tree(path, NULL);
		free(path);
		close(fd);
	}
	strv_free(names, n);
	free(tmp);
}

int box_store_prune(const struct box_store *s, bool dry_run,
		    void (*removed)(void *ctx, const struct box_entry *b), void *ctx, struct err *e)
{
	struct box_entry *v;
	size_t n;
	int rc = 0;

	sweep_tmp(s, dry_run);
	if (box_store_list(s, &v, &n, e) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool newest = true;
		char **users;
		size_t nu;

		/* Sorted oldest first: a later entry with the same name, provider and arch is
		 * newer. */
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(v[j].name, v[i].name) &&
			    !strcmp(v[j].provider, v[i].provider) && !strcmp(v[j].arch, v[i].arch))
				newest = false;
		if (newest)
			continue;
		if (box_store_users(&v[i], &users, &nu, e) < 0) {
			rc = -1;
			break;
		}
		box_store_users_free(users, nu);
		if (nu)
			continue;
		if (!dry_run) {
			int fd = box_store_lock(s, v[i].name, true, e);

			if (fd < 0) {
				rc = -1;
				break;
			}
			rc = box_store_remove(s, &v[i], false, e);
			box_store_unlock(fd);
		}
		if (rc == 0 && removed)
			removed(ctx, &v[i]);
	}
	box_entries_free(v, n);
	return rc;
}

bool box_store_name_valid(const char *name)
{
	size_t slashes = 0, n = strlen(name);

	if (!n || n > 200 || name[0] == '.' || name[0] == '/' || name[n - 1] == '/' ||
	    strstr(name, "..") || strstr(name, "/.") || strstr(name, SLASH_ESC))
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '/')
			slashes++;
		else if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	}
	return slashes <= 1;
}
