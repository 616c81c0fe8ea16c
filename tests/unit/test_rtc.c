/* test_rtc.c: MC146818 time formats, SET, divider, UIP, periodic/alarm/update interrupts, NMI bit, CMOS RAM, fuzz. */
#include <errno.h>
#include <string.h>

#include "devices/rtc.h"
#include "tests/unit/tap.h"

#define NS 1000000000ULL
#define T0 (5 * NS)               /* fake monotonic clock at init */
#define WALL 1709214356LL         /* 2024-02-29 13:45:56 UTC, a Thursday */

struct rec {
	uint64_t now;
	int64_t wall;
	bool level;
	unsigned rises, irq_calls;
	uint64_t deadline;
	unsigned arms, disarms;
};

static uint64_t rec_now(void *ctx)
{
	return ((struct rec *)ctx)->now;
}

static int64_t rec_wall(void *ctx)
{
	return ((struct rec *)ctx)->wall;
}

static void rec_irq(void *ctx, bool level)
{
	struct rec *r = ctx;
	r->irq_calls++;
	if (level && !r->level)
		r->rises++;
	r->level = level;
}

static void rec_arm(void *ctx, uint64_t deadline)
{
	struct rec *r = ctx;
	r->deadline = deadline;
	r->arms++;
}

static void rec_disarm(void *ctx)
{
	struct rec *r = ctx;
	r->deadline = RTC_NO_DEADLINE;
	r->disarms++;
}

static const struct rtc_ops ops = {
	.now_ns = rec_now, .wall_s = rec_wall, .irq = rec_irq, .arm = rec_arm, .disarm = rec_disarm};

static void fresh(struct rtc *c, struct rec *r, int64_t wall)
{
	memset(r, 0, sizeof(*r));
	r->now = T0;
	r->wall = wall;
	r->deadline = RTC_NO_DEADLINE;
	rtc_init(c, &ops, r);
}

static uint8_t rd(struct rtc *c, unsigned idx)
{
	rtc_write(c, RTC_REG_INDEX, (uint8_t)idx);
	return rtc_read(c, RTC_REG_DATA);
}

static void wr(struct rtc *c, unsigned idx, uint8_t v)
{
	rtc_write(c, RTC_REG_INDEX, (uint8_t)idx);
	rtc_write(c, RTC_REG_DATA, v);
}

/* Owner side: fire while due; counts fires. */
static unsigned run_until(struct rtc *c, struct rec *r, uint64_t t)
{
	unsigned n = 0;
	while (r->deadline != RTC_NO_DEADLINE && r->deadline <= t) {
		r->now = r->deadline;
		rtc_timer_fired(c);
		n++;
	}
	r->now = t;
	return n;
}

/* Sets the clock as Linux's mc146818_set_time does (SET, write, clear SET). */
static void set_time(struct rtc *c, uint8_t sec, uint8_t min, uint8_t hour, uint8_t mday,
		     uint8_t mon, uint8_t year, uint8_t cent)
{
	uint8_t b = rd(c, RTC_REG_B);
	wr(c, RTC_REG_B, b | RTC_B_SET);
	wr(c, RTC_SEC, sec);
	wr(c, RTC_MIN, min);
	wr(c, RTC_HOUR, hour);
	wr(c, RTC_MDAY, mday);
	wr(c, RTC_MONTH, mon);
	wr(c, RTC_YEAR, year);
	wr(c, RTC_CENTURY, cent);
	wr(c, RTC_REG_B, b & (uint8_t)~RTC_B_SET);
}

