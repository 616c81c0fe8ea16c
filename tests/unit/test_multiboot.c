/* test_multiboot.c: the Multiboot v1 loader against ELF32 and a.out kludge images built in memory. */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/memmap.h"
#include "loaders/multiboot.h"
#include "tests/unit/tap.h"

#define MIB (1ULL << 20)
#define FILL 0xAA      /* guest RAM is pre-filled with this to see what the loader wrote */
#define IMG_CAP 0x40000 /* bytes of image buffer */
#define TEXT_OFF 0x1000 /* file offset of the standard image's text */

/* One guest: RAM, its layout, and the last load's outputs. */
struct fx {
	uint8_t *host;
	uint64_t ram;
	struct guest_mem m;
	struct mb_load_result r;
	char err[256];
};

struct img {
	uint8_t *b;
	size_t size;
};

struct ph {
	uint32_t type, off, vaddr, paddr, filesz, memsz, flags;
};

static void fx_init(struct fx *f, uint64_t ram)
{
	memset(f, 0, sizeof(*f));
	f->host = malloc(ram);
	if (!f->host)
		abort();
	memset(f->host, FILL, ram);
	f->ram = ram;
	gmem_layout(&f->m, f->host, ram);
}

static void fx_fini(struct fx *f)
{
	free(f->host);
	f->host = NULL;
}

static void img_init(struct img *im)
{
	im->b = calloc(1, IMG_CAP);
	if (!im->b)
		abort();
	im->size = 0;
}

/* Clears the image for the next case (same buffer). */
static void img_reset(struct img *im)
{
	memset(im->b, 0, IMG_CAP);
	im->size = 0;
}

static void put16(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v);
	put16(b + 2, v >> 16);
}

static uint32_t rd32(const struct fx *f, uint64_t gpa)
{
	uint8_t b[4] = {0};
	gmem_read(&f->m, gpa, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const struct fx *f, uint64_t gpa)
{
	return rd32(f, gpa) | (uint64_t)rd32(f, gpa + 4) << 32;
}

/* True if the NUL-terminated string want is at gpa. */
static bool str_at(const struct fx *f, uint64_t gpa, const char *want)
{
	const void *p = gmem_ptr(&f->m, gpa, strlen(want) + 1);
	return p && memcmp(p, want, strlen(want) + 1) == 0;
}

static bool all_bytes(const struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	const uint8_t *p = gmem_ptr(&f->m, gpa, len);
	if (!p)
		return false;
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Multiboot header at off: magic, flags, checksum. */
static void mbh(struct img *im, uint32_t off, uint32_t flags)
{
	put32(im->b + off, MB_HEADER_MAGIC);
	put32(im->b + off + 4, flags);
	put32(im->b + off + 8, 0u - MB_HEADER_MAGIC - flags);
	if (im->size < off + 12)
		im->size = off + 12;
}

/* a.out kludge header (flags bit 16) at off. */
static void mbh_aout(struct img *im, uint32_t off, uint32_t header_addr, uint32_t load_addr,
		     uint32_t load_end_addr, uint32_t bss_end_addr, uint32_t entry_addr)
{
	mbh(im, off, 1u << 16 | 0x3);
	put32(im->b + off + 12, header_addr);
	put32(im->b + off + 16, load_addr);
	put32(im->b + off + 20, load_end_addr);
	put32(im->b + off + 24, bss_end_addr);
	put32(im->b + off + 28, entry_addr);
	if (im->size < off + 32)
		im->size = off + 32;
}

/* ELF32 i386 executable: header, n program headers at 52, then a multiboot
 * header right after them. Segment contents: a byte pattern at TEXT_OFF. */
static void elf(struct img *im, uint32_t entry, const struct ph *ph, unsigned n)
{
	uint8_t *b = im->b;
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = ELFCLASS32;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	put16(b + offsetof(Elf32_Ehdr, e_type), ET_EXEC);
	put16(b + offsetof(Elf32_Ehdr, e_machine), EM_386);
	put32(b + offsetof(Elf32_Ehdr, e_version), EV_CURRENT);
	put32(b + offsetof(Elf32_Ehdr, e_entry), entry);
	put32(b + offsetof(Elf32_Ehdr, e_phoff), sizeof(Elf32_Ehdr));
	put16(b + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr));
	put16(b + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
	put16(b + offsetof(Elf32_Ehdr, e_phnum), n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = b + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr);
		put32(p + offsetof(Elf32_Phdr, p_type), ph[i].type);
		put32(p + offsetof(Elf32_Phdr, p_offset), ph[i].off);
		put32(p + offsetof(Elf32_Phdr, p_vaddr), ph[i].vaddr);
		put32(p + offsetof(Elf32_Phdr, p_paddr), ph[i].paddr);
		put32(p + offsetof(Elf32_Phdr, p_filesz), ph[i].filesz);
		put32(p + offsetof(Elf32_Phdr, p_memsz), ph[i].memsz);
		put32(p + offsetof(Elf32_Phdr, p_flags), ph[i].flags);
		put32(p + offsetof(Elf32_Phdr, p_align), 0x1000);
	}
	mbh(im, (uint32_t)(sizeof(Elf32_Ehdr) + n * sizeof(Elf32_Phdr)), 0x3);
	for (size_t i = TEXT_OFF; i < IMG_CAP; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	im->size = TEXT_OFF + 0x200;
}

/* The standard kernel: text 0x100 bytes at 1 MiB, data 0x80 bytes + bss up
 * to 0x1000 at 0x102000, entry at 1 MiB + 0x10. */
static const struct ph std_ph[2] = {
	{PT_LOAD, TEXT_OFF, 0x100000, 0x100000, 0x100, 0x100, PF_R | PF_X},
	{PT_LOAD, TEXT_OFF + 0x100, 0x102000, 0x102000, 0x80, 0x1000, PF_R | PF_W},
};

static void std_elf(struct img *im)
{
	elf(im, 0x100010, std_ph, 2);
}

static int load(struct fx *f, const struct img *im, const char *name, const char *append,
		const struct mb_module *mods, unsigned nmods)
{
	struct mb_load_params p = {.image = im->b,
				   .image_size = im->size,
				   .kernel_name = name,
				   .append = append,
				   .mods = mods,
				   .nmods = nmods};
	memset(f->err, 0, sizeof(f->err));
	return mb_load(&f->m, &p, &f->r, f->err, sizeof(f->err));
}

/* Loads im into a fresh 8 MiB guest and checks that it fails with rc and an
 * error line containing each of the needles, and that no guest byte changed. */
static void expect_fail(const struct img *im, int rc, const char *what, const char *needle1,
			const char *needle2)
{
	struct fx f;
	fx_init(&f, 8 * MIB);
	int got = load(&f, im, "k", NULL, NULL, 0);
	CHECK_EQ(got, rc, "%s: return code", what);
	bool named = strstr(f.err, needle1) && (!needle2 || strstr(f.err, needle2));
	if (!CHECK(named, "%s: error names the field (\"%s\")", what, needle1))
		printf("#   error was: %s\n", f.err);
	CHECK(!strchr(f.err, '\n') && f.err[0], "%s: error is one non-empty line", what);
	CHECK(all_bytes(&f, 0, f.ram, FILL), "%s: guest memory untouched", what);
	fx_fini(&f);
}

static void test_elf_ok(void)
{
	struct img im;
	struct fx f;
	img_init(&im);
	std_elf(&im);
	fx_init(&f, 8 * MIB);

	static const uint8_t mod0[5000] = {1, 2, 3};
	static const char mod1[] = "second";
	struct mb_module mods[2] = {
		{.data = mod0, .size = sizeof(mod0), .cmdline = "/tmp/mod0.bin arg1 arg2"},
		{.data = mod1, .size = 6, .cmdline = NULL},
	};
	int rc = load(&f, &im, "/boot/kernel.elf", "console=ttyS0 quiet", mods, 2);
	CHECK_EQ(rc, 0, "ELF: loads (%s)", f.err);
	CHECK_EQ(f.err[0], 0, "ELF: no error text on success");
	struct vm_boot_cpu cpu;
	memset(&cpu, 0x55, sizeof(cpu));
	mb_boot_cpu(&f.r, &cpu);
	CHECK(cpu.rip == f.r.entry && cpu.rax == 0x2BADB002 && cpu.rbx == f.r.ebx,
	      "boot CPU: EIP = entry, EAX = magic, EBX = multiboot_info (MB 3.2)");
	CHECK(cpu.cr0 == 0x11 && cpu.cr3 == 0 && cpu.cr4 == 0 && cpu.efer == 0 && cpu.rflags == 2,
	      "boot CPU: CR0 = PE|ET, paging off, IF = 0");
	CHECK(cpu.cs.selector == 0x10 && cpu.cs.type == 0xb && cpu.cs.db == 1 && cpu.cs.limit == 0xffffffff &&
		      cpu.cs.base == 0 && cpu.cs.present == 1 && cpu.cs.s == 1,
	      "boot CPU: flat 32-bit code segment");
	CHECK(cpu.ds.selector == 0x18 && cpu.ds.type == 3 && cpu.ds.limit == 0xffffffff && cpu.ds.base == 0,
	      "boot CPU: flat data segment");
	CHECK(!cpu.tr.present && cpu.rsi == 0 && cpu.gdt_base == 0, "boot CPU: nothing else set");
	const struct mb_load_result *r = &f.r;
	CHECK_EQ(r->entry, 0x100010, "ELF: entry is e_entry");
	CHECK_EQ(r->eax, 0x2BADB002, "ELF: EAX magic");
	CHECK_EQ(r->kernel_start, 0x100000, "ELF: kernel starts at the lowest p_paddr");
	CHECK_EQ(r->kernel_end, 0x103000, "ELF: kernel ends at the highest p_paddr + p_memsz");
	CHECK_EQ(r->info_start, 0x103000, "ELF: info on the page after the kernel");
	CHECK_EQ(r->ebx, r->info_start, "ELF: EBX points at the info");
	CHECK(memcmp(gmem_ptr(&f.m, 0x100000, 0x100), im.b + TEXT_OFF, 0x100) == 0,
	      "ELF: text bytes at p_paddr");
	CHECK(memcmp(gmem_ptr(&f.m, 0x102000, 0x80), im.b + TEXT_OFF + 0x100, 0x80) == 0,
	      "ELF: data bytes at p_paddr");
	CHECK(all_bytes(&f, 0x102080, 0x1000 - 0x80, 0), "ELF: bss zeroed up to p_memsz");
	CHECK(all_bytes(&f, 0x100100, 0x1f00, FILL), "ELF: gap between segments untouched");
	CHECK(all_bytes(&f, 0, 0x100000, FILL), "ELF: nothing written below the kernel");

	uint64_t mbi = r->ebx;
	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_FLAGS), 0x24f,
		 "info: flags MEMORY|BOOTDEV|CMDLINE|MODS|MMAP|LOADER_NAME, as QEMU");
	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_MEM_LOWER), 639, "info: mem_lower 639 KiB");
	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_MEM_UPPER), 7 * 1024, "info: mem_upper 7 MiB in KiB");
	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_BOOT_DEVICE), 0x8000ffff, "info: boot_device as QEMU");
	CHECK(str_at(&f, rd32(&f, mbi + MB_INFO_OFF_CMDLINE), "/boot/kernel.elf console=ttyS0 quiet"),
	      "info: cmdline is \"<kernel name> <append>\"");
	CHECK(str_at(&f, rd32(&f, mbi + MB_INFO_OFF_LOADER_NAME), "hyve"),
	      "info: boot_loader_name is hyve");
	for (unsigned off = 28; off < 44; off += 4)
		CHECK_EQ(rd32(&f, mbi + off), 0, "info: syms word at %u is zero", off);

	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = memmap_build(&f.m, map, MEMMAP_MAX_ENTRIES);
	uint32_t mmap = rd32(&f, mbi + MB_INFO_OFF_MMAP_ADDR);
	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_MMAP_LENGTH), n * 24, "info: mmap_length = entries * 24");
	CHECK(mmap >= r->info_start && mmap + n * 24 <= r->info_end, "info: mmap inside the info area");
	for (int i = 0; i < n; i++) {
		uint64_t e = mmap + (uint64_t)i * 24;
		bool ok = rd32(&f, e) == 20 && rd64(&f, e + 4) == map[i].base &&
			  rd64(&f, e + 12) == map[i].len && rd32(&f, e + 20) == map[i].type;
		CHECK(ok, "info: mmap entry %d = size 20, base 0x%llx, length 0x%llx, type %u", i,
		      (unsigned long long)map[i].base, (unsigned long long)map[i].len, map[i].type);
	}

	CHECK_EQ(rd32(&f, mbi + MB_INFO_OFF_MODS_COUNT), 2, "info: mods_count");
	uint32_t ma = rd32(&f, mbi + MB_INFO_OFF_MODS_ADDR);
	CHECK(ma >= r->info_start && ma + 32 <= r->info_end, "info: module list inside the info area");
	uint32_t s0 = rd32(&f, ma), e0 = rd32(&f, ma + 4);
	uint32_t s1 = rd32(&f, ma + 16), e1 = rd32(&f, ma + 20);
	CHECK_EQ(s0 % 4096, 0, "module 0: page-aligned");
	CHECK(s0 >= r->info_end, "module 0: after the info");
	CHECK_EQ(e0, s0 + sizeof(mod0), "module 0: mod_end = mod_start + size");
	CHECK(memcmp(gmem_ptr(&f.m, s0, sizeof(mod0)), mod0, sizeof(mod0)) == 0, "module 0: bytes");
	CHECK(str_at(&f, rd32(&f, ma + 8), "/tmp/mod0.bin arg1 arg2"), "module 0: string verbatim");
	CHECK_EQ(rd32(&f, ma + 12), 0, "module 0: reserved word zero");
	CHECK_EQ(s1 % 4096, 0, "module 1: page-aligned");
	CHECK_EQ(s1, (e0 + 4095) & ~4095u, "module 1: on the page after module 0");
	CHECK_EQ(e1, s1 + 6, "module 1: mod_end");
	CHECK(memcmp(gmem_ptr(&f.m, s1, 6), mod1, 6) == 0, "module 1: bytes");
	CHECK(str_at(&f, rd32(&f, ma + 24), ""), "module 1: NULL cmdline is an empty string");
	CHECK_EQ(r->mods_start, s0, "result: mods_start");
	CHECK_EQ(r->mods_end, e1, "result: mods_end");
	CHECK(all_bytes(&f, r->info_end, s0 - r->info_end, 0), "padding before the modules zeroed");
	CHECK(all_bytes(&f, e1, 0x10000, FILL), "nothing written after the last module");
	fx_fini(&f);

	/* No -append: QEMU still formats "%s %s", leaving a trailing space. */
	fx_init(&f, 8 * MIB);
	rc = load(&f, &im, "kernel", NULL, NULL, 0);
	CHECK_EQ(rc, 0, "ELF, no append, no modules: loads");
	CHECK(str_at(&f, rd32(&f, f.r.ebx + MB_INFO_OFF_CMDLINE), "kernel "),
	      "no append: cmdline is \"kernel \" (trailing space, as QEMU)");
	CHECK_EQ(rd32(&f, f.r.ebx + MB_INFO_OFF_MODS_COUNT), 0, "no modules: mods_count 0");
	CHECK_EQ(f.r.mods_start, f.r.mods_end, "no modules: empty module range");
	CHECK_EQ(f.r.mods_start % 4096, 0, "no modules: mods_start page-aligned");
	fx_fini(&f);

	/* Video flag (bit 2) is a requirement QEMU ignores: so does hyve. */
	mbh(&im, sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), 0x7);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", "", NULL, 0), 0, "header flag bit 2 (video) is accepted");
	CHECK(str_at(&f, rd32(&f, f.r.ebx + MB_INFO_OFF_CMDLINE), "k "), "empty append: \"k \"");
	fx_fini(&f);

	/* A magic with a bad checksum before a good header is skipped, as QEMU. */
	img_reset(&im);
	std_elf(&im);
	put32(im.b + sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr) + 8, 0x12345678);
	mbh(&im, 0x800, 0x3);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", "", NULL, 0), 0, "bad header then a good one: loads the good one");
	fx_fini(&f);
	free(im.b);
}

