/* vcpu_lapic.c: what a vCPU gives its vLAPIC (the timer, the clock, the
 * TSC, the PVM window poll) and the exits that reach it (xAPIC MMIO on the
 * vCPU's own APIC page, the APIC MSRs). */
#include <errno.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/vm_priv.h"

#define MSR_IA32_TSC_DEADLINE 0x6e0

/* --- vlapic_ops callbacks --- */
void vcpu_lapic_timer_fired(void *arg)
{
	struct vcpu *v = arg;
	if (vlapic_timer_fired(v->vlapic))
		vcpu_notify(v);
}

/* KVM-PVM's interrupt-window exit is not instruction-exact: an interrupt that
 * became pending while IF=0 would wait for the vCPU's next exit after STI,
 * often milliseconds later. While a window is requested there, a host timer
 * kicks the vCPU every PVM_WINDOW_POLL_NS so the window is re-checked. On
 * VMX/SVM hosts the window exit is exact and this never arms. */
#define PVM_WINDOW_POLL_NS 100000ULL

void vcpu_window_timer_fired(void *arg)
{
	struct vcpu *v = arg;
	vcpu_notify(v);
}

void vcpu_window_poll(struct vcpu *v)
{
	if (!v->vm->pvm)
		return;
	if (v->run->request_interrupt_window) {
		vm_timer_arm(v->vm, &v->window_timer, vm_now_ns() + PVM_WINDOW_POLL_NS);
		v->window_armed = true;
	} else if (v->window_armed) {
		vm_timer_disarm(v->vm, &v->window_timer);
		v->window_armed = false;
	}
}

void vcpu_timer_arm(void *ctx, uint64_t deadline_ns)
{
	struct vcpu *v = ctx;
	vm_timer_arm(v->vm, &v->lapic_timer, deadline_ns);
}

void vcpu_timer_disarm(void *ctx)
{
	struct vcpu *v = ctx;
	vm_timer_disarm(v->vm, &v->lapic_timer);
}

uint64_t vcpu_now_ns(void *ctx)
{
	(void)ctx;
	return vm_now_ns();
}

uint64_t vcpu_guest_tsc(void *ctx)
{
	struct vcpu *v = ctx;
	return kvm_host_tsc() + (uint64_t)v->tsc_offset;
}

/* An MSR exit (KVM_EXIT_X86_RDMSR/WRMSR: IA32_APIC_BASE, IA32_TSC_DEADLINE, the
 * x2APIC range; the MSR filter sends nothing else): completes it in kvm_run. */
void vcpu_apic_msr(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	bool wr = run->exit_reason == KVM_EXIT_X86_WRMSR;
	uint32_t idx = run->msr.index;
	int r;
	if (idx == MSR_IA32_APIC_BASE) {
		if (wr) {
			uint64_t old_page = vlapic_mmio_base(v->vlapic);
			r = vlapic_set_apicbase(v->vlapic, run->msr.data);
			/* The MMIO page moves, also onto RAM (SDM 10.4.5; memslots.c). */
			if (r == 0)
				(void)vm_apic_page_moved(v->vm, v, old_page, vlapic_mmio_base(v->vlapic));
			/* KVM keeps CPUID.01H:EDX[9] in step with its own copy of
			 * IA32_APIC_BASE (kvm_lapic_set_base(), also without an
			 * in-kernel LAPIC): tell it, so that a global disable shows in
			 * CPUID (SDM 10.4.3). Its copy is set at each start from the
			 * start state (KVM_SET_SREGS), and INIT keeps the base. A
			 * failure leaves only that bit stale: not the guest's fault. */
			if (r == 0)
				(void)kvm_set_msr(v->fd, MSR_IA32_APIC_BASE, vlapic_get_apicbase(v->vlapic));
		} else {
			run->msr.data = vlapic_get_apicbase(v->vlapic);
			r = 0;
		}
	} else if (idx == MSR_IA32_TSC_DEADLINE) {
		if (wr)
			vlapic_tsc_deadline_write(v->vlapic, run->msr.data);
		else
			run->msr.data = vlapic_tsc_deadline_read(v->vlapic);
		r = 0;
	} else if (idx >= MSR_X2APIC_FIRST && idx <= MSR_X2APIC_LAST) {
		uint64_t val = run->msr.data;
		r = wr ? vlapic_wrmsr(v->vlapic, idx, val) : vlapic_rdmsr(v->vlapic, idx, &val);
		if (!wr && r == 0)
			run->msr.data = val;
	} else {
		/* MSRs KVM does not know: #GP, as on a processor without them. */
		r = -EINVAL;
	}
	run->msr.error = r ? 1 : 0;
}

/* Returns true when the access was the vCPU's own APIC page (handled here). */
bool vcpu_apic_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t base = vlapic_mmio_base(v->vlapic);
	uint64_t gpa = run->mmio.phys_addr;
	if (!base || gpa < base || gpa - base >= APIC_PAGE_SIZE)
		return false;
	uint32_t off = (uint32_t)(gpa - base);
	uint64_t val = 0;
	unsigned len = run->mmio.len <= 8 ? run->mmio.len : 8;
	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		vlapic_mmio_write(v->vlapic, off, len, val);
	} else {
		vlapic_mmio_read(v->vlapic, off, len, &val);
		memcpy(run->mmio.data, &val, len);
	}
	return true;
}
