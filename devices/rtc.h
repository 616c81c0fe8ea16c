/* rtc.h: bus-agnostic MC146818 CMOS real-time clock with 128 bytes of CMOS, and the NMI mask bit of port 0x70.
 *
 * References: Motorola MC146818A datasheet (cited as "MC146818A" + section:
 * Address Map, Time/Calendar/Alarm Locations, Register A-D, Update Cycle,
 * Interrupts, Divider Stages); Dallas DS12887 datasheet (the PC's later
 * part: SET clears UIE, UIP/update timing); QEMU hw/rtc/mc146818rtc.c and
 * bhyve vmm/io/vrtc.c.
 *
 * The model sees two byte registers, numbered like the ports it lives at
 * (RTC_PORT_INDEX 0x70, RTC_PORT_DATA 0x71, offsets RTC_REG_INDEX and
 * RTC_REG_DATA). A write to the index port selects register value & 0x7f
 * and sets the NMI mask to bit 7 (PIIX4 "NMI Enable and Real-Time Clock
 * Address Register"; rtc_nmi_masked() reports it for the owner's NMI
 * sources). The index port reads 0xff (write-only on the PC chipset).
 *
 * Time: the clock is set from ops->wall_s (UTC seconds since the epoch) once,
 * at rtc_init, and then runs on ops->now_ns, as a battery-backed RTC does
 * (later steps of the host clock are not followed). Registers 0x00-0x09
 * and the century register RTC_CENTURY (0x32, what the ACPI FADT CENTURY
 * field must name) are computed from it in the format status B selects:
 * BCD or binary (DM), 24 or 12 hours (bit 7 of the hour = PM). Changing
 * DM or 24/12 changes how the running time reads at once (the real chip
 * would show stale bytes until software rewrote them; Linux always does).
 * The day of the week (register 6, 1 = Sunday) is derived from the date;
 * writes to it are not kept. Out-of-range values the guest sets are
 * clamped to the field's range when the clock restarts (the real chip's
 * behaviour is undefined). DSE (daylight saving) is stored and ignored.
 *
 * Setting the clock: with status B SET = 1 the time registers hold what
 * the guest writes and no update happens (UIP reads 0, UIE is cleared:
 * DS12887 register B); clearing SET restarts the clock from them, keeping
 * the divider's phase. Writes to time registers with SET = 0 take effect
 * at once. Status A's divider field must be 010 (32.768 kHz time base) for
 * the clock to run; any other value stops it (time frozen, no periodic
 * interrupts). Going back to 010 restarts it with the first update 500 ms
 * later (MC146818A "Divider Stages").
 *
 * UIP (status A bit 7) reads 1 during the last RTC_UIP_NS (244 us) before
 * each second boundary while the clock runs; the time registers change
 * exactly at the boundary. A read loop that waits for UIP = 0 therefore
 * waits at most 244 us (MC146818A "Update Cycle": UIP rises 244 us before
 * the update).
 *
 * Interrupts: status C's PF (at every periodic tick of the rate in status
 * A bits 3:0, whether or not PIE is set), AF (at an update whose time
 * matches the alarm registers 1, 3, 5; a value with bits 7:6 = 11 matches
 * any) and UF (at every update) are set as time passes; reading C returns
 * them with IRQF and clears them all. ops->irq(ctx, level) follows IRQF =
 * (PF & PIE) | (AF & AIE) | (UF & UIE) (MC146818A "Register C"): the owner
 * wires it to ISA IRQ8 (active high, edge: the line drops when the guest
 * reads C and rises again at the next event). The model asks to be woken
 * for the next event that would raise IRQF with ops->arm(ctx, deadline_ns)
 * (absolute on the now_ns clock; replaces any earlier one) or cancels it
 * with ops->disarm(ctx); while IRQF is set nothing is armed (no wake-ups
 * until the guest reads C). The owner calls rtc_timer_fired() once
 * now_ns() >= deadline; late, early or repeated calls are harmless, and
 * each ends with exactly one arm or disarm call (one-shot timer semantics).
 * Periodic ticks lie on a fixed grid derived from the divider phase, so
 * they do not drift; ticks that fall due together set PF once.
 *
 * Threading: every entry point takes the RTC's own mutex; every callback
 * (now_ns, irq, arm, disarm) is called with it held, so levels and arm
 * requests reach the owner in order. Callbacks must not call back into this
 * RTC, and rtc_timer_fired() must be called without any lock that
 * arm/disarm/irq take. wall_s is called only by rtc_init.
 *
 * Field legend: (i) set by rtc_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_RTC_H
#define DEVICES_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RTC_PORT_INDEX 0x70
#define RTC_PORT_DATA 0x71
#define RTC_NPORTS 2
#define RTC_REG_INDEX 0 /* offset of the index port */
#define RTC_REG_DATA 1  /* offset of the data port */
#define RTC_INDEX_NMI_MASK 0x80
#define RTC_INDEX_MASK 0x7f

