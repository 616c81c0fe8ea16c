/* vcpu.c: the vCPU run loop: KVM_RUN, core exits (APIC, MSRs, HLT), injection, waiting, starting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm/cpuid.h"
#include "vmm/kvm.h"
#include "vmm/pvm.h"
#include "vmm/vm_priv.h"

#define MSR_IA32_TSC_DEADLINE 0x6e0

#define CR0_PE (1u << 0)
#define CR0_ET (1u << 4)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define RFLAGS_RESERVED 0x2u
#define EFER_LMA (1u << 10)
#define OP_STI 0xfb
#define OP_HLT 0xf4

/* Registers common to every start: no pending events, FPU after INIT. A vCPU
 * that never entered the guest still has the state KVM_CREATE_VCPU gave it:
 * no pending event, the FPU as kvm_set_fpu_reset() sets it (FCW 0x37f,
 * MXCSR 0x1f80, the rest 0), and special registers of which the callers set
 * all but KVM's copy of IA32_APIC_BASE (its power-on value: enabled at
 * 0xfee00000, BSP flag on vCPU 0; hyve's own is in the vLAPIC). Its first
 * start skips those three ioctls: on KVM-PVM each vCPU ioctl costs about
 * what an exit does (vcpu_load). */
static int reset_common(struct vcpu *v, struct kvm_sregs *s)
{
	int r;
	if (v->entered) {
		if ((r = kvm_get_sregs(v->fd, s)) < 0)
			return r;
	} else {
		memset(s, 0, sizeof(*s));
		s->apic_base = GMEM_LAPIC_BASE | APIC_BASE_EN | (v->id == 0 ? APIC_BASE_BSP : 0);
	}
	s->tr = (struct kvm_segment){.limit = 0xffff, .type = 11, .present = 1};
	s->ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
	s->gdt.base = s->idt.base = 0;
	s->gdt.limit = s->idt.limit = 0xffff;
	s->cr2 = s->cr3 = s->cr4 = 0;
	s->efer = 0;
	s->cr8 = 0;
	memset(s->interrupt_bitmap, 0, sizeof(s->interrupt_bitmap));
	if (!v->entered)
		return 0;
	if ((r = kvm_set_fpu_reset(v->fd)) < 0)
		return r;
	return kvm_clear_events(v->fd);
}

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

static void pvm_window_poll(struct vcpu *v)
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

/* Marks the BSP started (vm_vcpu_setup_*). */
static int bsp_started(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&v->mtx);
	pthread_mutex_lock(&vm->lock);
	int r = vcpu_set_state(vm, v->id, VCPU_RUNNING);
	if (r == 0) {
		v->started = true;
		if (!vm->boot[v->id].ran)
			vm->nstarted++;
		vm->boot[v->id].ran = 1;
		cpuset_set(&vm->active, v->id);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
	return r;
}

static struct kvm_segment to_kvm_seg(const struct vm_segment *g)
{
	return (struct kvm_segment){.base = g->base, .limit = g->limit, .selector = g->selector,
				    .type = g->type, .present = g->present, .dpl = g->dpl, .db = g->db,
				    .s = g->s, .l = g->l, .g = g->g};
}

int vm_vcpu_setup_boot(struct vcpu *v, const struct vm_boot_cpu *st)
{
	struct kvm_sregs s;
	int r = reset_common(v, &s);
	if (r < 0)
		return r;
	s.cs = to_kvm_seg(&st->cs);
	s.ds = s.es = s.fs = s.gs = s.ss = to_kvm_seg(&st->ds);
	if (st->tr.present)
		s.tr = to_kvm_seg(&st->tr);
	s.gdt.base = st->gdt_base;
	s.gdt.limit = st->gdt_limit;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = st->cr0;
	s.cr3 = st->cr3;
	s.cr4 = st->cr4;
	s.efer = st->efer;
	if ((r = kvm_set_sregs(v->fd, &s)) < 0)
		return r;
	struct kvm_regs regs = {.rip = st->rip, .rax = st->rax, .rbx = st->rbx, .rsi = st->rsi,
				.rflags = st->rflags ? st->rflags : RFLAGS_RESERVED};
	if ((r = kvm_set_regs(v->fd, &regs)) < 0)
		return r;
	return bsp_started(v);
}

/* Real-mode start after STARTUP (SDM 8.4.3, table 9-1): CS.selector = vector << 8,
 * CS.base = vector << 12, IP = 0. Own thread. */
