/* libFuzzer harness for envvmm's 9P2000.L server (vmm/p9.c) on a real scratch directory:
 * the input is a sequence of T-messages (each starting with its own size field, as on the
 * wire), answered after an implicit Tversion and Tattach of fid 0. Whatever the input, the
 * server must not crash, answer more than the reply buffer or the negotiated msize, or touch
 * the file outside the share that a symbolic link inside it points to. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/p9.h"

#define MSIZE 65536

static char base[64] = "/tmp/envup-fuzz-p9.XXXXXX";
static char share[128], outside[128];
static struct stat outside_st;
static struct p9_server srv;
static uint8_t resp[MSIZE];
static unsigned runs;

/* Runs a shell command; the fuzzer's own set-up must not fail. */
static void run(const char *cmd)
{
	if (system(cmd) != 0)
		abort();
}

/* A fresh share: a file, a directory, and links to the outside (absolute and relative). */
static void share_make(void)
{
	struct err e = {0};

	if (srv.root_fd > 0)
		p9_server_close(&srv);
	{
		char cmd[1024];
		snprintf(cmd, sizeof(cmd),
			 "rm -rf %s && mkdir -p %s/d && echo hello >%s/f && echo inner >%s/d/g && "
			 "ln -s %s %s/abs && ln -s ../outside %s/rel && ln -s %s/secret %s/absf",
			 share, share, share, share, outside, share, share, outside, share);
		run(cmd);
	}
	if (p9_server_open(&srv, share, false, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		abort();
	}
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(base))
		abort();
	snprintf(share, sizeof(share), "%s/share", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	{
		char p[160], cmd[400];
		snprintf(cmd, sizeof(cmd), "mkdir -p %s && echo secret >%s/secret", outside,
			 outside);
		run(cmd);
		snprintf(p, sizeof(p), "%s/secret", outside);
		if (stat(p, &outside_st) < 0)
			abort();
	}
	log_setup(open("/dev/null", O_WRONLY), LOG_ERROR);
	share_make();
	atexit(cleanup);
	return 0;
}

static void send(const uint8_t *m, size_t n)
{
	size_t r = p9_handle(&srv, m, n, resp, sizeof(resp));
	uint32_t size;

	if (r < 7 || r > sizeof(resp) || r > srv.msize)
		abort();
	memcpy(&size, resp, 4);
	if (size != r)
		abort();
}

static void outside_check(void)
{
	char p[160];
	struct stat st;

	snprintf(p, sizeof(p), "%s/secret", outside);
	if (stat(p, &st) < 0 || st.st_size != outside_st.st_size ||
	    st.st_mode != outside_st.st_mode || st.st_nlink != outside_st.st_nlink ||
	    st.st_mtim.tv_sec != outside_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != outside_st.st_mtim.tv_nsec)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t version[] = {21, 0, 0,   0,   100, 0xff, 0xff, 0,	 0,   1,  0,
					  8,  0, '9', 'P', '2', '0',  '0',  '0', '.', 'L'};
	static const uint8_t attach[] = {19, 0,	   0,	 0,    104,  1, 0, 0, 0, 0,
					 0,  0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	uint8_t *msg;

	/* The share grows with what inputs create: start afresh now and then. */
	if (++runs % 5000 == 0)
		share_make();
	send(version, sizeof(version));
	{
		uint8_t a[sizeof(attach) + 4];
		memcpy(a, attach, sizeof(attach));
		memset(a + sizeof(attach), 0, 4); /* n_uname */
		a[0] = sizeof(a);
		send(a, sizeof(a));
	}
	while (size >= 4) {
		uint32_t n;
		memcpy(&n, data, 4);
		if (n < 4 || n > size)
			n = (uint32_t)size;
		/* a copy of exactly n bytes, so that ASan sees any read past the message */
		msg = malloc(n);
		if (!msg)
			abort();
		memcpy(msg, data, n);
		send(msg, n);
		free(msg);
		data += n;
		size -= n;
	}
	outside_check();
	return 0;
}
