/* --daemonize with a start handshake. */
#ifndef ENVUP_VMM_DAEMON_H
#define ENVUP_VMM_DAEMON_H

/* Forks. The parent waits for "OK" (exit 0) or a failure report (prints it, exits 1 or 2)
 * and never returns; the child returns 0 in a new session with stdio on /dev/null and
 * *ready_fd set. -1 when it cannot fork. */
int daemon_start(int *ready_fd);

/* Sends the waiting parent the failure (status 1 or 2 and a message). */
void daemon_report_failure(int ready_fd, int status, const char *msg);

#endif