static int apply_start(struct vcpu *v, uint64_t rip)
{
	struct kvm_sregs s;
	int r;
	if (v->io_pending) {
		/* Let KVM finish the last I/O/MMIO/MSR exit without running guest code
		 * before the registers are replaced (api.rst, kvm_run.immediate_exit). */
		v->run->immediate_exit = 1;
		v->entered = true;
		r = kvm_vcpu_run(v->fd);
		v->run->immediate_exit = 0;
		v->io_pending = false;
		if (r < 0 && r != -EINTR)
			return r;
	}
	if ((r = reset_common(v, &s)) < 0)
		return r;
	s.cs = (struct kvm_segment){.base = rip, .limit = 0xffff,
				    .selector = (uint16_t)(rip >> 4), .type = 0xb, .present = 1, .s = 1};
	struct kvm_segment data = {.limit = 0xffff, .type = 3, .present = 1, .s = 1};
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.cr0 = CR0_CD | CR0_NW | CR0_ET;
	if ((r = kvm_set_sregs(v->fd, &s)) < 0)
		return r;
	struct kvm_cpuid_entry2 *l1 = cpuid_find(v->vm->cpuid->entries, v->vm->cpuid->nent, 1, 0);
	struct kvm_regs regs = {.rip = 0, .rflags = RFLAGS_RESERVED, .rdx = l1 ? l1->eax : 0x600};
	if ((r = kvm_set_regs(v->fd, &regs)) < 0)
		return r;
	v->run->request_interrupt_window = 0;
	v->run->ready_for_interrupt_injection = 0;
	v->if_flag = false;
	return 0;
}

