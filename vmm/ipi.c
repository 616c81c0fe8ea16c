/* ipi.c: what an ICR write does (smp-spec sections 2 and 3): check, resolve, deliver,
 * INIT and STARTUP handling for both frontend protocols. */
#include <stdio.h>

#include "vmm/vm_priv.h"

_Static_assert((int)VM_IPI_INIT == APIC_DM_INIT && (int)VM_IPI_STARTUP == APIC_DM_STARTUP,
	       "the exit ABI's IPI modes are the ICR's");

static void trace_target(struct vm *vm, const struct apic_ipi *ipi, uint32_t target, bool delivered,
			 const char *why)
{
	if (!vm->trace)
		return;
	struct vm_trace_event ev = {.kind = VM_TRACE_TARGET, .vcpu = target, .mode = ipi->mode,
				    .vector = ipi->vector, .delivered = delivered, .what = why};
	vm->trace(vm->trace_ctx, &ev);
}

/* INIT on the target's own thread (a rendezvous function), or by the sender
 * for a vCPU that has no thread (rv_mtx held then). SDM 10.4.7.3 / table 9-1:
 * the vLAPIC is reset and the processor waits for STARTUP; its registers are
 * loaded when it starts (vm_vcpu_start_ap). */
void vcpu_init_reset(struct vcpu *v, void *arg)
{
	(void)arg;
	struct vm *vm = v->vm;
	vlapic_init_reset(v->vlapic);
	/* KVM PV EOI is off after INIT (KVM: kvm_lapic_reset()); this thread
	 * is the owner's, or no thread runs the vCPU. */
	v->pv_eoi_msr = 0;
	v->pv_eoi_flag = NULL;
	v->pv_eoi_vec = 0;
	pthread_mutex_lock(&v->mtx);
	v->nmi_pending = 0;
	v->start_pending = false;
	pthread_mutex_lock(&vm->lock);
	(void)vcpu_set_state(vm, v->id, VCPU_WAIT_SIPI); /* refused only once STOPPED: the VM ends */
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
}

static void do_init(struct vcpu *sender, const struct apic_ipi *ipi, const cpuset_t *targets)
{
	struct vm *vm = sender->vm;
	cpuset_t rv;
	cpuset_zero(&rv);

	if (cpuset_isset(targets, 0)) {
		/* smp-spec 1.6: INIT to the BSP is a platform reset request. */
		trace_target(vm, ipi, 0, true, "INIT to the BSP: platform reset");
		vm_suspend(vm, VM_SUSPEND_RESET);
		return;
	}
	pthread_mutex_lock(&vm->rv_mtx); /* excludes threads attaching meanwhile */
	CPUSET_FOREACH(i, targets)
	{
		uint32_t id = (uint32_t)i;
		pthread_mutex_lock(&vm->lock);
		struct vcpu *t = vm->vcpus[id];
		enum vcpu_state st = vm->boot[id].state;
		vm->boot[id].got_init = 1;
		pthread_mutex_unlock(&vm->lock);
		if (t && t->attached && (st == VCPU_CLAIMED || st == VCPU_RUNNING || st == VCPU_HALTED)) {
			cpuset_set(&rv, id);
			trace_target(vm, ipi, id, true, "reset on its own thread (rendezvous)");
		} else if (t) {
			vcpu_init_reset(t, NULL); /* no thread runs it: reset it here */
			trace_target(vm, ipi, id, true, "reset; waits for STARTUP");
		} else {
			/* Never allocated: nothing to reset (smp-spec 1.4, D38446 bug 2). */
			pthread_mutex_lock(&vm->lock);
			(void)vcpu_set_state(vm, id, VCPU_WAIT_SIPI); /* POWERON, WAIT_SIPI or CLAIMED: allowed */
			pthread_mutex_unlock(&vm->lock);
			trace_target(vm, ipi, id, true, "not allocated; waits for STARTUP");
		}
	}
	pthread_mutex_unlock(&vm->rv_mtx);
	if (!cpuset_empty(&rv))
		vm_rendezvous(vm, sender, &rv, vcpu_init_reset, NULL);
}

/* Claims the targets waiting for SIPI (smp-spec 1.7): each starts exactly once. */
static void do_startup(struct vcpu *sender, const struct apic_ipi *ipi, const cpuset_t *targets,
		       cpuset_t *claimed)
{
	struct vm *vm = sender->vm;
	cpuset_zero(claimed);
	CPUSET_FOREACH(i, targets)
	{
		uint32_t id = (uint32_t)i;
		char why[64];
		pthread_mutex_lock(&vm->lock);
		struct vcpu_boot *b = &vm->boot[id];
		enum vcpu_state st = b->state;
		bool ok = st == VCPU_WAIT_SIPI && vcpu_set_state(vm, id, VCPU_CLAIMED) == 0;
		if (ok) {
			b->got_startup = 1;
			b->drop_state = VCPU_NSTATES;
			cpuset_set(claimed, id);
		} else {
			b->drop_state = (uint8_t)st;
			b->drop_vector = ipi->vector;
		}
		pthread_mutex_unlock(&vm->lock);
		if (ok) {
			trace_target(vm, ipi, id, true, "claimed: leaves WAIT_SIPI");
		} else {
			__atomic_add_fetch(&vm->st_startup_dropped, 1, __ATOMIC_RELAXED);
			snprintf(why, sizeof(why), "dropped: STARTUP while %s%s", vcpu_state_spec_name(st),
				 st == VCPU_POWERON ? " (no INIT before)" : "");
			trace_target(vm, ipi, id, false, why);
		}
	}
}

