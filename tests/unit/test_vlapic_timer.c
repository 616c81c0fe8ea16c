/* test_vlapic_timer.c: the vLAPIC timer (vmm/vlapic.c) on a fake clock: one-shot,
 * periodic and TSC-deadline expiry, and expiries the host timer thread reports
 * late (SDM Vol. 3A 10.5.4, 10.5.4.1, 10.5.1 "Mask"). */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/vlapic.h"

#define VEC 0x40
#define LVT_ONESHOT (0u << 17)
#define LVT_PERIODIC (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)
#define TDCR_DIV1 0xbu

/* One vLAPIC on a clock the test moves by hand; arm/disarm are recorded. */
struct fx {
	struct apic_addr pub;
	struct vlapic_ops ops;
	struct vlapic *vl;
	uint64_t now;      /* ns */
	uint64_t armed;    /* last deadline given to timer_arm; 0 after disarm */
	unsigned narm;
};

static void arm_cb(void *ctx, uint64_t deadline)
{
	struct fx *f = ctx;
	f->armed = deadline;
	f->narm++;
}

static void disarm_cb(void *ctx)
{
	struct fx *f = ctx;
	f->armed = 0;
}

static uint64_t now_cb(void *ctx)
{
	struct fx *f = ctx;
	return f->now;
}

/* TSC at 1 GHz (tsc_khz below): TSC == ns on the fake clock. */
static uint64_t tsc_cb(void *ctx)
{
	struct fx *f = ctx;
	return f->now;
}

static void wr(struct fx *f, uint32_t off, uint32_t v) { vlapic_mmio_write(f->vl, off, 4, v); }

static bool irr_has(struct fx *f, uint8_t v)
{
	return (vlapic_peek(f->vl, APIC_OFF_IRR0 + (v / 32u) * 16u) >> (v % 32)) & 1;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->now = 1000000;
	f->ops = (struct vlapic_ops){.ctx = f, .timer_arm = arm_cb, .timer_disarm = disarm_cb, .now_ns = now_cb,
				     .guest_tsc = tsc_cb, .tsc_khz = 1000000};
	f->vl = vlapic_create(1, false, true, 39, &f->pub, &f->ops);
	if (!f->vl)
		abort();
	wr(f, APIC_OFF_SVR, APIC_SVR_ENABLE | 0xff);
	wr(f, APIC_OFF_TIMER_DCR, TDCR_DIV1); /* 1 count = 1 ns */
	return f;
}

static void fx_free(struct fx *f)
{
	vlapic_destroy(f->vl);
	free(f);
}

static void test_oneshot(void)
{
	struct fx *f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	CHECK_EQ(f->armed, f->now + 1000, "one-shot: armed at TMICT counts from now");
	f->now += 400;
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 600, "one-shot: TMCCR counts down");
	CHECK(!vlapic_timer_fired(f->vl), "one-shot: an early wake-up delivers nothing");
	CHECK_EQ(f->armed, f->now + 600, "one-shot: ... and re-arms the same deadline");
	f->now += 600;
	CHECK(vlapic_timer_fired(f->vl), "one-shot: fires at the deadline");
	CHECK(irr_has(f, VEC), "one-shot: vector pending in IRR");
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 0, "one-shot: TMCCR 0 after expiry");
	CHECK(!vlapic_timer_fired(f->vl), "one-shot: a second callback delivers nothing");
	fx_free(f);
}

/* The host timer thread can run late. An expiry already due when the guest
 * changes the timer registers is decided by the registers of its time. */
