/* pvm.c: completes int3, FWAIT, CLAC/STAC, POPCNT, LZCNT, TZCNT and CMPXCHG16B, LSL, LDMXCSR/STMXCSR for KVM-PVM hosts (see pvm.h). */
#include "vmm/pvm.h"

#define RFLAGS_CF (1u << 0)
#define RFLAGS_PF (1u << 2)
#define RFLAGS_AF (1u << 4)
#define RFLAGS_ZF (1u << 6)
#define RFLAGS_SF (1u << 7)
#define RFLAGS_OF (1u << 11)
#define RFLAGS_AC (1u << 18)

/* General-purpose register by its x86 encoding (SDM Vol. 2A 2.1.5, table 2-2). */
static __u64 *gpr(struct kvm_regs *r, unsigned n)
{
	__u64 *map[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
			     &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
	return map[n & 15];
}

static uint64_t gpr_value(const struct kvm_regs *r, unsigned n)
{
	const __u64 map[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
			       r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
	return map[n & 15];
}

enum pvm_result pvm_complete(const uint8_t *insn, size_t len, bool long_mode, struct kvm_regs *regs)
{
	size_t i = 0;
	bool opsize16 = false, rep = false;
	unsigned rex = 0;
	if (len >= 1 && insn[0] == 0xcc) {
		regs->rip += 1; /* INT3 is a trap: the pushed RIP is the next instruction */
		return PVM_INJECT_BP;
	}
	if (len >= 1 && insn[0] == 0x9b) {
		/* FWAIT: checks for pending unmasked x87 exceptions. The guest's x87
		 * state lives in KVM, which did not fault it: none is pending, so it
		 * completes as a no-op (SDM Vol. 2A WAIT/FWAIT). */
		regs->rip += 1;
		return PVM_DONE;
	}
	/* Legacy prefixes, then an optional REX (which must come last). */
	for (; i < len && i < 14; i++) {
		if (insn[i] == 0x66)
			opsize16 = true;
		else if (insn[i] == 0xf3)
			rep = true;
		else if (insn[i] == 0x2e || insn[i] == 0x3e || insn[i] == 0x26 || insn[i] == 0x36 ||
			 insn[i] == 0x64 || insn[i] == 0x65)
			continue; /* segment overrides: no effect on register forms */
		else
			break;
	}
	if (long_mode && i < len && (insn[i] & 0xf0) == 0x40)
		rex = insn[i++];
	/* CLAC / STAC (0F 01 CA / CB, SDM Vol. 2A): clear / set RFLAGS.AC (SMAP). */
	if (!rep && i + 3 <= len && insn[i] == 0x0f && insn[i + 1] == 0x01 &&
	    (insn[i + 2] == 0xca || insn[i + 2] == 0xcb)) {
		if (insn[i + 2] == 0xca)
			regs->rflags &= ~(uint64_t)RFLAGS_AC;
		else
			regs->rflags |= RFLAGS_AC;
		regs->rip += i + 3;
		return PVM_DONE;
	}
	if (!rep || i + 3 > len || insn[i] != 0x0f)
		return PVM_UNSUPPORTED;
	uint8_t op = insn[i + 1], modrm = insn[i + 2];
	if ((op != 0xb8 && op != 0xbc && op != 0xbd) || (modrm >> 6) != 3)
		return PVM_UNSUPPORTED; /* only POPCNT/TZCNT/LZCNT with a register source */
	unsigned bits = (rex & 8) ? 64 : opsize16 ? 16 : 32;
	unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	unsigned rm = (modrm & 7) | ((rex & 1) ? 8 : 0);
	uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
	uint64_t src = *gpr(regs, rm) & mask, res;
	uint64_t fl = regs->rflags;
	switch (op) {
	case 0xb8: /* POPCNT: ZF = (src == 0), CF/OF/SF/AF/PF cleared */
		res = (uint64_t)__builtin_popcountll(src);
		fl &= ~(uint64_t)(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
		if (!src)
			fl |= RFLAGS_ZF;
		break;
	case 0xbc: /* TZCNT: CF = (src == 0), ZF = (result == 0) */
		res = src ? (uint64_t)__builtin_ctzll(src) : bits;
		goto cnt_flags;
	default: /* 0xbd LZCNT */
		res = src ? (uint64_t)(__builtin_clzll(src) - (64 - bits)) : bits;
	cnt_flags:
		fl &= ~(uint64_t)(RFLAGS_CF | RFLAGS_ZF);
		if (!src)
			fl |= RFLAGS_CF;
		if (!res)
			fl |= RFLAGS_ZF;
		break;
	}
	__u64 *d = gpr(regs, reg);
	if (bits == 16)
		*d = (*d & ~0xffffULL) | (res & 0xffff); /* 16-bit writes keep bits 63:16 */
	else
		*d = res; /* 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1) */
	regs->rflags = fl;
	regs->rip += i + 3;
	return PVM_DONE;
}

/* Prefixes, REX, a two-byte opcode 0F op2 and a ModRM memory operand in
 * 64-bit mode (SDM Vol. 2A 2.1, 2.2.1, tables 2-2 and 2-3). Fills op (linear
 * address, length), *rex, *reg (ModRM.reg) and *plain (no 66/F2/F3 prefix).
 * False for anything else, a register operand included. */
static bool decode_mem(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
		       uint64_t fs_base, uint64_t gs_base, uint8_t op2, struct pvm_mem_op *op, unsigned *rex_out,
		       unsigned *reg, bool *plain)
{
	size_t i = 0;
	bool addr32 = false;
	uint64_t seg = 0;
	unsigned rex = 0;
	*plain = true;
	if (!long_mode)
		return false;
	for (; i < len && i < 14; i++) {
		if (insn[i] == 0xf0 || insn[i] == 0x2e || insn[i] == 0x3e || insn[i] == 0x26 || insn[i] == 0x36)
			continue; /* LOCK; CS/DS/ES/SS overrides are flat in 64-bit mode */
		else if (insn[i] == 0x64)
			seg = fs_base;
		else if (insn[i] == 0x65)
			seg = gs_base;
		else if (insn[i] == 0x67)
			addr32 = true;
		else if (insn[i] == 0x66 || insn[i] == 0xf2 || insn[i] == 0xf3)
			*plain = false;
		else
			break;
	}
	if (i < len && (insn[i] & 0xf0) == 0x40)
		rex = insn[i++];
	if (i + 3 > len || insn[i] != 0x0f || insn[i + 1] != op2)
		return false;
	uint8_t modrm = insn[i + 2];
	unsigned mod = modrm >> 6, rm = modrm & 7;
	if (mod == 3)
		return false;
	*reg = (modrm >> 3) & 7;
	*rex_out = rex;
	i += 3;
	uint64_t ea = 0;
	bool rip_rel = false;
	if (rm == 4) {
		if (i >= len)
			return false;
		uint8_t sib = insn[i++];
		unsigned scale = sib >> 6, index = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
		unsigned base = (sib & 7) | ((rex & 1) ? 8 : 0);
		if (index != 4)
			ea += gpr_value(regs, index) << scale;
		if ((base & 7) == 5 && mod == 0)
			mod = 2; /* no base register: a disp32 follows (read below) */
		else
			ea += gpr_value(regs, base);
	} else if (rm == 5 && mod == 0) {
		rip_rel = true;
		mod = 2;
	} else {
		ea += gpr_value(regs, rm | ((rex & 1) ? 8 : 0));
	}
	if (mod == 1) {
		if (i + 1 > len)
			return false;
		ea += (uint64_t)(int64_t)(int8_t)insn[i++];
	} else if (mod == 2) {
		if (i + 4 > len)
			return false;
		int32_t d;
		__builtin_memcpy(&d, insn + i, 4);
		ea += (uint64_t)(int64_t)d;
		i += 4;
	}
	if (rip_rel)
		ea += regs->rip + i; /* relative to the next instruction */
	if (addr32)
		ea &= 0xffffffffULL;
	op->la = seg + ea;
	op->len = i;
	return true;
}

bool pvm_decode_cmpxchg16b(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
			   uint64_t fs_base, uint64_t gs_base, struct pvm_mem_op *op)
{
	unsigned rex, reg;
	bool plain;
	return decode_mem(insn, len, long_mode, regs, fs_base, gs_base, 0xc7, op, &rex, &reg, &plain) &&
	       (rex & 8) && reg == 1 && plain;
}

int pvm_decode_mxcsr(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
		     uint64_t fs_base, uint64_t gs_base, struct pvm_mem_op *op)
{
	unsigned rex, reg;
	bool plain;
	if (!decode_mem(insn, len, long_mode, regs, fs_base, gs_base, 0xae, op, &rex, &reg, &plain) || !plain)
		return 0;
	return reg == 2 ? PVM_LDMXCSR : reg == 3 ? PVM_STMXCSR : 0;
}

void pvm_cmpxchg16b_finish(struct kvm_regs *regs, const struct pvm_mem_op *op, bool equal, uint64_t old_lo,
			   uint64_t old_hi)
{
	if (equal) {
		regs->rflags |= RFLAGS_ZF;
	} else {
		regs->rflags &= ~(uint64_t)RFLAGS_ZF;
		regs->rax = old_lo;
		regs->rdx = old_hi;
	}
	regs->rip += op->len;
}

bool pvm_decode_lsl(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
		    struct pvm_lsl_op *op)
{
	size_t i = 0;
	bool opsize16 = false;
	unsigned rex = 0;
	for (; i < len && i < 14; i++) {
		if (insn[i] == 0x66)
			opsize16 = true;
		else if (insn[i] == 0x2e || insn[i] == 0x3e || insn[i] == 0x26 || insn[i] == 0x36 ||
			 insn[i] == 0x64 || insn[i] == 0x65)
			continue;
		else
			break;
	}
	if (long_mode && i < len && (insn[i] & 0xf0) == 0x40)
		rex = insn[i++];
	if (i + 3 > len || insn[i] != 0x0f || insn[i + 1] != 0x03 || (insn[i + 2] >> 6) != 3)
		return false;
	uint8_t modrm = insn[i + 2];
	op->sel = (uint16_t)gpr_value(regs, (modrm & 7) | ((rex & 1) ? 8 : 0));
	op->dst = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	op->bits = (rex & 8) ? 64 : opsize16 ? 16 : 32;
	op->len = i + 3;
	return true;
}

void pvm_lsl_finish(struct kvm_regs *regs, const struct pvm_lsl_op *op, bool found, uint64_t desc, unsigned cpl,
		    bool long_mode)
{
	bool ok = found;
	if (ok) {
		unsigned type = (desc >> 40) & 0xf, dpl = (desc >> 45) & 3, rpl = op->sel & 3;
		bool s = (desc >> 44) & 1;
		if (s) {
			/* Code or data: conforming code (type 11x1... C bit with code) skips the privilege check. */
			bool conforming = (type & 0xc) == 0xc;
			if (!conforming && (dpl < cpl || dpl < rpl))
				ok = false;
		} else {
			/* System: LDT and available/busy TSS; 16-bit TSSs only outside IA-32e mode (SDM LSL table). */
			bool valid = type == 2 || type == 9 || type == 11 || (!long_mode && (type == 1 || type == 3));
			if (!valid || dpl < cpl || dpl < rpl)
				ok = false;
		}
	}
	if (!ok) {
		regs->rflags &= ~(uint64_t)RFLAGS_ZF;
	} else {
		uint64_t limit = (desc & 0xffff) | (((desc >> 48) & 0xf) << 16);
		if ((desc >> 55) & 1)
			limit = (limit << 12) | 0xfff; /* G: 4 KiB granularity */
		__u64 *d = gpr(regs, op->dst);
		if (op->bits == 16)
			*d = (*d & ~0xffffULL) | (limit & 0xffff);
		else
			*d = limit & 0xffffffffULL;
		regs->rflags |= RFLAGS_ZF;
	}
	regs->rip += op->len;
}

bool pvm_decode_iret32(const uint8_t *insn, size_t len, bool long_mode, bool cs32, bool ss32)
{
	return len >= 1 && insn[0] == 0xcf && !long_mode && cs32 && ss32;
}

/* Flags an IRET at CPL 0 outside virtual-8086 mode writes: CF PF AF ZF SF TF
 * IF DF OF IOPL NT RF AC ID (VM, VIF and VIP are left as they are). */
#define IRET32_FLAGS 0x00257fd5u

bool pvm_iret32_finish(struct kvm_regs *regs, uint16_t cs, const uint32_t frame[3])
{
	if ((cs & 3) != 0 || (uint16_t)frame[1] != cs)
		return false;
	regs->rip = frame[0];
	regs->rflags = (regs->rflags & ~(uint64_t)IRET32_FLAGS) | (frame[2] & IRET32_FLAGS) | 2u;
	regs->rsp = (uint32_t)(regs->rsp + 12);
	return true;
}