static void test_elf_higher_half(void)
{
	struct img im;
	struct fx f;
	img_init(&im);
	const struct ph ph[1] = {{PT_LOAD, TEXT_OFF, 0xC0100000, 0x100000, 0x100, 0x100, PF_R | PF_X}};
	elf(&im, 0xC0100020, ph, 1);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), 0, "higher-half ELF loads");
	CHECK_EQ(f.r.entry, 0x100020, "higher-half: e_entry translated to physical (as QEMU)");
	CHECK(memcmp(gmem_ptr(&f.m, 0x100000, 0x100), im.b + TEXT_OFF, 0x100) == 0,
	      "higher-half: loaded at p_paddr, not p_vaddr");
	fx_fini(&f);

	/* QEMU translates only through executable segments. */
	const struct ph nx[1] = {{PT_LOAD, TEXT_OFF, 0xC0100000, 0x100000, 0x100, 0x100, PF_R}};
	elf(&im, 0xC0100020, nx, 1);
	expect_fail(&im, -EINVAL, "entry in a non-executable higher-half segment", "e_entry 0xc0100020",
		    "not inside any PT_LOAD");
	free(im.b);
}

static void test_aout_ok(void)
{
	struct img im;
	struct fx f;

	/* Header at file offset 0x40, text from file offset 0 to the end of the
	 * file (load_end_addr 0), bss to 0x104000. */
	img_init(&im);
	for (size_t i = 0; i < 0x2000; i++)
		im.b[i] = (uint8_t)(i * 13 + 1);
	im.size = 0x2000;
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0, 0x104000, 0x100080);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "aout", "x", NULL, 0), 0, "a.out kludge: loads (%s)", f.err);
	CHECK_EQ(f.r.entry, 0x100080, "a.out: entry is entry_addr");
	CHECK_EQ(f.r.kernel_start, 0x100000, "a.out: kernel at load_addr");
	CHECK_EQ(f.r.kernel_end, 0x104000, "a.out: kernel ends at bss_end_addr");
	CHECK_EQ(f.r.ebx, 0x104000, "a.out: info right after bss");
	CHECK(memcmp(gmem_ptr(&f.m, 0x100000, 0x2000), im.b, 0x2000) == 0, "a.out: whole file loaded");
	CHECK(all_bytes(&f, 0x102000, 0x2000, 0), "a.out: bss zeroed");
	CHECK(str_at(&f, rd32(&f, f.r.ebx + MB_INFO_OFF_CMDLINE), "aout x"), "a.out: cmdline");
	fx_fini(&f);

	/* Header at file offset 0x1040, 0x40 into the text: the text starts at
	 * file offset 0x1000; load_end_addr limits the load to 0x800 bytes. */
	img_reset(&im);
	for (size_t i = 0; i < 0x3000; i++)
		im.b[i] = (uint8_t)(i * 5 + 9);
	im.size = 0x3000;
	mbh_aout(&im, 0x1040, 0x200040, 0x200000, 0x200800, 0, 0x200100);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "aout", "", NULL, 0), 0, "a.out with text offset: loads (%s)", f.err);
	CHECK(memcmp(gmem_ptr(&f.m, 0x200000, 0x800), im.b + 0x1000, 0x800) == 0,
	      "a.out: text taken from header offset - (header_addr - load_addr)");
	CHECK_EQ(f.r.kernel_end, 0x200800, "a.out: no bss: kernel ends at load_end_addr");
	CHECK_EQ(f.r.info_start, 0x201000, "a.out: info on the next page boundary");
	CHECK(all_bytes(&f, 0x200800, 0x800, FILL), "a.out: rest of the kernel's last page untouched");
	fx_fini(&f);
	free(im.b);
}

