/* fuzz_loaders.c: the kernel loaders and firmware-table builders on
 * arbitrary files: the first input byte picks the guest RAM size and the
 * vCPU count, the rest is the image. Each run: ACPI and MP tables for that
 * many vCPUs, the Multiboot loader (as hyve tries it first), then the Linux
 * probe and loader (bzImage or PVH) and the boot CPU state. Seeded with the
 * real images the project builds (make fuzz). */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "loaders/acpi.h"
#include "loaders/linux.h"
#include "loaders/mptable.h"
#include "loaders/multiboot.h"

#define RAM (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *host;
	if (!host && !(host = malloc(RAM)))
		return 0;
	struct fz f = {data, size};
	uint8_t sel = fz_u8(&f);
	uint64_t ram = (16ull << 20) + (uint64_t)(sel & 3) * (16ull << 20);
	unsigned ncpus = 1 + (sel >> 2) * 33; /* 1 .. 2080: past ACPI_MAX_CPUS too */
	struct guest_mem m;
	gmem_layout(&m, host, ram);
	char err[256];
	struct acpi_result ar;
	struct mptable_result mr;
	uint64_t rsdp = acpi_build(&m, ncpus, &ar, err, sizeof(err)) == 0 ? ar.rsdp : 0;
	(void)mptable_build(&m, ncpus, &mr, err, sizeof(err));

	struct mb_module mod = {.data = f.p, .size = f.n < 4096 ? f.n : 4096, .cmdline = "mod arg"};
	struct mb_load_params mp = {.image = f.p, .image_size = f.n, .kernel_name = "k", .append = "a b",
				    .mods = &mod, .nmods = 1};
	struct mb_load_result mres;
	struct vm_boot_cpu cpu;
	if (mb_load(&m, &mp, &mres, err, sizeof(err)) == 0)
		mb_boot_cpu(&mres, &cpu);
	enum linux_image_kind k = linux_probe(f.p, f.n);
	struct linux_load_params lp = {.image = f.p, .image_size = f.n, .cmdline = "console=ttyS0",
				       .initrd = f.p, .initrd_size = f.n < 8192 ? f.n : 8192, .rsdp_addr = rsdp};
	struct linux_load_result lr;
	int r = linux_load(&m, &lp, &lr, err, sizeof(err));
	if (r == 0 && lr.kind != k)
		__builtin_trap(); /* one classifier for probe and load */
	if (r == 0)
		(void)(lr.kind == LINUX_IMAGE_BZIMAGE ? linux_build_long_mode(&m, LINUX_TABLES_ADDR, &cpu)
						      : linux_build_prot_mode(&m, LINUX_TABLES_ADDR, &cpu));
	return 0;
}
