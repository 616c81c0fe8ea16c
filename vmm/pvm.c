/* pvm.c: decodes and completes int3, FWAIT, CLAC/STAC, POPCNT, LZCNT, TZCNT, CMPXCHG16B, LSL and LDMXCSR/STMXCSR for KVM-PVM hosts (see pvm.h). */
#include <string.h>

#include "vmm/pvm.h"

#define RFLAGS_CF (1u << 0)
#define RFLAGS_PF (1u << 2)
#define RFLAGS_AF (1u << 4)
#define RFLAGS_ZF (1u << 6)
#define RFLAGS_SF (1u << 7)
#define RFLAGS_OF (1u << 11)
#define RFLAGS_AC (1u << 18)

#define REX_W 8u
#define REX_R 4u
#define REX_X 2u
#define REX_B 1u

/* Legacy prefixes (SDM Vol. 2A 2.1.1), then an optional REX, which must come
 * last and exists only in 64-bit mode (2.2.1). At most 14 prefix bytes are
 * looked at (an instruction is at most 15 bytes). */
struct prefixes {
	size_t n;          /* bytes taken, REX included */
	unsigned rex;      /* the REX byte, 0 if none */
	bool opsize;       /* 66 */
	bool rep, repne;   /* F3, F2 */
	bool lock;         /* F0 */
	bool addr32;       /* 67 */
	uint8_t seg;       /* the last FS (64) or GS (65) override, 0 if none; CS, DS, ES and SS
			    * overrides are flat in 64-bit mode and change nothing here */
};

static struct prefixes parse_prefixes(const uint8_t *insn, size_t len, bool long_mode)
{
	struct prefixes p = {0};
	size_t i = 0;
	for (; i < len && i < 14; i++) {
		uint8_t b = insn[i];
		if (b == 0x66)
			p.opsize = true;
		else if (b == 0xf3)
			p.rep = true;
		else if (b == 0xf2)
			p.repne = true;
		else if (b == 0xf0)
			p.lock = true;
		else if (b == 0x67)
			p.addr32 = true;
		else if (b == 0x64 || b == 0x65)
			p.seg = b;
		else if (b != 0x2e && b != 0x3e && b != 0x26 && b != 0x36)
			break;
	}
	if (long_mode && i < len && (insn[i] & 0xf0) == 0x40)
		p.rex = insn[i++];
	p.n = i;
	return p;
}

/* The memory operand of ModRM (at insn[i], i past it on return) in 64-bit
 * mode: SIB, disp8/disp32, RIP-relative, 67 (SDM Vol. 2A 2.1.5, tables 2-2
 * and 2-3; 2.2.1.6). False when the instruction is truncated. */
static bool mem_operand(const uint8_t *insn, size_t len, size_t *ip, const struct prefixes *p,
			const struct x86_regs *regs, uint64_t fs_base, uint64_t gs_base, uint64_t *la)
{
	size_t i = *ip;
	uint8_t modrm = insn[i - 1];
	unsigned mod = modrm >> 6, rm = modrm & 7, rex = p->rex;
	uint64_t ea = 0;
	bool rip_rel = false;
	if (rm == 4) {
		if (i >= len)
			return false;
		uint8_t sib = insn[i++];
		unsigned scale = sib >> 6, index = ((sib >> 3) & 7) | ((rex & REX_X) ? 8 : 0);
		unsigned base = (sib & 7) | ((rex & REX_B) ? 8 : 0);
		if (index != 4)
			ea += regs->gpr[index] << scale;
		if ((base & 7) == 5 && mod == 0)
			mod = 2; /* no base register: a disp32 follows (read below) */
		else
			ea += regs->gpr[base];
	} else if (rm == 5 && mod == 0) {
		rip_rel = true;
		mod = 2;
	} else {
		ea += regs->gpr[rm | ((rex & REX_B) ? 8 : 0)];
	}
	if (mod == 1) {
		if (i + 1 > len)
			return false;
		ea += (uint64_t)(int64_t)(int8_t)insn[i++];
	} else if (mod == 2) {
		if (i + 4 > len)
			return false;
		int32_t d;
		memcpy(&d, insn + i, 4);
		ea += (uint64_t)(int64_t)d;
		i += 4;
	}
	if (rip_rel)
		ea += regs->rip + i; /* relative to the next instruction */
	if (p->addr32)
		ea &= 0xffffffffULL;
	*la = (p->seg == 0x64 ? fs_base : p->seg == 0x65 ? gs_base : 0) + ea;
	*ip = i;
	return true;
}

