/* i8254.h: bus-agnostic 8254 programmable interval timer (3 channels) plus port 0x61's timer bits.
 *
 * References: Intel "82C54 CHMOS Programmable Interval Timer" datasheet
 * (order 231244, cited as "82C54" + section: Control Word Format, Counter
 * Latch Command, Read-Back Command, Mode 0-5 definitions, Gate pin
 * operations summary); Intel 82371AB PIIX4 datasheet 4.1.x "NMI Status and
 * Control Register" (port 0x61); QEMU hw/timer/i8254*.c and bhyve
 * vmm/io/vatpit.c.
 *
 * The model sees the four PIT registers (offsets 0-3 = ports 0x40-0x43)
 * and, through i8254_port61_read/write, the timer bits of port 0x61:
 *   bit 0  (R/W) channel 2 GATE            bit 1 (R/W) speaker data enable
 *   bits 2-3 (R/W) stored, no effect       bit 4 (RO) refresh toggle (15.085 us)
 *   bit 5  (RO) channel 2 OUT              bits 6-7 (RO) 0 (no IOCHK/SERR)
 * Channels 0 and 1 have GATE tied high; channel 1's OUT goes nowhere.
 * No sound is made.
 *
 * Time: the count runs at I8254_HZ = 1193182 Hz (the PC's 14.31818 MHz / 12)
 * from ops->now_ns. Elapsed ticks are floor((now - start) * 1193182 / 1e9)
 * in 128-bit arithmetic; every instant is derived from the moment the
 * count was loaded (never accumulated), so periodic interrupts do not drift.
 * A channel counts from the moment its count is written (the 82C54 waits
 * for the next CLK edge; below 1 us, not modelled).
 *
 * IRQ0: ops->irq0 is called as a pulse, irq0(ctx, true) then
 * irq0(ctx, false), at each rising edge of channel 0's OUT that is due:
 * mode 0/1 at terminal count, mode 2/3 once per period, mode 4/5 when the
 * strobe ends. The line idles low. Edges that fall due together (a late
 * i8254_timer_fired) are coalesced into one pulse, as an edge-triggered
 * PIC/IOAPIC input would see them. In modes 2 and 3 edges are reported
 * at most once per I8254_MIN_IRQ_TICKS (~50 us): a guest programming a
 * smaller period gets fewer interrupts, not a host timer storm. Control
 * words never pulse IRQ0.
 *
 * Wake-ups: the model asks to be woken at the next due edge of channel 0
 * with ops->arm(ctx, deadline_ns) (absolute, on the now_ns clock; replaces
 * any earlier deadline) and ops->disarm(ctx) when none is due (e.g.
 * channel 0 stopped, mode 0 expired). The owner calls i8254_timer_fired()
 * once now_ns() >= deadline; calling it late, early or twice is harmless
 * (the model re-evaluates). Each i8254_timer_fired call ends with exactly
 * one arm (the next deadline, possibly the same) or disarm call, so the
 * owner may treat its timer as one-shot. Channel 2's OUT
 * (port 0x61 bit 5) is computed when read and needs no wake-up.
 *
 * Deviations, all invisible to Linux:
 * - BCD counting (control word bit 0) is stored and reported in the
 *   status byte, but the counter counts in binary.
 * - A count written to a running channel takes effect at once (the 82C54
 *   defers it to the end of the current period in modes 2 and 3 and to
 *   the next trigger in modes 1 and 5).
 * - Mode 3 counter values for odd counts are approximate (OUT is exact:
 *   high for (N+1)/2, low for (N-1)/2 ticks).
 * - Status NULL COUNT is set by a control word and cleared when the count
 *   is written (loading is instantaneous).
 * - At reset no channel counts (no BIOS has programmed channel 0).
 *
 * Threading: every entry point takes the PIT's own mutex; every callback
 * (irq0, arm, disarm, now_ns) is called with it held, so irq0 levels and
 * arm/disarm requests reach the owner in order. Callbacks must not call
 * back into this PIT, and the owner must call i8254_timer_fired() without
 * holding any lock that arm/disarm/irq0 take (e.g. its timer list lock).
 *
 * Field legend: (i) set by i8254_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_I8254_H
#define DEVICES_I8254_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8254_PORT_BASE 0x40 /* 4 ports: channels 0-2 data, control word */
#define I8254_NREGS 4
#define I8254_PORT61 0x61    /* PC system control port B (timer bits) */
#define I8254_HZ 1193182ULL
#define I8254_NCHANNELS 3
#define I8254_MIN_IRQ_TICKS 60 /* ~50 us: floor between reported IRQ0 edges (modes 2, 3) */

/* Register offsets */
#define I8254_REG_CH0 0
#define I8254_REG_CH1 1
#define I8254_REG_CH2 2
#define I8254_REG_CONTROL 3 /* write-only; reads return 0xff */

