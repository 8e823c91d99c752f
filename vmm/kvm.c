/* KVM plumbing: the VM, its vCPUs and their threads, and the machine's life cycle.
 * Capabilities are asked of KVM (KVM_CHECK_EXTENSION) and CPUID comes from
 * KVM_GET_SUPPORTED_CPUID, so the same code serves hardware KVM and KVMs without VT-x. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/layout.h"
#include "vmm/log.h"

#define KVM_TSS_ADDR 0xfffbd000ULL
#define KVM_IDMAP_ADDR 0xfffbc000ULL

struct kvm_need {
	int cap;
	const char *name;
};

static const struct kvm_need kvm_needs[] = {
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
	{KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

static int vm_check_caps(struct vm *vm, unsigned ncpus, struct err *e)
{
	int v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);

	if (v < 0)
		return err_sys(e, "/dev/kvm: not a KVM device (KVM_GET_API_VERSION)");
	if (v != KVM_API_VERSION)
		return err_set(e, ERR_UNSUPPORTED, "/dev/kvm: API version %d, need %d", v,
			       KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(kvm_needs) / sizeof(kvm_needs[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_needs[i].cap) <= 0)
			return err_set(e, ERR_UNSUPPORTED, "/dev/kvm: this KVM lacks %s",
				       kvm_needs[i].name);
	}
	v = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (v <= 0)
		v = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (v > 0 && ncpus > (unsigned)v)
		return err_set(e, ERR_USAGE, "--cpus %u: this KVM allows at most %d vCPUs", ncpus,
			       v);
	return 0;
}

static int vm_load_cpuid(struct vm *vm, struct err *e)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return err_set(e, ERR_FAIL, "cpuid: out of memory");
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return err_sys(e, "KVM_GET_SUPPORTED_CPUID");
	}
	return err_set(e, ERR_FAIL, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

/* Gives each vCPU its own APIC ID in the leaves that report one, says "hypervisor", and offers
 * the LAPIC's TSC-deadline mode, which KVM emulates but leaves out of KVM_GET_SUPPORTED_CPUID.
 * Without it Linux calibrates the LAPIC timer against the PIT; on a busy or nested host that
 * calibration fails ("APIC timer disabled due to verification failure"), the PIT becomes
 * every CPU's broadcast tick and the guest's timers stop once both vCPUs idle. */
static int vcpu_set_cpuid(struct vcpu *c, struct err *e)
{
	const struct kvm_cpuid2 *src = c->vm->cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *cp = malloc(sz);
	int r;

	if (!cp)
		return err_set(e, ERR_FAIL, "cpuid: out of memory");
	memcpy(cp, src, sz);
	for (unsigned i = 0; i < cp->nent; i++) {
		struct kvm_cpuid_entry2 *x = &cp->entries[i];
		switch (x->function) {
		case 1:
			x->ebx = (x->ebx & 0x0000ffffu) | (c->vm->ncpus << 16) | (c->id << 24);
			x->ecx |= 1u << 31;
			if (c->vm->has_tsc_deadline)
				x->ecx |= 1u << 24;
			if (c->vm->ncpus > 1)
				x->edx |= 1u << 28; /* HTT: the logical count in EBX is valid */
			break;
		case 0xb:
		case 0x1f: x->edx = c->id; break;
		}
	}
	r = ioctl(c->fd, KVM_SET_CPUID2, cp);
	free(cp);
	if (r < 0)
		return err_sys(e, "vCPU %u: KVM_SET_CPUID2", c->id);
	return 0;
}

/* LINT0 as ExtINT and LINT1 as NMI, as firmware leaves them, so that the PIC works. */
static int vcpu_set_lapic(struct vcpu *c, struct err *e)
{
	struct kvm_lapic_state la;
	uint32_t *lint0, *lint1;

	if (ioctl(c->fd, KVM_GET_LAPIC, &la) < 0)
		return err_sys(e, "vCPU %u: KVM_GET_LAPIC", c->id);
	lint0 = (uint32_t *)(void *)&la.regs[0x350];
	lint1 = (uint32_t *)(void *)&la.regs[0x360];
	*lint0 = (*lint0 & ~0x700u & ~0x10000u) | 0x700u;
	*lint1 = (*lint1 & ~0x700u & ~0x10000u) | 0x400u;
	if (ioctl(c->fd, KVM_SET_LAPIC, &la) < 0)
		return err_sys(e, "vCPU %u: KVM_SET_LAPIC", c->id);
	return 0;
}

