/* vmm_exit.h: the exit ABI between libvmm and its frontend.
 *
 * vm_run() returns to the frontend only with one of these codes; everything
 * else (APIC, HLT, INIT/STARTUP, interrupt windows, kicks) the core handles
 * itself. This is an ABI: codes are append-only, retired slots keep their
 * number, and struct sizes are pinned by _Static_assert. docs/exits.md is the
 * human-readable table.
 */
#ifndef VMM_EXIT_H
#define VMM_EXIT_H

#include <stdint.h>

#include "vmm/cpuset.h"
#include "vmm/x86.h"

enum vm_exitcode {
	VM_EXITCODE_INOUT = 0,          /* port I/O the core does not own: u.inout */
	VM_EXITCODE_MMIO = 1,           /* MMIO outside RAM and the APIC page: u.mmio */
	VM_EXITCODE_IPI = 2,            /* INIT/STARTUP sent with VM_CAP_IPI_EXIT on: u.ipi */
	VM_EXITCODE_SPINUP_AP = 3,      /* STARTUP with VM_CAP_IPI_EXIT off: u.spinup_ap */
	VM_EXITCODE_SUSPENDED = 4,      /* the VM is ending (u.suspended.how); the thread must stop */
	VM_EXITCODE_TRIPLE_FAULT = 5,   /* shutdown (triple fault) on this vCPU */
	VM_EXITCODE_INTERNAL_ERROR = 6, /* KVM could not run the guest: u.internal */
	VM_EXITCODE_DEBUG = 7,          /* a debug exception for the debugger (vmm_debug.h): u.debug */
	VM_EXITCODE_MAX                 /* one past the last code */
};

/* Why a VM ends (vm_suspend()). */
enum vm_suspend_how {
	VM_SUSPEND_NONE = 0,
	VM_SUSPEND_RESET = 1,        /* guest asked for a platform reset (INIT to the BSP, 0xcf9, ...) */
	VM_SUSPEND_POWEROFF = 2,     /* guest powered off */
	VM_SUSPEND_HALT = 3,         /* every started vCPU halted with nothing that could wake it */
	VM_SUSPEND_TRIPLEFAULT = 4,  /* a vCPU shut down */
	VM_SUSPEND_EXIT = 5,         /* the frontend ends the VM (debug-exit, timeout, error) */
	VM_SUSPEND_MAX
};

struct vm_exit {
	uint32_t exitcode; /* enum vm_exitcode */
	uint32_t vcpu;     /* the vCPU this exit belongs to */
	uint64_t rsvd;     /* retired: was to be the guest RIP, never filled (it would
			    * cost a KVM_GET_REGS per exit); always 0 */
	union {
		struct {
			uint16_t port;
			uint8_t size;  /* 1, 2 or 4 bytes per item */
			uint8_t in;    /* 1: guest reads (frontend fills data) */
			uint32_t count; /* items (string I/O); data holds count * size bytes */
			uint8_t *data;  /* in the vCPU's kvm_run page; valid until the next vm_run() */
		} inout;
		struct {
			uint64_t gpa;
			uint8_t len;   /* 1..8 */
			uint8_t is_write;
			uint8_t pad[6];
			uint8_t *data; /* len bytes; the frontend fills it on reads */
		} mmio;
		struct {
			uint32_t mode;   /* enum vm_ipi_mode (vmm/x86.h) */
			uint32_t vector; /* STARTUP vector */
			cpuset_t dmask;  /* INIT: the targets; STARTUP: the targets that were waiting for SIPI */
		} ipi;
		struct {
			uint32_t vcpuid; /* 0-based vCPU id of the AP to start (smp-spec 3) */
			uint32_t pad;
			uint64_t rip;    /* vector << 12 */
		} spinup_ap;
		struct {
			uint32_t how; /* enum vm_suspend_how */
		} suspended;
		struct {
			uint32_t kind;   /* enum vm_debug_kind (vmm_debug.h) */
			uint32_t dr;     /* HWBREAK, WATCH: which of DR0-DR3 hit */
			uint64_t pc;     /* linear address of the instruction that will run next
					  * (the int3 itself for SWBREAK, the breakpoint's for HWBREAK) */
			uint64_t addr;   /* HWBREAK, WATCH: that DR's address */
			uint64_t dr6;    /* as the processor reported it (SDM 17.2.3) */
		} debug;
		struct {
			uint32_t kvm_exit_reason;
			uint32_t suberror;
			uint32_t ndata;
			uint32_t pad;
			uint64_t data[4];
		} internal;
	} u;
};

_Static_assert(sizeof(cpuset_t) == VM_MAXCPU / 8, "cpuset ABI");
_Static_assert(sizeof(struct vm_exit) == 16 + 8 + VM_MAXCPU / 8, "vm_exit ABI");

#endif
