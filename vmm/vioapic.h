/* vioapic.h: virtual 82093AA-compatible I/O APIC (24 pins), pure model with delivery callbacks.
 *
 * Reference: Intel "82093AA I/O Advanced Programmable Interrupt Controller
 * (IOAPIC)" datasheet, order 290566-001 (cited as "82093AA" + section:
 * 3.0 register map, 3.1 IOREGSEL/IOWIN, 3.2.1 IOAPICID, 3.2.2 IOAPICVER,
 * 3.2.3 IOAPICARB, 3.2.4 IOREDTBL); Intel SDM Vol. 3A 10.8.5 (EOI and
 * level-triggered interrupts); bhyve's vmm/io/vioapic.c and QEMU's
 * hw/intc/ioapic.c for what guests rely on.
 *
 * Like bhyve's vioapic this lives in vmm/, but it never sees a VM: the owner
 * maps the MMIO window (VIOAPIC_DEFAULT_BASE, VIOAPIC_MMIO_SIZE bytes) onto
 * vioapic_mmio_read/write, drives the 24 input pins with vioapic_set_irq /
 * vioapic_pulse_irq, calls vioapic_eoi() when a local APIC EOIs a
 * level-triggered vector, and receives interrupt messages through
 * ops->deliver.
 *
 * Version: hyve models the original 82093AA, version 0x11 (IOAPICVER reads
 * VIOAPIC_VERSION_VALUE = 0x00170011: 24 entries). It has no EOI register
 * (that appeared with version 0x20): the only way to clear a Remote IRR is
 * the local APIC's EOI broadcast (vioapic_eoi) or switching the entry to edge
 * mode, which Linux does on 0x11 IOAPICs (arch/x86/kernel/apic/io_apic.c,
 * __eoi_ioapic_pin) and which clears Remote IRR here as in QEMU and KVM. A
 * write to offset 0x40 is dropped.
 *
 * Pins:
 * - `level` given to vioapic_set_irq() is the electrical level of the input
 *   wire. An entry with polarity "low active" (IOREDTBL bit 13) sees the pin
 *   asserted when the wire is 0 (82093AA 3.2.4, Interrupt Input Pin
 *   Polarity). ISA sources are active high: pass 1 while the device requests
 *   an interrupt, and describe them active-high in the MADT/MP table. A wire
 *   that idles high (PCI INTx style, active low) must be driven 1 at rest,
 *   and the firmware tables must say "active low" for it.
 * - Edge-triggered entries deliver once per asserting edge, if unmasked at
 *   that moment; an edge seen while masked is lost (82093AA 3.2.4, mask bit).
 * - Level-triggered entries deliver whenever the pin is asserted, unmasked
 *   and Remote IRR is clear, and set Remote IRR on delivery. vioapic_eoi()
 *   clears Remote IRR of every entry with that vector and delivers again if
 *   the pin is still asserted (SDM 10.8.5). Unmasking (or writing an entry
 *   of) a still-asserted level pin delivers too.
 * - Delivery modes other than Fixed and Lowest Priority (SMI, NMI, INIT,
 *   ExtINT) are always treated as edge-triggered, whatever bit 15 says
 *   (82093AA 3.2.4, delivery mode table), so they never set Remote IRR and
 *   ops->deliver gets level = false for them. The reserved modes 3 and 6 are
 *   never delivered.
 * - vioapic_pulse_irq() is a logical pulse: an asserting edge followed by a
 *   return to rest, independent of polarity. It does nothing if the pin is
 *   already asserted (no edge can be seen) and leaves the wire level as it was.
 * - Delivery is instantaneous: Delivery Status (bit 12) always reads 0 (idle).
 *
 * Threading: every entry point takes the IOAPIC's own mutex; ops->deliver is
 * always called after that mutex is released, synchronously on the thread
 * of the call that caused it (vioapic_set_irq, vioapic_pulse_irq,
 * vioapic_eoi, or the IOWIN write that unmasked a pending level pin). The
 * callback may therefore call back into this IOAPIC, but it runs with
 * whatever locks the *caller* holds: e.g. vioapic_eoi() must not be called
 * with a lock that ops->deliver takes (such as the EOI-ing vLAPIC's own
 * lock), and a device calling vioapic_set_irq under its own lock makes that
 * lock precede the deliver callback's locks. Deliveries from one call are
 * made in pin order. Two threads may race so that their deliveries reach the
 * callback in the opposite order of the state changes; that is harmless
 * because a delivery is a message, not a level.
 *
 * Field legend: (i) set by vioapic_init, constant after; (l) guarded by lock.
 */
