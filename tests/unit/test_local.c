/* What the vmm and qemu providers share (providers/local.c): the overlay disk (qemu-img as
 * oracle), the host port choice with auto_correct, the pidfile check against recycled pids,
 * and the console tail. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vmm/net_slirp.h"

#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

#include "boxes/image.h"
#include "core/fsutil.h"
#include "providers/local.h"

/* A listening socket on 127.0.0.1:port (-1 when the port is taken by someone else). */
static int hold(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The first port of n consecutive ports in [from, to) that 127.0.0.1 can bind now, or -1. */
static int free_block(int from, int to, int n)
{
	for (int base = from; base + n <= to; base += n) {
		int i = 0;

		for (; i < n; i++) {
			int fd = hold(base + i);

			if (fd < 0)
				break;
			close(fd);
		}
		if (i == n)
			return base;
	}
	return -1;
}

static void ctx_for(struct provider_ctx *c, struct machine *m, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->machine_dir = dir;
	assert_int_equal(unit_sh("mkdir -p '%s' && echo '{}' >'%s/state.json'", dir, dir), 0);
}

static void test_ports(void **state)
{
	struct forwarded_port fp = {.guest = 80, .host_ip = "127.0.0.1", .protocol = "tcp"};
	struct machine m = {.name = "web", .ports = &fp, .nports = 1};
	struct provider_ctx c;
	struct local_ports p;
	struct err e;
	int held, port = 0;

	ctx_for(&c, &m, unit_dir);
	/* a taken host port is an error naming it, unless auto_correct */
	held = hold(0);
	{
		struct sockaddr_in a;
		socklen_t l = sizeof(a);

		getsockname(held, (struct sockaddr *)&a, &l);
		fp.host = ntohs(a.sin_port);
	}
	assert_int_equal(local_ports_choose(&c, &p, &e), -1);
	assert_int_equal(e.code, ERR_BUSY);
	assert_non_null(strstr(e.msg, "auto_correct"));
	fp.auto_correct = true;
	assert_int_equal(local_ports_choose(&c, &p, &e), 0);
	assert_in_range(p.fw[0].host, LOCAL_PORT_FIRST, LOCAL_PORT_LAST);
	assert_in_range(p.ssh, LOCAL_PORT_FIRST, LOCAL_PORT_LAST);
	assert_int_not_equal(p.ssh, p.fw[0].host);
	assert_int_equal(local_ssh_port(&c, &port, &e), 0);
	assert_int_equal(port, p.ssh);
	/* the SSH port is kept while free, and replaced when something took it */
	assert_int_equal(local_ports_choose(&c, &p, &e), 0);
	assert_int_equal(p.ssh, port);
	int h2 = hold(port);
	if (h2 >= 0) {
		assert_int_equal(local_ports_choose(&c, &p, &e), 0);
		assert_int_not_equal(p.ssh, port);
		close(h2);
	}
	close(held);
}

/* As many forwards as a machine may have, all explicit and free: every one is remembered as
 * taken once (they and SSH's used to overflow the list of taken ports). */
static void test_many_ports(void **state)
{
	struct forwarded_port fp[64];
	struct machine m = {.name = "many", .ports = fp, .nports = 64};
	struct provider_ctx c;
	struct local_ports p;
	struct err e;

	(void)state;
	/* 64 ports free now, below the kernel's ephemeral range (32768-60999 by default), where
	 * other tests' outgoing connections take local ports at any moment */
	int base = free_block(20000, 32000, 64);
	assert_true(base > 0);
	for (int i = 0; i < 64; i++)
		fp[i] = (struct forwarded_port){.guest = 1000 + i,
						.host = base + i,
						.host_ip = "127.0.0.1",
						.protocol = "tcp"};
	ctx_for(&c, &m, unit_dir);
	assert_int_equal(local_ports_choose(&c, &p, &e), 0);
	assert_int_equal(p.n, 64);
	assert_int_equal(p.fw[63].host, base + 63);
	assert_true(p.ssh < base || p.ssh > base + 63);
}

static void test_running(void **state)
{
	struct machine m = {.name = "web"};
	struct provider_ctx c;
	char *mdir = fs_join(unit_dir, "machines/web");
	pid_t pid, child;
	struct err e;

	ctx_for(&c, &m, mdir);
	assert_int_equal(local_running(&c, &pid), 0); /* no pidfile */
	/* a process that names the machine directory is the machine */
	child = fork();
	if (child == 0) {
		execlp("sh", "sh", "-c", "sleep 30", mdir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(unit_sh("echo %d >'%s/pid'", (int)child, mdir), 0);
	usleep(100 * 1000);
	assert_int_equal(local_running(&c, &pid), 1);
	assert_int_equal(pid, child);
	/* an envup killed between starting it and recording "running": the live process wins
	 * over the record, so that envdestroy stops it */
	{
		enum machine_status s;

		assert_int_equal(local_state(&c, &s, &e), 0);
		assert_int_equal(s, MACHINE_RUNNING);
		assert_int_equal(unit_sh("echo '{\"state\":\"halted\"}' >'%s/state.json'", mdir),
				 0);
		assert_int_equal(local_state(&c, &s, &e), 0);
		assert_int_equal(s, MACHINE_RUNNING);
	}
	/* nor is a process of a machine whose directory's name only starts the same */
	{
		char *sib = NULL;
		pid_t other;

		assert_true(asprintf(&sib, "%s2/disk.qcow2", mdir) > 0);
		other = fork();
		if (other == 0) {
			execlp("sh", "sh", "-c", "sleep 30", sib, (char *)NULL);
			_exit(127);
		}
		assert_int_equal(unit_sh("echo %d >'%s/pid'", (int)other, mdir), 0);
		usleep(100 * 1000);
		assert_int_equal(local_running(&c, &pid), 0);
		kill(other, SIGKILL);
		waitpid(other, NULL, 0);
		free(sib);
	}
	/* a recycled pid (this process does not name the directory) is not the machine */
	assert_int_equal(unit_sh("echo %d >'%s/pid'", (int)getpid(), mdir), 0);
	assert_int_equal(local_running(&c, &pid), 0);
	assert_int_equal(unit_sh("echo %d >'%s/pid'", (int)child, mdir), 0);
	assert_int_equal(local_kill(&c, "ctl.sock", &e), 0);
	assert_int_equal(local_running(&c, &pid), 0);
	assert_false(fs_exists(mdir) && unit_sh("test -e '%s/pid'", mdir) == 0);
	free(mdir);
}

static void test_console_tail(void **state)
{
	struct machine m = {.name = "web"};
	struct provider_ctx c;
	struct err e;
	char *tail;

	ctx_for(&c, &m, unit_dir);
	assert_int_equal(local_console_tail(&c, 20, &tail, &e), 0);
	assert_string_equal(tail, ""); /* no console yet */
	free(tail);
	assert_int_equal(unit_sh("seq 1 100000 | sed 's/$/\\r/' >'%s/console.log'", unit_dir), 0);
	assert_int_equal(local_console_tail(&c, 3, &tail, &e), 0);
	assert_string_equal(tail, "99998 \n99999 \n100000 \n");
	free(tail);
}

static void test_disk(void **state)
{
	struct machine m = {.name = "web"};
	struct box_entry box = {.name = "b", .dir = NULL};
	struct provider_ctx c;
	char *mdir = fs_join(unit_dir, "m"), *boxdir = fs_join(unit_dir, "box");
	struct err e;

	if (!unit_have("qemu-img"))
		skip();
	ctx_for(&c, &m, mdir);
	assert_int_equal(local_disk_ensure(&c, &e), -1); /* no box */
	assert_non_null(strstr(e.msg, "no box"));
	assert_int_equal(
		unit_sh("mkdir -p '%s/users' && qemu-img create -q -f qcow2 '%s/base.qcow2' 20G",
			boxdir, boxdir),
		0);
	box.dir = boxdir;
	c.box = &box;
	assert_int_equal(local_disk_ensure(&c, &e), 0);
	assert_int_equal(
		unit_sh("qemu-img info '%s/disk.qcow2' | grep -q 'backing file: %s/base.qcow2'",
			mdir, boxdir),
		0);
	assert_int_equal(
		unit_sh("qemu-img info '%s/disk.qcow2' | grep -q 'virtual size: 20 GiB'", mdir), 0);
	assert_int_equal(unit_sh("ls '%s/users' | grep -q .", boxdir), 0);
	/* an existing disk is kept (a halted machine's data) */
	assert_int_equal(unit_sh("qemu-io -c 'write -P 7 0 4k' '%s/disk.qcow2' >/dev/null", mdir),
			 0);
	assert_int_equal(local_disk_ensure(&c, &e), 0);
	assert_int_equal(
		unit_sh("qemu-io -c 'read -P 7 0 4k' '%s/disk.qcow2' | grep -q 'read 4096'", mdir),
		0);
	assert_int_equal(local_destroy(&c, "ctl.sock", &e), 0);
	assert_int_equal(unit_sh("ls '%s/users' | grep -q .", boxdir), 1 << 8);
	free(mdir);
	free(boxdir);
}

/* The host-wide ports lock excludes another process (two envups choosing ports at once) and
 * is free again once released. */
static void test_ports_lock(void **state)
{
	int fd = local_ports_lock(), other;

	(void)state;
	assert_true(fd >= 0);
	other = open(LOCAL_PORTS_LOCK, O_RDONLY | O_CLOEXEC);
	assert_true(other >= 0);
	/* flock is per open file: a second open, as another process has, is refused */
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(other);
	local_ports_unlock(fd);
	fd = local_ports_lock();
	assert_true(fd >= 0);
	local_ports_unlock(fd);
}

/* QMP's reader: one line at a time, a line cut at the buffer, nothing when no newline comes. */
static void test_read_line(void **state)
{
	char buf[8];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "abc\n0123456789\ntail", 20), 20);
	assert_int_equal(local_read_line(p[0], buf, sizeof(buf), 100), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(local_read_line(p[0], buf, sizeof(buf), 100), 0);
	assert_string_equal(buf, "0123456");
	assert_int_equal(local_read_line(p[0], buf, sizeof(buf), 100), 0);
	assert_string_equal(buf, "789");
	/* "tail" has no newline: a timeout, then end of file */
	assert_int_equal(local_read_line(p[0], buf, sizeof(buf), 100), -1);
	close(p[1]);
	assert_int_equal(local_read_line(p[0], buf, sizeof(buf), 100), -1);
	close(p[0]);
}

/* The host forwards for -netdev user and envvmm's --net: SSH first, IPv6 addresses in
 * brackets, UDP named, and all 64 forwards even when the option is longer than 4 KiB
 * (envvmm's own parser is the oracle). */
static void test_hostfwd(void **state)
{
	struct local_ports p = {.ssh = 2222, .n = 3};
	struct net_opts *o = calloc(1, sizeof(*o));
	struct err e = {0};
	char *s;

	(void)state;
	assert_non_null(o);
	p.fw[0] = (struct local_fwd){"127.0.0.1", 8080, 80, false};
	p.fw[1] = (struct local_fwd){"::1", 5353, 53, true};
	p.fw[2] = (struct local_fwd){"0.0.0.0", 9000, 9000, false};
	s = local_hostfwd("user,id=n0", &p);
	assert_string_equal(s, "user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22"
			       ",hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:[::1]:5353-:53"
			       ",hostfwd=tcp:0.0.0.0:9000-:9000");
	free(s);

	p.n = 64;
	for (int i = 0; i < 64; i++)
		p.fw[i] = (struct local_fwd){"fd00:1234:5678:9abc:def0:1234:5678:9abc", 10000 + i,
					     20000 + i, i % 2};
	s = local_hostfwd("user", &p);
	assert_true(strlen(s) > 4096);
	assert_int_equal(net_parse(s, o, &e), 0);
	assert_int_equal(o->nfwd, 65);
	assert_int_equal(o->fwd[0].host_port, 2222);
	assert_int_equal(o->fwd[0].guest_port, 22);
	assert_int_equal(o->fwd[64].host_port, 10063);
	assert_int_equal(o->fwd[64].guest_port, 20063);
	assert_true(o->fwd[64].udp);
	assert_int_equal(o->fwd[64].host.ss_family, AF_INET6);
	free(s);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ports, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_many_ports, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_running, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_console_tail, unit_setup_dir,
						unit_teardown_dir),
		cmocka_unit_test_setup_teardown(test_disk, unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test(test_ports_lock),
		cmocka_unit_test(test_read_line),
		cmocka_unit_test(test_hostfwd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
