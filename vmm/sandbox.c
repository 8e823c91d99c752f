#include "vmm/sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "vmm/log.h"

/* What a running VMM does: KVM ioctls, device I/O on images and sockets (libslirp opens
 * sockets and reads /etc/resolv.conf while running), the event loop, threads' futexes and
 * signals, memory management by malloc, and orderly exit (unlink of socket and pidfile). */
static const int sandbox_allowed[] = {
	SCMP_SYS(ioctl),
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(fdatasync),
	SCMP_SYS(fsync),
	SCMP_SYS(ftruncate),
	SCMP_SYS(fallocate),
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(openat),
	SCMP_SYS(close),
	SCMP_SYS(fcntl),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(eventfd2),
	SCMP_SYS(futex),
	SCMP_SYS(socket),
	SCMP_SYS(connect),
	SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(accept4),
	SCMP_SYS(accept),
	SCMP_SYS(sendto),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(shutdown),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(mprotect),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(mincore),
	SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(tgkill),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(sched_yield),
	SCMP_SYS(unlink),
	SCMP_SYS(unlinkat),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(sched_getaffinity),
	/* A vCPU thread may still be starting (glibc's thread start, signals all blocked). */
	SCMP_SYS(rseq),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(prctl),
	SCMP_SYS(sigaltstack),
};

/* What the 9p file server adds (--share): every path operation relative to a directory fd,
 * openat2 for resolution beneath the share, directory listing and file system statistics. */
static const int sandbox_allowed_share[] = {
	SCMP_SYS(openat2),   SCMP_SYS(getdents64), SCMP_SYS(mkdirat),	SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(linkat),	   SCMP_SYS(symlinkat), SCMP_SYS(readlinkat),
	SCMP_SYS(fchmodat),  SCMP_SYS(utimensat),  SCMP_SYS(fstatfs),	SCMP_SYS(mknodat),
};

static void sandbox_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	char msg[96] = "envvmm: sandbox: blocked system call ";
	char num[12];
	int n = 0, v = si->si_syscall;

	/* Async-signal-safe: format the number by hand, one write. */
	do {
		num[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < 11);
	{
		size_t l = strlen(msg);
		while (n)
			msg[l++] = num[--n];
		msg[l++] = '\n';
		log_raw(msg, l);
	}
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS; /* the call fails; the caller copes */
	(void)sig;
}

int sandbox_enter(bool file_server, struct err *e)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)e;
	(void)file_server;
	(void)sandbox_allowed;
	(void)sandbox_allowed_share;
	(void)sandbox_sigsys;
	log_msg(LOG_INFO, "sandbox: off under AddressSanitizer");
	return 0;
#else
	struct sigaction sa = {.sa_sigaction = sandbox_sigsys, .sa_flags = SA_SIGINFO};
	scmp_filter_ctx ctx;
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return err_sys(e, "sandbox: sigaction");
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return err_set(e, ERR_FAIL, "sandbox: seccomp_init failed");
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; r == 0 && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
	for (size_t i = 0; r == 0 && file_server &&
			   i < sizeof(sandbox_allowed_share) / sizeof(sandbox_allowed_share[0]);
	     i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed_share[i], 0);
	/* Processes and threads are never made once running; no exec, ptrace, mount, ... */
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		errno = -r;
		return err_sys(e, "sandbox: loading the seccomp filter");
	}
	log_msg(LOG_INFO, "sandbox: seccomp filter on (%zu system calls allowed)",
		sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]) +
			(file_server
				 ? sizeof(sandbox_allowed_share) / sizeof(sandbox_allowed_share[0])
				 : 0));
	return 0;
#endif
}
