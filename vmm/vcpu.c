/* vcpu.c: the vCPU run loop (bhyve's vm_run()): wait until the vCPU may run,
 * inject at most one event, KVM_RUN, then one named handler per KVM exit.
 * It is the KVM backend's loop: its exit table is keyed by KVM's exit
 * reasons and it reads and writes struct kvm_run in place (no copy, no ioctl
 * on the exit path), so with kvm.c it is the only file of libvmm that
 * includes the KVM header; the handlers pass hyve's own types on. Reset and
 * start are in vcpu_start.c, the vLAPIC's plumbing and APIC exits in
 * vcpu_lapic.c, the KVM-PVM completions in vcpu_pvm.c. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <linux/kvm.h>

#include "vmm/kvm.h"
#include "vmm/vm_priv.h"

#define CR0_PE (1u << 0)
#define EFER_LMA (1u << 10)
#define OP_STI 0xfb
#define OP_HLT 0xf4

enum wait_result { WAIT_RUN, WAIT_AGAIN, WAIT_ERROR };

/* Blocks until this vCPU may enter the guest (smp-spec 1.8: parked vCPUs block,
 * they never poll). Serves rendezvous, starts the vCPU when the frontend
 * released it, wakes a halted vCPU on an NMI or an interrupt it can take. */
static enum wait_result wait_runnable(struct vcpu *v, int *err)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&v->mtx);
	v->in_wait = true; /* vcpu_notify: no kick needed until we leave (under mtx) */
	for (;;) {
		if (vm_suspended(vm) != VM_SUSPEND_NONE || vcpu_debug_held(v))
			break; /* a debugger's hold: vm_run() parks (debug.c) */
		if (v->rv_pending) {
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			vm_rendezvous_serve(v);
			return WAIT_AGAIN;
		}
		pthread_mutex_lock(&vm->lock);
		enum vcpu_state st = vm->boot[v->id].state;
		if (st == VCPU_RUNNING) {
			pthread_mutex_unlock(&vm->lock);
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			return WAIT_RUN;
		}
		if (st == VCPU_CLAIMED && v->start_pending) {
			uint64_t rip = v->start_rip;
			v->start_pending = false;
			vcpu_require_state(vm, v->id, VCPU_RUNNING);
			pthread_mutex_unlock(&vm->lock);
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			*err = vcpu_apply_start(v, rip);
			return *err ? WAIT_ERROR : WAIT_AGAIN;
		}
		if (st == VCPU_HALTED &&
		    (v->nmi_pending ||
		     (v->if_flag && (vlapic_pending_intr(v->vlapic) >= 0 || vcpu_extint_pending(v))))) {
			vcpu_require_state(vm, v->id, VCPU_RUNNING);
			pthread_mutex_unlock(&vm->lock);
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			return WAIT_RUN;
		}
		pthread_mutex_unlock(&vm->lock);
		vcpu_wait_locked(v);
	}
	v->in_wait = false;
	pthread_mutex_unlock(&v->mtx);
	return WAIT_AGAIN;
}

/* Queues at most one event for the next entry (api.rst 4.16: KVM_INTERRUPT
 * has no queue of its own; one vector per KVM_RUN, the rest stays in IRR). */
static int inject(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int r;
	pthread_mutex_lock(&v->mtx);
	unsigned nmi = v->nmi_pending;
	v->nmi_pending = 0;
	pthread_mutex_unlock(&v->mtx);
	/* Each NMI to KVM's queue: two that came between entries are one taken
	 * and one held until the handler's IRET (SDM 6.7.1), not one. */
	for (; nmi; nmi--)
		if ((r = kvm_inject_nmi(v->fd)) < 0)
			return r;
	bool extint = vcpu_extint_pending(v), more;
	uint8_t cr8;
	int vec;
	if (extint) {
		/* ExtINT bypasses the APIC's priority logic (SDM 10.5.1): the 8259
		 * gives the vector on the INTA cycle, taken only when we can inject.
		 * The vLAPIC is only asked whether a vector waits, and for CR8. */
		(void)vlapic_inject(v->vlapic, false, &more, &cr8);
		if (run->ready_for_interrupt_injection) {
			__atomic_store_n(&v->extint_msg, 0, __ATOMIC_SEQ_CST); /* this INTA serves the message */
			vec = v->vm->pic_ops->intack(v->vm->pic_ctx);
			extint = vcpu_extint_pending(v);
		} else {
			vec = -1;
		}
	} else {
		/* One vLAPIC lock for the lookup, the acceptance and the CR8 (issue 14). */
		vec = vlapic_inject(v->vlapic, run->ready_for_interrupt_injection, &more, &cr8);
	}
	if (vec >= 0) {
		if ((r = kvm_inject_irq(v->fd, (uint8_t)vec)) < 0)
			return r; /* the vCPU ends: the vector stays in ISR */
		owner_count(&v->injected);
		run->ready_for_interrupt_injection = 0; /* one per entry */
	}
	run->request_interrupt_window = extint || more;
	run->cr8 = cr8;
	return 0;
}

/* An interrupt window that opened on a HLT right after an STI. On hardware
 * the STI's interrupt shadow covers the HLT (Intel SDM Vol. 2B "STI"; AMD APM
 * Vol. 2 15.21.5): the HLT executes, the pending interrupt wakes it, and the
 * handler returns after the HLT. QEMU's SVM emulation (TCG) saves the shadow
 * into the VMCB at #VMEXIT but never loads it at VMRUN, so an exit between
 * the STI and the HLT (a kick, a nested page fault on the HLT's fetch) lets
 * the window open on the HLT itself: injecting there would return to the
 * HLT, which then sleeps through its own wake-up (issue 16). hyve completes
 * that HLT (RIP past it; HLT is CPL 0 only) and halts the vCPU, which the
 * pending interrupt wakes at once: what hardware does. On hosts that keep
 * the shadow this never matches an STI before the HLT. */
