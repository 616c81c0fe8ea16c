/* vm_priv.h: private layout of struct vm and struct vcpu, shared by libvmm's files.
 *
 * Field legend (who initialises it / what guards it):
 *   (c)  set at creation, constant afterwards
 *   (L)  vm->lock            (a)  atomic access only
 *   (R)  vm->rv_mtx          (V)  vcpu->mtx
 *   (o)  owner vCPU thread only (the thread inside vm_run())
 *   (C)  vm->create_mtx (vCPU creation; taken with no other libvmm lock held)
 * Lock order: vm->create_mtx -> vm->lock; vm->rv_mtx -> vcpu->mtx -> vm->lock -> vlapic's lock; at most
 * one vcpu->mtx at a time. Waiting threads learn of a rendezvous through
 * vcpu->rv_pending, so they never need rv_mtx while holding their own mtx.
 */
#ifndef VMM_VM_PRIV_H
#define VMM_VM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/apic_dest.h"
#include "vmm/timer.h"
#include "vmm/vioapic.h"
#include "vmm/vlapic.h"
#include "vmm/vmm.h"

#define XAPIC_MAX_CPUS 255 /* 8-bit IDs; 0xff is the broadcast ID (smp-spec 1.1) */

/* Per-vCPU boot state (smp-spec 1.3, which knows CLAIMED as part of RUNNING).
 * Allowed transitions, enforced by vcpu_set_state():
 *   POWERON  -> WAIT_SIPI  INIT (an AP at power-on waits for INIT; STARTUP alone is dropped)
 *   POWERON  -> RUNNING    the BSP at power-on (vm_vcpu_setup_boot)
 *   WAIT_SIPI-> WAIT_SIPI  another INIT
 *   WAIT_SIPI-> CLAIMED    STARTUP claimed by the core (exactly once per AP)
 *   CLAIMED  -> RUNNING    its thread enters the guest, once the frontend has
 *                          called vm_vcpu_start_ap (vcpu->start_pending)
 *   RUNNING  -> HALTED     HLT
 *   HALTED   -> RUNNING    wake-up (interrupt, NMI)
 *   CLAIMED|RUNNING|HALTED -> WAIT_SIPI  INIT
 *   any      -> STOPPED    VM suspend
 * What the transition function derives, and nobody else touches:
 *   vm->nrunning      CLAIMED or RUNNING (a claimed AP is about to run: the VM
 *                     is not "all halted" while one waits for its frontend)
 *   vm->nhalted_noif  HALTED with RFLAGS.IF = 0 (vcpu_boot.halt_noif)
 *   vm->nstarted, vcpu_boot.ran  the first entry to RUNNING from POWERON or CLAIMED
 */
enum vcpu_state {
	VCPU_POWERON = 0,
	VCPU_WAIT_SIPI = 1,
	VCPU_CLAIMED = 2,
	VCPU_RUNNING = 3,
	VCPU_HALTED = 4,
	VCPU_STOPPED = 5,
	VCPU_NSTATES
};

const char *vcpu_state_name(enum vcpu_state s);
/* The name smp-spec 1.3 gives the state (CLAIMED is its RUNNING): what the
 * STARTUP-dropped verdicts and the never-ran report print. */
const char *vcpu_state_spec_name(enum vcpu_state s);

/* Why a configured vCPU did not start; kept per vCPU for the never-ran report. */
struct vcpu_boot {
	uint8_t state;         /* (L) enum vcpu_state */
	uint8_t got_init;      /* (L) ever received INIT */
	uint8_t got_startup;   /* (L) ever claimed a STARTUP */
	uint8_t ran;           /* (L) ever entered the guest */
	uint8_t drop_state;    /* (L) state at the last dropped STARTUP (VCPU_NSTATES: none) */
	uint8_t drop_vector;   /* (L) vector of the last dropped STARTUP */
	uint8_t halt_noif;     /* (L) HALTED with RFLAGS.IF = 0: counted in vm->nhalted_noif */
	uint8_t pad;
};

struct vm;
struct kvm_run;
struct cpuid_entry;