static int vm_create_cpus(struct vm *vm, struct err *e)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		c->vm = vm;
		c->id = i;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0)
			return err_sys(e, "KVM_CREATE_VCPU %u", i);
		c->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd,
			      0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			return err_sys(e, "vCPU %u: mmap of kvm_run", i);
		}
		if (vcpu_set_cpuid(c, e) < 0 || vcpu_set_lapic(c, e) < 0)
			return -1;
	}
	return 0;
}

static int vm_map_ram(struct vm *vm, struct err *e)
{
	for (unsigned i = 0; i < vm->mem.n; i++) {
		struct kvm_userspace_memory_region reg = {
			.slot = i,
			.guest_phys_addr = vm->mem.r[i].gpa,
			.memory_size = vm->mem.r[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.r[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
			return err_sys(e, "KVM_SET_USER_MEMORY_REGION %u", i);
	}
	return 0;
}

int vm_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size, struct err *e)
{
	/* Slots 0 and 1 are RAM (below the hole, above 4 GiB). */
	struct kvm_userspace_memory_region reg = {
		.slot = 2,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	/* Read-only: guest writes then exit as MMIO, which no device claims, so they are dropped
	 * as a ROM drops them. Without it a guest write into the (read-only) host mapping would
	 * fail KVM_RUN, so such a KVM (older than Linux 3.7) gets no firmware boot. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return err_set(e, ERR_UNSUPPORTED,
			       "--firmware: this KVM cannot map read-only memory "
			       "(KVM_CAP_READONLY_MEM), which firmware boot needs");
	reg.flags = KVM_MEM_READONLY;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
		return err_sys(e, "KVM_SET_USER_MEMORY_REGION (firmware at %#llx)",
			       (unsigned long long)gpa);
	return 0;
}

void vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->exit_efd = -1;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm->cpus[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->state_lock, NULL);
	pthread_cond_init(&vm->state_cond, NULL);
}

int vm_create(struct vm *vm, uint64_t mem_bytes, unsigned ncpus, struct err *e)
{
	struct sigaction sa = {.sa_handler = vcpu_kick_handler};

	if (ncpus < 1 || ncpus > VM_MAX_CPUS)
		return err_set(e, ERR_USAGE, "--cpus %u: must be 1..%d", ncpus, VM_MAX_CPUS);
	vm->ncpus = ncpus;
	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0)
		return err_sys(e, "eventfd");
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return err_sys(e, "/dev/kvm");
	if (vm_check_caps(vm, ncpus, e) < 0)
		return -1;
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0)
		return err_sys(e, "KVM_GET_VCPU_MMAP_SIZE");
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_sys(e, "KVM_CREATE_VM");
	/* RAM first: KVM's first memslot update waits for a grace period, which is shortest
	 * before the irqchip and PIT add their own (measured: about 4 ms less to first output). */
	if (gm_init(&vm->mem, mem_bytes, e) < 0 || vm_map_ram(vm, e) < 0)
		return -1;
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return err_sys(e, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t a = KVM_IDMAP_ADDR;
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a) < 0)
			return err_sys(e, "KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_sys(e, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) > 0) {
		struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
		if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
			return err_sys(e, "KVM_CREATE_PIT2");
	} else {
		log_msg(LOG_WARN,
			"this KVM has no in-kernel PIT (KVM_CAP_PIT2); the guest gets none");
	}
	vm->has_msi = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0;
	if (!vm->has_msi)
		log_msg(LOG_WARN,
			"this KVM cannot inject MSIs (KVM_CAP_SIGNAL_MSI); virtio devices "
			"offer INTx only");
	vm->has_ioeventfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	vm->has_tsc_deadline =
		ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	if (vm_load_cpuid(vm, e) < 0 || vm_create_cpus(vm, e) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return err_sys(e, "sigaction");
	return 0;
}

/* Boot GDT (null, code32, code64, data) and an identity map of the low 4 GiB. */
static int vm_write_boot_tables(struct vm *vm, struct err *e)
{
	const uint64_t gdt[4] = {0, 0x00cf9b000000ffffULL, 0x00af9b000000ffffULL,
				 0x00cf93000000ffffULL};
	uint64_t *pml4 = gm_ptr(&vm->mem, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gm_ptr(&vm->mem, LAYOUT_PDPT, 4096);
	uint64_t *pd = gm_ptr(&vm->mem, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd || gm_write(&vm->mem, LAYOUT_GDT, gdt, sizeof(gdt)) < 0)
		return err_set(e, ERR_FAIL, "boot tables do not fit in guest RAM");
	pml4[0] = LAYOUT_PDPT | 3;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | 3;
	for (unsigned i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83; /* present, writable, 2 MiB */
	return 0;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code64 ? 0 : 1,
		.s = 1,
		.l = code64 ? 1 : 0,
		.g = 1,
	};
}

int vm_setup_boot_cpu(struct vm *vm, enum vm_boot_mode mode, uint64_t entry, uint64_t arg,
		      struct err *e)
{
	struct vcpu *c = &vm->cpus[0];
	struct kvm_sregs s;
	struct kvm_regs r = {.rflags = 2, .rip = entry};
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};

	if (vm_write_boot_tables(vm, e) < 0)
		return -1;
	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return err_sys(e, "KVM_GET_SREGS");
	s.gdt.base = LAYOUT_GDT;
	s.gdt.limit = 4 * 8 - 1;
	if (mode == VM_BOOT_64) {
		seg_flat(&s.cs, 0x10, 0xb, true);
		seg_flat(&s.ds, 0x18, 0x3, false);
		s.cr3 = LAYOUT_PML4;
		s.cr4 = 0x20;			       /* PAE */
		s.cr0 = 0x80000000u | 0x20 | 0x10 | 1; /* PG NE ET PE */
		s.efer = 0x500;			       /* LME LMA */
		r.rsi = arg;
	} else {
		seg_flat(&s.cs, 0x08, 0xb, false);
		seg_flat(&s.ds, 0x18, 0x3, false);
		s.cr0 = 0x10 | 1; /* ET PE */
		s.cr4 = 0;
		s.efer = 0;
		r.rbx = arg;
	}
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.tr.type = 0xb; /* busy 32-bit TSS, as the PVH ABI asks */
	s.tr.present = 1;
	s.tr.limit = 0x67;
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return err_sys(e, "KVM_SET_SREGS");
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0)
		return err_sys(e, "KVM_SET_REGS");
	if (ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
		return err_sys(e, "KVM_SET_FPU");
	return 0;
}

void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state != VM_STOPPING) {
		vm->state = VM_STOPPING;
		vm->exit_code = code;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
		va_end(ap);
		pthread_cond_broadcast(&vm->state_cond);
	}
	pthread_mutex_unlock(&vm->state_lock);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		if (c->run)
			__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (c->thread_started && !pthread_equal(c->thread, pthread_self()))
			pthread_kill(c->thread, SIGUSR1);
	}
	if (vm->exit_efd >= 0 && write(vm->exit_efd, &one, sizeof(one)) < 0)
		log_msg(LOG_WARN, "exit eventfd: %s", strerror(errno));
}

