/* vlapic.h: hyve's virtual local APIC (register file, xAPIC MMIO, x2APIC MSRs, APIC base).
 *
 * Private to libvmm. No KVM and no struct vm: the vCPU layer owns one vlapic per
 * allocated vCPU and is told about ICR writes through struct vlapic_ops, so the
 * register file is unit-tested on the host (tests/unit/test_vlapic.c).
 * SDM = Intel SDM Vol. 3A chapter 10 ("Advanced Programmable Interrupt Controller").
 *
 * Threads: the owner vCPU thread performs register accesses; other threads may
 * call vlapic_set_intr(), vlapic_set_error() and read the published
 * struct apic_addr. An internal mutex serialises all of it.
 */
#ifndef VMM_VLAPIC_H
#define VMM_VLAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/apic_dest.h"

/* xAPIC register offsets in the 4 KiB APIC page (SDM table 10-1). x2APIC MSR = 0x800 + (offset >> 4). */
enum {
	APIC_OFF_ID = 0x020,
	APIC_OFF_VER = 0x030,
	APIC_OFF_TPR = 0x080,
	APIC_OFF_APR = 0x090,
	APIC_OFF_PPR = 0x0a0,
	APIC_OFF_EOI = 0x0b0,
	APIC_OFF_RRD = 0x0c0,
	APIC_OFF_LDR = 0x0d0,
	APIC_OFF_DFR = 0x0e0,
	APIC_OFF_SVR = 0x0f0,
	APIC_OFF_ISR0 = 0x100,
	APIC_OFF_TMR0 = 0x180,
	APIC_OFF_IRR0 = 0x200,
	APIC_OFF_ESR = 0x280,
	APIC_OFF_LVT_CMCI = 0x2f0,
	APIC_OFF_ICR_LO = 0x300,
	APIC_OFF_ICR_HI = 0x310,
	APIC_OFF_LVT_TIMER = 0x320,
	APIC_OFF_LVT_THERMAL = 0x330,
	APIC_OFF_LVT_PMC = 0x340,
	APIC_OFF_LVT_LINT0 = 0x350,
	APIC_OFF_LVT_LINT1 = 0x360,
	APIC_OFF_LVT_ERROR = 0x370,
	APIC_OFF_TIMER_ICR = 0x380,
	APIC_OFF_TIMER_CCR = 0x390,
	APIC_OFF_TIMER_DCR = 0x3e0,
	APIC_OFF_SELF_IPI = 0x3f0, /* x2APIC only (MSR 0x83f) */
	APIC_PAGE_SIZE = 0x1000,
};

#define MSR_IA32_APIC_BASE 0x1b
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff
#define MSR_KVM_PV_EOI_EN 0x4b564d04 /* KVM's paravirtual EOI (vlapic_pv_eoi_vector) */

/* IA32_APIC_BASE bits (SDM 10.4.4, 10.12.1). */
#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_EXTD (1ULL << 10)
#define APIC_BASE_EN (1ULL << 11)
#define APIC_BASE_ADDR_MASK 0xfffffffffffff000ULL

#define APIC_SVR_ENABLE (1u << 8)
#define APIC_LVT_MASKED (1u << 16)

/* ESR bits (SDM 10.5.3). */
#define APIC_ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define APIC_ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define APIC_ESR_ILLEGAL_REG (1u << 7)

struct vlapic;