static bool window_on_sti_hlt(struct vcpu *v)
{
	struct x86_regs r;
	struct x86_sregs s;
	if (!v->if_flag || kvm_get_regs(v->fd, &r) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return false;
	if ((s.cr0 & CR0_PE) && s.ss.dpl != 0)
		return false;
	uint64_t la = s.cs.base + r.rip;
	if (!((s.efer & EFER_LMA) && s.cs.l))
		la &= 0xffffffffu;
	/* Byte by byte: the STI may end the page before the HLT's. */
	const uint8_t *hlt = vcpu_guest_la(v, la, 1), *sti = vcpu_guest_la(v, la - 1, 1);
	if (!hlt || !sti || *hlt != OP_HLT || *sti != OP_STI)
		return false;
	r.rip++;
	if (kvm_set_regs(v->fd, &r) < 0)
		return false;
	__atomic_add_fetch(&v->vm->st_sti_hlt, 1, __ATOMIC_RELAXED);
	return true;
}

static void halt(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool dead;
	pthread_mutex_lock(&v->mtx);
	pthread_mutex_lock(&vm->lock);
	vcpu_require_state(vm, v->id, VCPU_HALTED); /* the owner runs: RUNNING */
	dead = vm_all_halted(vm);
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
	if (dead)
		vm_suspend(vm, VM_SUSPEND_HALT);
}

static int suspended_exit(struct vcpu *v, struct vm_exit *ex)
{
	struct vm *vm = v->vm;
	vm_rendezvous_detach(v);
	pthread_mutex_lock(&vm->lock);
	vcpu_require_state(vm, v->id, VCPU_STOPPED);
	pthread_mutex_unlock(&vm->lock);
	*ex = (struct vm_exit){.exitcode = VM_EXITCODE_SUSPENDED, .vcpu = v->id};
	ex->u.suspended.how = vm_suspended(vm);
	return 0;
}

/* --- KVM exits: one handler each. It fills *ex and says EXIT_RETURN when
 * the exit goes to the frontend, or EXIT_CONTINUE to enter the guest again
 * (bhyve's vm_run(): the vm_handle_* functions and their retu). --- */
enum exit_action { EXIT_CONTINUE = 0, EXIT_RETURN = 1 };
typedef enum exit_action kvm_exit_fn(struct vcpu *v, struct vm_exit *ex);

static enum exit_action on_io(struct vcpu *v, struct vm_exit *ex)
{
	struct kvm_run *run = v->run;
	v->io_pending = true;
	ex->exitcode = VM_EXITCODE_INOUT;
	ex->u.inout.port = run->io.port;
	ex->u.inout.size = run->io.size;
	ex->u.inout.in = run->io.direction == KVM_EXIT_IO_IN;
	ex->u.inout.count = run->io.count;
	ex->u.inout.data = (uint8_t *)run + run->io.data_offset;
	return EXIT_RETURN;
}

/* The vCPU's own APIC page and the I/O APIC are the core's; the rest is the
 * frontend's. */
static enum exit_action on_mmio(struct vcpu *v, struct vm_exit *ex)
{
	struct kvm_run *run = v->run;
	v->io_pending = true;
	if (vcpu_apic_mmio(v, run->mmio.phys_addr, run->mmio.len, run->mmio.is_write, run->mmio.data) ||
	    vm_ioapic_mmio(v->vm, run->mmio.phys_addr, run->mmio.len, run->mmio.is_write, run->mmio.data) ||
	    vm_ram_mmio(v->vm, run->mmio.phys_addr, run->mmio.len, run->mmio.is_write, run->mmio.data))
		return EXIT_CONTINUE;
	ex->exitcode = VM_EXITCODE_MMIO;
	ex->u.mmio.gpa = run->mmio.phys_addr;
	ex->u.mmio.len = run->mmio.len <= 8 ? (uint8_t)run->mmio.len : 8;
	ex->u.mmio.is_write = run->mmio.is_write;
	ex->u.mmio.data = run->mmio.data;
	return EXIT_RETURN;
}

/* Completed in kvm_run: KVM returns msr.data to a RDMSR, or #GP on msr.error. */
static enum exit_action on_msr(struct vcpu *v, struct vm_exit *ex)
{
	struct kvm_run *run = v->run;
	(void)ex;
	v->io_pending = true;
	uint64_t data = run->msr.data, old_page = vlapic_mmio_base(v->vlapic);
	bool wr = run->exit_reason == KVM_EXIT_X86_WRMSR;
	int err = vcpu_apic_msr(v, wr, run->msr.index, &data);
	run->msr.error = (uint8_t)err;
	run->msr.data = data;
	if (wr && !err && run->msr.index == MSR_IA32_APIC_BASE) {
		/* The MMIO page moves, also onto RAM (SDM 10.4.5; memslots.c). */
		(void)vm_apic_page_moved(v->vm, v, old_page, vlapic_mmio_base(v->vlapic));
		/* KVM keeps CPUID.01H:EDX[9] in step with its own copy of
		 * IA32_APIC_BASE (kvm_lapic_set_base(), also without an in-kernel
		 * LAPIC): tell it, so that a global disable shows in CPUID (SDM
		 * 10.4.3). Its copy is set at each start from the start state
		 * (KVM_SET_SREGS), and INIT keeps the base. A failure leaves only
		 * that bit stale: not the guest's fault. */
		(void)kvm_set_msr(v->fd, MSR_IA32_APIC_BASE, vlapic_get_apicbase(v->vlapic));
	}
	return EXIT_CONTINUE;
}

static enum exit_action on_hlt(struct vcpu *v, struct vm_exit *ex)
{
	(void)ex;
	halt(v);
	return EXIT_CONTINUE;
}

static enum exit_action on_irq_window(struct vcpu *v, struct vm_exit *ex)
{
	(void)ex;
	if (window_on_sti_hlt(v))
		halt(v);
	return EXIT_CONTINUE; /* inject() takes the interrupt now */
}

/* KVM_EXIT_SET_TPR, KVM_EXIT_INTR: nothing to do but look for events again. */
static enum exit_action on_nothing(struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	(void)ex;
	return EXIT_CONTINUE;
}

static enum exit_action on_shutdown(struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	ex->exitcode = VM_EXITCODE_TRIPLE_FAULT;
	return EXIT_RETURN;
}

/* An instruction KVM could not emulate: on KVM-PVM hyve completes a few
 * (vcpu_pvm.c); anything else is the frontend's report. */
static enum exit_action on_internal_error(struct vcpu *v, struct vm_exit *ex)
{
	struct kvm_run *run = v->run;
	bool bytes = run->emulation_failure.ndata >= 3 &&
		     (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && v->vm->dbg &&
	    vcpu_debug_pvm_insn(v, bytes ? run->emulation_failure.insn_bytes : NULL,
				bytes ? run->emulation_failure.insn_size : 0, ex))
		return EXIT_RETURN; /* the debugger's int3 on KVM-PVM (debug.c) */
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    vcpu_complete_insn(v, bytes ? run->emulation_failure.insn_bytes : NULL,
			       bytes ? run->emulation_failure.insn_size : 0))
		return EXIT_CONTINUE;
	ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
	ex->u.internal.kvm_exit_reason = run->exit_reason;
	ex->u.internal.suberror = run->internal.suberror;
	ex->u.internal.ndata = run->internal.ndata < 4 ? run->internal.ndata : 4;
	for (unsigned i = 0; i < ex->u.internal.ndata; i++)
		ex->u.internal.data[i] = run->internal.data[i];
	return EXIT_RETURN;
}