struct vcpu {
	struct vm *vm;            /* (c) */
	uint32_t id;              /* (c) vCPU id == initial APIC ID */
	int fd;                   /* (c) KVM vCPU fd; -1 in a detached VM */
	struct kvm_run *run;      /* (c) mapping, opaque outside the backend (kvm.c, vcpu.c); fields
				   * written by the owner, except immediate_exit (a, through kick);
				   * NULL in a detached VM */
	uint8_t *kick;            /* (c) kvm_run.immediate_exit, or &kick_detached; set to 1 (a) by
				   * vcpu_notify() */
	uint8_t kick_detached;    /* (a) a detached VM's stand-in for immediate_exit */
	struct vlapic *vlapic;    /* (c) pointer; the vlapic locks itself */
	struct vlapic_ops lapic_ops; /* (c) */
	pthread_mutex_t mtx;      /* guards (V) */
	uint32_t wake_seq;        /* (V) bumped by every vcpu_notify(); the futex a waiting
				   * owner sleeps on (vcpu_wait_locked) */
	bool sleeping;            /* (V) the owner sleeps, or is about to, on wake_seq */
	bool attached;            /* (R) a thread is inside vm_run() for this vCPU */
	bool in_guest;            /* (a) inside KVM_RUN: kicks need a signal */
	pid_t tid;                /* (R) the attached thread's kernel id (the kick's tgkill) */
	bool in_wait;             /* (V) the owner is in wait_runnable() and checks every event
				   * again before it enters the guest: a notifier needs
				   * neither immediate_exit nor a signal */
	bool rv_pending;          /* (V) a rendezvous may be waiting for this vCPU */
	uint8_t nmi_pending;      /* (V) NMIs not yet handed to KVM (KVM_NMI), at most 2: KVM keeps
				   * the NMI-blocking state and latches one NMI while one is being
				   * handled (SDM 6.7.1, 10.5.1); more would be collapsed there too */
	bool start_pending;       /* (V) CLAIMED: vm_vcpu_start_ap() asked to enter at start_rip */
	uint64_t start_rip;       /* (V) */
	bool ipi_exit;            /* (o) VM_CAP_IPI_EXIT */
	bool if_flag;             /* (o) RFLAGS.IF at the last exit */
	bool io_pending;          /* (o) KVM still has to complete an I/O, MMIO or MSR exit */
	bool entered;             /* (o) KVM_RUN was called: KVM's power-on FPU and event
				   * state may have changed since KVM_CREATE_VCPU */
	bool exit_pending;        /* (o) pending_exit must be returned before re-entry */
	struct vm_exit pending_exit; /* (o) */
	struct vm_timer lapic_timer; /* (c) the vLAPIC timer's host timer */
	struct vm_timer window_timer; /* (c) PVM: re-check an open interrupt window */
	bool window_armed;        /* (o) window_timer is armed */
	int64_t tsc_offset;       /* (c) guest TSC - host TSC */
	uint8_t extint_msg;       /* (a) an I/O APIC ExtINT message waits for its one INTA cycle
				   * (82093AA 3.2.4: the 8259 then gives the vector; set by
				   * ioapic_deliver(), cleared by inject() at the INTA) */
	uint64_t pv_eoi_msr;      /* (o) MSR_KVM_PV_EOI_EN as written (0: off; INIT clears it) */
	uint8_t *pv_eoi_flag;     /* (o) its guest byte (bit 0: "this EOI needs no exit"), or NULL */
	uint8_t pv_eoi_vec;       /* (o) the vector whose flag was set before this entry; 0: none
				   * (vectors 0-15 are never in service) */
	uint64_t pv_eoi;          /* (o) EOIs the guest did through the flag (relaxed atomics) */
	uint64_t exits[VM_EXK_N]; /* (o) exits by kind; stored by the owner with relaxed
				   * atomics, read the same way by vm_get_stats() */
	uint64_t injected;        /* (o) likewise: KVM_INTERRUPTs */
	cpuset_t spinup_pending;  /* (o) legacy protocol: APs still to report as SPINUP_AP */
	uint64_t spinup_rip;      /* (o) */
};

