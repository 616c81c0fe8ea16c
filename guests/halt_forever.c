/* halt_forever.c: the BSP halts with interrupts disabled and nothing can wake
 * it: hyve must end with status 12 ("halted for good") instead of hanging.
 * With "ap" on the command line an AP is started first and parks the same way,
 * so every started vCPU is halted. */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	bool with_ap = false;
	for (const char *p = cl; *p; p++)
		if (p[0] == 'a' && p[1] == 'p' && (p[2] == 0 || p[2] == ' '))
			with_ap = true;
	if (with_ap) {
		uint32_t n = smp_init_auto(mbi);
		struct smp_set aps;
		smp_set_aps(&aps, n);
		smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
		if (smp_check(0, &aps, "start"))
			guest_fail("APs did not start");
	}
	printf("halt_forever: halting with interrupts disabled\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}
