/* pvm.c: completes int3, CLAC/STAC, POPCNT, LZCNT and TZCNT for KVM-PVM hosts (see pvm.h). */
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
