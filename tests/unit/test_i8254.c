/* test_i8254.c: PIT modes, counter reads, latches, read-back, port 0x61, drift-free IRQ0 wake-ups, fuzz (fake clock). */
#include <errno.h>
#include <string.h>

#include "devices/i8254.h"
#include "tests/unit/tap.h"

#define F I8254_HZ
#define T0 1000000000ULL /* the fake clock starts at 1 s */

struct rec {
	uint64_t now;
	uint64_t deadline; /* I8254_NO_DEADLINE when disarmed */
	unsigned arms, disarms;
	unsigned pulses;   /* rising edges of irq0 */
	bool level;
	bool bad_pulse;    /* irq0(true) while already high */
};

static uint64_t rec_now(void *ctx)
{
	return ((struct rec *)ctx)->now;
}

static void rec_irq0(void *ctx, bool level)
{
	struct rec *r = ctx;
	if (level && r->level)
		r->bad_pulse = true;
	if (level)
		r->pulses++;
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
	r->deadline = I8254_NO_DEADLINE;
	r->disarms++;
}

static const struct i8254_ops ops = {
	.now_ns = rec_now, .irq0 = rec_irq0, .arm = rec_arm, .disarm = rec_disarm};

static void fresh(struct i8254 *p, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->now = T0;
	r->deadline = I8254_NO_DEADLINE;
	i8254_init(p, &ops, r);
}

/* ns (rounded up) at which tick k after a load at T0 has happened */
static uint64_t at(uint64_t k)
{
	return T0 + (uint64_t)(((unsigned __int128)k * 1000000000ULL + F - 1) / F);
}

static void program(struct i8254 *p, unsigned ch, unsigned mode, uint32_t count)
{
	i8254_write(p, I8254_REG_CONTROL,
		    (uint8_t)(ch << 6 | I8254_RW_WORD << 4 | mode << 1));
	i8254_write(p, ch, (uint8_t)count);
	i8254_write(p, ch, (uint8_t)(count >> 8));
}

static uint16_t read_word(struct i8254 *p, unsigned ch)
{
	uint8_t lo = i8254_read(p, ch);
	return (uint16_t)(lo | i8254_read(p, ch) << 8);
}

static uint16_t latch_word(struct i8254 *p, unsigned ch)
{
	i8254_write(p, I8254_REG_CONTROL, (uint8_t)(ch << 6));
	return read_word(p, ch);
}

/* Runs the owner's side: fire while the deadline is due. */
static void run_until(struct i8254 *p, struct rec *r, uint64_t t)
{
	while (r->deadline != I8254_NO_DEADLINE && r->deadline <= t) {
		r->now = r->deadline;
		i8254_timer_fired(p);
	}
	r->now = t;
}

static void test_defaults(void)
{
	struct i8254 p;
	struct rec r;

	CHECK_EQ(i8254_init(&p, NULL, NULL), -EINVAL, "ops required");
	fresh(&p, &r);
	CHECK_EQ(r.arms + r.disarms, 0, "no callback at init");
	CHECK_EQ(i8254_read(&p, I8254_REG_CONTROL), 0xff, "control register reads 0xff");
	CHECK_EQ(i8254_read(&p, 7), 0xff, "offset 7 reads 0xff");
	i8254_write(&p, 9, 0x12);
	i8254_write(&p, I8254_REG_CONTROL, 0xe2); /* read-back status of ch0 */
	CHECK_EQ(i8254_read(&p, 0), 0xf6, "reset status: OUT high, null count, LSB/MSB, mode 3");
	CHECK_EQ(i8254_port61_read(&p) & ~I8254_P61_REFRESH, I8254_P61_OUT2,
		 "port 0x61 at reset: gate off, OUT2 high (idle mode 3)");
	r.now += 10 * 1000000ULL;
	i8254_timer_fired(&p);
	CHECK_EQ(r.pulses, 0, "no channel counts at reset");
	CHECK_EQ(r.deadline, I8254_NO_DEADLINE, "nothing armed at reset");
	i8254_destroy(&p);
}

static void test_mode2_periodic(void)
{
	struct i8254 p;
	struct rec r;
	bool grid = true;

	fresh(&p, &r);
	program(&p, 0, 2, 1193); /* Linux HZ=1000: 0x34, LATCH = 1193 */
	CHECK_EQ(r.deadline, at(1193), "first deadline one period after the load (999848 ns)");
	CHECK_EQ(r.pulses, 0, "no pulse at programming");
	for (unsigned k = 1; k <= 1000; k++) {
		if (r.deadline != at(1193ULL * k))
			grid = false;
		r.now = r.deadline;
		i8254_timer_fired(&p);
	}
	CHECK(grid, "1000 deadlines exactly on the programmed grid (no drift)");
	CHECK_EQ(r.pulses, 1000, "1000 pulses in 1000 periods");
	CHECK(!r.bad_pulse && !r.level, "each edge is a pulse, line idles low");
	CHECK_EQ(r.now, T0 + 999847467ULL, "1000 periods take 999.847467 ms");

	/* late: 5 periods overdue coalesce into one pulse, grid kept */
	r.now = at(1193ULL * 1005) + 10;
	i8254_timer_fired(&p);
	CHECK_EQ(r.pulses, 1001, "overdue edges coalesce into one pulse");
	CHECK_EQ(r.deadline, at(1193ULL * 1006), "next deadline back on the grid");
	/* early and duplicate fires are harmless */
	r.now = r.deadline - 1;
	i8254_timer_fired(&p);
	i8254_timer_fired(&p);
	CHECK_EQ(r.pulses, 1001, "early fire: no pulse");
	CHECK_EQ(r.deadline, at(1193ULL * 1006), "early fire re-arms the same deadline");

	/* counter values in mode 2: N - d % N */
	fresh(&p, &r);
	program(&p, 0, 2, 1000);
	r.now = at(250);
	CHECK_EQ(latch_word(&p, 0), 750, "mode 2 count after 250 ticks");
	r.now = at(1000);
	i8254_timer_fired(&p);
	CHECK_EQ(latch_word(&p, 0), 1000, "reloaded at the period");
	r.now = at(1999);
	CHECK_EQ(latch_word(&p, 0), 1, "count 1 just before the edge");
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0) & I8254_ST_OUT, 0, "mode 2 OUT low while the count is 1");

	/* reprogramming: control word stops channel 0 */
	i8254_write(&p, I8254_REG_CONTROL, 0x30);
	CHECK_EQ(r.deadline, I8254_NO_DEADLINE, "control word disarms");
	i8254_write(&p, 0, 0x00);
	i8254_write(&p, 0, 0x00);
	CHECK_EQ(r.deadline, at(0x10000) + (r.now - T0) - 0, "count 0 is 65536 (mode 0)");

	/* count 0 in mode 2 means 65536, and a tiny period is clamped */
	fresh(&p, &r);
	program(&p, 0, 2, 0);
	CHECK_EQ(r.deadline, at(65536), "mode 2 count 0: 54.925 ms period");
	fresh(&p, &r);
	program(&p, 0, 2, 2);
	CHECK(r.deadline >= at(I8254_MIN_IRQ_TICKS), "period of 2 ticks: wake-ups clamped");
	unsigned fires = 0;
	while (r.deadline <= T0 + 1000000) {
		r.now = r.deadline;
		i8254_timer_fired(&p);
		fires++;
	}
	CHECK(fires <= 1000000 / 50000 + 1, "at most one wake-up per 50 us (%u in 1 ms)", fires);
	CHECK_EQ(r.pulses, fires, "one pulse per wake-up");
	i8254_destroy(&p);
}

