/* vcpu_pvm.c: the memory side of the KVM-PVM instruction completions
 * (vmm/pvm.c decodes): guest linear addresses, CMPXCHG16B, LDMXCSR/STMXCSR,
 * LSL's descriptor read. Runs only where KVM_INTERNAL_ERROR_EMULATION comes
 * back for an instruction KVM-PVM cannot emulate (docs/architecture.md). */
#include <errno.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/pvm.h"
#include "vmm/vm_priv.h"

/* Guest memory behind a linear address, n bytes inside one page, or NULL. */
uint8_t *vcpu_guest_la(struct vcpu *v, uint64_t la, size_t n)
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

/* Counts a completed instruction (vm_stats.insn_completed); true. */
static bool counted(struct vcpu *v)
{
	__atomic_add_fetch(&v->vm->st_insn_completed, 1, __ATOMIC_RELAXED);
	return true;
}

/* The memory half of CMPXCHG16B for KVM-PVM (pvm.h): #GP(0) when the operand
 * is not 16-byte aligned, else the compare-exchange on guest memory. Both
 * count as completed. */
static bool complete_cmpxchg16b(struct vcpu *v, struct x86_regs *regs, const struct pvm_insn *in)
{
	if (in->la & 15)
		return kvm_inject_exception_ec(v->fd, 13, 0) == 0 && counted(v);
	uint8_t *p = vcpu_guest_la(v, in->la, 16); /* aligned: inside one page */
	if (!p)
		return false; /* not mapped: the emulation failure is reported */
	uint64_t lo = regs->rax, hi = regs->rdx;
	bool eq = host_cmpxchg16b(p, &lo, &hi, regs->rbx, regs->rcx);
	pvm_cmpxchg16b_finish(regs, in, eq, lo, hi);
	return kvm_set_regs(v->fd, regs) == 0 && counted(v);
}

/* LDMXCSR / STMXCSR for KVM-PVM (pvm.h): MXCSR lives in KVM's FPU state.
 * XXX an LDMXCSR that raises #GP(0) is handled but not counted as completed
 * (a misaligned CMPXCHG16B's #GP is): kept so that the stats do not change. */
static bool complete_mxcsr(struct vcpu *v, struct x86_regs *regs, const struct pvm_insn *in)
{
	uint8_t *p = vcpu_guest_la(v, in->la, 4);
	uint32_t val;
	if (!p)
		return false; /* unmapped or straddling a page: the failure is reported */
	if (in->kind == PVM_LDMXCSR) {
		memcpy(&val, p, 4);
		if (val & PVM_MXCSR_RESERVED) /* SDM Vol. 2A LDMXCSR: #GP(0) */
			return kvm_inject_exception_ec(v->fd, 13, 0) == 0;
		if (kvm_set_mxcsr(v->fd, val) < 0)
			return false;
	} else {
		if (kvm_get_mxcsr(v->fd, &val) < 0)
			return false;
		memcpy(p, &val, 4);
	}
	regs->rip += in->len;
	return kvm_set_regs(v->fd, regs) == 0 && counted(v);
}

/* The 8-byte descriptor selector sel names in the GDT or LDT (SDM Vol. 3A
 * 3.4.2, 3.5.1): false for a null selector, one beyond the table's limit, or
 * a table hyve cannot read. */
static bool read_descriptor(struct vcpu *v, const struct x86_sregs *s, uint16_t sel, uint64_t *desc)
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
		const uint8_t *p = vcpu_guest_la(v, la + k, n);
		if (!p)
			return false;
		memcpy(b + k, p, n);
		k += n;
	}
	memcpy(desc, b, 8);
	return true;
}

/* IRET for KVM-PVM (pvm.h): pops EIP, CS, EFLAGS from SS:ESP, and ends NMI
 * blocking as the processor does at every IRET (SDM Vol. 3A 6.7.1), so that
 * an NMI KVM holds is taken next. Only 32-bit CS and SS at CPL 0. */
static bool complete_iret32(struct vcpu *v, struct x86_regs *regs, const struct x86_sregs *s)
{
	uint32_t frame[3];
	if (!s->cs.db || !s->ss.db)
		return false; /* a 16-bit IRET: the emulation failure is reported */
	uint64_t la = s->ss.base + (uint32_t)regs->rsp;
	const uint8_t *p = vcpu_guest_la(v, la, sizeof(frame));
	if (!p)
		return false; /* unmapped or straddling a page: the failure is reported */
	memcpy(frame, p, sizeof(frame));
	if (!pvm_iret32_finish(regs, s->cs.selector, frame) || kvm_set_regs(v->fd, regs) < 0 ||
	    kvm_nmi_unblock(v->fd) < 0)
		return false;
	return counted(v);
}

/* Completes one decoded instruction (one case per kind of pvm.h) and counts
 * it; true when done. */
static bool complete(struct vcpu *v, struct x86_regs *regs, const struct x86_sregs *s, const struct pvm_insn *in)
{
	uint64_t desc = 0;
	bool found;
	switch (in->kind) {
	case PVM_REGS:
		pvm_finish_regs(regs, in);
		return kvm_set_regs(v->fd, regs) == 0 && counted(v);
	case PVM_INT3:
		pvm_finish_regs(regs, in);
		return kvm_set_regs(v->fd, regs) == 0 && kvm_inject_exception(v->fd, 3) == 0 && counted(v);
	case PVM_CMPXCHG16B:
		return complete_cmpxchg16b(v, regs, in);
	case PVM_LDMXCSR:
	case PVM_STMXCSR:
		return complete_mxcsr(v, regs, in);
	case PVM_IRET:
		return complete_iret32(v, regs, s);
	case PVM_LSL:
		found = read_descriptor(v, s, in->sel, &desc);
		pvm_lsl_finish(regs, in, found, desc, s->cs.selector & 3, s->cs.l);
		return kvm_set_regs(v->fd, regs) == 0 && counted(v);
	case PVM_UNSUPPORTED:
	default:
		return false;
	}
}

/* KVM-PVM emulates guest CPL0 code and stops with an emulation failure on
 * a few instructions; hyve completes those it can, exactly as the processor
 * would (vmm/pvm.h). On VMX/SVM hosts this path never runs. bytes: the
 * instruction bytes KVM reported with the failure (n of them), or NULL:
 * fetched here at CS.base + RIP. Returns true when the instruction was
 * completed. */
bool vcpu_complete_insn(struct vcpu *v, const uint8_t *bytes, size_t n)
{
	struct x86_regs regs;
	struct x86_sregs s;
	struct pvm_insn in;
	uint8_t insn[16];
	size_t len = 0;
	if (kvm_get_regs(v->fd, &regs) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return false;
	if (bytes) {
		len = n <= 15 ? n : 15;
		memcpy(insn, bytes, len);
	} else {
		uint64_t la = s.cs.base + regs.rip, room = 0x1000 - (la & 0xfff); /* stay inside the page */
		len = room < 15 ? (size_t)room : 15;
		const uint8_t *p = vcpu_guest_la(v, la, len);
		if (!p)
			return false;
		memcpy(insn, p, len);
	}
	pvm_decode(insn, len, s.cs.l, s.fs.base, s.gs.base, &regs, &in);
	return complete(v, &regs, &s, &in);
}
