/* smp_x2apic_phys.c: x2APIC, physical destination, unicast: the BSP switches
 * to x2APIC mode and runs INIT-SIPI-SIPI to each AP 1..N-1 in turn with one
 * WRMSR 0x830 each (destination = 32-bit x2APIC ID in bits 63:32, SDM
 * 10.12.9). Each AP switches itself to x2APIC mode and reads its ID from MSR
 * 0x802. Exactly APs 1..N-1 must report, once each. No x2APIC: SKIP. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_X2APIC, mbi);
	struct smp_set aps;

	printf("smp_x2apic_phys: %u CPUs; INIT-SIPI-SIPI, x2APIC physical unicast, one AP at a time\n", n);
	smp_set_aps(&aps, n);
	for (uint32_t id = 1; id < n; id++)
		smp_init_sipi_sipi(id, APIC_DEST_PHYSICAL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (smp_check(0, &aps, "x2apic-phys"))
		guest_fail("APs did not start as addressed");
	guest_pass();
}
