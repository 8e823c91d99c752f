/* The virtual machine: KVM VM and vCPU threads, guest RAM, trap buses and the life cycle. */
#ifndef ENVUP_VMM_VM_H
#define ENVUP_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"
#include "vmm/bus.h"
#include "vmm/memory.h"

#define VM_MAX_CPUS 64

enum vm_state { VM_RUNNING, VM_PAUSED, VM_STOPPING };

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
};

/* How the boot CPU starts: 64-bit (Linux boot protocol) or 32-bit flat (PVH). */
enum vm_boot_mode { VM_BOOT_64, VM_BOOT_32 };

struct vm {
	int kvm_fd, vm_fd;
	long run_size;
	struct guest_mem mem;
	unsigned ncpus;
	struct vcpu cpus[VM_MAX_CPUS];
	void *cpuid;	    /* struct kvm_cpuid2 */
	bool has_msi;	    /* KVM_CAP_SIGNAL_MSI: devices may offer MSI-X */
	bool has_ioeventfd; /* KVM_CAP_IOEVENTFD: queue kicks may skip the vCPU exit */
	bool has_tsc_deadline; /* KVM_CAP_TSC_DEADLINE_TIMER: CPUID may offer it */

	pthread_mutex_t lock; /* held around every device access */
	struct bus pio, mmio;

	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;
	enum vm_state state;
	unsigned parked; /* vCPUs waiting while paused */
	int exit_code;
	char exit_reason[256];
	int exit_efd; /* eventfd the main loop waits on */
	struct timespec started;
};

/* Makes a zeroed vm safe to destroy before or after a failed vm_create. */
void vm_init(struct vm *vm);

/* Opens /dev/kvm, checks the capabilities envvmm needs, creates the VM with its irqchip, PIT,
 * RAM of mem_bytes and ncpus vCPUs (not yet running). */
int vm_create(struct vm *vm, uint64_t mem_bytes, unsigned ncpus, struct err *e);

/* Sets the boot vCPU's registers: long mode with identity paging (VM_BOOT_64, rsi = arg) or
 * 32-bit flat protected mode (VM_BOOT_32, ebx = arg), starting at entry. */
int vm_setup_boot_cpu(struct vm *vm, enum vm_boot_mode mode, uint64_t entry, uint64_t arg,
		      struct err *e);

/* Maps size bytes at host (page-aligned, kept by the caller) at guest address gpa as ROM
 * (read-only where KVM supports it). The vCPUs keep KVM's reset state: real mode at the reset
 * vector, which is what firmware expects. */
int vm_map_rom(struct vm *vm, uint64_t gpa, void *host, uint64_t size, struct err *e);

/* Starts one thread per vCPU; APs wait in KVM for INIT/SIPI from the guest. */
int vm_start(struct vm *vm, struct err *e);

/* Asks every thread to end; the first call's code and reason win. Thread-safe. */
void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Stops every vCPU at its next exit and waits until all are parked. */
void vm_pause(struct vm *vm);

/* Lets parked vCPUs run again. */
void vm_resume(struct vm *vm);

/* The current state (running, paused, stopping). */
enum vm_state vm_get_state(struct vm *vm);

/* Joins the vCPU threads (after vm_request_exit) and releases everything. */
void vm_destroy(struct vm *vm);

/* Drives a legacy interrupt line (IOAPIC/PIC input gsi) to level. */
void vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* Makes KVM signal fd on a len-byte write to MMIO address addr (assign) or stops it; -1 with
 * errno set when KVM refuses (ENOTSUP: this KVM has no ioeventfds). */
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, int fd, bool assign);

/* Delivers one MSI (address/data as programmed by the guest). */
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);

#endif
