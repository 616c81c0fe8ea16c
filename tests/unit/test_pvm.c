/* test_pvm.c: the instructions hyve completes for KVM-PVM hosts (vmm/pvm.c: pvm_decode and the finish helpers). */
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/pvm.h"

#define ZF (1u << 6)
#define CF (1u << 0)
#define AC (1u << 18)
#define RIP0 0xffffffff81000000ULL

#define FS_BASE 0x1000000000ULL
#define GS_BASE 0xffff888000000000ULL

static struct x86_regs regs0(void)
{
	struct x86_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = RIP0;
	r.rflags = 0x2;
	return r;
}

/* Decodes; completes the register-only kinds (PVM_REGS, PVM_INT3) as vcpu_pvm.c does. */
static enum pvm_kind run(const uint8_t *insn, size_t len, bool lm, struct x86_regs *r)
{
	struct pvm_insn in;
	enum pvm_kind k = pvm_decode(insn, len, lm, FS_BASE, GS_BASE, r, &in);
	if (k == PVM_REGS || k == PVM_INT3)
		pvm_finish_regs(r, &in);
	return k;
}

static void test_simple(void)
{
	struct x86_regs r = regs0();
	static const uint8_t int3[] = {0xcc}, fwait[] = {0x9b}, clac[] = {0x0f, 0x01, 0xca},
			     stac[] = {0x0f, 0x01, 0xcb}, hlt[] = {0xf4}, cpuid[] = {0x0f, 0xa2};
	CHECK_EQ(run(int3, 1, true, &r), PVM_INT3, "int3: inject #BP");
	CHECK_EQ(r.rip, RIP0 + 1, "int3: RIP past it (a trap)");
	r = regs0();
	CHECK_EQ(run(fwait, 1, true, &r), PVM_REGS, "fwait: done");
	CHECK_EQ(r.rip, RIP0 + 1, "fwait: RIP + 1");
	r = regs0();
	CHECK_EQ(run(stac, 3, true, &r), PVM_REGS, "stac: done");
	CHECK(r.rflags & AC, "stac: AC set");
	CHECK_EQ(run(clac, 3, true, &r), PVM_REGS, "clac: done");
	CHECK(!(r.rflags & AC), "clac: AC clear");
	CHECK_EQ(r.rip, RIP0 + 6, "clac/stac: 3 bytes each");
	r = regs0();
	CHECK_EQ(run(hlt, 1, true, &r), PVM_UNSUPPORTED, "hlt: not hyve's");
	CHECK_EQ(run(cpuid, 2, true, &r), PVM_UNSUPPORTED, "cpuid: not hyve's");
	CHECK_EQ(run(clac, 2, true, &r), PVM_UNSUPPORTED, "truncated clac: unsupported");
	CHECK_EQ(r.rip, RIP0, "unsupported: RIP unchanged");
}

