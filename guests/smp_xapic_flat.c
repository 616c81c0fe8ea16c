/* smp_xapic_flat.c: xAPIC logical destination, flat model (DFR = 0xffffffff).
 *
 * Why the test is shaped like this: logical destinations match against the
 * LDR, and an AP's LDR is 0 after power-on and after every INIT (SDM
 * 10.4.7.3 and 10.6.2.2). A logical STARTUP can therefore never reach an AP
 * that waits for SIPI, and a logical INIT can only reach APs that are running
 * and have set their LDR. So:
 *  1. The BSP starts every AP by physical INIT-SIPI-SIPI (first life). Each AP
 *     sets DFR = flat and LDR = 1 << (ID % 8) (8 groups; several APs may share
 *     a bit, which flat mode allows: a message reaches all matching APICs),
 *     software-enables its APIC, reports, and halts with IF=1.
 *     The BSP keeps LDR = 0, so no logical destination can reach it.
 *  2. Logical FIXED IPIs: one per MDA 01, 02, ..., 80, 0f, f0, 55, aa, 00
 *     (never ff: whether an all-ones MDA is a broadcast that also reaches
 *     LDR = 0 differs between the SDM's wording, KVM and hyve). Each AP must
 *     take exactly as many as its bit is in, the BSP none.
 *  3. Logical INIT to MDA 0f and f0 (every running AP, never the BSP), then
 *     physical STARTUPs to every AP with a new vector: each AP must report
 *     once in its second life (table 1), which proves the logical INIT reset
 *     it (a STARTUP to an AP that was not INITed is ignored). */
#include "smp.h"

static uint32_t lid_of(uint32_t id) { return id ? 1u << (id % 8) : 0; }

static bool match(uint32_t id, uint32_t mda) { return xapic_logical_match(APIC_DFR_FLAT, lid_of(id) << 24, (uint8_t)mda); }

static void life_a(uint32_t id, uint32_t table)
{
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, lid_of(id) << 24);
	smp_idle_life(id, table);
}

static const uint32_t mdas[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x0f, 0xf0, 0x55, 0xaa, 0x00};

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;
	int problems;

	printf("smp_xapic_flat: %u CPUs; xAPIC logical flat: FIXED IPIs to 13 MDAs, logical INIT, physical STARTUP\n",
	       n);
	smp_counters_init();
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, 0);
	smp_install(SMP_VEC_A, 0, life_a);
	smp_install(SMP_VEC_B, 1, NULL);
	cpu_sti(); /* the BSP must be able to take a stray logical IPI to count it */

	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "physical start");
	if (problems)
		guest_fail("APs did not start");

	problems += smp_logical_fixed_test(mdas, sizeof(mdas) / sizeof(mdas[0]), n, match, "logical fixed");

	ipi_init_assert(0x0f, APIC_DEST_LOGICAL);
	ipi_init_assert(0xf0, APIC_DEST_LOGICAL);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	delay_us(SMP_SIPI_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_B);
	problems += smp_check(1, &aps, "logical INIT + physical STARTUP");
	if (problems)
		guest_fail("%d problems with logical flat addressing", problems);
	guest_pass();
}
