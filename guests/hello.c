/* hello.c: smallest guest: greeting, CPU count from fw_cfg, the Multiboot
 * command line, then PASS through debug-exit. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	printf("Hello from hyve guest\n");
	if (fwcfg_present())
		printf("cpus=%u\n", fwcfg_read_u16(FW_CFG_NB_CPUS));
	else
		printf("cpus=? (no fw_cfg)\n");
	printf("cmdline: '%s'\n", mb_cmdline(mbi));
	guest_pass();
}