static void test_counts(void)
{
	struct x86_regs r = regs0();
	/* popcnt %rcx,%rax: f3 48 0f b8 c1 */
	static const uint8_t popcnt64[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc1};
	r.rcx = 0xff00ff00ff00ff00ULL;
	r.rax = 7;
	r.rflags |= CF;
	CHECK_EQ(run(popcnt64, sizeof(popcnt64), true, &r), PVM_REGS, "popcnt64: done");
	CHECK_EQ(r.rax, 32, "popcnt64: 32 bits");
	CHECK(!(r.rflags & (CF | ZF)), "popcnt64: CF and ZF clear");
	CHECK_EQ(r.rip, RIP0 + 5, "popcnt64: 5 bytes");
	r = regs0();
	r.rcx = 0;
	run(popcnt64, sizeof(popcnt64), true, &r);
	CHECK(r.rflags & ZF, "popcnt of 0: ZF");
	/* tzcnt %edx,%r9d: f3 44 0f bc ca */
	static const uint8_t tzcnt32[] = {0xf3, 0x44, 0x0f, 0xbc, 0xca};
	r = regs0();
	r.rdx = 0xffffffff00000000ULL; /* low 32 bits 0 */
	r.r9 = ~0ULL;
	CHECK_EQ(run(tzcnt32, sizeof(tzcnt32), true, &r), PVM_REGS, "tzcnt32: done");
	CHECK_EQ(r.r9, 32, "tzcnt32 of 0: 32, zero-extended");
	CHECK(r.rflags & CF, "tzcnt32 of 0: CF");
	/* lzcnt %bx,%ax: 66 f3 0f bd c3 */
	static const uint8_t lzcnt16[] = {0x66, 0xf3, 0x0f, 0xbd, 0xc3};
	r = regs0();
	r.rbx = 0x0100;
	r.rax = 0x1234567890abcdefULL;
	CHECK_EQ(run(lzcnt16, sizeof(lzcnt16), true, &r), PVM_REGS, "lzcnt16: done");
	CHECK_EQ(r.rax, 0x1234567890ab0007ULL, "lzcnt16: 7, bits 63:16 kept");
	CHECK(!(r.rflags & (CF | ZF)), "lzcnt16: flags clear");
	/* popcnt with a memory source (f3 0f b8 07) is not completed. */
	static const uint8_t popcnt_mem[] = {0xf3, 0x0f, 0xb8, 0x07};
	r = regs0();
	CHECK_EQ(run(popcnt_mem, sizeof(popcnt_mem), true, &r), PVM_UNSUPPORTED, "popcnt m32: unsupported");
}

static bool dec(const uint8_t *insn, size_t len, bool lm, const struct x86_regs *r, struct pvm_insn *op)
{
	return pvm_decode(insn, len, lm, FS_BASE, GS_BASE, r, op) == PVM_CMPXCHG16B;
}

static bool dec_lsl(const uint8_t *insn, size_t len, const struct x86_regs *r, struct pvm_insn *op)
{
	return pvm_decode(insn, len, true, 0, 0, r, op) == PVM_LSL;
}

static int dec_mxcsr(const uint8_t *insn, size_t len, bool lm, const struct x86_regs *r, uint64_t fs, uint64_t gs,
		     struct pvm_insn *op)
{
	enum pvm_kind k = pvm_decode(insn, len, lm, fs, gs, r, op);
	return k == PVM_LDMXCSR || k == PVM_STMXCSR ? (int)k : 0;
}