static void test_late_callback(void)
{
	struct fx *f = fx_new();
	/* expired while masked, unmasked before the callback: no interrupt */
	wr(f, APIC_OFF_LVT_TIMER, APIC_LVT_MASKED | LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now += 2000;
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	CHECK(!irr_has(f, VEC), "late: expiry while masked, unmasked before the callback: no IRR");
	CHECK(!vlapic_timer_fired(f->vl), "late: ... and the late callback delivers nothing");
	CHECK(!irr_has(f, VEC), "late: ... still no IRR");
	fx_free(f);

	/* expired while unmasked, masked before the callback: the interrupt stands */
	f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now += 2000;
	wr(f, APIC_OFF_LVT_TIMER, APIC_LVT_MASKED | LVT_ONESHOT | VEC);
	CHECK(irr_has(f, VEC), "late: expiry while unmasked, masked before the callback: IRR set");
	fx_free(f);

	/* expired, then TMICT rewritten before the callback: the old expiry counts */
	f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now += 2000;
	wr(f, APIC_OFF_TIMER_ICR, 5000);
	CHECK(irr_has(f, VEC), "late: TMICT rewritten after the count ran out: that expiry delivered");
	CHECK_EQ(f->armed, f->now + 5000, "late: ... and the new count armed");
	CHECK(!vlapic_timer_fired(f->vl), "late: the old callback finds the new deadline ahead");
	fx_free(f);

	/* TMICT = 0 before the deadline: nothing, even if the callback comes */
	f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now += 500;
	wr(f, APIC_OFF_TIMER_ICR, 0);
	CHECK_EQ(f->armed, 0, "stop: TMICT = 0 disarms");
	f->now += 1000;
	CHECK(!vlapic_timer_fired(f->vl) && !irr_has(f, VEC), "stop: a stale callback delivers nothing");
	fx_free(f);
}

static void test_periodic(void)
{
	struct fx *f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_PERIODIC | VEC);
	uint64_t start = f->now;
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now = start + 3500; /* three periods missed */
	CHECK(vlapic_timer_fired(f->vl), "periodic: fires");
	CHECK_EQ(f->armed, start + 4000, "periodic: next deadline on the grid of the start");
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 500, "periodic: TMCCR within the period");
	/* masked with an expiry due: that one is delivered, the grid goes on */
	f->now = start + 4200;
	wr(f, APIC_OFF_LVT_TIMER, APIC_LVT_MASKED | LVT_PERIODIC | VEC);
	CHECK_EQ(f->armed, start + 5000, "periodic: a register write catches up the grid");
	f->now = start + 5000;
	CHECK(!vlapic_timer_fired(f->vl), "periodic: masked: no interrupt");
	CHECK_EQ(f->armed, start + 6000, "periodic: masked: keeps counting");
	fx_free(f);
}

static void test_tsc_deadline(void)
{
	struct fx *f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_TSC_DEADLINE | VEC);
	uint64_t dl = f->now + 3000;
	vlapic_tsc_deadline_write(f->vl, dl);
	CHECK_EQ(vlapic_tsc_deadline_read(f->vl), dl, "tsc-deadline: MSR reads back");
	CHECK_EQ(f->armed, dl, "tsc-deadline: armed at the deadline (TSC at 1 GHz)");
	wr(f, APIC_OFF_TIMER_ICR, 77);
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_ICR), 0, "tsc-deadline: TMICT writes ignored");
	f->now = dl;
	CHECK(vlapic_timer_fired(f->vl), "tsc-deadline: fires at the deadline");
	CHECK_EQ(vlapic_tsc_deadline_read(f->vl), 0, "tsc-deadline: MSR reads 0 after it fired");
	fx_free(f);

	/* due but not yet reported when the guest switches to one-shot: delivered */
	f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_TSC_DEADLINE | VEC);
	vlapic_tsc_deadline_write(f->vl, f->now + 1000);
	f->now += 2000;
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	CHECK(irr_has(f, VEC), "tsc-deadline: expiry due at a mode switch is delivered");
	CHECK(!vlapic_timer_fired(f->vl), "tsc-deadline: ... once");
	fx_free(f);

	/* a new deadline written after the old one passed: the old one fires */
	f = fx_new();
	wr(f, APIC_OFF_LVT_TIMER, LVT_TSC_DEADLINE | VEC);
	vlapic_tsc_deadline_write(f->vl, f->now + 1000);
	f->now += 2000;
	vlapic_tsc_deadline_write(f->vl, f->now + 1000);
	CHECK(irr_has(f, VEC), "tsc-deadline: a passed deadline fires before it is replaced");
	CHECK_EQ(vlapic_tsc_deadline_read(f->vl), f->now + 1000, "tsc-deadline: ... and the new one is armed");
	fx_free(f);
}

/* Periodic ticks that end while one is still pending, or while the host
 * timer ran late, are owed and re-raised one per accepted tick (no lost
 * ticks, no drift). */