struct vlapic_ops {
	void *ctx; /* passed back to every callback */
	/* The guest sent an IPI (ICR write, or x2APIC SELF_IPI as a FIXED self IPI).
	 * Called on the owner thread with no vlapic lock held. */
	void (*icr_write)(void *ctx, struct vlapic *vl, uint32_t icr_lo, uint32_t icr_hi);
	/* EOI of a level-triggered vector (TMR bit set) while EOI broadcast is not
	 * suppressed: the core forwards it to the I/O APIC (SDM 10.8.5). Owner
	 * thread, no vlapic lock held. May be NULL. */
	void (*eoi)(void *ctx, uint8_t vector);
	/* Timer plumbing (all may be NULL: then the timer never fires).
	 * timer_arm/timer_disarm are called WITH the vlapic lock held and must not
	 * call back into this vlapic; the owner calls vlapic_timer_fired() when the
	 * deadline passes. */
	void (*timer_arm)(void *ctx, uint64_t deadline_ns);
	void (*timer_disarm)(void *ctx);
	uint64_t (*now_ns)(void *ctx);    /* CLOCK_MONOTONIC ns */
	uint64_t (*guest_tsc)(void *ctx); /* the vCPU's TSC now */
	uint32_t tsc_khz;                 /* guest TSC frequency (TSC-deadline mode) */
	/* Shared by every vLAPIC of a VM (may be NULL): how many of them have a
	 * current APIC ID other than their initial one (an xAPIC ID write, SDM
	 * 10.4.6). Changed with atomic adds under the changing vlapic's lock;
	 * destination resolution reads it (apic_dest_resolve's ids_moved). */
	uint32_t *ids_moved;
};

/* The APIC timer counts at this bus frequency divided by TDCR (SDM 10.5.4);
 * 1 GHz as in KVM and QEMU. */
#define VLAPIC_BUS_HZ 1000000000ULL

/* Creates a vlapic in its power-on state (SDM 10.4.7.1) for the vCPU with APIC
 * ID `id`. `pub` (owned by the caller, lives as long as the vlapic) receives the
 * addressing state destination resolution reads. phys_bits: guest MAXPHYADDR.
 * Returns NULL on allocation failure. */
struct vlapic *vlapic_create(uint32_t id, bool bsp, bool x2apic_capable, unsigned phys_bits,
			     struct apic_addr *pub, const struct vlapic_ops *ops);
void vlapic_destroy(struct vlapic *vl);

/* INIT reset (SDM 10.4.7.3): keeps the APIC base, x2APIC mode and the APIC ID
 * (a rewritten xAPIC ID survives INIT, as on hardware and in KVM's
 * kvm_lapic_reset(init_event); a power-on or global disable restores it);
 * SVR = 0xff (software disabled), LVTs masked, DFR all ones, LDR 0 in xAPIC mode,
 * IRR/ISR/TMR/ESR/ICR/timer cleared. */
void vlapic_init_reset(struct vlapic *vl);

/* xAPIC MMIO access at `off` (0..0xfff) of the APIC page. Accesses that are not
 * a naturally aligned 4-byte access within a register's first dword read 0 and
 * write nothing. Always succeeds: a guest cannot make it fail. */
void vlapic_mmio_read(struct vlapic *vl, uint32_t off, unsigned size, uint64_t *val);
void vlapic_mmio_write(struct vlapic *vl, uint32_t off, unsigned size, uint64_t val);

/* x2APIC MSR access (0x800-0x8ff). Returns 0, or -EINVAL when the guest must get
 * #GP (not in x2APIC mode, write-only/read-only/absent register, reserved bits;
 * SDM 10.12.1.2). */
int vlapic_rdmsr(struct vlapic *vl, uint32_t msr, uint64_t *val);
int vlapic_wrmsr(struct vlapic *vl, uint32_t msr, uint64_t val);

/* IA32_APIC_BASE. set returns -EINVAL (#GP) for reserved bits and for the mode
 * transitions SDM 10.12.5 forbids. */
uint64_t vlapic_get_apicbase(struct vlapic *vl);
int vlapic_set_apicbase(struct vlapic *vl, uint64_t val);
/* Guest-physical base of the MMIO page while in xAPIC mode; 0 when the MMIO
 * interface is off (globally disabled or x2APIC mode). */
uint64_t vlapic_mmio_base(struct vlapic *vl);
bool vlapic_x2apic_mode(struct vlapic *vl);

/* Accept a fixed interrupt: sets IRR (and TMR for level). Returns false (and
 * accepts nothing) when the APIC is software- or globally disabled. Vectors
 * 0-15 set ESR "receive illegal vector" instead (SDM 10.5.2). Any thread. */
bool vlapic_set_intr(struct vlapic *vl, uint8_t vector, bool level);
/* Latches error bits into the pending ESR state (any thread). */
void vlapic_set_error(struct vlapic *vl, uint32_t esr_bits);

