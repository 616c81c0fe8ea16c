/* i8254.c: 8254 PIT: counting from elapsed time, modes 0-5, latches, read-back, IRQ0 wake-ups (devices/i8254.h). */
#include <errno.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8254.h"

#define NS_PER_S 1000000000ULL
#define NO_EDGE UINT64_MAX

enum { MODE0 = 0, MODE1, MODE2, MODE3, MODE4, MODE5 };

/* Whole ticks in ns nanoseconds: floor(ns * 1193182 / 1e9). */
static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * I8254_HZ / NS_PER_S);
}

/* Smallest ns with ns_to_ticks(ns) >= ticks, saturated. */
static uint64_t ticks_to_ns_ceil(uint64_t ticks)
{
	unsigned __int128 ns = ((unsigned __int128)ticks * NS_PER_S + I8254_HZ - 1) / I8254_HZ;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static uint64_t now(const struct i8254 *pit)
{
	return pit->ops->now_ns(pit->ctx);
}

/* Whether the counter decrements now (82C54 "Gate pin operations summary":
 * GATE low disables counting in modes 0, 2, 3, 4; in modes 1 and 5 GATE
 * only triggers). */
static bool running(const struct i8254_channel *c)
{
	return c->counting && (c->gate || c->mode == MODE1 || c->mode == MODE5);
}

/* Ticks counted since the count was loaded (or the last trigger). */
static uint64_t elapsed(const struct i8254_channel *c, uint64_t t)
{
	if (!c->counting)
		return 0;
	uint64_t d = c->ticks_before;
	if (running(c) && t > c->run_ns)
		d += ns_to_ticks(t - c->run_ns);
	return d;
}

/* OUT pin after d ticks (82C54 mode definitions). */
static bool out_level(const struct i8254_channel *c, uint64_t d)
{
	uint64_t n = c->count;

	if (!c->counting)
		return c->mode != MODE0; /* control word: mode 0 OUT low, others high */
	switch (c->mode) {
	case MODE0: /* interrupt on terminal count */
	case MODE1: /* one-shot: low from trigger to terminal count */
		return d >= n;
	case MODE2: /* rate generator: low for the tick where the count is 1 */
		return !c->gate || n < 2 || d % n != n - 1;
	case MODE3: /* square wave: high for ceil(N/2), low for floor(N/2) */
		return !c->gate || d % n < (n + 1) / 2;
	default: /* MODE4, MODE5 strobes: low for one tick at terminal count */
		return d != n;
	}
}

/* Counting element value after d ticks. */
static uint16_t counter_value(const struct i8254_channel *c, uint64_t d)
{
	uint64_t n = c->count, p, half;

	if (!c->counting)
		return (uint16_t)n;
	switch (c->mode) {
	case MODE2:
		return (uint16_t)(n - d % n);
	case MODE3:
		/* XXX: decrements by two; odd counts are approximate (see header) */
		p = d % n;
		half = (n + 1) / 2;
		return (uint16_t)(p < half ? n - 2 * p : n - 2 * (p - half));
	default: /* modes 0, 1, 4, 5 wrap around after terminal count */
		return (uint16_t)(n - d);
	}
}

/* Tick position of the first rising edge of OUT strictly after d, or NO_EDGE. */
static uint64_t next_edge(const struct i8254_channel *c, uint64_t d)
{
	uint64_t n = c->count;

	if (!running(c))
		return NO_EDGE;
	switch (c->mode) {
	case MODE0:
	case MODE1:
		return d < n ? n : NO_EDGE;
	case MODE2:
	case MODE3:
		return (d / n + 1) * n;
	default: /* MODE4, MODE5: OUT rises one tick after terminal count */
		return d < n + 1 ? n + 1 : NO_EDGE;
	}
}

static void set_deadline(struct i8254 *pit, uint64_t deadline)
{
	if (deadline == pit->deadline)
		return;
	pit->deadline = deadline;
	if (deadline == I8254_NO_DEADLINE) {
		if (pit->ops->disarm)
			pit->ops->disarm(pit->ctx);
	} else if (pit->ops->arm) {
		pit->ops->arm(pit->ctx, deadline);
	}
}

/* Reports channel 0's due edges up to t, then arms the next one. Called
 * by every entry point, before and after it changes state, so an edge
 * that fell due before a reprogramming is still reported. */
static void settle(struct i8254 *pit, uint64_t t)
{
	struct i8254_channel *c = &pit->ch[0];
	uint64_t d = elapsed(c, t);

	uint64_t e = next_edge(c, c->irq_seen);
	if (e != NO_EDGE && e <= d && pit->ops->irq0) {
		pit->ops->irq0(pit->ctx, true);
		pit->ops->irq0(pit->ctx, false);
	}
	if (d > c->irq_seen)
		c->irq_seen = d;

	uint64_t from = c->irq_seen;
	if ((c->mode == MODE2 || c->mode == MODE3) && c->count < I8254_MIN_IRQ_TICKS)
		from += I8254_MIN_IRQ_TICKS - 1;
	e = next_edge(c, from);
	if (e == NO_EDGE || e < c->ticks_before) {
		set_deadline(pit, I8254_NO_DEADLINE);
		return;
	}
	uint64_t off = ticks_to_ns_ceil(e - c->ticks_before);
	set_deadline(pit, off > UINT64_MAX - c->run_ns ? UINT64_MAX - 1 : c->run_ns + off);
}

/* Starts a run from zero ticks (count loaded, or a GATE trigger). */
static void start_run(struct i8254_channel *c, uint64_t t)
{
	c->counting = true;
	c->run_ns = t;
	c->ticks_before = 0;
	c->irq_seen = 0;
}

/* A complete count was written (82C54 "Write Operations"). */
static void load_count(struct i8254_channel *c, uint32_t n, uint64_t t)
{
	c->count = n ? n : 0x10000; /* 0 means 2^16 in binary mode */
	c->loaded = true;
	c->null_count = false;
	if (c->mode == MODE1 || c->mode == MODE5) {
		/* XXX: the new count should wait for the next trigger; it
		 * replaces the running one at once (see header). */
		return;
	}
	start_run(c, t);
}

static void data_write(struct i8254_channel *c, uint8_t val, uint64_t t)
{
	switch (c->rw) {
	case I8254_RW_LSB:
		load_count(c, val, t);
		break;
	case I8254_RW_MSB:
		load_count(c, (uint32_t)val << 8, t);
		break;
	default: /* I8254_RW_WORD */
		if (!c->write_msb_next) {
			c->write_lsb = val;
			c->write_msb_next = true;
			/* 82C54 mode 0: writing the first byte stops the count */
			if (c->mode == MODE0)
				c->counting = false;
		} else {
			c->write_msb_next = false;
			load_count(c, c->write_lsb | ((uint32_t)val << 8), t);
		}
		break;
	}
}

/* Counter latch command; ignored while a latched count is unread
 * (82C54 "Counter Latch Command"). */
static void latch_count(struct i8254_channel *c, uint64_t t)
{
	if (c->latch_state)
		return;
	c->latch = counter_value(c, elapsed(c, t));
	c->latch_state = c->rw;
}

static void latch_status(struct i8254_channel *c, uint64_t t)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)((out_level(c, elapsed(c, t)) ? I8254_ST_OUT : 0) |
			      (c->null_count ? I8254_ST_NULL_COUNT : 0) |
			      (c->rw << I8254_CW_RW_SHIFT) | (c->mode << I8254_CW_MODE_SHIFT) |
			      (c->bcd ? I8254_CW_BCD : 0));
	c->status_latched = true;
}

