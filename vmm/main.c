/* envvmm: the bundled virtual machine monitor (see DESIGN.md). */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "usage: envvmm --memory MiB [--cpus N] [--kernel FILE ...]\n"
			"envvmm: not built yet\n");
	return 2;
}
