/* Error values: every function below cmd/ returns 0 or -1 and fills a caller-owned struct err. */
#ifndef ENVUP_CORE_ERR_H
#define ENVUP_CORE_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 1024

/* Kinds of failure a caller may want to tell apart; the message says the rest. */
enum err_code {
	ERR_OK = 0,
	ERR_FAIL,      /* generic failure */
	ERR_USAGE,     /* bad arguments or input the user can fix */
	ERR_NOTFOUND,  /* a named thing does not exist */
	ERR_EXISTS,    /* a thing that must not exist does */
	ERR_CORRUPT,   /* untrusted input is malformed */
	ERR_UNSUPPORTED,
	ERR_IO,        /* system call failed; sys_errno says why */
	ERR_BUSY,      /* lock held by someone else */
	ERR_NET,
	ERR_TIMEOUT,
};

struct err {
	enum err_code code;
	int sys_errno;
	char msg[ERR_MSG_MAX];
};

/* Sets e to code with a formatted message; always returns -1 so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set with ERR_IO, appending ": strerror(errno)" and keeping errno in sys_errno. */
int err_sys(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to the message already in e; returns -1. */
int err_wrap(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets e to no error. */
void err_clear(struct err *e);

#endif
