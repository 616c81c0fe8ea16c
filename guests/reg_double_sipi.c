/* reg_double_sipi.c: regression (smp-spec 1.5, 1.7, section 4): STARTUPs that
 * must have no effect. Each step's STARTUPs use their own vector, so each
 * reports into its own table: A (vector 0x10), B (0x11), C (0x12), D (0x13),
 * E (0x14).
 *  1. STARTUP(B) to every AP that never got an INIT: nothing may start (hyve's
 *     rule, as in bhyve, and KVM's in-kernel APIC, where APs begin
 *     "uninitialized"). B must stay empty. Under QEMU with SeaBIOS the APs sit
 *     in the BIOS's halt loop and ignore it too; with -bios qboot (no AP
 *     start-up in firmware) QEMU's TCG APs are waiting for SIPI and start.
 *  2. MPS-style start: INIT assert, INIT de-assert, delay, STARTUP(A) to every
 *     AP; once all reported in A, STARTUP(D) twice to each (a second SIPI, and
 *     a STARTUP without INIT to an AP that is already running or halted).
 *     A: every AP once; D: empty.
 *  3. INIT level de-assert alone to every AP, then STARTUP(E): the de-assert
 *     is ignored (SDM 10.6.1), the APs never left A's life, E stays empty.
 *  4. INIT + STARTUP(C): every AP reports once in C (they were still alive
 *     and restartable). A still holds every AP exactly once. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	struct smp_set aps, none;
	int problems = 0;

	printf("reg_double_sipi: %u CPUs; STARTUP without INIT, second STARTUP, INIT de-assert\n", n);
	smp_install(SMP_VEC_B, 1, NULL);
	smp_install(SMP_VEC_C, 2, NULL);
	smp_install(SMP_VEC_D, 3, NULL);
	smp_install(SMP_VEC_E, 4, NULL);
	smp_set_aps(&aps, n);
	smp_set_clear(&none);

	smp_startup_each(&aps, SMP_VEC_B);
	problems += smp_check(1, &none, "1. STARTUP before any INIT");

	smp_t0 = rdtsc();
	smp_init_each(&aps);
	for (uint32_t id = 1; id < n; id++)
		ipi_init_deassert(id, APIC_DEST_PHYSICAL);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_A);
	if (smp_wait(0, n - 1) < 0)
		printf("2. timed out waiting for the first life\n");
	smp_startup_each(&aps, SMP_VEC_D);
	smp_startup_each(&aps, SMP_VEC_D);
	problems += smp_check(0, &aps, "2. INIT, de-assert, STARTUP, then 2 more STARTUPs");
	problems += smp_check(3, &none, "2. the 2 late STARTUPs");

	for (uint32_t id = 1; id < n; id++)
		ipi_init_deassert(id, APIC_DEST_PHYSICAL);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_E);
	problems += smp_check(4, &none, "3. INIT de-assert alone, STARTUP");

	smp_init_each(&aps);
	delay_us(SMP_INIT_DELAY_US);
	smp_startup_each(&aps, SMP_VEC_C);
	problems += smp_check(2, &aps, "4. INIT + STARTUP");
	if (smp_tables[0].count != n - 1) {
		printf("table A has %u reports at the end, want %u\n", smp_tables[0].count, n - 1);
		problems++;
	}
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