enum vm_state vm_get_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->state_lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->state_lock);
	return s;
}

void vm_pause(struct vm *vm)
{
	unsigned started = 0;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state != VM_RUNNING) {
		pthread_mutex_unlock(&vm->state_lock);
		return;
	}
	vm->state = VM_PAUSED;
	pthread_mutex_unlock(&vm->state_lock);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		if (!c->thread_started)
			continue;
		started++;
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(c->thread, SIGUSR1);
	}
	pthread_mutex_lock(&vm->state_lock);
	while (vm->state == VM_PAUSED && vm->parked < started)
		pthread_cond_wait(&vm->state_cond, &vm->state_lock);
	pthread_mutex_unlock(&vm->state_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_PAUSED)
		vm->state = VM_RUNNING;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
}

/* False when the vCPU must leave its loop. Parks it while the VM is paused. */
static bool vcpu_may_run(struct vcpu *c)
{
	struct vm *vm = c->vm;
	bool ok;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_PAUSED) {
		vm->parked++;
		pthread_cond_broadcast(&vm->state_cond);
		while (vm->state == VM_PAUSED)
			pthread_cond_wait(&vm->state_cond, &vm->state_lock);
		vm->parked--;
	}
	ok = vm->state == VM_RUNNING;
	pthread_mutex_unlock(&vm->state_lock);
	return ok;
}

