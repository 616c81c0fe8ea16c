/* pvm.h: completing the few instructions KVM-PVM cannot emulate (pure; unit-tested).
 *
 * On a KVM-PVM host guest CPL0 code is emulated by KVM's instruction
 * emulator, which stops with an emulation failure on instructions it does not
 * know. hyve completes some of them itself, exactly as the processor would:
 * int3 (a #BP trap), FWAIT, CLAC/STAC (SMAP) and the register forms of
 * POPCNT, LZCNT and TZCNT (SDM Vol. 2A/2B), which Linux patches in when CPUID
 * says the CPU has them (PVM lets the guest see the host's CPUID bits, so
 * they cannot be hidden), CMPXCHG16B, the one memory-operand read-modify-write
 * (SLUB's lockless freelists use it when CPUID says CX16), LSL (Linux's
 * paranoid NMI/#MC entry reads the CPU number from a GDT limit with it when
 * FSGSBASE is on), and LDMXCSR/STMXCSR (kernel_fpu_begin() loads the default
 * MXCSR before kernel SIMD code). On VMX/SVM hosts none of this runs: those
 * instructions never reach the emulator.
 *
 * One decoder, pvm_decode(), parses prefixes, REX and ModRM once and returns
 * one record; the caller (vmm/vcpu_pvm.c) dispatches on its kind, does the
 * memory or descriptor access the kind needs, and completes the registers
 * with the pure finish helpers below.
 */
#ifndef VMM_PVM_H
#define VMM_PVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/x86_regs.h"

enum pvm_kind {
	PVM_UNSUPPORTED = 0, /* not an instruction hyve completes: report the failure */
	PVM_REGS,            /* registers only (reg_op): pvm_finish_regs() */
	PVM_INT3,            /* pvm_finish_regs() moves RIP past it, then inject #BP (vector 3) */
	PVM_CMPXCHG16B,      /* REX.W 0F C7 /1 m128 (la): the caller's atomic access, then
			      * pvm_cmpxchg16b_finish(); la must be 16-byte aligned, else #GP(0) */
	PVM_LDMXCSR,         /* NP 0F AE /2 m32 (la): #GP(0) when a reserved bit is set */
	PVM_STMXCSR,         /* NP 0F AE /3 m32 (la) */
	PVM_LSL,             /* 0F 03 /r, register source (sel, dst, bits): the caller reads
			      * the descriptor, then pvm_lsl_finish() */
	PVM_IRET,            /* CF, unprefixed, outside 64-bit mode: the caller completes it only
			      * with 32-bit CS and SS at CPL 0 (pvm_iret32_finish) */
};

/* PVM_REGS: which register-only instruction (SDM Vol. 2A/2B). */
enum pvm_reg_op {
	PVM_OP_FWAIT,  /* 9B: no x87 exception can be pending (KVM holds the state and did not fault) */
	PVM_OP_CLAC,   /* 0F 01 CA: RFLAGS.AC = 0 */
	PVM_OP_STAC,   /* 0F 01 CB: RFLAGS.AC = 1 */
	PVM_OP_POPCNT, /* F3 0F B8 /r, register source */
	PVM_OP_TZCNT,  /* F3 0F BC /r, register source */
	PVM_OP_LZCNT,  /* F3 0F BD /r, register source */
};

/* MXCSR bits 31:16 are reserved (SDM Vol. 1 10.2.3): LDMXCSR of one is #GP(0). */
#define PVM_MXCSR_RESERVED 0xffff0000u

/* One decoded instruction; which operands are meaningful depends on kind. */
struct pvm_insn {
	enum pvm_kind kind;
	enum pvm_reg_op reg_op; /* PVM_REGS */
	unsigned len;           /* bytes, prefixes and REX included (every kind but UNSUPPORTED) */
	unsigned bits;          /* operand size, 16, 32 or 64: PVM_REGS counts, PVM_LSL */
	unsigned src, dst;      /* register numbers (table 2-2): counts (src, dst); LSL (dst) */
	uint16_t sel;           /* PVM_LSL: the selector, low 16 bits of the source register */
	uint64_t la;            /* memory kinds: linear address of the operand (segment base added) */
};

/* Decodes insn (len bytes fetched at RIP). long_mode: CS.L (REX prefixes
 * and hyve's memory forms exist only in 64-bit mode); fs_base, gs_base: the
 * FS and GS bases (the other segments are flat in 64-bit mode). Reads regs
 * for addresses and LSL's selector; changes nothing. Returns in->kind. */
enum pvm_kind pvm_decode(const uint8_t *insn, size_t len, bool long_mode, uint64_t fs_base, uint64_t gs_base,
			 const struct x86_regs *regs, struct pvm_insn *in);

/* PVM_REGS and PVM_INT3: completes the instruction in regs (result, flags,
 * RIP past it; INT3 is a trap, so the pushed RIP is the next instruction). */
void pvm_finish_regs(struct x86_regs *regs, const struct pvm_insn *in);

/* PVM_CMPXCHG16B: equal (m128 matched RDX:RAX, and RCX:RBX was stored) sets
 * ZF; otherwise ZF is cleared and RDX:RAX = old (old_lo, old_hi). RIP moves
 * past the instruction. */
void pvm_cmpxchg16b_finish(struct x86_regs *regs, const struct pvm_insn *in, bool equal, uint64_t old_lo,
			   uint64_t old_hi);

/* PVM_LSL: found (the selector is not null and its descriptor lies inside
 * the GDT/LDT limit) and desc (the 8-byte descriptor) decide ZF and the
 * limit written, with the type and privilege checks of the SDM for the
 * current privilege level cpl; long_mode: IA-32e system types only. */
void pvm_lsl_finish(struct x86_regs *regs, const struct pvm_insn *in, bool found, uint64_t desc, unsigned cpl,
		    bool long_mode);

/* PVM_IRET in 32-bit protected mode at CPL 0 with a 32-bit code and stack
 * segment (KVM's emulator has no protected-mode IRET; the test kernels' NMI
 * handlers need it, since only IRET ends NMI blocking, SDM Vol. 3A 6.7.1):
 * the caller reads the 12-byte frame at SS:ESP. Completes a same-privilege return (SDM Vol. 2A "IRET", "RETURN-FROM-PROCEDURE
 * -TO-SAME-PRIVILEGE-LEVEL"): frame = {EIP, CS, EFLAGS} as popped. Only a
 * return to the same code selector cs at CPL 0 is completed (false
 * otherwise: nothing changed); EFLAGS takes every flag IRET may change at
 * CPL 0, bit 1 set; ESP moves past the frame. */
bool pvm_iret32_finish(struct x86_regs *regs, uint16_t cs, const uint32_t frame[3]);

#endif
