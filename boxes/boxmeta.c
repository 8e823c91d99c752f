#include "boxes/boxmeta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/ovf.h"
#include "core/fsutil.h"

#define BOXMETA_JSON_MAX (64u << 10)
#define BOXMETA_DESC_MAX (4u << 20)
#define BOXMETA_CMDLINE_MAX 4096

void boxmeta_free(struct boxmeta *m)
{
	for (size_t i = 0; i < m->ndisks; i++)
		free(m->disks[i].path);
	free(m->provider);
	free(m->architecture);
	free(m->kernel);
	free(m->initrd);
	free(m->cmdline);
	memset(m, 0, sizeof(*m));
}

/* Reads rel beneath dir (never through a link out of it) into a heap string. */
static int read_beneath(const char *dir, const char *rel, size_t max, char **out, size_t *len,
			struct err *e)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
	char *path;
	int rc;

	if (dfd < 0)
		return err_sys(e, "cannot open %s", dir);
	fd = fs_open_beneath(dfd, rel, O_RDONLY, 0, e);
	close(dfd);
	if (fd < 0)
		return -1;
	if (asprintf(&path, "/proc/self/fd/%d", fd) < 0) {
		close(fd);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	rc = fs_read_file(path, max, out, len, e);
	free(path);
	close(fd);
	if (rc < 0)
		err_wrap(e, "%s", rel);
	return rc;
}

/* A file the box names must be a regular file inside it, reached without leaving it. */
static int check_file(const char *dir, const char *rel, const char *what, struct err *e)
{
	int dfd, fd;
	struct stat st;

	if (!fs_path_is_contained(rel))
		return err_set(e, ERR_CORRUPT, "metadata.json: %s '%s' is outside the box", what,
			       rel);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(e, "cannot open %s", dir);
	fd = fs_open_beneath(dfd, rel, O_RDONLY | O_NOFOLLOW, 0, e);
	close(dfd);
	if (fd < 0)
		return err_wrap(e, "box %s '%s'", what, rel);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_CORRUPT, "box %s '%s' is not a regular file", what, rel);
	}
	close(fd);
	return 0;
}

