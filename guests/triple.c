/* triple.c: causes a triple fault: loads an IDT with limit 0, then executes
 * UD2. The #UD cannot be delivered (vector outside the IDT limit -> #GP),
 * the #GP cannot either (-> #DF), nor the #DF: shutdown (SDM Vol. 3A 6.15,
 * interrupt 8). No INT3/INT n: those fail at CPL0 on the KVM-PVM hosts. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	static const struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) empty_idt = {0, 0};

	printf("triple: loading an empty IDT and executing ud2\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt));
	guest_fail("still running after the triple fault");
}
