/* Commands over an established connection: one-shot commands with streamed output and exit
 * status, captured output for envup's own maintenance scripts, interactive sessions. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "provisioners/comm_priv.h"
#include "provisioners/communicator.h"

static ssh_channel open_channel(struct comm *c, struct err *e)
{
	ssh_channel ch = ssh_channel_new(c->s);

	if (!ch) {
		err_set(e, ERR_FAIL, "%s: cannot create a channel: %s", c->where,
			ssh_get_error(c->s));
		return NULL;
	}
	if (ssh_channel_open_session(ch) != SSH_OK) {
		err_set(e, ERR_NET, "%s: cannot open a session: %s", c->where, ssh_get_error(c->s));
		ssh_channel_free(ch);
		return NULL;
	}
	return ch;
}

static int finish_channel(struct comm *c, ssh_channel ch, int *status)
{
	int st = ssh_channel_get_exit_status(ch);

	*status = st < 0 ? 255 : st;
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return 0;
}

static void emit(const struct comm_output *out, int stream, const char *buf, int n)
{
	if (out && out->write && n > 0)
		out->write(out->ctx, stream, buf, (size_t)n);
}

/* Moves whatever is buffered on both streams to out. Returns -1 on a broken connection. */
static int drain(ssh_channel ch, const struct comm_output *out, char *buf, size_t len)
{
	for (int stream = 0; stream < 2; stream++) {
		int n;

		while ((n = ssh_channel_read_nonblocking(ch, buf, (uint32_t)len, stream)) > 0)
			emit(out, stream + 1, buf, n);
		if (n == SSH_ERROR)
			return -1;
	}
	return 0;
}

int comm_exec(struct comm *c, const char *cmd, bool pty, const struct comm_output *out, int *status,
	      struct err *e)
{
	char buf[16384];
	ssh_channel ch = open_channel(c, e);

	if (!ch)
		return -1;
	if (pty && ssh_channel_request_pty_size(ch, "xterm", 80, 24) != SSH_OK)
		goto fail;
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK)
		goto fail;
	if (!pty)
		ssh_channel_send_eof(ch);
	for (;;) {
		/* Waits for stdout (which also pulls in stderr), then takes both. */
		int n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 200);

		if (n == SSH_ERROR)
			goto fail;
		emit(out, 1, buf, n);
		if (drain(ch, out, buf, sizeof(buf)) < 0)
			goto fail;
		if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) {
			if (drain(ch, out, buf, sizeof(buf)) < 0)
				goto fail;
			break;
		}
	}
	return finish_channel(c, ch, status);
fail:
	err_set(e, ERR_NET, "%s: running a command failed: %s", c->where, ssh_get_error(c->s));
	ssh_channel_free(ch);
	return -1;
}

struct capture {
	char *buf[2];
	size_t len[2];
	size_t max;
	bool oom;
};

static void capture_write(void *ctx, int stream, const char *data, size_t len)
{
	struct capture *cap = ctx;
	int i = stream == 2;
	size_t room = cap->max - cap->len[i];
	char *nb;

	if (len > room)
		len = room;
	if (!len)
		return;
	nb = realloc(cap->buf[i], cap->len[i] + len + 1);
	if (!nb) {
		cap->oom = true;
		return;
	}
	memcpy(nb + cap->len[i], data, len);
	cap->len[i] += len;
	nb[cap->len[i]] = 0;
	cap->buf[i] = nb;
}

int comm_capture(struct comm *c, const char *cmd, char **out, char **errout, size_t max,
		 int *status, struct err *e)
{
	struct capture cap = {.max = max};
	struct comm_output o = {capture_write, &cap};
	char **dst[2] = {out, errout};

	if (comm_exec(c, cmd, false, &o, status, e) < 0 || cap.oom) {
		free(cap.buf[0]);
		free(cap.buf[1]);
		return cap.oom ? err_set(e, ERR_FAIL, "out of memory") : -1;
	}
	for (int i = 0; i < 2; i++) {
		if (!cap.buf[i])
			cap.buf[i] = strdup("");
		if (!cap.buf[i]) {
			free(cap.buf[0]);
			return err_set(e, ERR_FAIL, "out of memory");
		}
	}
	for (int i = 0; i < 2; i++) {
		if (dst[i])
			*dst[i] = cap.buf[i];
		else
			free(cap.buf[i]);
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct fd_sink {
	const struct comm_interactive *ia;
	bool broken; /* our stdout or stderr is gone (a closed pipe) */
};

static void fd_write(void *ctx, int stream, const char *buf, size_t len)
{
	struct fd_sink *sink = ctx;

	if (!sink->broken &&
	    write_all(stream == 2 ? sink->ia->err_fd : sink->ia->out_fd, buf, len) < 0)
		sink->broken = true;
}

/* Forwards what the local input has; false at EOF. */
static int pump_input(struct comm *c, ssh_channel ch, int fd, bool *open_in, struct err *e)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		*open_in = false;
		ssh_channel_send_eof(ch);
		return 0;
	}
	if (ssh_channel_write(ch, buf, (uint32_t)n) != n)
		return err_set(e, ERR_NET, "%s: sending input failed: %s", c->where,
			       ssh_get_error(c->s));
	return 0;
}

int comm_interactive(struct comm *c, const struct comm_interactive *ia, int *status, struct err *e)
{
	struct fd_sink sink = {ia, false};
	struct comm_output out = {fd_write, &sink};
	bool open_in = ia->in_fd >= 0;
	char buf[16384];
	ssh_channel ch = open_channel(c, e);
	int r;

	if (!ch)
		return -1;
	if (ia->pty && ssh_channel_request_pty_size(ch, ia->term ? ia->term : "xterm",
						    ia->cols > 0 ? ia->cols : 80,
						    ia->rows > 0 ? ia->rows : 24) != SSH_OK)
		goto fail;
	r = ia->cmd ? ssh_channel_request_exec(ch, ia->cmd) : ssh_channel_request_shell(ch);
	if (r != SSH_OK)
		goto fail;
	if (!open_in)
		ssh_channel_send_eof(ch);
	for (;;) {
		struct pollfd pfd[2] = {{ssh_get_fd(c->s), POLLIN, 0}, {ia->in_fd, POLLIN, 0}};
		int cols, rows;

		if (drain(ch, &out, buf, sizeof(buf)) < 0)
			goto fail;
		if (sink.broken) {
			/* Like ssh on a closed pipe: stop the remote command rather than read it
			 * forever (yes | head). */
			ssh_channel_close(ch);
			ssh_channel_free(ch);
			*status = 255;
			return 0;
		}
		if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))
			break;
		r = poll(pfd, open_in ? 2 : 1, 500);
		if (r < 0 && errno != EINTR)
			goto fail;
		if (ia->resized && ia->resized(ia->ctx, &cols, &rows))
			ssh_channel_change_pty_size(ch, cols, rows);
		if (r > 0 && open_in && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    pump_input(c, ch, ia->in_fd, &open_in, e) < 0) {
			ssh_channel_free(ch);
			return -1;
		}
	}
	return finish_channel(c, ch, status);
fail:
	err_set(e, ERR_NET, "%s: the session failed: %s", c->where, ssh_get_error(c->s));
	ssh_channel_free(ch);
	return -1;
}