/* A #BP or #DB that KVM_SET_GUEST_DEBUG intercepts (debug.c decides whose). */
static enum exit_action on_debug(struct vcpu *v, struct vm_exit *ex)
{
	struct kvm_run *run = v->run;
	return vcpu_debug_exit(v, run->debug.arch.exception, run->debug.arch.dr6, run->debug.arch.pc, ex)
		       ? EXIT_RETURN : EXIT_CONTINUE;
}

static enum exit_action on_fail_entry(struct vcpu *v, struct vm_exit *ex)
{
	ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
	ex->u.internal.kvm_exit_reason = v->run->exit_reason;
	ex->u.internal.ndata = 1;
	ex->u.internal.data[0] = v->run->fail_entry.hardware_entry_failure_reason;
	return EXIT_RETURN;
}

static enum exit_action on_unknown(struct vcpu *v, struct vm_exit *ex)
{
	ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
	ex->u.internal.kvm_exit_reason = v->run->exit_reason;
	ex->u.internal.ndata = 0;
	return EXIT_RETURN;
}

static kvm_exit_fn *const kvm_exit_handlers[] = {
	[KVM_EXIT_IO] = on_io,
	[KVM_EXIT_MMIO] = on_mmio,
	[KVM_EXIT_X86_RDMSR] = on_msr,
	[KVM_EXIT_X86_WRMSR] = on_msr,
	[KVM_EXIT_HLT] = on_hlt,
	[KVM_EXIT_IRQ_WINDOW_OPEN] = on_irq_window,
	[KVM_EXIT_SET_TPR] = on_nothing,
	[KVM_EXIT_INTR] = on_nothing,
	[KVM_EXIT_SHUTDOWN] = on_shutdown,
	[KVM_EXIT_INTERNAL_ERROR] = on_internal_error,
	[KVM_EXIT_FAIL_ENTRY] = on_fail_entry,
	[KVM_EXIT_DEBUG] = on_debug,
};

/* An xAPIC register's x2APIC MSR (SDM 10.12.1.2). */
#define X2APIC_MSR(off) (MSR_X2APIC_FIRST + ((off) >> 4))