static void test_cmpxchg16b(void)
{
	struct x86_regs r = regs0();
	struct pvm_insn op;
	r.rdi = 0x2000;
	r.rsi = 0x30;
	r.r8 = 0x100000;
	r.r13 = 0x4440;
	/* Forms Linux uses: cmpxchg16b %gs:(%rdi) (this_cpu_cmpxchg_double) and
	 * lock cmpxchg16b (%rdi), plus every addressing mode. */
	static const struct {
		const char *what;
		uint8_t insn[15];
		size_t len;
		uint64_t la;
	} ok[] = {
		{"gs:(%rdi)", {0x65, 0x48, 0x0f, 0xc7, 0x0f}, 5, 0xffff888000000000ULL + 0x2000},
		{"lock (%rdi)", {0xf0, 0x48, 0x0f, 0xc7, 0x0f}, 5, 0x2000},
		{"fs:0x10(%rdi)", {0x64, 0x48, 0x0f, 0xc7, 0x4f, 0x10}, 6, 0x1000000000ULL + 0x2010},
		{"-0x10(%rdi) disp8", {0x48, 0x0f, 0xc7, 0x4f, 0xf0}, 5, 0x1ff0},
		{"0x1000(%rdi) disp32", {0x48, 0x0f, 0xc7, 0x8f, 0x00, 0x10, 0x00, 0x00}, 8, 0x3000},
		{"(%r13) REX.B, mod 1", {0x49, 0x0f, 0xc7, 0x4d, 0x00}, 5, 0x4440},
		{"(%rdi,%rsi,4) SIB", {0x48, 0x0f, 0xc7, 0x0c, 0xb7}, 5, 0x2000 + 0x30 * 4},
		{"(%rdi,%r8,1) SIB REX.X", {0x4a, 0x0f, 0xc7, 0x0c, 0x07}, 5, 0x102000},
		{"0x40(,%rsi,2) SIB no base", {0x48, 0x0f, 0xc7, 0x0c, 0x75, 0x40, 0, 0, 0}, 9, 0x40 + 0x60},
		{"(%rsp) SIB no index", {0x48, 0x0f, 0xc7, 0x0c, 0x24}, 5, 0x7000},
		{"0x20(%rip)", {0x48, 0x0f, 0xc7, 0x0d, 0x20, 0, 0, 0}, 8, RIP0 + 8 + 0x20},
		{"addr32 (%edi)", {0x67, 0x48, 0x0f, 0xc7, 0x0f}, 5, 0x2000},
	};
	r.rsp = 0x7000;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		bool d = dec(ok[i].insn, ok[i].len, true, &r, &op);
		CHECK(d && op.la == ok[i].la && op.len == ok[i].len, "cmpxchg16b %s: la %llx len %u", ok[i].what,
		      d ? (unsigned long long)op.la : 0ULL, d ? op.len : 0);
	}
	static const struct {
		const char *what;
		uint8_t insn[8];
		size_t len;
		bool lm;
	} bad[] = {
		{"no REX.W (cmpxchg8b)", {0x0f, 0xc7, 0x0f}, 3, true},
		{"not 64-bit mode", {0x48, 0x0f, 0xc7, 0x0f}, 4, false},
		{"register form", {0x48, 0x0f, 0xc7, 0xc9}, 4, true},
		{"rdrand (0F C7 /6)", {0x48, 0x0f, 0xc7, 0xf0}, 4, true},
		{"truncated disp32", {0x48, 0x0f, 0xc7, 0x8f, 0x00, 0x10}, 6, true},
		{"truncated SIB", {0x48, 0x0f, 0xc7, 0x0c}, 4, true},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!dec(bad[i].insn, bad[i].len, bad[i].lm, &r, &op), "not cmpxchg16b: %s", bad[i].what);

	/* Outcome: equal sets ZF; a mismatch loads RDX:RAX and clears ZF. */
	op.len = 5;
	r = regs0();
	r.rax = 1, r.rdx = 2;
	pvm_cmpxchg16b_finish(&r, &op, true, 1, 2);
	CHECK((r.rflags & ZF) && r.rax == 1 && r.rdx == 2 && r.rip == RIP0 + 5, "finish equal: ZF, RDX:RAX kept");
	r = regs0();
	r.rflags |= ZF;
	pvm_cmpxchg16b_finish(&r, &op, false, 0x11, 0x22);
	CHECK(!(r.rflags & ZF) && r.rax == 0x11 && r.rdx == 0x22 && r.rip == RIP0 + 5,
	      "finish mismatch: ZF clear, RDX:RAX = old");
}

/* A descriptor: base 0, limit, type, S, DPL, present, G. */
static uint64_t desc(uint32_t limit, unsigned type, bool s, unsigned dpl, bool g)
{
	return (limit & 0xffffULL) | ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)type << 40) |
	       ((uint64_t)s << 44) | ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)g << 55);
}

