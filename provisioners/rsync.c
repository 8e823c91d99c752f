/* rsync of a synced folder. The guest side is prepared by the same SSH connection that rsync
 * opens (its --rsync-path is a small sh script: is rsync there, make and hand over the folder,
 * then rsync), so a sync costs one connection, as a hand-typed `rsync -e ssh` does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/strutil.h"
#include "provisioners/rsync.h"

#define OUT_TAIL 4096 /* rsync's last output kept for error messages */
#define MAX_ARGS 64   /* fixed arguments, besides one per exclude and nested folder */
#define NO_RSYNC_MARK "envup: no rsync in the guest"
#define NO_RSYNC_EXIT 97

/* The guest side, run by `sh -c SCRIPT envup-rsync GUEST OWNER:GROUP SUDO rsync-args...`.
 * No single quote in it: it travels inside one. OWNER:GROUP empty means the SSH user and its
 * primary group; SUDO non-empty runs rsync as root so that --chown can give files away. */
static const char guest_script[] =
	"g=$1 o=$2 s=$3; shift 3; "
	"command -v rsync >/dev/null 2>&1 || { echo \"" NO_RSYNC_MARK "\" >&2; exit 97; }; "
	"if [ ! -d \"$g\" ] || [ ! -w \"$g\" ]; then "
	"[ -n \"$o\" ] || o=$(id -un):$(id -gn); "
	"mkdir -p \"$g\" 2>/dev/null || sudo -n mkdir -p \"$g\" || "
	"{ echo \"envup: cannot create $g in the guest (no password-less sudo?)\" >&2; exit 98; }; "
	"[ -w \"$g\" ] || [ -n \"$s\" ] || sudo -n chown \"$o\" \"$g\" || "
	"{ echo \"envup: cannot give $g to $o in the guest\" >&2; exit 98; }; "
	"fi; "
	"if [ -n \"$s\" ]; then exec sudo -n rsync \"$@\"; fi; exec rsync \"$@\"";

struct argv_buf {
	char **v;
	size_t n, cap;
	bool oom;
};

static void push(struct argv_buf *a, char *s)
{
	if (!s || a->oom || a->n + 1 >= a->cap) {
		free(s);
		a->oom = true;
		return;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void pushf(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pushf(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	push(a, s);
}

/* path relative to base ("" for base itself) when it lies inside it, else NULL. */
static const char *inside(const char *path, const char *base)
{
	size_t n = strlen(base);

	if (n == 1 && base[0] == '/')
		return path + 1;
	if (strncmp(path, base, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path[n] ? path + n + 1 : "";
}

/* rsync splits -e's value on spaces and honours double quotes (no backslash escapes): every
 * option is one double-quoted word, so paths with spaces pass; a double quote cannot. */
static int ssh_command(const struct rsync_job *j, char **out, struct err *e)
{
	const struct openssh_opts *o = j->ssh;
	size_t len = 0;
	char *s = NULL;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return err_set(e, ERR_FAIL, "out of memory");
	/* -F /dev/null: nothing from ~/.ssh/config; BatchMode: never a prompt; no global
	 * known_hosts and no UpdateHostKeys: the pinned key is the only one. */
	fputs("ssh -F /dev/null -o BatchMode=yes -o GlobalKnownHostsFile=/dev/null "
	      "-o UpdateHostKeys=no -o Compression=no",
	      f);
	for (size_t i = 0; i < o->n; i++) {
		if (strchr(o->opt[i].value, '"') || strpbrk(o->opt[i].value, "\n\r")) {
			fclose(f);
			free(s);
			return err_set(e, ERR_USAGE,
				       "machine '%s': %s '%s' has a double quote or a line break, "
				       "which rsync's -e cannot pass",
				       j->m->name, o->opt[i].key, o->opt[i].value);
		}
		fprintf(f, " \"-o%s=%s\"", o->opt[i].key, o->opt[i].value);
	}
	if (fclose(f) != 0) {
		free(s);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	*out = s;
	return 0;
}

static char *guest_command(const struct rsync_job *j)
{
	const struct synced_folder *f = j->f;
	bool sudo = f->owner || f->group;
	char *g = str_shell_quote(f->guest), *own = NULL, *qown = NULL, *script = NULL, *cmd = NULL;

	if (sudo && asprintf(&own, "%s:%s", f->owner ? f->owner : j->m->ssh.user,
			     f->group	? f->group
			     : f->owner ? f->owner
					: j->m->ssh.user) < 0)
		own = NULL;
	qown = str_shell_quote(own ? own : "");
	script = str_shell_quote(guest_script);
	if (g && qown && script && (!sudo || own) &&
	    asprintf(&cmd, "sh -c %s envup-rsync %s %s %s", script, g, qown, sudo ? "sudo" : "''") <
		    0)
		cmd = NULL;
	free(g);
	free(own);
	free(qown);
	free(script);
	return cmd;
}

int rsync_argv(const struct rsync_job *j, char ***out, struct err *e)
{
	const struct synced_folder *f = j->f;
	struct argv_buf a = {0};
	char *envup_dir = fs_join(j->project_dir, ".envup"), *sshcmd = NULL;
	const char *rel;

	*out = NULL;
	a.cap = MAX_ARGS + f->nexclude + j->nnested;
	a.v = calloc(a.cap, sizeof(char *));
	if (!a.v || !envup_dir) {
		free(a.v);
		free(envup_dir);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	if (ssh_command(j, &sshcmd, e) < 0) {
		free(a.v);
		free(envup_dir);
		return -1;
	}
	push(&a, strdup("rsync"));
	/* --delete works inside the destination only: GUEST/ is the whole of what it sees. */
	push(&a, strdup("--archive"));
	push(&a, strdup("--delete"));
	/* With incremental recursion, --delete makes the guest's rsync list every directory a
	 * second time: measured, a sync of 10 changed files among 20,000 took 10% longer than
	 * plain `rsync -a`; with the whole list sent first it takes as long. The price is the
	 * list in memory before the first file goes (about 100 bytes a file). */
	push(&a, strdup("--no-inc-recursive"));
	push(&a, strdup("--stats"));
	if (f->owner || f->group)
		pushf(&a, "--chown=%s:%s", f->owner ? f->owner : j->m->ssh.user,
		      f->group	 ? f->group
		      : f->owner ? f->owner
				 : j->m->ssh.user);
	else
		push(&a, strdup("--no-group")); /* the SSH user's own group, not the host's */
	/* Anchored excludes also keep the guest's copies from --delete. */
	rel = inside(envup_dir, f->host);
	if (rel)
		pushf(&a, "--exclude=/%s/", rel);
	for (size_t i = 0; i < j->nnested; i++) {
		rel = inside(j->nested[i], f->guest);
		if (rel && *rel)
			pushf(&a, "--exclude=/%s/", rel);
	}
	for (size_t i = 0; i < f->nexclude; i++)
		pushf(&a, "--exclude=%s", f->exclude[i]);
	push(&a, strdup("-e"));
	push(&a, sshcmd);
	push(&a, strdup("--rsync-path"));
	push(&a, guest_command(j));
	pushf(&a, "%s/", f->host);
	/* The machine's name as the host: ssh finds HostName, Port and User in -o options, and
	 * rsync never has to bracket an IPv6 address. */
	pushf(&a, "%s:%s/", j->m->name, f->guest);
	free(envup_dir);
	if (a.oom) {
		rsync_argv_free(a.v);
		return err_set(e, ERR_FAIL, "out of memory");
	}
	*out = a.v;
	return 0;
}

void rsync_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* "Number of regular files transferred: 1,234" and "Number of deleted files: 3 (reg: 3)". */
static void parse_stat(const char *line, struct rsync_result *r)
{
	static const char sent[] = "Number of regular files transferred: ";
	static const char del[] = "Number of deleted files: ";
	const char *p = NULL;
	unsigned long *dst = NULL, v = 0;

	if (!strncmp(line, sent, sizeof(sent) - 1)) {
		p = line + sizeof(sent) - 1;
		dst = &r->files;
	} else if (!strncmp(line, del, sizeof(del) - 1)) {
		p = line + sizeof(del) - 1;
		dst = &r->deleted;
	}
	if (!dst)
		return;
	for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
		if (*p != ',')
			v = v * 10 + (unsigned long)(*p - '0');
	*dst = v;
}

/* Reads rsync's output to the end: statistics into r, the last OUT_TAIL bytes into tail. */
static void read_output(int fd, struct rsync_result *r, char *tail, size_t *tlen)
{
	char buf[8192], line[512];
	size_t ll = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				line[ll] = '\0';
				parse_stat(line, r);
				ll = 0;
			} else if (ll + 1 < sizeof(line)) {
				line[ll++] = buf[i];
			}
		}
		if ((size_t)n >= OUT_TAIL - 1) {
			memcpy(tail, buf + n - (OUT_TAIL - 1), OUT_TAIL - 1);
			*tlen = OUT_TAIL - 1;
		} else {
			size_t keep =
				*tlen + (size_t)n > OUT_TAIL - 1 ? OUT_TAIL - 1 - (size_t)n : *tlen;

			memmove(tail, tail + *tlen - keep, keep);
			memcpy(tail + keep, buf, (size_t)n);
			*tlen = keep + (size_t)n;
		}
		tail[*tlen] = '\0';
	}
}

/* The lines of rsync's output worth showing: its own errors and what ssh said, without the
 * statistics. */
static void error_lines(const char *tail, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (const char *p = tail; *p && o + 1 < len;) {
		size_t n = strcspn(p, "\n");

		if (n && strncmp(p, "Number of ", 10) && strncmp(p, "Total ", 6) &&
		    strncmp(p, "Literal data", 12) && strncmp(p, "Matched data", 12) &&
		    strncmp(p, "File list", 9) && strncmp(p, "sent ", 5) &&
		    strncmp(p, "total size", 10))
			o += (size_t)snprintf(out + o, len - o, "%s%.*s", o ? "; " : "", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

static int spawn(char **argv, pid_t *pid, int *fd, struct err *e)
{
	int p[2];
	pid_t parent = getpid();

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(e, "pipe");
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_sys(e, "fork");
	}
	if (*pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		signal(SIGPIPE, SIG_DFL);
		/* A killed envup takes its rsync along (rsync removes its temporary file on
		 * SIGTERM), instead of leaving it syncing into a machine the next envup handles. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "cannot run rsync on this host: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return 0;
}

int rsync_missing(const struct machine *m, struct err *e)
{
	return err_set(e, ERR_NOTFOUND,
		       "machine '%s': rsync is not installed in the guest; install it there, or "
		       "set 'rsync__install: true' on a synced folder to let envup install it",
		       m->name);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rsync_run(const struct rsync_job *j, struct rsync_result *r, struct err *e)
{
	const struct synced_folder *f = j->f;
	char **argv = NULL, tail[OUT_TAIL], why[ERR_MSG_MAX / 2];
	size_t tlen = 0;
	double t0 = now();
	pid_t pid = -1;
	int fd, status, code;

	memset(r, 0, sizeof(*r));
	tail[0] = '\0';
	if (f->create && !fs_exists(f->host) && fs_mkdir_p(f->host, 0755, e) < 0)
		return err_wrap(e, "machine '%s': synced folder %s", j->m->name, f->guest);
	if (rsync_argv(j, &argv, e) < 0)
		return -1;
	if (spawn(argv, &pid, &fd, e) < 0) {
		rsync_argv_free(argv);
		return -1;
	}
	rsync_argv_free(argv);
	read_output(fd, r, tail, &tlen);
	close(fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(e, "waitpid");
	r->seconds = now() - t0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* 24: some files vanished while rsync ran (an editor's temporary file): not a failure. */
	if (code == 0 || code == 24)
		return 0;
	if (strstr(tail, NO_RSYNC_MARK))
		return rsync_missing(j->m, e);
	if (strstr(tail, "Host key verification failed")) {
		/* OpenSSH's warning is a page long: its fingerprint is what matters. */
		const char *fp = strstr(tail, "SHA256:");

		return err_set(e, ERR_CORRUPT,
			       "machine '%s': its SSH host key%s%.*s is not the one pinned in %s; "
			       "rsync refused to connect ('envdestroy %s', or remove that file if "
			       "the machine was rebuilt on purpose)",
			       j->m->name, fp ? " " : "", fp ? (int)strcspn(fp, ". \n") : 0,
			       fp ? fp : "", j->ssh->known_hosts, j->m->name);
	}
	error_lines(tail, why, sizeof(why));
	return err_set(e, ERR_FAIL, "machine '%s': rsync of %s to %s failed (exit status %d)%s%s",
		       j->m->name, f->host, f->guest, code, *why ? ": " : "", why);
}

bool rsync_install_allowed(const struct machine *m)
{
	for (size_t i = 0; i < m->nfolders; i++)
		if (!m->folders[i].disabled && m->folders[i].rsync_install)
			return true;
	return false;
}
