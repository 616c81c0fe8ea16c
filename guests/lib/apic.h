/* apic.h: local APIC registers, ICR encoding and access helpers for the guests.
 *
 * SDM = Intel SDM Vol. 3A chapter 10. xAPIC registers are 32-bit MMIO at
 * 0xfee00000 + offset (table 10-1); in x2APIC mode the same register is MSR
 * 0x800 + (offset >> 4) (table 10-6), and the ICR is one 64-bit MSR 0x830
 * with the destination in bits 63:32 (10.12.9).
 *
 * Every CPU of a test uses the same mode: the BSP sets apic_x2mode before it
 * starts APs, and each AP switches its own APIC to x2APIC when it is set.
 */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include "rt.h"

/* IA32_APIC_BASE (SDM 10.4.4, 10.12.1) */
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_EXTD (1u << 10) /* x2APIC mode enable */
#define APIC_BASE_EN (1u << 11)   /* APIC global enable */

#define XAPIC_MMIO_BASE 0xfee00000u

/* Register offsets (SDM table 10-1) */
#define APIC_ID 0x020
#define APIC_VERSION 0x030
#define APIC_TPR 0x080
#define APIC_PPR 0x0a0
#define APIC_EOI 0x0b0
#define APIC_LDR 0x0d0
#define APIC_DFR 0x0e0 /* xAPIC only */
#define APIC_SVR 0x0f0
#define APIC_ISR0 0x100
#define APIC_IRR0 0x200
#define APIC_ESR 0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310 /* xAPIC only: destination in bits 31:24 */
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_SELF_IPI 0x3f0 /* x2APIC only (MSR 0x83f) */

#define X2APIC_MSR(off) (0x800u + ((off) >> 4))
#define MSR_X2APIC_ID X2APIC_MSR(APIC_ID)   /* 0x802 */
#define MSR_X2APIC_LDR X2APIC_MSR(APIC_LDR) /* 0x80d, read-only */
#define MSR_X2APIC_ICR X2APIC_MSR(APIC_ICR_LO) /* 0x830 */

/* SVR (10.9): bit 8 software enable, bits 7:0 spurious vector */
#define APIC_SVR_ENABLE (1u << 8)

/* DFR models (10.6.2.2), bits 31:28 */
#define APIC_DFR_FLAT 0xffffffffu
#define APIC_DFR_CLUSTER 0x0fffffffu

/* ESR bits (10.5.3) */
#define APIC_ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define APIC_ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define APIC_ESR_ILLEGAL_REG (1u << 7)

/* ICR low word (10.6.1, figure 10-12) */
#define APIC_ICR_VECTOR(v) ((uint32_t)(v) & 0xffu)
#define APIC_DM_FIXED (0u << 8)
#define APIC_DM_LOWPRIO (1u << 8)
#define APIC_DM_SMI (2u << 8)
#define APIC_DM_NMI (4u << 8)
#define APIC_DM_INIT (5u << 8)
#define APIC_DM_STARTUP (6u << 8)
#define APIC_DEST_PHYSICAL 0u
#define APIC_DEST_LOGICAL (1u << 11)
#define APIC_ICR_BUSY (1u << 12) /* delivery status (xAPIC) */
#define APIC_LEVEL_ASSERT (1u << 14)
#define APIC_TRIGGER_LEVEL (1u << 15)
#define APIC_SH_NONE (0u << 18)
#define APIC_SH_SELF (1u << 18)
#define APIC_SH_ALL_INCL (2u << 18)
#define APIC_SH_ALL_EXCL (3u << 18)
#define APIC_SH_MASK (3u << 18)

/* Physical broadcast destinations (10.6.2.1, 10.12.9) */
#define XAPIC_BROADCAST 0xffu
#define X2APIC_BROADCAST 0xffffffffu

/* 1 when every CPU of this test runs its APIC in x2APIC mode. */
extern volatile uint32_t apic_x2mode;

static inline uint32_t xapic_read(uint32_t off) { return *(volatile uint32_t *)(XAPIC_MMIO_BASE + off); }
static inline void xapic_write(uint32_t off, uint32_t v) { *(volatile uint32_t *)(XAPIC_MMIO_BASE + off) = v; }

