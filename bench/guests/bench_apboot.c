/* bench_apboot.c: AP bring-up benchmark (issue 6).
 *
 * The BSP starts every AP the machine has (fw_cfg CPU count) with the SDM's
 * INIT-STARTUP-STARTUP sequence (Vol. 3A 8.4.4.1), pipelined and physical
 * unicast (bench_boot_aps: INIT to each AP, 1 ms, STARTUP to each, 200 us,
 * STARTUP to each; the delays are fixed TSC cycle counts) and measures TSC
 * cycles from its first INIT to the check-in of the last AP (the TSC that AP
 * read in smp_report(), on its way from the trampoline).
 *
 * Prints: BENCH ap_bringup cpus=N cycles=C delay_cycles=D
 * D is the part of C the BSP spends in the sequence's own delays. */
#include "bench.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);

	bench_info("bench_apboot", n);
	if (n < 2)
		guest_skip("needs at least 2 CPUs");

	uint64_t t0 = rdtsc();
	smp_t0 = t0;
	bench_boot_aps(n);

	struct smp_table *t = &smp_tables[0];
	if (!bench_wait_ge(&t->count, n - 1)) {
		printf("BENCH error what=only-%u-of-%u-APs-checked-in\n", t->count, n - 1);
		guest_fail("only %u of %u APs checked in", t->count, n - 1);
	}
	uint64_t last = 0;
	for (uint32_t id = 1; id < n; id++) {
		if (t->seen[id] != 1)
			guest_fail("APIC ID %u checked in %u times", id, t->seen[id]);
		if (t->tsc[id] - t0 > last)
			last = t->tsc[id] - t0;
	}
	printf("BENCH ap_bringup cpus=%u cycles=%llu delay_cycles=%llu\n", n, last,
	       BENCH_INIT_DELAY_CYCLES + BENCH_SIPI_DELAY_CYCLES);
	guest_pass();
}
