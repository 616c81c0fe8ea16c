/* vmm.h: public API of libvmm, hyve's core (the part bhyve keeps in vmm.ko).
 *
 * A VM has a fixed set of configured vCPUs (0..ncpus-1, initial APIC ID == vCPU id,
 * vCPU 0 is the BSP). vCPU state (vLAPIC, KVM vCPU, kvm_run mapping) is
 * allocated lazily on first use; the frontend runs each vCPU on a thread of
 * its own by calling vm_run() in a loop and dispatching the returned exit.
 * Every function returns 0 or -errno and never exits or prints.
 * Threading: vm_* functions may be called from any thread unless noted;
 * vm_run() and vm_vcpu_* setters only from the thread that runs that vCPU,
 * or before it runs.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/cpuset.h"
#include "vmm/gmem.h"
#include "vmm/timer.h"
#include "vmm/vmm_exit.h"
#include "vmm/x86.h"

struct vm;
struct vcpu;

/* --- tracing (smp-spec 5) --- */
enum vm_trace_kind {
	VM_TRACE_IPI = 0,    /* an ICR write: sender, fields, verdict, resolved targets */
	VM_TRACE_TARGET = 1, /* one target of an IPI: delivered or dropped, with the reason */
	VM_TRACE_STATE = 2,  /* a vCPU boot-state change */
};

struct vm_trace_event {
	uint32_t kind;     /* enum vm_trace_kind */
	uint32_t vcpu;     /* sender (IPI), target (TARGET), subject (STATE) */
	uint32_t mode;     /* IPI delivery mode (enum apic_dm in vmm/apic_dest.h) */
	uint32_t vector;
	uint32_t shorthand;
	uint32_t dest;
	bool logical;
	bool x2apic;
	bool delivered;    /* TARGET */
	const char *what;  /* IPI: verdict name; TARGET: reason; STATE: "OLD->NEW" */
	const cpuset_t *targets; /* IPI: resolved set (NULL otherwise) */
};

typedef void vm_trace_fn(void *ctx, const struct vm_trace_event *ev);

struct vm_config {
	uint32_t ncpus;         /* configured vCPUs, 1..vm_max_cpus() */
	uint64_t mem_size;      /* guest RAM bytes (>= 1 MiB, multiple of 4 KiB) */
	bool x2apic;            /* offer x2APIC in CPUID (then APIC IDs may exceed 254) */
	vm_trace_fn *trace;     /* optional; called on the thread where the event happens,
				 * possibly with libvmm's locks held (vm->lock for state
				 * changes): it must not call back into libvmm */
	void *trace_ctx;
};

/* Opens /dev/kvm, creates the VM and its RAM. -ENOENT/-EACCES when /dev/kvm
 * cannot be opened, -EINVAL for a bad config; err (errlen bytes) receives one
 * line saying what failed. */
int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
/* Everything vm_create() builds but KVM: no /dev/kvm, no VM or vCPU fds, no
 * CPUID template (MAXPHYADDR 36); the I/O APIC, the timer thread and guest
 * RAM exist, and vm_vcpu_get() makes vCPUs with their vLAPIC and timers but
 * no KVM vCPU. For unit tests of the core (state machine, rendezvous, IPIs):
 * vm_run() must not be called. vm_destroy() frees it like any VM. */