static void test_defaults_formats(void)
{
	struct rtc c, c2;
	struct rec r, r2;

	struct rtc_ops bad = {.now_ns = rec_now};
	CHECK_EQ(rtc_init(&c, &bad, NULL), -EINVAL, "wall_s required");
	fresh(&c, &r, WALL);
	fresh(&c2, &r2, 0);
	CHECK_EQ(rd(&c, RTC_REG_A), RTC_A_DEFAULT, "status A default 0x26");
	CHECK_EQ(rd(&c, RTC_REG_B), RTC_B_DEFAULT, "status B default: 24h, BCD");
	CHECK_EQ(rd(&c, RTC_REG_C), 0, "status C 0");
	CHECK_EQ(rd(&c, RTC_REG_D), RTC_D_VRT, "status D: VRT");
	CHECK_EQ(r.irq_calls + r.arms + r.disarms, 0, "no callbacks at init or plain reads");
	CHECK_EQ(rd(&c, RTC_SEC), 0x56, "BCD seconds");
	CHECK_EQ(rd(&c, RTC_MIN), 0x45, "BCD minutes");
	CHECK_EQ(rd(&c, RTC_HOUR), 0x13, "BCD hours (24h)");
	CHECK_EQ(rd(&c, RTC_DOW), 0x05, "Thursday = 5");
	CHECK_EQ(rd(&c, RTC_MDAY), 0x29, "leap day");
	CHECK_EQ(rd(&c, RTC_MONTH), 0x02, "February");
	CHECK_EQ(rd(&c, RTC_YEAR), 0x24, "year 24");
	CHECK_EQ(rd(&c, RTC_CENTURY), 0x20, "century 20");
	CHECK_EQ(rd(&c2, RTC_YEAR), 0x70, "second instance: 1970");
	CHECK_EQ(rd(&c2, RTC_DOW), 0x05, "1970-01-01 was a Thursday too");

	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	CHECK_EQ(rd(&c, RTC_SEC), 56, "binary seconds");
	CHECK_EQ(rd(&c, RTC_HOUR), 13, "binary hours");
	CHECK_EQ(rd(&c, RTC_YEAR), 24, "binary year");
	CHECK_EQ(rd(&c, RTC_CENTURY), 20, "binary century");
	wr(&c, RTC_REG_B, RTC_B_DM_BINARY);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x81, "binary 12h: 1 PM = 0x81");
	wr(&c, RTC_REG_B, 0);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x81, "BCD 12h: 1 PM = 0x81");
	set_time(&c, 0x30, 0x15, 0x12, 0x01, 0x03, 0x24, 0x20);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x12, "12h: 00:15 reads 12 AM");
	set_time(&c, 0x30, 0x15, 0x92, 0x01, 0x03, 0x24, 0x20);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x92, "12h: 12 PM set and read back");
	wr(&c, RTC_REG_B, RTC_B_24H);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x12, "12 PM is 12:xx in 24h");
	set_time(&c, 0x30, 0x15, 0x91, 0x01, 0x03, 0x24, 0x20);
	CHECK_EQ(rd(&c, RTC_HOUR), 0x23, "set 0x91 in 24h mode: garbage clamps to 23");

	/* index port and NMI bit */
	CHECK_EQ(rtc_read(&c, RTC_REG_INDEX), 0xff, "index port reads 0xff");
	CHECK_EQ(rtc_read(&c, 5), 0xff, "offset 5 reads 0xff");
	rtc_write(&c, 5, 0x12);
	CHECK(!rtc_nmi_masked(&c), "NMI unmasked at init");
	rtc_write(&c, RTC_REG_INDEX, RTC_INDEX_NMI_MASK | RTC_REG_D);
	CHECK(rtc_nmi_masked(&c), "bit 7 masks NMI");
	CHECK_EQ(rtc_read(&c, RTC_REG_DATA), RTC_D_VRT, "index 0x8d selects register D");
	rtc_write(&c, RTC_REG_INDEX, RTC_REG_D);
	CHECK(!rtc_nmi_masked(&c), "bit 7 clear unmasks");
	CHECK(!rtc_nmi_masked(&c2), "other instance unaffected");

	/* CMOS RAM, read-only registers */
	bool ram_ok = true;
	for (unsigned i = RTC_RAM_FIRST; i < RTC_NREGS; i++)
		if (i != RTC_CENTURY)
			wr(&c, i, (uint8_t)(i * 7 + 1));
	for (unsigned i = RTC_RAM_FIRST; i < RTC_NREGS; i++)
		if (i != RTC_CENTURY && rd(&c, i) != (uint8_t)(i * 7 + 1))
			ram_ok = false;
	CHECK(ram_ok, "113 RAM bytes (0x0e-0x7f but century) hold their values");
	CHECK_EQ(rd(&c2, 0x40), 0, "other instance's RAM untouched");
	wr(&c, RTC_REG_C, 0xff);
	wr(&c, RTC_REG_D, 0x00);
	CHECK_EQ(rd(&c, RTC_REG_D), RTC_D_VRT, "D is read-only");
	CHECK_EQ(rd(&c, RTC_REG_C), 0, "C is read-only");
	wr(&c, RTC_REG_A, 0xa6);
	CHECK_EQ(rd(&c, RTC_REG_A) & 0x7f, 0x26, "UIP not writable");
	CHECK_EQ(rtc_cmos_set(&c, 0x34, 0x12), 0, "preset RAM 0x34");
	CHECK_EQ(rd(&c, 0x34), 0x12, "preset visible");
	CHECK_EQ(rtc_cmos_set(&c, RTC_REG_B, 0), -EINVAL, "preset of a clock register refused");
	CHECK_EQ(rtc_cmos_set(&c, RTC_CENTURY, 0), -EINVAL, "preset of century refused");
	CHECK_EQ(rtc_cmos_set(&c, 128, 0), -EINVAL, "preset index 128 refused");
	rtc_destroy(&c);
	rtc_destroy(&c2);
}