static void test_lsl(void)
{
	struct x86_regs r = regs0();
	struct pvm_insn op;
	/* lsl %rax,%rax (48 0f 03 c0): Linux's paranoid_entry with selector 0x7b. */
	static const uint8_t lsl64[] = {0x48, 0x0f, 0x03, 0xc0}, lsl32_r9_ecx[] = {0x44, 0x0f, 0x03, 0xc9},
			     lsl16[] = {0x66, 0x0f, 0x03, 0xc3}, lsl_mem[] = {0x48, 0x0f, 0x03, 0x07};
	r.rax = 0xffffffff0000007bULL;
	CHECK(dec_lsl(lsl64, sizeof(lsl64), &r, &op) && op.sel == 0x7b && op.dst == 0 && op.bits == 64 &&
		      op.len == 4,
	      "lsl %%rax,%%rax: selector 0x7b, 64-bit");
	/* __CPUNODE_SEG: data, DPL 3, limit = (node << 12) | cpu = 0x1005, byte granular. */
	pvm_lsl_finish(&r, &op, true, desc(0x1005, 0x5, true, 3, false), 0, true);
	CHECK(r.rax == 0x1005 && (r.rflags & ZF) && r.rip == RIP0 + 4, "lsl: limit 0x1005, ZF, RIP + 4");
	r = regs0();
	r.rcx = 0x10;
	r.r9 = ~0ULL;
	CHECK(dec_lsl(lsl32_r9_ecx, sizeof(lsl32_r9_ecx), &r, &op) && op.dst == 9 && op.bits == 32,
	      "lsl %%ecx,%%r9d: decoded");
	pvm_lsl_finish(&r, &op, true, desc(0xfffff, 0xb, true, 0, true), 0, true);
	CHECK(r.r9 == 0xffffffffULL && (r.rflags & ZF), "lsl: G scales 0xfffff to 0xffffffff, zero-extended");
	r = regs0();
	r.rbx = 0x28;
	r.rax = 0xaaaaaaaaaaaaaaaaULL;
	CHECK(dec_lsl(lsl16, sizeof(lsl16), &r, &op) && op.bits == 16, "lsl 16-bit: decoded");
	pvm_lsl_finish(&r, &op, true, desc(0x12345, 0x3, true, 0, false), 0, true);
	CHECK(r.rax == 0xaaaaaaaaaaaa2345ULL, "lsl 16-bit: low 16 bits of the limit, the rest kept");
	CHECK(!dec_lsl(lsl_mem, sizeof(lsl_mem), &r, &op), "lsl with a memory source: not completed");

	/* ZF clear, destination kept: not found, privilege, system types. */
	const struct {
		const char *what;
		bool found;
		uint64_t d;
		unsigned cpl, rpl;
		bool lm, zf;
	} c[] = {
		{"null or beyond the limit", false, 0, 0, 0, true, false},
		{"data DPL 0 from CPL 3", true, desc(0xffff, 0x3, true, 0, false), 3, 3, true, false},
		{"data DPL 0 with RPL 3", true, desc(0xffff, 0x3, true, 0, false), 0, 3, true, false},
		{"conforming code DPL 0 from CPL 3", true, desc(0xffff, 0xe, true, 0, false), 3, 3, true, true},
		{"64-bit TSS", true, desc(0x67, 0x9, false, 0, false), 0, 0, true, true},
		{"busy TSS", true, desc(0x67, 0xb, false, 0, false), 0, 0, true, true},
		{"LDT", true, desc(0xfff, 0x2, false, 0, false), 0, 0, true, true},
		{"16-bit TSS in IA-32e mode", true, desc(0x67, 0x1, false, 0, false), 0, 0, true, false},
		{"16-bit TSS in protected mode", true, desc(0x67, 0x1, false, 0, false), 0, 0, false, true},
		{"call gate", true, desc(0, 0xc, false, 3, false), 0, 0, true, false},
		{"interrupt gate", true, desc(0, 0xe, false, 3, false), 0, 0, true, false},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		r = regs0();
		r.rax = 0x58 | c[i].rpl;
		r.rflags |= c[i].zf ? 0 : ZF;
		dec_lsl(lsl64, sizeof(lsl64), &r, &op);
		pvm_lsl_finish(&r, &op, c[i].found, c[i].d, c[i].cpl, c[i].lm);
		bool zf = r.rflags & ZF;
		CHECK(zf == c[i].zf && (zf || r.rax == (0x58u | c[i].rpl)) && r.rip == RIP0 + 4, "lsl %s: ZF=%d",
		      c[i].what, c[i].zf);
	}
}

