/* irq_lapic_oneshot.c: local APIC timer one-shot and TSC-deadline modes on
 * every vCPU at once (SDM Vol. 3A 10.5.4, 10.5.4.1), timed by the TSC.
 * On each CPU:
 *  - one-shot at divide 1, 2, 16 and 128 (TDCR reads back): the interrupt
 *    comes no earlier than ONESHOT_US after TMICT was written and less than
 *    LATE_US after that; exactly once; TMCCR reads 0 afterwards. While it
 *    runs, TMCCR is within TMICT and counts down at bus clock / divide: two
 *    reads SAMPLE_US apart differ by what the TSC says passed between them
 *    (bounded by TSC reads on both sides of each access, 5% slack).
 *  - masked (LVT bit 16): the count still runs out (TMCCR 0) but no
 *    interrupt and no IRR bit; unmasking afterwards delivers nothing.
 *  - TMICT = 0 stops a running timer; rewriting TMICT restarts the count.
 *  - TSC-deadline (when CPUID.1:ECX[24]): IA32_TSC_DEADLINE reads back what
 *    was written until it fires, the interrupt comes at a TSC >= the
 *    deadline and less than LATE_US after it, the MSR reads 0 after; TMICT
 *    writes are ignored and TMCCR reads 0 in this mode; a deadline in the
 *    past fires at once; writing 0 disarms; switching the LVT to one-shot
 *    disarms, and outside TSC-deadline mode the MSR reads 0 and writes do
 *    nothing.
 * A "disarmed: no interrupt" check only holds if the disarm reached the APIC
 * before the old deadline; when the host stalled the vCPU longer than that
 * (the TSC says so), the check is skipped and counted in the summary.
 * Known QEMU deviation: its TCG APIC timer can fire a few % early against
 * the TSC. Append "x2apic" to run in x2APIC mode. */
#include "irq.h"

#define VEC_TIMER 0x58
#define ONESHOT_US 3000
#define LATE_US 200000
#define SAMPLE_US 1000
#define QUIET_US 4000
#define ARMED_US 5000 /* a timer armed and disarmed at once */

static volatile uint32_t fired[IRQ_MAX_CPUS];
static volatile uint64_t fire_tsc[IRQ_MAX_CPUS];
static volatile uint32_t tsc_deadline_tested;

static void on_timer(struct isr_frame *f)
{
	uint64_t now = rdtsc();
	uint32_t id = apic_id();
	fire_tsc[id] = now;
	fired[id]++;
	apic_eoi();
}

/* Waits (halted, IF=1) for interrupt number `want` on this CPU. */
static bool wait_fired(uint32_t id, uint32_t want, const char *what)
{
	if (irq_halt_until(&fired[id], want, 2000000) == 0)
		return true;
	irq_problem(id, "%s: no interrupt within 2 s", what);
	return false;
}

/* IF=1 for us microseconds; no timer interrupt may come. */
static void expect_quiet(uint32_t id, uint32_t us, const char *what)
{
	uint32_t before = fired[id];
	cpu_sti();
	irq_delay_us(us);
	cpu_cli();
	if (fired[id] != before)
		irq_problem(id, "%s: %u unexpected interrupts", what, fired[id] - before);
	if (apic_irr_has(VEC_TIMER))
		irq_problem(id, "%s: vector %x pending in IRR", what, VEC_TIMER);
}

static void check_time(uint32_t id, uint64_t start, uint32_t us, const char *what)
{
	uint64_t dt = irq_cycles_to_us(fire_tsc[id] - start);
	if (fire_tsc[id] < start || dt * 100 < (uint64_t)us * 99)
		irq_problem(id, "%s: fired after %llu us, programmed %u us: early", what, dt, us);
	else if (dt > us + LATE_US)
		irq_problem(id, "%s: fired after %llu us, programmed %u us: late", what, dt, us);
}

static const struct {
	uint32_t tdcr, div;
} divs[] = {{APIC_TDCR_DIV1, 1}, {APIC_TDCR_DIV2, 2}, {APIC_TDCR_DIV16, 16}, {APIC_TDCR_DIV128, 128}};

static void oneshot(uint32_t id, uint32_t tdcr, uint32_t div)
{
	char what[32];
	snprintf(what, sizeof(what), "one-shot /%u", div);
	uint32_t cnt = apic_timer_counts(ONESHOT_US, div), before = fired[id];
	apic_write(APIC_TIMER_DCR, tdcr);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	if (apic_read(APIC_TIMER_DCR) != tdcr)
		irq_problem(id, "%s: TDCR reads %x, wrote %x", what, apic_read(APIC_TIMER_DCR), tdcr);
	cpu_cli();
	uint64_t t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, cnt);
	uint64_t ta = rdtsc();
	uint32_t c1 = apic_read(APIC_TIMER_CCR);
	uint64_t tb = rdtsc();
	irq_delay_us(SAMPLE_US);
	uint64_t tc = rdtsc();
	uint32_t c2 = apic_read(APIC_TIMER_CCR);
	uint64_t td = rdtsc();
	/* The count may only have run out at a read that came ONESHOT_US after
	 * t0 or later: c1 was read before tb, c2 before td. */
	if (c1 > cnt || (c1 == 0 && irq_cycles_to_us(tb - t0) < ONESHOT_US)) {
		irq_problem(id, "%s: TMCCR reads %u %llu us after TMICT = %u", what, c1, irq_cycles_to_us(tb - t0),
			    cnt);
	} else if (c2 == 0) {
		if (irq_cycles_to_us(td - t0) < ONESHOT_US)
			irq_problem(id, "%s: TMCCR reads 0 %llu us after TMICT = %u", what,
				    irq_cycles_to_us(td - t0), cnt);
	} else if (c1 != 0) {
		/* counts that passed between the reads, in us, against the TSC */
		uint64_t us = udiv64((uint64_t)(c1 - c2) * div * 1000, apic_bus_khz(), NULL);
		uint64_t lo = irq_cycles_to_us(tc - tb), hi = irq_cycles_to_us(td - ta);
		if (c2 >= c1 || us * 100 < lo * 95 || us * 100 > hi * 105 + 5000)
			irq_problem(id, "%s: TMCCR %u -> %u is %llu us; the TSC says %llu..%llu us", what, c1, c2,
				    us, lo, hi);
	}
	if (!wait_fired(id, before + 1, what))
		return;
	check_time(id, t0, ONESHOT_US, what);
	if (apic_read(APIC_TIMER_CCR) != 0)
		irq_problem(id, "%s: TMCCR reads %u after the interrupt", what, apic_read(APIC_TIMER_CCR));
	expect_quiet(id, ONESHOT_US, what); /* one-shot: no second interrupt */
}

static void masked(uint32_t id)
{
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	apic_write(APIC_TIMER_ICR, apic_timer_counts(1000, 1));
	expect_quiet(id, QUIET_US, "masked");
	if (apic_read(APIC_TIMER_CCR) != 0)
		irq_problem(id, "masked: TMCCR reads %u after the count ran out", apic_read(APIC_TIMER_CCR));
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	expect_quiet(id, 1000, "unmasked after expiry");
}

/* Host load can stall a vCPU between any two instructions for milliseconds:
 * a check that a disarmed timer stays quiet only holds when the disarm
 * reached the APIC before the old deadline, which the TSC read before the
 * arm and after the disarm bounds. Otherwise the sample is skipped. */
static volatile uint32_t skipped[IRQ_MAX_CPUS];

static bool in_time(uint32_t id, uint64_t t_arm, uint32_t us)
{
	if (irq_cycles_to_us(rdtsc() - t_arm) < us)
		return true;
	skipped[id]++;
	return false;
}

/* After a skipped sample: an LVT write makes a timer whose deadline passed
 * expire now (as if the host had been on time), then IF=1 takes its
 * interrupt, so the next check starts quiet; the count is set to base. */
static void settle(uint32_t id, uint32_t base)
{
	apic_write(APIC_LVT_TIMER, apic_read(APIC_LVT_TIMER));
	cpu_sti();
	irq_delay_us(500);
	cpu_cli();
	fired[id] = base;
}

static void stop_and_restart(uint32_t id)
{
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV16);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	uint32_t before = fired[id];
	uint64_t t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, apic_timer_counts(ARMED_US, 16));
	apic_write(APIC_TIMER_ICR, 0);
	if (in_time(id, t0, ARMED_US)) {
		if (apic_read(APIC_TIMER_CCR) != 0)
			irq_problem(id, "TMICT = 0: TMCCR reads %u", apic_read(APIC_TIMER_CCR));
		expect_quiet(id, 2 * ARMED_US, "TMICT = 0");
	} else {
		settle(id, before);
	}

	t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, apic_timer_counts(4 * ARMED_US, 16));
	irq_delay_us(1000);
	uint64_t t1 = rdtsc();
	apic_write(APIC_TIMER_ICR, apic_timer_counts(ONESHOT_US, 16)); /* restarts the count */
	if (!in_time(id, t0, 4 * ARMED_US)) {
		irq_delay_us(ONESHOT_US);
		settle(id, before + 1);
		return;
	}
	if (!wait_fired(id, before + 1, "rewritten TMICT"))
		return;
	check_time(id, t1, ONESHOT_US, "rewritten TMICT");
	expect_quiet(id, 4 * ARMED_US, "rewritten TMICT"); /* past the first deadline */
	fired[id] = before + 1; /* the count checked at the end */
}

static void tsc_deadline(uint32_t id)
{
	const char *what = "TSC-deadline";
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_TSCDEADLINE | VEC_TIMER);
	if (rdmsr(MSR_TSC_DEADLINE) != 0)
		irq_problem(id, "%s: MSR reads %llx before any write", what, rdmsr(MSR_TSC_DEADLINE));
	uint32_t before = fired[id];
	cpu_cli();
	uint64_t dl = rdtsc() + irq_us_to_cycles(ONESHOT_US);
	wrmsr(MSR_TSC_DEADLINE, dl);
	uint64_t rb = rdmsr(MSR_TSC_DEADLINE);
	if (rb != dl && !(rb == 0 && rdtsc() >= dl))
		irq_problem(id, "%s: MSR reads %llx, wrote %llx", what, rb, dl);
	apic_write(APIC_TIMER_ICR, 123456); /* ignored in this mode */
	if (apic_read(APIC_TIMER_ICR) != 0 || apic_read(APIC_TIMER_CCR) != 0)
		irq_problem(id, "%s: TMICT/TMCCR read %u/%u after a TMICT write", what, apic_read(APIC_TIMER_ICR),
			    apic_read(APIC_TIMER_CCR));
	if (wait_fired(id, before + 1, what)) {
		if (fire_tsc[id] < dl)
			irq_problem(id, "%s: fired %llu cycles before the deadline", what, dl - fire_tsc[id]);
		else if (irq_cycles_to_us(fire_tsc[id] - dl) > LATE_US)
			irq_problem(id, "%s: fired %llu us after the deadline", what,
				    irq_cycles_to_us(fire_tsc[id] - dl));
		if (rdmsr(MSR_TSC_DEADLINE) != 0)
			irq_problem(id, "%s: MSR reads %llx after it fired", what, rdmsr(MSR_TSC_DEADLINE));
		expect_quiet(id, QUIET_US, what);
	}

	before = fired[id];
	uint64_t t = rdtsc();
	wrmsr(MSR_TSC_DEADLINE, t - 1000); /* in the past: at once */
	if (wait_fired(id, before + 1, "TSC-deadline in the past") && irq_cycles_to_us(fire_tsc[id] - t) > LATE_US)
		irq_problem(id, "TSC-deadline in the past: fired after %llu us", irq_cycles_to_us(fire_tsc[id] - t));

	t = rdtsc();
	wrmsr(MSR_TSC_DEADLINE, t + irq_us_to_cycles(ARMED_US));
	wrmsr(MSR_TSC_DEADLINE, 0);
	if (in_time(id, t, ARMED_US))
		expect_quiet(id, 2 * ARMED_US, "TSC-deadline disarmed by 0");
	else
		settle(id, before + 1);

	t = rdtsc();
	wrmsr(MSR_TSC_DEADLINE, t + irq_us_to_cycles(ARMED_US));
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	if (in_time(id, t, ARMED_US))
		expect_quiet(id, 2 * ARMED_US, "TSC-deadline disarmed by a mode switch");
	else
		settle(id, before + 1);
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + irq_us_to_cycles(1000));
	if (rdmsr(MSR_TSC_DEADLINE) != 0)
		irq_problem(id, "one-shot mode: TSC-deadline MSR reads %llx", rdmsr(MSR_TSC_DEADLINE));
	expect_quiet(id, QUIET_US, "TSC-deadline write in one-shot mode");
	if (id == 0)
		tsc_deadline_tested = 1;
}

static int run(uint32_t id, uint32_t arg)
{
	for (uint32_t i = 0; i < sizeof(divs) / sizeof(divs[0]); i++)
		oneshot(id, divs[i].tdcr, divs[i].div);
	masked(id);
	stop_and_restart(id);
	if (cpu_has_tsc_deadline())
		tsc_deadline(id);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	apic_write(APIC_TIMER_ICR, 0);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);

	printf("irq_lapic_oneshot: %u CPUs (%s), one-shot of %u us, APIC bus %u kHz, TSC %u kHz\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC", ONESHOT_US, apic_bus_khz(), irq_tsc_khz());
	idt_set_handler(VEC_TIMER, on_timer);
	irq_on_all(run, 0);
	uint32_t total = 0;
	for (uint32_t id = 0; id < n; id++)
		total += fired[id];
	uint32_t per_cpu = 5 + (tsc_deadline_tested ? 2 : 0);
	printf("one-shot: divides 1 2 16 128, masked, stop, restart: %u interrupts on %u CPUs, %u expected\n", total,
	       n, n * per_cpu);
	printf("tsc-deadline: %s\n", tsc_deadline_tested ? "tested" : "not offered (CPUID.1:ECX[24] = 0)");
	uint32_t nskip = 0;
	for (uint32_t id = 0; id < n; id++)
		nskip += skipped[id];
	if (nskip)
		printf("%u disarm checks skipped: the host stalled the vCPU past the deadline\n", nskip);
	if (total != n * per_cpu)
		irq_problem(0, "%u timer interrupts, expected %u", total, n * per_cpu);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