static void vcpu_io(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;

	pthread_mutex_lock(&c->vm->lock);
	for (uint32_t i = 0; i < run->io.count; i++) {
		bus_dispatch(&c->vm->pio, run->io.port, data, run->io.size, write);
		data += run->io.size;
	}
	pthread_mutex_unlock(&c->vm->lock);
}

static void vcpu_mmio(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;

	pthread_mutex_lock(&c->vm->lock);
	if (!bus_dispatch(&c->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			  run->mmio.is_write))
		log_msg(LOG_DEBUG, "vCPU %u: unclaimed MMIO %s at %#llx", c->id,
			run->mmio.is_write ? "write" : "read",
			(unsigned long long)run->mmio.phys_addr);
	pthread_mutex_unlock(&c->vm->lock);
}

static void vcpu_fatal(struct vcpu *c, const char *what)
{
	struct kvm_regs r;
	unsigned long long rip = 0;

	if (ioctl(c->fd, KVM_GET_REGS, &r) == 0)
		rip = r.rip;
	vm_request_exit(c->vm, 1, "%s on vCPU %u (rip=%#llx)", what, c->id, rip);
}

/* Handles one exit; false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	char what[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO: vcpu_io(c); return true;
	case KVM_EXIT_MMIO: vcpu_mmio(c); return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT: return true;
	case KVM_EXIT_SHUTDOWN: vcpu_fatal(c, "guest triple fault"); return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH) {
			vcpu_fatal(c, "guest crash event");
		} else {
			vm_request_exit(c->vm, 0, "guest %s",
					run->system_event.type == KVM_SYSTEM_EVENT_RESET
						? "reset"
						: "power off");
		}
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error (suberror %u%s)",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? ": instruction emulation failed"
				 : "");
		vcpu_fatal(c, what);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "KVM entry failed (reason %#llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fatal(c, what);
		return false;
	default:
		snprintf(what, sizeof(what), "unhandled KVM exit %u", run->exit_reason);
		vcpu_fatal(c, what);
		return false;
	}
}

/* A machine that ended with a failure (a signal such as a test's timeout, a fault): where each
 * vCPU was, which tells a hung guest's loop. */
static void vcpu_log_stop(struct vcpu *c)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	int code;

	pthread_mutex_lock(&c->vm->state_lock);
	code = c->vm->exit_code;
	pthread_mutex_unlock(&c->vm->state_lock);
	if (!code || ioctl(c->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return;
	log_msg(LOG_INFO, "vCPU %u stopped at %04x:%llx (linear %#llx, cr0 %#llx)", c->id,
		s.cs.selector, (unsigned long long)r.rip, (unsigned long long)(s.cs.base + r.rip),
		(unsigned long long)s.cr0);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", c->id);
	pthread_setname_np(pthread_self(), name);
	while (vcpu_may_run(c)) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			vm_request_exit(c->vm, 1, "vCPU %u: KVM_RUN: %s", c->id, strerror(errno));
			break;
		}
		if (!vcpu_handle_exit(c))
			break;
	}
	vcpu_log_stop(c);
	return NULL;
}

int vm_start(struct vm *vm, struct err *e)
{
	sigset_t set, old;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &vm->started);
	/* vCPU threads take SIGUSR1 (the kick); every other thread keeps it blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, &old);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		int err = pthread_create(&c->thread, NULL, vcpu_thread, c);
		if (err) {
			errno = err;
			r = err_sys(e, "vCPU %u thread", i);
			break;
		}
		c->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return r;
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < VM_MAX_CPUS; i++) {
		struct vcpu *c = &vm->cpus[i];
		if (c->thread_started)
			pthread_join(c->thread, NULL);
		if (c->run)
			munmap(c->run, (size_t)vm->run_size);
		if (c->fd >= 0)
			close(c->fd);
	}
	free(vm->cpuid);
	gm_free(&vm->mem);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->state_lock);
	pthread_cond_destroy(&vm->state_cond);
}

void vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = level};

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_msg(LOG_WARN, "KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (vm->vm_fd < 0 || !vm->has_ioeventfd) {
		errno = ENOTSUP;
		return -1;
	}
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -1 : 0;
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}