static void control_write(struct i8254 *pit, uint8_t val, uint64_t t)
{
	unsigned sc = val >> I8254_CW_SC_SHIFT;
	unsigned rw = (val & I8254_CW_RW_MASK) >> I8254_CW_RW_SHIFT;

	if (sc == I8254_CW_SC_READBACK) {
		for (unsigned i = 0; i < I8254_NCHANNELS; i++) {
			if (!(val & I8254_RB_CH(i)))
				continue;
			if (!(val & I8254_RB_NOT_COUNT))
				latch_count(&pit->ch[i], t);
			if (!(val & I8254_RB_NOT_STATUS))
				latch_status(&pit->ch[i], t);
		}
		return;
	}
	struct i8254_channel *c = &pit->ch[sc];
	if (rw == I8254_RW_LATCH) {
		latch_count(c, t);
		return;
	}
	unsigned mode = (val & I8254_CW_MODE_MASK) >> I8254_CW_MODE_SHIFT;
	c->mode = (uint8_t)(mode > MODE5 ? mode - 4 : mode); /* x10 = 2, x11 = 3 */
	c->rw = (uint8_t)rw;
	c->bcd = val & I8254_CW_BCD;
	c->write_msb_next = false;
	c->read_msb_next = false;
	c->null_count = true;
	c->loaded = false;
	c->counting = false; /* 82C54: control logic reset, OUT to its initial state */
	c->ticks_before = 0;
	c->irq_seen = 0;
}