/* CMOS registers (MC146818A "Address Map"). */
#define RTC_SEC 0x00
#define RTC_SEC_ALARM 0x01
#define RTC_MIN 0x02
#define RTC_MIN_ALARM 0x03
#define RTC_HOUR 0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_DOW 0x06
#define RTC_MDAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_RAM_FIRST 0x0e /* 114 bytes of general-purpose CMOS RAM ... */
#define RTC_CENTURY 0x32   /* ... except the century byte, kept by the clock */
#define RTC_NREGS 128

/* Status A */
#define RTC_A_UIP 0x80
#define RTC_A_DV_MASK 0x70
#define RTC_A_DV_32768 0x20 /* the only divider setting under which the clock runs */
#define RTC_A_RS_MASK 0x0f
#define RTC_A_DEFAULT 0x26  /* 32.768 kHz, 1024 Hz periodic rate */
/* Status B */
#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DSE 0x01
#define RTC_B_DEFAULT RTC_B_24H
/* Status C (same bit positions as the enables in B) */
#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10
/* Status D */
#define RTC_D_VRT 0x80 /* valid RAM and time: the battery is fine */

#define RTC_HOUR_PM 0x80          /* 12-hour mode */
#define RTC_ALARM_DONT_CARE 0xc0  /* bits 7:6 both set */
#define RTC_UIP_NS 244000         /* UIP lead time before an update */

#define RTC_NO_DEADLINE UINT64_MAX

struct rtc_ops {
	uint64_t (*now_ns)(void *ctx);               /* required */
	int64_t (*wall_s)(void *ctx);                /* required: UTC seconds since 1970 */
	void (*irq)(void *ctx, bool level);           /* IRQ8 (IRQF); may be NULL */
	void (*arm)(void *ctx, uint64_t deadline_ns); /* may be NULL: no wake-ups */
	void (*disarm)(void *ctx);                    /* may be NULL */
};

struct rtc {
	pthread_mutex_t lock;        /* (i) */
	const struct rtc_ops *ops;   /* (i) */
	void *ctx;                   /* (i) passed to every callback */

	uint8_t index;               /* (l) selected register, 0..127 */
	bool nmi_masked;             /* (l) bit 7 of the last index write */
	uint8_t cmos[RTC_NREGS];     /* (l) raw bytes: alarms, A (no UIP), B, RAM; the time
				      *     registers only while the clock is stopped (!live) */
	uint8_t flags;               /* (l) status C: PF, AF, UF */
	int64_t base_sec;            /* (l) clock reading (s since 1970) from base_ns on */
	int64_t base_ns;             /* (l) an update instant on the now_ns clock; updates
				      *     happen at base_ns + k s, periodic ticks on the same grid */
	int64_t checked_ns;          /* (l) events up to this instant are in flags */
	bool irq_level;              /* (l) last level given to ops->irq */
	uint64_t deadline;           /* (l) armed deadline, or RTC_NO_DEADLINE */
};

/* Initialises rtc: time from ops->wall_s, status A/B/C/D = RTC_A_DEFAULT,
 * RTC_B_DEFAULT, 0, RTC_D_VRT, CMOS RAM zeroed, NMI not masked. ops is not
 * copied and must outlive rtc. Calls now_ns and wall_s only.
 * 0, -EINVAL (no ops, now_ns or wall_s), or -errno (mutex creation). */
int rtc_init(struct rtc *rtc, const struct rtc_ops *ops, void *ctx);

/* Destroys the lock. No call may be in progress or start afterwards. */
void rtc_destroy(struct rtc *rtc);

/* The RESET pin (MC146818A "RESET"): clears PIE, AIE, UIE, SQWE and all
 * of status C; the time, status A and the RAM are kept (battery-backed).
 * Also unmasks NMI and selects register 0. Lowers IRQ8 if raised. */
void rtc_reset(struct rtc *rtc);

/* Guest read at offset RTC_REG_INDEX (0xff) or RTC_REG_DATA (the selected
 * register; reading status C clears it). Other offsets read 0xff. */
uint8_t rtc_read(struct rtc *rtc, unsigned offset);

/* Guest write at offset RTC_REG_INDEX (select + NMI mask) or RTC_REG_DATA
 * (the selected register; C and D are read-only). Other offsets: ignored. */
void rtc_write(struct rtc *rtc, unsigned offset, uint8_t value);

/* Whether the guest masked NMIs through bit 7 of port 0x70. */
bool rtc_nmi_masked(struct rtc *rtc);

/* Owner preset of a CMOS RAM byte (e.g. memory size at 0x34/0x35,
 * 0x5b-0x5d). 0, or -EINVAL for an index outside RAM (< RTC_RAM_FIRST,
 * >= RTC_NREGS) or RTC_CENTURY. */
int rtc_cmos_set(struct rtc *rtc, unsigned index, uint8_t value);

/* The armed deadline has passed: sets due flags, raises IRQ8, re-arms. */
void rtc_timer_fired(struct rtc *rtc);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* RTC_PORT_INDEX (index and data). */
int rtc_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif
