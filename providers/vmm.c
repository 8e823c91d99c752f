/* The vmm provider: each machine is one detached envvmm (the bundled VMM) on the machine's
 * overlay disk, booting the box's kernel directly or the disk's bootloader through SeaBIOS,
 * with slirp networking and its host forwards, the console into console.log and the JSON
 * control socket for power-off. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "providers/local.h"
#include "providers/share9p.h"
#include "providers/vmm.h"

#define API_SOCK "ctl.sock"

/* envvmm next to this program (build tree and installs keep them together), else on PATH. */
static void envvmm_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv("ENVUP_ENVVMM");

	snprintf(out, len, "envvmm");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	if (n <= 0)
		return;
	self[n] = 0;
	/* bin/envctl or libexec/envup/envctl-full */
	for (int up = 1; up <= 3; up++) {
		char *slash = strrchr(self, '/');
		char cand[PATH_MAX + 16];

		if (!slash)
			return;
		*slash = 0;
		snprintf(cand, sizeof(cand), "%s/%senvvmm", self, up == 3 ? "bin/" : "");
		if (access(cand, X_OK) == 0) {
			snprintf(out, len, "%s", cand);
			return;
		}
	}
}

/* Sends one command to the control socket; 0 when envvmm answered "ok":true. */
static int api_run(const struct provider_ctx *c, const char *cmd, struct err *e)
{
	char line[1024] = "";
	int fd = local_connect(c, API_SOCK, e);

	if (fd < 0)
		return -1;
	if (dprintf(fd, "{\"command\":\"%s\"}\n", cmd) < 0) {
		close(fd);
		return err_set(e, ERR_FAIL, "machine '%s': control socket write failed",
			       c->m->name);
	}
	if (local_read_line(fd, line, sizeof(line), 5000) < 0)
		line[0] = 0;
	close(fd);
	/* a guest that never enabled its power button will not react: no use waiting */
	if (strstr(line, "\"ok\": true") || strstr(line, "\"ok\":true"))
		return strstr(line, "\"guest_listening\": false") ||
				       strstr(line, "\"guest_listening\":false")
			       ? err_set(e, ERR_FAIL,
					 "the guest does not listen to the power button")
			       : 0;
	return err_set(e, ERR_FAIL, "machine '%s': envvmm answered '%s' to %s", c->m->name, line,
		       cmd);
}

/* A synced folder shared live: envvmm's own virtio-9p server (vmm/p9.c), which resolves
 * every guest path beneath the folder. */
void vmm_add_share(struct local_args *a, const char *host_escaped, const char *tag, bool readonly)
{
	local_arg(a, "--share");
	local_arg(a, "%s,tag=%s%s", host_escaped, tag, readonly ? ",readonly" : "");
}

/* Direct boot with the box's kernel, initrd and command line when its metadata has them
 * (envup boxes); else --firmware: SeaBIOS boots the bootloader on the disk (libvirt and
 * VirtualBox boxes), as a Vagrant box expects. Then the machine's disk, whose backing file
 * envvmm follows only to the box's base.qcow2. */
static int add_boot(struct local_args *a, const struct provider_ctx *c, struct err *e)
{
	struct local_kernel k;
	char *box = NULL, *disk = NULL, *base = NULL, *disk_esc = NULL, *base_esc = NULL;
	int rc = -1;

	if (local_box_kernel(c, &k, e) < 0 || local_box_dir(c, &box, e) < 0)
		goto out;
	if (!box) {
		err_set(e, ERR_CORRUPT, "machine '%s': its state names no box (envdestroy %s)",
			c->m->name, c->m->name);
		goto out;
	}
	if (k.kernel) {
		local_arg(a, "--kernel");
		local_arg(a, "%s", k.kernel);
		if (k.initrd) {
			local_arg(a, "--initrd");
			local_arg(a, "%s", k.initrd);
		}
		if (k.cmdline) {
			local_arg(a, "--cmdline");
			local_arg(a, "%s", k.cmdline);
		}
	} else {
		/* the installed SeaBIOS; the next argument must be an option (--firmware FILE) */
		local_arg(a, "--firmware");
	}
	disk = local_file(c, "disk.qcow2");
	base = fs_join(box, "base.qcow2");
	disk_esc = disk ? share9p_commas_doubled(disk) : NULL;
	base_esc = base ? share9p_commas_doubled(base) : NULL;
	if (!disk_esc || !base_esc) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	local_arg(a, "--disk");
	local_arg(a, "%s,format=qcow2,backing=%s", disk_esc, base_esc);
	rc = 0;
out:
	local_kernel_free(&k);
	free(box);
	free(disk);
	free(base);
	free(disk_esc);
	free(base_esc);
	return rc;
}