static uint8_t data_read(struct i8254_channel *c, uint64_t t)
{
	uint8_t v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_state) {
		switch (c->latch_state) {
		case I8254_RW_LSB:
			v = (uint8_t)c->latch;
			c->latch_state = 0;
			break;
		case I8254_RW_MSB:
			v = (uint8_t)(c->latch >> 8);
			c->latch_state = 0;
			break;
		default: /* I8254_RW_WORD: LSB now, MSB next */
			v = (uint8_t)c->latch;
			c->latch_state = I8254_RW_MSB;
			break;
		}
		return v;
	}
	uint16_t count = counter_value(c, elapsed(c, t));
	switch (c->rw) {
	case I8254_RW_LSB:
		return (uint8_t)count;
	case I8254_RW_MSB:
		return (uint8_t)(count >> 8);
	default:
		v = c->read_msb_next ? (uint8_t)(count >> 8) : (uint8_t)count;
		c->read_msb_next = !c->read_msb_next;
		return v;
	}
}

/* GATE input change (82C54 "Gate pin operations summary"). */
static void set_gate(struct i8254_channel *c, bool gate, uint64_t t)
{
	if (gate == c->gate)
		return;
	if (!gate) {
		/* falling: modes 0/4 pause, 2/3 stop (OUT high); keep the count */
		c->ticks_before = elapsed(c, t);
		c->gate = false;
		return;
	}
	c->gate = true;
	switch (c->mode) {
	case MODE1:
	case MODE5:
	case MODE2:
	case MODE3: /* rising edge (re)triggers: reload and count from N */
		if (c->loaded)
			start_run(c, t);
		break;
	default: /* MODE0, MODE4: resume */
		c->run_ns = t;
		break;
	}
}

static void reset_locked(struct i8254 *pit)
{
	memset(pit->ch, 0, sizeof(pit->ch));
	for (unsigned i = 0; i < I8254_NCHANNELS; i++) {
		struct i8254_channel *c = &pit->ch[i];
		c->mode = MODE3;
		c->rw = I8254_RW_WORD;
		c->count = 0x10000;
		c->null_count = true;
		c->gate = i != 2; /* channel 2's GATE is port 0x61 bit 0 */
	}
	pit->port61 = 0;
	set_deadline(pit, I8254_NO_DEADLINE);
}

int i8254_init(struct i8254 *pit, const struct i8254_ops *ops, void *ctx)
{
	if (!ops || !ops->now_ns)
		return -EINVAL;
	memset(pit, 0, sizeof(*pit));
	int err = pthread_mutex_init(&pit->lock, NULL);
	if (err)
		return -err;
	pit->ops = ops;
	pit->ctx = ctx;
	pit->deadline = I8254_NO_DEADLINE;
	reset_locked(pit);
	return 0;
}

void i8254_destroy(struct i8254 *pit)
{
	pthread_mutex_destroy(&pit->lock);
}

void i8254_reset(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	reset_locked(pit);
	pthread_mutex_unlock(&pit->lock);
}

uint8_t i8254_read(struct i8254 *pit, unsigned offset)
{
	if (offset >= I8254_REG_CONTROL)
		return 0xff;
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	settle(pit, t);
	uint8_t v = data_read(&pit->ch[offset], t);
	pthread_mutex_unlock(&pit->lock);
	return v;
}

void i8254_write(struct i8254 *pit, unsigned offset, uint8_t value)
{
	if (offset >= I8254_NREGS)
		return;
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	settle(pit, t);
	if (offset == I8254_REG_CONTROL)
		control_write(pit, value, t);
	else
		data_write(&pit->ch[offset], value, t);
	settle(pit, t);
	pthread_mutex_unlock(&pit->lock);
}

uint8_t i8254_port61_read(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	settle(pit, t);
	const struct i8254_channel *c2 = &pit->ch[2];
	uint8_t v = pit->port61;
	if ((t / I8254_REFRESH_NS) & 1)
		v |= I8254_P61_REFRESH;
	if (out_level(c2, elapsed(c2, t)))
		v |= I8254_P61_OUT2;
	pthread_mutex_unlock(&pit->lock);
	return v;
}

void i8254_port61_write(struct i8254 *pit, uint8_t value)
{
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	settle(pit, t);
	pit->port61 = value & I8254_P61_RW_MASK;
	set_gate(&pit->ch[2], value & I8254_P61_GATE2, t);
	pthread_mutex_unlock(&pit->lock);
}

void i8254_timer_fired(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	/* The timer is consumed; 0 is never a real deadline (edges lie after a
	 * load), so settle() is sure to call arm or disarm. */
	pit->deadline = 0;
	settle(pit, now(pit));
	pthread_mutex_unlock(&pit->lock);
}

/* --- port I/O bus handlers --- */

BUS_BYTE_REGS_HANDLER(i8254_pio, struct i8254, i8254_read, i8254_write)

static uint8_t port61_rd(struct i8254 *pit, unsigned off)
{
	(void)off;
	return i8254_port61_read(pit);
}

static void port61_wr(struct i8254 *pit, unsigned off, uint8_t value)
{
	(void)off;
	i8254_port61_write(pit, value);
}

BUS_BYTE_REGS_HANDLER(i8254_pio_port61, struct i8254, port61_rd, port61_wr)
