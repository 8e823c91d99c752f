/* The VMM's log: one line per event to stderr or the --log file. */
#ifndef ENVUP_VMM_LOG_H
#define ENVUP_VMM_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sends later lines to fd (the caller keeps it open) and drops lines above max. */
void log_setup(int fd, enum log_level max);

/* Writes one timestamped line "envvmm: LEVEL: message". */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes len bytes as they are (async-signal-safe, for signal handlers). */
void log_raw(const char *msg, size_t len);

#endif
