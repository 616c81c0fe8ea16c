/* irq_lapic_mode.c: switching the LVT Timer between one-shot and periodic
 * mode does not reload the count (SDM Vol. 3A 10.5.4: "changing the mode of
 * the APIC timer (from one-shot to periodic or vice versa) ... does not
 * start the count again"), on every vCPU at once. On each CPU, timed by the
 * TSC, with the timer masked (TMCCR only) and then unmasked (interrupts):
 *  - one-shot -> periodic half-way: TMICT unchanged, TMCCR goes on from where
 *    it was (at most half of TMICT), then wraps to TMICT (periodic reload);
 *  - periodic -> one-shot half-way: TMCCR goes on from where it was, reaches
 *    0 and stays 0 (no reload);
 *  - one-shot count at 0 -> periodic: TMCCR stays 0 and no interrupt comes
 *    (the timer does not restart); a TMICT write starts it again;
 *  - unmasked one-shot -> periodic before the count ends: the interrupt of
 *    the running count comes, then periodic ones.
 * A "not reloaded" check only holds if the host did not stall the vCPU for
 * longer than the count left between the two reads (the TSC says); otherwise
 * it is skipped and counted in the summary, as in irq_lapic_oneshot.
 * The negative result: a vLAPIC that recomputes the count from the mode
 * prints "cpu N: ..." lines and FAIL. Append "x2apic" for x2APIC mode. */
#include "irq.h"

#define VEC_TIMER 0x5a
#define PERIOD_US 20000 /* the masked count: long against a 10-20 us APIC exit */
#define IRQ_US 3000     /* the unmasked count */
#define LATE_US 200000

static volatile uint32_t fired[IRQ_MAX_CPUS];
static volatile uint32_t skipped[IRQ_MAX_CPUS];

static void on_timer(struct isr_frame *f)
{
	(void)f;
	fired[apic_id()]++;
	apic_eoi();
}

static uint32_t ccr(void) { return apic_read(APIC_TIMER_CCR); }

/* Polls TMCCR until it is at most `below` (and not 0, unless zero_ok), within
 * us; returns the count seen and the TSC before that read in *t, or ~0u. */
static uint32_t poll_ccr_below(uint32_t below, bool zero_ok, uint32_t us, uint64_t *t)
{
	uint64_t end = rdtsc() + irq_us_to_cycles(us);
	while (rdtsc() < end) {
		*t = rdtsc();
		uint32_t c = ccr();
		if (c <= below && (c || zero_ok))
			return c;
	}
	return ~0u;
}

/* Counts left in c, in us (at divide 1). */
static uint64_t counts_us(uint32_t c) { return udiv64((uint64_t)c * 1000, apic_bus_khz(), NULL); }

