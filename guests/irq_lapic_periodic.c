/* irq_lapic_periodic.c: the local APIC timer in periodic mode on every vCPU
 * at once (SDM Vol. 3A 10.5.4).
 *  - Each CPU programs its own timer: divide by 16, periodic, vector 0x50,
 *    a period of PERIOD_US, and halts (IF=1) until it counted NTICKS
 *    interrupts; the handler stops the timer at the last one (TMICT = 0).
 *  - While it runs, TMCCR reads non-zero and at most TMICT; after TMICT = 0
 *    it reads 0. TDCR and the LVT read back as written.
 *  - Time, by the TSC: NTICKS periods cannot end before NTICKS * PERIOD_US
 *    after TMICT was written (a periodic timer never fires early); the
 *    shortest interval between two ticks is at most 1.5 periods (the timer
 *    does run at the programmed rate; missed periods under host load only
 *    make intervals longer). No upper bound on the total: periods missed
 *    while the host is busy collapse, as on hardware.
 *  - Exactly NTICKS counted, at most one more (a tick already pending in IRR
 *    when the handler stopped the timer), and no interrupt once stopped.
 * The BSP then checks every CPU's counts. Append "x2apic" to run in x2APIC
 * mode. Known QEMU deviation: its TCG APIC timer can run a few % fast against
 * the TSC. */
#include "irq.h"

#define VEC_TIMER 0x50
#define NTICKS 50
#define PERIOD_US 1000

static volatile uint32_t ticks[IRQ_MAX_CPUS], extra[IRQ_MAX_CPUS];
static volatile uint64_t last_tsc[IRQ_MAX_CPUS], min_gap[IRQ_MAX_CPUS];

static void on_tick(struct isr_frame *f)
{
	uint64_t now = rdtsc();
	uint32_t id = apic_id();
	if (ticks[id] < NTICKS) {
		if (ticks[id] && now - last_tsc[id] < min_gap[id])
			min_gap[id] = now - last_tsc[id];
		last_tsc[id] = now;
		if (++ticks[id] == NTICKS)
			apic_write(APIC_TIMER_ICR, 0); /* stop */
	} else {
		extra[id]++;
	}
	apic_eoi();
}

static int run(uint32_t id, uint32_t arg)
{
	uint32_t counts = apic_timer_counts(PERIOD_US, 16);
	uint32_t lvt = APIC_LVT_TIMER_PERIODIC | VEC_TIMER;

	min_gap[id] = ~0ull;
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV16);
	apic_write(APIC_LVT_TIMER, lvt);
	if (apic_read(APIC_TIMER_DCR) != APIC_TDCR_DIV16 || (apic_read(APIC_LVT_TIMER) & 0x700ff) != lvt)
		irq_problem(id, "TDCR/LVT read back %x/%x, wrote %x/%x", apic_read(APIC_TIMER_DCR),
			    apic_read(APIC_LVT_TIMER), APIC_TDCR_DIV16, lvt);
	uint64_t t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, counts);
	uint32_t ccr = apic_read(APIC_TIMER_CCR);
	if (apic_read(APIC_TIMER_ICR) != counts)
		irq_problem(id, "TMICT reads %u, wrote %u", apic_read(APIC_TIMER_ICR), counts);
	if (ccr == 0 || ccr > counts)
		irq_problem(id, "TMCCR reads %u while running (TMICT %u)", ccr, counts);
	if (irq_halt_until(&ticks[id], NTICKS, 20000000) < 0)
		irq_problem(id, "only %u of %u ticks in 20 s", ticks[id], NTICKS);
	uint64_t elapsed = irq_cycles_to_us(last_tsc[id] - t0);
	if (apic_read(APIC_TIMER_CCR) != 0)
		irq_problem(id, "TMCCR reads %u after TMICT = 0", apic_read(APIC_TIMER_CCR));
	/* A tick pending in IRR when the handler stopped the timer comes now. */
	cpu_sti();
	irq_delay_us(5 * PERIOD_US);
	cpu_cli();
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	if (extra[id] > 1)
		irq_problem(id, "%u interrupts after the timer was stopped", extra[id]);
	if (elapsed * 100 < (uint64_t)NTICKS * PERIOD_US * 99)
		irq_problem(id, "%u ticks of %u us in %llu us: too fast", NTICKS, PERIOD_US, elapsed);
	uint64_t gap = irq_cycles_to_us(min_gap[id]);
	if (gap * 2 > 3 * PERIOD_US)
		irq_problem(id, "shortest interval between ticks %llu us (period %u us): too slow", gap, PERIOD_US);
	if (id == 0)
		printf("periodic on cpu 0: %u ticks in %llu us (ideal %u), shortest interval %llu us, %u extra\n",
		       ticks[id], elapsed, NTICKS * PERIOD_US, gap, extra[id]);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);

	printf("irq_lapic_periodic: %u CPUs (%s), %u ticks of %u us each, APIC bus %u kHz, TSC %u kHz\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC", NTICKS, PERIOD_US, apic_bus_khz(), irq_tsc_khz());
	idt_set_handler(VEC_TIMER, on_tick);
	irq_on_all(run, 0);
	uint32_t total = 0;
	for (uint32_t id = 0; id < n; id++)
		total += ticks[id];
	printf("periodic: %u ticks on %u CPUs, %u expected\n", total, n, n * NTICKS);
	if (total != n * NTICKS)
		irq_problem(0, "%u ticks counted, %u expected", total, n * NTICKS);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
