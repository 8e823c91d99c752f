#include "vmm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The VMM's top level owns the log destination; it is set once before any thread starts. */
static int log_fd = 2;
static enum log_level log_max = LOG_INFO;
static unsigned long log_guest_count;

void log_setup(int fd, enum log_level max)
{
	log_fd = fd;
	log_max = max;
	/* a new log starts a new guest-message budget */
	__atomic_store_n(&log_guest_count, 0, __ATOMIC_RELAXED);
}

static __attribute__((format(printf, 2, 0))) void log_vmsg(enum log_level lvl,
							   const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[1024];
	struct timespec ts;
	int n;

	if (lvl > log_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "[%lld.%03ld] envvmm: %s: ", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, names[lvl]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strnlen(line, sizeof(line) - 2);
	line[n++] = '\n';
	/* One write per line so that lines from several threads never interleave. */
	if (write(log_fd, line, (size_t)n) < 0)
		return;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void log_guest(const char *fmt, ...)
{
	unsigned long n = __atomic_add_fetch(&log_guest_count, 1, __ATOMIC_RELAXED);
	va_list ap;

	if (n > LOG_GUEST_BURST && n % LOG_GUEST_EVERY)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_WARN, fmt, ap);
	va_end(ap);
	if (n == LOG_GUEST_BURST)
		log_msg(LOG_WARN, "guest errors: %d logged; from now on one in %d", LOG_GUEST_BURST,
			LOG_GUEST_EVERY);
}

void log_raw(const char *msg, size_t len)
{
	if (write(log_fd, msg, len) < 0)
		return;
}