/* Mode-independent 32-bit register access (not for the ICR: use apic_send). */
static inline uint32_t apic_read(uint32_t off)
{
	return apic_x2mode ? (uint32_t)rdmsr(X2APIC_MSR(off)) : xapic_read(off);
}
static inline void apic_write(uint32_t off, uint32_t v)
{
	if (apic_x2mode)
		wrmsr(X2APIC_MSR(off), v);
	else
		xapic_write(off, v);
}

/* This CPU's APIC ID: xAPIC ID register bits 31:24, or the 32-bit x2APIC ID. */
static inline uint32_t apic_id(void) { return apic_x2mode ? (uint32_t)rdmsr(MSR_X2APIC_ID) : xapic_read(APIC_ID) >> 24; }

static inline void apic_eoi(void) { apic_write(APIC_EOI, 0); }

/* KVM's paravirtual EOI (Linux Documentation/virt/kvm/x86/msr.rst,
 * MSR_KVM_PV_EOI_EN), as Linux guests use it: each CPU hands the hypervisor
 * a 4-byte-aligned word; when the hypervisor set its bit 0 before the guest
 * took an interrupt, the handler ends the interrupt by clearing that bit
 * instead of writing EOI (no exit). pv_eoi_offered(): a "KVMKVMKVM" CPUID
 * leaf 0x40000000 + n * 0x100 whose next leaf has EAX bit 6
 * (KVM_FEATURE_PV_EOI). pv_eoi_enable(): on this CPU (word NULL: off). */
#define MSR_KVM_PV_EOI_EN 0x4b564d04
bool pv_eoi_offered(void);
void pv_eoi_enable(volatile uint32_t *word);
/* The EOI of an edge-triggered interrupt on the CPU that owns `word`. */
static inline void pv_eoi_end(volatile uint32_t *word)
{
	uint8_t was;
	/* BTR: one instruction, atomic with respect to this CPU (what the
	 * protocol needs: the hypervisor touches the word only while this CPU
	 * is out of the guest). */
	__asm__ volatile("btrl $0, %0; setc %1" : "+m"(*word), "=q"(was) : : "memory", "cc");
	if (!was)
		apic_eoi();
}

/* CPUID.1:ECX[21] */
bool cpu_has_x2apic(void);
/* Switches this CPU's APIC to x2APIC mode (EN and EXTD set; a no-op if it
 * already is). The caller checked cpu_has_x2apic(). */
void x2apic_enable_self(void);
/* SVR = enable | spurious vector 0xff: needed to accept fixed interrupts. */
void apic_sw_enable(void);
/* Sends an IPI: icr_lo is the low ICR word (mode, vector, shorthand, ...);
 * dest is the 8-bit xAPIC or 32-bit x2APIC destination (ignored with a
 * shorthand). xAPIC: writes ICR_HI then ICR_LO (the write to ICR_LO sends),
 * then waits (bounded) for the delivery status to read idle. */
void apic_send(uint32_t dest, uint32_t icr_lo);
/* ESR protocol (SDM 10.5.3): write, then read what was logged since the
 * previous write. */
uint32_t apic_esr_latch(void);

/* Logical-destination match of an xAPIC with this DFR and LDR against an
 * 8-bit MDA, as SDM 10.6.2.2 defines it for the flat and flat-cluster models
 * (without the all-ones broadcast, which the tests never send). */
bool xapic_logical_match(uint32_t dfr, uint32_t ldr, uint8_t mda);
/* x2APIC logical ID derived from the x2APIC ID (SDM 10.12.10.2). */
static inline uint32_t x2apic_ldr_of(uint32_t id) { return ((id >> 4) << 16) | (1u << (id & 0xf)); }
/* x2APIC logical match (SDM 10.12.10.2): same cluster, mask bits intersect. */
static inline bool x2apic_logical_match(uint32_t ldr, uint32_t dest)
{
	return (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xffffu) != 0;
}

#endif
