/* pmtimer.c: ACPI PM timer: 24-bit count at 3.579545 MHz from the monotonic clock (devices/pmtimer.h). */
#include <errno.h>

#include "devices/pmtimer.h"

#define NS_PER_S 1000000000ULL

int pmtimer_init(struct pmtimer *pm, const struct pmtimer_ops *ops, void *ctx)
{
	if (!ops || !ops->now_ns)
		return -EINVAL;
	pm->ops = ops;
	pm->ctx = ctx;
	pm->start_ns = ops->now_ns(ctx);
	return 0;
}

void pmtimer_reset(struct pmtimer *pm)
{
	pm->start_ns = pm->ops->now_ns(pm->ctx);
}

uint32_t pmtimer_value(const struct pmtimer *pm)
{
	uint64_t t = pm->ops->now_ns(pm->ctx);
	uint64_t ns = t > pm->start_ns ? t - pm->start_ns : 0;
	/* ACPI 4.8.3.3: the count runs at 3.579545 MHz; keep 24 bits. */
	return (uint32_t)((unsigned __int128)ns * PMTIMER_HZ / NS_PER_S) & PMTIMER_MASK;
}

uint32_t pmtimer_read(const struct pmtimer *pm, unsigned offset, unsigned size)
{
	if ((size != 1 && size != 2 && size != 4) || offset >= PMTIMER_LEN ||
	    offset + size > PMTIMER_LEN)
		return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	uint32_t v = pmtimer_value(pm) >> (8 * offset);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

/* --- port I/O bus handlers --- */

int pmtimer_pio(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct pmtimer *d = opaque;
	if (!wr)
		*val = pmtimer_read(d, (unsigned)off, size);
	return 0; /* read-only: writes are ignored */
}
