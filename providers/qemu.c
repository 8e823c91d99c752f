/* The qemu provider: each machine is one daemonized qemu-system-x86_64 (Debian's
 * qemu-system-x86) on the machine's overlay disk, with user networking and its host
 * forwards, the serial console into console.log and a QMP socket for power-off. KVM where
 * the hardware has it, else TCG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "providers/local.h"
#include "providers/qemu.h"
#include "providers/share9p.h"

#define QMP_SOCK "qmp.sock"

/* Runs one QMP command ("execute" name); 0 when QEMU answered "return". */
static int qmp_run(const struct provider_ctx *c, const char *cmd, struct err *e)
{
	char line[4096];
	int fd = local_connect(c, QMP_SOCK, e), rc = -1;

	if (fd < 0)
		return -1;
	if (local_read_line(fd, line, sizeof(line), 5000) < 0 || !strstr(line, "\"QMP\""))
		goto bad;
	if (dprintf(fd, "{\"execute\":\"qmp_capabilities\"}\n") < 0 ||
	    local_read_line(fd, line, sizeof(line), 5000) < 0 || !strstr(line, "\"return\""))
		goto bad;
	if (dprintf(fd, "{\"execute\":\"%s\"}\n", cmd) < 0)
		goto bad;
	/* events may come before the answer */
	for (int i = 0; i < 16; i++) {
		if (local_read_line(fd, line, sizeof(line), 5000) < 0)
			break;
		if (strstr(line, "\"return\"")) {
			rc = 0;
			goto out;
		}
		if (strstr(line, "\"error\""))
			break;
	}
bad:
	err_set(e, ERR_FAIL, "machine '%s': QMP %s got no answer", c->m->name, cmd);
out:
	close(fd);
	return rc;
}

/* -netdev user with hostfwd for SSH and every forwarded port. */
static void add_net(struct local_args *a, const struct local_ports *p)
{
	char *net = local_hostfwd("user,id=n0", p);

	if (!net) {
		a->oom = true;
		return;
	}
	local_arg(a, "-netdev");
	local_arg(a, "%s", net);
	free(net);
	local_arg(a, "-device");
	local_arg(a, "virtio-net-pci,netdev=n0");
}

/* Direct boot when the box has a kernel (envup's own boxes), else the disk's bootloader. */
static int add_boot(struct local_args *a, const struct provider_ctx *c, struct err *e)
{
	struct local_kernel k;

	if (local_box_kernel(c, &k, e) < 0)
		return -1;
	if (k.kernel) {
		local_arg(a, "-kernel");
		local_arg(a, "%s", k.kernel);
		if (k.initrd) {
			local_arg(a, "-initrd");
			local_arg(a, "%s", k.initrd);
		}
		if (k.cmdline) {
			local_arg(a, "-append");
			local_arg(a, "%s", k.cmdline);
		}
	}
	local_kernel_free(&k);
	return 0;
}

/* A synced folder shared live: QEMU's own 9p server. mapped-xattr keeps what the guest sets
 * (owner, mode, device files) in the host files' user.virtfs.* attributes, so the guest may
 * chown while the host files stay the host user's. */
void qemu_add_virtfs(struct local_args *a, const char *host_escaped, const char *tag, bool readonly)
{
	local_arg(a, "-virtfs");
	local_arg(a, "local,path=%s,mount_tag=%s,security_model=mapped-xattr%s", host_escaped, tag,
		  readonly ? ",readonly=on" : "");
}

static int qemu_up(const struct provider_ctx *c, struct err *e)
{
	const struct machine *m = c->m;
	struct local_ports ports;
	struct local_args a = {0};
	bool kvm = provider_hardware_virt();
	char *dir = NULL;
	pid_t pid;
	int rc = -1, lock;

	if (local_running(c, &pid))
		return provider_record_state(c, "qemu", MACHINE_RUNNING, e);
	/* a crashed or killed machine: what it left is cleared, its disk kept */
	if (local_kill(c, QMP_SOCK, e) < 0 || local_disk_ensure(c, e) < 0)
		return -1;
	/* held until qemu -daemonize returns: by then its host forwards are bound */
	lock = local_ports_lock();
	if (local_ports_choose(c, &ports, e) < 0) {
		local_ports_unlock(lock);
		return -1;
	}
	if (!kvm)
		local_say(c, "no usable hardware KVM: qemu emulates the CPU in software (TCG), "
			     "which is slow");
	local_arg(&a, "qemu-system-x86_64");
	local_arg(&a, "-name");
	local_arg(&a, "envup-%s", m->name);
	local_arg(&a, "-machine");
	local_arg(&a, "pc,accel=%s", kvm ? "kvm" : "tcg");
	local_arg(&a, "-cpu");
	local_arg(&a, kvm ? "host" : "max");
	local_arg(&a, "-smp");
	local_arg(&a, "%d", m->cpus > 0 ? m->cpus : 1);
	local_arg(&a, "-m");
	local_arg(&a, "%llu", (unsigned long long)(m->memory_mib ? m->memory_mib : 1024));
	local_arg(&a, "-nodefaults");
	local_arg(&a, "-display");
	local_arg(&a, "none");
	/* QEMU's option lists end a value at a comma: the project's path may hold one */
	dir = share9p_commas_doubled(c->machine_dir);
	if (!dir) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	local_arg(&a, "-drive");
	local_arg(&a, "file=%s/disk.qcow2,format=qcow2,if=virtio,cache=writeback,discard=unmap",
		  dir);
	add_net(&a, &ports);
	local_arg(&a, "-device");
	local_arg(&a, "virtio-rng-pci");
	local_arg(&a, "-chardev");
	local_arg(&a, "file,id=con,path=%s/console.log,append=on", dir);
	local_arg(&a, "-serial");
	local_arg(&a, "chardev:con");
	local_arg(&a, "-chardev");
	local_arg(&a, "socket,id=qmp,path=%s/" QMP_SOCK ",server=on,wait=off", dir);
	local_arg(&a, "-mon");
	local_arg(&a, "chardev=qmp,mode=control");
	local_arg(&a, "-pidfile");
	local_arg(&a, "%s/pid", c->machine_dir);
	local_arg(&a, "-daemonize");
	if (add_boot(&a, c, e) < 0 || share9p_args(&provider_qemu, m, &a, qemu_add_virtfs, e) < 0)
		goto out;
	if (a.oom) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (local_spawn(c, a.v, "qemu.log", e) < 0)
		goto out;
	rc = provider_record_state(c, "qemu", MACHINE_RUNNING, e);
out:
	local_ports_unlock(lock);
	local_args_free(&a);
	free(dir);
	return rc;
}

static int qemu_power_off(const struct provider_ctx *c, struct err *e)
{
	return qmp_run(c, "system_powerdown", e);
}

static int qemu_halt(const struct provider_ctx *c, bool force, struct err *e)
{
	/* after the grace time the process is killed: QMP's quit would add nothing */
	return local_halt(c, force, "qemu", QMP_SOCK, qemu_power_off, NULL, e);
}

static int qemu_destroy(const struct provider_ctx *c, struct err *e)
{
	return local_destroy(c, QMP_SOCK, e);
}

const struct provider_ops provider_qemu_ops = {
	.up = qemu_up,
	.halt = qemu_halt,
	.destroy = qemu_destroy,
	.console_tail = local_console_tail,
};
