/* smp_allexcl_x2.c: x2APIC variant of smp_allexcl: INIT, STARTUP, STARTUP with
 * shorthand ALL-EXCLUDING-SELF through WRMSR 0x830. Every AP 1..N-1 must
 * report once. No x2APIC: SKIP. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_X2APIC, mbi);
	struct smp_set aps;

	printf("smp_allexcl_x2: %u CPUs; INIT-SIPI-SIPI to all-excluding-self, x2APIC\n", n);
	smp_set_aps(&aps, n);
	smp_init_sipi_sipi(0, APIC_SH_ALL_EXCL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (smp_check(0, &aps, "allexcl-x2"))
		guest_fail("all-excluding-self start-up did not start exactly the APs");
	guest_pass();
}
