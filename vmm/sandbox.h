/* The seccomp sandbox envvmm enters once the machine runs: an allow-list of the system calls
 * a running VMM makes. Anything else fails with ENOSYS and is logged, so that a missed call
 * degrades one operation instead of killing the machine. */
#ifndef ENVUP_VMM_SANDBOX_H
#define ENVUP_VMM_SANDBOX_H

#include <stdbool.h>

#include "core/err.h"

/* Applies the filter to every thread of the process; file_server adds what the 9p server of
 * --share needs. Under AddressSanitizer (whose leak
 * checker needs ptrace and clone at exit) it does nothing and says so in the log. */
int sandbox_enter(bool file_server, struct err *e);

#endif