static void test_header_errors(void)
{
	struct img im;
	img_init(&im);

	im.size = 0;
	expect_fail(&im, -ENOEXEC, "empty image", "empty (0 bytes)", NULL);

	std_elf(&im);
	memset(im.b + sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), 0, 12);
	expect_fail(&im, -ENOEXEC, "no magic", "no multiboot header in the first 8192 bytes", NULL);

	std_elf(&im);
	put32(im.b + sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr) + 8, 0x12345678);
	expect_fail(&im, -ENOEXEC, "bad checksum", "checksum 0x12345678",
		    "want 0xe4524ffb");

	std_elf(&im);
	mbh(&im, sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), 0x8 | 0x3);
	expect_fail(&im, -ENOEXEC, "unknown required flag", "flags 0x0000000b", "required bit 3");
	mbh(&im, sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), 0x8000);
	expect_fail(&im, -ENOEXEC, "required flag bit 15", "required bit 15", NULL);

	/* Header position against the 8192-byte window (MB sec. 3.1). */
	img_reset(&im);
	std_elf(&im);
	memset(im.b + sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr), 0, 12);
	im.size = 0x3000;
	mbh(&im, 8192, 0x3);
	expect_fail(&im, -ENOEXEC, "header at 8192", "no multiboot header", NULL);
	memset(im.b + 8192, 0, 12);
	mbh(&im, 8184, 0x3);
	expect_fail(&im, -ENOEXEC, "header straddling byte 8192", "no multiboot header", NULL);
	memset(im.b + 8184, 0, 12);
	mbh(&im, 8180, 0x3);
	struct fx f;
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), 0, "header ending exactly at byte 8192 is found");
	fx_fini(&f);
	memset(im.b + 8180, 0, 12);
	mbh_aout(&im, 8176, 0x100000, 0x100000, 0, 0, 0x100000);
	im.size = 0x3000;
	expect_fail(&im, -EINVAL, "a.out fields past byte 8192", "a.out kludge fields",
		    "first 8192 bytes");

	/* Truncated files. */
	img_reset(&im);
	mbh(&im, 0, 0x3);
	im.size = 8;
	expect_fail(&im, -ENOEXEC, "file cut inside the header", "no multiboot header", NULL);
	img_reset(&im);
	mbh_aout(&im, 0, 0x100000, 0x100000, 0, 0, 0x100000);
	im.size = 20;
	expect_fail(&im, -EINVAL, "file cut inside the a.out fields", "a.out kludge fields",
		    "end of the file");
	free(im.b);
}

