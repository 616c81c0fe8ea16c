/* reg_beyond_n.c: regression (smp-spec 1.1 and section 4): INIT + STARTUP to
 * APIC IDs outside the configured set start nothing (and, in hyve, allocate
 * nothing: the harness checks "allocated=N" in hyve's --verbose summary).
 *  1. xAPIC (when N <= 254): INIT-SIPI-SIPI to IDs N, N+1 and 254 (never
 *     0xff, the broadcast): no AP may report.
 *  2. x2APIC (when offered): the BSP switches to x2APIC and sends
 *     INIT-SIPI-SIPI to N, N+1, 0x100, 0x12345678 and 0xfffffffe (never
 *     0xffffffff, the broadcast): no AP may report.
 *  3. Then the real APs 1..N-1 are started normally (x2APIC if step 2 ran):
 *     exactly they report, once each. */
#include "smp.h"

static int send_to(const uint32_t *ids, uint32_t k, const char *what)
{
	struct smp_set none;

	smp_set_clear(&none);
	printf("%s: INIT-SIPI-SIPI to", what);
	for (uint32_t i = 0; i < k; i++)
		printf(" %x", ids[i]);
	printf("\n");
	for (uint32_t i = 0; i < k; i++)
		smp_init_sipi_sipi(ids[i], APIC_DEST_PHYSICAL, SMP_VEC_A, SMP_INIT_DELAY_US);
	return smp_check(0, &none, what);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	uint32_t ids[5], k = 0;
	struct smp_set aps;
	int problems = 0;

	printf("reg_beyond_n: %u CPUs; start-up IPIs to IDs >= N must start and allocate nothing\n", n);
	if (!apic_x2mode && n <= 254) {
		ids[k++] = n;
		if (n + 1 <= 254)
			ids[k++] = n + 1;
		if (254 > n + 1)
			ids[k++] = 254;
		problems += send_to(ids, k, "xAPIC beyond N");
	} else {
		printf("xAPIC part skipped: no xAPIC ID at or above N below 0xff\n");
	}

	if (apic_x2mode || smp_switch_to_x2apic()) {
		k = 0;
		ids[k++] = n;
		ids[k++] = n + 1;
		if (0x100 > n + 1)
			ids[k++] = 0x100;
		ids[k++] = 0x12345678;
		ids[k++] = 0xfffffffe;
		problems += send_to(ids, k, "x2APIC beyond N");
	} else {
		printf("x2APIC part skipped: CPUID has no x2APIC\n");
	}

	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems += smp_check(0, &aps, "real APs");
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
