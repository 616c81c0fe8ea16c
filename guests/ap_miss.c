/* ap_miss.c: a guest whose AP start-up goes wrong in ways hyve must explain
 * (smp-spec 5). With N >= 3 CPUs:
 *  - AP 1 gets INIT + STARTUP by logical flat destination 0x02, but no APIC
 *    has set its LDR (it is 0 after reset), so nothing matches: AP 1 never
 *    gets INIT;
 *  - AP 2 gets a STARTUP with no INIT before it: dropped.
 * The guest then exits PASS; the test reads hyve's never-ran report. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	if (n < 3)
		guest_skip("needs 3 CPUs");
	smp_install(SMP_VEC_A, 0, smp_idle_life);
	/* Flat model with LDR 0 everywhere: destination 0x02 reaches nobody. */
	ipi_init_assert(0x02, APIC_DEST_LOGICAL);
	delay_us(SMP_INIT_DELAY_US);
	ipi_startup(0x02, APIC_DEST_LOGICAL, SMP_VEC_A);
	/* STARTUP to AP 2 without INIT. */
	ipi_startup(2, APIC_DEST_PHYSICAL, SMP_VEC_A);
	delay_us(SMP_LATE_WINDOW_US);
	printf("ap_miss: arrivals %u (want 0)\n", smp_tables[0].count);
	if (smp_tables[0].count != 0)
		guest_fail("an AP started");
	guest_pass();
}