static void test_modes(void)
{
	struct i8254 p;
	struct rec r;

	/* mode 0 on channel 0: one pulse at terminal count, then nothing; wraps */
	fresh(&p, &r);
	program(&p, 0, 0, 100);
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0), 0x30, "mode 0 status: OUT low, count loaded");
	CHECK_EQ(r.deadline, at(100), "mode 0 deadline at terminal count");
	run_until(&p, &r, at(150));
	CHECK_EQ(r.pulses, 1, "one pulse");
	CHECK_EQ(r.deadline, I8254_NO_DEADLINE, "nothing more armed");
	CHECK_EQ(latch_word(&p, 0), 0xffce, "mode 0 keeps counting past 0 (wraps)");
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0) & I8254_ST_OUT, I8254_ST_OUT, "OUT high after terminal count");
	/* writing the LSB of a new count stops counting and drops OUT */
	i8254_write(&p, 0, 0x10);
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0) & I8254_ST_OUT, 0, "mode 0 first byte: OUT low");
	i8254_write(&p, 0, 0x00);
	CHECK_EQ(r.deadline, r.now + (at(16) - T0), "count 16 restarts from now");

	/* mode 4: strobe one tick after terminal count */
	fresh(&p, &r);
	program(&p, 0, 4, 100);
	CHECK_EQ(r.deadline, at(101), "mode 4 edge at N + 1");
	r.now = at(100);
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0) & I8254_ST_OUT, 0, "mode 4 OUT low for the terminal tick");
	run_until(&p, &r, at(200));
	CHECK_EQ(r.pulses, 1, "mode 4: one pulse");

	/* mode 3 square wave on channel 0 and 2 */
	fresh(&p, &r);
	program(&p, 0, 3, 1000);
	CHECK_EQ(r.deadline, at(1000), "mode 3: one IRQ0 edge per period");
	run_until(&p, &r, at(10000));
	CHECK_EQ(r.pulses, 10, "mode 3: 10 periods, 10 pulses");
	i8254_port61_write(&p, I8254_P61_GATE2);
	r.now = T0;
	program(&p, 2, 3, 1001);
	r.now = at(1);
	CHECK_EQ(latch_word(&p, 2), 999, "mode 3 counts down by two");
	r.now = at(500);
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "odd count: high for 501 ticks");
	r.now = at(501);
	CHECK(!(i8254_port61_read(&p) & I8254_P61_OUT2), "then low");
	r.now = at(1001);
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "high again at the period");
	/* gate low in mode 3: OUT high, counting stops; rising edge restarts */
	r.now = at(1200);
	i8254_port61_write(&p, 0);
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "gate low forces OUT high");
	uint16_t held = latch_word(&p, 2);
	r.now = at(5000);
	CHECK_EQ(latch_word(&p, 2), held, "gate low stops mode 3");
	i8254_port61_write(&p, I8254_P61_GATE2);
	CHECK_EQ(latch_word(&p, 2), 1001, "gate rising edge reloads");

	/* mode 1 on channel 2: gate triggered one-shot */
	fresh(&p, &r);
	program(&p, 2, 1, 50);
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "mode 1 OUT high before a trigger");
	i8254_port61_write(&p, 0);
	r.now = at(10);
	CHECK_EQ(latch_word(&p, 2), 50, "mode 1 waits for a trigger");
	i8254_port61_write(&p, I8254_P61_GATE2);
	r.now += 1000;
	CHECK(!(i8254_port61_read(&p) & I8254_P61_OUT2), "mode 1 OUT low after trigger");
	r.now += 50000;
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "mode 1 OUT high at terminal count");

	/* mode 5 on channel 2 */
	fresh(&p, &r);
	program(&p, 2, 5, 20);
	CHECK_EQ(latch_word(&p, 2), 20, "mode 5 waits for a trigger");
	i8254_port61_write(&p, I8254_P61_GATE2);
	r.now = at(5);
	CHECK_EQ(latch_word(&p, 2), 15, "mode 5 counting after trigger");

	/* channel 1 counts too (no output) */
	program(&p, 1, 2, 18);
	r.now += 1000;
	CHECK(latch_word(&p, 1) <= 18, "channel 1 counts");
	i8254_destroy(&p);
}

