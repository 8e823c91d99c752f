/* The part of the vmm and qemu providers that is the same for any local hypervisor process.
 * What needs the box store or the image library is in local_disk.c: this file is linked by
 * envstatus (local_state, local_ssh_info) and must stay light. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/project.h"
#include "providers/local.h"

char *local_file(const struct provider_ctx *c, const char *name)
{
	return fs_join(c->machine_dir, name);
}

void local_say(const struct provider_ctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!c->log.info)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log.info(c->log.ctx, msg);
}

void local_arg(struct local_args *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n >= (int)(sizeof(a->v) / sizeof(a->v[0])) - 1) {
		a->oom = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&a->v[a->n], fmt, ap) < 0)
		a->oom = true;
	else
		a->n++;
	va_end(ap);
	a->v[a->n] = NULL;
}

void local_args_free(struct local_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

int local_state_set(const struct provider_ctx *c, const char *key, struct json_object *val,
		    struct err *e)
{
	struct json_object *st = NULL;
	int rc;

	if (machine_state_load(c->machine_dir, &st, e) < 0) {
		json_object_put(val);
		return -1;
	}
	json_object_object_add(st, key, val);
	rc = machine_state_save(c->machine_dir, st, e);
	json_object_put(st);
	return rc;
}

/* The state's value of key as a string copy (NULL when absent). */
static int state_get(const struct provider_ctx *c, const char *key, char **out, struct err *e)
{
	struct json_object *st = NULL, *v;

	*out = NULL;
	if (!fs_exists(c->machine_dir))
		return 0;
	if (machine_state_load(c->machine_dir, &st, e) < 0)
		return -1;
	if (json_object_object_get_ex(st, key, &v) && !json_object_is_type(v, json_type_null))
		*out = strdup(json_object_get_string(v));
	json_object_put(st);
	return 0;
}

int local_box_dir(const struct provider_ctx *c, char **out, struct err *e)
{
	return state_get(c, "box_dir", out, e);
}

void local_kernel_free(struct local_kernel *k)
{
	free(k->kernel);
	free(k->initrd);
	free(k->cmdline);
	memset(k, 0, sizeof(*k));
}

/* metadata.json's key as a file of the box (*out heap, absolute), NULL when absent. */
static int box_file(const char *box, struct json_object *meta, const char *key, char **out,
		    struct err *e)
{
	struct json_object *v;
	const char *rel;

	*out = NULL;
	if (!json_object_object_get_ex(meta, key, &v))
		return 0;
	rel = json_object_get_string(v);
	if (!json_object_is_type(v, json_type_string) || !fs_path_is_contained(rel))
		return err_set(e, ERR_CORRUPT, "%s/metadata.json: %s is not a path inside the box",
			       box, key);
	*out = fs_join(box, rel);
	if (!*out)
		return err_set(e, ERR_FAIL, "out of memory");
	if (!fs_exists(*out))
		return err_set(e, ERR_CORRUPT, "%s/metadata.json: %s %s is missing", box, key, rel);
	return 0;
}

int local_box_kernel(const struct provider_ctx *c, struct local_kernel *k, struct err *e)
{
	struct json_object *meta, *v;
	char *box = NULL, *path = NULL;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (local_box_dir(c, &box, e) < 0)
		return -1;
	if (!box)
		return 0;
	path = fs_join(box, "metadata.json");
	meta = path ? json_object_from_file(path) : NULL;
	if (!meta) {
		err_set(e, ERR_CORRUPT, "%s: cannot read the box's metadata", path ? path : box);
		goto out;
	}
	if (box_file(box, meta, "kernel", &k->kernel, e) < 0 ||
	    box_file(box, meta, "initrd", &k->initrd, e) < 0)
		goto out;
	if (json_object_object_get_ex(meta, "cmdline", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    !(k->cmdline = strdup(json_object_get_string(v)))) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		local_kernel_free(k);
	json_object_put(meta);
	free(path);
	free(box);
	return rc;
}

/* True when nothing listens on (or holds) ip:port for the protocol. */
static bool port_free(const char *ip, int port, bool udp)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr *sa = (struct sockaddr *)&a4;
	socklen_t len = sizeof(a4);
	int fd, one = 1, fam = AF_INET;
	bool ok;

	if (inet_pton(AF_INET, ip, &a4.sin_addr) != 1) {
		if (inet_pton(AF_INET6, ip, &a6.sin6_addr) != 1)
			return false;
		sa = (struct sockaddr *)&a6;
		len = sizeof(a6);
		fam = AF_INET6;
	}
	fd = socket(fam, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, sa, len) == 0;
	close(fd);
	return ok;
}

