/* vmm_debug.h: libvmm's debug support, what a debugger stub (frontend/gdb*.c)
 * needs: bhyve's vm_suspend_cpu()/vm_resume_cpu(), VM_EXITCODE_DEBUG and
 * VM_CAP_BPT_EXIT/MTRAP_EXIT, over KVM_SET_GUEST_DEBUG.
 *
 * Stopping. vm_debug_stop() holds every vCPU out of the guest: each one's
 * thread parks at the top of vm_run()'s loop before it would enter the guest
 * (a vCPU in KVM_RUN is kicked out; a halted one is woken to park; a vCPU
 * that gets its thread, or a STARTUP, while the VM is held parks before its
 * first instruction). Parked threads still serve rendezvous (an INIT from a
 * vCPU that was in an exit handler when the stop came) and leave when the VM
 * ends. Once every vCPU with a thread is parked, ops->all_stopped() is
 * called, once per stop, on the thread that parked last (or on the caller's
 * when none runs). vm_debug_resume() lets them go, each as its
 * vm_debug_set_run() action says: stay held, continue, or single-step one
 * instruction (KVM_GUESTDBG_SINGLESTEP; SDM 17.3.1.4, EFLAGS.TF).
 *
 * Breakpoints. Software breakpoints are the debugger's int3 bytes in guest
 * memory (it keeps the table and the original bytes); with `sw` on, KVM
 * intercepts every #BP (KVM_GUESTDBG_USE_SW_BP): one that is not the
 * debugger's goes back to the guest with vm_debug_inject_bp(). Hardware
 * breakpoints and watchpoints are DR0-DR3 with DR7 (SDM 17.2.4), the same on
 * every vCPU (KVM_GUESTDBG_USE_HW_BP: KVM loads them instead of the guest's).
 * A hit comes back from vm_run() as VM_EXITCODE_DEBUG (u.debug) on the
 * vCPU's thread; a #DB that none of the debugger's settings explain (the
 * guest's own TF) is handed to the guest inside libvmm.
 *
 * Registers and memory of a vCPU are read and written from any thread while
 * the VM is stopped (all_stopped was called and no resume since): -EBUSY
 * otherwise. Memory goes by guest virtual address through that vCPU's page
 * tables (vmm/x86_debug.c walks them: paging off, 32-bit, PAE, 4-/5-level),
 * then guest RAM (vmm/gmem.c); the APIC and device windows are not RAM.
 *
 * Every function returns 0 (or a count) or -errno. Nothing here is used
 * unless vm_debug_enable() was called before the first vCPU ran.
 */
#ifndef VMM_VMM_DEBUG_H
#define VMM_VMM_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/* What stopped a vCPU: struct vm_exit u.debug.kind (SDM 17.3.1, table 17-2). */
enum vm_debug_kind {
	VM_DEBUG_SWBREAK = 0, /* #BP (vector 3) at pc: the debugger's int3, or the guest's own */
	VM_DEBUG_HWBREAK = 1, /* #DB: instruction breakpoint DR[dr] (R/W 00) at pc */
	VM_DEBUG_WATCH = 2,   /* #DB: data breakpoint DR[dr] at addr; pc is after the access */
	VM_DEBUG_STEP = 3,    /* #DB: the single step vm_debug_set_run() asked for ended (DR6.BS) */
};

struct vm_debug_ops {
	void (*all_stopped)(void *ctx); /* every vCPU with a thread is held; no libvmm lock held */
};

enum vm_debug_run {
	VM_DEBUG_STAY = 0,     /* stays held after vm_debug_resume() */
	VM_DEBUG_CONTINUE = 1, /* runs */
	VM_DEBUG_STEP_ONE = 2, /* runs one instruction, then exits with VM_DEBUG_STEP */
};

/* Registers as a debugger sees them (KVM_GET_REGS, _SREGS, _FPU). */
struct vm_debug_regs {
	uint64_t gpr[16];        /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (encoding order) */
	uint64_t rip, rflags;
	uint16_t sel[6];         /* cs ss ds es fs gs selectors (read only here) */
	uint64_t fs_base, gs_base; /* read only here */
	uint64_t cr0, cr2, cr3, cr4, efer; /* read only here */
	/* x87 and SSE in FXSAVE's terms (SDM Vol. 1 10.5.1) */
	uint8_t st[8][10];       /* ST(0)..ST(7), 80 bits each */
	uint16_t fcw, fsw;
	uint8_t ftw;             /* abridged tag: bit i set = physical register i valid */
	uint16_t fop;
	uint64_t fip, fdp;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
};

/* Before any vCPU runs. Then every vCPU thread checks the debug state before
 * each entry (one atomic load when nothing is asked). */
int vm_debug_enable(struct vm *vm, const struct vm_debug_ops *ops, void *ctx);

/* Asks every vCPU to stop (returns at once); ops->all_stopped() follows. A
 * stop already in progress or done is not repeated. Any thread. */
void vm_debug_stop(struct vm *vm);
/* True between all_stopped() and the next vm_debug_resume(). */
bool vm_debug_stopped(struct vm *vm);
/* The action of vCPU id (allocated or not) at the next resume. While stopped. */
int vm_debug_set_run(struct vm *vm, uint32_t id, enum vm_debug_run how);
/* Ends the stop: every vCPU goes on as its action says. Any thread. */
void vm_debug_resume(struct vm *vm);

/* Breakpoint settings of every vCPU (KVM_SET_GUEST_DEBUG before its next
 * entry): sw: intercept #BP; dr[0..3] and dr7 (only the L/G enable, R/W and
 * LEN fields are used). While stopped. */
int vm_debug_set_breakpoints(struct vm *vm, bool sw, const uint64_t dr[4], uint64_t dr7);

/* While stopped. -EINVAL: vCPU id has no state (never allocated). set_regs
 * writes the general registers, RIP, RFLAGS and the x87/SSE state; the
 * segment, base and control registers are left as they are. */
int vm_debug_get_regs(struct vm *vm, uint32_t id, struct vm_debug_regs *r);
int vm_debug_set_regs(struct vm *vm, uint32_t id, const struct vm_debug_regs *r);
/* Guest virtual address va through vCPU id's paging: the bytes copied (fewer
 * than n where the mapping or the RAM ends), or -EFAULT when none. While
 * stopped. A write to code goes straight to RAM (KVM sees it at once). */
int vm_debug_read(struct vm *vm, uint32_t id, uint64_t va, void *buf, size_t n);
int vm_debug_write(struct vm *vm, uint32_t id, uint64_t va, const void *buf, size_t n);

/* Owner thread, on a VM_DEBUG_SWBREAK exit that is not the debugger's: the
 * guest gets its #BP as if nobody had intercepted it (return address after
 * the int3, SDM 6.15 "Interrupt 3"). */
int vm_debug_inject_bp(struct vcpu *vcpu);

#endif