enum pvm_kind pvm_decode(const uint8_t *insn, size_t len, bool long_mode, uint64_t fs_base, uint64_t gs_base,
			 const struct x86_regs *regs, struct pvm_insn *in)
{
	memset(in, 0, sizeof(*in));
	if (len >= 1 && (insn[0] == 0xcc || insn[0] == 0x9b)) { /* unprefixed only */
		in->kind = insn[0] == 0xcc ? PVM_INT3 : PVM_REGS;
		in->reg_op = PVM_OP_FWAIT;
		in->len = 1;
		return in->kind;
	}
	if (len >= 1 && insn[0] == 0xcf && !long_mode) { /* IRET, unprefixed: 32-bit frames only */
		in->kind = PVM_IRET;
		in->len = 1;
		return in->kind;
	}
	struct prefixes p = parse_prefixes(insn, len, long_mode);
	size_t i = p.n;
	if (i + 3 > len || insn[i] != 0x0f)
		return PVM_UNSUPPORTED;
	uint8_t op2 = insn[i + 1], modrm = insn[i + 2];
	unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
	/* Register forms: no LOCK, F2 or 67; F3 only as the counts' mandatory prefix. */
	bool reg_form = mod == 3 && !p.lock && !p.repne && !p.addr32;
	/* Memory forms: 64-bit mode, no mandatory prefix (NP); LOCK and 67 allowed. */
	bool mem_form = long_mode && mod != 3 && !p.opsize && !p.rep && !p.repne;
	in->bits = (p.rex & REX_W) ? 64 : p.opsize ? 16 : 32;
	in->dst = reg | ((p.rex & REX_R) ? 8 : 0);
	in->src = rm | ((p.rex & REX_B) ? 8 : 0);
	in->len = (unsigned)(i + 3);
	i += 3;
	switch (op2) {
	case 0x01: /* CLAC / STAC (0F 01 CA / CB, SDM Vol. 2A) */
		if (!reg_form || p.rep || (modrm != 0xca && modrm != 0xcb))
			break;
		in->reg_op = modrm == 0xca ? PVM_OP_CLAC : PVM_OP_STAC;
		in->kind = PVM_REGS;
		break;
	case 0xb8: /* POPCNT, TZCNT, LZCNT (F3 0F B8/BC/BD /r), register source only */
	case 0xbc:
	case 0xbd:
		if (!reg_form || !p.rep)
			break;
		in->reg_op = op2 == 0xb8 ? PVM_OP_POPCNT : op2 == 0xbc ? PVM_OP_TZCNT : PVM_OP_LZCNT;
		in->kind = PVM_REGS;
		break;
	case 0x03: /* LSL r, r/m16 (0F 03 /r), register source only */
		if (!reg_form || p.rep)
			break;
		in->sel = (uint16_t)regs->gpr[in->src];
		in->kind = PVM_LSL;
		break;
	case 0xc7: /* CMPXCHG16B m128 (REX.W 0F C7 /1) */
		if (mem_form && (p.rex & REX_W) && reg == 1 &&
		    mem_operand(insn, len, &i, &p, regs, fs_base, gs_base, &in->la))
			in->kind = PVM_CMPXCHG16B;
		break;
	case 0xae: /* LDMXCSR / STMXCSR m32 (NP 0F AE /2, /3) */
		if (mem_form && (reg == 2 || reg == 3) &&
		    mem_operand(insn, len, &i, &p, regs, fs_base, gs_base, &in->la))
			in->kind = reg == 2 ? PVM_LDMXCSR : PVM_STMXCSR;
		break;
	default:
		break;
	}
	if (in->kind == PVM_UNSUPPORTED)
		memset(in, 0, sizeof(*in));
	else
		in->len = (unsigned)i;
	return in->kind;
}

/* Writes a 16-, 32- or 64-bit result to register n: 16-bit writes keep bits
 * 63:16, 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1). */
static void write_gpr(struct x86_regs *regs, unsigned n, unsigned bits, uint64_t val)
{
	uint64_t *d = &regs->gpr[n & 15];
	if (bits == 16)
		*d = (*d & ~0xffffULL) | (val & 0xffff);
	else if (bits == 32)
		*d = val & 0xffffffffULL;
	else
		*d = val;
}

void pvm_finish_regs(struct x86_regs *regs, const struct pvm_insn *in)
{
	uint64_t fl = regs->rflags;
	if (in->kind == PVM_REGS && in->reg_op >= PVM_OP_POPCNT) {
		unsigned bits = in->bits;
		uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
		uint64_t src = regs->gpr[in->src & 15] & mask, res;
		if (in->reg_op == PVM_OP_POPCNT) { /* ZF = (src == 0), CF/OF/SF/AF/PF cleared */
			res = (uint64_t)__builtin_popcountll(src);
			fl &= ~(uint64_t)(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
			if (!src)
				fl |= RFLAGS_ZF;
		} else { /* TZCNT, LZCNT: CF = (src == 0), ZF = (result == 0) */
			if (in->reg_op == PVM_OP_TZCNT)
				res = src ? (uint64_t)__builtin_ctzll(src) : bits;
			else
				res = src ? (uint64_t)(__builtin_clzll(src) - (64 - bits)) : bits;
			fl &= ~(uint64_t)(RFLAGS_CF | RFLAGS_ZF);
			if (!src)
				fl |= RFLAGS_CF;
			if (!res)
				fl |= RFLAGS_ZF;
		}
		write_gpr(regs, in->dst, bits, res);
	} else if (in->kind == PVM_REGS && in->reg_op == PVM_OP_CLAC) {
		fl &= ~(uint64_t)RFLAGS_AC;
	} else if (in->kind == PVM_REGS && in->reg_op == PVM_OP_STAC) {
		fl |= RFLAGS_AC;
	}
	regs->rflags = fl;
	regs->rip += in->len; /* FWAIT and INT3: RIP only */
}

void pvm_cmpxchg16b_finish(struct x86_regs *regs, const struct pvm_insn *in, bool equal, uint64_t old_lo,
			   uint64_t old_hi)
{
	if (equal) {
		regs->rflags |= RFLAGS_ZF;
	} else {
		regs->rflags &= ~(uint64_t)RFLAGS_ZF;
		regs->rax = old_lo;
		regs->rdx = old_hi;
	}
	regs->rip += in->len;
}

void pvm_lsl_finish(struct x86_regs *regs, const struct pvm_insn *in, bool found, uint64_t desc, unsigned cpl,
		    bool long_mode)
{
	bool ok = found;
	if (ok) {
		unsigned type = (desc >> 40) & 0xf, dpl = (desc >> 45) & 3, rpl = in->sel & 3;
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
		/* The limit is at most 32 bits wide: a 64-bit destination gets it zero-extended. */
		write_gpr(regs, in->dst, in->bits == 16 ? 16 : 32, limit);
		regs->rflags |= RFLAGS_ZF;
	}
	regs->rip += in->len;
}

/* Flags an IRET at CPL 0 outside virtual-8086 mode writes: CF PF AF ZF SF TF
 * IF DF OF IOPL NT RF AC ID (VM, VIF and VIP are left as they are). */
#define IRET32_FLAGS 0x00257fd5u

bool pvm_iret32_finish(struct x86_regs *regs, uint16_t cs, const uint32_t frame[3])
{
	if ((cs & 3) != 0 || (uint16_t)frame[1] != cs)
		return false;
	regs->rip = frame[0];
	regs->rflags = (regs->rflags & ~(uint64_t)IRET32_FLAGS) | (frame[2] & IRET32_FLAGS) | 2u;
	regs->rsp = (uint32_t)(regs->rsp + 12);
	return true;
}
