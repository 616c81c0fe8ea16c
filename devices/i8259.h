/* i8259.h: bus-agnostic model of the PC's cascaded 8259A interrupt controller pair with ELCR.
 *
 * References: Intel "8259A Programmable Interrupt Controller" datasheet
 * (order 231468, cited as "8259A" + section: Interrupt Sequence, ICW1-4,
 * OCW1-3, Fully Nested Mode, Special Mask Mode, Poll Command, Cascade
 * Mode); Intel 82371AB PIIX4 datasheet section 4.1.12 (ELCR1/2 at
 * 0x4d0/0x4d1, IRQ0-2, 8 and 13 always edge; ICW1.LTIM ignored in favour
 * of ELCR); QEMU hw/intc/i8259.c and bhyve vmm/io/vatpic.c.
 *
 * The model sees six byte registers, numbered I8259_REG_*; the frontend's
 * adapter maps ports 0x20/0x21 (master), 0xa0/0xa1 (slave) and
 * 0x4d0/0x4d1 (ELCR) onto them. The slave's INT output is wired to the
 * master's IR2 inside the model. Effects leave through callbacks:
 *   intr  the level of the master's INT output, called whenever it changes.
 *         The owner routes it to the BSP's LINT0 (ExtINT in virtual wire
 *         mode, or INTR when the LAPIC is off) and/or IOAPIC pin 0; when
 *         the CPU takes the interrupt it calls i8259_intack(), which does
 *         what the two INTA cycles do and returns the vector.
 *
 * Behaviour worth knowing:
 * - Inputs are levels (i8259_set_irq). An edge-triggered input (ELCR bit
 *   clear) latches IRR on a low-to-high transition; a level-triggered one
 *   holds IRR while high and drops it when low (8259A "Edge and Level
 *   Triggered Modes"; PIIX4 ELCR). IRR of an edge input is cleared by INTA;
 *   of a level input only by the line going low.
 * - ICW1 resets the chip's logic: IMR = 0, IRR edge latches cleared (an
 *   input that is high must go low and high again: "edge sense circuit
 *   reset", 8259A ICW1), ISR = 0 (the datasheet is silent; QEMU and bhyve
 *   clear it too), IR7 lowest priority, special mask off, read IRR, no
 *   AEOI. ICW3 is accepted and ignored: the cascade is always slave -> IR2.
 *   ICW4.uPM = 0 (8080 mode) and ICW1.SNGL are not modelled: the pair is
 *   always cascaded and always returns 8086-style vectors (ICW2 & 0xf8 +
 *   IR). ICW1.LTIM is ignored (PIIX4: ELCR decides). The master's IR2
 *   follows the slave's INT as a level, whatever ELCR says.
 * - Before the guest's first ICW1 the chips act as if initialised with
 *   vector bases 0x08 and 0x70 (the BIOS values) and IMR = 0xff.
 * - Special fully nested mode (ICW4.SFNM) is honoured on the master only.
 * - Spurious interrupts: i8259_intack() with nothing pending on the master
 *   returns master base + 7 and sets no ISR bit; if the master selects IR2
 *   but the slave has nothing, the master's ISR2 is set (the master took
 *   the cascade) and the vector is slave base + 7 (8259A "Interrupt
 *   Sequence": "if no interrupt request is present ... an IR7 is issued").
 * - Poll (OCW3.P): the next read of either port of that chip returns
 *   0x80 | level and acknowledges it like an INTA, or 0 when nothing is
 *   pending.
 *
 * Threading: every entry point takes the pair's own mutex; ops->intr is
 * called with it held (so levels reach the owner in order) and must not
 * call back into this PIC. Lock order is therefore: any device that calls
 * i8259_set_irq under its own lock -> this PIC's lock -> whatever intr
 * takes (in hyve: vm->rv_mtx, a vCPU's mtx, vm->lock, vLAPIC locks;
 * docs/architecture.md "Lock order"). Consequently a
 * thread must not hold a lock that intr takes while it calls
 * i8259_intack() or any other i8259 function.
 *
 * Field legend: (i) set by i8259_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_I8259_H
#define DEVICES_I8259_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* PC ports (for the adapter). */
#define I8259_PORT_MASTER 0x20 /* 2 ports: command, data */
#define I8259_PORT_SLAVE 0xa0  /* 2 ports */
#define I8259_PORT_ELCR 0x4d0  /* 2 ports: master ELCR, slave ELCR */

/* Register numbers the model exposes. */
#define I8259_REG_MASTER_CMD 0  /* port 0x20: ICW1, OCW2, OCW3 / IRR, ISR, poll */
#define I8259_REG_MASTER_DATA 1 /* port 0x21: ICW2-4, OCW1 / IMR */
#define I8259_REG_SLAVE_CMD 2   /* port 0xa0 */
#define I8259_REG_SLAVE_DATA 3  /* port 0xa1 */
#define I8259_REG_ELCR_MASTER 4 /* port 0x4d0 */
#define I8259_REG_ELCR_SLAVE 5  /* port 0x4d1 */
#define I8259_NREGS 6

#define I8259_NIRQS 16
#define I8259_CASCADE_IRQ 2 /* master input driven by the slave's INT */

/* Command-port bytes (8259A ICW1, OCW2, OCW3). Bit 4 set: ICW1; else bit 3
 * set: OCW3; else OCW2. */
