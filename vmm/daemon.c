/* --daemonize: detach from the terminal while the caller still learns whether the machine
 * started (a pipe carries "OK" or the failure from the child to the waiting parent). */
#include "vmm/daemon.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* Forks; the parent waits for the child to report "OK" (machine running) or an error message
 * and exits accordingly, so that callers see failures synchronously. Returns in the child
 * (with *ready_fd set) or -1 on failure to fork. */
int daemon_start(int *ready_fd)
{
	int p[2], devnull;
	pid_t pid;
	char buf[ERR_MSG_MAX + 8];
	ssize_t n, got = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		while (got < (ssize_t)sizeof(buf) - 1 &&
		       (n = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		buf[got] = 0;
		if (got >= 2 && !strncmp(buf, "OK", 2))
			_exit(0);
		fprintf(stderr, "envvmm: %s\n", got > 2 ? buf + 2 : "failed to start");
		_exit(got >= 2 && buf[0] == '2' ? 2 : 1);
	}
	close(p[0]);
	setsid();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	*ready_fd = p[1];
	return 0;
}

/* Tells the waiting parent why the start failed ("1msg" or "2msg": its exit status). */
void daemon_report_failure(int ready_fd, int status, const char *msg)
{
	char buf[ERR_MSG_MAX + 8];
	int n = snprintf(buf, sizeof(buf), "%c%c%s", status == 2 ? '2' : '1', ' ', msg);

	if (ready_fd >= 0 && write(ready_fd, buf, (size_t)n) < 0)
		return;
}