/* The first free port of the range on ip that taken[] does not hold already. */
static int port_pick(const char *ip, bool udp, const int *taken, size_t ntaken)
{
	for (int p = LOCAL_PORT_FIRST; p <= LOCAL_PORT_LAST; p++) {
		bool used = false;

		for (size_t i = 0; i < ntaken; i++)
			used |= taken[i] == p;
		if (!used && port_free(ip, p, udp))
			return p;
	}
	return -1;
}

int local_ssh_port(const struct provider_ctx *c, int *port, struct err *e)
{
	char *s = NULL;

	if (state_get(c, "ssh_port", &s, e) < 0)
		return -1;
	if (!s)
		return err_set(e, ERR_NOTFOUND, "machine '%s' has no SSH port yet (envup %s)",
			       c->m->name, c->m->name);
	char *end;
	long v = strtol(s, &end, 10);
	bool bad = *end || v < 1 || v > 65535;

	free(s);
	if (bad)
		return err_set(e, ERR_CORRUPT, "machine '%s': state.json: ssh_port is no port",
			       c->m->name);
	*port = (int)v;
	return 0;
}

int local_ports_choose(const struct provider_ctx *c, struct local_ports *p, struct err *e)
{
	const struct machine *m = c->m;
	/* every explicit host port, SSH's, and each auto-corrected one */
	int taken[1 + 2 * (sizeof(p->fw) / sizeof(p->fw[0]))], nt = 0, old = 0;
	struct json_object *arr;
	struct err ignored = {0};

	memset(p, 0, sizeof(*p));
	if (m->nports > sizeof(p->fw) / sizeof(p->fw[0]))
		return err_set(e, ERR_USAGE, "machine '%s': more than %zu forwarded_ports", m->name,
			       sizeof(p->fw) / sizeof(p->fw[0]));
	/* Explicit host ports first, so that SSH's automatic choice does not take them. */
	for (size_t i = 0; i < m->nports; i++)
		taken[nt++] = m->ports[i].host;
	if (local_ssh_port(c, &old, &ignored) == 0 && old > 0 && port_free("127.0.0.1", old, false))
		p->ssh = old;
	else
		p->ssh = port_pick("127.0.0.1", false, taken, nt);
	if (p->ssh < 0)
		return err_set(e, ERR_BUSY,
			       "machine '%s': no free port for SSH on 127.0.0.1 in %d-%d", m->name,
			       LOCAL_PORT_FIRST, LOCAL_PORT_LAST);
	taken[nt++] = p->ssh;
	arr = json_object_new_array();
	for (size_t i = 0; i < m->nports; i++) {
		const struct forwarded_port *f = &m->ports[i];
		struct local_fwd *w = &p->fw[p->n++];

		snprintf(w->ip, sizeof(w->ip), "%s", f->host_ip ? f->host_ip : "127.0.0.1");
		w->guest = f->guest;
		w->udp = f->protocol && !strcmp(f->protocol, "udp");
		w->host = f->host;
		if (!port_free(w->ip, w->host, w->udp)) {
			if (!f->auto_correct) {
				json_object_put(arr);
				return err_set(e, ERR_BUSY,
					       "machine '%s': forwarded_ports: host port %s:%d (to "
					       "guest %d) is taken; free it, change it, or set "
					       "auto_correct: true",
					       m->name, w->ip, w->host, w->guest);
			}
			w->host = port_pick(w->ip, w->udp, taken, nt);
			if (w->host < 0) {
				json_object_put(arr);
				return err_set(e, ERR_BUSY, "machine '%s': no free port in %d-%d",
					       m->name, LOCAL_PORT_FIRST, LOCAL_PORT_LAST);
			}
			local_say(c,
				  "forwarded port %d (guest) collides with %d on the host: "
				  "using %d (auto_correct)",
				  f->guest, f->host, w->host);
		}
		if (w->host != f->host)
			taken[nt++] = w->host;
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "guest", json_object_new_int(w->guest));
		json_object_object_add(o, "host", json_object_new_int(w->host));
		json_object_object_add(o, "host_ip", json_object_new_string(w->ip));
		json_object_array_add(arr, o);
	}
	if (local_state_set(c, "forwarded_ports", arr, e) < 0)
		return -1;
	return local_state_set(c, "ssh_port", json_object_new_int(p->ssh), e);
}

