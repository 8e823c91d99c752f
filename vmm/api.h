/* The control socket (--api): a Unix stream socket speaking newline-delimited JSON.
 * Requests: {"command": "status" | "stop" | "shutdown" | "pause" | "resume"}; each gets one
 * JSON line back with "ok" and, for status, state, uptime_s, vcpus and memory_mib. */
#ifndef ENVUP_VMM_API_H
#define ENVUP_VMM_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;
struct acpi_pm;
struct eventloop;

#define API_MAX_CLIENTS 8
#define API_LINE_MAX 4096

struct api;

struct api_client {
	struct api *api;
	int fd;
	size_t len;
	char buf[API_LINE_MAX];
};

struct api {
	struct vm *vm;
	struct acpi_pm *pm;
	struct eventloop *el;
	uint64_t memory_mib;
	int fd;
	char *path;
	struct api_client client[API_MAX_CLIENTS];
};

/* Listens on path (a stale socket left by a dead envvmm is replaced; a live one is an error). */
int api_init(struct api *a, const char *path, struct vm *vm, struct acpi_pm *pm,
	     struct eventloop *el, uint64_t memory_mib, struct err *e);

/* Answers one request line; the reply (one JSON line, with '\n') goes into out. */
void api_handle(struct api *a, const char *line, char *out, size_t outlen);

/* Closes every connection and removes the socket file. */
void api_close(struct api *a);

#endif