static void test_running_set_divider(void)
{
	struct rtc c;
	struct rec r;

	fresh(&c, &r, WALL);
	r.now = T0 + NS - 1;
	CHECK_EQ(rd(&c, RTC_SEC), 0x56, "second unchanged just before the update");
	r.now = T0 + NS;
	CHECK_EQ(rd(&c, RTC_SEC), 0x57, "update at the second boundary");
	r.now = T0 + 64 * NS;
	CHECK_EQ(rd(&c, RTC_SEC), 0x00, "seconds roll over");
	CHECK_EQ(rd(&c, RTC_MIN), 0x47, "minutes carry");

	/* rollovers: new year, day of week, century leap rule */
	set_time(&c, 0x59, 0x59, 0x23, 0x31, 0x12, 0x23, 0x20);
	CHECK_EQ(rd(&c, RTC_DOW), 0x01, "2023-12-31 is a Sunday");
	r.now += NS;
	CHECK(rd(&c, RTC_SEC) == 0 && rd(&c, RTC_MIN) == 0 && rd(&c, RTC_HOUR) == 0 &&
		      rd(&c, RTC_MDAY) == 1 && rd(&c, RTC_MONTH) == 1 && rd(&c, RTC_YEAR) == 0x24,
	      "2023-12-31 23:59:59 + 1 s = 2024-01-01 00:00:00");
	CHECK_EQ(rd(&c, RTC_DOW), 0x02, "Monday");
	set_time(&c, 0x59, 0x59, 0x23, 0x28, 0x02, 0x00, 0x21);
	r.now += NS;
	CHECK(rd(&c, RTC_MDAY) == 1 && rd(&c, RTC_MONTH) == 3, "2100 is not a leap year");
	set_time(&c, 0x58, 0x59, 0x23, 0x31, 0x12, 0x99, 0x19);
	r.now += 2 * NS;
	CHECK(rd(&c, RTC_YEAR) == 0 && rd(&c, RTC_CENTURY) == 0x20, "1999 -> 2000: century carries");

	/* SET freezes; clearing it restarts from the written time, same phase */
	uint64_t phase = (r.now - T0) % NS;
	CHECK_EQ(phase, 0, "test runs on update instants");
	r.now += NS / 4;
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE);
	CHECK_EQ(rd(&c, RTC_REG_B), RTC_B_24H | RTC_B_SET, "SET clears UIE");
	uint8_t s = rd(&c, RTC_SEC);
	r.now += 5 * NS;
	CHECK_EQ(rd(&c, RTC_SEC), s, "SET: time frozen");
	CHECK_EQ(rd(&c, RTC_REG_A) & RTC_A_UIP, 0, "SET: UIP 0");
	wr(&c, RTC_SEC, 0x10);
	wr(&c, RTC_DOW, 0x03);
	CHECK_EQ(rd(&c, RTC_SEC), 0x10, "SET: written value reads back");
	wr(&c, RTC_REG_B, RTC_B_24H);
	CHECK_EQ(rd(&c, RTC_SEC), 0x10, "SET cleared: written time");
	r.now += NS * 3 / 4 - 1;
	CHECK_EQ(rd(&c, RTC_SEC), 0x10, "still 10 until the divider's next boundary");
	r.now += 1;
	CHECK_EQ(rd(&c, RTC_SEC), 0x11, "update on the old phase");
	CHECK_EQ(rd(&c, RTC_DOW), 0x07, "day of week derived from the date (2000-01-01: Saturday)");

	/* write with SET = 0 takes effect at once */
	r.now += NS / 2;
	wr(&c, RTC_MIN, 0x33);
	CHECK_EQ(rd(&c, RTC_MIN), 0x33, "live minute write");
	CHECK_EQ(rd(&c, RTC_SEC), 0x11, "seconds kept");
	r.now += NS / 2;
	CHECK_EQ(rd(&c, RTC_SEC), 0x12, "phase kept after a live write");

	/* divider reset stops the clock; restart: first update 500 ms later */
	wr(&c, RTC_REG_A, 0x70);
	s = rd(&c, RTC_SEC);
	r.now += 10 * NS + 123;
	CHECK_EQ(rd(&c, RTC_SEC), s, "divider in reset: time frozen");
	wr(&c, RTC_REG_A, 0x26);
	r.now += NS / 2 - 1;
	CHECK_EQ(rd(&c, RTC_SEC), s, "no update for 500 ms after restart");
	r.now += 1;
	CHECK_EQ(rd(&c, RTC_SEC), (uint8_t)(s + 1), "first update 500 ms after restart");
	rtc_destroy(&c);
}