static void test_elf_errors(void)
{
	struct img im;
	img_init(&im);

	std_elf(&im);
	im.b[0] = 0;
	expect_fail(&im, -ENOEXEC, "not ELF, no kludge", "not ELF", "flags bit 16");

	std_elf(&im);
	im.b[EI_CLASS] = ELFCLASS64;
	expect_fail(&im, -ENOEXEC, "ELF64", "ELF64", "32-bit");
	std_elf(&im);
	im.b[EI_CLASS] = 3;
	expect_fail(&im, -ENOEXEC, "bad class", "e_ident[EI_CLASS] 3", NULL);
	std_elf(&im);
	im.b[EI_DATA] = ELFDATA2MSB;
	expect_fail(&im, -ENOEXEC, "big-endian", "e_ident[EI_DATA] 2", NULL);
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_machine), EM_X86_64);
	expect_fail(&im, -ENOEXEC, "ELF32 for x86-64", "e_machine 62", "32-bit");
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_machine), EM_ARM);
	expect_fail(&im, -ENOEXEC, "wrong machine", "e_machine 40 is not EM_386", NULL);
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_type), ET_DYN);
	expect_fail(&im, -ENOEXEC, "shared object", "e_type 3", NULL);

	/* Program header table. */
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_phnum), 0);
	expect_fail(&im, -EINVAL, "no program headers", "e_phnum is 0", NULL);
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_phnum), 0xffff);
	expect_fail(&im, -EINVAL, "PN_XNUM", "e_phnum 0xffff", NULL);
	std_elf(&im);
	put16(im.b + offsetof(Elf32_Ehdr, e_phentsize), 16);
	expect_fail(&im, -EINVAL, "short phentsize", "e_phentsize 16", NULL);
	std_elf(&im);
	put32(im.b + offsetof(Elf32_Ehdr, e_phoff), 0xfffffff0);
	expect_fail(&im, -EINVAL, "phoff past the file", "e_phoff 0xfffffff0", "past the end");
	std_elf(&im);
	put32(im.b + offsetof(Elf32_Ehdr, e_phoff), (uint32_t)im.size - 40);
	expect_fail(&im, -EINVAL, "phdrs cut by the end of the file", "e_phoff", "e_phnum 2");
	std_elf(&im);
	im.size = 40;
	expect_fail(&im, -ENOEXEC, "file shorter than the ELF header + mb header", "no multiboot", NULL);

	/* Segments. */
	struct ph ph[2];
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].off = 0x7fffff00;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "segment beyond the file", "ELF program header 1: p_offset 0x7fffff00",
		    "past the end of the file");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].off = 0xffffffff;
	ph[1].filesz = 0x10;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "p_offset + p_filesz wraps 32 bits", "p_offset 0xffffffff", NULL);
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].filesz = 0x2000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "filesz > memsz", "p_filesz 0x2000 is larger than p_memsz 0x1000",
		    NULL);
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0x10000000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -E2BIG, "segment above RAM", "ELF program header 1: p_paddr 0x10000000",
		    "guest low RAM ends at 0x800000");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0xfee00000;
	ph[1].memsz = 0x2000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "segment on the LAPIC",
		    "ELF program header 1: p_paddr 0xfee00000 + p_memsz 0x2000 is not in guest RAM",
		    "reserved 0xfee00000");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0xfffff000;
	ph[1].memsz = 0x2000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "segment wrapping 4 GiB", "p_paddr 0xfffff000", "4 GiB");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0x9f000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "segment over the EBDA", "p_paddr 0x9f000",
		    "reserved 0x9fc00-0xa0000");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0xa0000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "segment in the VGA window", "p_paddr 0xa0000", "no RAM at 0xa0000");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].memsz = 0x800000;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -E2BIG, "bss larger than RAM", "p_memsz 0x800000", "ends at 0x800000");
	memcpy(ph, std_ph, sizeof(ph));
	ph[1].paddr = 0x1000f0;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "overlapping segments", "ELF program header 1: p_paddr 0x1000f0",
		    "overlaps program header 0");
	memcpy(ph, std_ph, sizeof(ph));
	ph[0].type = PT_NOTE;
	ph[1].type = PT_NOTE;
	elf(&im, 0x100010, ph, 2);
	expect_fail(&im, -EINVAL, "no PT_LOAD", "PT_LOAD", NULL);
	elf(&im, 0x300000, std_ph, 2);
	expect_fail(&im, -EINVAL, "entry outside the segments", "e_entry 0x300000", NULL);

	/* Too many loadable segments: 33 pages in a row. */
	struct ph many[MB_MAX_SEGMENTS + 1];
	for (unsigned i = 0; i <= MB_MAX_SEGMENTS; i++)
		many[i] = (struct ph){PT_LOAD, TEXT_OFF, 0x100000 + i * 0x1000, 0x100000 + i * 0x1000,
				      0x10, 0x10, PF_R | PF_X};
	elf(&im, 0x100000, many, MB_MAX_SEGMENTS);
	struct fx f;
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), 0, "%u segments load", MB_MAX_SEGMENTS);
	fx_fini(&f);
	elf(&im, 0x100000, many, MB_MAX_SEGMENTS + 1);
	expect_fail(&im, -EINVAL, "too many segments", "more than 32 PT_LOAD", NULL);

	/* Zero-sized PT_LOADs are skipped, wherever they claim to be. */
	memcpy(ph, std_ph, sizeof(ph));
	ph[1] = (struct ph){PT_LOAD, 0xffffff00, 0, 0xfee00000, 0, 0, PF_R};
	elf(&im, 0x100010, ph, 2);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), 0, "zero-sized PT_LOAD is ignored (as QEMU)");
	fx_fini(&f);
	free(im.b);
}

