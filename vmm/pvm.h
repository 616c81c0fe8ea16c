/* pvm.h: completing the few instructions KVM-PVM cannot emulate (pure; unit-tested).
 *
 * On a KVM-PVM host guest CPL0 code is emulated by KVM's instruction
 * emulator, which stops with an emulation failure on instructions it does not
 * know. hyve completes some of them itself, exactly as the processor would:
 * int3 (a #BP trap), CLAC/STAC (SMAP) and the register forms of POPCNT,
 * LZCNT and TZCNT (SDM Vol. 2A/2B), which Linux patches in when CPUID says
 * the CPU has them (PVM lets the guest see the host's CPUID bits, so they
 * cannot be hidden). On VMX/SVM
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

#endif