#define I8259_ICW1 0x10
#define I8259_ICW1_IC4 0x01  /* ICW4 follows */
#define I8259_ICW1_SNGL 0x02 /* single (no ICW3): not modelled */
#define I8259_ICW1_LTIM 0x08 /* ignored (ELCR) */
#define I8259_OCW3 0x08
#define I8259_OCW3_RIS 0x01  /* with RR: read ISR (else IRR) */
#define I8259_OCW3_RR 0x02   /* read register command */
#define I8259_OCW3_P 0x04    /* poll command */
#define I8259_OCW3_SMM 0x20  /* with ESMM: set special mask mode (else reset) */
#define I8259_OCW3_ESMM 0x40 /* enable special mask mode change */
#define I8259_OCW2_LEVEL_MASK 0x07
#define I8259_OCW2_CMD_MASK 0xe0 /* R, SL, EOI */
#define I8259_OCW2_ROT_AEOI_CLR 0x00 /* rotate in automatic EOI mode: clear */
#define I8259_OCW2_NSEOI 0x20        /* non-specific EOI */
#define I8259_OCW2_NOP 0x40
#define I8259_OCW2_SEOI 0x60          /* specific EOI of level L */
#define I8259_OCW2_ROT_AEOI_SET 0x80  /* rotate in automatic EOI mode: set */
#define I8259_OCW2_ROT_NSEOI 0xa0     /* rotate on non-specific EOI */
#define I8259_OCW2_SET_PRIO 0xc0      /* set priority: L becomes lowest */
#define I8259_OCW2_ROT_SEOI 0xe0      /* rotate on specific EOI of level L */
/* ICW4 bits */
#define I8259_ICW4_UPM 0x01  /* 8086 mode (assumed even if clear) */
#define I8259_ICW4_AEOI 0x02 /* automatic EOI */
#define I8259_ICW4_SFNM 0x10 /* special fully nested mode */

/* ELCR bits that can be set: IRQ0, 1, 2 and IRQ8, 13 are always edge (PIIX4 4.1.12). */
#define I8259_ELCR_MASTER_MASK 0xf8
#define I8259_ELCR_SLAVE_MASK 0xde

struct i8259_ops {
	void (*intr)(void *ctx, bool level); /* master INT output; may be NULL */
};

/* One 8259A. */
struct i8259_chip {
	uint8_t irr;          /* (l) interrupt request register */
	uint8_t isr;          /* (l) in-service register */
	uint8_t imr;          /* (l) interrupt mask register */
	uint8_t elcr;         /* (l) 1 = level-triggered input (PIIX ELCR) */
	uint8_t lines;        /* (l) current input levels (IR2 of master: slave INT) */
	uint8_t vector_base;  /* (l) ICW2 & 0xf8 */
	uint8_t prio_add;     /* (l) IR with the highest priority (rotation) */
	uint8_t icw_expect;   /* (l) 0: operational; 2, 3, 4: next data byte is that ICW */
	bool icw4_needed;     /* (l) ICW1.IC4 */
	bool aeoi;            /* (l) ICW4.AEOI */
	bool rotate_aeoi;     /* (l) OCW2 rotate in AEOI mode */
	bool sfnm;            /* (l) ICW4.SFNM (honoured on the master only) */
	bool special_mask;    /* (l) OCW3 SMM */
	bool read_isr;        /* (l) OCW3 RIS: command-port reads return ISR */
	bool poll;            /* (l) OCW3 P: next read is a poll */
};

struct i8259 {
	pthread_mutex_t lock;         /* (i) */
	const struct i8259_ops *ops;  /* (i) never NULL after init */
	void *ctx;                    /* (i) passed to ops->intr */
	struct i8259_chip chip[2];    /* (l) [0] master, [1] slave */
	bool int_out;                 /* (l) last level given to ops->intr */
};

/* Initialises pic in its reset state (see "Before the guest's first ICW1").
 * ops (may be NULL) is not copied and must outlive pic. Calls no callback.
 * 0, or -errno if the mutex cannot be created. */
int i8259_init(struct i8259 *pic, const struct i8259_ops *ops, void *ctx);

/* Destroys the lock. No call may be in progress or start afterwards. */
void i8259_destroy(struct i8259 *pic);

/* Back to the init state (ELCR = 0, input levels kept). Lowers INT if raised. */
void i8259_reset(struct i8259 *pic);

/* Guest read of register reg (I8259_REG_*). A poll read acknowledges (may
 * lower INT). An unknown reg reads 0xff and changes nothing. */
uint8_t i8259_read(struct i8259 *pic, unsigned reg);

/* Guest write of value to register reg (I8259_REG_*). Unknown reg: ignored. */
void i8259_write(struct i8259 *pic, unsigned reg, uint8_t value);

/* Sets the level of ISA input irq (0..15, not 2: the cascade input is
 * internal; ISA IRQ2 devices are wired to IRQ9 on AT machines). One level
 * per input: sources sharing a line must be OR-ed by the caller.
 * 0, or -EINVAL for a bad irq. */
int i8259_set_irq(struct i8259 *pic, unsigned irq, bool level);

/* Current level of the master's INT output (what intr last reported). */
bool i8259_intr_pending(struct i8259 *pic);

/* The CPU's interrupt acknowledge: resolves priorities, moves the chosen
 * request from IRR to ISR (or not, in AEOI mode) on the master and, for
 * IR2, on the slave, and returns the vector to inject. Returns a spurious
 * vector (see above) when nothing is pending. May lower INT. */
uint8_t i8259_intack(struct i8259 *pic);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* I8259_PORT_MASTER (0x20-0x21). */
int i8259_pio_master(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* I8259_PORT_SLAVE (0xa0-0xa1). */
int i8259_pio_slave(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* I8259_PORT_ELCR (0x4d0-0x4d1). */
int i8259_pio_elcr(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif
