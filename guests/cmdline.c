/* cmdline.c: prints what the loader passed: the Multiboot command line and
 * each module (its command line, size and first bytes). Used to test hyve's
 * --append, --initrd and --module against QEMU's -append / -initrd. */
#include "rt.h"

#define CMDLINE_SHOW_BYTES 8

void kmain(uint32_t magic, uint32_t mbi)
{
	const struct multiboot_info *mi = (const struct multiboot_info *)mbi;

	printf("cmdline: '%s'\n", mb_cmdline(mbi));
	if (!(mi->flags & MB_INFO_MODS)) {
		printf("mods: none (flags %x)\n", mi->flags);
		guest_pass();
	}
	printf("mods: %u\n", mi->mods_count);
	const struct multiboot_mod *m = (const struct multiboot_mod *)mi->mods_addr;
	for (uint32_t i = 0; i < mi->mods_count && i < 16; i++) {
		uint32_t size = m[i].mod_end - m[i].mod_start;
		const uint8_t *p = (const uint8_t *)m[i].mod_start;
		printf("module %u: '%s' at %08x size %u bytes:", i, m[i].string ? (const char *)m[i].string : "",
		       m[i].mod_start, size);
		for (uint32_t j = 0; j < size && j < CMDLINE_SHOW_BYTES; j++)
			printf(" %02x", p[j]);
		printf("\n");
		if (m[i].mod_start & 0xfff)
			guest_fail("module %u is not page-aligned (header flag 0)", i);
	}
	guest_pass();
}