static void test_aout_errors(void)
{
	struct img im;
	img_init(&im);
	im.size = 0x2000;

	mbh_aout(&im, 0x40, 0x100040, 0x100080, 0, 0, 0x100080);
	expect_fail(&im, -EINVAL, "load_addr above header_addr", "load_addr 0x100080",
		    "above header_addr 0x100040");
	mbh_aout(&im, 0x40, 0x100080, 0x100000, 0, 0, 0x100000);
	expect_fail(&im, -EINVAL, "text would start before the file", "header_addr 0x100080",
		    "file offset 0x40");
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0xff000, 0, 0x100000);
	expect_fail(&im, -EINVAL, "load_end_addr below load_addr", "load_end_addr 0xff000", NULL);
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0x104000, 0, 0x100000);
	expect_fail(&im, -EINVAL, "load_end_addr past the file", "load_end_addr 0x104000",
		    "file has 0x2000 bytes");
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0x100050, 0, 0x100000);
	expect_fail(&im, -EINVAL, "load_end_addr cuts the header", "load_end_addr 0x100050",
		    "before the header");
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0, 0x101000, 0x100000);
	expect_fail(&im, -EINVAL, "bss_end_addr inside the text", "bss_end_addr 0x101000", NULL);
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0, 0, 0x102000);
	expect_fail(&im, -EINVAL, "entry after the text", "entry_addr 0x102000", NULL);
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0, 0, 0xfffff);
	expect_fail(&im, -EINVAL, "entry before the text", "entry_addr 0xfffff", NULL);
	mbh_aout(&im, 0x40, 0xfffff040, 0xfffff000, 0, 0, 0xfffff000);
	expect_fail(&im, -EINVAL, "file runs past 4 GiB", "load_addr 0xfffff000", "4 GiB");
	mbh_aout(&im, 0x40, 0x100040, 0x100000, 0, 0x900000, 0x100000);
	expect_fail(&im, -E2BIG, "bss_end_addr past RAM", "kernel 0x100000-0x900000",
		    "guest low RAM ends at 0x800000");
	mbh_aout(&im, 0x40, 0xa0040, 0xa0000, 0, 0, 0xa0000);
	expect_fail(&im, -EINVAL, "a.out in the VGA window", "kernel 0xa0000-0xa2000",
		    "no RAM at 0xa0000");

	/* Kernel file bigger than the guest's RAM. */
	img_reset(&im);
	im.size = IMG_CAP;
	mbh_aout(&im, 0, 0x100000, 0x100000, 0, 0, 0x100000);
	struct fx f;
	fx_init(&f, MIB + 0x10000);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), -E2BIG, "kernel larger than RAM: -E2BIG");
	CHECK(strstr(f.err, "kernel 0x100000-0x140000") != NULL, "kernel larger than RAM: names range");
	CHECK(all_bytes(&f, 0, f.ram, FILL), "kernel larger than RAM: guest untouched");
	fx_fini(&f);
	free(im.b);
}