struct vm {
	int kvm_fd, vm_fd;        /* (c) */
	int run_size;             /* (c) kvm_run mapping size */
	uint32_t ncpus;           /* (c) configured vCPUs */
	bool x2apic;              /* (c) offered in CPUID */
	unsigned phys_bits;       /* (c) */
	/* (c) the backend's half of vcpu_alloc() (vm_kvm.c: KVM vCPU, run mapping,
	 * TSC, CPUID); NULL in a detached VM (vm_create_detached: no KVM at all) */
	int (*backend_vcpu_init)(struct vm *vm, struct vcpu *v);
	struct cpuid_entry *cpuid; /* (c) KVM's supported table [cpuid_nent], the template for each vCPU */
	unsigned cpuid_nent;      /* (c) */
	struct guest_mem mem;     /* (c) */
	uint8_t *ram;             /* (c) host mapping */
	uint64_t ram_map_size;    /* (c) */
	vm_trace_fn *trace;       /* (c) */
	struct vm_timers *timers; /* (c) host timer service */
	/* Serialises vCPU creation (vm_vcpu_get -> vcpu_alloc) without holding
	 * vm->lock: a new vCPU's KVM work (KVM_CREATE_VCPU, CPUID, TSC) must not
	 * stall the IPI paths, which take vm->lock (issue 14). Taken before
	 * vm->lock, never inside it. */
	pthread_mutex_t create_mtx;
	uint32_t tsc_khz;         /* (C) guest TSC frequency, set by the first vCPU allocation */
	int64_t tsc_offset;       /* (C) guest TSC - host TSC, measured on the first vCPU */
	bool tsc_known;           /* (C) tsc_khz and tsc_offset are set */
	bool pvm;                 /* (c) KVM-PVM host (see vcpu.c, PVM_WINDOW_POLL_NS) */
	pid_t pid;                /* (c) this process (the kick's tgkill) */
	void *trace_ctx;          /* (c) */

	pthread_mutex_t lock;     /* guards (L) */
	struct vcpu **vcpus;      /* (L) [ncpus], NULL until allocated; pointers never change once set */
	struct vcpu_boot *boot;   /* (L) [ncpus] */
	cpuset_t active;          /* (L) */
	cpuset_t configured;      /* (c) */
	unsigned nallocated;      /* (L) */
	unsigned nstarted;        /* (L) vCPUs that ever ran; vcpu_set_state() only */
	unsigned nrunning;        /* (L) in CLAIMED or RUNNING state; vcpu_set_state() only */
	unsigned nhalted_noif;    /* (L) HALTED with IF=0; vcpu_set_state() only */
	struct apic_addr *addrs;  /* [ncpus]; (c) reset values, then each vlapic publishes its own (a) */
	uint32_t ids_moved;       /* (a) vLAPICs whose current APIC ID is not their vCPU id (vlapic_ops.ids_moved) */

	/* KVM memory slots, with holes where a vLAPIC maps its page onto RAM
	 * (memslots.c, SDM 10.4.5). */
	pthread_mutex_t slot_mtx;             /* guards (S); taken with no other lock held */
	struct gmem_slot slots[GMEM_MAX_SLOTS]; /* (S) what KVM has: slot i = slots[i] */
	unsigned nslots;                      /* (S) */
	uint64_t holes[GMEM_MAX_HOLES];       /* (S) RAM pages some vLAPIC maps */
	uint32_t hole_refs[GMEM_MAX_HOLES];   /* (S) how many vLAPICs map holes[i] */
	unsigned nholes;                      /* (S) */
	pthread_cond_t slot_cond;             /* (S) broadcast when slots_busy drops */
	uint32_t slots_busy;                  /* (a) 1 while the slots change: no vCPU enters the guest */
	uint32_t last_unmatched_dest;   /* (L) last INIT/STARTUP that matched nobody */
	uint8_t last_unmatched_valid;   /* (L) */
	uint8_t last_unmatched_logical; /* (L) */
	uint8_t last_unmatched_mode;    /* (L) */

	uint32_t suspend_how;     /* (a) enum vm_suspend_how, first writer wins */

	/* Rendezvous (smp-spec 1.8): one at a time. */
	pthread_mutex_t rv_mtx;   /* guards (R) */
	pthread_cond_t rv_cond;   /* (R) broadcast at start and completion of a rendezvous */
	void (*rv_func)(struct vcpu *, void *); /* (R) NULL: none in progress */
	void *rv_arg;             /* (R) */
	cpuset_t rv_req, rv_done; /* (R) */

	/* Platform interrupt wiring (irq.c). */
	struct vioapic ioapic;    /* (c) locks itself */
	const struct vm_pic_ops *pic_ops; /* (c) set before vCPUs run; NULL: no PIC */
	void *pic_ctx;            /* (c) */
	bool pic_level;           /* (a) the PIC's INTR output */
	bool irq_ready;           /* (c) ioapic initialised */

	/* Debugger support (debug.c): NULL unless vm_debug_enable() was called. */
	struct vm_debug *dbg;     /* (c) set before any vCPU runs; locks itself */
	void (*dbg_fini)(struct vm *vm); /* (c) debug.c's vm_debug_free, for vm_destroy() (vm.c
				   * links without debug.c in the detached unit tests) */