static void test_uip(void)
{
	struct rtc c;
	struct rec r;

	fresh(&c, &r, WALL);
	r.now = T0 + NS - RTC_UIP_NS - 1;
	CHECK_EQ(rd(&c, RTC_REG_A) & RTC_A_UIP, 0, "UIP 0 before the 244 us window");
	r.now += 1;
	CHECK_EQ(rd(&c, RTC_REG_A), RTC_A_UIP | RTC_A_DEFAULT, "UIP 1 244 us before the update");
	CHECK_EQ(rd(&c, RTC_SEC), 0x56, "time still the old second during UIP");
	r.now = T0 + NS;
	CHECK_EQ(rd(&c, RTC_REG_A) & RTC_A_UIP, 0, "UIP 0 after the update");
	/* Linux-style wait loop: each poll takes 10 us */
	r.now = T0 + 2 * NS - RTC_UIP_NS;
	unsigned polls = 0;
	while ((rd(&c, RTC_REG_A) & RTC_A_UIP) && polls < 1000) {
		r.now += 10000;
		polls++;
	}
	CHECK(polls > 0 && polls <= 25, "UIP wait loop ends within 244 us (%u polls)", polls);
	CHECK_EQ(rd(&c, RTC_SEC), 0x58, "and then reads the new second");
	wr(&c, RTC_REG_A, 0x06);
	r.now = T0 + 3 * NS - 1000;
	CHECK_EQ(rd(&c, RTC_REG_A) & RTC_A_UIP, 0, "no UIP while the divider is stopped");
	rtc_destroy(&c);
}