#ifndef VMM_VIOAPIC_H
#define VMM_VIOAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define VIOAPIC_DEFAULT_BASE 0xfec00000ULL /* conventional PC address (MP spec, MADT) */
#define VIOAPIC_MMIO_SIZE 0x1000           /* window the owner maps (as bhyve) */
#define VIOAPIC_NPINS 24

/* MMIO offsets within the window (82093AA 3.0 table 1). */
#define VIOAPIC_OFF_IOREGSEL 0x00 /* R/W: bits 7:0 select the register IOWIN shows */
#define VIOAPIC_OFF_IOWIN 0x10    /* R/W: 32-bit window onto the selected register */
#define VIOAPIC_OFF_EOI 0x40      /* version 0x20 only: absent in this model (dropped) */

/* Register indexes written to IOREGSEL (82093AA 3.0 table 2). */
#define VIOAPIC_REG_ID 0x00         /* IOAPICID, bits 27:24 R/W */
#define VIOAPIC_REG_VER 0x01        /* IOAPICVER, read-only */
#define VIOAPIC_REG_ARB 0x02        /* IOAPICARB, read-only */
#define VIOAPIC_REG_REDTBL 0x10     /* IOREDTBL[n]: low half 0x10 + 2n, high half 0x11 + 2n */
#define VIOAPIC_REG_REDTBL_END (VIOAPIC_REG_REDTBL + 2 * VIOAPIC_NPINS) /* 0x40, exclusive */

#define VIOAPIC_ID_SHIFT 24
#define VIOAPIC_ID_MASK 0x0f000000u /* 4-bit APIC ID (82093AA 3.2.1) */
#define VIOAPIC_VERSION 0x11
#define VIOAPIC_VERSION_VALUE (((uint32_t)(VIOAPIC_NPINS - 1) << 16) | VIOAPIC_VERSION)

/* Redirection table entry bits (82093AA 3.2.4). */
#define VIOAPIC_RTE_VECTOR_MASK 0xffULL
#define VIOAPIC_RTE_DM_SHIFT 8
#define VIOAPIC_RTE_DM_MASK (7ULL << VIOAPIC_RTE_DM_SHIFT)
#define VIOAPIC_RTE_DESTMODE_LOGICAL (1ULL << 11)
#define VIOAPIC_RTE_DELIVS (1ULL << 12)       /* read-only delivery status: always 0 here */
#define VIOAPIC_RTE_POLARITY_LOW (1ULL << 13)
#define VIOAPIC_RTE_REMOTE_IRR (1ULL << 14)   /* read-only */
#define VIOAPIC_RTE_TRIGGER_LEVEL (1ULL << 15)
#define VIOAPIC_RTE_MASKED (1ULL << 16)
#define VIOAPIC_RTE_DEST_SHIFT 56
#define VIOAPIC_RTE_DEST_MASK (0xffULL << VIOAPIC_RTE_DEST_SHIFT)
/* Bits software can write; the reserved bits 55:17 read as 0. */
#define VIOAPIC_RTE_RW_BITS                                                                      \
	(VIOAPIC_RTE_VECTOR_MASK | VIOAPIC_RTE_DM_MASK | VIOAPIC_RTE_DESTMODE_LOGICAL |            \
	 VIOAPIC_RTE_POLARITY_LOW | VIOAPIC_RTE_TRIGGER_LEVEL | VIOAPIC_RTE_MASKED |               \
	 VIOAPIC_RTE_DEST_MASK)

/* Delivery modes (IOREDTBL bits 10:8), passed as is to ops->deliver. */
enum vioapic_delivery_mode {
	VIOAPIC_DM_FIXED = 0,
	VIOAPIC_DM_LOWPRIO = 1,
	VIOAPIC_DM_SMI = 2,
	VIOAPIC_DM_RESERVED3 = 3, /* never delivered */
	VIOAPIC_DM_NMI = 4,
	VIOAPIC_DM_INIT = 5,
	VIOAPIC_DM_RESERVED6 = 6, /* never delivered */
	VIOAPIC_DM_EXTINT = 7,
};

