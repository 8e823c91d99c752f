/* envbox: the box subcommands, one table like the top-level one. */
#include <stdio.h>
#include <string.h>

#include "cmd/box_image.h"
#include "cmd/box_registry.h"
#include "cmd/box_store.h"
#include "cmd/cmd.h"
#include "core/strutil.h"
#include "core/ui.h"

struct box_subcommand {
	const char *name;
	cmd_fn fn;
	const char *usage;
};

static const struct box_subcommand subcommands[] = {
	{"add", cmd_box_add, "NAME|URL|FILE [--box-version CONSTRAINT] [--provider P] [--arch A] [--checksum X --checksum-type T] [--name N] [--cacert FILE] [--insecure] [--force] [--json]"},
	{"list", cmd_box_list, "[--json]"},
	{"remove", cmd_box_remove, "NAME [--box-version V] [--provider P] [--arch A] [--all] [--force]"},
	{"outdated", cmd_box_outdated, "[NAME] [--cacert FILE] [--insecure] [--json]"},
	{"update", cmd_box_update, "[NAME] [--cacert FILE] [--insecure]"},
	{"prune", cmd_box_prune, "[--dry-run] [--json]"},
	{"convert", cmd_box_convert, "SRC DST [--from FORMAT] [--to qcow2|raw]"},
	{"info", cmd_box_info, "IMAGE [--format FORMAT] [--json]"},
	{"package", cmd_box_package, "(--image DISK [--format FMT] [--kernel K [--initrd I] [--cmdline C]] | --machine NAME) [--flavour envup|libvirt|virtualbox] [--arch A] [--output FILE] [--json]"},
	{"repackage", cmd_box_repackage, "NAME VERSION PROVIDER [--arch A] [--flavour envup|libvirt|virtualbox] [--output FILE] [--json]"},
	{"publish", cmd_box_publish, "FILE.box --registry URL|DIR --name ORG/NAME --box-version V [--provider P] [--arch A] [--description TEXT] [--cacert FILE] [--insecure] [--force] [--json]"},
	{"index", cmd_box_index, "DIR [--base-url URL] [--json]"},
	{NULL, NULL, NULL},
};
#define NSUB_MAX (sizeof(subcommands) / sizeof(subcommands[0]))

const char *cmd_box_usage(const char *name)
{
	for (const struct box_subcommand *b = subcommands; b->name; b++)
		if (!strcmp(b->name, name))
			return b->usage;
	return "";
}

static void box_usage(FILE *f)
{
	fprintf(f, "usage: envbox SUBCOMMAND [ARGS]\n\nsubcommands:\n");
	for (const struct box_subcommand *b = subcommands; b->name; b++)
		fprintf(f, "  envbox %s %s\n", b->name, b->usage);
}

int cmd_box(int argc, char **argv)
{
	const char *names[NSUB_MAX] = {NULL};
	size_t n = 0;
	const char *s;

	if (argc < 2) {
		box_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		box_usage(stdout);
		return EXIT_OK;
	}
	for (const struct box_subcommand *b = subcommands; b->name; b++) {
		names[n++] = b->name;
		if (!strcmp(b->name, argv[1]))
			return b->fn ? b->fn(argc - 1, argv + 1) : cmd_exec_full();
	}
	s = str_suggest(argv[1], names, n);
	if (s)
		ui_error("unknown box subcommand '%s' (did you mean '%s'?)", argv[1], s);
	else
		ui_error("unknown box subcommand '%s'; 'envbox help' lists them", argv[1]);
	return EXIT_USAGE;
}
