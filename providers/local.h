/* What every provider that runs a machine as a local process (vmm, qemu) shares: the machine
 * directory's files, the linked-clone disk on the box's base.qcow2, the choice of host ports,
 * the detached process behind a pidfile, and the console log. Each provider keeps only how
 * it starts and talks to its own process. */
#ifndef ENVUP_PROVIDERS_LOCAL_H
#define ENVUP_PROVIDERS_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "providers/provider.h"

#define LOCAL_PORT_FIRST 2200 /* Vagrant's range for SSH and auto_correct */
#define LOCAL_PORT_LAST 2250

/* One host forward: host_ip:host on the host to guest in the machine. */
struct local_fwd {
	char ip[64];
	int host, guest;
	bool udp;
};

struct local_ports {
	int ssh; /* host port forwarded to the guest's 22 on 127.0.0.1 */
	struct local_fwd fw[64];
	size_t n;
};

/* machine_dir/name (heap string; NULL when out of memory). */
char *local_file(const struct provider_ctx *c, const char *name);

/* Makes disk.qcow2, a qcow2 overlay on the box's base.qcow2 (kept when it exists: a halted
 * machine keeps its disk), and records that the machine uses the box. In local_disk.c, with
 * local_destroy: the two that need the image library and the box store. */
int local_disk_ensure(const struct provider_ctx *c, struct err *e);

/* Sets key to val (an owned json object) in the machine's state.json. */
struct json_object;
int local_state_set(const struct provider_ctx *c, const char *key, struct json_object *val,
		    struct err *e);

/* The box's installed directory this machine was made from (heap string), from its state. */
int local_box_dir(const struct provider_ctx *c, char **out, struct err *e);

/* Direct boot of an envup box: absolute paths of its kernel and initrd, and its command line
 * (heap strings, NULL when the box has none: boot from the disk). */
struct local_kernel {
	char *kernel, *initrd, *cmdline;
};

/* Reads the kernel entries of the machine's box's metadata.json (only those: an installed
 * box keeps base.qcow2, not the disk files its metadata names). Paths must stay inside the
 * box and name files. */
int local_box_kernel(const struct provider_ctx *c, struct local_kernel *k, struct err *e);
void local_kernel_free(struct local_kernel *k);

/* Chooses the host ports: SSH on the port the machine had if still free, else the first free
 * one in 2200-2250; each forwarded_ports entry on its own port, or (auto_correct) a free one
 * in 2200-2250 when it is taken. Records them in the machine's state. */
int local_ports_choose(const struct provider_ctx *c, struct local_ports *p, struct err *e);

/* Ports are the host's, not a project's: from local_ports_choose until the hypervisor has
 * bound them, a machine holds this host-wide lock, so that machines coming up at the same
 * time (in parallel, or in two projects) never pick the same free port. Returns the lock's
 * fd, or -1 when there is no lock to be had (then the choice goes on unguarded). */
#define LOCAL_PORTS_LOCK "/tmp/envup-ports.lock"
int local_ports_lock(void);
void local_ports_unlock(int fd);

/* The user-mode network's option as QEMU's -netdev user and envvmm's --net both read it: head,
 * then ",hostfwd=PROTO:ADDR:HOST-:GUEST" for SSH on 127.0.0.1 and for each forwarded port (an
 * IPv6 address in brackets). A heap string; NULL when out of memory. */
char *local_hostfwd(const char *head, const struct local_ports *p);

/* The SSH host port recorded for the machine (ERR_NOTFOUND when none). */
int local_ssh_port(const struct provider_ctx *c, int *port, struct err *e);

/* The machine's process from its pidfile: 1 and *pid when it runs, 0 when it does not. A
 * pid that now belongs to another program (its command line does not name the machine
 * directory) counts as not running. */
int local_running(const struct provider_ctx *c, pid_t *pid);

/* Waits up to timeout_ms for pid to end; 0 when it did. */
int local_wait_gone(pid_t pid, int timeout_ms);

/* Kills the machine's process (SIGKILL) if it runs, waits for it, removes pidfile and socket. */
int local_kill(const struct provider_ctx *c, const char *sock_name, struct err *e);

/* Runs argv (a program that detaches itself and returns once it runs), its output into
 * machine_dir/errlog; a failure carries the log's last lines. */
int local_spawn(const struct provider_ctx *c, char *const argv[], const char *errlog,
		struct err *e);

/* The recorded state, except that a live hypervisor (pidfile) makes it RUNNING and a RUNNING
 * record without one becomes ABORTED. */
int local_state(const struct provider_ctx *c, enum machine_status *out, struct err *e);

/* The last n lines of console.log (heap string). */
int local_console_tail(const struct provider_ctx *c, int n, char **out, struct err *e);

/* How long a guest gets to power off on envhalt before its process is stopped. */
#define LOCAL_HALT_GRACE_MS 60000

/* envhalt of a local machine: unless force, power_off asks the guest to power off (0 when
 * the request was taken) and the process gets LOCAL_HALT_GRACE_MS to end; failing that, or
 * with force, hard_stop (may be NULL) asks the hypervisor to stop in order (5 s). Then the
 * process is killed if it still runs,
 * pidfile and sock_name removed, and the state recorded as halted under provider's name. */
typedef int (*local_request_fn)(const struct provider_ctx *c, struct err *e);
int local_halt(const struct provider_ctx *c, bool force, const char *provider,
	       const char *sock_name, local_request_fn power_off, local_request_fn hard_stop,
	       struct err *e);

/* ssh_info of a local machine: 127.0.0.1 and the recorded SSH port. */
int local_ssh_info(const struct provider_ctx *c, struct provider_ssh_info *out, struct err *e);

/* Reads one line from fd into buf (without its newline) within timeout_ms per byte; -1 on
 * a timeout or end of file. A longer line is cut at len - 1 bytes. */
int local_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* Kills the process, forgets the box's use; the caller removes the directory (local_disk.c). */
int local_destroy(const struct provider_ctx *c, const char *sock_name, struct err *e);

/* Connects to the Unix socket machine_dir/name (fd, or -1 with e set). */
int local_connect(const struct provider_ctx *c, const char *name, struct err *e);

/* A hypervisor's command line: a bounded vector of heap strings, NULL-terminated when built. */
struct local_args {
	char *v[96];
	int n;
	bool oom; /* an argument was lost: out of memory or too many */
};

/* Appends one printf-formatted argument. */
void local_arg(struct local_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees the arguments. */
void local_args_free(struct local_args *a);

/* Sends one message to the machine's provider log. */
void local_say(const struct provider_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
