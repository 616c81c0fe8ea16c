/* smp_xapic_phys.c: xAPIC, physical destination, unicast: the BSP runs the
 * SDM 8.4.4.1 INIT-SIPI-SIPI sequence to each AP 1..N-1 in turn (ICR_HI =
 * ID << 24, then ICR_LO), then checks that exactly APs 1..N-1 reported, once
 * each. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;

	printf("smp_xapic_phys: %u CPUs; INIT-SIPI-SIPI, xAPIC physical unicast, one AP at a time\n", n);
	smp_set_aps(&aps, n);
	for (uint32_t id = 1; id < n; id++)
		smp_init_sipi_sipi(id, APIC_DEST_PHYSICAL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (smp_check(0, &aps, "xapic-phys"))
		guest_fail("APs did not start as addressed");
	guest_pass();
}
