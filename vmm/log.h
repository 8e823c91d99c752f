/* The VMM's log: one line per event to stderr or the --log file. */
#ifndef ENVUP_VMM_LOG_H
#define ENVUP_VMM_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sends later lines to fd (the caller keeps it open) and drops lines above max; the guest
 * message budget (log_guest) starts again. */
void log_setup(int fd, enum log_level max);

/* Writes one timestamped line "envvmm: LEVEL: message". */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs a warning that the guest caused (malformed requests and the like). A guest can cause
 * them at will, so only the first LOG_GUEST_BURST are written, then one in LOG_GUEST_EVERY,
 * so that a hostile guest cannot fill the host's disk. */
void log_guest(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LOG_GUEST_BURST 100
#define LOG_GUEST_EVERY 10000

/* Writes len bytes as they are (async-signal-safe, for signal handlers). */
void log_raw(const char *msg, size_t len);

#endif