static void test_placement_errors(void)
{
	struct img im;
	struct fx f;
	img_init(&im);

	/* The kernel fills RAM to the last byte: no room for the info. */
	im.size = 0x2000;
	mbh_aout(&im, 0, 0x100000, 0x100000, 0, 0x800000, 0x100000);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), -E2BIG, "no room for the info: -E2BIG");
	CHECK(strstr(f.err, "multiboot info 0x800000-") != NULL, "no room for the info: named (%s)",
	      f.err);
	CHECK(all_bytes(&f, 0, f.ram, FILL), "no room for the info: guest untouched");
	fx_fini(&f);

	/* A kernel in conventional memory whose info would land in the VGA window. */
	mbh_aout(&im, 0, 0x90000, 0x90000, 0, 0x9f800, 0x90000);
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 0), -EINVAL, "info into the VGA window: -EINVAL");
	CHECK(strstr(f.err, "multiboot info 0xa0000-") != NULL && strstr(f.err, "no RAM"),
	      "info into the VGA window: named (%s)", f.err);
	fx_fini(&f);

	/* A module that does not fit. */
	std_elf(&im);
	uint8_t *big = calloc(1, 8 * MIB);
	struct mb_module mods[2] = {{.data = big, .size = 16, .cmdline = "a"},
				    {.data = big, .size = 8 * MIB, .cmdline = "big"}};
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, "k", NULL, mods, 2), -E2BIG, "module past RAM: -E2BIG");
	CHECK(strstr(f.err, "module 1 (0x800000 bytes)") != NULL, "module past RAM: named (%s)", f.err);
	CHECK(all_bytes(&f, 0, f.ram, FILL), "module past RAM: guest untouched (nothing half-loaded)");
	fx_fini(&f);

	/* Parameter errors. */
	fx_init(&f, 8 * MIB);
	CHECK_EQ(load(&f, &im, NULL, NULL, NULL, 0), -EINVAL, "NULL kernel_name: -EINVAL");
	CHECK(strstr(f.err, "kernel_name") != NULL, "NULL kernel_name: named");
	CHECK_EQ(load(&f, &im, "k", NULL, NULL, 1), -EINVAL, "NULL mods with nmods 1: -EINVAL");
	mods[0].data = NULL;
	CHECK_EQ(load(&f, &im, "k", NULL, mods, 1), -EINVAL, "module with NULL data: -EINVAL");
	CHECK(strstr(f.err, "module 0") != NULL, "module with NULL data: named");
	mods[0].size = 0;
	CHECK_EQ(load(&f, &im, "k", NULL, mods, 1), 0, "empty module with NULL data loads");
	CHECK_EQ(rd32(&f, f.r.ebx + MB_INFO_OFF_MODS_COUNT), 1, "empty module counted");
	fx_fini(&f);

	/* err may be NULL or short; the message is cut, never overrun. */
	struct mb_load_params p = {.image = im.b, .image_size = 0, .kernel_name = "k"};
	struct mb_load_result r;
	fx_init(&f, 8 * MIB);
	CHECK_EQ(mb_load(&f.m, &p, &r, NULL, 0), -ENOEXEC, "NULL err buffer is allowed");
	char small[8];
	CHECK_EQ(mb_load(&f.m, &p, &r, small, sizeof(small)), -ENOEXEC, "short err buffer");
	CHECK_EQ(strlen(small), 7, "short err buffer: truncated and terminated");
	fx_fini(&f);
	free(big);
	free(im.b);
}

int main(void)
{
	test_elf_ok();
	test_elf_higher_half();
	test_aout_ok();
	test_header_errors();
	test_elf_errors();
	test_aout_errors();
	test_placement_errors();
	return tap_done();
}