static void test_periodic_owed(void)
{
	struct fx *f = fx_new();
	const uint8_t vec = 0x61;
	wr(f, APIC_OFF_LVT_TIMER, (1u << 17) | vec); /* periodic */
	wr(f, APIC_OFF_TIMER_ICR, 1000);            /* 1000 ns period */
	uint64_t start = f->now;
	f->now = start + 3500; /* the host timer is 2.5 periods late */
	CHECK(vlapic_timer_fired(f->vl), "owed: late expiry raises the tick");
	CHECK_EQ(f->armed, start + 4000, "owed: next deadline stays on the grid");
	unsigned taken = 0;
	for (int i = 0; i < 10 && vlapic_pending_intr(f->vl) == vec; i++) {
		vlapic_intr_accepted(f->vl, vec);
		wr(f, APIC_OFF_EOI, 0);
		taken++;
	}
	CHECK_EQ(taken, 3, "owed: the 3 periods that ended are taken one by one");
	f->now = start + 4000;
	CHECK(vlapic_timer_fired(f->vl), "owed: the next period fires on time");
	f->now = start + 5000;
	vlapic_timer_fired(f->vl); /* fires while the previous tick is still in IRR */
	unsigned taken2 = 0;
	for (int i = 0; i < 10 && vlapic_pending_intr(f->vl) == vec; i++) {
		vlapic_intr_accepted(f->vl, vec);
		wr(f, APIC_OFF_EOI, 0);
		taken2++;
	}
	CHECK_EQ(taken2, 2, "owed: a tick that found the previous one pending is owed, not lost");
	wr(f, APIC_OFF_TIMER_ICR, 0); /* stop: nothing owed any more */
	CHECK(vlapic_pending_intr(f->vl) < 0, "owed: stopping the timer forgets owed ticks");
	fx_free(f);
}

/* Switching LVT Timer between one-shot and periodic does not reload the
 * count (SDM Vol. 3A 10.5.4): it goes on from the current count; a one-shot
 * count that reached 0 stays 0 in periodic mode; periodic reloads TMICT at 0. */
static void test_mode_change(void)
{
	struct fx *f = fx_new();
	uint64_t start = f->now;
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now = start + 700;
	wr(f, APIC_OFF_LVT_TIMER, LVT_PERIODIC | VEC);
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 300, "mode: one-shot -> periodic keeps counting (300 left)");
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_ICR), 1000, "mode: ... TMICT unchanged");
	f->now = start + 1000;
	CHECK(vlapic_timer_fired(f->vl), "mode: ... fires when that count ends");
	CHECK_EQ(f->armed, start + 2000, "mode: ... and reloads TMICT as periodic");
	f->now = start + 1250;
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 750, "mode: periodic counts down from TMICT");
	f->now = start + 3400; /* periods ended at 2000 and 3000, not yet reported */
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 600, "mode: periodic TMCCR on the grid when due");
	vlapic_timer_fired(f->vl);
	f->now = start + 3900;
	wr(f, APIC_OFF_LVT_TIMER, LVT_ONESHOT | VEC);
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 100, "mode: periodic -> one-shot keeps counting (100 left)");
	f->now = start + 4000;
	CHECK(vlapic_timer_fired(f->vl), "mode: ... fires at the end of that period");
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 0, "mode: ... and stops at 0 (one-shot)");
	f->now = start + 4500;
	CHECK(!vlapic_timer_fired(f->vl), "mode: ... no second expiry");
	wr(f, APIC_OFF_LVT_TIMER, LVT_PERIODIC | VEC);
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 0, "mode: one-shot at 0 -> periodic: TMCCR stays 0");
	f->now = start + 9000;
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 0, "mode: ... and does not restart");
	CHECK(!vlapic_timer_fired(f->vl), "mode: ... no interrupt");
	wr(f, APIC_OFF_TIMER_ICR, 1000);
	f->now += 100;
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_TIMER_CCR), 900, "mode: a TMICT write starts it again");
	fx_free(f);
}

/* An unmasked LVT error entry raises its vector on an error (SDM 10.5.3). */
static void test_error_interrupt(void)
{
	struct fx *f = fx_new();
	wr(f, APIC_OFF_LVT_ERROR, 0x6e);
	vlapic_set_error(f->vl, APIC_ESR_SEND_ILLEGAL_VECTOR);
	CHECK(irr_has(f, 0x6e), "lvt error: an error raises the LVT error vector");
	CHECK_EQ(vlapic_pending_intr(f->vl), 0x6e, "lvt error: it is pending for injection");
	wr(f, APIC_OFF_ESR, 0);
	CHECK_EQ(vlapic_peek(f->vl, APIC_OFF_ESR), APIC_ESR_SEND_ILLEGAL_VECTOR, "lvt error: ESR latched");
	struct fx *g = fx_new();
	wr(g, APIC_OFF_LVT_ERROR, APIC_LVT_MASKED | 0x6e);
	vlapic_set_error(g->vl, APIC_ESR_SEND_ILLEGAL_VECTOR);
	CHECK(!irr_has(g, 0x6e), "lvt error: masked, no interrupt");
	fx_free(f);
	fx_free(g);
}

int main(void)
{
	test_mode_change();
	test_error_interrupt();
	test_periodic_owed();
	test_oneshot();
	test_late_callback();
	test_periodic();
	test_tsc_deadline();
	return tap_done();
}
