/* ap_miss.c: sends STARTUPs that must start no AP, for hyve's end-of-run
 * report of why each vCPU never ran (smp-spec section 5):
 *  - STARTUP (vector 0x10) to vCPU 2 by physical unicast, with no INIT ever:
 *    dropped (the AP is still in its power-on state, smp-spec 1.7);
 *  - STARTUP (vector 0x10) to logical flat destination 0x02: every AP's LDR
 *    is still 0, so it reaches no vCPU;
 *  - vCPUs 1 and 3 never get an INIT at all.
 * Nothing is INITed, so hyve allocates no AP. After a 50 ms window the guest
 * prints "arrivals N" (reports in the AP table) and PASSes when N is 0. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);

	printf("ap_miss: %u CPUs; STARTUP without INIT to vCPU 2, STARTUP to logical 0x02\n", n);
	ipi_startup(2, APIC_DEST_PHYSICAL, SMP_VEC_A);
	ipi_startup(0x02, APIC_DEST_LOGICAL, SMP_VEC_A);
	delay_us(SMP_LATE_WINDOW_US);
	printf("arrivals %u\n", smp_tables[0].count);
	if (smp_tables[0].count)
		guest_fail("an AP started without INIT");
	guest_pass();
}