int vm_create_detached(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
/* Ends every vCPU thread's use of the VM first (vm_suspend + join in the frontend). */
void vm_destroy(struct vm *vm);
/* Upper bound for vm_config.ncpus with (x2apic) or without x2APIC: 255 for
 * xAPIC (8-bit IDs, 0xff is broadcast), else min(VM_MAXCPU, KVM_CAP_MAX_VCPUS);
 * -errno when /dev/kvm cannot be opened. */
int vm_max_cpus(bool x2apic);

const struct guest_mem *vm_guest_mem(struct vm *vm);
uint32_t vm_ncpus(const struct vm *vm);

/* Marks a configured vCPU active (a target for FIXED/LOWPRIO/NMI IPIs). */
int vm_activate_cpu(struct vm *vm, uint32_t vcpuid);
/* The vCPU object, allocated on first use. -EINVAL for an id outside the configured set. */
int vm_vcpu_get(struct vm *vm, uint32_t vcpuid, struct vcpu **out);
uint32_t vcpu_id(const struct vcpu *vcpu);
struct vm *vcpu_vm(const struct vcpu *vcpu);
/* Number of vCPUs whose state has been allocated so far. */
unsigned vm_allocated_count(struct vm *vm);

enum vm_cap {
	VM_CAP_IPI_EXIT = 0, /* report INIT/STARTUP as VM_EXITCODE_IPI (default off: SPINUP_AP) */
	VM_CAP_MAX
};
int vm_set_capability(struct vcpu *vcpu, enum vm_cap cap, bool on);

/* A boot CPU state a loader computed (flat segments, control registers). */
/* Puts the BSP in that state (e.g. Linux's 64-bit or PVH entry) and marks it running. */
int vm_vcpu_setup_boot(struct vcpu *vcpu, const struct vm_boot_cpu *st);

/* True when /dev/kvm is KVM-PVM (guest CPL0 code is emulated; hyve then
 * completes the few instructions PVM cannot, see docs/architecture.md). */
bool vm_host_is_pvm(void);
/* Which KVM /dev/kvm is, from the loaded module: "KVM-PVM (kvm_pvm)",
 * "KVM on AMD SVM (kvm_amd)", "KVM on Intel VMX (kvm_intel)" (for --verbose). */
const char *vm_host_kvm_kind(void);

/* Starts an AP that the core has released (VM_EXITCODE_IPI STARTUP member, or
 * VM_EXITCODE_SPINUP_AP) in real mode at rip (CS.base = rip & ~0xffff..., see
 * SDM 8.4.3: CS.selector = vector << 8, CS.base = vector << 12, IP = 0).
 * -EBUSY if the vCPU is not waiting for this start (e.g. an INIT came between). */
int vm_vcpu_start_ap(struct vm *vm, uint32_t vcpuid, uint64_t rip);

/* Runs the vCPU until an exit for the frontend. Call only on the vCPU's own
 * thread. Complete an INOUT/MMIO read by filling exit->u.*.data before the
 * next call. Returns 0 with *exit filled, or -errno on a host failure. */
int vm_run(struct vcpu *vcpu, struct vm_exit *exit);

/* Ends the VM: every vCPU's vm_run() returns VM_EXITCODE_SUSPENDED soon (the
 * first call wins the reason). Any thread. */
void vm_suspend(struct vm *vm, enum vm_suspend_how how);
enum vm_suspend_how vm_suspended(struct vm *vm);

/* --- interrupts from devices (the platform's wiring, SDM 10.1) --- */
/* Drives input pin 0..23 of hyve's I/O APIC (at 0xfec00000) to level. */
int vm_ioapic_set_irq(struct vm *vm, unsigned pin, bool level);
/* An asserting edge followed by a return to rest on pin. */
int vm_ioapic_pulse_irq(struct vm *vm, unsigned pin);

/* The 8259 PIC pair's INTR output, wired to every local APIC's LINT0 (only
 * LINT0s in ExtINT mode take it; the BSP's is after reset). The frontend owns
 * the PIC; libvmm asks it for the vector on the INTA cycle. */
struct vm_pic_ops {
	uint8_t (*intack)(void *ctx); /* INTA: the vector to inject (spurious if none) */
};
void vm_set_pic(struct vm *vm, const struct vm_pic_ops *ops, void *ctx);
/* The PIC's INTR output changed level. Any thread; no libvmm lock held. */
void vm_pic_intr(struct vm *vm, bool level);

/* Registers of a vCPU, formatted for a crash report (triple fault). Owner thread. */
int vm_vcpu_dump(struct vcpu *vcpu, char *buf, size_t len);

/* --- observability (smp-spec 5) --- */
/* Exits to user space (returns from KVM_RUN), by what they were: the figure
 * the cost of an interrupt comes down to (docs/performance.md). */
enum vm_exit_kind {
	VM_EXK_ICR = 0,  /* an ICR access (xAPIC MMIO 0x300/0x310, x2APIC MSR 0x830) */
	VM_EXK_EOI,      /* an EOI write (xAPIC 0xb0, x2APIC 0x80b) */
	VM_EXK_APIC,     /* any other local APIC register */
	VM_EXK_HLT,      /* HLT */
	VM_EXK_WINDOW,   /* the interrupt window opened */
	VM_EXK_KICK,     /* KVM_RUN interrupted by a kick (signal, immediate_exit) */
	VM_EXK_IO,       /* port I/O */
	VM_EXK_MMIO,     /* other MMIO (I/O APIC, devices, relocated-APIC RAM) */
	VM_EXK_MSR,      /* other MSRs */
	VM_EXK_OTHER,    /* the rest: KVM-PVM completions, TPR, errors */
	VM_EXK_N
};
/* Short names for reports, indexed by enum vm_exit_kind. */
const char *vm_exit_kind_name(enum vm_exit_kind k);

struct vm_stats {
	uint32_t configured, allocated, started; /* vCPUs */
	uint64_t exits[VM_EXK_N]; /* summed over the vCPUs */
	uint64_t injected;        /* external interrupts handed to KVM (KVM_INTERRUPT) */
	uint64_t pv_eoi;          /* EOIs the guest did without an exit (KVM PV EOI) */
	uint64_t ipis, startup_dropped, init_ignored, ipi_ignored;
	uint64_t insn_completed; /* instructions hyve completed for a KVM-PVM host */
	uint64_t sti_hlt;        /* HLTs completed after a window opened inside an STI
				  * shadow (an emulator that loses the shadow, vcpu.c) */
};
void vm_get_stats(struct vm *vm, struct vm_stats *st);
/* For every configured vCPU that never ran guest code, a one-line reason. */
typedef void vm_verdict_fn(void *ctx, uint32_t vcpuid, const char *why);
void vm_never_ran_report(struct vm *vm, vm_verdict_fn *fn, void *ctx);

#endif
