/* envvmm: the bundled virtual machine monitor (see DESIGN.md and docs/vmm.md).
 * This file is the top level: arguments, wiring devices to the VM, the device thread's loop,
 * and the exit status (0: guest reset or power-off, 1: failure, 2: usage). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/strutil.h"
#include "vmm/acpi.h"
#include "vmm/api.h"
#include "vmm/cmos.h"
#include "vmm/boot.h"
#include "vmm/daemon.h"
#include "vmm/eventloop.h"
#include "vmm/firmware.h"
#include "vmm/fw_cfg.h"
#include "vmm/i8042.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/mptable.h"
#include "vmm/pci.h"
#include "vmm/piix.h"
#include "vmm/sandbox.h"
#include "vmm/serial.h"
#include "vmm/virtio_9p.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/virtio_rng.h"
#include "vmm/vm.h"

#define MAX_KERNEL (256u << 20)
#define MAX_INITRD (1024u << 20)
#define MAX_DISKS 8
#define MAX_SHARES 8

struct disk_opt {
	const char *path;
	enum image_format fmt;
	bool readonly;
	const char *serial;
	const char *backing; /* trusted qcow2 backing file (absolute path), or NULL */
	char *buf;	     /* the option's copy that path and serial point into */
};

struct share_opt {
	const char *path, *tag;
	bool readonly;
	char *buf; /* the option's copy that path and tag point into */
};

struct options {
	uint64_t memory_mib;
	unsigned cpus;
	const char *kernel, *initrd, *cmdline;
	bool use_firmware;
	const char *firmware; /* NULL with use_firmware: the installed SeaBIOS */
	const char *console, *api, *pidfile, *log;
	bool daemonize;
	bool no_sandbox;
	struct disk_opt disk[MAX_DISKS];
	unsigned ndisks;
	struct share_opt share[MAX_SHARES];
	unsigned nshares;
	bool net;
	struct net_opts netopt;
};

struct machine {
	struct options opt;
	struct vm vm;
	struct eventloop el;
	struct serial com1;
	struct i8042 kbd;
	struct acpi_pm pm;
	struct pci pci;
	struct piix piix;	/* firmware boot: the 440FX/PIIX3 chipset */
	struct cmos cmos;	/* firmware boot */
	struct fw_cfg fwcfg;	/* firmware boot */
	struct firmware fw;	/* firmware boot */
	struct virtio_rng rng;
	struct virtio_blk disk[MAX_DISKS];
	struct virtio_net *net;
	struct virtio_9p *share[MAX_SHARES];
	struct api api;
	bool api_open;
	int console_fd;
	int signal_fd;
	int ready_fd; /* --daemonize: the pipe to the waiting parent */
	bool pid_written;
	bool console_in;
	bool tty_raw; /* stdin was a terminal put in raw mode: restore tty_saved at exit */
	struct termios tty_saved;
};

static const char usage_text[] =
	"usage: envvmm --memory MiB [--cpus N]\n"
	"              (--kernel FILE [--initrd FILE] [--cmdline STRING] |\n"
	"               --firmware [FILE])\n"
	"              [--disk PATH,format=raw|qcow2[,readonly][,serial=ID]\n"
	"                      [,backing=/ABS/PATH]] ...   (a comma in a path: ,,)\n"
	"              [--net user[,hostfwd=tcp|udp:[ADDR]:HOSTPORT-:GUESTPORT]...]\n"
	"                      (ADDR: IPv4, [IPv6], or empty for 127.0.0.1)\n"
	"              [--console stdio|FILE] [--api SOCKET] [--pidfile FILE]\n"
	"              [--share DIR,tag=TAG[,readonly]] ...\n"
	"              [--daemonize] [--log FILE] [--no-sandbox]\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "envvmm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	return 2;
}

enum {
	OPT_MEMORY = 256,
	OPT_CPUS,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_FIRMWARE,
	OPT_CONSOLE,
	OPT_API,
	OPT_PIDFILE,
	OPT_DAEMONIZE,
	OPT_LOG,
	OPT_HELP,
	OPT_VERSION,
	OPT_DISK,
	OPT_NET,
	OPT_NO_SANDBOX,
	OPT_SHARE
};

static const struct option long_opts[] = {
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"firmware", optional_argument, NULL, OPT_FIRMWARE},
	{"console", required_argument, NULL, OPT_CONSOLE},
	{"log", required_argument, NULL, OPT_LOG},
	{"disk", required_argument, NULL, OPT_DISK},
	{"api", required_argument, NULL, OPT_API},
	{"pidfile", required_argument, NULL, OPT_PIDFILE},
	{"daemonize", no_argument, NULL, OPT_DAEMONIZE},
	{"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
	{"net", required_argument, NULL, OPT_NET},
	{"share", required_argument, NULL, OPT_SHARE},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* The next comma-separated field of *p (in place, NUL-terminated; NULL at the end). ",,"
 * stands for a comma inside a field, as in QEMU's options, so that any path can be given. */
static char *next_field(char **p)
{
	char *start = *p, *r, *w;

	if (!start)
		return NULL;
	for (r = w = start; *r; r++, w++) {
		if (*r == ',' && r[1] == ',')
			r++;
		else if (*r == ',')
			break;
		*w = *r;
	}
	*p = *r ? r + 1 : NULL;
	*w = 0;
	return start;
}

/* PATH,format=raw|qcow2[,readonly][,serial=ID][,backing=/ABS/PATH] (",," for a comma in PATH or
 * backing=); returns -1 when fine, else the exit status. */
static int parse_disk(struct options *o, const char *arg)
{
	struct disk_opt *d;
	char *rest, *tok;

	if (o->ndisks == MAX_DISKS)
		return usage_error("--disk: at most %d disks", MAX_DISKS);
	d = &o->disk[o->ndisks];
	d->buf = strdup(arg);
	if (!d->buf)
		return usage_error("out of memory");
	o->ndisks++;
	rest = d->buf;
	d->path = next_field(&rest);
	if (!d->path || !*d->path)
		return usage_error("--disk %s: no path", arg);
	while ((tok = next_field(&rest))) {
		if (!*tok)
			continue;
		if (str_starts_with(tok, "format=")) {
			d->fmt = image_format_from_name(tok + 7);
			if (d->fmt != IMAGE_RAW && d->fmt != IMAGE_QCOW2)
				return usage_error("--disk %s: format must be raw or qcow2", arg);
		} else if (!strcmp(tok, "readonly")) {
			d->readonly = true;
		} else if (str_starts_with(tok, "serial=")) {
			d->serial = tok + 7;
			if (strlen(d->serial) > VIRTIO_BLK_ID_BYTES)
				return usage_error("--disk %s: serial is longer than 20 bytes",
						   arg);
		} else if (str_starts_with(tok, "backing=")) {
			d->backing = tok + 8;
			if (d->backing[0] != '/')
				return usage_error("--disk %s: backing= must be an absolute path",
						   arg);
		} else {
			return usage_error("--disk %s: unknown setting '%s' (format=, readonly, "
					   "serial=, backing=)",
					   arg, tok);
		}
	}
	if (d->fmt == IMAGE_UNKNOWN)
		return usage_error("--disk %s: format=raw or format=qcow2 is required", arg);
	if (d->backing && d->fmt != IMAGE_QCOW2)
		return usage_error("--disk %s: backing= needs format=qcow2", arg);
	return -1;
}

/* DIR,tag=TAG[,readonly] (",," for a comma in DIR); returns -1 when fine, else the exit
 * status. */
static int parse_share(struct options *o, const char *arg)
{
	struct share_opt *sh;
	char *rest, *tok;
	struct stat st;

	if (o->nshares == MAX_SHARES)
		return usage_error("--share: at most %d shared folders", MAX_SHARES);
	sh = &o->share[o->nshares];
	sh->buf = strdup(arg);
	if (!sh->buf)
		return usage_error("out of memory");
	o->nshares++;
	rest = sh->buf;
	sh->path = next_field(&rest);
	if (!sh->path || !*sh->path)
		return usage_error("--share %s: no directory", arg);
	while ((tok = next_field(&rest))) {
		if (!*tok)
			continue;
		if (str_starts_with(tok, "tag=")) {
			sh->tag = tok + 4;
			if (!virtio_9p_tag_ok(sh->tag))
				return usage_error(
					"--share %s: tag must be 1..%d of A-Z a-z 0-9 _ . -", arg,
					VIRTIO_9P_TAG_MAX);
		} else if (!strcmp(tok, "readonly")) {
			sh->readonly = true;
		} else {
			return usage_error("--share %s: unknown setting '%s' (tag=, readonly)", arg,
					   tok);
		}
	}
	if (!sh->tag)
		return usage_error("--share %s: tag=TAG is required (the guest mounts by it)", arg);
	for (unsigned i = 0; i + 1 < o->nshares; i++)
		if (!strcmp(o->share[i].tag, sh->tag))
			return usage_error("--share %s: tag '%s' is used twice", arg, sh->tag);
	if (stat(sh->path, &st) < 0 || !S_ISDIR(st.st_mode))
		return usage_error("--share %s: %s is not a directory", arg, sh->path);
	return -1;
}

static void free_options(struct options *o)
{
	for (unsigned i = 0; i < o->ndisks; i++)
		free(o->disk[i].buf);
	for (unsigned i = 0; i < o->nshares; i++)
		free(o->share[i].buf);
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	long long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->cpus = 1;
	o->cmdline = "";
	o->console = "stdio";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_MEMORY:
			if (!str_to_int(optarg, 2, 1 << 20, &v))
				return usage_error(
					"--memory %s: need a whole number of MiB, 2..1048576",
					optarg);
			o->memory_mib = (uint64_t)v;
			break;
		case OPT_CPUS:
			if (!str_to_int(optarg, 1, VM_MAX_CPUS, &v))
				return usage_error("--cpus %s: need a number from 1 to 64", optarg);
			o->cpus = (unsigned)v;
			break;
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_INITRD: o->initrd = optarg; break;
		case OPT_CMDLINE: o->cmdline = optarg; break;
		case OPT_FIRMWARE:
			/* FILE is optional: "--firmware=FILE", "--firmware FILE", or nothing for
			 * the installed SeaBIOS. */
			o->use_firmware = true;
			o->firmware = optarg;
			if (!optarg && optind < argc && argv[optind][0] != '-')
				o->firmware = argv[optind++];
			break;
		case OPT_CONSOLE: o->console = optarg; break;
		case OPT_LOG: o->log = optarg; break;
		case OPT_API: o->api = optarg; break;
		case OPT_PIDFILE: o->pidfile = optarg; break;
		case OPT_DAEMONIZE: o->daemonize = true; break;
		case OPT_NO_SANDBOX: o->no_sandbox = true; break;
		case OPT_NET: {
			struct err e = {0};
			if (o->net)
				return usage_error("--net: only one network device is supported");
			if (net_parse(optarg, &o->netopt, &e) < 0)
				return usage_error("%s", e.msg);
			o->net = true;
			break;
		}
		case OPT_DISK:
			c = parse_disk(o, optarg);
			if (c >= 0)
				return c;
			break;
		case OPT_SHARE:
			c = parse_share(o, optarg);
			if (c >= 0)
				return c;
			break;
		case OPT_HELP: fputs(usage_text, stdout); return 0;
		case OPT_VERSION: printf("envvmm %s\n", ENVUP_VERSION); return 0;
		case '?':
		default: return usage_error("unknown or incomplete option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument %s", argv[optind]);
	if (!o->memory_mib)
		return usage_error("--memory is required");
	if (o->use_firmware && o->kernel)
		return usage_error("--firmware and --kernel exclude each other (the firmware boots "
				   "the first disk)");
	if (!o->kernel && !o->use_firmware)
		return usage_error("--kernel (direct boot) or --firmware (boot the first disk) is "
				   "required");
	if (o->initrd && !o->kernel)
		return usage_error("--initrd needs --kernel");
	if (*o->cmdline && !o->kernel)
		return usage_error("--cmdline needs --kernel");
	if (o->daemonize && !strcmp(o->console, "stdio"))
		return usage_error("--daemonize needs --console FILE (stdio goes away)");
	return -1;
}

static void on_exit_event(void *opaque, short revents)
{
	(void)opaque; /* the main loop checks the VM state after every round */
	(void)revents;
}

static void on_console_input(void *opaque, short revents)
{
	struct machine *m = opaque;
	uint8_t buf[SERIAL_FIFO];
	size_t room;
	ssize_t n;

	pthread_mutex_lock(&m->vm.lock);
	room = serial_room(&m->com1);
	pthread_mutex_unlock(&m->vm.lock);
	if (room == 0)
		return; /* the guest has not drained the FIFO: keep the bytes in the pipe */
	n = read(STDIN_FILENO, buf, room);
	if (n <= 0) {
		el_remove(&m->el, STDIN_FILENO); /* end of input: the guest keeps running */
		return;
	}
	pthread_mutex_lock(&m->vm.lock);
	serial_input(&m->com1, buf, (size_t)n);
	pthread_mutex_unlock(&m->vm.lock);
}

static int open_console(struct machine *m, struct err *e)
{
	if (strcmp(m->opt.console, "stdio") == 0) {
		struct termios t;
		m->console_fd = STDOUT_FILENO;
		m->console_in = !m->opt.daemonize;
		/* A terminal goes to the guest key by key (its shell echoes); Ctrl-C still ends
		 * envvmm through SIGINT. */
		if (m->console_in && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t) == 0) {
			m->tty_saved = t;
			cfmakeraw(&t);
			t.c_lflag |= ISIG;
			t.c_oflag |= OPOST | ONLCR;
			if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
				m->tty_raw = true;
		}
		return 0;
	}
	m->console_fd = open(m->opt.console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (m->console_fd < 0)
		return err_sys(e, "--console %s", m->opt.console);
	return 0;
}

static int boot_kernel(struct machine *m, struct err *e)
{
	struct boot_input in = {.cmdline = m->opt.cmdline, .rsdp = acpi_rsdp_addr()};
	char *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	int r = -1;

	if (fs_read_file(m->opt.kernel, MAX_KERNEL, &kernel, &klen, e) < 0) {
		err_wrap(e, "--kernel");
		goto out;
	}
	if (m->opt.initrd && fs_read_file(m->opt.initrd, MAX_INITRD, &initrd, &ilen, e) < 0) {
		err_wrap(e, "--initrd");
		goto out;
	}
	in.kernel = (const uint8_t *)kernel;
	in.kernel_len = klen;
	if (initrd) {
		in.initrd = (const uint8_t *)initrd;
		in.initrd_len = ilen;
	}
	r = boot_is_elf(in.kernel, klen) ? boot_elf(&m->vm, &in, e) : boot_bzimage(&m->vm, &in, e);
out:
	free(kernel);
	free(initrd);
	return r;
}

/* The firmware's machine: CMOS, fw_cfg with the RAM map, CPUs, boot disk and envvmm's ACPI
 * tables (the same as direct boot's, for this chipset's BAR window and IRQ routing). */
static int boot_firmware(struct machine *m, struct err *e)
{
	struct vm *vm = &m->vm;
	const struct guest_mem *mem = &vm->mem;
	struct acpi_config ac = {
		.ncpus = vm->ncpus,
		.pci_mmio_lo = m->pci.mmio_base,
		.pci_mmio_hi = (uint32_t)(LAYOUT_PCI_MMIO_END - 1),
		.slot_irq = m->pci.slot_irq,
		.rtc = true,
	};

	if (cmos_init(&m->cmos, vm, gm_low_end(mem), mem->n == 2 ? mem->r[1].size : 0, vm->ncpus,
		      e) < 0 ||
	    fw_cfg_init(&m->fwcfg, vm, e) < 0 || firmware_load(&m->fw, vm, e) < 0)
		return -1;
	return firmware_config(&m->fwcfg, vm, &ac,
			       m->opt.ndisks ? (int)m->disk[0].vdev.pci.slot : -1, e);
}

static int machine_add_pci(struct machine *m, struct err *e)
{
	struct vm *vm = &m->vm;

	if (!m->opt.use_firmware) {
		if (pci_init(&m->pci, vm, e) < 0)
			return -1;
	} else {
		/* As on QEMU's PC (and what SeaBIOS assumes): BARs go from 2 GiB, or from 3 GiB
		 * when RAM below the hole reaches past 2 GiB. */
		uint32_t base = gm_low_end(&vm->mem) <= 0x80000000u ? 0x80000000u : 0xc0000000u;
		if (pci_init_at(&m->pci, vm, base, e) < 0 || piix_init(&m->piix, &m->pci, e) < 0)
			return -1;
	}
	virtio_rng_init(&m->rng, vm, vm->has_msi);
	if (pci_add(&m->pci, &m->rng.vdev.pci, e) < 0)
		return -1;
	virtio_use_ioeventfd(&m->rng.vdev, &m->el);
	for (unsigned i = 0; i < m->opt.ndisks; i++) {
		const struct disk_opt *d = &m->opt.disk[i];
		char serial[VIRTIO_BLK_ID_BYTES + 1];
		snprintf(serial, sizeof(serial), "%s", d->serial ? d->serial : "");
		if (!d->serial)
			snprintf(serial, sizeof(serial), "envvmm-disk%u", i);
		if (virtio_blk_init(&m->disk[i], vm, d->path, d->fmt, d->readonly, d->backing,
				    serial, vm->has_msi, e) < 0)
			return -1;
		if (pci_add(&m->pci, &m->disk[i].vdev.pci, e) < 0)
			return -1;
		virtio_use_ioeventfd(&m->disk[i].vdev, &m->el);
	}
	if (m->opt.net) {
		/* Large (a 64 KiB frame buffer): on the heap, not in struct machine. */
		m->net = malloc(sizeof(*m->net));
		if (!m->net)
			return err_set(e, ERR_FAIL, "out of memory");
		if (virtio_net_init(m->net, vm, &m->el, &m->opt.netopt, vm->has_msi, e) < 0)
			return -1;
		if (pci_add(&m->pci, &m->net->vdev.pci, e) < 0)
			return -1;
		virtio_use_ioeventfd(&m->net->vdev, &m->el);
	}
	for (unsigned i = 0; i < m->opt.nshares; i++) {
		const struct share_opt *sh = &m->opt.share[i];
		m->share[i] = calloc(1, sizeof(*m->share[i]));
		if (!m->share[i])
			return err_set(e, ERR_FAIL, "out of memory");
		if (virtio_9p_init(m->share[i], vm, sh->path, sh->tag, sh->readonly, vm->has_msi,
				   e) < 0)
			return -1;
		if (pci_add(&m->pci, &m->share[i]->vdev.pci, e) < 0)
			return -1;
		virtio_use_ioeventfd(&m->share[i]->vdev, &m->el);
		log_msg(LOG_INFO, "share: %s as 9p tag %s%s", sh->path, sh->tag,
			sh->readonly ? " (read-only)" : "");
	}
	return 0;
}

/* SIGTERM, SIGINT, SIGHUP: end the VM the orderly way, so that disks are flushed. */
static void on_signal(void *opaque, short revents)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;

	if (read(m->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		vm_request_exit(&m->vm, 1, "terminated by signal %u (%s)", si.ssi_signo,
				strsignal((int)si.ssi_signo));
}

static int machine_build(struct machine *m, struct err *e)
{
	struct vm *vm = &m->vm;
	sigset_t set;

	/* Blocked before any thread starts, so that only the signalfd sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	m->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0 || el_add(&m->el, m->signal_fd, POLLIN, on_signal, m, e) < 0)
		return err_sys(e, "signalfd");

	if (vm_create(vm, m->opt.memory_mib << 20, m->opt.cpus, e) < 0)
		return -1;
	if (serial_init(&m->com1, vm, m->console_fd, e) < 0 || i8042_init(&m->kbd, vm, e) < 0 ||
	    acpi_pm_init(&m->pm, vm, e) < 0)
		return -1;
	if (m->opt.use_firmware) {
		if (machine_add_pci(m, e) < 0 || boot_firmware(m, e) < 0)
			return -1;
	} else {
		if (acpi_build(vm, e) < 0 || machine_add_pci(m, e) < 0 ||
		    mptable_build(vm, &m->pci, e) < 0 || boot_kernel(m, e) < 0)
			return -1;
	}
	if (el_add(&m->el, vm->exit_efd, POLLIN, on_exit_event, m, e) < 0)
		return -1;
	if (m->console_in && el_add(&m->el, STDIN_FILENO, POLLIN, on_console_input, m, e) < 0)
		return -1;
	if (m->opt.api) {
		if (api_init(&m->api, m->opt.api, vm, &m->pm, &m->el, m->opt.memory_mib, e) < 0) {
			api_close(&m->api);
			return -1;
		}
		m->api_open = true;
	}
	return 0;
}

static int machine_run(struct machine *m, struct err *e)
{
	struct rusage ru;
	double setup_ms = -1;
	char pid[32];

	if (m->opt.pidfile) {
		snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (fs_write_atomic(m->opt.pidfile, pid, strlen(pid), 0644, e) < 0)
			return err_wrap(e, "--pidfile");
		m->pid_written = true;
	}
	/* CPU time of the whole setup, measured before any vCPU runs (and before the sandbox,
	 * which does not allow getrusage). */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		setup_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	if (vm_start(&m->vm, e) < 0)
		return -1;
	if (!m->opt.no_sandbox && sandbox_enter(m->opt.nshares > 0, e) < 0) {
		vm_request_exit(&m->vm, 1, "%s", e->msg);
		return -1;
	}
	if (m->ready_fd >= 0) {
		/* The parent of --daemonize exits 0 once it reads this. */
		if (write(m->ready_fd, "OK", 2) < 0)
			log_msg(LOG_WARN, "daemonize: parent went away");
		close(m->ready_fd);
		m->ready_fd = -1;
	}
	log_msg(LOG_INFO, "started: %u vCPU(s), %llu MiB; setup used %.2f CPU-ms", m->opt.cpus,
		(unsigned long long)m->opt.memory_mib, setup_ms);
	while (vm_get_state(&m->vm) != VM_STOPPING)
		el_run_once(&m->el, -1);
	return 0;
}

/* VmHWM of this process (since exec), for the exit log and the benchmark; -1 if unknown. */
static long peak_rss_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	struct machine *m;
	struct err e = {0};
	int status, logfd = -1;

	m = calloc(1, sizeof(*m));
	if (!m) {
		fprintf(stderr, "envvmm: out of memory\n");
		return 1;
	}
	status = parse_args(argc, argv, &m->opt);
	if (status >= 0) {
		free_options(&m->opt);
		free(m);
		return status;
	}
	if (m->opt.use_firmware && firmware_open(&m->fw, m->opt.firmware, &e) < 0) {
		fprintf(stderr, "envvmm: %s\n", e.msg);
		free_options(&m->opt);
		free(m);
		return e.code == ERR_USAGE ? 2 : 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (m->opt.log) {
		logfd = open(m->opt.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (logfd < 0) {
			fprintf(stderr, "envvmm: --log %s: %s\n", m->opt.log, strerror(errno));
			free_options(&m->opt);
			free(m);
			return 1;
		}
		log_setup(logfd, LOG_INFO);
	}
	m->console_fd = -1;
	m->signal_fd = -1;
	m->ready_fd = -1;
	vm_init(&m->vm);
	if (m->opt.daemonize && daemon_start(&m->ready_fd) < 0) {
		fprintf(stderr, "envvmm: --daemonize: %s\n", strerror(errno));
		free_options(&m->opt);
		free(m);
		return 1;
	}
	status = 1;
	if (open_console(m, &e) == 0 && machine_build(m, &e) == 0 && machine_run(m, &e) == 0) {
		status = m->vm.exit_code;
		log_msg(LOG_INFO, "guest RAM resident at exit: %llu KiB, process peak RSS: %ld KiB",
			(unsigned long long)(gm_resident(&m->vm.mem) >> 10), peak_rss_kib());
		if (status)
			log_msg(LOG_ERROR, "%s", m->vm.exit_reason);
		else
			log_msg(LOG_INFO, "%s", m->vm.exit_reason);
	} else {
		vm_request_exit(&m->vm, 1, "%s", e.msg);
		log_msg(LOG_ERROR, "%s", e.msg);
		if (e.code == ERR_USAGE)
			status = 2;
		daemon_report_failure(m->ready_fd, status, e.msg);
	}
	if (m->ready_fd >= 0)
		close(m->ready_fd);
	if (m->api_open)
		api_close(&m->api);
	if (m->pid_written)
		unlink(m->opt.pidfile);
	if (logfd >= 0 && status)
		fprintf(stderr, "envvmm: %s\n", m->vm.exit_code ? m->vm.exit_reason : e.msg);
	vm_destroy(&m->vm);
	fw_cfg_free(&m->fwcfg);
	firmware_free(&m->fw);
	virtio_close(&m->rng.vdev);
	for (unsigned i = 0; i < m->opt.ndisks; i++) {
		virtio_blk_close(&m->disk[i]);
		virtio_close(&m->disk[i].vdev);
	}
	for (unsigned i = 0; i < m->opt.nshares; i++) {
		if (!m->share[i])
			continue;
		virtio_9p_close(m->share[i]);
		virtio_close(&m->share[i]->vdev);
		free(m->share[i]);
	}
	if (m->net) {
		virtio_net_close(m->net);
		virtio_close(&m->net->vdev);
		free(m->net);
	}
	el_free(&m->el);
	free_options(&m->opt);
	if (m->console_fd > STDERR_FILENO)
		close(m->console_fd);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	if (m->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &m->tty_saved);
	if (logfd >= 0)
		close(logfd);
	free(m);
	return status;
}
