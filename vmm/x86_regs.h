/* x86_regs.h: the register file as libvmm's pure modules see it (private,
 * libc only). vmm/kvm.c converts it to and from KVM's structs, so that
 * pvm.c, vcpu_start.c and vcpu_pvm.c need no KVM header. */
#ifndef VMM_X86_REGS_H
#define VMM_X86_REGS_H

#include <stdint.h>

#include "vmm/x86.h"

/* General-purpose registers, RIP and RFLAGS (KVM_GET_REGS's subset). gpr[]
 * is indexed by the register's encoding (SDM Vol. 2A 2.1.5, table 2-2: REX
 * extends ModRM.reg/rm and SIB.base/index to 4 bits), so a decoder needs no
 * map; the names alias the same storage. */
struct x86_regs {
	union {
		uint64_t gpr[16];
		struct {
			uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
			uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
		};
	};
	uint64_t rip, rflags;
};

/* GDTR / IDTR (SDM Vol. 3A 2.4.1): limit in bytes - 1. */
struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

/* System registers and segment caches (KVM_GET_SREGS's subset). KVM's
 * pending-interrupt bitmap is not carried: hyve injects its own interrupts,
 * and kvm_set_sregs() gives KVM an empty one. Segment `unusable` is VMX's
 * "segment unusable" bit (SDM Vol. 3C 24.4.1), as KVM reports it. */
struct x86_sregs {
	struct vm_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t apic_base; /* KVM's copy of IA32_APIC_BASE (hyve's own is in the vLAPIC) */
};

/* x87 and SSE state, FXSAVE's fields (SDM Vol. 1 10.5.1; KVM_GET_FPU's subset). */
struct x86_fpu {
	uint8_t fpr[8][16]; /* ST(0)..ST(7), 80 bits each in the low 10 bytes */
	uint16_t fcw, fsw;
	uint8_t ftwx;       /* abridged tag word: bit i set = physical register i valid */
	uint16_t last_opcode;
	uint64_t last_ip, last_dp;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
};

/* The host's time-stamp counter (SDM Vol. 2B RDTSC); the guest's is this
 * plus its TSC offset. */
static inline uint64_t x86_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#endif
