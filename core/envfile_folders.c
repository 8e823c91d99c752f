/* The synced_folders key of the Envfile: entries, their checks, and the default entry that
 * puts the project directory on /vagrant as Vagrant does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/envfile_internal.h"
#include "core/fsutil.h"

#define DEFAULT_GUEST "/vagrant"

/* While an entry is parsed: where its host value was, for checks made once create is known. */
struct folder_item {
	struct synced_folder f;
	struct src_pos host_pos;
	bool have_host;
};

static struct src_pos node_pos(const yaml_node_t *v)
{
	return (struct src_pos){(int)v->start_mark.line + 1, (int)v->start_mark.column + 1};
}

static void sf_host(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct folder_item *it = t;
	char *s = ld_project_path(ld, v, path, false);

	if (s) {
		free(it->f.host);
		it->f.host = s;
		it->host_pos = node_pos(v);
		it->have_host = true;
	}
}

/* guest: absolute, no '.' or '..' component, no control character, not "/" itself (rsync
 * --delete there would empty the guest's whole file system). Normalised in place: repeated
 * and trailing slashes go. */
static bool guest_ok(char *s)
{
	char *w = s;

	if (s[0] != '/' || strlen(s) >= PATH_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	for (const char *r = s; *r;) {
		size_t n;

		while (*r == '/')
			r++;
		n = strcspn(r, "/");
		if (!n)
			break;
		if ((n == 1 && r[0] == '.') || (n == 2 && r[0] == '.' && r[1] == '.'))
			return false;
		*w++ = '/';
		memmove(w, r, n);
		w += n;
		r += n;
	}
	*w = '\0';
	return w != s;
}

static void sf_guest(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct folder_item *it = t;
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	if (!guest_ok(s)) {
		ld_error(ld, v, path, "'%s' must be an absolute path in the guest, other than '/' "
			 "and without '.' or '..'", (const char *)v->data.scalar.value);
		free(s);
		return;
	}
	free(it->f.guest);
	it->f.guest = s;
}

static void sf_type(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	static const char *const names[] = {[FOLDER_AUTO] = "auto", [FOLDER_RSYNC] = "rsync",
					    [FOLDER_9P] = "9p"};
	char *s = ld_string(ld, v, path);

	if (!s)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			((struct folder_item *)t)->f.type = (enum folder_type)i;
			free(s);
			return;
		}
	}
	ld_error(ld, v, path, "'%s' is not a synced folder type (rsync, 9p or auto)", s);
	free(s);
}

static void sf_exclude(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = &((struct folder_item *)t)->f;
	char **list = NULL;
	size_t n = 0;

	if (!ld_string_list(ld, v, path, &list, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (!list[i][0] || strpbrk(list[i], "\n\r")) {
			ld_error(ld, v, path, "exclude patterns must be non-empty single lines");
			ld_free_strv(list, n);
			return;
		}
	}
	ld_free_strv(f->exclude, f->nexclude);
	f->exclude = list;
	f->nexclude = n;
}

static void sf_name(struct loader *ld, const yaml_node_t *v, const char *path, char **field)
{
	ld_checked_string(ld, v, path, ld_valid_user,
			  "is not a user or group name (letters, digits, '.', '_', '-', '@')", field);
}

static void sf_owner(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	sf_name(ld, v, path, &((struct folder_item *)t)->f.owner);
}

static void sf_group(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	sf_name(ld, v, path, &((struct folder_item *)t)->f.group);
}

static void sf_create(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct folder_item *)t)->f.create);
}

static void sf_disabled(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct folder_item *)t)->f.disabled);
}

static void sf_install(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct folder_item *)t)->f.rsync_install);
}

static void sf_fstab(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	ld_bool(ld, v, path, &((struct folder_item *)t)->f.fstab);
}

static void sf_mount_options(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	struct synced_folder *f = &((struct folder_item *)t)->f;
	char **list = NULL;
	size_t n = 0;

	if (!ld_string_list(ld, v, path, &list, &n))
		return;
	/* they reach the guest's mount command line: options only, nothing a shell reads */
	for (size_t i = 0; i < n; i++) {
		if (!list[i][0] || list[i][strspn(list[i], "abcdefghijklmnopqrstuvwxyz"
							   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							   "0123456789_.,=:/+-")]) {
			ld_error(ld, v, path,
				 "'%s' is not a mount option (letters, digits and _ . , = : / + -)",
				 list[i]);
			ld_free_strv(list, n);
			return;
		}
	}
	ld_free_strv(f->mount_options, f->nmount_options);
	f->mount_options = list;
	f->nmount_options = n;
}

