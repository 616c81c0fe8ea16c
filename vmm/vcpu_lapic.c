/* vcpu_lapic.c: what a vCPU gives its vLAPIC (the timer, the clock, the
 * TSC, the PVM window poll) and the exits that reach it (xAPIC MMIO on the
 * vCPU's own APIC page, the APIC MSRs). */
#include <errno.h>
#include <string.h>

#include "vmm/vm_priv.h"
#include "vmm/x86_regs.h"

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

void vcpu_window_poll(struct vcpu *v, bool window_requested)
{
	if (!v->vm->pvm)
		return;
	if (window_requested) {
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
	return x86_rdtsc() + (uint64_t)v->tsc_offset;
}

/* KVM's paravirtual EOI (Linux Documentation/virt/kvm/x86/msr.rst and
 * cpuid.rst, KVM_FEATURE_PV_EOI): the guest names a 4-byte-aligned word of
 * its RAM; bit 0 of its first byte set by the hypervisor means "the highest
 * interrupt in service needs no EOI write: clear this bit instead". KVM does
 * this only for its in-kernel LAPIC; hyve does it for its own, with KVM's
 * rules (vlapic_pv_eoi_vector) and its MSR semantics (lapic.c,
 * kvm_lapic_set_pv_eoi: a misaligned address or one outside RAM is #GP; a
 * write with bit 0 clear turns it off). The flag is touched only by the
 * owner thread while the vCPU is out of the guest, as on KVM. */
#define KVM_MSR_ENABLED 1ull
#define PV_EOI_PENDING 1u

static int pv_eoi_msr(struct vcpu *v, bool wr, uint64_t *data)
{
	if (!wr) {
		*data = v->pv_eoi_msr;
		return 0;
	}
	uint64_t gpa = *data & ~KVM_MSR_ENABLED;
	uint8_t *flag = NULL;
	if (gpa & 3)
		return -EINVAL;
	if ((*data & KVM_MSR_ENABLED) && !(flag = gmem_ptr(&v->vm->mem, gpa, 4)))
		return -EINVAL;
	vcpu_pv_eoi_sync(v); /* a flag set for the old word is settled first */
	v->pv_eoi_msr = *data;
	v->pv_eoi_flag = flag;
	return 0;
}

void vcpu_pv_eoi_sync(struct vcpu *v)
{
	if (!v->pv_eoi_vec)
		return;
	uint8_t vec = v->pv_eoi_vec, f = __atomic_load_n(v->pv_eoi_flag, __ATOMIC_RELAXED);
	v->pv_eoi_vec = 0;
	if (f & PV_EOI_PENDING) {
		/* Not ended yet: the guest writes EOI unless the next entry sets
		 * the flag again. */
		__atomic_store_n(v->pv_eoi_flag, (uint8_t)(f & ~PV_EOI_PENDING), __ATOMIC_RELAXED);
		return;
	}
	vlapic_pv_eoi(v->vlapic, vec);
	owner_count(&v->pv_eoi);
}

void vcpu_pv_eoi_arm(struct vcpu *v)
{
	if (!v->pv_eoi_flag)
		return;
	int vec = vlapic_pv_eoi_vector(v->vlapic);
	if (vec < 0)
		return;
	uint8_t f = __atomic_load_n(v->pv_eoi_flag, __ATOMIC_RELAXED);
	__atomic_store_n(v->pv_eoi_flag, (uint8_t)(f | PV_EOI_PENDING), __ATOMIC_RELAXED);
	v->pv_eoi_vec = (uint8_t)vec;
}

/* An MSR exit (KVM_EXIT_X86_RDMSR/WRMSR: IA32_APIC_BASE, IA32_TSC_DEADLINE, the
 * x2APIC range, MSR_KVM_PV_EOI_EN; the MSR filter sends nothing else). */
int vcpu_apic_msr(struct vcpu *v, bool wr, uint32_t idx, uint64_t *data)
{
	int r;
	if (idx == MSR_IA32_APIC_BASE) {
		if (wr) {
			/* The run loop's on_msr() moves the MMIO page and tells KVM
			 * (vcpu.c: both need the backend). */
			r = vlapic_set_apicbase(v->vlapic, *data);
		} else {
			*data = vlapic_get_apicbase(v->vlapic);
			r = 0;
		}
	} else if (idx == MSR_IA32_TSC_DEADLINE) {
		if (wr)
			vlapic_tsc_deadline_write(v->vlapic, *data);
		else
			*data = vlapic_tsc_deadline_read(v->vlapic);
		r = 0;
	} else if (idx == MSR_KVM_PV_EOI_EN) {
		r = pv_eoi_msr(v, wr, data);
	} else if (idx >= MSR_X2APIC_FIRST && idx <= MSR_X2APIC_LAST) {
		uint64_t val = *data;
		r = wr ? vlapic_wrmsr(v->vlapic, idx, val) : vlapic_rdmsr(v->vlapic, idx, &val);
		if (!wr && r == 0)
			*data = val;
	} else {
		/* MSRs KVM does not know: #GP, as on a processor without them. */
		r = -EINVAL;
	}
	return r ? 1 : 0;
}

bool vcpu_apic_offset(struct vcpu *v, uint64_t gpa, uint32_t *off)
{
	uint64_t base = vlapic_mmio_base(v->vlapic);
	if (!base || gpa < base || gpa - base >= APIC_PAGE_SIZE)
		return false;
	*off = (uint32_t)(gpa - base);
	return true;
}

/* Returns true when the access was the vCPU's own APIC page (handled here). */
bool vcpu_apic_mmio(struct vcpu *v, uint64_t gpa, unsigned len, bool is_write, uint8_t *data)
{
	uint32_t off;
	if (!vcpu_apic_offset(v, gpa, &off))
		return false;
	uint64_t val = 0;
	if (len > 8)
		len = 8;
	if (is_write) {
		memcpy(&val, data, len);
		vlapic_mmio_write(v->vlapic, off, len, val);
	} else {
		vlapic_mmio_read(v->vlapic, off, len, &val);
		memcpy(data, &val, len);
	}
	return true;
}