/* Control word (82C54 "Control Word Format") */
#define I8254_CW_SC_SHIFT 6      /* select counter; 3 = read-back */
#define I8254_CW_SC_READBACK 3
#define I8254_CW_RW_SHIFT 4
#define I8254_CW_RW_MASK 0x30
#define I8254_CW_MODE_SHIFT 1
#define I8254_CW_MODE_MASK 0x0e
#define I8254_CW_BCD 0x01
/* Access modes (RW field): 0 = counter latch command */
#define I8254_RW_LATCH 0
#define I8254_RW_LSB 1
#define I8254_RW_MSB 2
#define I8254_RW_WORD 3 /* LSB then MSB */
/* Read-back command bits (82C54 "Read-Back Command") */
#define I8254_RB_NOT_COUNT 0x20  /* 0: latch count */
#define I8254_RB_NOT_STATUS 0x10 /* 0: latch status */
#define I8254_RB_CH(n) (0x02u << (n))
/* Status byte */
#define I8254_ST_OUT 0x80
#define I8254_ST_NULL_COUNT 0x40

/* Port 0x61 bits */
#define I8254_P61_GATE2 0x01
#define I8254_P61_SPKR_EN 0x02
#define I8254_P61_RW_MASK 0x0f /* bits kept from writes */
#define I8254_P61_REFRESH 0x10
#define I8254_P61_OUT2 0x20
#define I8254_REFRESH_NS 15085 /* refresh request period: bit 4 toggles this often */

#define I8254_NO_DEADLINE UINT64_MAX

struct i8254_ops {
	uint64_t (*now_ns)(void *ctx);                 /* required: CLOCK_MONOTONIC or a fake */
	void (*irq0)(void *ctx, bool level);            /* may be NULL */
	void (*arm)(void *ctx, uint64_t deadline_ns);   /* may be NULL (then no IRQ0 wake-ups) */
	void (*disarm)(void *ctx);                      /* may be NULL */
};

struct i8254_channel {
	uint8_t mode;          /* (l) 0..5 (control word modes 6, 7 are 2, 3) */
	uint8_t rw;            /* (l) I8254_RW_LSB, _MSB or _WORD */
	bool bcd;              /* (l) stored only */
	bool gate;             /* (l) GATE input */
	bool null_count;       /* (l) status bit 6 */
	bool loaded;           /* (l) a count was written since the control word */
	bool counting;         /* (l) counting has begun (modes 1, 5: after a GATE edge) */
	uint32_t count;        /* (l) initial count N, 1..0x10000 */
	uint64_t run_ns;       /* (l) when the current run began (valid while running) */
	uint64_t ticks_before; /* (l) ticks counted before the current run (GATE pauses) */
	uint64_t irq_seen;     /* (l) channel 0: tick position up to which edges were reported */
	bool write_msb_next;   /* (l) RW_WORD: the next data write is the MSB */
	uint8_t write_lsb;     /* (l) RW_WORD: LSB written first */
	bool read_msb_next;    /* (l) RW_WORD: the next live read returns the MSB */
	uint8_t latch_state;   /* (l) 0, or the I8254_RW_* bytes still to read from latch */
	uint16_t latch;        /* (l) latched count */
	bool status_latched;   /* (l) */
	uint8_t status;        /* (l) latched status byte */
};

struct i8254 {
	pthread_mutex_t lock;          /* (i) */
	const struct i8254_ops *ops;   /* (i) */
	void *ctx;                     /* (i) passed to every callback */
	struct i8254_channel ch[I8254_NCHANNELS]; /* (l) */
	uint8_t port61;                /* (l) port 0x61 bits I8254_P61_RW_MASK */
	uint64_t deadline;             /* (l) armed deadline, or I8254_NO_DEADLINE */
};

/* Initialises pit in its reset state. ops is not copied and must outlive
 * pit; ops->now_ns is required. Calls no callback.
 * 0, -EINVAL (no ops or no now_ns), or -errno (mutex creation). */
int i8254_init(struct i8254 *pit, const struct i8254_ops *ops, void *ctx);

/* Destroys the lock. No call may be in progress or start afterwards
 * (the owner cancels its timer first). */
void i8254_destroy(struct i8254 *pit);

/* Back to the reset state: no channel counts, GATE2 low, port 0x61 = 0.
 * Disarms the timer if armed. */
void i8254_reset(struct i8254 *pit);

/* Guest read of offset 0..3: channel data (status latch, then count latch,
 * then the live count, per the channel's access mode); the control
 * register and offsets >= 4 read 0xff. */
uint8_t i8254_read(struct i8254 *pit, unsigned offset);

/* Guest write of value at offset 0..3 (count byte or control word /
 * latch / read-back command). Offsets >= 4 are ignored. */
void i8254_write(struct i8254 *pit, unsigned offset, uint8_t value);

/* Guest read / write of port 0x61 (bits as described above). */
uint8_t i8254_port61_read(struct i8254 *pit);
void i8254_port61_write(struct i8254 *pit, uint8_t value);

/* The armed deadline has passed (see "Wake-ups"): reports due IRQ0 edges
 * and arms the next one. */
void i8254_timer_fired(struct i8254 *pit);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* I8254_PORT_BASE (0x40-0x43). */
int i8254_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);
/* I8254_PORT61 (the channel 2 gate and output). */
int i8254_pio_port61(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif
