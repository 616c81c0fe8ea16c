/* smp_xapic_cluster.c: xAPIC logical destination, flat-cluster model (DFR =
 * 0x0fffffff; MDA and LDR[31:24] = cluster << 4 | member bits, SDM 10.6.2.2).
 *
 * Same shape as smp_xapic_flat, for the same reason (an AP's LDR is 0 until it
 * runs and after INIT, so logical messages only reach running APs that set it):
 *  1. Physical INIT-SIPI-SIPI to every AP (first life). AP k = ID - 1 sets
 *     DFR = cluster, LDR = ((k / 4) % 15) << 4 | 1 << (k % 4): clusters 0..14
 *     of 4 members; beyond 60 APs the clusters repeat, so several APs share a
 *     logical ID, which the model allows (all of them accept). Reports, halts
 *     with IF=1. The BSP also uses the cluster model (the SDM wants one model
 *     on all APICs) with LDR = 0: cluster 0, no member bit, never matched.
 *  2. Logical FIXED IPIs to every cluster in use with member masks f, 3 and 8;
 *     each AP must take exactly the predicted number, the BSP none. Cluster 15
 *     and MDA ff (broadcast) are not used: hyve and KVM treat them as
 *     broadcast (reaching LDR 0 too), QEMU's TCG APIC does not.
 *  3. Logical INIT to every cluster in use with mask f, then physical
 *     STARTUPs: every AP must report once in its second life (table 1). */
#include "smp.h"

#define CLUSTERS 15

static uint32_t lid_of(uint32_t id)
{
	if (!id)
		return 0;
	uint32_t k = id - 1;
	return ((k / 4) % CLUSTERS) << 4 | 1u << (k % 4);
}

static bool match(uint32_t id, uint32_t mda)
{
	return xapic_logical_match(APIC_DFR_CLUSTER, lid_of(id) << 24, (uint8_t)mda);
}

static void life_a(uint32_t id, uint32_t table)
{
	apic_write(APIC_DFR, APIC_DFR_CLUSTER);
	apic_write(APIC_LDR, lid_of(id) << 24);
	smp_idle_life(id, table);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;
	uint32_t dests[CLUSTERS * 3], nd = 0;
	uint32_t clusters = n > 1 ? (n - 2) / 4 + 1 : 0;
	int problems;

	if (clusters > CLUSTERS)
		clusters = CLUSTERS;
	printf("smp_xapic_cluster: %u CPUs; xAPIC logical cluster: %u clusters, FIXED IPIs, logical INIT\n", n,
	       clusters);
	smp_counters_init();
	apic_write(APIC_DFR, APIC_DFR_CLUSTER);
	apic_write(APIC_LDR, 0);
	smp_install(SMP_VEC_A, 0, life_a);
	smp_install(SMP_VEC_B, 1, NULL);
	cpu_sti();

	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "physical start");
	if (problems)
		guest_fail("APs did not start");

	for (uint32_t c = 0; c < clusters; c++) {
		dests[nd++] = c << 4 | 0xf;
		dests[nd++] = c << 4 | 0x3;
		dests[nd++] = c << 4 | 0x8;
	}
	problems += smp_logical_fixed_test(dests, nd, n, match, "logical fixed");

	for (uint32_t c = 0; c < clusters; c++)
		ipi_init_assert(c << 4 | 0xf, APIC_DEST_LOGICAL);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	delay_us(SMP_SIPI_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	problems += smp_check(1, &aps, "logical INIT + physical STARTUP");
	if (problems)
		guest_fail("%d problems with logical cluster addressing", problems);
	guest_pass();
}
