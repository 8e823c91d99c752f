/* Synced folders shared live over virtio-9p: hypervisor arguments and the guest's mount. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "providers/share9p.h"

void share9p_tag(size_t index, char out[SHARE9P_TAG_LEN])
{
	snprintf(out, SHARE9P_TAG_LEN, "envup%zu", index);
}

bool share9p_readonly(const struct synced_folder *f)
{
	for (size_t i = 0; i < f->nmount_options; i++) {
		const char *o = f->mount_options[i];

		/* an entry may hold several options: "ro,noatime" */
		for (const char *p = o; p; p = strchr(p, ',')) {
			p += *p == ',';
			if (!strncmp(p, "ro", 2) && (p[2] == ',' || !p[2]))
				return true;
		}
	}
	return false;
}

char *share9p_commas_doubled(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *out, *w;

	for (const char *r = s; *r; r++)
		commas += *r == ',';
	out = malloc(n + commas + 1);
	if (!out)
		return NULL;
	w = out;
	for (const char *r = s; *r; r++) {
		*w++ = *r;
		if (*r == ',')
			*w++ = ',';
	}
	*w = 0;
	return out;
}

int share9p_args(const struct provider *pv, const struct machine *m, struct local_args *a,
		 share9p_add_fn add, struct err *e)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		const struct synced_folder *f = &m->folders[i];
		char tag[SHARE9P_TAG_LEN], *host;
		struct stat st;
		enum folder_how how;
		const char *why;

		if (provider_folder_how(pv, m, f, &how, &why, e) < 0)
			return -1;
		if (how != FOLDER_BY_PROVIDER)
			continue;
		if (f->create && !fs_exists(f->host) && fs_mkdir_p(f->host, 0755, e) < 0)
			return err_wrap(e, "machine '%s': synced folder %s", m->name, f->guest);
		if (stat(f->host, &st) < 0 || !S_ISDIR(st.st_mode))
			return err_set(e, ERR_NOTFOUND,
				       "machine '%s': synced folder %s: host folder %s is missing "
				       "(create: true makes it)",
				       m->name, f->guest, f->host);
		host = share9p_commas_doubled(f->host);
		if (!host)
			return err_set(e, ERR_FAIL, "out of memory");
		share9p_tag(i, tag);
		add(a, host, tag, share9p_readonly(f));
		free(host);
	}
	return 0;
}

/* s in single quotes for sh. */
static void sh_quoted(FILE *o, const char *s)
{
	fputc('\'', o);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", o);
		else
			fputc(*s, o);
	fputc('\'', o);
}

/* s as /proc/mounts writes a mount point: space, tab, newline and backslash in octal. */
static void mounts_escaped(FILE *o, const char *s)
{
	for (; *s; s++)
		if (strchr(" \t\n\\", *s))
			fprintf(o, "\\%03o", (unsigned char)*s);
		else
			fputc(*s, o);
}

/* The guest side, after the variables g (guest path), m (g as in /proc/mounts and fstab), t
 * (tag), o (mount options), u and r (owner and group, empty for the defaults), k (non-empty:
 * keep the owners, for a read-only folder), f (non-empty: an /etc/fstab line too, nofail so
 * that a boot without the share goes on). Exit 3, 4, 5 and 6 are SHARE9P_ALREADY,
 * SHARE9P_NO_CHOWN, SHARE9P_NO_9P and SHARE9P_NO_FSTAB.
 * The chown is the Vagrant habit (the folder belongs to the SSH user); through QEMU's
 * mapped-xattr it is recorded in the host files' user.virtfs.* attributes, their host owner
 * unchanged. */
static const char mount_script[] =
	"if M=\"$m\" T=\"$t\" awk '$1==ENVIRON[\"T\"] && $2==ENVIRON[\"M\"] && $3==\"9p\" "
	"{f=1} END {exit !f}' /proc/mounts; then x=3; else "
	"grep -qw 9p /proc/filesystems || sudo -n modprobe 9p 2>/dev/null; "
	"grep -qw 9p /proc/filesystems || exit 5; "
	"sudo -n mkdir -p \"$g\" && sudo -n mount -t 9p -o \"$o\" \"$t\" \"$g\" || exit 1; "
	"x=0; fi; "
	"if [ -n \"$f\" ] && ! M=\"$m\" T=\"$t\" awk '$1==ENVIRON[\"T\"] && $2==ENVIRON[\"M\"] "
	"{f=1} END {exit !f}' /etc/fstab; then "
	"printf '%s %s 9p %s,nofail 0 0\\n' \"$t\" \"$m\" \"$o\" | sudo -n tee -a /etc/fstab "
	">/dev/null || exit 6; fi; "
	"[ -z \"$k\" ] || exit $x; "
	"[ -n \"$u\" ] || u=$(id -un); "
	"[ -n \"$r\" ] || r=$(id -gn \"$u\") || exit 4; "
	"sudo -n find \"$g\" -xdev -path \"$g/.envup\" -prune -o "
	"\\( ! -user \"$u\" -o ! -group \"$r\" \\) -exec chown -h \"$u:$r\" {} + || exit 4; "
	"exit $x";
_Static_assert(SHARE9P_ALREADY == 3 && SHARE9P_NO_CHOWN == 4 && SHARE9P_NO_9P == 5 &&
		       SHARE9P_NO_FSTAB == 6,
	       "mount_script's exit statuses");

/* A heap string made by fill, or NULL when out of memory. */
static char *built(void (*fill)(FILE *o, const void *arg), const void *arg)
{
	char *s = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&s, &len);

	if (!o)
		return NULL;
	fill(o, arg);
	if (fclose(o) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void fill_escaped_guest(FILE *o, const void *arg)
{
	mounts_escaped(o, ((const struct synced_folder *)arg)->guest);
}

static void fill_options(FILE *o, const void *arg)
{
	const struct synced_folder *f = arg;

	fputs(SHARE9P_MOUNT_OPTIONS, o);
	for (size_t i = 0; i < f->nmount_options; i++)
		fprintf(o, ",%s", f->mount_options[i]);
}

struct mount_parts {
	const struct synced_folder *f;
	const char *tag, *escaped, *options;
	bool keep_owners;
};

static void fill_command(FILE *o, const void *arg)
{
	const struct mount_parts *p = arg;
	const struct {
		const char *name, *value;
	} vars[] = {{"g", p->f->guest},
		    {"m", p->escaped},
		    {"t", p->tag},
		    {"o", p->options},
		    {"u", p->f->owner ? p->f->owner : ""},
		    {"r", p->f->group ? p->f->group : ""},
		    {"k", p->keep_owners ? "1" : ""},
		    {"f", p->f->fstab ? "1" : ""}};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		fprintf(o, "%s=", vars[i].name);
		sh_quoted(o, vars[i].value);
		fputc(' ', o);
	}
	fputs("; ", o);
	fputs(mount_script, o);
}

int share9p_mount_command(const struct synced_folder *f, const char *tag, bool give_owners,
			  char **out, struct err *e)
{
	struct mount_parts p = {
		.f = f, .tag = tag, .keep_owners = !give_owners || share9p_readonly(f)};
	char *escaped = built(fill_escaped_guest, f), *options = built(fill_options, f);

	p.escaped = escaped;
	p.options = options;
	*out = escaped && options ? built(fill_command, &p) : NULL;
	free(escaped);
	free(options);
	return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
}
