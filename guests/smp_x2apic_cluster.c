/* smp_x2apic_cluster.c: x2APIC logical destination (cluster only; SDM
 * 10.12.10). The LDR is read-only and derived from the x2APIC ID:
 * LDR = (ID >> 4) << 16 | 1 << (ID & 0xf); a destination is cluster << 16 |
 * 16 member bits.
 *  1. The BSP (x2APIC mode) checks its own LDR (ID 0 -> 0x00000001) and that
 *     WRMSR to the LDR raises #GP (read-only register, SDM 10.12.1.2).
 *  2. Physical INIT-SIPI-SIPI to every AP; each switches to x2APIC mode,
 *     checks its LDR against the formula, software-enables its APIC, reports,
 *     and halts with IF=1.
 *  3. Logical FIXED IPIs to every cluster in use with masks ffff and 5555
 *     (bit 0 of cluster 0, the BSP, always left out): exact counts.
 *  4. Logical INIT, then logical STARTUP x2 to the same clusters: an x2APIC
 *     keeps its mode and its derived LDR across INIT (unlike xAPIC, whose LDR
 *     INIT clears), so here a logical STARTUP does reach APs waiting for SIPI.
 *     Every AP must report once in its second life (table 1).
 * Never the broadcast 0xffffffff or a mask with the BSP's bit. No x2APIC: SKIP. */
#include "smp.h"

static volatile uint32_t ldr_bad, ldr_bad_id, ldr_bad_val;

static bool match(uint32_t id, uint32_t dest) { return x2apic_logical_match(x2apic_ldr_of(id), dest); }

static void life_a(uint32_t id, uint32_t table)
{
	uint32_t ldr = (uint32_t)rdmsr(MSR_X2APIC_LDR);
	if (ldr != x2apic_ldr_of(id)) {
		ldr_bad_id = id;
		ldr_bad_val = ldr;
		atomic_inc(&ldr_bad);
	}
	smp_idle_life(id, table);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_X2APIC, mbi);
	uint32_t clusters = (n - 1) / 16 + 1;
	uint32_t dests[2 * (SMP_MAX_CPUS / 16)], nd = 0;
	struct smp_set aps;
	int problems = 0;

	printf("smp_x2apic_cluster: %u CPUs; x2APIC logical: %u clusters, FIXED IPIs, logical INIT + STARTUP\n", n,
	       clusters);
	uint32_t ldr = (uint32_t)rdmsr(MSR_X2APIC_LDR);
	if (ldr != x2apic_ldr_of(0)) {
		printf("BSP LDR is %08x, expected %08x\n", ldr, x2apic_ldr_of(0));
		problems++;
	}
	rt_expect_fault(13, 2); /* WRMSR is 2 bytes */
	wrmsr(MSR_X2APIC_LDR, 0x00010002);
	if (rt_fault_count != 1 || (uint32_t)rdmsr(MSR_X2APIC_LDR) != ldr) {
		printf("WRMSR to the read-only x2APIC LDR did not raise #GP (or changed it)\n");
		problems++;
	}
	rt_expect_fault_cancel();

	smp_counters_init();
	smp_install(SMP_VEC_A, 0, life_a);
	smp_install(SMP_VEC_B, 1, NULL);
	cpu_sti();
	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems += smp_check(0, &aps, "physical start");
	if (ldr_bad) {
		printf("%u APs read a wrong LDR (APIC ID %u: %08x)\n", ldr_bad, ldr_bad_id, ldr_bad_val);
		problems++;
	}
	if (problems)
		guest_fail("%d problems before the logical tests", problems);

	for (uint32_t c = 0; c < clusters && n > 1; c++) {
		uint32_t not_bsp = c == 0 ? 0xfffe : 0xffff;
		dests[nd++] = c << 16 | (0xffff & not_bsp);
		dests[nd++] = c << 16 | (0x5555 & not_bsp);
	}
	problems += smp_logical_fixed_test(dests, nd, n, match, "logical fixed");

	for (uint32_t i = 0; i < nd; i += 2)
		ipi_init_assert(dests[i], APIC_DEST_LOGICAL);
	delay_us(SMP_INIT_DELAY_US);
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < nd; i += 2)
			ipi_startup(dests[i], APIC_DEST_LOGICAL, SMP_VEC_B);
		delay_us(SMP_SIPI_DELAY_US);
	}
	problems += smp_check(1, &aps, "logical INIT + logical STARTUP");
	if (problems)
		guest_fail("%d problems with x2APIC logical addressing", problems);
	guest_pass();
}
