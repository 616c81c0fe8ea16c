/* smp_bcast.c: xAPIC physical broadcast (destination 0xff, no shorthand).
 *
 * Design: a physical broadcast includes the sender (SDM 10.6.2.1). A broadcast
 * INIT would therefore also INIT the BSP: QEMU/KVM then reset the BSP (it
 * restarts at the reset vector), hyve ends the VM with its "reset" status
 * (smp-spec 1.6). So INIT goes to each AP by physical unicast, and only the
 * two STARTUPs are broadcast: the BSP is running, not waiting for SIPI, so it
 * ignores them (SDM 8.4.4, 10.4.7.3; smp-spec 1.7). Every AP 1..N-1 must report
 * exactly once. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;

	printf("smp_bcast: %u CPUs; INIT unicast to each AP, then STARTUP x2 to physical 0xff (xAPIC)\n", n);
	smp_set_aps(&aps, n);
	smp_t0 = rdtsc();
	smp_init_each(&aps);
	delay_us(SMP_INIT_DELAY_US);
	ipi_startup(XAPIC_BROADCAST, APIC_DEST_PHYSICAL, SMP_VEC_A);
	delay_us(SMP_SIPI_DELAY_US);
	ipi_startup(XAPIC_BROADCAST, APIC_DEST_PHYSICAL, SMP_VEC_A);
	if (smp_check(0, &aps, "bcast"))
		guest_fail("broadcast STARTUP did not start exactly the APs");
	guest_pass();
}