	/* Statistics. */
	uint64_t st_ipis, st_startup_dropped, st_init_ignored, st_ipi_ignored; /* (a) */
	uint64_t st_insn_completed; /* (a) PVM: instructions completed by hyve */
	uint64_t st_sti_hlt;      /* (a) HLTs completed where a window opened inside an
				   * STI shadow (window_on_sti_hlt, vcpu.c) */
};

/* vm.c: construction shared by vm_create() (vm_kvm.c) and vm_create_detached().
 * Each fills err on failure; the caller then vm_destroy()s what was built. */
/* Checks cfg, allocates the VM and its per-vCPU records (vm_destroy()s on failure). */
int vm_init_common(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
int vm_init_platform(struct vm *vm, char *err, size_t errlen);                /* I/O APIC, timer thread */
int vm_init_ram(struct vm *vm, uint64_t mem_size, char *err, size_t errlen);  /* guest RAM and its layout */
/* vm->lock held. Moves vCPU id to `to` if the table above allows it and
 * updates the counters derived from states; 0, or -EINVAL (nothing changed).
 * Entering HALTED reads the vCPU's RFLAGS.IF at its last exit (owner only). */
int vcpu_set_state(struct vm *vm, uint32_t id, enum vcpu_state to);
/* Same, where the transition cannot fail: a refusal is a bug in the core, and
 * it aborts with a message naming the vCPU and both states. */
void vcpu_require_state(struct vm *vm, uint32_t id, enum vcpu_state to);
/* vm->lock not held: the vCPU entered the guest since its last INIT (an NMI
 * is delivered only then). */
bool vcpu_started(struct vm *vm, uint32_t id);
void vcpu_notify(struct vcpu *vcpu); /* wake it wherever it waits; kick it out of KVM_RUN */
/* Queues one NMI for the next entry (vcpu->mtx held; the caller notifies). */
static inline void vcpu_queue_nmi(struct vcpu *vcpu)
{
	if (vcpu->nmi_pending < 2)
		vcpu->nmi_pending++;
}
/* A counter only its owner thread writes and other threads read (relaxed
 * atomics: no lock, no data race, a plain add in the generated code). */
static inline void owner_count(uint64_t *ctr)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
/* The owner (vcpu->mtx held) sleeps until the next vcpu_notify(); returns with
 * the mutex held again, possibly spuriously: the caller looks again. */
void vcpu_wait_locked(struct vcpu *vcpu);
struct vcpu *vm_vcpu_lookup(struct vm *vm, uint32_t id); /* NULL if not allocated */
void vm_trace(struct vm *vm, const struct vm_trace_event *ev);
/* vm->lock held: true when every started vCPU is halted with nothing that can
 * wake it (the caller then suspends with VM_SUSPEND_HALT, without locks). */
bool vm_all_halted(struct vm *vm);

/* irq.c */
int vm_irq_init(struct vm *vm);
void vm_irq_fini(struct vm *vm);
/* True for an access the core owns in the I/O APIC window (handled here). */
bool vm_ioapic_mmio(struct vm *vm, uint64_t gpa, unsigned len, bool is_write, uint8_t *data);
void vcpu_eoi(void *ctx, uint8_t vector);
/* An 8259 interrupt may be injected into v now (ExtINT, SDM 10.5.1). */
bool vcpu_extint_pending(struct vcpu *v);

/* memslots.c: KVM memory slots around APIC pages relocated onto RAM */
int vm_slots_init(struct vm *vm); /* the RAM regions as slots (vm_create) */
/* self's vLAPIC moved its MMIO page from old_base to new_base (0: none);
 * self's thread, no lock held. */
int vm_apic_page_moved(struct vm *vm, struct vcpu *self, uint64_t old_base, uint64_t new_base);
/* The owner, about to enter the guest, waits while the slots change. */
void vm_slots_wait(struct vm *vm);
/* An MMIO exit at a RAM address (a hole seen from a vCPU whose APIC is
 * elsewhere): the access done on RAM. False when gpa is not RAM. */
bool vm_ram_mmio(struct vm *vm, uint64_t gpa, unsigned len, bool is_write, uint8_t *data);

/* vcpu_lapic.c: vlapic_ops callbacks, the PVM window poll, the APIC exits */
void vcpu_lapic_timer_fired(void *arg);
void vcpu_window_timer_fired(void *arg);
void vcpu_timer_arm(void *ctx, uint64_t deadline_ns);
void vcpu_timer_disarm(void *ctx);
uint64_t vcpu_now_ns(void *ctx);
uint64_t vcpu_guest_tsc(void *ctx);
/* Owner, before KVM_RUN: window_requested = the entry asks for an interrupt window. */
void vcpu_window_poll(struct vcpu *v, bool window_requested);
/* Owner: an MSR exit (wr: WRMSR) of MSR idx; *data in or out. Returns 0, or
 * nonzero when the access must fault (#GP). */
int vcpu_apic_msr(struct vcpu *v, bool wr, uint32_t idx, uint64_t *data);
/* KVM PV EOI (vcpu_lapic.c), owner thread: after every KVM_RUN, an EOI the
 * guest did through its flag; before every entry, set the flag when the
 * vLAPIC allows it. */
void vcpu_pv_eoi_sync(struct vcpu *v);
void vcpu_pv_eoi_arm(struct vcpu *v);
/* Owner: true if gpa is on this vCPU's own APIC page, with its offset there. */
bool vcpu_apic_offset(struct vcpu *v, uint64_t gpa, uint32_t *off);
/* Owner: true if the MMIO access hit its own APIC page (then handled here). */
bool vcpu_apic_mmio(struct vcpu *v, uint64_t gpa, unsigned len, bool is_write, uint8_t *data);

/* vcpu_start.c: SDM 9.1.1 start state of an AP after STARTUP (owner thread) */
int vcpu_apply_start(struct vcpu *v, uint64_t rip);

/* vcpu_pvm.c */
/* Guest memory behind a linear address, n bytes inside one page, or NULL. */
uint8_t *vcpu_guest_la(struct vcpu *v, uint64_t la, size_t n);
/* Completes the instruction KVM-PVM could not emulate; false if not one of
 * ours. bytes, n: the instruction bytes KVM reported, or NULL (fetched at RIP). */
bool vcpu_complete_insn(struct vcpu *v, const uint8_t *bytes, size_t n);

/* ipi.c */
void vcpu_icr_write(void *ctx, struct vlapic *vl, uint32_t icr_lo, uint32_t icr_hi);
void vcpu_init_reset(struct vcpu *vcpu, void *arg); /* rendezvous function: INIT on own thread */

/* debug.c (vmm_debug.h) */
struct vm_debug;
void vm_debug_free(struct vm *vm); /* vm_destroy */
/* Owner, at the top of vm_run()'s loop when vm->dbg is set: parks while the
 * debugger holds this vCPU (1: look at everything again), else applies the
 * debugger's settings to KVM before the entry (0), or -errno. */
int vcpu_debug_gate(struct vcpu *v);
/* The debugger holds this vCPU (wait_runnable() stops waiting: it parks). */
bool vcpu_debug_held(struct vcpu *v);
/* Owner: a KVM debug exit (vector 1 or 3, DR6, linear PC). True with *ex
 * filled (VM_EXITCODE_DEBUG) when it is the debugger's; false when it went
 * back to the guest. */
bool vcpu_debug_exit(struct vcpu *v, unsigned vector, uint64_t dr6, uint64_t pc, struct vm_exit *ex);
/* Owner, KVM-PVM: an instruction KVM could not emulate (bytes, n as KVM
 * reported them, or NULL). An int3 while the debugger intercepts #BP is
 * its stop (true, *ex filled): on PVM a CPL-0 int3 ends there, not in a
 * #BP intercept. */
bool vcpu_debug_pvm_insn(struct vcpu *v, const uint8_t *bytes, size_t n, struct vm_exit *ex);

/* rendezvous.c */
typedef void vm_rendezvous_fn(struct vcpu *vcpu, void *arg);
/* Runs fn on each vCPU of set that has a thread in vm_run() (on that thread) and
 * returns when all did. self: the calling vCPU (NULL if not a vCPU thread). */
void vm_rendezvous(struct vm *vm, struct vcpu *self, const cpuset_t *set, vm_rendezvous_fn *fn, void *arg);
/* Serves a rendezvous pending for vcpu; returns true if it ran one. */
bool vm_rendezvous_serve(struct vcpu *vcpu);
void vm_rendezvous_attach(struct vcpu *vcpu);
void vm_rendezvous_detach(struct vcpu *vcpu);

#endif
