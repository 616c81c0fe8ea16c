/* smp_bcast_x2.c: x2APIC physical broadcast (destination 0xffffffff, SDM
 * 10.12.9).
 *
 * Design: (1) every AP is started by x2APIC physical unicast INIT-SIPI-SIPI and
 * switches its own APIC to x2APIC mode (first life, table 0). (2) Each AP is
 * INITed by unicast (INIT keeps x2APIC mode: SDM 10.12.5.1, smp-spec 1.4) and
 * the two STARTUPs are broadcast to 0xffffffff; every AP must come back in its
 * second life (table 1) exactly once.
 * Why the detour: the x2APIC broadcast ID is defined among APICs in x2APIC
 * mode; an AP fresh from power-on is still in xAPIC mode, and KVM, for one,
 * does not match 0xffffffff against an xAPIC-mode target. And as in smp_bcast,
 * INIT is never broadcast: a physical broadcast includes the sender, and INIT
 * to the BSP resets the machine (smp-spec 1.6); the running BSP ignores the
 * broadcast STARTUPs. No x2APIC: SKIP. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init(SMP_X2APIC, mbi);
	struct smp_set aps;
	int problems;

	printf("smp_bcast_x2: %u CPUs; x2APIC: unicast start, then INIT unicast + STARTUP x2 to 0xffffffff\n", n);
	smp_set_aps(&aps, n);
	smp_install(SMP_VEC_B, 1, NULL);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "unicast start");

	smp_init_each(&aps);
	delay_us(SMP_INIT_DELAY_US);
	ipi_startup(X2APIC_BROADCAST, APIC_DEST_PHYSICAL, SMP_VEC_B);
	delay_us(SMP_SIPI_DELAY_US);
	ipi_startup(X2APIC_BROADCAST, APIC_DEST_PHYSICAL, SMP_VEC_B);
	problems += smp_check(1, &aps, "broadcast restart");
	if (problems)
		guest_fail("broadcast STARTUP did not start exactly the APs");
	guest_pass();
}