/* What an exit was, for the statistics (vmm.h: enum vm_exit_kind). */
static enum vm_exit_kind exit_kind(struct vcpu *v)
{
	const struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return VM_EXK_IO;
	case KVM_EXIT_MMIO: {
		uint32_t off;
		if (!vcpu_apic_offset(v, run->mmio.phys_addr, &off))
			return VM_EXK_MMIO;
		off &= ~0xfu;
		return off == APIC_OFF_ICR_LO || off == APIC_OFF_ICR_HI ? VM_EXK_ICR
		       : off == APIC_OFF_EOI				 ? VM_EXK_EOI
									 : VM_EXK_APIC;
	}
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		if (run->msr.index == X2APIC_MSR(APIC_OFF_ICR_LO))
			return VM_EXK_ICR;
		if (run->msr.index == X2APIC_MSR(APIC_OFF_EOI))
			return VM_EXK_EOI;
		return (run->msr.index >= MSR_X2APIC_FIRST && run->msr.index <= MSR_X2APIC_LAST) ||
				       run->msr.index == MSR_IA32_APIC_BASE
			       ? VM_EXK_APIC
			       : VM_EXK_MSR;
	case KVM_EXIT_HLT:
		return VM_EXK_HLT;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return VM_EXK_WINDOW;
	default:
		return VM_EXK_OTHER;
	}
}

int vm_run(struct vcpu *v, struct vm_exit *ex)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	int r = 0;

	if (!v->attached) {
		if ((r = kvm_kick_signal_setup(v->fd, SIGUSR1)) < 0)
			return r;
		vm_rendezvous_attach(v);
	}
	for (;;) {
		if (v->exit_pending) {
			*ex = v->pending_exit;
			v->exit_pending = false;
			return 0;
		}
		int ap = cpuset_next(&v->spinup_pending, 0);
		if (ap >= 0) {
			cpuset_clr(&v->spinup_pending, (uint32_t)ap);
			*ex = (struct vm_exit){.exitcode = VM_EXITCODE_SPINUP_AP, .vcpu = v->id};
			ex->u.spinup_ap.vcpuid = (uint32_t)ap;
			ex->u.spinup_ap.rip = v->spinup_rip;
			return 0;
		}
		if (vm_suspended(vm) != VM_SUSPEND_NONE)
			return suspended_exit(v, ex);
		if (vm->dbg && (r = vcpu_debug_gate(v)) != 0) {
			if (r < 0)
				return r;
			continue; /* parked for a debugger: look at everything again */
		}
		enum wait_result w = wait_runnable(v, &r);
		if (w == WAIT_ERROR)
			return r;
		if (w == WAIT_AGAIN)
			continue;
		if ((r = inject(v)) < 0)
			return r;
		vcpu_window_poll(v, run->request_interrupt_window);

		__atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&vm->slots_busy, __ATOMIC_SEQ_CST)) {
			/* memslots.c changes KVM's memory slots: no guest code may run */
			__atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
			vm_slots_wait(vm);
			__atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
		}
		v->entered = true;
		vcpu_pv_eoi_arm(v);
		r = kvm_vcpu_run(v->fd);
		vcpu_pv_eoi_sync(v);
		__atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		v->io_pending = false;
		vlapic_set_cr8(v->vlapic, (uint8_t)run->cr8);
		v->if_flag = run->if_flag;
		if (r == -EINTR) {
			kvm_kick_consume(SIGUSR1);
			owner_count(&v->exits[VM_EXK_KICK]);
			continue;
		}
		if (r < 0)
			return r;
		owner_count(&v->exits[exit_kind(v)]);

		ex->vcpu = v->id;
		ex->rsvd = 0;
		uint32_t reason = run->exit_reason;
		kvm_exit_fn *fn = reason < sizeof(kvm_exit_handlers) / sizeof(kvm_exit_handlers[0])
					  ? kvm_exit_handlers[reason] : NULL;
		if ((fn ? fn : on_unknown)(v, ex) == EXIT_RETURN)
			return 0;
	}
}