static void test_interrupts(void)
{
	struct rtc c;
	struct rec r;
	bool grid = true;

	/* periodic 1024 Hz: deadlines exact, 1024 interrupts per second */
	fresh(&c, &r, WALL);
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	CHECK_EQ(r.deadline, T0 + 976563, "first tick: ceil(1 s / 1024)");
	unsigned n = 0;
	while (r.deadline <= T0 + NS) {
		uint64_t want = T0 + (uint64_t)((n + 1) * NS * 10 / 1024 + 9) / 10;
		if (r.deadline != want)
			grid = false;
		r.now = r.deadline;
		rtc_timer_fired(&c);
		if (n == 0) {
			CHECK(r.level, "IRQ8 raised by the tick");
			CHECK_EQ(r.deadline, RTC_NO_DEADLINE, "nothing armed while IRQF is set");
		}
		uint8_t v = rd(&c, RTC_REG_C);
		if (n == 0) {
			CHECK_EQ(v, RTC_C_IRQF | RTC_C_PF, "C: IRQF | PF");
			CHECK(!r.level, "reading C lowers IRQ8");
		}
		n++;
	}
	CHECK_EQ(n, 1024, "1024 periodic interrupts in one second");
	CHECK(grid, "every deadline on the 1/1024 s grid (no drift)");
	CHECK_EQ(r.rises, 1024, "1024 rising edges on IRQ8");

	/* other rates: RS 15 = 2 Hz, RS 1 = 256 Hz, RS 3 = 8192 Hz */
	r.now = T0 + 10 * NS;
	rd(&c, RTC_REG_C);
	unsigned rises = r.rises;
	wr(&c, RTC_REG_A, 0x2f);
	run_until(&c, &r, T0 + 11 * NS);
	/* the guest does not read C: one interrupt only, no further wake-ups */
	CHECK_EQ(r.rises - rises, 1, "unacknowledged: one interrupt, then silence");
	CHECK_EQ(r.deadline, RTC_NO_DEADLINE, "no wake-ups while IRQF is pending");
	struct {
		uint8_t a;
		unsigned per_s;
	} rates[] = {{0x2f, 2}, {0x21, 256}, {0x22, 128}, {0x23, 8192}, {0x28, 256}};
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		wr(&c, RTC_REG_A, rates[i].a);
		rd(&c, RTC_REG_C);
		uint64_t end = r.now + NS;
		unsigned cnt = 0;
		while (r.deadline <= end) {
			r.now = r.deadline;
			rtc_timer_fired(&c);
			if (rd(&c, RTC_REG_C) & RTC_C_PF)
				cnt++;
		}
		r.now = end;
		CHECK_EQ(cnt, rates[i].per_s, "rate select 0x%x: %u Hz", rates[i].a, rates[i].per_s);
	}
	wr(&c, RTC_REG_A, 0x20);
	CHECK_EQ(r.deadline, RTC_NO_DEADLINE, "RS = 0: no periodic interrupt");
	rtc_destroy(&c);

	/* flags without enables: PF and UF are set, IRQF is not */
	fresh(&c, &r, WALL);
	r.now = T0 + NS;
	CHECK_EQ(rd(&c, RTC_REG_C), RTC_C_PF | RTC_C_UF, "C: PF and UF set without PIE/UIE");
	CHECK_EQ(rd(&c, RTC_REG_C), 0, "read clears C");
	CHECK(!r.level && r.deadline == RTC_NO_DEADLINE, "no line, no wake-up without enables");
	/* enabling with a flag already set raises IRQF at once */
	r.now += NS;
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	CHECK(r.level, "UIE with UF pending raises IRQ8");
	CHECK_EQ(rd(&c, RTC_REG_C), RTC_C_IRQF | RTC_C_PF | RTC_C_UF, "C shows IRQF");

	/* update-ended interrupt every second */
	CHECK_EQ(r.deadline, T0 + 3 * NS, "UIE: armed at the next update");
	run_until(&c, &r, T0 + 3 * NS);
	CHECK(r.level, "UF interrupt");
	CHECK_EQ(rd(&c, RTC_REG_C) & (RTC_C_IRQF | RTC_C_UF), RTC_C_IRQF | RTC_C_UF, "C: IRQF | UF");
	rtc_destroy(&c);

	/* alarm: 3 s ahead, then a don't-care alarm once a minute */
	fresh(&c, &r, WALL); /* 13:45:56 */
	wr(&c, RTC_SEC_ALARM, 0x59);
	wr(&c, RTC_MIN_ALARM, 0x45);
	wr(&c, RTC_HOUR_ALARM, 0x13);
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	CHECK_EQ(r.deadline, T0 + 3 * NS, "alarm armed at 13:45:59");
	run_until(&c, &r, T0 + 3 * NS);
	CHECK(r.level, "alarm interrupt");
	CHECK_EQ(rd(&c, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF | RTC_C_PF, "C: IRQF | AF");
	CHECK_EQ(r.deadline, T0 + 3 * NS + 86400 * NS, "next alarm tomorrow");
	wr(&c, RTC_SEC_ALARM, 0x10);
	wr(&c, RTC_MIN_ALARM, 0xc0);
	wr(&c, RTC_HOUR_ALARM, 0xff);
	CHECK_EQ(r.deadline, T0 + 14 * NS, "don't-care alarm: next :10 (13:46:10)");
	unsigned fires = 0;
	for (int m = 0; m < 5; m++) {
		run_until(&c, &r, r.now + 60 * NS);
		if (rd(&c, RTC_REG_C) & RTC_C_AF)
			fires++;
	}
	CHECK_EQ(fires, 5, "once per minute for 5 minutes");
	/* impossible alarm value never fires */
	wr(&c, RTC_SEC_ALARM, 0x75);
	CHECK_EQ(r.deadline, RTC_NO_DEADLINE, "alarm second 75 never matches");
	/* reset clears enables and flags */
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_PIE | RTC_B_SQWE);
	CHECK(r.deadline != RTC_NO_DEADLINE, "PIE armed");
	rtc_reset(&c);
	CHECK_EQ(rd(&c, RTC_REG_B), RTC_B_24H, "reset clears PIE, AIE, UIE, SQWE");
	CHECK_EQ(r.deadline, RTC_NO_DEADLINE, "reset disarms");
	CHECK(!r.level, "reset lowers IRQ8");
	rtc_destroy(&c);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_fuzz(void)
{
	struct rtc c;
	struct rec r;
	uint64_t seed = 2024;
	bool future = true, consistent = true;

	fresh(&c, &r, WALL);
	for (int i = 0; i < 200000; i++) {
		uint64_t x = lcg(&seed);
		switch (x % 7) {
		case 0:
			rtc_write(&c, (unsigned)(lcg(&seed) % 3), (uint8_t)lcg(&seed));
			break;
		case 1: /* mostly clock registers */
			wr(&c, (unsigned)(lcg(&seed) % 16), (uint8_t)lcg(&seed));
			break;
		case 2:
			(void)rtc_read(&c, (unsigned)(lcg(&seed) % 3));
			break;
		case 3:
			(void)rd(&c, (unsigned)(lcg(&seed) % 0x100));
			break;
		case 4:
			r.now += lcg(&seed) % (2 * NS);
			break;
		case 5:
			if (lcg(&seed) % 64 == 0)
				rtc_reset(&c);
			break;
		default:
			if (r.deadline != RTC_NO_DEADLINE && r.deadline <= r.now)
				rtc_timer_fired(&c);
			break;
		}
		if (r.deadline != RTC_NO_DEADLINE && r.deadline <= r.now) {
			rtc_timer_fired(&c);
			if (r.deadline != RTC_NO_DEADLINE && r.deadline <= r.now)
				future = false;
		}
		if (r.level && r.deadline != RTC_NO_DEADLINE)
			consistent = false;
	}
	CHECK(future, "fuzz: a fired timer re-arms in the future");
	CHECK(consistent, "fuzz: never armed while IRQ8 is high");
	rtc_destroy(&c);
}

