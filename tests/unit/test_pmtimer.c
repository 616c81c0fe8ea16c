/* test_pmtimer.c: ACPI PM timer frequency, 24-bit wrap, access sizes, reset, fuzz (fake clock). */
#include <errno.h>
#include <string.h>

#include "devices/pmtimer.h"
#include "tests/unit/tap.h"

#define NS 1000000000ULL

struct clk {
	uint64_t now;
};

static uint64_t clk_now(void *ctx)
{
	return ((struct clk *)ctx)->now;
}

static const struct pmtimer_ops ops = {.now_ns = clk_now};

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

int main(void)
{
	struct pmtimer pm, pm2;
	struct clk c = {.now = 7 * NS}, c2 = {.now = 0};

	CHECK_EQ(pmtimer_init(&pm, NULL, NULL), -EINVAL, "ops required");
	CHECK_EQ(pmtimer_init(&pm, &ops, &c), 0, "init");
	CHECK_EQ(pmtimer_init(&pm2, &ops, &c2), 0, "second instance");
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0, "counts from 0 at init");
	c.now += 279; /* one tick is 279.36 ns */
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0, "279 ns: not yet one tick");
	c.now += 1;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 1, "280 ns: one tick");
	c.now = 7 * NS + NS;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 3579545, "3579545 ticks in one second");
	c.now = 7 * NS + 10 * NS;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 35795450u & 0xffffff, "10 s: wrapped 24-bit value");
	/* the wrap: 2^24 ticks = 4.6869 s */
	uint64_t wrap_ns = (uint64_t)(((unsigned __int128)(1u << 24) * NS + PMTIMER_HZ - 1) / PMTIMER_HZ);
	c.now = 7 * NS + wrap_ns - 1;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0xffffff, "last value before the wrap");
	c.now += 1;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0, "wraps to 0 after 2^24 ticks");
	CHECK_EQ(pmtimer_read(&pm2, 0, 4), 0, "other instance on its own clock");

	/* access sizes */
	c.now = 7 * NS + (uint64_t)(0x123456ULL * NS / PMTIMER_HZ) + 1;
	CHECK_EQ(pmtimer_value(&pm), 0x123456, "value 0x123456");
	CHECK_EQ(pmtimer_read(&pm, 0, 1), 0x56, "byte 0");
	CHECK_EQ(pmtimer_read(&pm, 1, 1), 0x34, "byte 1");
	CHECK_EQ(pmtimer_read(&pm, 2, 1), 0x12, "byte 2");
	CHECK_EQ(pmtimer_read(&pm, 3, 1), 0x00, "byte 3: bits 31:24 are 0 (TMR_VAL_EXT = 0)");
	CHECK_EQ(pmtimer_read(&pm, 0, 2), 0x3456, "word 0");
	CHECK_EQ(pmtimer_read(&pm, 2, 2), 0x0012, "word 2");
	uint64_t pv = 0;
	CHECK_EQ(pmtimer_pio(&pm, 0, 4, false, &pv), 0, "pmtimer_pio read");
	CHECK_EQ(pv, 0x123456, "pmtimer_pio reads the counter");
	pv = 0;
	pmtimer_pio(&pm, 1, 1, false, &pv);
	CHECK_EQ(pv, 0x34, "pmtimer_pio byte 1");
	pv = 0xffffffff;
	CHECK_EQ(pmtimer_pio(&pm, 0, 4, true, &pv), 0, "pmtimer_pio ignores writes");
	CHECK_EQ(pmtimer_value(&pm), 0x123456, "a write changes nothing");
	CHECK_EQ(pmtimer_read(&pm, 3, 2), 0xffff, "word crossing the end: all ones");
	CHECK_EQ(pmtimer_read(&pm, 1, 4), 0xffffffff, "unaligned dword: all ones");
	CHECK_EQ(pmtimer_read(&pm, 0, 3), 0xffffff, "size 3: all ones");
	CHECK_EQ(pmtimer_read(&pm, 4, 1), 0xff, "offset 4: all ones");
	CHECK_EQ(pmtimer_read(&pm, 0, 8), 0xffffffff, "size 8: all ones");

	pmtimer_reset(&pm);
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0, "reset restarts from 0");

	/* clock going backwards (never in production) reads 0, no wrap-around garbage */
	c.now -= NS;
	CHECK_EQ(pmtimer_read(&pm, 0, 4), 0, "clock before start reads 0");

	/* fuzz: monotonic modulo 2^24 under small steps, never above 24 bits */
	uint64_t seed = 5;
	bool ok = true, mono = true;
	uint32_t last = pmtimer_value(&pm);
	for (int i = 0; i < 200000; i++) {
		c.now += lcg(&seed) % 1000000; /* < 1 ms: far below the 4.7 s wrap */
		uint32_t v = pmtimer_read(&pm, (unsigned)(lcg(&seed) % 6), (unsigned)(lcg(&seed) % 9));
		(void)v;
		uint32_t cur = pmtimer_value(&pm);
		if (cur > PMTIMER_MASK)
			ok = false;
		if (((cur - last) & PMTIMER_MASK) > 3580)
			mono = false;
		last = cur;
	}
	CHECK(ok, "fuzz: value always within 24 bits");
	CHECK(mono, "fuzz: advances by at most 1 ms worth of ticks per step (monotonic mod 2^24)");
	return tap_done();
}