static int json_str(struct json_object *o, const char *key, char **out, struct err *e)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return err_set(e, ERR_CORRUPT, "metadata.json: \"%s\" must be a string", key);
	if ((size_t)json_object_get_string_len(v) > BOXMETA_CMDLINE_MAX ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return err_set(e, ERR_CORRUPT, "metadata.json: \"%s\" is too long or has a NUL",
			       key);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

static int add_disk(struct boxmeta *m, const char *path, enum image_format fmt, struct err *e)
{
	if (m->ndisks == BOXMETA_MAX_DISKS)
		return err_set(e, ERR_CORRUPT, "the box has more than %d disks", BOXMETA_MAX_DISKS);
	m->disks[m->ndisks].path = strdup(path);
	if (!m->disks[m->ndisks].path)
		return err_set(e, ERR_FAIL, "out of memory");
	m->disks[m->ndisks++].fmt = fmt;
	return 0;
}

static int format_of(const char *name, const char *where, enum image_format *fmt, struct err *e)
{
	if (!name) {
		*fmt = IMAGE_UNKNOWN;
		return 0;
	}
	*fmt = image_format_from_name(name);
	if (*fmt == IMAGE_UNKNOWN)
		return err_set(e, ERR_CORRUPT, "metadata.json: %s: unknown disk format '%s'", where,
			       name);
	return 0;
}

static int envup_disks(struct json_object *root, struct boxmeta *m, struct err *e)
{
	struct json_object *disk;
	char *path = NULL, *fmt = NULL;
	enum image_format f;
	int rc = -1;

	if (!json_object_object_get_ex(root, "disk", &disk) ||
	    !json_object_is_type(disk, json_type_object))
		return err_set(
			e, ERR_CORRUPT,
			"metadata.json: an envup box needs \"disk\": {\"path\", \"format\"}");
	if (json_str(disk, "path", &path, e) < 0 || json_str(disk, "format", &fmt, e) < 0)
		goto out;
	if (!path || !fmt) {
		err_set(e, ERR_CORRUPT, "metadata.json: \"disk\" needs \"path\" and \"format\"");
		goto out;
	}
	if (format_of(fmt, "disk", &f, e) < 0 || add_disk(m, path, f, e) < 0)
		goto out;
	if (json_str(root, "kernel", &m->kernel, e) < 0 ||
	    json_str(root, "initrd", &m->initrd, e) < 0 ||
	    json_str(root, "cmdline", &m->cmdline, e) < 0)
		goto out;
	if (m->initrd && !m->kernel) {
		err_set(e, ERR_CORRUPT, "metadata.json: \"initrd\" without \"kernel\"");
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(fmt);
	return rc;
}

static int libvirt_disks(struct json_object *root, struct boxmeta *m, struct err *e)
{
	struct json_object *disks;
	char *fmt = NULL;
	enum image_format f;
	int rc;

	if (json_object_object_get_ex(root, "disks", &disks)) {
		size_t n;

		if (!json_object_is_type(disks, json_type_array))
			return err_set(e, ERR_CORRUPT, "metadata.json: \"disks\" must be an array");
		n = json_object_array_length(disks);
		if (n == 0)
			return err_set(e, ERR_CORRUPT, "metadata.json: \"disks\" is empty");
		for (size_t i = 0; i < n; i++) {
			struct json_object *d = json_object_array_get_idx(disks, i);
			char *path = NULL, where[32], def[32];

			snprintf(where, sizeof(where), "disks[%zu]", i);
			if (!json_object_is_type(d, json_type_object))
				return err_set(e, ERR_CORRUPT,
					       "metadata.json: %s must be an object", where);
			if (json_str(d, "path", &path, e) < 0 ||
			    json_str(d, "format", &fmt, e) < 0) {
				free(path);
				return -1;
			}
			/* vagrant-libvirt's default names for v2 disks. */
			snprintf(def, sizeof(def), "box_%zu.img", i + 1);
			rc = format_of(fmt ? fmt : "qcow2", where, &f, e);
			if (rc == 0)
				rc = add_disk(m, path ? path : def, f, e);
			free(path);
			free(fmt);
			fmt = NULL;
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	if (json_str(root, "format", &fmt, e) < 0)
		return -1;
	rc = format_of(fmt ? fmt : "qcow2", "format", &f, e);
	free(fmt);
	return rc < 0 ? -1 : add_disk(m, "box.img", f, e);
}

/* The one file in dir ending in suffix (box.ovf preferred for virtualbox). */
static int find_by_suffix(const char *dir, const char *suffix, const char *preferred, char **out,
			  struct err *e)
{
	DIR *d;
	struct dirent *de;
	size_t sl = strlen(suffix);

	*out = NULL;
	if (preferred && fs_exists(dir) && (*out = fs_join(dir, preferred)) && fs_exists(*out)) {
		free(*out);
		*out = strdup(preferred);
		return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
	}
	free(*out);
	*out = NULL;
	d = opendir(dir);
	if (!d)
		return err_sys(e, "cannot list %s", dir);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > sl && !strcmp(de->d_name + n - sl, suffix)) {
			if (*out) {
				closedir(d);
				free(*out);
				*out = NULL;
				return err_set(e, ERR_CORRUPT, "the box has more than one *%s file",
					       suffix);
			}
			*out = strdup(de->d_name);
		}
	}
	closedir(d);
	if (!*out)
		return err_set(e, ERR_CORRUPT, "the box has no *%s file", suffix);
	return 0;
}

static int virtualbox_disks(const char *dir, struct boxmeta *m, struct err *e)
{
	struct ovf_disks d;
	char *name, *ovf;
	size_t len;
	int rc;

	if (find_by_suffix(dir, ".ovf", "box.ovf", &name, e) < 0)
		return -1;
	rc = read_beneath(dir, name, BOXMETA_DESC_MAX, &ovf, &len, e);
	free(name);
	if (rc < 0)
		return -1;
	rc = ovf_disks(ovf, len, &d, e);
	free(ovf);
	for (size_t i = 0; rc == 0 && i < d.n; i++)
		rc = add_disk(m, d.href[i], IMAGE_VMDK, e);
	ovf_disks_free(&d);
	return rc;
}

/* VMware: lines like `scsi0:0.fileName = "disk.vmdk"` in the .vmx, in file order. */
static int vmware_disks(const char *dir, struct boxmeta *m, struct err *e)
{
	char *name, *vmx, *line, *save = NULL;
	size_t len;
	int rc = 0;

	if (find_by_suffix(dir, ".vmx", NULL, &name, e) < 0)
		return -1;
	rc = read_beneath(dir, name, BOXMETA_DESC_MAX, &vmx, &len, e);
	free(name);
	if (rc < 0)
		return -1;
	for (line = strtok_r(vmx, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *k = strstr(line, ".fileName"), *q1, *q2;
		size_t n;

		if (!k || !(q1 = strchr(k, '"')) || !(q2 = strchr(q1 + 1, '"')))
			continue;
		n = (size_t)(q2 - q1 - 1);
		if (n > 5 && !strncasecmp(q2 - 5, ".vmdk", 5)) {
			*q2 = '\0';
			rc = add_disk(m, q1 + 1, IMAGE_VMDK, e);
		}
	}
	free(vmx);
	if (rc == 0 && m->ndisks == 0)
		rc = err_set(e, ERR_CORRUPT, "the box's .vmx names no .vmdk disk");
	return rc;
}

int boxmeta_read(const char *dir, struct boxmeta *m, struct err *e)
{
	struct json_object *root;
	char *buf;
	size_t len;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (read_beneath(dir, "metadata.json", BOXMETA_JSON_MAX, &buf, &len, e) < 0) {
		if (e && e->sys_errno == ENOENT)
			err_set(e, ERR_CORRUPT, "the box has no metadata.json at its top level");
		return -1;
	}
	root = json_tokener_parse(buf);
	free(buf);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return err_set(e, ERR_CORRUPT, "metadata.json is not a JSON object");
	}
	if (json_str(root, "provider", &m->provider, e) < 0 ||
	    json_str(root, "architecture", &m->architecture, e) < 0)
		goto out;
	if (!m->provider) {
		err_set(e, ERR_CORRUPT, "metadata.json: missing \"provider\"");
		goto out;
	}
	if (!strcmp(m->provider, "envup"))
		rc = envup_disks(root, m, e);
	else if (!strcmp(m->provider, "libvirt"))
		rc = libvirt_disks(root, m, e);
	else if (!strcmp(m->provider, "virtualbox"))
		rc = virtualbox_disks(dir, m, e);
	else if (!strcmp(m->provider, "vmware_desktop") || !strcmp(m->provider, "vmware_fusion") ||
		 !strcmp(m->provider, "vmware_workstation"))
		rc = vmware_disks(dir, m, e);
	else
		err_set(e, ERR_UNSUPPORTED,
			"metadata.json: provider '%s' is not one envup can import (envup, libvirt, "
			"virtualbox, vmware_desktop)",
			m->provider);
	for (size_t i = 0; rc == 0 && i < m->ndisks; i++)
		rc = check_file(dir, m->disks[i].path, "disk", e);
	if (rc == 0 && m->kernel)
		rc = check_file(dir, m->kernel, "kernel", e);
	if (rc == 0 && m->initrd)
		rc = check_file(dir, m->initrd, "initrd", e);
out:
	json_object_put(root);
	if (rc < 0)
		boxmeta_free(m);
	return rc;
}
