/* fwcfg.c: reads QEMU's fw_cfg through the legacy I/O ports: signature, ID,
 * CPU counts, RAM size, and the file directory. PASS if the signature is
 * "QEMU" and the CPU count is not 0. */
#include "rt.h"

void kmain(uint32_t magic, uint32_t mbi)
{
	char sig[5] = {0};

	fwcfg_select(FW_CFG_SIGNATURE);
	fwcfg_read(sig, 4);
	printf("fw_cfg: signature '%s'\n", sig);
	if (memcmp(sig, "QEMU", 4) != 0)
		guest_fail("fw_cfg signature is not QEMU");

	uint32_t id = fwcfg_read_u32(FW_CFG_ID);
	uint32_t cpus = fwcfg_read_u16(FW_CFG_NB_CPUS);
	uint32_t max = fwcfg_read_u16(FW_CFG_MAX_CPUS);
	uint64_t ram = fwcfg_read_u64(FW_CFG_RAM_SIZE);
	printf("fw_cfg: id=%x cpus=%u max_cpus=%u ram=%u MiB\n", id, cpus, max, (uint32_t)(ram >> 20));

	uint32_t count;
	fwcfg_select(FW_CFG_FILE_DIR);
	fwcfg_read(&count, 4);
	count = be32(count);
	printf("fw_cfg: %u files\n", count);
	for (uint32_t i = 0; i < count && i < 64; i++) {
		struct fw_cfg_file f;
		fwcfg_read(&f, sizeof(f));
		f.name[sizeof(f.name) - 1] = '\0';
		printf("  %04x %8u %s\n", be16(f.select), be32(f.size), f.name);
	}
	if (!cpus)
		guest_fail("fw_cfg reports 0 CPUs");
	guest_pass();
}
