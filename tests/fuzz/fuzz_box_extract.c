/* libFuzzer: safe extraction of box archives. Each input is written to a file and extracted
 * into a fresh directory; afterwards nothing may exist outside that directory (checked by
 * extracting inside an empty parent whose only entry must be the target). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxes/extract.h"
#include "core/fsutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root[256];
	char arc[300], parent[300], dir[320];
	struct extract_limits lim = {.max_entry = 1 << 20, .max_total = 4 << 20,
				     .max_entries = 64};
	struct err e;
	FILE *f;
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (!root[0]) {
		const char *t = getenv("TMPDIR");

		/* The scratch directory lives under $TMPDIR (the test's own, removed at exit). */
		snprintf(root, sizeof(root), "%.200s/fuzz-box-extract.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(root))
			abort();
	}
	snprintf(arc, sizeof(arc), "%s/in.box", root);
	snprintf(parent, sizeof(parent), "%s/p", root);
	snprintf(dir, sizeof(dir), "%s/box", parent);
	fs_remove_tree(parent, &e);
	if (mkdir(parent, 0755) < 0 || mkdir(dir, 0755) < 0)
		abort();
	f = fopen(arc, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	extract_archive(arc, dir, &lim, NULL, NULL, &e);
	d = opendir(parent);
	if (!d)
		abort();
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	if (n != 1)
		abort(); /* something was created next to the box directory */
	return 0;
}
