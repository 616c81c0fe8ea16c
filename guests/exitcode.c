/* exitcode.c: exits through debug-exit with the first number on the Multiboot
 * command line ("exitcode.elf 42" -> write 42 -> status 85), to test how hyve
 * turns the port write into its exit status. No number: FAIL. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	uint32_t code;

	if (parse_first_number(cl, &code) < 0)
		guest_fail("no exit code on the command line '%s'", cl);
	printf("exitcode: writing %u to port 0x%x\n", code, DEBUG_EXIT_PORT);
	guest_exit(code);
}
