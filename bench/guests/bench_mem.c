/* bench_mem.c: the memory benchmark's guest (issue 6): starts the first
 * run=K CPUs of the machine (the BSP and APs 1..K-1; all of them without
 * run=) with INIT-STARTUP-STARTUP, prints
 *   BENCH mem_ready cpus=N running=K
 * and then idles for good, the BSP halted with IF=1 (cli; hlt on every vCPU
 * would end hyve with status 12) and the APs parked. bench/run reads the
 * VMM's resident set size when the line appears, then kills the VMM. */
#include "bench.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	uint32_t run = n;
	char val[16];

	if (cmdline_get(mb_cmdline(mbi), "run", val, sizeof(val)) == 0 && parse_first_number(val, &run) == 0) {
		if (run < 1)
			run = 1;
		if (run > n)
			run = n;
	}
	bench_info("bench_mem", n);
	if (run > 1) {
		bench_boot_aps(run);
		if (!bench_wait_ge(&smp_tables[0].count, run - 1))
			guest_fail("only %u of %u APs checked in", smp_tables[0].count, run - 1);
	}
	printf("BENCH mem_ready cpus=%u running=%u\n", n, run);
	for (;;)
		cpu_sti_hlt_cli();
}