int local_ports_lock(void)
{
	int fd = open(LOCAL_PORTS_LOCK, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);

	/* another user's lock file in sticky /tmp (protected_regular refuses O_CREAT on it) */
	if (fd < 0)
		fd = open(LOCAL_PORTS_LOCK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

void local_ports_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

char *local_hostfwd(const char *head, const struct local_ports *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "%s,hostfwd=tcp:127.0.0.1:%d-:22", head, p->ssh);
	for (size_t i = 0; i < p->n; i++) {
		const struct local_fwd *w = &p->fw[i];
		bool v6 = strchr(w->ip, ':') != NULL;

		fprintf(f, ",hostfwd=%s:%s%s%s:%d-:%d", w->udp ? "udp" : "tcp", v6 ? "[" : "",
			w->ip, v6 ? "]" : "", w->host, w->guest);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* True when cmd (arguments joined by spaces) names dir or a path inside it: dir followed by
 * "/", a space or the end (".../web/pid", not ".../web2/pid"). */
static bool names_dir(const char *cmd, const char *dir)
{
	size_t n = strlen(dir);

	for (const char *q = cmd; n && (q = strstr(q, dir)); q += n)
		if (q[n] == '/' || q[n] == ' ' || !q[n])
			return true;
	return false;
}

int local_running(const struct provider_ctx *c, pid_t *pid)
{
	char *pidfile = local_file(c, "pid"), *s = NULL, path[64], cmd[8192];
	struct err e = {0};
	size_t len = 0, n;
	long v;
	int fd, rc = 0;

	*pid = 0;
	if (!pidfile || fs_read_file(pidfile, 64, &s, &len, &e) < 0)
		goto out;
	v = strtol(s, NULL, 10);
	if (v <= 1 || kill((pid_t)v, 0) < 0)
		goto out;
	/* A recycled pid: the process must name this machine's directory on its command line. */
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", v);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	n = 0;
	for (ssize_t r; n < sizeof(cmd) - 1 && (r = read(fd, cmd + n, sizeof(cmd) - 1 - n)) > 0;)
		n += (size_t)r;
	close(fd);
	for (size_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = 0;
	if (names_dir(cmd, c->machine_dir)) {
		*pid = (pid_t)v;
		rc = 1;
	}
out:
	free(pidfile);
	free(s);
	return rc;
}

int local_wait_gone(pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		char path[64];

		/* our own child (a test, a daemon not yet reparented): reap it */
		waitpid(pid, NULL, WNOHANG);
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		/* a zombie whose parent has not reaped it yet is gone for us */
		{
			char *s = NULL;
			size_t len;
			struct err e = {0};

			if (fs_read_file(path, 4096, &s, &len, &e) == 0) {
				char *p = strrchr(s, ')');
				bool zombie = p && p[1] == ' ' && p[2] == 'Z';

				free(s);
				if (zombie)
					return 0;
			}
		}
		usleep(50 * 1000);
	}
	return -1;
}

static void remove_file(const struct provider_ctx *c, const char *name)
{
	char *f = local_file(c, name);

	if (f)
		unlink(f);
	free(f);
}

int local_kill(const struct provider_ctx *c, const char *sock_name, struct err *e)
{
	pid_t pid;

	if (local_running(c, &pid)) {
		kill(pid, SIGKILL);
		if (local_wait_gone(pid, 10000) < 0)
			return err_set(e, ERR_TIMEOUT, "machine '%s': process %d does not end",
				       c->m->name, (int)pid);
	}
	remove_file(c, "pid");
	if (sock_name)
		remove_file(c, sock_name);
	return 0;
}

/* The last n lines of text (a pointer into it). */
static const char *last_lines(const char *text, size_t len, int n)
{
	const char *p = text + len;

	if (p > text && p[-1] == '\n')
		p--;
	while (p > text) {
		if (p[-1] == '\n' && --n == 0)
			break;
		p--;
	}
	return p;
}

/* The tail of a file: its last n lines of at most its last 64 KiB. */
static int file_tail(const char *path, int n, char **out, struct err *e)
{
	char buf[65536];
	ssize_t r;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0) {
		*out = strdup("");
		return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
	}
	size = lseek(fd, 0, SEEK_END);
	r = pread(fd, buf, sizeof(buf) - 1,
		  size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (r < 0)
		return err_sys(e, "cannot read %s", path);
	buf[r] = 0;
	/* a console has carriage returns and sometimes NULs: lines only */
	for (ssize_t i = 0; i < r; i++)
		if (buf[i] == '\r' || buf[i] == 0)
			buf[i] = buf[i] == '\r' ? ' ' : '?';
	*out = strdup(last_lines(buf, (size_t)r, n));
	return *out ? 0 : err_set(e, ERR_FAIL, "out of memory");
}

int local_console_tail(const struct provider_ctx *c, int n, char **out, struct err *e)
{
	char *f = local_file(c, "console.log");
	int rc;

	if (!f)
		return err_set(e, ERR_FAIL, "out of memory");
	rc = file_tail(f, n, out, e);
	free(f);
	return rc;
}

int local_spawn(const struct provider_ctx *c, char *const argv[], const char *errlog, struct err *e)
{
	char *log = local_file(c, errlog), *tail = NULL;
	int status = 0, fd;
	pid_t pid;

	if (!log)
		return err_set(e, ERR_FAIL, "out of memory");
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_sys(e, "cannot create %s", log);
		free(log);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* its own session: a Ctrl-C to envup must not reach the machine */
		setsid();
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	if (pid < 0) {
		free(log);
		return err_sys(e, "cannot fork");
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		free(log);
		return 0;
	}
	file_tail(log, 10, &tail, e);
	err_set(e, ERR_FAIL, "machine '%s': %s failed (%s %d); %s says:\n%s", c->m->name, argv[0],
		WIFEXITED(status) ? "status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log, tail ? tail : "");
	free(tail);
	free(log);
	return -1;
}

int local_state(const struct provider_ctx *c, enum machine_status *out, struct err *e)
{
	pid_t pid;

	if (provider_recorded_state(c, out, e) < 0)
		return -1;
	/* A live hypervisor wins over the record: an envup killed between starting it and
	 * recording "running" left it running under "not created" or "halted", which envdestroy
	 * would have taken for nothing to stop. */
	if (local_running(c, &pid))
		*out = MACHINE_RUNNING;
	else if (*out == MACHINE_RUNNING)
		*out = MACHINE_ABORTED;
	return 0;
}

int local_halt(const struct provider_ctx *c, bool force, const char *provider,
	       const char *sock_name, local_request_fn power_off, local_request_fn hard_stop,
	       struct err *e)
{
	struct err why = {0};
	pid_t pid;

	if (local_running(c, &pid)) {
		if (!force) {
			if (power_off(c, &why) == 0 &&
			    local_wait_gone(pid, LOCAL_HALT_GRACE_MS) == 0)
				goto done;
			if (why.msg[0])
				local_say(c, "the guest did not power off (%s): stopping it",
					  why.msg);
			else
				local_say(c, "the guest did not power off within %d s: stopping it",
					  LOCAL_HALT_GRACE_MS / 1000);
		}
		if (hard_stop && hard_stop(c, &why) == 0)
			local_wait_gone(pid, 5000);
	}
done:
	/* gone already after a power-off: this only clears the pidfile and socket */
	if (local_kill(c, sock_name, e) < 0)
		return -1;
	return provider_record_state(c, provider, MACHINE_HALTED, e);
}

int local_ssh_info(const struct provider_ctx *c, struct provider_ssh_info *out, struct err *e)
{
	snprintf(out->host, sizeof(out->host), "127.0.0.1");
	return local_ssh_port(c, &out->port, e);
}

int local_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;

	while (n < len - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return 0;
}

int local_connect(const struct provider_ctx *c, const char *name, struct err *e)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char *path = local_file(c, name);
	int fd;

	if (!path)
		return err_set(e, ERR_FAIL, "out of memory");
	/* sun_path is short: connect through the directory instead of the full path */
	fd = open(c->machine_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err_sys(e, "cannot open %s", c->machine_dir);
		free(path);
		return -1;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s", fd, name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		err_sys(e, "cannot connect to %s", path);
		if (s >= 0)
			close(s);
		s = -1;
	}
	close(fd);
	free(path);
	return s;
}
