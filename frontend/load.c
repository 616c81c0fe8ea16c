/* load.c: guest loading: the kernel (Multiboot, Linux bzImage, PVH vmlinux)
 * and its modules or initrd, the firmware tables (ACPI, MP table) and
 * QEMU's fw_cfg items; each loader fills the boot CPU state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/machine.h"
#include "loaders/acpi.h"
#include "loaders/linux.h"
#include "loaders/memmap.h"
#include "loaders/mptable.h"
#include "loaders/multiboot.h"

/* The MCFG and the DSDT describe the PCI host bridge's ECAM window. */
_Static_assert(ACPI_ECAM_BASE == PCI_ECAM_BASE && ACPI_ECAM_BUSES == PCI_ECAM_BUSES,
	       "loaders/acpi.h and devices/pci.h disagree on the ECAM window");

#define MAX_IMAGE_SIZE (512u << 20) /* kernels and modules larger than this are refused */

extern const unsigned char default_guest_start[], default_guest_end[];

static int read_file(const char *path, const char *what, uint8_t **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		say("cannot open %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say("%s '%s' is not a regular file", what, path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > MAX_IMAGE_SIZE) {
		say("%s '%s' is too large (%lld bytes; at most %u)", what, path, (long long)st.st_size,
		    MAX_IMAGE_SIZE);
		close(fd);
		return -1;
	}
	*size = (size_t)st.st_size;
	*data = malloc(*size ? *size : 1);
	size_t got = 0;
	while (*data && got < *size) {
		ssize_t n = read(fd, *data + got, *size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!*data || got != *size) {
		say("cannot read %s '%s'", what, path);
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

/* One way to load the image: Multiboot, or a Linux boot protocol. */
struct load_try {
	const struct mb_load_params *mb;  /* Multiboot, or NULL */
	const struct linux_load_params *lx; /* Linux, or NULL */
};

static int try_load(const struct guest_mem *gm, const struct load_try *t, char *err, size_t errlen)
{
	if (t->mb) {
		struct mb_load_result res;
		return mb_load(gm, t->mb, &res, err, errlen);
	}
	struct linux_load_result lr;
	return linux_load(gm, t->lx, &lr, err, errlen);
}

/* The smallest --memory, in whole MiB above have, with which t loads; 0 if
 * none up to the MMIO hole does. The loaders fail with -E2BIG when more RAM
 * would help; this tries sizes on scratch memory (reserved, not committed:
 * only the pages the loader writes are touched) by bisection. */
static uint64_t min_memory(const struct load_try *t, uint64_t have)
{
	const uint64_t mib = 1ULL << 20, top = GMEM_LOWMEM_LIMIT;
	uint8_t *host = mmap(NULL, top, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED)
		return 0;
	char err[256];
	struct guest_mem gm;
	uint64_t lo = have / mib, hi = top / mib; /* lo fails; is hi enough? */
	gmem_layout(&gm, host, hi * mib);
	if (try_load(&gm, t, err, sizeof(err)) != 0) {
		munmap(host, top);
		return 0;
	}
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		gmem_layout(&gm, host, mid * mib);
		if (try_load(&gm, t, err, sizeof(err)) == 0)
			hi = mid;
		else
			lo = mid;
	}
	munmap(host, top);
	return hi * mib;
}

/* A load that failed for want of RAM says the smallest --memory that works. */
static void say_load_error(struct machine *m, const struct load_try *t, int rc, const char *what, const char *err)
{
	uint64_t need = rc == -E2BIG ? min_memory(t, vm_guest_mem(m->vm)->ram_size) : 0;
	if (need)
		say("%s: %s; it needs --memory %lluM or more", what, err, (unsigned long long)(need >> 20));
	else
		say("%s: %s", what, err);
}

/* A Linux kernel: bzImage through the 64-bit boot protocol or an ELF vmlinux
 * through PVH (Documentation/arch/x86/boot.rst). One --initrd file. */
static int load_linux(struct machine *m, const uint8_t *image, size_t size, const uint8_t *initrd,
		      size_t initrd_size, uint64_t rsdp, struct vm_boot_cpu *cpu, const char **kind)
{
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct linux_load_params lp = {.image = image, .image_size = size, .cmdline = m->opt->append,
				       .initrd = initrd, .initrd_size = initrd_size, .rsdp_addr = rsdp};
	struct linux_load_result lr;
	char err[256];
	int rc = linux_load(gm, &lp, &lr, err, sizeof(err));
	if (rc < 0) {
		say_load_error(m, &(struct load_try){.lx = &lp}, rc, m->opt->kernel, err);
		return -1;
	}
	int r = lr.kind == LINUX_IMAGE_BZIMAGE ? linux_build_long_mode(gm, LINUX_TABLES_ADDR, cpu)
					       : linux_build_prot_mode(gm, LINUX_TABLES_ADDR, cpu);
	if (r < 0) {
		say("%s: cannot write the boot page tables: %s", m->opt->kernel, strerror(-r));
		return -1;
	}
	cpu->rip = lr.entry;
	cpu->rsi = lr.rsi;
	cpu->rbx = lr.rbx;
	*kind = lr.kind == LINUX_IMAGE_BZIMAGE ? "Linux bzImage (64-bit entry)" : "Linux vmlinux (PVH entry)";
	return 0;
}

/* Writes the firmware tables every guest may look for: ACPI for all vCPUs
 * and, while every APIC ID fits in 8 bits, an MP table (for acpi=off). */
static int write_firmware_tables(struct machine *m, uint64_t *rsdp)
{
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct acpi_result acpi;
	struct mptable_result mp;
	char err[256];
	if (acpi_build(gm, vm_ncpus(m->vm), &acpi, err, sizeof(err)) < 0) {
		say("ACPI tables: %s", err);
		return -1;
	}
	*rsdp = acpi.rsdp;
	int r = mptable_build(gm, vm_ncpus(m->vm), &mp, err, sizeof(err));
	if (r < 0 && r != -ERANGE) {
		say("MP table: %s", err);
		return -1;
	}
	return 0;
}

int load_guest(struct machine *m, struct vm_boot_cpu *cpu, const char **kind)
{
	struct options *o = m->opt;
	uint8_t *image = NULL;
	size_t image_size;
	struct mb_module mods[HYVE_MAX_MODULES];
	uint8_t *moddata[HYVE_MAX_MODULES] = {0};
	char *modpath[HYVE_MAX_MODULES] = {0};
	int r = -1;
	uint64_t rsdp;

	if (write_firmware_tables(m, &rsdp) < 0)
		return -1;
	if (o->kernel) {
		if (read_file(o->kernel, "kernel", &image, &image_size) < 0)
			return -1;
	} else {
		image_size = (size_t)(default_guest_end - default_guest_start);
	}
	for (unsigned i = 0; i < o->nmodules; i++) {
		/* "FILE ARGS": the file name ends at the first space (QEMU). */
		size_t n = strcspn(o->modules[i], " ");
		modpath[i] = strndup(o->modules[i], n);
		if (!modpath[i] || read_file(modpath[i], "module", &moddata[i], &mods[i].size) < 0)
			goto out;
		mods[i].data = moddata[i];
		mods[i].cmdline = o->modules[i];
	}
	const uint8_t *img = o->kernel ? image : default_guest_start;
	struct mb_load_params p = {
		.image = img,
		.image_size = image_size,
		.kernel_name = o->kernel ? o->kernel : "smpdemo",
		.append = o->append,
		.mods = mods,
		.nmods = o->nmodules,
	};
	struct mb_load_result res;
	char err[256];
	/* Multiboot first, as QEMU's -kernel does; then the Linux boot protocols. */
	int mr = mb_load(vm_guest_mem(m->vm), &p, &res, err, sizeof(err));
	if (mr == 0) {
		mb_boot_cpu(&res, cpu);
		*kind = "Multiboot";
	} else if (mr == -ENOEXEC && o->kernel && linux_probe(img, image_size) != LINUX_IMAGE_UNKNOWN) {
		if (o->nmodule_opts) {
			say("--module: a Linux kernel takes no Multiboot modules; give its initramfs with --initrd FILE");
			goto out;
		}
		if (o->nmodules > 1 || (o->nmodules == 1 && strchr(o->modules[0], ' '))) {
			say("--initrd: a Linux kernel takes one initrd file without arguments");
			goto out;
		}
		if (load_linux(m, img, image_size, o->nmodules ? moddata[0] : NULL,
			       o->nmodules ? mods[0].size : 0, rsdp, cpu, kind) < 0)
			goto out;
	} else if (mr == -ENOEXEC && o->kernel && image_size) {
		/* Neither: say why each format refused it. */
		struct linux_load_params lp = {.image = img, .image_size = image_size, .cmdline = o->append};
		struct linux_load_result lr;
		char lerr[256];
		(void)linux_load(vm_guest_mem(m->vm), &lp, &lr, lerr, sizeof(lerr));
		say("%s: not a kernel hyve can boot: Multiboot: %s; Linux (bzImage, PVH ELF): %s", o->kernel, err,
		    lerr);
		goto out;
	} else {
		say_load_error(m, &(struct load_try){.mb = &p}, mr, o->kernel ? o->kernel : "built-in guest", err);
		goto out;
	}
	r = 0;
out:
	for (unsigned i = 0; i < o->nmodules; i++) {
		free(moddata[i]);
		free(modpath[i]);
	}
	free(image);
	return r;
}

int load_fwcfg(struct machine *m)
{
	struct fwcfg *fw = &m->fw;
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = memmap_build(gm, map, MEMMAP_MAX_ENTRIES);
	if (n < 0)
		return n;
	/* etc/e820 as QEMU writes it: packed {u64 address, u64 length, u32 type}. */
	uint8_t e820[MEMMAP_MAX_ENTRIES * 20];
	for (int i = 0; i < n; i++) {
		memcpy(e820 + i * 20, &map[i].base, 8);
		memcpy(e820 + i * 20 + 8, &map[i].len, 8);
		memcpy(e820 + i * 20 + 16, &map[i].type, 4);
	}
	size_t cl = strlen(m->opt->append) + 1;
	int r;
	if ((r = fwcfg_add_u64(fw, FW_CFG_RAM_SIZE, gm->ram_size)) < 0 ||
	    (r = fwcfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)vm_ncpus(m->vm))) < 0 ||
	    (r = fwcfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)vm_ncpus(m->vm))) < 0 ||
	    (r = fwcfg_add_u32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)cl)) < 0 ||
	    (r = fwcfg_add_string(fw, FW_CFG_CMDLINE_DATA, m->opt->append)) < 0 ||
	    (r = fwcfg_add_file(fw, "etc/e820", e820, (size_t)n * 20)) < 0)
		return r;
	return 0;
}
