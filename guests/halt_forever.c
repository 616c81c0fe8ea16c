/* halt_forever.c: ends with every vCPU halted with interrupts disabled, which
 * nothing can wake but NMI/INIT: hyve must notice and end the VM with its
 * "halted" status instead of hanging (docs/exits.md, VM_SUSPEND_HALT).
 * With "ap" on the command line the BSP first starts every AP (each reports
 * and parks with cli; hlt) and prints the check line ("start: ..."). Then
 * the BSP executes cli; hlt for good. (Under QEMU this simply hangs.) */
#include "smp.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	if (cmdline_has_word(mb_cmdline(mbi), "ap")) {
		uint32_t n = smp_init_auto(mbi);
		struct smp_set aps;

		smp_set_aps(&aps, n);
		smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
		smp_check(0, &aps, "start");
	}
	printf("halt_forever: cli; hlt on the BSP\n");
	cpu_park();
}
