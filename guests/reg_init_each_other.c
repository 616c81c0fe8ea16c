/* reg_init_each_other.c: regression (smp-spec 1.8, section 4): two vCPUs that
 * send INIT to each other at the same moment must not deadlock the VM.
 * Design (needs N >= 3; with fewer the guest only starts its APs):
 *  1. Every AP starts (first life, table A), software-enables its APIC,
 *     reports and halts with IF=1 (no spinning: APs share two host cores).
 *     APs pair up: (1,2), (3,4), ...; an odd last AP has no partner.
 *  2. The BSP sets `go` and wakes all APs at once with one FIXED IPI to
 *     ALL-EXCLUDING-SELF. Each paired AP immediately sends INIT to its
 *     partner. Which of the two INITs lands is a race: at least one must
 *     (the first ICR write happens while both run), maybe both.
 *  3. Once every pair has started sending, the BSP waits 50 ms and sends
 *     STARTUP (no INIT) with vector B to every AP not yet in table B, in
 *     rounds 10 ms apart until every pair has an AP in B (or a timeout):
 *     exactly the APs that were INITed by their partner restart and report in
 *     B (the others are still running or halted and drop it). Each pair needs
 *     >= 1 of its two in B, each AP at most once; the odd AP must not be
 *     there.
 *  4. INIT + STARTUP(C) to every AP: all must report in table C exactly once,
 *     so neither vCPU of a pair was lost. */
#include "smp.h"

/* Time between STARTUP rounds of step 3. */
#define STARTUP_ROUND_US 10000
/* Print one line per pair up to this many pairs. */
#define PAIR_LINES 8

static volatile uint32_t go;
static volatile uint32_t sending[SMP_MAX_CPUS];
static uint32_t ncpus;

static uint32_t partner(uint32_t id)
{
	uint32_t p = (id & 1) ? id + 1 : id - 1;
	return p < ncpus ? p : 0; /* 0: no partner */
}

static void life_a(uint32_t id, uint32_t table)
{
	apic_sw_enable();
	smp_report(table, id);
	smp_idle_until(&go);
	uint32_t p = partner(id);
	if (p) {
		sending[id] = 1;
		ipi_init_assert(p, APIC_DEST_PHYSICAL);
	}
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	struct smp_set aps;
	int problems;

	ncpus = n;
	printf("reg_init_each_other: %u CPUs; pairs of APs send INIT to each other at once\n", n);
	smp_counters_init();
	smp_install(SMP_VEC_A, 0, life_a);
	smp_install(SMP_VEC_B, 1, NULL);
	smp_install(SMP_VEC_C, 2, NULL);
	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "first life");
	if (n < 3) {
		printf("fewer than 3 CPUs: no pair of APs, nothing more to check\n");
		if (problems)
			guest_fail("%d problems", problems);
		guest_pass();
	}
	if (problems)
		guest_fail("APs did not start");

	go = 1;
	ipi_fixed(0, APIC_SH_ALL_EXCL, SMP_VEC_KICK);
	for (uint32_t a = 1; a + 1 < n; a += 2) {
		uint64_t start = rdtsc();
		while (!sending[a] && !sending[a + 1] && rdtsc() - start < SMP_TIMEOUT_PROGRESS * smp_timeout_scale())
			cpu_pause();
		if (!sending[a] && !sending[a + 1]) {
			printf("pair (%u,%u): neither AP woke up to send INIT\n", a, a + 1);
			problems++;
		}
	}
	delay_us(SMP_LATE_WINDOW_US);

	/* STARTUP rounds until every pair has an AP back: an INIT can land after
	 * a round (its sender was descheduled between flag and ICR write), and a
	 * STARTUP to an AP that was not INITed is simply dropped, so repeating is
	 * harmless. */
	struct smp_table *b = &smp_tables[1];
	uint64_t start = rdtsc();
	for (;;) {
		for (uint32_t id = 1; id < n; id++)
			if (!b->seen[id])
				ipi_startup(id, APIC_DEST_PHYSICAL, SMP_VEC_B);
		delay_us(STARTUP_ROUND_US);
		uint32_t missing = 0;
		for (uint32_t a = 1; a + 1 < n; a += 2)
			missing += !b->seen[a] && !b->seen[a + 1];
		if (!missing || rdtsc() - start > SMP_TIMEOUT_PROGRESS * smp_timeout_scale())
			break;
	}
	delay_us(SMP_LATE_WINDOW_US);
	uint32_t both = 0, one = 0;
	for (uint32_t a = 1; a + 1 < n; a += 2) {
		uint32_t sa = b->seen[a], sb = b->seen[a + 1];
		if (a / 2 < PAIR_LINES)
			printf("pair (%u,%u): AP %u %s, AP %u %s by its partner\n", a, a + 1, a,
			       sa ? "was INITed" : "was not INITed", a + 1, sb ? "was INITed" : "was not INITed");
		if (sa > 1 || sb > 1 || (!sa && !sb)) {
			printf("pair (%u,%u): wrong second-life reports: %u and %u\n", a, a + 1, sa, sb);
			problems++;
		}
		both += sa && sb;
		one += !sa != !sb;
	}
	if ((n - 1) % 2 && b->seen[n - 1]) {
		printf("AP %u had no partner but restarted without INIT\n", n - 1);
		problems++;
	}
	printf("pairs: %u with both APs INITed, %u with one\n", both, one);

	smp_init_each(&aps);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_C);
	delay_us(SMP_SIPI_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_C);
	problems += smp_check(2, &aps, "third life");
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
