/* pmtimer.h: bus-agnostic ACPI power-management timer (PM_TMR): a free-running 24-bit counter at 3.579545 MHz.
 *
 * Reference: ACPI 6.5 specification, 4.8.3.3 "Power Management Timer"
 * (cited as "ACPI 4.8.3.3") and 5.2.9 (FADT PM_TMR_BLK, PM_TMR_LEN = 4,
 * flag TMR_VAL_EXT); QEMU hw/acpi/core.c (acpi_pm_tmr_get) and bhyve
 * vmm/io/vpmtmr.c.
 *
 * hyve's FADT must say TMR_VAL_EXT = 0: the counter is 24 bits wide (bits
 * 31:24 read 0) and wraps every 2^24 / 3579545 Hz = 4.687 s. It counts from
 * 0 at pmtimer_init / pmtimer_reset, derived from ops->now_ns as
 * floor((now - start) * 3579545 / 1e9) in 128-bit arithmetic, so it never
 * drifts and is monotonic as long as now_ns is.
 *
 * The register is one 32-bit read-only port (PM_TMR_BLK, e.g. PMTIMER_PORT
 * = 0x608 next to the PM1a blocks at 0x600). The ACPI specification asks
 * for 32-bit reads; a 1- or 2-byte read at offset o (0..3) returns the
 * corresponding bytes of the 32-bit value (what a PIIX4 decodes), and
 * writes are ignored. TMR_STS/TMR_EN (the SCI on bit 23 toggling) belong
 * to the PM1 event block and are not modelled here.
 *
 * Threading: no mutable state after init (reset excepted), no lock: any
 * thread may call pmtimer_read at any time; pmtimer_reset must not race
 * with reads. ops->now_ns is called without any lock held.
 *
 * Field legend: (i) set by pmtimer_init/pmtimer_reset, constant between.
 */
#ifndef DEVICES_PMTIMER_H
#define DEVICES_PMTIMER_H

#include <stdbool.h>
#include <stdint.h>

#define PMTIMER_PORT 0x608 /* suggested PM_TMR_BLK (QEMU's PIIX4/ICH9 layout) */
#define PMTIMER_LEN 4
#define PMTIMER_HZ 3579545ULL
#define PMTIMER_MASK 0xffffffu /* 24-bit counter: TMR_VAL_EXT = 0 */

struct pmtimer_ops {
	uint64_t (*now_ns)(void *ctx); /* required */
};

struct pmtimer {
	const struct pmtimer_ops *ops; /* (i) */
	void *ctx;                     /* (i) */
	uint64_t start_ns;             /* (i) now_ns when the counter was 0 */
};

/* Initialises pm with the counter at 0 now. ops is not copied and must
 * outlive pm. 0, or -EINVAL without ops or ops->now_ns. */
int pmtimer_init(struct pmtimer *pm, const struct pmtimer_ops *ops, void *ctx);

/* Restarts the counter from 0. Must not race with pmtimer_read. */
void pmtimer_reset(struct pmtimer *pm);

/* The 24-bit counter value now. */
uint32_t pmtimer_value(const struct pmtimer *pm);

/* Guest read of size bytes (1, 2 or 4) at offset (0..3): the bytes of the
 * 32-bit register from offset on; other sizes or offsets past the end read
 * as all ones of the size (0xffffffff for size 4). */
uint32_t pmtimer_read(const struct pmtimer *pm, unsigned offset, unsigned size);

/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* PMTIMER_PORT. */
int pmtimer_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);


#endif
