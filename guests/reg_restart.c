/* reg_restart.c: regression (smp-spec 1.4, 1.7, section 4): INIT to an AP that
 * runs, then STARTUP with a new vector: it restarts there, exactly once.
 *  1. INIT-SIPI-SIPI (physical unicast) to every AP, first life (vector 0x10,
 *     table A). AP 1 reports and then keeps RUNNING (a PAUSE loop bounded by
 *     ~2^33 TSC cycles) so that the INIT has to interrupt a running vCPU; the
 *     other APs report and halt (cli; hlt).
 *  2. INIT to every AP (unicast), then STARTUP x2 with vector 0x11 (second
 *     life, table B). Every AP must report in B exactly once, and nobody may
 *     report in A again. */
#include "smp.h"

#define SPIN_CYCLES (1ull << 33)

static volatile uint32_t spinning, spin_timed_out;

static void life_a(uint32_t id, uint32_t table)
{
	smp_report(table, id);
	if (id != 1)
		return;
	spinning = 1;
	uint64_t end = rdtsc() + SPIN_CYCLES;
	while (rdtsc() < end)
		cpu_pause();
	spin_timed_out = 1;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	struct smp_set aps;
	int problems;

	printf("reg_restart: %u CPUs; INIT to running (AP 1) and halted APs, then STARTUP at a new vector\n", n);
	smp_install(SMP_VEC_A, 0, life_a);
	smp_install(SMP_VEC_B, 1, NULL);
	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "first life");
	if (n >= 2 && smp_wait_value(&spinning, 1) < 0) {
		printf("AP 1 never started spinning\n");
		problems++;
	}

	smp_init_each(&aps);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	delay_us(SMP_SIPI_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	problems += smp_check(1, &aps, "second life");
	if (smp_tables[0].count != n - 1) {
		printf("first life: %u reports now, %u before the restart\n", smp_tables[0].count, n - 1);
		problems++;
	}
	if (spin_timed_out)
		printf("warning: AP 1 stopped spinning (timeout) before the INIT reached it\n");
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
