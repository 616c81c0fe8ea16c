/* unclaimed.c: accesses an I/O port no device claims (0x1234). Reads must
 * return all ones for 1, 2 and 4 bytes (what an ISA bus floats to, and what
 * QEMU returns); writes must be dropped without harm. */
#include "rt.h"

#define UNCLAIMED_PORT 0x1234

void kmain(uint32_t magic, uint32_t mbi)
{
	int bad = 0;

	uint8_t b = inb(UNCLAIMED_PORT);
	uint16_t w = inw(UNCLAIMED_PORT);
	uint32_t l = inl(UNCLAIMED_PORT);
	printf("unclaimed: port 0x%x reads %02x %04x %08x\n", UNCLAIMED_PORT, b, w, l);
	bad += b != 0xff;
	bad += w != 0xffff;
	bad += l != 0xffffffffu;

	outb(UNCLAIMED_PORT, 0x5a);
	outw(UNCLAIMED_PORT, 0x5a5a);
	outl(UNCLAIMED_PORT, 0x5a5a5a5a);
	b = inb(UNCLAIMED_PORT);
	printf("unclaimed: after writes it reads %02x\n", b);
	bad += b != 0xff;
	if (bad)
		guest_fail("unclaimed port did not read as all ones");
	guest_pass();
}