static void test_latch_readback_access(void)
{
	struct i8254 p;
	struct rec r;

	fresh(&p, &r);
	program(&p, 0, 2, 5000);
	r.now = at(1000);
	i8254_write(&p, I8254_REG_CONTROL, 0x00); /* latch ch0 */
	r.now = at(2000);
	i8254_write(&p, I8254_REG_CONTROL, 0x00); /* ignored: latch unread */
	CHECK_EQ(read_word(&p, 0), 4000, "latched value is from latch time, second latch ignored");
	CHECK_EQ(read_word(&p, 0), 3000, "after the latch is read, reads are live");
	/* a latch persists until both bytes are read */
	i8254_write(&p, I8254_REG_CONTROL, 0x00);
	CHECK_EQ(i8254_read(&p, 0), (uint8_t)3000, "latched LSB");
	r.now = at(2500);
	CHECK_EQ(i8254_read(&p, 0), 3000 >> 8, "latched MSB even after time passed");

	/* read-back: status and count of ch0 and ch2 */
	i8254_write(&p, I8254_REG_CONTROL, 0xc0 | I8254_RB_CH(0) | I8254_RB_CH(2));
	CHECK_EQ(i8254_read(&p, 0), 0x34 | I8254_ST_OUT, "read-back status first: OUT, LSB/MSB, mode 2");
	CHECK_EQ(read_word(&p, 0), 2500, "then the latched count");
	CHECK_EQ(i8254_read(&p, 2), 0xf6, "ch2 status: OUT high, null count, mode 3");
	i8254_write(&p, I8254_REG_CONTROL, 0xc0 | I8254_RB_NOT_STATUS | I8254_RB_CH(0));
	r.now = at(2600);
	CHECK_EQ(read_word(&p, 0), 2500, "read-back count only");
	i8254_write(&p, I8254_REG_CONTROL, 0xc0 | I8254_RB_NOT_COUNT | I8254_RB_CH(0));
	i8254_write(&p, I8254_REG_CONTROL, 0xc0 | I8254_RB_NOT_COUNT | I8254_RB_CH(0));
	CHECK_EQ(i8254_read(&p, 0), 0x34 | I8254_ST_OUT, "status latched once");
	CHECK_EQ(read_word(&p, 0), 2400, "then live count");

	/* LSB-only and MSB-only access, BCD bit */
	i8254_write(&p, I8254_REG_CONTROL, 0x10 | (0 << 1) | I8254_CW_BCD);
	i8254_write(&p, 0, 0x80);
	CHECK_EQ(i8254_read(&p, 0), 0x80, "LSB-only: count 0x80");
	i8254_write(&p, I8254_REG_CONTROL, 0xe2);
	CHECK_EQ(i8254_read(&p, 0), 0x11, "status: OUT low, LSB only, mode 0, BCD");
	i8254_write(&p, I8254_REG_CONTROL, 0x20);
	i8254_write(&p, 0, 0x12);
	CHECK_EQ(i8254_read(&p, 0), 0x12, "MSB-only: reads the MSB");
	r.now += at(0x11) - T0;
	CHECK_EQ(i8254_read(&p, 0), 0x11, "MSB-only: 0x1200 - 0x11 ticks");
	i8254_write(&p, I8254_REG_CONTROL, 0x20);
	i8254_write(&p, I8254_REG_CONTROL, 0x00);
	CHECK_EQ(i8254_read(&p, 0), 0x12, "latched MSB-only count: one byte");
	i8254_destroy(&p);
}