static const struct ld_key folder_keys[] = {
	{"host", sf_host},
	{"guest", sf_guest},
	{"type", sf_type},
	{"exclude", sf_exclude},
	{"owner", sf_owner},
	{"group", sf_group},
	{"create", sf_create},
	{"disabled", sf_disabled},
	{"mount_options", sf_mount_options},
	{"fstab", sf_fstab},
	{"rsync__install", sf_install},
	{NULL, NULL},
};

static void folder_free(struct synced_folder *f)
{
	free(f->host);
	free(f->guest);
	ld_free_strv(f->exclude, f->nexclude);
	free(f->owner);
	free(f->group);
	ld_free_strv(f->mount_options, f->nmount_options);
}

void ld_folders_free(struct synced_folder *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		folder_free(&f[i]);
	free(f);
}

/* host must be a directory unless create: true (then it is made before the first sync). */
static void check_host(struct loader *ld, struct folder_item *it, const char *ipath)
{
	struct stat st;
	char *real;

	if (!it->have_host)
		return;
	if (stat(it->f.host, &st) < 0) {
		if (!it->f.create && !it->f.disabled)
			ld_error_at(ld, it->host_pos, ipath,
				    "no such directory '%s' ('create: true' makes it)", it->f.host);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		ld_error_at(ld, it->host_pos, ipath, "'%s' is not a directory", it->f.host);
		return;
	}
	/* Canonical, so "." is the project directory itself. */
	real = realpath(it->f.host, NULL);
	if (real) {
		free(it->f.host);
		it->f.host = real;
	}
}

void ld_synced_folders(struct loader *ld, void *t, const yaml_node_t *v, const char *path)
{
	static const char *const required[] = {"host", "guest", NULL};
	struct machine *m = t;
	struct folder_item *items;
	struct synced_folder *fs;
	size_t n;

	items = ld_mapping_list(ld, v, path, sizeof(*items), folder_keys, required,
				"'host' and 'guest' are both required", &n);
	if (!items)
		return;
	fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs) {
		for (size_t i = 0; i < n; i++)
			folder_free(&items[i].f);
		free(items);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ipath[512];
		yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);

		snprintf(ipath, sizeof(ipath), "%s[%zu].host", path, i);
		check_host(ld, &items[i], ipath);
		if (items[i].f.fstab && items[i].f.type == FOLDER_RSYNC && item) {
			snprintf(ipath, sizeof(ipath), "%s[%zu].fstab", path, i);
			ld_error_at(ld, node_pos(item), ipath,
				    "fstab: true is for folders mounted over 9p (type 9p or auto); "
				    "an rsync folder is a copy, with nothing to mount");
		}
		fs[i] = items[i].f;
		if (item)
			fs[i].pos = node_pos(item);
	}
	free(items);
	ld_folders_free(m->folders, m->nfolders);
	m->folders = fs;
	m->nfolders = n;
}

/* The project directory on /vagrant, first, as Vagrant's default synced folder. */
static int add_default(struct loader *ld, struct machine *m)
{
	struct synced_folder *fs = realloc(m->folders, (m->nfolders + 1) * sizeof(*fs));

	if (!fs)
		return -1;
	m->folders = fs;
	memmove(fs + 1, fs, m->nfolders * sizeof(*fs));
	memset(fs, 0, sizeof(*fs));
	fs->host = strdup(ld->dir);
	fs->guest = strdup(DEFAULT_GUEST);
	fs->implicit = true;
	fs->pos = m->pos;
	m->nfolders++;
	return fs->host && fs->guest ? 0 : -1;
}

void ld_folders_finish(struct loader *ld, struct machine *m, const char *path)
{
	bool have_default = false;

	for (size_t i = 0; i < m->nfolders; i++) {
		const struct synced_folder *f = &m->folders[i];

		if (f->guest && !strcmp(f->guest, DEFAULT_GUEST))
			have_default = true;
		for (size_t j = 0; j < i && f->guest; j++) {
			if (m->folders[j].guest && !strcmp(m->folders[j].guest, f->guest)) {
				ld_error_at(ld, f->pos, path,
					    "two synced_folders have the guest path '%s'", f->guest);
				break;
			}
		}
	}
	if (!have_default && add_default(ld, m) < 0)
		ld_error(ld, NULL, NULL, "out of memory");
}
