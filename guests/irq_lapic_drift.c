/* irq_lapic_drift.c: a periodic 1 kHz local APIC timer must not drift
 * (issue 4: "must not drift measurably over 10 s of guest time").
 * The BSP programs a periodic timer with a 1000 us period (divide by 1) and
 * counts ticks with `sti; hlt` until the TSC says 10 s have passed since
 * TMICT was written. hyve computes every deadline on the grid of the
 * programmed start and re-raises periods that ended while a tick was still
 * pending, so the ticks counted must be 10000 within 0.5 %; and
 * the distance of the last tick from the grid is printed (it is delivery
 * latency, not drift, so it is not asserted: the host is shared).
 * A host that stalls the vCPU or hyve's timer thread for a while (a loaded
 * machine, the nested tier's emulated L1) delays ticks without any drift:
 * the ticks owed come late, and those owed at the end of the window are not
 * counted. The guest sees such a stall as a gap of more than two periods
 * between ticks (or between the last tick and the end), and allows one
 * missing tick per period of such gaps. A timer that runs slow has no such
 * gaps (each is 1.005 periods at 0.5 %), so it still fails; one that runs
 * fast gets no allowance at all. */
#include "irq.h"

#define VEC_TIMER 0x51
#define PERIOD_US 1000
#define SECONDS 10
#define NEXPECT (SECONDS * 1000000 / PERIOD_US)

static volatile uint32_t ticks;
static volatile uint64_t last_tsc;
static volatile uint64_t stalled;  /* periods inside gaps of more than two periods */
static uint64_t period_cycles;

/* A gap of more than two periods: the host did not run us (or the timer). */
static void note_gap(uint64_t from, uint64_t to)
{
	if (to > from && to - from > 2 * period_cycles)
		stalled += udiv64(to - from, (uint32_t)period_cycles, NULL);
}

static void on_tick(struct isr_frame *f)
{
	uint64_t now = rdtsc();
	note_gap(last_tsc, now);
	last_tsc = now;
	ticks++;
	apic_eoi();
}

void kmain(uint32_t magic, uint32_t mbi)
{
	irq_smp_start(mbi, SMP_XAPIC);
	idt_set_handler(VEC_TIMER, on_tick);
	uint32_t counts = apic_timer_counts(PERIOD_US, 1);
	printf("irq_lapic_drift: periodic %u us timer for %u s (APIC bus %u kHz, TSC %u kHz)\n", PERIOD_US,
	       SECONDS, apic_bus_khz(), irq_tsc_khz());
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
	period_cycles = irq_us_to_cycles(PERIOD_US);
	uint64_t t0 = rdtsc();
	last_tsc = t0;
	apic_write(APIC_TIMER_ICR, counts);
	uint64_t end = t0 + irq_us_to_cycles((uint64_t)SECONDS * 1000000);
	while (rdtsc() < end)
		cpu_sti_hlt_cli();
	apic_write(APIC_TIMER_ICR, 0);
	note_gap(last_tsc, end);
	uint32_t n = ticks;
	uint64_t at_us = irq_cycles_to_us(last_tsc - t0);
	uint32_t phase;
	udiv64(at_us, PERIOD_US, &phase); /* no libgcc: 64-bit % by hand */
	uint64_t off = phase < PERIOD_US - phase ? phase : PERIOD_US - phase;
	printf("drift: %u ticks in %u s (expected %u), last tick at %llu us, %llu us off the grid\n", n,
	       SECONDS, NEXPECT, at_us, off);
	uint64_t allowed = stalled;
	printf("stalls: %llu periods in gaps of more than two periods (each allows one tick fewer)\n", allowed);
	if (n * 1000ULL > NEXPECT * 1005ULL)
		guest_fail("%u ticks, expected %u: more than 0.5%% too many", n, NEXPECT);
	if (n * 1000ULL + allowed * 1000ULL < NEXPECT * 995ULL)
		guest_fail("%u ticks, expected %u within 0.5%% (%llu allowed for host stalls)", n, NEXPECT, allowed);
	guest_pass();
}
