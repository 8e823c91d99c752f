#include "vmm/api.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/acpi.h"
#include "vmm/eventloop.h"
#include "vmm/log.h"
#include "vmm/vm.h"

static const char *state_name(enum vm_state s)
{
	return s == VM_RUNNING ? "running" : s == VM_PAUSED ? "paused" : "stopping";
}

static void reply_json(json_object *o, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void reply_error(const char *msg, char *out, size_t outlen)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	reply_json(o, out, outlen);
}

void api_handle(struct api *a, const char *line, char *out, size_t outlen)
{
	json_object *req = json_tokener_parse(line), *cmd, *o;
	const char *c;
	struct timespec now;

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "command", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(req);
		reply_error("want a JSON object with a \"command\" string", out, outlen);
		return;
	}
	c = json_object_get_string(cmd);
	o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	if (!strcmp(c, "status")) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		json_object_object_add(o, "state",
				       json_object_new_string(state_name(vm_get_state(a->vm))));
		json_object_object_add(
			o, "uptime_s",
			json_object_new_double((double)(now.tv_sec - a->vm->started.tv_sec) +
					       (double)(now.tv_nsec - a->vm->started.tv_nsec) /
						       1e9));
		json_object_object_add(o, "vcpus", json_object_new_int((int)a->vm->ncpus));
		json_object_object_add(o, "memory_mib",
				       json_object_new_int64((int64_t)a->memory_mib));
		json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	} else if (!strcmp(c, "stop")) {
		vm_request_exit(a->vm, 0, "stopped through the control socket");
	} else if (!strcmp(c, "shutdown")) {
		bool listening;
		pthread_mutex_lock(&a->vm->lock);
		listening = acpi_pm_power_button(a->pm);
		pthread_mutex_unlock(&a->vm->lock);
		/* A guest that never enabled the power-button event will not react: say so, so
		 * that the caller falls back to "stop" at once instead of after its timeout. */
		json_object_object_add(o, "method", json_object_new_string("acpi-power-button"));
		json_object_object_add(o, "guest_listening", json_object_new_boolean(listening));
	} else if (!strcmp(c, "pause")) {
		vm_pause(a->vm);
		json_object_object_add(o, "state",
				       json_object_new_string(state_name(vm_get_state(a->vm))));
	} else if (!strcmp(c, "resume")) {
		vm_resume(a->vm);
		json_object_object_add(o, "state",
				       json_object_new_string(state_name(vm_get_state(a->vm))));
	} else {
		char msg[160];
		json_object_put(o);
		snprintf(msg, sizeof(msg),
			 "unknown command '%.64s' (status, stop, shutdown, pause, resume)", c);
		json_object_put(req);
		reply_error(msg, out, outlen);
		return;
	}
	json_object_put(req);
	reply_json(o, out, outlen);
}

static void client_close(struct api *a, struct api_client *c)
{
	el_remove(a->el, c->fd);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* False when the client went away or does not read its replies: never blocks, since a client
 * that only writes would otherwise stall the device thread in send(). */
static bool send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static void on_client(void *opaque, short revents)
{
	struct api_client *c = opaque;
	struct api *a = c->api;
	char out[1024], *line, *nl;
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		client_close(a, c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	line = c->buf;
	/* memchr, not strchr: a NUL byte inside a line must not hide the newline after it. */
	while ((nl = memchr(line, '\n', (size_t)(c->buf + c->len - line)))) {
		*nl = 0;
		if (strlen(line) != (size_t)(nl - line)) {
			reply_error("NUL byte in request line", out, sizeof(out));
			if (!send_all(c->fd, out)) {
				client_close(a, c);
				return;
			}
		} else if (*line) {
			api_handle(a, line, out, sizeof(out));
			if (!send_all(c->fd, out)) {
				client_close(a, c);
				return;
			}
		}
		line = nl + 1;
	}
	c->len -= (size_t)(line - c->buf);
	memmove(c->buf, line, c->len);
	if (c->len == sizeof(c->buf) - 1) {
		reply_error("request line too long", out, sizeof(out));
		send_all(c->fd, out);
		client_close(a, c);
	}
}

static void on_accept(void *opaque, short revents)
{
	struct api *a = opaque;
	struct err e = {0};
	int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_client *c = &a->client[i];
		if (c->fd >= 0)
			continue;
		c->fd = fd;
		c->len = 0;
		if (el_add(a->el, fd, POLLIN, on_client, c, &e) < 0) {
			log_msg(LOG_WARN, "api: %s", e.msg);
			close(fd);
			c->fd = -1;
		}
		return;
	}
	send_all(fd, "{\"ok\":false,\"error\":\"too many connections\"}\n");
	close(fd);
}

/* True when someone answers on path (a live envvmm owns it). */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

int api_init(struct api *a, const char *path, struct vm *vm, struct acpi_pm *pm,
	     struct eventloop *el, uint64_t memory_mib, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old_umask;
	int rc, dirfd = -1;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->vm = vm;
	a->pm = pm;
	a->el = el;
	a->memory_mib = memory_mib;
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		a->client[i].fd = -1;
		a->client[i].api = a;
	}
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		/* Deeper than sun_path holds (107 bytes): bind through the directory's descriptor,
		 * /proc/self/fd/N/NAME; the socket still lives at path for everyone else. */
		const char *slash = strrchr(path, '/');
		char *dir = slash ? strndup(path, (size_t)(slash - path)) : NULL;

		dirfd = dir ? open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		free(dir);
		if (dirfd < 0 ||
		    (size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd,
				     slash + 1) >= sizeof(sa.sun_path)) {
			if (dirfd >= 0)
				close(dirfd);
			return err_set(
				e, ERR_USAGE,
				"--api %s: cannot reach a path this long (its directory must "
				"open and its file name be short)",
				path);
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			rc = err_set(e, ERR_EXISTS, "--api %s: exists and is not a socket", path);
		else if (socket_alive(&sa))
			rc = err_set(e, ERR_BUSY, "--api %s: another process is listening there",
				     path);
		else if (unlink(path) < 0) /* left behind by an envvmm that died */
			rc = err_sys(e, "--api %s: cannot remove the stale socket", path);
		else
			rc = 0;
		if (rc < 0)
			goto fail;
	}
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0) {
		err_sys(e, "--api: socket");
		goto fail;
	}
	/* The socket is born 0600: a chmod after bind would leave a window for other users. The
	 * umask is process-wide, and this runs before any other thread exists. */
	old_umask = umask(0177);
	rc = bind(a->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (rc < 0 || listen(a->fd, 8) < 0) {
		err_sys(e, "--api %s", path);
		close(a->fd);
		a->fd = -1;
		goto fail;
	}
	if (dirfd >= 0)
		close(dirfd);
	a->path = strdup(path);
	if (!a->path)
		return err_set(e, ERR_FAIL, "out of memory");
	return el_add(el, a->fd, POLLIN, on_accept, a, e);
fail:
	if (dirfd >= 0)
		close(dirfd);
	return -1;
}

void api_close(struct api *a)
{
	for (unsigned i = 0; i < API_MAX_CLIENTS; i++) {
		if (a->client[i].fd >= 0)
			close(a->client[i].fd);
		a->client[i].fd = -1;
	}
	if (a->fd >= 0) {
		close(a->fd);
		a->fd = -1;
	}
	if (a->path) {
		unlink(a->path);
		free(a->path);
		a->path = NULL;
	}
}
