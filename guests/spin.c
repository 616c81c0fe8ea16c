/* spin.c: runs forever without halting (a PAUSE loop), so that only hyve's
 * --timeout can end it. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	printf("spin: spinning forever\n");
	for (;;)
		cpu_pause();
}