struct vioapic_ops {
	/* One interrupt message: dest is IOREDTBL bits 63:56 (an APIC ID when
	 * logical is false, an MDA for the LAPICs' LDR/DFR when true); mode is
	 * an enum vioapic_delivery_mode other than the reserved ones; vector is
	 * bits 7:0 (meaningless for SMI/NMI/INIT/ExtINT); level is true for a
	 * level-triggered Fixed/LowPrio entry: the receiving LAPIC must set the
	 * vector's TMR bit and call vioapic_eoi() on its EOI. Called without the
	 * IOAPIC lock (see "Threading"). May be NULL: messages are dropped (but
	 * Remote IRR is still set as if a LAPIC accepted them). */
	void (*deliver)(void *ctx, uint8_t dest, bool logical, uint8_t mode, uint8_t vector,
			bool level);
};

struct vioapic {
	pthread_mutex_t lock;          /* (i) */
	const struct vioapic_ops *ops; /* (i) never NULL after init */
	void *ctx;                     /* (i) passed to ops->deliver */

	uint32_t id;                   /* (l) IOAPICID register value (bits 27:24 only) */
	uint8_t ioregsel;              /* (l) IOREGSEL */
	uint32_t wire;                 /* (l) bit n: electrical level of input pin n */
	uint64_t rte[VIOAPIC_NPINS];   /* (l) IOREDTBL; RW bits plus Remote IRR */
};

/* Initialises io in its reset state: every entry masked, edge, active high,
 * vector 0 (82093AA 3.2.4: "all entries masked at reset"), every wire at 0,
 * IOAPICID = id (0..15; higher bits are dropped). ops (may be NULL: no
 * delivery) is not copied and must outlive io. Calls no callback.
 * 0, or -errno if the mutex cannot be created. */
int vioapic_init(struct vioapic *io, const struct vioapic_ops *ops, void *ctx, uint8_t id);

/* Destroys the lock. No call may be in progress or start afterwards. */
void vioapic_destroy(struct vioapic *io);

/* Back to the reset state of vioapic_init (keeps the wire levels and the ID
 * given at init). Delivers nothing. */
void vioapic_reset(struct vioapic *io);

/* Guest read of size bytes (1, 2, 4 or 8) at offset in the MMIO window.
 * Offsets 0x00-0x03 read IOREGSEL, 0x10-0x13 the selected register (bytes
 * of it at the offset within the dword; an 8-byte read returns the dword
 * zero-extended); anything else reads 0. Registers that do not exist
 * (including 0x40-0xff) read 0. Returns 0, or -EINVAL (and *val = 0) for a
 * bad size or NULL val; the guest cannot cause an error. No side effect. */
int vioapic_mmio_read(struct vioapic *io, uint64_t offset, unsigned size, uint64_t *val);

/* Guest write of the low size bytes of val (size 1, 2, 4 or 8) at offset.
 * Offset 0 (any size) sets IOREGSEL to the low byte; offset 0x10 with size
 * >= 4 writes the low dword to the selected register (82093AA 3.1: IOWIN
 * is a dword register; narrower writes, and writes elsewhere, are dropped).
 * Writing an unmasked level-triggered entry whose pin is asserted with
 * Remote IRR clear delivers it (after the lock is released). Returns 0, or
 * -EINVAL for a bad size (nothing happens). */
int vioapic_mmio_write(struct vioapic *io, uint64_t offset, unsigned size, uint64_t val);

/* Sets the electrical level of input pin (0..23) and delivers as described
 * in the header comment. 0, or -EINVAL for a bad pin. */
int vioapic_set_irq(struct vioapic *io, unsigned pin, bool level);

/* Logical pulse on pin (0..23): delivers once if the pin is not already
 * asserted (and, for a level entry, Remote IRR is clear). 0, or -EINVAL. */
int vioapic_pulse_irq(struct vioapic *io, unsigned pin);

/* A local APIC EOI'd vector of a level-triggered interrupt (its TMR bit was
 * set): clears Remote IRR of every entry with this vector, then delivers
 * again every such unmasked level entry whose pin is still asserted. */
void vioapic_eoi(struct vioapic *io, uint8_t vector);

/* Test and debug helper: the full 64-bit entry of pin (0..23) as the guest
 * would read it, or 0 for a bad pin. */
uint64_t vioapic_rte(struct vioapic *io, unsigned pin);

#endif
