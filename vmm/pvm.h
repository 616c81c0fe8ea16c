/* pvm.h: completing the few instructions KVM-PVM cannot emulate (pure; unit-tested).
 *
 * On a KVM-PVM host guest CPL0 code is emulated by KVM's instruction
 * emulator, which stops with an emulation failure on instructions it does not
 * know. hyve completes some of them itself, exactly as the processor would:
 * int3 (a #BP trap), CLAC/STAC (SMAP) and the register forms of POPCNT,
 * LZCNT and TZCNT (SDM Vol. 2A/2B), which Linux patches in when CPUID says
 * the CPU has them (PVM lets the guest see the host's CPUID bits, so they
 * cannot be hidden), CMPXCHG16B, the one memory-operand instruction
 * (SLUB's lockless freelists use it when CPUID says CX16), and LSL (Linux's
 * paranoid NMI/#MC entry reads the CPU number from a GDT limit with it when
 * FSGSBASE is on), and LDMXCSR/STMXCSR (kernel_fpu_begin() loads the default
 * MXCSR before kernel SIMD code). On VMX/SVM
 * hosts none of this runs: those instructions never reach the emulator.
 */
#ifndef VMM_PVM_H
#define VMM_PVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pvm_result {
	PVM_UNSUPPORTED = 0, /* not an instruction hyve completes: report the failure */
	PVM_DONE = 1,        /* registers updated, RIP past the instruction */
	PVM_INJECT_BP = 2,   /* RIP advanced past int3: inject #BP (vector 3) */
};

/* Decodes insn (len bytes fetched at RIP) and, if it is one hyve completes,
 * updates regs. long_mode: CS.L (REX prefixes exist only in 64-bit mode). */
enum pvm_result pvm_complete(const uint8_t *insn, size_t len, bool long_mode, struct kvm_regs *regs);

/* CMPXCHG16B m128 (REX.W 0F C7 /1, 64-bit mode only; SDM Vol. 2A
 * "CMPXCHG8B/CMPXCHG16B"): decode only; the caller does the atomic access. */
struct pvm_mem_op {
	uint64_t la; /* linear address of the m128 operand */
	size_t len;  /* instruction length, prefixes included */
};

/* True when insn is CMPXCHG16B with a memory operand; fills op. fs_base and
 * gs_base are the FS and GS bases (the other segments are flat in 64-bit
 * mode). The operand must be 16-byte aligned (else #GP(0)): the caller checks. */
bool pvm_decode_cmpxchg16b(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
			   uint64_t fs_base, uint64_t gs_base, struct pvm_mem_op *op);

/* Completes it: equal (m128 matched RDX:RAX, and RCX:RBX was stored) sets
 * ZF; otherwise ZF is cleared and RDX:RAX = old (old_lo, old_hi). RIP moves
 * past the instruction. */
void pvm_cmpxchg16b_finish(struct kvm_regs *regs, const struct pvm_mem_op *op, bool equal, uint64_t old_lo,
			   uint64_t old_hi);

/* LDMXCSR m32 / STMXCSR m32 (NP 0F AE /2 and /3, SDM Vol. 2A): decode only;
 * the caller moves the 32 bits between memory and the guest's MXCSR, and
 * raises #GP(0) on LDMXCSR of a value with a reserved bit (31:16) set. */
#define PVM_LDMXCSR 1
#define PVM_STMXCSR 2
#define PVM_MXCSR_RESERVED 0xffff0000u

/* PVM_LDMXCSR or PVM_STMXCSR with op filled (64-bit mode), or 0. */
int pvm_decode_mxcsr(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
		     uint64_t fs_base, uint64_t gs_base, struct pvm_mem_op *op);

/* LSL r, r/m16 (0F 03 /r; SDM Vol. 2A "LSL"), register source only: decode;
 * the caller fetches the descriptor the selector names. */
struct pvm_lsl_op {
	uint16_t sel;  /* the selector (low 16 bits of the source register) */
	unsigned dst;  /* destination register number (SDM table 2-2) */
	unsigned bits; /* operand size: 16, 32 or 64 */
	size_t len;    /* instruction length */
};

/* True when insn is LSL with a register source; fills op. */
bool pvm_decode_lsl(const uint8_t *insn, size_t len, bool long_mode, const struct kvm_regs *regs,
		    struct pvm_lsl_op *op);

/* Completes it: found (the selector is not null and its descriptor lies
 * inside the GDT/LDT limit) and desc (the 8-byte descriptor) decide ZF and
 * the limit written, with the type and privilege checks of the SDM for the
 * current privilege level cpl; long_mode: IA-32e system types only. */
void pvm_lsl_finish(struct kvm_regs *regs, const struct pvm_lsl_op *op, bool found, uint64_t desc, unsigned cpl,
		    bool long_mode);

/* IRET (CF, no prefix) in 32-bit protected mode at CPL 0 with a 32-bit code
 * and stack segment (KVM's emulator has no protected-mode IRET; the test
 * kernels' NMI handlers need it, since only IRET ends NMI blocking, SDM Vol.
 * 3A 6.7.1): true when insn is one; the caller reads the 12-byte frame at
 * SS:ESP. */
bool pvm_decode_iret32(const uint8_t *insn, size_t len, bool long_mode, bool cs32, bool ss32);
/* Completes a same-privilege return (SDM Vol. 2A "IRET", "RETURN-FROM-PROCEDURE
 * -TO-SAME-PRIVILEGE-LEVEL"): frame = {EIP, CS, EFLAGS} as popped. Only a
 * return to the same code selector cs at CPL 0 is completed (false
 * otherwise: nothing changed); EFLAGS takes every flag IRET may change at
 * CPL 0, bit 1 set; ESP moves past the frame. */
bool pvm_iret32_finish(struct kvm_regs *regs, uint16_t cs, const uint32_t frame[3]);

#endif