static void deliver_fixed(struct vm *vm, const struct apic_ipi *ipi, const cpuset_t *targets)
{
	CPUSET_FOREACH(i, targets)
	{
		struct vcpu *t = vm_vcpu_lookup(vm, (uint32_t)i);
		if (!t) {
			trace_target(vm, ipi, (uint32_t)i, false, "dropped: vCPU not allocated");
		} else if (!vlapic_set_intr(t->vlapic, ipi->vector, ipi->trigger_level)) {
			trace_target(vm, ipi, (uint32_t)i, false, "dropped: APIC software-disabled");
		} else {
			vcpu_notify(t);
			trace_target(vm, ipi, (uint32_t)i, true, "IRR set");
		}
	}
}

static void deliver_nmi(struct vm *vm, const struct apic_ipi *ipi, const cpuset_t *targets)
{
	CPUSET_FOREACH(i, targets)
	{
		struct vcpu *t = vm_vcpu_lookup(vm, (uint32_t)i);
		bool ok = false;
		if (t) {
			pthread_mutex_lock(&t->mtx);
			if (vcpu_started(vm, t->id)) {
				vcpu_queue_nmi(t);
				ok = true;
			}
			pthread_mutex_unlock(&t->mtx);
		}
		if (ok)
			vcpu_notify(t);
		trace_target(vm, ipi, (uint32_t)i, ok, ok ? "NMI pending" : "dropped: vCPU not started");
	}
}

void vcpu_icr_write(void *ctx, struct vlapic *vl, uint32_t icr_lo, uint32_t icr_hi)
{
	struct vcpu *v = ctx;
	struct vm *vm = v->vm;
	struct apic_ipi ipi;
	cpuset_t eligible, targets;

	apic_ipi_decode(&ipi, v->id, vlapic_x2apic_mode(vl), icr_lo, icr_hi);
	enum apic_ipi_verdict verdict = apic_ipi_check(&ipi);
	__atomic_add_fetch(&vm->st_ipis, 1, __ATOMIC_RELAXED);
	cpuset_zero(&targets);

	if (verdict == APIC_IPI_DELIVER) {
		pthread_mutex_lock(&vm->lock);
		/* smp-spec 2.3: INIT/STARTUP reach every configured vCPU, allocated or not. */
		eligible = (ipi.mode == APIC_DM_INIT || ipi.mode == APIC_DM_STARTUP) ? vm->configured
										      : vm->active;
		pthread_mutex_unlock(&vm->lock);
		apic_dest_resolve(&ipi, vm->addrs, vm->ncpus, __atomic_load_n(&vm->ids_moved, __ATOMIC_SEQ_CST),
			  &eligible, &targets);
	}
	if (vm->trace) {
		struct vm_trace_event ev = {.kind = VM_TRACE_IPI, .vcpu = v->id, .mode = ipi.mode,
					    .vector = ipi.vector, .shorthand = ipi.shorthand,
					    .dest = ipi.dest, .logical = ipi.logical, .x2apic = ipi.x2apic,
					    .what = apic_ipi_verdict_name(verdict), .targets = &targets};
		vm->trace(vm->trace_ctx, &ev);
	}
	switch (verdict) {
	case APIC_IPI_DELIVER:
		break;
	case APIC_IPI_ILLEGAL_VECTOR:
		vlapic_set_error(vl, APIC_ESR_SEND_ILLEGAL_VECTOR); /* SDM 10.5.3 */
		return;
	case APIC_IPI_IGNORE_DEASSERT:
		__atomic_add_fetch(&vm->st_init_ignored, 1, __ATOMIC_RELAXED);
		return;
	default:
		__atomic_add_fetch(&vm->st_ipi_ignored, 1, __ATOMIC_RELAXED);
		return;
	}

	if ((ipi.mode == APIC_DM_INIT || ipi.mode == APIC_DM_STARTUP) && cpuset_empty(&targets) &&
	    ipi.shorthand == APIC_SH_NONE) {
		pthread_mutex_lock(&vm->lock);
		vm->last_unmatched_valid = 1;
		vm->last_unmatched_dest = ipi.dest;
		vm->last_unmatched_logical = ipi.logical;
		vm->last_unmatched_mode = ipi.mode;
		pthread_mutex_unlock(&vm->lock);
	}

	switch (ipi.mode) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWPRIO:
		deliver_fixed(vm, &ipi, &targets);
		break;
	case APIC_DM_NMI:
		deliver_nmi(vm, &ipi, &targets);
		break;
	case APIC_DM_INIT:
		do_init(v, &ipi, &targets);
		if (v->ipi_exit && !cpuset_empty(&targets) && vm_suspended(vm) == VM_SUSPEND_NONE) {
			v->pending_exit = (struct vm_exit){.exitcode = VM_EXITCODE_IPI, .vcpu = v->id};
			v->pending_exit.u.ipi.mode = VM_IPI_INIT;
			v->pending_exit.u.ipi.dmask = targets;
			v->exit_pending = true;
		}
		break;
	case APIC_DM_STARTUP: {
		cpuset_t claimed;
		do_startup(v, &ipi, &targets, &claimed);
		if (cpuset_empty(&claimed))
			break;
		if (v->ipi_exit) {
			v->pending_exit = (struct vm_exit){.exitcode = VM_EXITCODE_IPI, .vcpu = v->id};
			v->pending_exit.u.ipi.mode = VM_IPI_STARTUP;
			v->pending_exit.u.ipi.vector = ipi.vector;
			v->pending_exit.u.ipi.dmask = claimed;
			v->exit_pending = true;
		} else {
			/* Legacy frontend: one SPINUP_AP per claimed AP, ascending, returned
			 * before the sender re-enters the guest (smp-spec 3). */
			cpuset_or(&v->spinup_pending, &claimed);
			v->spinup_rip = (uint64_t)ipi.vector << 12;
		}
		break;
	}
	default:
		break;
	}
}