/* Linux's pit_calibrate_tsc() / quick_pit_calibrate() on channel 2. */
static void test_linux_calibration(void)
{
	struct i8254 p;
	struct rec r;

	fresh(&p, &r);
	uint8_t v = i8254_port61_read(&p);
	i8254_port61_write(&p, (uint8_t)((v & ~I8254_P61_SPKR_EN) | I8254_P61_GATE2));
	CHECK_EQ(i8254_port61_read(&p) & 0x0f, I8254_P61_GATE2, "gate on, speaker off");
	i8254_write(&p, I8254_REG_CONTROL, 0xb0);
	i8254_write(&p, 2, 0xff);
	i8254_write(&p, 2, 0xff);
	CHECK_EQ(r.deadline, I8254_NO_DEADLINE, "channel 2 never arms a wake-up");
	/* quick_pit_calibrate reads LSB then MSB and expects the MSB to fall */
	r.now = at(256 * 3 + 5);
	(void)i8254_read(&p, 2);
	CHECK_EQ(i8254_read(&p, 2), 0xfc, "MSB after 773 ticks");
	/* pit_calibrate_tsc: 50 ms latch, wait for OUT2 */
	r.now = T0;
	i8254_write(&p, I8254_REG_CONTROL, 0xb0);
	i8254_write(&p, 2, (uint8_t)59659);
	i8254_write(&p, 2, (uint8_t)(59659 >> 8));
	unsigned loops = 0;
	while (!(i8254_port61_read(&p) & I8254_P61_OUT2) && loops < 1000000) {
		r.now += 1000;
		loops++;
	}
	CHECK(r.now >= at(59659) && r.now < at(59659) + 1000, "OUT2 rises at 50 ms (%u us)", loops);

	/* gate low pauses mode 0 */
	r.now = T0;
	program(&p, 2, 0, 1000);
	r.now = at(300);
	i8254_port61_write(&p, 0);
	r.now = at(5000);
	CHECK_EQ(latch_word(&p, 2), 700, "gate low pauses mode 0");
	CHECK(!(i8254_port61_read(&p) & I8254_P61_OUT2), "OUT2 still low");
	i8254_port61_write(&p, I8254_P61_GATE2);
	r.now += at(700) - T0;
	CHECK(i8254_port61_read(&p) & I8254_P61_OUT2, "resumed count expires 700 ticks later");

	/* refresh toggle */
	r.now = 0;
	uint8_t a = i8254_port61_read(&p) & I8254_P61_REFRESH;
	r.now = I8254_REFRESH_NS;
	uint8_t b = i8254_port61_read(&p) & I8254_P61_REFRESH;
	CHECK(a != b, "bit 4 toggles every 15.085 us");
	i8254_port61_write(&p, 0xff);
	CHECK_EQ(i8254_port61_read(&p) & 0xcf, 0x0f, "bits 0-3 kept, 6-7 read 0");
	i8254_reset(&p);
	CHECK_EQ(i8254_port61_read(&p) & 0x0f, 0, "reset clears port 0x61");
	i8254_destroy(&p);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_fuzz(void)
{
	struct i8254 p, p2;
	struct rec r, r2;
	uint64_t seed = 99;
	bool future = true;

	fresh(&p, &r);
	fresh(&p2, &r2);
	for (int i = 0; i < 300000; i++) {
		uint64_t x = lcg(&seed);
		switch (x % 6) {
		case 0:
			i8254_write(&p, (unsigned)(lcg(&seed) % 5), (uint8_t)lcg(&seed));
			break;
		case 1:
			(void)i8254_read(&p, (unsigned)(lcg(&seed) % 5));
			break;
		case 2:
			i8254_port61_write(&p, (uint8_t)lcg(&seed));
			break;
		case 3:
			(void)i8254_port61_read(&p);
			break;
		case 4:
			r.now += lcg(&seed) % 3000000;
			break;
		default:
			if (r.deadline != I8254_NO_DEADLINE && r.deadline <= r.now)
				i8254_timer_fired(&p);
			break;
		}
		/* whenever armed, after a fire the deadline lies in the future */
		if (r.deadline != I8254_NO_DEADLINE && r.deadline <= r.now) {
			i8254_timer_fired(&p);
			if (r.deadline != I8254_NO_DEADLINE && r.deadline <= r.now)
				future = false;
		}
	}
	CHECK(future, "fuzz: a fired timer always re-arms in the future");
	CHECK(!r.bad_pulse, "fuzz: irq0 always pulses");
	CHECK_EQ(r2.arms + r2.pulses, 0, "second instance untouched");
	i8254_destroy(&p);
	i8254_destroy(&p2);
}

/* The port handlers: 0x40-0x43 and port 0x61 reach the model. */
static void test_pio(void)
{
	struct i8254 p;
	struct rec r;
	fresh(&p, &r);
	uint64_t v = 0x01; /* gate 2 on */
	CHECK_EQ(i8254_pio_port61(&p, 0, 1, true, &v), 0, "i8254_pio_port61 write");
	CHECK_EQ(i8254_port61_read(&p) & 0x01, 0x01, "gate 2 set through the handler");
	v = 0;
	i8254_pio_port61(&p, 0, 1, false, &v);
	CHECK_EQ(v, i8254_port61_read(&p), "i8254_pio_port61 reads port 0x61");
	v = 0xb0; /* channel 2, lobyte/hibyte, mode 0 */
	i8254_pio(&p, 3, 1, true, &v);
	v = 0x34;
	i8254_pio(&p, 2, 1, true, &v);
	v = 0x12;
	i8254_pio(&p, 2, 1, true, &v);
	v = 0xd8; /* read-back: latch the count (COUNT# = 0) of channel 2 */
	i8254_pio(&p, 3, 1, true, &v);
	uint64_t lo = 0, hi = 0;
	i8254_pio(&p, 2, 1, false, &lo);
	i8254_pio(&p, 2, 1, false, &hi);
	CHECK_EQ(lo | hi << 8, 0x1234, "channel 2 count written and latched through i8254_pio");
	i8254_destroy(&p);
}

int main(void)
{
	test_pio();
	test_defaults();
	test_mode2_periodic();
	test_modes();
	test_latch_readback_access();
	test_linux_calibration();
	test_fuzz();
	return tap_done();
}
