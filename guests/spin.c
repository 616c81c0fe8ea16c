/* spin.c: a runaway guest that never exits (for --timeout): it halts with
 * interrupts enabled, so it is not "halted for good", and nothing ever wakes it. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	printf("spin: waiting forever with interrupts enabled\n");
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}
