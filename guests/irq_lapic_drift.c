/* irq_lapic_drift.c: a periodic 1 kHz local APIC timer must not drift
 * (issue 4: "must not drift measurably over 10 s of guest time").
 * The BSP programs a periodic timer with a 1000 us period (divide by 1) and
 * counts ticks with `sti; hlt` until the TSC says 10 s have passed since
 * TMICT was written. hyve computes every deadline on the grid of the
 * programmed start and re-raises periods that ended while a tick was still
 * pending, so the ticks counted must be 10000 within 0.5 %; and
 * the distance of the last tick from the grid is printed (it is delivery
 * latency, not drift, so it is not asserted: the host is shared). */
#include "irq.h"

#define VEC_TIMER 0x51
#define PERIOD_US 1000
#define SECONDS 10
#define NEXPECT (SECONDS * 1000000 / PERIOD_US)

static volatile uint32_t ticks;
static volatile uint64_t last_tsc;

static void on_tick(struct isr_frame *f)
{
	last_tsc = rdtsc();
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
	uint64_t t0 = rdtsc();
	apic_write(APIC_TIMER_ICR, counts);
	uint64_t end = t0 + irq_us_to_cycles((uint64_t)SECONDS * 1000000);
	while (rdtsc() < end)
		cpu_sti_hlt_cli();
	apic_write(APIC_TIMER_ICR, 0);
	uint32_t n = ticks;
	uint64_t at_us = irq_cycles_to_us(last_tsc - t0);
	uint32_t phase;
	udiv64(at_us, PERIOD_US, &phase); /* no libgcc: 64-bit % by hand */
	uint64_t off = phase < PERIOD_US - phase ? phase : PERIOD_US - phase;
	printf("drift: %u ticks in %u s (expected %u), last tick at %llu us, %llu us off the grid\n", n,
	       SECONDS, NEXPECT, at_us, off);
	if (n * 1000ULL < NEXPECT * 995ULL || n * 1000ULL > NEXPECT * 1005ULL)
		guest_fail("%u ticks, expected %u within 0.5%%", n, NEXPECT);
	guest_pass();
}
