/* smp_allexcl.c: xAPIC, destination shorthand ALL-EXCLUDING-SELF: one INIT,
 * then two STARTUPs, all with shorthand 11b, exactly the SDM 8.4.4.1 example
 * (ICR_LO = 000C4500H, 000C46xxH). Every AP 1..N-1 must report once; the BSP
 * is untouched. smp-spec section 4 wants this in both protocols. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;

	printf("smp_allexcl: %u CPUs; INIT-SIPI-SIPI to all-excluding-self, xAPIC\n", n);
	smp_set_aps(&aps, n);
	smp_init_sipi_sipi(0, APIC_SH_ALL_EXCL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (smp_check(0, &aps, "allexcl"))
		guest_fail("all-excluding-self start-up did not start exactly the APs");
	guest_pass();
}
