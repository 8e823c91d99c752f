/* SSH to a machine through libssh: connect (waiting while it boots), a pinned host key, public
 * key login, commands with streamed output and exit status, interactive sessions, SFTP upload.
 * Nothing here prints: output goes to callbacks and file descriptors the caller chooses. */
#ifndef ENVUP_PROVISIONERS_COMMUNICATOR_H
#define ENVUP_PROVISIONERS_COMMUNICATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/progress.h"

struct comm;

/* A private key to log in with: a file, or PEM text in memory (the embedded insecure key). */
struct comm_identity {
	const char *label; /* for messages: "the insecure Vagrant key", a path */
	const char *path;  /* exactly one of path and pem */
	const char *pem;
};

struct comm_target {
	const char *host;
	int port;
	const char *user;
	/* The pinned host key, one OpenSSH known_hosts line "ALIAS TYPE BASE64". Verified when the
	 * file exists; written at the first successful login when it does not. */
	const char *known_host;
	const char *host_alias;
	const struct comm_identity *ids; /* tried in order */
	size_t nids;
	int timeout_s; /* keep retrying refused or silent connections this long */
	/* Called when a try fails and we keep waiting (why: "connection refused", ...). */
	void (*waiting)(void *ctx, const char *why, int seconds_left);
	void *ctx;
};

/* Where a remote command's output goes; stream is 1 (stdout) or 2 (stderr). */
struct comm_output {
	void (*write)(void *ctx, int stream, const char *buf, size_t len);
	void *ctx;
};

/* Connects, retrying until t->timeout_s has passed, checks or pins the host key and logs in
 * with the first identity the server accepts (its index in *used, may be NULL). A changed host
 * key or a refused login fails at once (no retry). */
int comm_connect(const struct comm_target *t, struct comm **out, size_t *used, struct err *e);

/* Closes the connection and frees c. NULL is fine. */
void comm_close(struct comm *c);

/* The server's host key as "TYPE SHA256:fingerprint" (static in c). */
const char *comm_host_key_fingerprint(const struct comm *c);

/* Runs cmd through the login shell with stdin closed, streaming its output to out (NULL:
 * discarded), with a pseudo-terminal when pty (output then arrives on stream 1 only). *status
 * is the exit status, 255 when the command ended without one (killed by a signal). */
int comm_exec(struct comm *c, const char *cmd, bool pty, const struct comm_output *out, int *status,
	      struct err *e);

/* Runs cmd and collects stdout and stderr (each up to max bytes, the rest dropped) as
 * NUL-terminated heap strings; either pointer may be NULL. */
int comm_capture(struct comm *c, const char *cmd, char **out, char **errout, size_t max,
		 int *status, struct err *e);

/* An interactive session on the caller's file descriptors. */
struct comm_interactive {
	const char *cmd; /* NULL: the login shell */
	bool pty;
	const char *term; /* TERM for the pty */
	int cols, rows;
	int in_fd, out_fd, err_fd; /* in_fd -1: no input (EOF at once) */
	/* Polled after every wakeup; returns true with the new size after a window change. */
	bool (*resized)(void *ctx, int *cols, int *rows);
	void *ctx;
};

/* Runs an interactive session until the remote side ends it; *status as for comm_exec. */
int comm_interactive(struct comm *c, const struct comm_interactive *ia, int *status, struct err *e);

/* Uploads a local file or directory tree to remote (relative and "~/" paths are under the
 * user's home), creating missing parents and keeping permission bits. A directory becomes
 * remote itself (its contents merged into an existing one). Symlinks are followed. */
int comm_upload(struct comm *c, const char *local, const char *remote, const struct progress *p,
		struct err *e);

/* Writes len bytes to the remote file path with mode (created or replaced). */
int comm_upload_data(struct comm *c, const void *data, size_t len, const char *remote, int mode,
		     struct err *e);

#endif