/* Highest pending vector whose priority class is above the PPR, or -1. */
int vlapic_pending_intr(struct vlapic *vl);
/* The vCPU layer injected `vector`: IRR -> ISR, PPR updated (SDM 10.8.4). */
void vlapic_intr_accepted(struct vlapic *vl, uint8_t vector);
/* The injection step under one lock (vcpu.c, before each entry): with
 * can_inject, the highest deliverable vector is accepted (IRR -> ISR) and
 * returned, else -1; *more: a vector (still) deliverable, for which an
 * interrupt window is wanted; *cr8: TPR[7:4]. */
int vlapic_inject(struct vlapic *vl, bool can_inject, bool *more, uint8_t *cr8);

/* KVM's paravirtual EOI (Linux Documentation/virt/kvm/x86/msr.rst,
 * MSR_KVM_PV_EOI_EN), which hyve implements itself: before an entry the
 * vCPU layer may let the guest end the highest in-service vector by clearing
 * a flag in its memory instead of writing EOI. Allowed (returns that vector)
 * only when nothing is requested (IRR empty: an EOI that would let another
 * interrupt in must exit so that it is injected) and the vector needs no EOI
 * broadcast (TMR clear: edge-triggered, SDM 10.8.5); else -1. These are
 * KVM's conditions (lapic.c, apic_sync_pv_eoi_to_guest). */
int vlapic_pv_eoi_vector(struct vlapic *vl);
/* The guest cleared the flag set for `vector`: an EOI, if that vector is
 * still the highest in service (an INIT in between leaves nothing to end). */
void vlapic_pv_eoi(struct vlapic *vl, uint8_t vector);

/* The timer's deadline passed (called by the owner of timer_arm, on any
 * thread): sets the LVT timer vector in IRR unless masked and re-arms a
 * periodic timer. Returns true when an interrupt became pending. */
bool vlapic_timer_fired(struct vlapic *vl);
/* IA32_TSC_DEADLINE (SDM 10.5.4.1): reads 0 and ignores writes unless the LVT
 * timer is in TSC-deadline mode; a write of 0 disarms. */
uint64_t vlapic_tsc_deadline_read(struct vlapic *vl);
void vlapic_tsc_deadline_write(struct vlapic *vl, uint64_t val);

/* What a LINT pin event asks the vCPU to do (SDM 10.5.1). */
enum vlapic_lint_action {
	VLAPIC_LINT_NONE = 0,  /* masked, or nothing to do */
	VLAPIC_LINT_NMI = 1,   /* inject an NMI */
	VLAPIC_LINT_EXTINT = 2, /* take the vector from the 8259 (INTA cycle) */
	VLAPIC_LINT_IRR = 3     /* fixed mode: an IRR bit was set, wake the vCPU */
};
/* LINT0/LINT1 (pin 0/1) changed level. Fixed mode sets IRR on the asserting
 * edge; NMI mode asks for an NMI on the asserting edge; ExtINT is level: the
 * caller asks vlapic_accepts_extint() whenever it may inject. */
enum vlapic_lint_action vlapic_lint(struct vlapic *vl, unsigned pin, bool level);
/* True when an 8259 interrupt on INTR would be taken: LINT0 unmasked in ExtINT
 * mode, or the APIC globally disabled (the pin then goes straight to the CPU). */
bool vlapic_accepts_extint(struct vlapic *vl);

/* TPR <-> CR8 (CR8 = TPR[7:4], SDM 10.8.6.1). */
uint8_t vlapic_get_cr8(struct vlapic *vl);
void vlapic_set_cr8(struct vlapic *vl, uint8_t cr8);

/* The initial APIC ID (== vCPU id; the x2APIC ID). The current one is in the
 * published struct apic_addr and the ID register. */
uint32_t vlapic_id(const struct vlapic *vl);
/* Reads a register by xAPIC offset, for traces and tests (no side effects). */
uint32_t vlapic_peek(struct vlapic *vl, uint32_t off);

#endif
