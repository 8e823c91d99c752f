#include "core/testpoint.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void testpoint_stop(const char *point)
{
	const char *want = getenv("ENVUP_TEST_STOP");

	if (want && !strcmp(want, point))
		raise(SIGSTOP);
}
