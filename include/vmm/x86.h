/* x86.h: the x86 types of libvmm's ABI, libc only: what loaders, the core and
 * frontends share without any of them depending on another (no KVM header,
 * no core header). */
#ifndef VMM_X86_H
#define VMM_X86_H

#include <stdint.h>

/* A segment register's hidden descriptor cache (Intel SDM Vol. 3A 3.4.5):
 * limit in bytes (0xffffffff for the flat 4 GiB segments, with g = 1). */
struct vm_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type;    /* descriptor type field, accessed bit set (code 0xb, data 0x3, busy TSS 0xb) */
	uint8_t s;       /* 1: code/data, 0: system (TSS) */
	uint8_t dpl;
	uint8_t present;
	uint8_t db;      /* 1: 32-bit default size (0 for 64-bit code and the TSS) */
	uint8_t l;       /* 1: 64-bit code */
	uint8_t g;       /* 1: limit in 4 KiB units in the descriptor */
	uint8_t unusable; /* VMX's "segment unusable" (a null selector); loaders leave it 0 */
};

/* The BSP's state at a kernel's entry, filled by a loader (Multiboot 0.6.96
 * 3.2, Linux's 64-bit boot protocol or PVH entry) and set by
 * vm_vcpu_setup_boot(). Registers not named here start at 0. */
struct vm_boot_cpu {
	uint64_t rip, rax, rbx, rsi, rflags; /* rflags 0: 0x2 (IF = 0) */
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;                  /* bytes - 1 */
	struct vm_segment cs, ds;            /* ds also for ES, FS, GS and SS */
	struct vm_segment tr;                /* loaded when tr.present */
};

/* VM_EXITCODE_IPI's u.ipi.mode: the ICR delivery modes of the two start-up
 * IPIs (Intel SDM Vol. 3A 10.6.1, ICR bits 10:8). */
enum vm_ipi_mode {
	VM_IPI_INIT = 5,
	VM_IPI_STARTUP = 6
};

#endif