int vm_vcpu_start_ap(struct vm *vm, uint32_t vcpuid, uint64_t rip)
{
	struct vcpu *v = vm_vcpu_lookup(vm, vcpuid);
	if (!v)
		return -ENOENT;
	int r = 0;
	pthread_mutex_lock(&v->mtx);
	pthread_mutex_lock(&vm->lock);
	if (vm->boot[vcpuid].state != VCPU_RUNNING || v->started || v->start_pending) {
		r = -EBUSY; /* an INIT came in between, or it was started already */
	} else {
		v->start_pending = true;
		v->start_rip = rip;
		cpuset_set(&vm->active, vcpuid);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
	if (r == 0)
		vcpu_notify(v);
	return r;
}

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
		if (vm_suspended(vm) != VM_SUSPEND_NONE)
			break;
		if (v->rv_pending) {
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			vm_rendezvous_serve(v);
			return WAIT_AGAIN;
		}
		pthread_mutex_lock(&vm->lock);
		enum vcpu_state st = vm->boot[v->id].state;
		if (st == VCPU_RUNNING && v->started) {
			pthread_mutex_unlock(&vm->lock);
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			return WAIT_RUN;
		}
		if (st == VCPU_RUNNING && v->start_pending) {
			uint64_t rip = v->start_rip;
			v->start_pending = false;
			v->started = true;
			if (!vm->boot[v->id].ran)
				vm->nstarted++;
			vm->boot[v->id].ran = 1;
			pthread_mutex_unlock(&vm->lock);
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			*err = apply_start(v, rip);
			return *err ? WAIT_ERROR : WAIT_AGAIN;
		}
		if (st == VCPU_HALTED &&
		    (v->nmi_pending ||
		     (v->if_flag && (vlapic_pending_intr(v->vlapic) >= 0 || vcpu_extint_pending(v))))) {
			if (!v->if_flag)
				vm->nhalted_noif--;
			vcpu_set_state(vm, v->id, VCPU_RUNNING);
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
	bool nmi = v->nmi_pending;
	v->nmi_pending = false;
	pthread_mutex_unlock(&v->mtx);
	if (nmi && (r = kvm_inject_nmi(v->fd)) < 0)
		return r;
	run->request_interrupt_window = 0;
	if (vcpu_extint_pending(v)) {
		/* ExtINT bypasses the APIC's priority logic (SDM 10.5.1): the 8259
		 * gives the vector on the INTA cycle, taken only when we can inject. */
		if (!run->ready_for_interrupt_injection) {
			run->request_interrupt_window = 1;
			run->cr8 = vlapic_get_cr8(v->vlapic);
			return 0;
		}
		uint8_t ev = v->vm->pic_ops->intack(v->vm->pic_ctx);
		if ((r = kvm_inject_irq(v->fd, ev)) < 0)
			return r;
		run->ready_for_interrupt_injection = 0;
		if (vcpu_extint_pending(v) || vlapic_pending_intr(v->vlapic) >= 0)
			run->request_interrupt_window = 1;
		run->cr8 = vlapic_get_cr8(v->vlapic);
		return 0;
	}
	int vec = vlapic_pending_intr(v->vlapic);
	if (vec >= 0) {
		if (run->ready_for_interrupt_injection) {
			if ((r = kvm_inject_irq(v->fd, (uint8_t)vec)) < 0)
				return r;
			vlapic_intr_accepted(v->vlapic, (uint8_t)vec);
			run->ready_for_interrupt_injection = 0; /* one per entry */
			vec = vlapic_pending_intr(v->vlapic);
		}
		if (vec >= 0)
			run->request_interrupt_window = 1;
	}
	run->cr8 = vlapic_get_cr8(v->vlapic);
	return 0;
}

static void handle_msr(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	bool wr = run->exit_reason == KVM_EXIT_X86_WRMSR;
	uint32_t idx = run->msr.index;
	int r;
	if (idx == MSR_IA32_APIC_BASE) {
		if (wr) {
			r = vlapic_set_apicbase(v->vlapic, run->msr.data);
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
static bool handle_apic_mmio(struct vcpu *v)
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

/* Guest memory behind a linear address, n bytes inside one page, or NULL. */
static uint8_t *guest_la(struct vcpu *v, uint64_t la, size_t n)
{
	uint64_t gpa;
	if ((la & 0xfff) + n > 0x1000 || kvm_translate(v->fd, la, &gpa) < 0)
		return NULL;
	return gmem_ptr(&v->vm->mem, gpa, n);
}

/* LOCK CMPXCHG16B on the host: atomic against the other vCPUs' accesses to
 * the same guest memory, whatever prefix the guest used (SDM Vol. 2A). */
static bool host_cmpxchg16b(void *p, uint64_t *lo, uint64_t *hi, uint64_t new_lo, uint64_t new_hi)
{
	bool eq;
	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(eq), "+m"(*(unsigned __int128 *)p), "+a"(*lo), "+d"(*hi)
			 : "b"(new_lo), "c"(new_hi)
			 : "memory");
	return eq;
}

/* The memory half of CMPXCHG16B for KVM-PVM (pvm.h): #GP(0) when the operand
 * is not 16-byte aligned, else the compare-exchange on guest memory. */
static bool complete_cmpxchg16b(struct vcpu *v, struct kvm_regs *regs, const struct pvm_mem_op *op)
{
	if (op->la & 15) {
		if (kvm_inject_exception_ec(v->fd, 13, 0) < 0)
			return false;
	} else {
		uint8_t *p = guest_la(v, op->la, 16); /* aligned: inside one page */
		if (!p)
			return false; /* not mapped: the emulation failure is reported */
		uint64_t lo = regs->rax, hi = regs->rdx;
		bool eq = host_cmpxchg16b(p, &lo, &hi, regs->rbx, regs->rcx);
		pvm_cmpxchg16b_finish(regs, op, eq, lo, hi);
		if (kvm_set_regs(v->fd, regs) < 0)
			return false;
	}
	__atomic_add_fetch(&v->vm->st_insn_completed, 1, __ATOMIC_RELAXED);
	return true;
}

/* LDMXCSR / STMXCSR for KVM-PVM (pvm.h): MXCSR lives in KVM's FPU state. */
static bool complete_mxcsr(struct vcpu *v, struct kvm_regs *regs, const struct pvm_mem_op *op, int kind)
{
	struct kvm_fpu fpu;
	uint8_t *p = guest_la(v, op->la, 4);
	uint32_t val;
	if (!p || kvm_get_fpu(v->fd, &fpu) < 0)
		return false; /* unmapped or straddling a page: the failure is reported */
	if (kind == PVM_LDMXCSR) {
		memcpy(&val, p, 4);
		if (val & PVM_MXCSR_RESERVED) /* SDM Vol. 2A LDMXCSR: #GP(0) */
			return kvm_inject_exception_ec(v->fd, 13, 0) == 0;
		fpu.mxcsr = val;
		if (kvm_set_fpu(v->fd, &fpu) < 0)
			return false;
	} else {
		val = fpu.mxcsr;
		memcpy(p, &val, 4);
	}
	regs->rip += op->len;
	if (kvm_set_regs(v->fd, regs) < 0)
		return false;
	__atomic_add_fetch(&v->vm->st_insn_completed, 1, __ATOMIC_RELAXED);
	return true;
}

/* The 8-byte descriptor selector sel names in the GDT or LDT (SDM Vol. 3A
 * 3.4.2, 3.5.1): false for a null selector, one beyond the table's limit, or
 * a table hyve cannot read. */
static bool read_descriptor(struct vcpu *v, const struct kvm_sregs *s, uint16_t sel, uint64_t *desc)
{
	bool ldt = sel & 4;
	uint64_t base = ldt ? s->ldt.base : s->gdt.base;
	uint32_t limit = ldt ? s->ldt.limit : s->gdt.limit;
	if ((!ldt && (sel & ~7u) == 0) || (ldt && (s->ldt.unusable || !s->ldt.present)))
		return false;
	uint32_t off = sel & ~7u;
	if (off + 7 > limit)
		return false;
	uint64_t la = base + off;
	uint8_t b[8];
	for (unsigned k = 0; k < 8;) { /* one piece per page: the entry may straddle two */
		unsigned n = 0x1000 - ((la + k) & 0xfff);
		if (n > 8 - k)
			n = 8 - k;
		const uint8_t *p = guest_la(v, la + k, n);
		if (!p)
			return false;
		memcpy(b + k, p, n);
		k += n;
	}
	memcpy(desc, b, 8);
	return true;
}

/* KVM-PVM emulates guest CPL0 code and stops with an emulation failure on
 * a few instructions; hyve completes those it can, exactly as the processor
 * would (vmm/pvm.h). On VMX/SVM hosts this path never runs. Returns true when
 * the instruction was completed. */
static bool complete_insn(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	struct kvm_sregs s;
	uint8_t insn[16];
	size_t len = 0;
	if (kvm_get_regs(v->fd, &regs) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return false;
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		len = run->emulation_failure.insn_size <= 15 ? run->emulation_failure.insn_size : 15;
		memcpy(insn, run->emulation_failure.insn_bytes, len);
	} else {
		uint64_t la = s.cs.base + regs.rip, room = 0x1000 - (la & 0xfff); /* stay inside the page */
		len = room < 15 ? (size_t)room : 15;
		const uint8_t *p = guest_la(v, la, len);
		if (!p)
			return false;
		memcpy(insn, p, len);
	}
	enum pvm_result r = pvm_complete(insn, len, s.cs.l, &regs);
	struct pvm_mem_op op;
	if (r == PVM_UNSUPPORTED && pvm_decode_cmpxchg16b(insn, len, s.cs.l, &regs, s.fs.base, s.gs.base, &op))
		return complete_cmpxchg16b(v, &regs, &op);
	int mx = r == PVM_UNSUPPORTED ? pvm_decode_mxcsr(insn, len, s.cs.l, &regs, s.fs.base, s.gs.base, &op) : 0;
	if (mx)
		return complete_mxcsr(v, &regs, &op, mx);
	struct pvm_lsl_op lsl;
	if (r == PVM_UNSUPPORTED && pvm_decode_lsl(insn, len, s.cs.l, &regs, &lsl)) {
		uint64_t desc = 0;
		bool found = read_descriptor(v, &s, lsl.sel, &desc);
		pvm_lsl_finish(&regs, &lsl, found, desc, s.cs.selector & 3, s.cs.l);
		r = PVM_DONE;
	}
	if (r == PVM_UNSUPPORTED || kvm_set_regs(v->fd, &regs) < 0)
		return false;
	if (r == PVM_INJECT_BP && kvm_inject_exception(v->fd, 3) < 0)
		return false;
	__atomic_add_fetch(&v->vm->st_insn_completed, 1, __ATOMIC_RELAXED);
	return true;
}

bool vm_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

const char *vm_host_kvm_kind(void)
{
	if (vm_host_is_pvm())
		return "KVM-PVM (kvm_pvm)";
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return "KVM on AMD SVM (kvm_amd)";
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return "KVM on Intel VMX (kvm_intel)";
	return "KVM (no kvm_amd, kvm_intel or kvm_pvm module seen)";
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
	struct kvm_regs r;
	struct kvm_sregs s;
	if (!v->if_flag || kvm_get_regs(v->fd, &r) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return false;
	if ((s.cr0 & CR0_PE) && s.ss.dpl != 0)
		return false;
	uint64_t la = s.cs.base + r.rip;
	if (!((s.efer & EFER_LMA) && s.cs.l))
		la &= 0xffffffffu;
	/* Byte by byte: the STI may end the page before the HLT's. */
	const uint8_t *hlt = guest_la(v, la, 1), *sti = guest_la(v, la - 1, 1);
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
	vcpu_set_state(vm, v->id, VCPU_HALTED);
	if (!v->if_flag)
		vm->nhalted_noif++;
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
	vcpu_set_state(vm, v->id, VCPU_STOPPED);
	pthread_mutex_unlock(&vm->lock);
	*ex = (struct vm_exit){.exitcode = VM_EXITCODE_SUSPENDED, .vcpu = v->id};
	ex->u.suspended.how = vm_suspended(vm);
	return 0;
}

int vm_run(struct vcpu *v, struct vm_exit *ex)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	int r = 0;

	if (!v->attached)
		vm_rendezvous_attach(v);
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
		enum wait_result w = wait_runnable(v, &r);
		if (w == WAIT_ERROR)
			return r;
		if (w == WAIT_AGAIN)
			continue;
		if ((r = inject(v)) < 0)
			return r;
		pvm_window_poll(v);

		__atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
		v->entered = true;
		r = kvm_vcpu_run(v->fd);
		__atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		v->io_pending = false;
		vlapic_set_cr8(v->vlapic, (uint8_t)run->cr8);
		v->if_flag = run->if_flag;
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;

		ex->vcpu = v->id;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			v->io_pending = true;
			ex->exitcode = VM_EXITCODE_INOUT;
			ex->rip = 0;
			ex->u.inout.port = run->io.port;
			ex->u.inout.size = run->io.size;
			ex->u.inout.in = run->io.direction == KVM_EXIT_IO_IN;
			ex->u.inout.count = run->io.count;
			ex->u.inout.data = (uint8_t *)run + run->io.data_offset;
			return 0;
		case KVM_EXIT_MMIO:
			v->io_pending = true;
			if (handle_apic_mmio(v) ||
			    vm_ioapic_mmio(vm, run->mmio.phys_addr, run->mmio.len, run->mmio.is_write,
					   run->mmio.data))
				continue;
			ex->exitcode = VM_EXITCODE_MMIO;
			ex->u.mmio.gpa = run->mmio.phys_addr;
			ex->u.mmio.len = run->mmio.len <= 8 ? (uint8_t)run->mmio.len : 8;
			ex->u.mmio.is_write = run->mmio.is_write;
			ex->u.mmio.data = run->mmio.data;
			return 0;
		case KVM_EXIT_X86_RDMSR:
		case KVM_EXIT_X86_WRMSR:
			v->io_pending = true;
			handle_msr(v);
			continue;
		case KVM_EXIT_HLT:
			halt(v);
			continue;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			if (window_on_sti_hlt(v))
				halt(v);
			continue;
		case KVM_EXIT_SET_TPR:
		case KVM_EXIT_INTR:
			continue;
		case KVM_EXIT_SHUTDOWN:
			ex->exitcode = VM_EXITCODE_TRIPLE_FAULT;
			return 0;
		case KVM_EXIT_INTERNAL_ERROR:
			if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && complete_insn(v))
				continue;
			ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
			ex->u.internal.kvm_exit_reason = run->exit_reason;
			ex->u.internal.suberror = run->internal.suberror;
			ex->u.internal.ndata = run->internal.ndata < 4 ? run->internal.ndata : 4;
			for (unsigned i = 0; i < ex->u.internal.ndata; i++)
				ex->u.internal.data[i] = run->internal.data[i];
			return 0;
		case KVM_EXIT_FAIL_ENTRY:
			ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
			ex->u.internal.kvm_exit_reason = run->exit_reason;
			ex->u.internal.ndata = 1;
			ex->u.internal.data[0] = run->fail_entry.hardware_entry_failure_reason;
			return 0;
		default:
			ex->exitcode = VM_EXITCODE_INTERNAL_ERROR;
			ex->u.internal.kvm_exit_reason = run->exit_reason;
			ex->u.internal.ndata = 0;
			return 0;
		}
	}
}

int vm_vcpu_dump(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	int e;
	if ((e = kvm_get_regs(v->fd, &r)) < 0 || (e = kvm_get_sregs(v->fd, &s)) < 0)
		return e;
	snprintf(buf, len,
		 "vCPU %u: rip=%016llx rflags=%016llx\n"
		 "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		 "  rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx\n"
		 "  cs=%04x base=%llx limit=%x  ss=%04x  ds=%04x\n"
		 "  cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx\n"
		 "  gdt=%llx/%x idt=%llx/%x",
		 v->id, (unsigned long long)r.rip, (unsigned long long)r.rflags,
		 (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
		 (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
		 (unsigned long long)r.rsp, (unsigned long long)r.rbp, s.cs.selector,
		 (unsigned long long)s.cs.base, s.cs.limit, s.ss.selector, s.ds.selector,
		 (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
		 (unsigned long long)s.cr4, (unsigned long long)s.efer, (unsigned long long)s.gdt.base,
		 s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
	return 0;
}