static void masked(uint32_t id)
{
	uint32_t tmict = apic_timer_counts(PERIOD_US, 1), half = tmict / 2, c, c2;
	uint64_t t, t2;
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_ONESHOT | VEC_TIMER);

	/* one-shot -> periodic half-way; a host stall can let the whole count
	 * pass between two reads (it then reads 0): count again */
	c = ~0u;
	for (int try = 0; try < 10 && c == ~0u; try++) {
		apic_write(APIC_TIMER_ICR, tmict);
		c = poll_ccr_below(half, false, PERIOD_US + LATE_US, &t);
	}
	if (c == ~0u) {
		irq_problem(id, "one-shot: TMCCR never seen below TMICT/2 in 10 counts (reads %u)", ccr());
		return;
	}
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
	c2 = ccr();
	t2 = rdtsc();
	if (apic_read(APIC_TIMER_ICR) != tmict)
		irq_problem(id, "one-shot -> periodic: TMICT reads %u, was %u", apic_read(APIC_TIMER_ICR), tmict);
	if (irq_cycles_to_us(t2 - t) >= counts_us(c))
		skipped[id]++;
	else if (c2 > c || c2 == 0)
		irq_problem(id, "one-shot -> periodic: TMCCR %u -> %u (TMICT %u): the count was reloaded", c, c2,
			    tmict);
	/* periodic: at 0 the count reloads from TMICT */
	uint64_t end = rdtsc() + irq_us_to_cycles(2 * PERIOD_US + LATE_US);
	bool wrapped = false;
	while (!wrapped && rdtsc() < end)
		wrapped = ccr() > half;
	if (!wrapped) {
		irq_problem(id, "periodic: TMCCR did not wrap to TMICT (reads %u)", ccr());
		return;
	}

	/* periodic -> one-shot half-way */
	if ((c = poll_ccr_below(half, false, PERIOD_US + LATE_US, &t)) == ~0u) {
		irq_problem(id, "periodic: TMCCR never went below TMICT/2 again (reads %u)", ccr());
		return;
	}
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	c2 = ccr();
	t2 = rdtsc();
	if (irq_cycles_to_us(t2 - t) >= counts_us(c))
		skipped[id]++;
	else if (c2 > c || c2 == 0)
		irq_problem(id, "periodic -> one-shot: TMCCR %u -> %u (TMICT %u): the count was %s", c, c2, tmict,
			    c2 ? "reloaded" : "lost");
	if (poll_ccr_below(0, true, PERIOD_US + LATE_US, &t) == ~0u) {
		irq_problem(id, "periodic -> one-shot: TMCCR never reached 0 (reads %u)", ccr());
		return;
	}
	irq_delay_us(PERIOD_US);
	if ((c = ccr()) != 0)
		irq_problem(id, "periodic -> one-shot: TMCCR reads %u after reaching 0: reloaded", c);

	/* one-shot at 0 -> periodic: stays 0 */
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
	if ((c = ccr()) != 0)
		irq_problem(id, "one-shot at 0 -> periodic: TMCCR reads %u: the timer restarted", c);
	irq_delay_us(PERIOD_US + PERIOD_US / 2);
	if ((c = ccr()) != 0)
		irq_problem(id, "one-shot at 0 -> periodic: TMCCR reads %u a period later", c);
	apic_write(APIC_TIMER_ICR, tmict);
	if ((c = ccr()) == 0 || c > tmict)
		irq_problem(id, "periodic: TMICT write: TMCCR reads %u", c);
	apic_write(APIC_TIMER_ICR, 0);
}

static void unmasked(uint32_t id)
{
	uint32_t cnt = apic_timer_counts(IRQ_US, 1), before = fired[id];
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	apic_write(APIC_TIMER_ICR, cnt);
	if (irq_halt_until(&fired[id], before + 1, 2000000)) {
		irq_problem(id, "one-shot: no interrupt within 2 s");
		return;
	}
	/* one-shot at 0 -> periodic: no interrupt, TMCCR 0 */
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
	cpu_sti();
	irq_delay_us(4 * IRQ_US);
	cpu_cli();
	if (fired[id] != before + 1 || ccr() != 0)
		irq_problem(id, "one-shot at 0 -> periodic: %u interrupts, TMCCR %u: the timer restarted",
			    fired[id] - before - 1, ccr());
	/* one-shot -> periodic while counting: the running count ends, then
	 * periods. If the host stalled past the count before the switch, the
	 * one-shot ended in one-shot mode and nothing more may come: skipped. */
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	uint64_t t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, cnt);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
	if (irq_cycles_to_us(rdtsc() - t0) >= IRQ_US) {
		skipped[id]++;
	} else {
		cpu_sti();
		if (irq_spin_until(&fired[id], before + 4, 2000000))
			irq_problem(id, "one-shot -> periodic while counting: %u of 3 interrupts within 2 s",
				    fired[id] - before - 1);
		cpu_cli();
	}
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	apic_write(APIC_TIMER_ICR, 0);
	cpu_sti();
	irq_delay_us(500); /* a tick that was already pending */
	cpu_cli();
	fired[id] = before + 4;
}

static int run(uint32_t id, uint32_t arg)
{
	(void)arg;
	masked(id);
	unmasked(id);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);
	printf("irq_lapic_mode: %u CPUs (%s), count of %u us, APIC bus %u kHz\n", n, apic_x2mode ? "x2APIC" : "xAPIC",
	       PERIOD_US, apic_bus_khz());
	idt_set_handler(VEC_TIMER, on_timer);
	irq_on_all(run, 0);
	uint32_t nskip = 0;
	for (uint32_t id = 0; id < n; id++)
		nskip += skipped[id];
	printf("mode: one-shot <-> periodic keeps the count, 0 stays 0, periodic reloads: tested on %u CPUs\n", n);
	if (nskip)
		printf("%u not-reloaded checks skipped: the host stalled the vCPU past the count\n", nskip);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
