/* bench_ipi.c: IPI round trip between two vCPUs (issue 6).
 *
 * The BSP (APIC ID 0) starts AP 1, then plays ping-pong with it: it sends a
 * FIXED IPI (vector VEC_PING, physical unicast) and waits, spinning with
 * IF=1, until AP 1 has taken it and sent VEC_PONG back and the BSP has taken
 * that. Both handlers only count and EOI; the AP answers from its main loop.
 * Two ways for the AP (the receiver) to wait for the next ping:
 *   wait=spin  IF=1, polling its counter with PAUSE
 *   wait=halt  STI; HLT between pings (cpu_sti_hlt_cli), so every ping has to
 *              wake a halted vCPU
 * Each figure: TSC cycles of BENCH_IPI_ROUNDS round trips after
 * BENCH_IPI_WARM untimed ones. "x2apic" on the command line runs every CPU in
 * x2APIC mode (one WRMSR per IPI instead of the xAPIC's ICR_HI write, ICR_LO
 * write and delivery-status read). "nospin" skips the wait=spin figure (for
 * profiling the halted path alone: strace -c, perf stat).
 * Prints: BENCH ipi_rtt apic=xapic|x2apic wait=spin|halt n=ROUNDS cycles=C */
#include "bench.h"

#define BENCH_IPI_ROUNDS 500
#define BENCH_IPI_WARM 20
#define VEC_PING 0x42
#define VEC_PONG 0x43

enum wait_mode { WAIT_SPIN, WAIT_HALT };

static volatile uint32_t pings; /* taken by AP 1 */
static volatile uint32_t pongs; /* taken by the BSP */
static volatile uint32_t ap_mode, ap_quit;

static void on_ping(struct isr_frame *f)
{
	pings++;
	apic_eoi();
}

static void on_pong(struct isr_frame *f)
{
	pongs++;
	apic_eoi();
}

/* AP 1: answer every ping with one pong, waiting as ap_mode says. */
static void ap_life(uint32_t id, uint32_t table)
{
	uint32_t answered = 0;

	apic_sw_enable();
	smp_report(table, id);
	for (;;) {
		if (ap_mode == WAIT_HALT) {
			cpu_cli();
			while (pings == answered && !ap_quit)
				cpu_sti_hlt_cli();
		} else {
			cpu_sti();
			while (pings == answered && !ap_quit)
				cpu_pause();
			cpu_cli();
		}
		if (ap_quit)
			return;
		answered++;
		ipi_fixed(0, APIC_DEST_PHYSICAL, VEC_PONG);
	}
}

/* One round trip; false when the pong does not come back. */
static bool round_trip(void)
{
	uint32_t want = pongs + 1;
	ipi_fixed(1, APIC_DEST_PHYSICAL, VEC_PING);
	return bench_wait_ge(&pongs, want);
}

static void measure(enum wait_mode mode, const char *apic)
{
	const char *wait = mode == WAIT_HALT ? "halt" : "spin";

	ap_mode = mode; /* the AP reads it before its next wait */
	for (uint32_t i = 0; i < BENCH_IPI_WARM; i++)
		if (!round_trip())
			guest_fail("warm-up round trip %u (%s) got no answer", i, wait);
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < BENCH_IPI_ROUNDS; i++) {
		if (!round_trip()) {
			printf("BENCH error what=ipi_rtt-%s-%s-round-%u-got-no-answer\n", apic, wait, i);
			guest_fail("round trip %u (%s) got no answer", i, wait);
		}
	}
	uint64_t dt = rdtsc() - t0;
	printf("BENCH ipi_rtt apic=%s wait=%s n=%u cycles=%llu\n", apic, wait, BENCH_IPI_ROUNDS, dt);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	bool x2 = cmdline_has_word(mb_cmdline(mbi), "x2apic");
	uint32_t n = smp_init(x2 ? SMP_X2APIC : SMP_XAPIC, mbi);
	const char *apic = x2 ? "x2apic" : "xapic";

	bench_info("bench_ipi", n);
	if (n < 2)
		guest_skip("needs 2 CPUs");
	idt_set_handler(VEC_PING, on_ping);
	idt_set_handler(VEC_PONG, on_pong);
	smp_install(SMP_VEC_A, 0, ap_life);
	smp_init_sipi_sipi(1, APIC_DEST_PHYSICAL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (!bench_wait_ge(&smp_tables[0].count, 1))
		guest_fail("AP 1 did not start");
	cpu_sti();
	if (!cmdline_has_word(mb_cmdline(mbi), "nospin"))
		measure(WAIT_SPIN, apic);
	measure(WAIT_HALT, apic);
	ap_quit = 1;
	ipi_fixed(1, APIC_DEST_PHYSICAL, VEC_PING); /* wakes it if halted */
	guest_pass();
}
