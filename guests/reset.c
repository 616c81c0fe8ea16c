/* reset.c: ends the machine the way its command line says, for the exit-status
 * tests: "cf9" (reset control 0x06), "kbd" (i8042 command 0xfe), "port92"
 * (fast reset bit), "init-bsp" (INIT IPI to itself, the BSP: smp-spec 1.6),
 * "poweroff" (ACPI PM1a_CNT at 0x604: SLP_EN | SLP_TYP 0, as QEMU test
 * kernels do). A machine that survives prints "still running" and FAILs. */
#include "smp.h"

static bool has(const char *cl, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = cl; *p; p++)
		if (!strncmp(p, word, n) && (p == cl || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	if (has(cl, "cf9")) {
		printf("reset: writing 0x06 to port 0xcf9\n");
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
	} else if (has(cl, "kbd")) {
		printf("reset: i8042 command 0xfe\n");
		while (inb(0x64) & 0x02)
			cpu_pause();
		outb(0x64, 0xfe);
	} else if (has(cl, "port92")) {
		printf("reset: port 0x92 fast reset\n");
		outb(0x92, inb(0x92) | 0x01);
	} else if (has(cl, "init-bsp")) {
		printf("reset: INIT to APIC ID 0 (the BSP, itself)\n");
		apic_sw_enable();
		apic_send(0, APIC_DM_INIT | APIC_LEVEL_ASSERT | APIC_DEST_PHYSICAL | APIC_SH_NONE);
	} else if (has(cl, "poweroff")) {
		printf("poweroff: writing 0x2000 to port 0x604\n");
		outw(0x604, 0x2000);
	} else {
		guest_fail("say cf9, kbd, port92, init-bsp or poweroff");
	}
	delay_us(100000);
	guest_fail("still running");
}
