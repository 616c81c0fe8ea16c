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
 * profiling the halted path alone: strace -c, perf stat), "nohalt" the
 * wait=halt one, "rounds=N" times N round trips instead of BENCH_IPI_ROUNDS
 * (the runner counts hyve's exits per round trip from two runs' difference).
 * Like a Linux guest, both CPUs end their interrupts through KVM's
 * paravirtual EOI when the hypervisor offers it (hyve and QEMU with KVM's
 * in-kernel LAPIC do), unless "nopveoi" is on the command line.
 * Prints: BENCH ipi_rtt apic=xapic|x2apic wait=spin|halt n=ROUNDS pveoi=0|1 cycles=C */
#include "bench.h"

#define BENCH_IPI_ROUNDS 500
#define BENCH_IPI_WARM 20
#define VEC_PING 0x42
#define VEC_PONG 0x43

enum wait_mode { WAIT_SPIN, WAIT_HALT };

static volatile uint32_t pings; /* taken by AP 1 */
static volatile uint32_t pongs; /* taken by the BSP */
static volatile uint32_t ap_mode, ap_quit;
static uint32_t rounds = BENCH_IPI_ROUNDS;
static bool pveoi;
/* PV EOI words: on_ping runs only on AP 1, on_pong only on the BSP. */
static volatile uint32_t pveoi_word[2] __attribute__((aligned(64)));

static void on_ping(struct isr_frame *f)
{
	pings++;
	if (pveoi)
		pv_eoi_end(&pveoi_word[1]);
	else
		apic_eoi();
}

static void on_pong(struct isr_frame *f)
{
	pongs++;
	if (pveoi)
		pv_eoi_end(&pveoi_word[0]);
	else
		apic_eoi();
}

/* AP 1: answer every ping with one pong, waiting as ap_mode says. */
static void ap_life(uint32_t id, uint32_t table)
{
	uint32_t answered = 0;

	apic_sw_enable();
	if (pveoi)
		pv_eoi_enable(&pveoi_word[1]);
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
	for (uint32_t i = 0; i < rounds; i++) {
		if (!round_trip()) {
			printf("BENCH error what=ipi_rtt-%s-%s-round-%u-got-no-answer\n", apic, wait, i);
			guest_fail("round trip %u (%s) got no answer", i, wait);
		}
	}
	uint64_t dt = rdtsc() - t0;
	printf("BENCH ipi_rtt apic=%s wait=%s n=%u pveoi=%u cycles=%llu\n", apic, wait, rounds, pveoi, dt);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cmd = mb_cmdline(mbi);
	bool x2 = cmdline_has_word(cmd, "x2apic");
	char val[16];
	if (cmdline_get(cmd, "rounds", val, sizeof(val)) == 0 && parse_first_number(val, &rounds) != 0)
		guest_fail("rounds=%s: not a number", val);
	pveoi = pv_eoi_offered() && !cmdline_has_word(cmd, "nopveoi");
	if (pveoi)
		pv_eoi_enable(&pveoi_word[0]);
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
	if (!cmdline_has_word(cmd, "nospin"))
		measure(WAIT_SPIN, apic);
	if (!cmdline_has_word(cmd, "nohalt"))
		measure(WAIT_HALT, apic);
	ap_quit = 1;
	ipi_fixed(1, APIC_DEST_PHYSICAL, VEC_PING); /* wakes it if halted */
	guest_pass();
}