/* Prefixes are parsed once for every kind: segment overrides (CS/DS/ES/SS
 * flat, FS/GS add their base to memory operands only), REX extending each
 * kind's registers, and the prefixes each kind refuses. */
static void test_prefixes(void)
{
	const struct x86_regs r = {
		.rcx = 0xf0, .r8 = 0x8000, .r9 = 0x48, .r14 = 0x4000, .r15 = 0x2000, .rip = RIP0, .rflags = 0x2};
	struct pvm_insn in;
	static const struct {
		const char *what;
		uint8_t insn[15];
		size_t len;
		bool lm;
		enum pvm_kind kind;
		unsigned ilen;
		uint64_t la;        /* memory kinds */
		unsigned dst, bits; /* counts and LSL */
	} c[] = {
		{"fs: f3 REX.W popcnt %rcx,%rax", {0x64, 0xf3, 0x48, 0x0f, 0xb8, 0xc1}, 6, true, PVM_REGS, 6, 0, 0, 64},
		{"cs: ds: f3 REX.R tzcnt %ecx,%r8d", {0x2e, 0x3e, 0xf3, 0x44, 0x0f, 0xbc, 0xc1}, 7, true, PVM_REGS, 7, 0, 8,
		 32},
		{"gs: clac", {0x65, 0x0f, 0x01, 0xca}, 4, true, PVM_REGS, 4, 0, 0, 0},
		{"es: REX stac", {0x26, 0x40, 0x0f, 0x01, 0xcb}, 5, true, PVM_REGS, 5, 0, 0, 0},
		{"ss: REX.WRB lsl %r9,%r10", {0x36, 0x4d, 0x0f, 0x03, 0xd1}, 5, true, PVM_LSL, 5, 0, 10, 64},
		{"fs: REX.B ldmxcsr (%r8)", {0x64, 0x41, 0x0f, 0xae, 0x10}, 5, true, PVM_LDMXCSR, 5, FS_BASE + 0x8000, 0,
		 0},
		{"gs: REX.B stmxcsr (%r15)", {0x65, 0x41, 0x0f, 0xae, 0x1f}, 5, true, PVM_STMXCSR, 5, GS_BASE + 0x2000, 0,
		 0},
		{"ds: gs: lock REX.WB cmpxchg16b (%r14)", {0x3e, 0x65, 0xf0, 0x49, 0x0f, 0xc7, 0x0e}, 7, true,
		 PVM_CMPXCHG16B, 7, GS_BASE + 0x4000, 0, 0},
		{"gs: then fs: the last override wins", {0x65, 0x64, 0x48, 0x0f, 0xc7, 0x0f}, 6, true, PVM_CMPXCHG16B, 6,
		 FS_BASE, 0, 0},
		{"fs: then cs: fs stays", {0x64, 0x2e, 0x0f, 0xae, 0x17}, 5, true, PVM_LDMXCSR, 5, FS_BASE, 0, 0},
		/* refused */
		{"lock popcnt", {0xf0, 0xf3, 0x0f, 0xb8, 0xc1}, 5, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"f2 popcnt", {0xf2, 0xf3, 0x0f, 0xb8, 0xc1}, 5, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"addr32 lzcnt", {0x67, 0xf3, 0x0f, 0xbd, 0xc1}, 5, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"f3 clac", {0xf3, 0x0f, 0x01, 0xca}, 4, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"f3 lsl", {0xf3, 0x0f, 0x03, 0xc0}, 4, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"lock lsl", {0xf0, 0x0f, 0x03, 0xc0}, 4, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"f3 ldmxcsr", {0xf3, 0x0f, 0xae, 0x10}, 4, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"f2 cmpxchg16b", {0xf2, 0x48, 0x0f, 0xc7, 0x0f}, 5, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"prefix after REX", {0x48, 0x66, 0x0f, 0x03, 0xc0}, 5, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"REX outside 64-bit mode is an opcode", {0x48, 0x0f, 0x03, 0xc0}, 4, false, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"66 int3", {0x66, 0xcc}, 2, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"cs: fwait", {0x2e, 0x9b}, 2, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"14 prefixes, then the opcode", {0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e,
						  0x2e, 0x2e, 0x0f}, 15, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
		{"only prefixes", {0x65, 0xf3, 0x48}, 3, true, PVM_UNSUPPORTED, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enum pvm_kind k = pvm_decode(c[i].insn, c[i].len, c[i].lm, FS_BASE, GS_BASE, &r, &in);
		bool ok = k == c[i].kind && in.kind == k && in.len == c[i].ilen;
		if (k == PVM_LDMXCSR || k == PVM_STMXCSR || k == PVM_CMPXCHG16B)
			ok = ok && in.la == c[i].la;
		if (k == PVM_LSL || (k == PVM_REGS && in.reg_op >= PVM_OP_POPCNT))
			ok = ok && in.dst == c[i].dst && in.bits == c[i].bits;
		CHECK(ok, "prefixes: %s: kind %d len %u", c[i].what, (int)k, in.len);
	}
	/* The completions behind those decodes. */
	static const uint8_t pop[] = {0x64, 0xf3, 0x48, 0x0f, 0xb8, 0xc1}, lsl[] = {0x36, 0x4d, 0x0f, 0x03, 0xd1};
	struct x86_regs q = regs0();
	q.rcx = 0xf0;
	CHECK_EQ(run(pop, sizeof(pop), true, &q), PVM_REGS, "fs: popcnt: done");
	CHECK(q.rax == 4 && q.rip == RIP0 + 6, "fs: popcnt: 4 bits, RIP + 6");
	q = regs0();
	q.r9 = 0x48;
	CHECK(pvm_decode(lsl, sizeof(lsl), true, 0, 0, &q, &in) == PVM_LSL && in.sel == 0x48, "ss: lsl: selector of r9");
	pvm_lsl_finish(&q, &in, true, desc(0x2345, 0x3, true, 0, false), 0, true);
	CHECK(q.r10 == 0x2345 && q.rip == RIP0 + 5, "ss: lsl: r10 = limit, RIP + 5");
	/* The record of an unsupported instruction is all zero. */
	static const uint8_t hlt[] = {0xf4};
	pvm_decode(hlt, 1, true, 0, 0, &q, &in);
	CHECK(in.kind == PVM_UNSUPPORTED && in.len == 0 && in.la == 0, "unsupported: empty record");
}

static void test_mxcsr(void)
{
	struct x86_regs r = regs0();
	struct pvm_insn op;
	r.rsp = 0xffffc90000087e00ULL;
	r.rbx = 0x5000;
	/* ldmxcsr 0x4(%rsp) (0f ae 54 24 04): kernel_fpu_begin_mask(). */
	static const uint8_t ld[] = {0x0f, 0xae, 0x54, 0x24, 0x04}, st[] = {0x0f, 0xae, 0x1b},
			     st_gs[] = {0x65, 0x0f, 0xae, 0x5b, 0x10}, fxsave[] = {0x0f, 0xae, 0x03},
			     vex_like[] = {0x66, 0x0f, 0xae, 0x13}, lfence[] = {0x0f, 0xae, 0xe8};
	CHECK(dec_mxcsr(ld, sizeof(ld), true, &r, 0, 0, &op) == PVM_LDMXCSR && op.la == r.rsp + 4 &&
		      op.len == 5,
	      "ldmxcsr 4(%%rsp): decoded");
	CHECK(dec_mxcsr(st, sizeof(st), true, &r, 0, 0, &op) == PVM_STMXCSR && op.la == 0x5000 && op.len == 3,
	      "stmxcsr (%%rbx): decoded");
	CHECK(dec_mxcsr(st_gs, sizeof(st_gs), true, &r, 0, 0x100000, &op) == PVM_STMXCSR &&
		      op.la == 0x105010 && op.len == 5,
	      "stmxcsr %%gs:0x10(%%rbx): decoded");
	CHECK_EQ(dec_mxcsr(fxsave, sizeof(fxsave), true, &r, 0, 0, &op), 0, "fxsave (0F AE /0): not completed");
	CHECK_EQ(dec_mxcsr(vex_like, sizeof(vex_like), true, &r, 0, 0, &op), 0, "66 0F AE /2: not ldmxcsr");
	CHECK_EQ(dec_mxcsr(lfence, sizeof(lfence), true, &r, 0, 0, &op), 0, "lfence (register form): not completed");
	CHECK_EQ(dec_mxcsr(ld, sizeof(ld), false, &r, 0, 0, &op), 0, "outside 64-bit mode: not completed");
	CHECK_EQ(dec_mxcsr(ld, 4, true, &r, 0, 0, &op), 0, "truncated: not completed");
	/* cmpxchg8b (no REX.W) and cmpxchg16b with a 66 prefix stay unsupported. */
	static const uint8_t c16_66[] = {0x66, 0x48, 0x0f, 0xc7, 0x0f};
	CHECK(!dec(c16_66, sizeof(c16_66), true, &r, &op), "66 cmpxchg16b: not completed");
}

/* IRET (KVM-PVM has no emulation of a protected-mode one): the decoder says
 * PVM_IRET for an unprefixed CF outside 64-bit mode (the caller completes it
 * only with 32-bit CS and SS at CPL 0); same-privilege return only; the
 * caller ends NMI blocking. */
static enum pvm_kind dec_kind(const uint8_t *insn, size_t len, bool lm)
{
	struct x86_regs r;
	struct pvm_insn in;
	memset(&r, 0, sizeof(r));
	return pvm_decode(insn, len, lm, 0, 0, &r, &in);
}

static void test_iret32(void)
{
	static const uint8_t iret[] = {0xcf}, iretw[] = {0x66, 0xcf}, iretq[] = {0x48, 0xcf};
	CHECK_EQ(dec_kind(iret, 1, false), PVM_IRET, "iret outside 64-bit mode: PVM_IRET");
	CHECK_EQ(dec_kind(iret, 1, true), PVM_UNSUPPORTED, "iret: not in 64-bit mode");
	CHECK_EQ(dec_kind(iretw, 2, false), PVM_UNSUPPORTED, "iretw (66 CF): not completed");
	CHECK_EQ(dec_kind(iretq, 2, true), PVM_UNSUPPORTED, "48 CF: not completed");
	CHECK_EQ(dec_kind(iret, 0, false), PVM_UNSUPPORTED, "iret: truncated");
	struct x86_regs r;
	memset(&r, 0, sizeof(r));
	r.rsp = 0x109f00;
	r.rflags = 0x2 | (1u << 17); /* VM is not IRET's to change here */
	const uint32_t frame[3] = {0x101234, 0x08, 0xffffffffu};
	CHECK(pvm_iret32_finish(&r, 0x08, frame), "iret: to the same code selector: done");
	CHECK_EQ(r.rip, 0x101234, "iret: EIP popped");
	CHECK_EQ(r.rsp, 0x109f0c, "iret: ESP past the 12-byte frame");
	CHECK_EQ(r.rflags, 0x257fd7 | (1u << 17), "iret: EFLAGS popped (IRET's flags only, bit 1 set)");
	const uint32_t other_cs[3] = {0x101234, 0x18, 0x2}, user_cs[3] = {0x101234, 0x1b, 0x2};
	CHECK(!pvm_iret32_finish(&r, 0x08, other_cs), "iret: to another code selector: not completed");
	CHECK(!pvm_iret32_finish(&r, 0x1b, user_cs), "iret: at CPL 3: not completed");
}

int main(void)
{
	test_iret32();
	test_mxcsr();
	test_lsl();
	test_simple();
	test_counts();
	test_cmpxchg16b();
	test_prefixes();
	return tap_done();
}