/* The port handler: offset 0 selects, offset 1 reads and writes the register. */
static void test_pio(void)
{
	struct rtc c;
	struct rec r;
	fresh(&c, &r, 0);
	uint64_t v = 0x100 | 0x0e; /* CMOS RAM byte 0x0e; the high byte of the access is ignored */
	CHECK_EQ(rtc_pio(&c, RTC_REG_INDEX, 2, true, &v), 0, "rtc_pio index write");
	v = 0x77;
	rtc_pio(&c, RTC_REG_DATA, 1, true, &v);
	CHECK_EQ(rd(&c, 0x0e), 0x77, "rtc_pio wrote CMOS byte 0x0e");
	v = 0x0e;
	rtc_pio(&c, RTC_REG_INDEX, 1, true, &v);
	v = 0;
	rtc_pio(&c, RTC_REG_DATA, 1, false, &v);
	CHECK_EQ(v, 0x77, "rtc_pio reads it back");
	rtc_destroy(&c);
}

/* The first second after cur matching an alarm (-1: don't care), second by
 * second over two days; -1 if none. The reference for the RTC's own search. */
static int64_t ref_alarm(int as, int am, int ah, int64_t cur)
{
	for (int64_t t = cur + 1; t <= cur + 2 * 86400; t++)
		if ((as < 0 || t % 60 == as) && (am < 0 || t / 60 % 60 == am) && (ah < 0 || t / 3600 % 24 == ah))
			return t;
	return -1;
}

