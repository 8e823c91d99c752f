/* envinit: write a commented starter Envfile; never overwrite one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/ui.h"

static const char template_text[] =
	"# Envfile: the machines of this project. 'envup' creates and provisions them,\n"
	"# 'envssh NAME' logs in, 'envhalt' stops them, 'envdestroy' removes them.\n"
	"# Every key is described in Envfile.example in envup's sources.\n"
	"version: 1\n"
	"\n"
	"# Box registries searched for 'org/name' boxes, in order.\n"
	"# registries: [https://boxes.example.com]\n"
	"\n"
	"# Keys given here apply to every machine unless the machine sets them.\n"
	"defaults:\n"
	"  cpus: 1\n"
	"  memory: 1024          # MiB, or \"2G\"\n"
	"\n"
	"machines:\n"
	"  default:\n"
	"    box: %s\n"
	"    # forwarded_ports: [{guest: 80, host: 8080}]\n"
	"    # synced_folders: [{host: ., guest: /srv/project}]\n"
	"    provision:\n"
	"      - shell: \"echo provisioned $(hostname)\"\n";

/* box as a YAML value that loads back as itself: plain when that is safe, else single-quoted
 * ('' for ') with "$" doubled against the loader's ${VAR} expansion. NULL when it holds a
 * control character. Heap string. */
static char *yaml_value(const char *box)
{
	size_t n = strlen(box);
	char *out, *o;

	if (n && box[0] != '-' &&
	    strspn(box, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789._/-") == n)
		return strdup(box);
	for (const char *p = box; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	out = o = malloc(2 * n + 3);
	if (!out)
		return NULL;
	*o++ = '\'';
	for (const char *p = box; *p; p++) {
		if (*p == '\'' || *p == '$')
			*o++ = *p;
		*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

int cmd_init(int argc, char **argv)
{
	const struct command *self = cmd_lookup("init");
	const char *box = "debian/bookworm64";
	char *text, *value;
	int fd, n;

	for (int i = 1; i < argc; i++) {
		int r;

		if (!strcmp(argv[i], "--box")) {
			if (++i >= argc) {
				ui_error("--box needs a box name");
				return EXIT_USAGE;
			}
			box = argv[i];
			continue;
		}
		if (!strncmp(argv[i], "--box=", 6)) {
			box = argv[i] + 6;
			continue;
		}
		r = cmd_common_option(self, argv[i]);
		if (r < 0)
			return EXIT_OK;
		if (r == 0) {
			cmd_usage(self, true);
			ui_error("unknown argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	value = envfile_box_valid(box) ? yaml_value(box) : NULL;
	if (!value) {
		ui_error("--box: '%s' is not a box name, URL or path", box);
		return EXIT_USAGE;
	}
	n = asprintf(&text, template_text, value);
	free(value);
	if (n < 0)
		return EXIT_FAIL;
	/* O_EXCL: an existing Envfile is never replaced, even in a race. */
	fd = open("Envfile", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			ui_error("an Envfile already exists here; remove it first to start over");
		else
			ui_error("cannot create Envfile: %s", strerror(errno));
		free(text);
		return EXIT_FAIL;
	}
	if (write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
		ui_error("cannot write Envfile: %s", strerror(errno));
		close(fd);
		unlink("Envfile");
		free(text);
		return EXIT_FAIL;
	}
	close(fd);
	free(text);
	ui_info("wrote Envfile with one machine ('default', box %s); 'envup' brings it up", box);
	return EXIT_OK;
}