/* user networking: SSH on 127.0.0.1 and every forwarded port on its host address. */
static int add_net(struct local_args *a, const struct local_ports *p, struct err *e)
{
	char *net = local_hostfwd("user", p);

	if (!net)
		return err_set(e, ERR_FAIL, "out of memory");
	local_arg(a, "--net");
	local_arg(a, "%s", net);
	free(net);
	return 0;
}

static int vmm_up(const struct provider_ctx *c, struct err *e)
{
	const struct machine *m = c->m;
	struct local_ports ports;
	struct local_args a = {0};
	char prog[PATH_MAX];
	pid_t pid;
	int rc = -1, lock;

	if (local_running(c, &pid))
		return provider_record_state(c, "vmm", MACHINE_RUNNING, e);
	if (local_kill(c, API_SOCK, e) < 0 || local_disk_ensure(c, e) < 0)
		return -1;
	/* held until envvmm --daemonize returns: by then its host forwards are bound */
	lock = local_ports_lock();
	if (local_ports_choose(c, &ports, e) < 0) {
		local_ports_unlock(lock);
		return -1;
	}
	envvmm_path(prog, sizeof(prog));
	local_arg(&a, "%s", prog);
	local_arg(&a, "--memory");
	local_arg(&a, "%llu", (unsigned long long)(m->memory_mib ? m->memory_mib : 1024));
	local_arg(&a, "--cpus");
	local_arg(&a, "%d", m->cpus > 0 ? m->cpus : 1);
	if (add_boot(&a, c, e) < 0 || add_net(&a, &ports, e) < 0)
		goto out;
	if (share9p_args(&provider_vmm, m, &a, vmm_add_share, e) < 0)
		goto out;
	local_arg(&a, "--console");
	local_arg(&a, "%s/console.log", c->machine_dir);
	local_arg(&a, "--api");
	local_arg(&a, "%s/" API_SOCK, c->machine_dir);
	local_arg(&a, "--pidfile");
	local_arg(&a, "%s/pid", c->machine_dir);
	local_arg(&a, "--log");
	local_arg(&a, "%s/vmm.log", c->machine_dir);
	local_arg(&a, "--daemonize");
	if (a.oom) {
		err_set(e, ERR_FAIL, "out of memory");
		goto out;
	}
	if (local_spawn(c, a.v, "vmm-start.log", e) < 0)
		goto out;
	rc = provider_record_state(c, "vmm", MACHINE_RUNNING, e);
out:
	local_ports_unlock(lock);
	local_args_free(&a);
	return rc;
}

static int vmm_power_off(const struct provider_ctx *c, struct err *e)
{
	return api_run(c, "shutdown", e); /* the ACPI power button */
}

/* envvmm's stop ends the machine in order (disks flushed); local_halt kills an envvmm that
 * does not answer */
static int vmm_stop(const struct provider_ctx *c, struct err *e)
{
	return api_run(c, "stop", e);
}

static int vmm_halt(const struct provider_ctx *c, bool force, struct err *e)
{
	return local_halt(c, force, "vmm", API_SOCK, vmm_power_off, vmm_stop, e);
}

static int vmm_destroy(const struct provider_ctx *c, struct err *e)
{
	return local_destroy(c, API_SOCK, e);
}

const struct provider_ops provider_vmm_ops = {
	.up = vmm_up,
	.halt = vmm_halt,
	.destroy = vmm_destroy,
	.console_tail = local_console_tail,
};