static uint8_t alarm_byte(uint32_t rnd, unsigned range)
{
	uint32_t v = rnd >> 20; /* the LCG's high bits: the low ones cycle */
	switch (rnd >> 16 & 7) {
	case 0:
		return (uint8_t)(RTC_ALARM_DONT_CARE | (v & 0x3f)); /* don't care */
	case 1:
		return (uint8_t)(range + v % (0xc0 - range)); /* a value no time has */
	default:
		return (uint8_t)(v % range);
	}
}

/* The alarm the RTC arms is the reference's, for random alarms (valid, don't
 * care, impossible) and times, in binary mode. */
static void test_alarm_search(void)
{
	struct rtc c;
	struct rec r;
	uint32_t seed = 12345;
	unsigned bad = 0, none = 0;
	fresh(&c, &r, WALL);
	wr(&c, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY | RTC_B_AIE);
	for (int i = 0; i < 400; i++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t delta = (seed >> 4) % (3 * 86400);
		r.now = T0 + delta * NS + NS / 2;
		(void)rd(&c, RTC_REG_C); /* clears AF: the line is low, the next alarm is armed */
		uint8_t bs, bm, bh;
		seed = seed * 1103515245u + 12345u;
		wr(&c, RTC_SEC_ALARM, bs = alarm_byte(seed, 60));
		seed = seed * 1103515245u + 12345u;
		wr(&c, RTC_MIN_ALARM, bm = alarm_byte(seed, 60));
		seed = seed * 1103515245u + 12345u;
		wr(&c, RTC_HOUR_ALARM, bh = alarm_byte(seed, 24));
		int as = bs >= 0xc0 ? -1 : bs, am = bm >= 0xc0 ? -1 : bm, ah = bh >= 0xc0 ? -1 : bh;
		int64_t want = ref_alarm(as, am, ah, WALL + (int64_t)delta);
		uint64_t want_ns = want < 0 ? RTC_NO_DEADLINE : T0 + (uint64_t)(want - WALL) * NS;
		if (want < 0)
			none++;
		if (r.deadline != want_ns && bad++ < 3)
			CHECK_EQ(r.deadline, want_ns, "alarm %02x:%02x:%02x at +%llu s", bh, bm, bs,
				 (unsigned long long)delta);
	}
	CHECK_EQ(bad, 0, "400 random alarms armed as the second-by-second reference says");
	CHECK(none > 20 && none < 380, "the cases include alarms that never match (%u)", none);
	rtc_destroy(&c);
}

int main(void)
{
	test_pio();
	test_alarm_search();
	test_defaults_formats();
	test_running_set_divider();
	test_uip();
	test_interrupts();
	test_fuzz();
	return tap_done();
}
