/* reset.c: asks the platform to reset or power off, in the way the command
 * line names, so that the harness can check hyve's exit status for each:
 *   poweroff  16-bit write of 0x2000 (SLP_EN, SLP_TYP 0) to ACPI PM1a_CNT at
 *             0x604 (QEMU's PIIX4 PM block as SeaBIOS places it; hyve's too)
 *   cf9       Reset Control Register 0xcf9 = SYS_RST | RST_CPU (0x06)
 *   kbd       i8042 command 0xfe (pulse the CPU reset line) to port 0x64
 *   port92    port 0x92 bit 0 from 0 to 1 (fast reset)
 *   init-bsp  INIT IPI to the BSP itself (physical destination = own APIC ID;
 *             the SELF shorthand is invalid for INIT, SDM table 10-3):
 *             a platform reset in hyve (smp-spec 1.6). QEMU instead re-runs
 *             its firmware, so this one cannot be checked under QEMU.
 * If the machine is still there 100 ms later: "FAIL: still running ...". */
#include "apic.h"
#include "rt.h"

#define PM1A_CNT_PORT 0x604
#define PM1_CNT_SLP_EN 0x2000
#define RCR_PORT 0xcf9
#define I8042_CMD_PORT 0x64
#define PORT92 0x92

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);

	if (cmdline_has_word(cl, "poweroff")) {
		printf("reset: writing 0x%x to port 0x%x\n", PM1_CNT_SLP_EN, PM1A_CNT_PORT);
		outw(PM1A_CNT_PORT, PM1_CNT_SLP_EN);
	} else if (cmdline_has_word(cl, "cf9")) {
		printf("reset: writing 0x06 to port 0x%x\n", RCR_PORT);
		outb(RCR_PORT, 0x06);
	} else if (cmdline_has_word(cl, "kbd")) {
		printf("reset: writing 0xfe to port 0x%x\n", I8042_CMD_PORT);
		outb(I8042_CMD_PORT, 0xfe);
	} else if (cmdline_has_word(cl, "port92")) {
		uint8_t v = inb(PORT92) & ~1u;
		printf("reset: setting bit 0 of port 0x%x\n", PORT92);
		outb(PORT92, v);
		outb(PORT92, v | 1);
	} else if (cmdline_has_word(cl, "init-bsp")) {
		printf("reset: INIT IPI to the BSP (APIC ID %u)\n", apic_id());
		apic_send(apic_id(), APIC_DEST_PHYSICAL | APIC_DM_INIT | APIC_LEVEL_ASSERT);
	} else {
		guest_fail("say poweroff, cf9, kbd, port92 or init-bsp on the command line (got '%s')", cl);
	}
	delay_us(100000);
	guest_fail("still running 100 ms after the request");
}
