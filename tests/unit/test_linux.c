/* test_linux.c: the Linux loader against bzImage and PVH vmlinux images built in memory, and the long/protected-mode set-up helpers. */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/linux.h"
#include "loaders/memmap.h"
#include "tests/unit/tap.h"

#define MIB (1ULL << 20)
#define FILL 0xAA       /* guest RAM is pre-filled with this to see what the loader wrote */
#define IMG_CAP 0x20000 /* bytes of image buffer */
#define STD_RAM (64 * MIB)
#define ERR_RAM (32 * MIB)

/* Standard bzImage: 4 setup sectors, 0x4000 bytes of protected-mode code. */
#define BZ_SETUP 0xA00u
#define BZ_CODE 0x4000u
#define BZ_JUMP_END 0x26cu /* 0x202 + 0x6a, as protocol 2.15 kernels */
#define BZ_PREF 0x1000000ULL
#define BZ_INIT_SIZE 0x800000u

/* Standard vmlinux (PVH): text at 16 MiB, data + bss at 20 MiB, notes. */
#define VM_TEXT_OFF 0x1000u
#define VM_TEXT_SIZE 0x2000u
#define VM_DATA_OFF 0x3000u
#define VM_DATA_FILE 0x800u
#define VM_DATA_MEM 0x3000u
#define VM_NOTE_OFF 0x800u
#define VM_TEXT_PA 0x1000000ULL
#define VM_DATA_PA 0x1400000ULL
#define VM_ENTRY 0x1000100ULL
#define VM_SIZE (VM_DATA_OFF + VM_DATA_FILE)

struct fx {
	uint8_t *host;
	uint64_t ram;
	struct guest_mem m;
	struct linux_load_result r;
	char err[256];
};

struct img {
	uint8_t *b;
	size_t size;
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

static void put64(uint8_t *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get64(const uint8_t *b)
{
	return get32(b) | (uint64_t)get32(b + 4) << 32;
}

static const uint8_t *gp(const struct fx *f, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gmem_ptr(&f->m, gpa, len);
	if (!p)
		abort();
	return p;
}

static uint64_t rd64(const struct fx *f, uint64_t gpa)
{
	return get64(gp(f, gpa, 8));
}

static uint32_t rd32(const struct fx *f, uint64_t gpa)
{
	return get32(gp(f, gpa, 4));
}

static bool all_bytes(const struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	const uint8_t *p = gp(f, gpa, len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool untouched(const struct fx *f)
{
	for (uint64_t i = 0; i < f->ram; i++)
		if (f->host[i] != FILL)
			return false;
	return true;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

/* ---------------------------------------------------------------- images */

/* A bzImage as arch/x86/boot/header.S lays one out (protocol 2.15), with a
 * byte pattern everywhere the loader must not interpret, so copies show. */
static void bz_build(struct img *im)
{
	uint8_t *b = im->b;
	img_reset(im);
	im->size = BZ_SETUP + BZ_CODE;
	for (size_t i = 0; i < im->size; i++)
		b[i] = pattern(i);
	b[0x1f1] = 4;                     /* setup_sects */
	put16(b + 0x1f2, 1);              /* root_flags */
	put32(b + 0x1f4, BZ_CODE / 16);   /* syssize */
	put16(b + 0x1f8, 0);              /* ram_size */
	put16(b + 0x1fa, 0xffff);         /* vid_mode */
	put16(b + 0x1fc, 0x0301);         /* root_dev */
	put16(b + 0x1fe, 0xAA55);         /* boot_flag */
	b[0x200] = 0xEB;                  /* jump */
	b[0x201] = BZ_JUMP_END - 0x202;
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, 0x020f);         /* version */
	put32(b + 0x208, 0);              /* realmode_swtch */
	put16(b + 0x20c, 0x1000);         /* start_sys_seg */
	put16(b + 0x20e, 0x0300);         /* kernel_version */
	b[0x210] = 0;                     /* type_of_loader */
	b[0x211] = 0x01;                  /* loadflags: LOADED_HIGH */
	put16(b + 0x212, 0x8000);         /* setup_move_size */
	put32(b + 0x214, 0x100000);       /* code32_start */
	put32(b + 0x218, 0);              /* ramdisk_image */
	put32(b + 0x21c, 0);              /* ramdisk_size */
	put32(b + 0x220, 0);              /* bootsect_kludge */
	put16(b + 0x224, 0);              /* heap_end_ptr */
	b[0x226] = 0;
	b[0x227] = 0;
	put32(b + 0x228, 0);              /* cmd_line_ptr */
	put32(b + 0x22c, 0x7fffffff);     /* initrd_addr_max */
	put32(b + 0x230, 0x200000);       /* kernel_alignment */
	b[0x234] = 1;                     /* relocatable_kernel */
	b[0x235] = 21;                    /* min_alignment */
	put16(b + 0x236, 0x0001);         /* xloadflags: XLF_KERNEL_64 */
	put32(b + 0x238, 2047);           /* cmdline_size */
	put32(b + 0x23c, 0);              /* hardware_subarch */
	put64(b + 0x240, 0);              /* hardware_subarch_data */
	put32(b + 0x248, 0x3b0);          /* payload_offset */
	put32(b + 0x24c, 0x3000);         /* payload_length */
	put64(b + 0x250, 0);              /* setup_data */
	put64(b + 0x258, BZ_PREF);        /* pref_address */
	put32(b + 0x260, BZ_INIT_SIZE);   /* init_size */
	put32(b + 0x264, 0x190);          /* handover_offset */
	put32(b + 0x268, 0x3c80);         /* kernel_info_offset */
}

struct eph {
	uint32_t type, flags;
	uint64_t off, vaddr, paddr, filesz, memsz, align;
};

/* An ELF executable with n program headers at 64 (ELF64) / 52 (ELF32)
 * and a byte pattern after them. */
static void elf_build(struct img *im, bool is64, uint32_t machine, const struct eph *ph, unsigned n,
		      size_t size)
{
	uint8_t *b = im->b;
	img_reset(im);
	for (size_t i = 0; i < size; i++)
		b[i] = pattern(i);
	memset(b, 0, is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	if (is64) {
		put16(b + offsetof(Elf64_Ehdr, e_type), ET_EXEC);
		put16(b + offsetof(Elf64_Ehdr, e_machine), machine);
		put32(b + offsetof(Elf64_Ehdr, e_version), EV_CURRENT);
		put64(b + offsetof(Elf64_Ehdr, e_entry), 0xffffffff81000000ULL);
		put64(b + offsetof(Elf64_Ehdr, e_phoff), sizeof(Elf64_Ehdr));
		put16(b + offsetof(Elf64_Ehdr, e_ehsize), sizeof(Elf64_Ehdr));
		put16(b + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr));
		put16(b + offsetof(Elf64_Ehdr, e_phnum), n);
	} else {
		put16(b + offsetof(Elf32_Ehdr, e_type), ET_EXEC);
		put16(b + offsetof(Elf32_Ehdr, e_machine), machine);
		put32(b + offsetof(Elf32_Ehdr, e_version), EV_CURRENT);
		put32(b + offsetof(Elf32_Ehdr, e_entry), 0xc1000000u);
		put32(b + offsetof(Elf32_Ehdr, e_phoff), sizeof(Elf32_Ehdr));
		put16(b + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr));
		put16(b + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
		put16(b + offsetof(Elf32_Ehdr, e_phnum), n);
	}
	for (unsigned i = 0; i < n; i++) {
		if (is64) {
			uint8_t *p = b + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr);
			put32(p + offsetof(Elf64_Phdr, p_type), ph[i].type);
			put32(p + offsetof(Elf64_Phdr, p_flags), ph[i].flags);
			put64(p + offsetof(Elf64_Phdr, p_offset), ph[i].off);
			put64(p + offsetof(Elf64_Phdr, p_vaddr), ph[i].vaddr);
			put64(p + offsetof(Elf64_Phdr, p_paddr), ph[i].paddr);
			put64(p + offsetof(Elf64_Phdr, p_filesz), ph[i].filesz);
			put64(p + offsetof(Elf64_Phdr, p_memsz), ph[i].memsz);
			put64(p + offsetof(Elf64_Phdr, p_align), ph[i].align);
		} else {
			uint8_t *p = b + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr);
			put32(p + offsetof(Elf32_Phdr, p_type), ph[i].type);
			put32(p + offsetof(Elf32_Phdr, p_flags), ph[i].flags);
			put32(p + offsetof(Elf32_Phdr, p_offset), (uint32_t)ph[i].off);
			put32(p + offsetof(Elf32_Phdr, p_vaddr), (uint32_t)ph[i].vaddr);
			put32(p + offsetof(Elf32_Phdr, p_paddr), (uint32_t)ph[i].paddr);
			put32(p + offsetof(Elf32_Phdr, p_filesz), (uint32_t)ph[i].filesz);
			put32(p + offsetof(Elf32_Phdr, p_memsz), (uint32_t)ph[i].memsz);
			put32(p + offsetof(Elf32_Phdr, p_align), (uint32_t)ph[i].align);
		}
	}
	im->size = size;
}

/* One ELF note at off (gABI layout, 4-byte padding); returns its end. */
static size_t note(struct img *im, size_t off, const char *name, uint32_t type, const uint8_t *desc,
		   uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	uint8_t *b = im->b + off;
	put32(b, namesz);
	put32(b + 4, descsz);
	put32(b + 8, type);
	memset(b + 12, 0, (namesz + 3) & ~3u);
	memcpy(b + 12, name, namesz);
	size_t d = 12 + ((namesz + 3) & ~3u);
	memset(b + d, 0, (descsz + 3) & ~3u);
	memcpy(b + d, desc, descsz);
	return off + d + ((descsz + 3) & ~3u);
}

/* The notes of a vmlinux: a GNU build-id, a Xen note of another type,
 * then XEN_ELFNOTE_PHYS32_ENTRY with a descsz-byte entry. Returns their size. */
static size_t vm_notes(struct img *im, uint64_t entry, uint32_t descsz)
{
	uint8_t id[20], d8[8], v[4] = {1, 2, 3, 4};
	for (unsigned i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)i;
	size_t o = note(im, VM_NOTE_OFF, "GNU", 3, id, sizeof(id));
	o = note(im, o, "Xen", 6 /* XEN_ELFNOTE_GUEST_OS */, (const uint8_t *)"linux", 6);
	o = note(im, o, "Linux", 18, v, 4); /* type 18 but not "Xen": skipped */
	put64(d8, entry);
	o = note(im, o, "Xen", 18, d8, descsz);
	return o - VM_NOTE_OFF;
}

/* The standard vmlinux: text, data+bss, notes (PT_NOTE last, as vmlinux.lds). */
static void vm_build(struct img *im, bool is64, uint64_t entry, uint32_t descsz)
{
	struct eph ph[3] = {
		{PT_LOAD, PF_R | PF_X, VM_TEXT_OFF, 0xffffffff81000000ULL, VM_TEXT_PA, VM_TEXT_SIZE,
		 VM_TEXT_SIZE, 0x200000},
		{PT_LOAD, PF_R | PF_W, VM_DATA_OFF, 0xffffffff81400000ULL, VM_DATA_PA, VM_DATA_FILE,
		 VM_DATA_MEM, 0x200000},
		{PT_NOTE, PF_R, VM_NOTE_OFF, 0, 0, 0, 0, 4},
	};
	if (!is64) {
		ph[0].vaddr = 0xc1000000u;
		ph[1].vaddr = 0xc1400000u;
	}
	elf_build(im, is64, is64 ? EM_X86_64 : EM_386, ph, 3, VM_SIZE);
	size_t n = vm_notes(im, entry, descsz);
	/* Patch the PT_NOTE p_filesz now that the notes' size is known. */
	if (is64)
		put64(im->b + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_filesz),
		      n);
	else
		put32(im->b + sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr) + offsetof(Elf32_Phdr, p_filesz),
		      (uint32_t)n);
}

/* Offset of program header i's field in a 64-bit image. */
static uint8_t *ph64(struct img *im, unsigned i, size_t field)
{
	return im->b + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr) + field;
}

static int load(struct fx *f, const struct img *im, const char *cmdline, const void *initrd,
		size_t initrd_size, uint64_t rsdp)
{
	struct linux_load_params p = {.image = im->b,
				      .image_size = im->size,
				      .cmdline = cmdline,
				      .initrd = initrd,
				      .initrd_size = initrd_size,
				      .rsdp_addr = rsdp};
	memset(f->err, 0, sizeof(f->err));
	return linux_load(&f->m, &p, &f->r, f->err, sizeof(f->err));
}

/* Loads im into a fresh guest of ram bytes and checks that it fails with
 * rc, one error line holding each needle, and no guest byte changed. */
static void expect_fail_ex(const struct img *im, uint64_t ram, const char *cmdline,
			   size_t initrd_size, int rc, const char *what, const char *needle1,
			   const char *needle2)
{
	struct fx f;
	uint8_t *initrd = initrd_size ? calloc(1, initrd_size) : NULL;
	fx_init(&f, ram);
	int got = load(&f, im, cmdline, initrd, initrd_size, 0);
	CHECK_EQ(got, rc, "%s: return code", what);
	CHECK(f.err[0] && !strchr(f.err, '\n'), "%s: one error line: %s", what, f.err);
	CHECK(strstr(f.err, needle1), "%s: error names '%s': %s", what, needle1, f.err);
	if (needle2)
		CHECK(strstr(f.err, needle2), "%s: error names '%s': %s", what, needle2, f.err);
	CHECK(untouched(&f), "%s: guest memory untouched", what);
	fx_fini(&f);
	free(initrd);
}

static void expect_fail(const struct img *im, int rc, const char *what, const char *needle1,
			const char *needle2)
{
	expect_fail_ex(im, ERR_RAM, "console=ttyS0", 0, rc, what, needle1, needle2);
}

/* The e820 map of a plain guest of ram bytes (ram <= 3 GiB): what
 * loaders/memmap.h documents, written out independently. */
static unsigned want_map(uint64_t ram, struct memmap_entry *e)
{
	unsigned n = 0;
	e[n++] = (struct memmap_entry){0, 0x9fc00, MEMMAP_RAM};
	e[n++] = (struct memmap_entry){0x9fc00, 0x400, MEMMAP_RESERVED};
	e[n++] = (struct memmap_entry){0xf0000, 0x10000, MEMMAP_RESERVED};
	e[n++] = (struct memmap_entry){0x100000, ram - 0x100000, MEMMAP_RAM};
	e[n++] = (struct memmap_entry){0xfec00000, 0x1000, MEMMAP_RESERVED};
	e[n++] = (struct memmap_entry){0xfee00000, 0x1000, MEMMAP_RESERVED};
	return n;
}

/* ------------------------------------------------------------- bzImage ok */

/* The zero page linux_load must write for bz_build's image, built here
 * field by field from boot.rst / zero-page.rst. */
static void want_zero_page(const struct img *im, uint8_t *zp, uint64_t load, uint64_t initrd,
			   uint32_t initrd_size, uint64_t rsdp, const struct memmap_entry *map,
			   unsigned n)
{
	memset(zp, 0, 4096);
	memcpy(zp + 0x1f1, im->b + 0x1f1, BZ_JUMP_END - 0x1f1);
	zp[0x210] = 0xff;                   /* type_of_loader: undefined */
	zp[0x211] = 0x01 | 0x40 | 0x80;     /* LOADED_HIGH | KEEP_SEGMENTS | CAN_USE_HEAP */
	put16(zp + 0x224, 0xfe00);          /* heap_end_ptr */
	put32(zp + 0x214, (uint32_t)load);  /* code32_start */
	put32(zp + 0x218, (uint32_t)initrd);
	put32(zp + 0x21c, initrd_size);
	put32(zp + 0x228, 0x20000);         /* cmd_line_ptr */
	put64(zp + 0x250, 0);               /* setup_data */
	put64(zp + 0x070, rsdp);            /* acpi_rsdp_addr */
	zp[0x1e8] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		put64(zp + 0x2d0 + 20 * i, map[i].base);
		put64(zp + 0x2d0 + 20 * i + 8, map[i].len);
		put32(zp + 0x2d0 + 20 * i + 16, map[i].type);
	}
}

static void test_bz_standard(struct img *im)
{
	struct fx f;
	static const char cmd[] = "console=ttyS0 root=/dev/vda rw";
	uint8_t initrd[0x2345];
	uint8_t zp[4096];
	struct memmap_entry map[8];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	bz_build(im);
	fx_init(&f, STD_RAM);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_BZIMAGE, "bzImage: probe");
	int rc = load(&f, im, cmd, initrd, sizeof(initrd), 0xf0000);
	CHECK_EQ(rc, 0, "bzImage: loads (%s)", f.err);
	CHECK_EQ(f.err[0], 0, "bzImage: no error text on success");
	CHECK_EQ(f.r.kind, LINUX_IMAGE_BZIMAGE, "bzImage: kind");
	CHECK_EQ(f.r.protocol, 0x020f, "bzImage: protocol");
	CHECK_EQ(f.r.entry, BZ_PREF + 0x200, "bzImage: 64-bit entry = load + 0x200");
	CHECK_EQ(f.r.rsi, 0x7000, "bzImage: RSI = zero page");
	CHECK_EQ(f.r.rbx, 0, "bzImage: RBX 0");
	CHECK_EQ(f.r.kernel_start, BZ_PREF, "bzImage: kernel at pref_address");
	CHECK_EQ(f.r.kernel_end, BZ_PREF + BZ_INIT_SIZE, "bzImage: kernel_end = runtime + init_size");
	CHECK_EQ(f.r.info_start, 0x7000, "bzImage: info start");
	CHECK_EQ(f.r.info_end, 0x8000, "bzImage: info end");
	CHECK_EQ(f.r.cmdline_start, 0x20000, "bzImage: cmdline start");
	CHECK_EQ(f.r.cmdline_end, 0x20000 + sizeof(cmd), "bzImage: cmdline end (incl. NUL)");
	uint64_t want_initrd = (STD_RAM - sizeof(initrd)) & ~0xfffULL;
	CHECK_EQ(f.r.initrd_start, want_initrd, "bzImage: initrd at the top of RAM, page aligned");
	CHECK_EQ(f.r.initrd_end, want_initrd + sizeof(initrd), "bzImage: initrd end");

	/* Kernel bytes: the protected-mode code, from file offset 0xA00. */
	CHECK(memcmp(gp(&f, BZ_PREF, BZ_CODE), im->b + BZ_SETUP, BZ_CODE) == 0,
	      "bzImage: protected-mode code copied to pref_address");
	CHECK(all_bytes(&f, BZ_PREF + BZ_CODE, 0x1000, FILL),
	      "bzImage: the init_size range past the code is left alone");
	CHECK(memcmp(gp(&f, want_initrd, sizeof(initrd)), initrd, sizeof(initrd)) == 0,
	      "bzImage: initrd bytes");
	CHECK(memcmp(gp(&f, 0x20000, sizeof(cmd)), cmd, sizeof(cmd)) == 0,
	      "bzImage: command line incl. NUL at 0x20000");

	/* The whole zero page, byte for byte. */
	unsigned n = want_map(STD_RAM, map);
	want_zero_page(im, zp, BZ_PREF, want_initrd, sizeof(initrd), 0xf0000, map, n);
	const uint8_t *got = gp(&f, 0x7000, 4096);
	size_t bad = 4096;
	for (size_t i = 0; i < 4096; i++)
		if (got[i] != zp[i]) {
			bad = i;
			break;
		}
	CHECK(bad == 4096, "bzImage: zero page matches field by field (first difference at 0x%zx)",
	      bad);
	/* The same, field by field, for the record. */
	CHECK_EQ(got[0x1f1], 4, "zero page: setup_sects copied");
	CHECK_EQ(get32(got + 0x202), 0x53726448, "zero page: HdrS copied");
	CHECK_EQ(got[0x210], 0xff, "zero page: type_of_loader 0xff");
	CHECK_EQ(got[0x211], 0xc1, "zero page: loadflags LOADED_HIGH|KEEP_SEGMENTS|CAN_USE_HEAP");
	CHECK_EQ(get32(got + 0x214), BZ_PREF, "zero page: code32_start = load address");
	CHECK_EQ(get32(got + 0x218), want_initrd, "zero page: ramdisk_image");
	CHECK_EQ(get32(got + 0x21c), sizeof(initrd), "zero page: ramdisk_size");
	CHECK_EQ(get32(got + 0x224) & 0xffff, 0xfe00, "zero page: heap_end_ptr");
	CHECK_EQ(get32(got + 0x228), 0x20000, "zero page: cmd_line_ptr");
	CHECK_EQ(get64(got + 0x250), 0, "zero page: setup_data none");
	CHECK_EQ(get64(got + 0x070), 0xf0000, "zero page: acpi_rsdp_addr");
	CHECK_EQ(got[0x1ef], 0, "zero page: sentinel 0");
	CHECK_EQ(get32(got + 0x0c0) | get32(got + 0x0c4) | get32(got + 0x0c8), 0,
	      "zero page: ext_ramdisk_image/size, ext_cmd_line_ptr 0");
	CHECK_EQ(got[0x1e8], 6, "zero page: e820_entries");
	CHECK(got[BZ_JUMP_END] == 0 && got[0x28f] == 0,
	      "zero page: nothing copied past the header end (jump)");
	struct memmap_entry built[MEMMAP_MAX_ENTRIES];
	int nb = memmap_build(&f.m, built, MEMMAP_MAX_ENTRIES);
	bool same = nb == (int)n;
	for (unsigned i = 0; same && i < n; i++)
		same = get64(got + 0x2d0 + 20 * i) == built[i].base &&
		       get64(got + 0x2d8 + 20 * i) == built[i].len &&
		       get32(got + 0x2e0 + 20 * i) == built[i].type;
	CHECK(same, "zero page: e820_table is memmap_build's map");
	CHECK_EQ(get64(got + 0x2d0 + 20 * 3), 0x100000, "e820[3] base 1 MiB");
	CHECK_EQ(get64(got + 0x2d8 + 20 * 3), STD_RAM - 0x100000, "e820[3] length");
	CHECK_EQ(get32(got + 0x2e0 + 20 * 3), 1, "e820[3] type RAM");

	/* Nothing else written below 1 MiB. */
	CHECK(all_bytes(&f, 0, 0x7000, FILL), "bzImage: [0, 0x7000) untouched");
	CHECK(all_bytes(&f, 0x8000, 0x18000, FILL), "bzImage: [0x8000, 0x20000) untouched");
	CHECK(all_bytes(&f, 0x20000 + sizeof(cmd), 0x100000 - 0x20000 - sizeof(cmd), FILL),
	      "bzImage: after the command line up to 1 MiB untouched");
	fx_fini(&f);
}

static void test_bz_variants(struct img *im)
{
	struct fx f;
	uint8_t initrd[0x1000] = {1, 2, 3};

	/* No initrd, NULL command line. */
	bz_build(im);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, NULL, NULL, 0, 0), 0, "no initrd: loads (%s)", f.err);
	CHECK(f.r.initrd_start == 0 && f.r.initrd_end == 0, "no initrd: result 0,0");
	CHECK_EQ(rd32(&f, 0x7000 + 0x218), 0, "no initrd: ramdisk_image 0");
	CHECK_EQ(rd32(&f, 0x7000 + 0x21c), 0, "no initrd: ramdisk_size 0");
	CHECK_EQ(*gp(&f, 0x20000, 1), 0, "NULL cmdline: empty string at 0x20000");
	CHECK_EQ(f.r.cmdline_end, 0x20001, "NULL cmdline: one byte");
	CHECK_EQ(rd64(&f, 0x7000 + 0x70), 0, "no rsdp: acpi_rsdp_addr 0");
	CHECK_EQ(*gp(&f, 0x7000 + 0x1e8, 1), 6, "32 MiB: 6 e820 entries");
	fx_fini(&f);

	/* setup_sects 0 means 4. */
	bz_build(im);
	im->b[0x1f1] = 0;
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "setup_sects 0: loads (%s)", f.err);
	CHECK(memcmp(gp(&f, BZ_PREF, BZ_CODE), im->b + BZ_SETUP, BZ_CODE) == 0,
	      "setup_sects 0: code taken from 5 * 512");
	CHECK_EQ(*gp(&f, 0x7000 + 0x1f1, 1), 0, "setup_sects 0: copied as is");
	fx_fini(&f);

	/* Other setup size: 30 sectors. */
	bz_build(im);
	memmove(im->b + 31 * 512, im->b + BZ_SETUP, BZ_CODE);
	im->b[0x1f1] = 30;
	im->size = 31 * 512 + BZ_CODE;
	uint8_t code0 = im->b[31 * 512];
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "setup_sects 30: loads (%s)", f.err);
	CHECK(*gp(&f, BZ_PREF, 1) == code0 &&
		      memcmp(gp(&f, BZ_PREF, BZ_CODE), im->b + 31 * 512, BZ_CODE) == 0,
	      "setup_sects 30: code from 31 * 512");
	fx_fini(&f);

	/* syssize rounds up to 16: 0x4004 bytes of code, syssize 0x401. */
	bz_build(im);
	im->size = BZ_SETUP + BZ_CODE + 4;
	put32(im->b + 0x1f4, (BZ_CODE + 4 + 15) / 16);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "syssize rounded up: loads (%s)", f.err);
	CHECK(memcmp(gp(&f, BZ_PREF, BZ_CODE + 4), im->b + BZ_SETUP, BZ_CODE + 4) == 0 &&
		      *gp(&f, BZ_PREF + BZ_CODE + 4, 1) == FILL,
	      "syssize rounded up: exactly the file's 0x4004 code bytes copied");
	fx_fini(&f);

	/* Trailing data beyond syssize (a signature) is not loaded. */
	bz_build(im);
	im->size = BZ_SETUP + BZ_CODE + 0x100;
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "trailing bytes: loads (%s)", f.err);
	CHECK(all_bytes(&f, BZ_PREF + BZ_CODE, 0x100, FILL), "trailing bytes: only syssize * 16 copied");
	fx_fini(&f);

	/* initrd_addr_max bounds the initrd. */
	bz_build(im);
	put32(im->b + 0x22c, 0x1bfffff);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", initrd, sizeof(initrd), 0), 0, "initrd_addr_max: loads (%s)", f.err);
	CHECK_EQ(f.r.initrd_start, 0x1c00000 - 0x1000, "initrd_addr_max: initrd ends at max + 1");
	CHECK_EQ(rd32(&f, 0x7000 + 0x218), 0x1c00000 - 0x1000, "initrd_addr_max: ramdisk_image");
	fx_fini(&f);

	/* XLF_CAN_BE_LOADED_ABOVE_4G: initrd_addr_max no longer binds (QEMU). */
	put16(im->b + 0x236, 0x0003);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", initrd, sizeof(initrd), 0), 0, "above-4G kernel: loads (%s)", f.err);
	CHECK_EQ(f.r.initrd_start, ERR_RAM - 0x1000, "above-4G kernel: initrd at the top of RAM");
	fx_fini(&f);

	/* Relocatable, pref_address not aligned to kernel_alignment. */
	bz_build(im);
	put64(im->b + 0x258, 0x1100000);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "unaligned pref_address: loads (%s)", f.err);
	CHECK_EQ(f.r.kernel_start, 0x1100000, "unaligned pref_address: loaded there");
	CHECK_EQ(f.r.entry, 0x1100200, "unaligned pref_address: entry");
	CHECK_EQ(f.r.kernel_end, 0x1200000 + BZ_INIT_SIZE,
		 "unaligned pref_address: init_size counted from the aligned runtime start");
	CHECK_EQ(rd32(&f, 0x7000 + 0x214), 0x1100000, "unaligned pref_address: code32_start");
	fx_fini(&f);

	/* Relocatable with pref_address 0: the default 16 MiB. */
	bz_build(im);
	put64(im->b + 0x258, 0);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "pref_address 0: loads (%s)", f.err);
	CHECK_EQ(f.r.kernel_start, LINUX_KERNEL_ADDR, "pref_address 0: 16 MiB");
	fx_fini(&f);

	/* Not relocatable: exactly at pref_address; kernel_alignment ignored. */
	bz_build(im);
	im->b[0x234] = 0;
	put32(im->b + 0x230, 3);
	put64(im->b + 0x258, 0x200000);
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "non-relocatable: loads (%s)", f.err);
	CHECK_EQ(f.r.kernel_start, 0x200000, "non-relocatable: at pref_address");
	CHECK_EQ(f.r.kernel_end, 0x200000 + BZ_INIT_SIZE, "non-relocatable: + init_size");
	fx_fini(&f);

	/* Command line of exactly cmdline_size characters. */
	bz_build(im);
	char *cmd = malloc(2048);
	if (!cmd)
		abort();
	memset(cmd, 'x', 2047);
	cmd[2047] = '\0';
	fx_init(&f, ERR_RAM);
	CHECK_EQ(load(&f, im, cmd, NULL, 0, 0), 0, "cmdline of cmdline_size chars: loads (%s)", f.err);
	CHECK(memcmp(gp(&f, 0x20000, 2048), cmd, 2048) == 0, "cmdline of cmdline_size chars: copied");
	fx_fini(&f);
	free(cmd);
}

/* A guest with RAM above 4 GiB: the e820 table lists it (the fixture's
 * high region is small so the test stays small). */
static void test_bz_highmem(struct img *im)
{
	struct guest_mem m;
	struct linux_load_result r;
	char err[256];
	uint8_t *low = malloc(ERR_RAM), *high = malloc(2 * MIB);
	if (!low || !high)
		abort();
	memset(&m, 0, sizeof(m));
	m.nregions = 2;
	m.ram_size = ERR_RAM + 2 * MIB;
	m.r[0] = (struct gmem_region){.gpa = 0, .size = ERR_RAM, .host = low};
	m.r[1] = (struct gmem_region){.gpa = GMEM_HIGHMEM_BASE, .size = 2 * MIB, .host = high};
	bz_build(im);
	struct linux_load_params p = {.image = im->b, .image_size = im->size};
	CHECK_EQ(linux_load(&m, &p, &r, err, sizeof(err)), 0, "high memory: loads (%s)", err);
	const uint8_t *zp = low + 0x7000;
	CHECK_EQ(zp[0x1e8], 7, "high memory: 7 e820 entries");
	CHECK_EQ(get64(zp + 0x2d0 + 20 * 6), GMEM_HIGHMEM_BASE, "high memory: e820[6] at 4 GiB");
	CHECK_EQ(get64(zp + 0x2d8 + 20 * 6), 2 * MIB, "high memory: e820[6] length");
	CHECK_EQ(get32(zp + 0x2e0 + 20 * 6), 1, "high memory: e820[6] RAM");
	CHECK_EQ(get64(zp + 0x2d0 + 20 * 5), GMEM_LAPIC_BASE, "high memory: e820[5] LAPIC");
	free(low);
	free(high);
}

static void test_bz_errors(struct img *im)
{
	/* Parameters. */
	{
		struct fx f;
		struct linux_load_params p = {.image = NULL, .image_size = 16};
		fx_init(&f, MIB);
		CHECK_EQ(linux_load(&f.m, &p, &f.r, f.err, sizeof(f.err)), -EINVAL, "NULL image: -EINVAL");
		CHECK(strstr(f.err, "image is NULL"), "NULL image: named (%s)", f.err);
		bz_build(im);
		p = (struct linux_load_params){.image = im->b, .image_size = im->size, .initrd_size = 5};
		CHECK_EQ(linux_load(&f.m, &p, &f.r, f.err, sizeof(f.err)), -EINVAL,
			 "NULL initrd: -EINVAL");
		CHECK(strstr(f.err, "initrd is NULL"), "NULL initrd: named (%s)", f.err);
		CHECK_EQ(linux_load(NULL, &p, &f.r, f.err, sizeof(f.err)), -EINVAL, "NULL m: -EINVAL");
		CHECK_EQ(linux_load(&f.m, NULL, &f.r, f.err, sizeof(f.err)), -EINVAL, "NULL p: -EINVAL");
		CHECK_EQ(linux_load(&f.m, &p, NULL, f.err, sizeof(f.err)), -EINVAL, "NULL r: -EINVAL");
		p.initrd_size = 0;
		CHECK_EQ(linux_load(&f.m, &p, &f.r, NULL, 0), -E2BIG, "NULL err buffer: still fails cleanly");
		CHECK(untouched(&f), "parameter errors: guest untouched");
		fx_fini(&f);
	}
	img_reset(im);
	expect_fail(im, -ENOEXEC, "empty image", "empty", NULL);
	im->size = 0x100;
	expect_fail(im, -ENOEXEC, "short non-ELF", "neither ELF nor a bzImage", "too short");
	im->size = 0x1000;
	expect_fail(im, -ENOEXEC, "no HdrS", "neither ELF nor a bzImage", "HdrS");

	bz_build(im);
	put16(im->b + 0x1fe, 0x1234);
	expect_fail(im, -ENOEXEC, "bad boot_flag", "boot_flag 0x1234", NULL);
	bz_build(im);
	put16(im->b + 0x206, 0x020b);
	expect_fail(im, -ENOEXEC, "protocol 2.11", "version 0x020b", "2.12");
	bz_build(im);
	im->b[0x201] = 0x50; /* header ends at 0x252: before init_size */
	expect_fail(im, -EINVAL, "short header", "jump 0x50eb", NULL);
	bz_build(im);
	im->b[0x201] = 0x90; /* negative offset */
	expect_fail(im, -EINVAL, "negative jump", "jump 0x90eb", NULL);
	bz_build(im);
	im->b[0x201] = 0x7f; /* ends at 0x281: fine */
	{
		struct fx f;
		fx_init(&f, ERR_RAM);
		CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "header up to 0x281: loads (%s)", f.err);
		CHECK(memcmp(gp(&f, 0x7000 + 0x26c, 0x281 - 0x26c), im->b + 0x26c, 0x281 - 0x26c) == 0 &&
			      *gp(&f, 0x7000 + 0x281, 1) == 0,
		      "header up to 0x281: copied through 0x280 only");
		fx_fini(&f);
	}
	bz_build(im);
	im->b[0x200] = 0xE9;
	expect_fail(im, -EINVAL, "jump opcode", "jump 0x6ae9", NULL);
	bz_build(im);
	im->size = 0x240;
	expect_fail(im, -EINVAL, "file ends inside the header", "shorter than its setup header", NULL);
	bz_build(im);
	im->b[0x1f1] = 0x40;
	expect_fail(im, -EINVAL, "setup_sects past EOF", "setup_sects 64", NULL);
	bz_build(im);
	im->size = BZ_SETUP;
	expect_fail(im, -EINVAL, "no code", "setup_sects 4", "past the end");
	bz_build(im);
	im->b[0x211] = 0x80;
	expect_fail(im, -ENOEXEC, "zImage", "loadflags 0x80", "LOADED_HIGH");
	bz_build(im);
	put16(im->b + 0x236, 0x0002);
	expect_fail(im, -ENOEXEC, "no 64-bit entry", "xloadflags 0x0002", "XLF_KERNEL_64");
	bz_build(im);
	put32(im->b + 0x1f4, 0);
	expect_fail(im, -EINVAL, "syssize 0", "syssize 0x0", NULL);
	bz_build(im);
	im->size = BZ_SETUP + BZ_CODE - 0x20;
	expect_fail(im, -EINVAL, "truncated", "syssize 0x400", "truncated");
	bz_build(im);
	put32(im->b + 0x1f4, 0x20);
	expect_fail(im, -EINVAL, "code too short for the entry", "syssize 0x20", "+0x200");
	bz_build(im);
	put32(im->b + 0x230, 0x300000);
	expect_fail(im, -EINVAL, "kernel_alignment not a power of two", "kernel_alignment 0x300000", NULL);
	bz_build(im);
	put32(im->b + 0x230, 0x100);
	expect_fail(im, -EINVAL, "kernel_alignment too small", "kernel_alignment 0x100", NULL);
	bz_build(im);
	im->b[0x234] = 0;
	put64(im->b + 0x258, 0x90000);
	expect_fail(im, -EINVAL, "non-relocatable below 1 MiB", "pref_address 0x90000", NULL);
	bz_build(im);
	put32(im->b + 0x260, 0);
	expect_fail(im, -EINVAL, "init_size 0", "init_size is 0", NULL);
	bz_build(im);
	im->b[0x234] = 0;
	put64(im->b + 0x258, 0xfff00000ULL);
	expect_fail(im, -EINVAL, "kernel past 4 GiB", "pref_address 0xfff00000", "4 GiB");
	bz_build(im);
	im->b[0x234] = 0;
	put64(im->b + 0x258, 0xd0000000ULL);
	expect_fail(im, -EINVAL, "kernel in the MMIO hole", "bzImage kernel 0xd0000000",
		    "not in guest RAM");
	bz_build(im);
	expect_fail_ex(im, 20 * MIB, "", 0, -E2BIG, "RAM too small for init_size",
		       "bzImage kernel 0x1000000-0x1800000", "low RAM ends at 0x1400000");
	char *big = malloc(LINUX_CMDLINE_MAX + 1);
	if (!big)
		abort();
	memset(big, 'y', 2048);
	big[2048] = '\0';
	expect_fail_ex(im, ERR_RAM, big, 0, -EINVAL, "cmdline > cmdline_size",
		       "command line is 2048 bytes", "cmdline_size 2047");
	put32(im->b + 0x238, 0xffffffffu);
	memset(big, 'y', LINUX_CMDLINE_MAX);
	big[LINUX_CMDLINE_MAX] = '\0';
	expect_fail_ex(im, ERR_RAM, big, 0, -EINVAL, "cmdline > hyve's buffer", "65536 bytes",
		       "hyve's buffer");
	free(big);
	bz_build(im);
	expect_fail_ex(im, ERR_RAM, "", 9 * MIB, -E2BIG, "initrd too big", "initrd (0x900000 bytes)",
		       "kernel end 0x1800000");
	bz_build(im);
	put32(im->b + 0x22c, 0x17fffff);
	expect_fail_ex(im, ERR_RAM, "", 0x1000, -E2BIG, "initrd_addr_max below the kernel end",
		       "initrd (0x1000 bytes)", "initrd_addr_max 0x17fffff");
}

/* ------------------------------------------------------------------- PVH */

static void check_memmap_table(const struct fx *f, uint64_t ram, const char *what)
{
	struct memmap_entry map[8];
	unsigned n = want_map(ram, map);
	CHECK_EQ(rd32(f, 0x7000 + 48), n, "%s: memmap_entries", what);
	bool same = true;
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = 0x7080 + 24 * (uint64_t)i;
		same = same && rd64(f, e) == map[i].base && rd64(f, e + 8) == map[i].len &&
		       rd32(f, e + 16) == map[i].type && rd32(f, e + 20) == 0;
	}
	CHECK(same, "%s: memmap table = the e820 map, reserved fields 0", what);
}

static void test_pvh_standard(struct img *im)
{
	struct fx f;
	uint8_t initrd[0x1800];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);

	/* One classifier: an ELF that also has "HdrS" at 0x202 is PVH to both
	 * the probe and the loader (issue 12). */
	vm_build(im, true, VM_ENTRY, 8);
	put32(im->b + LINUX_HDR_HEADER, LINUX_HDRS_MAGIC);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_PVH, "ELF with HdrS at 0x202: probe PVH");
	fx_init(&f, STD_RAM);
	CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "ELF with HdrS at 0x202: loads (%s)", f.err);
	CHECK_EQ(f.r.kind, LINUX_IMAGE_PVH, "ELF with HdrS at 0x202: loads as PVH");
	fx_fini(&f);

	vm_build(im, true, VM_ENTRY, 8);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_PVH, "PVH64: probe");
	fx_init(&f, STD_RAM);
	int rc = load(&f, im, "console=hvc0", initrd, sizeof(initrd), 0xf0000);
	CHECK_EQ(rc, 0, "PVH64: loads (%s)", f.err);
	CHECK_EQ(f.r.kind, LINUX_IMAGE_PVH, "PVH64: kind");
	CHECK_EQ(f.r.entry, VM_ENTRY, "PVH64: entry from the note");
	CHECK_EQ(f.r.rbx, 0x7000, "PVH64: EBX = start_info");
	CHECK_EQ(f.r.rsi, 0, "PVH64: RSI 0");
	CHECK_EQ(f.r.protocol, 0, "PVH64: no boot protocol");
	CHECK_EQ(f.r.kernel_start, VM_TEXT_PA, "PVH64: kernel start");
	CHECK_EQ(f.r.kernel_end, VM_DATA_PA + VM_DATA_MEM, "PVH64: kernel end incl. bss");
	uint64_t want_initrd = (STD_RAM - sizeof(initrd)) & ~0xfffULL;
	CHECK_EQ(f.r.initrd_start, want_initrd, "PVH64: initrd at the top");
	CHECK_EQ(f.r.info_end, 0x7080 + 6 * 24, "PVH64: info end after the memmap table");
	CHECK(memcmp(gp(&f, VM_TEXT_PA, VM_TEXT_SIZE), im->b + VM_TEXT_OFF, VM_TEXT_SIZE) == 0,
	      "PVH64: text at p_paddr");
	CHECK(memcmp(gp(&f, VM_DATA_PA, VM_DATA_FILE), im->b + VM_DATA_OFF, VM_DATA_FILE) == 0,
	      "PVH64: data at p_paddr");
	CHECK(all_bytes(&f, VM_DATA_PA + VM_DATA_FILE, VM_DATA_MEM - VM_DATA_FILE, 0),
	      "PVH64: bss zeroed");
	CHECK(all_bytes(&f, VM_DATA_PA + VM_DATA_MEM, 0x1000, FILL), "PVH64: nothing after bss");
	CHECK(memcmp(gp(&f, want_initrd, sizeof(initrd)), initrd, sizeof(initrd)) == 0,
	      "PVH64: initrd bytes");
	CHECK(memcmp(gp(&f, 0x20000, 13), "console=hvc0", 13) == 0, "PVH64: cmdline at 0x20000");

	/* hvm_start_info v1, every field (start_info.h). */
	CHECK_EQ(rd32(&f, 0x7000 + 0), 0x336ec578, "start_info: magic");
	CHECK_EQ(rd32(&f, 0x7000 + 4), 1, "start_info: version 1");
	CHECK_EQ(rd32(&f, 0x7000 + 8), 0, "start_info: flags 0");
	CHECK_EQ(rd32(&f, 0x7000 + 12), 1, "start_info: nr_modules 1");
	CHECK_EQ(rd64(&f, 0x7000 + 16), 0x7040, "start_info: modlist_paddr");
	CHECK_EQ(rd64(&f, 0x7000 + 24), 0x20000, "start_info: cmdline_paddr");
	CHECK_EQ(rd64(&f, 0x7000 + 32), 0xf0000, "start_info: rsdp_paddr");
	CHECK_EQ(rd64(&f, 0x7000 + 40), 0x7080, "start_info: memmap_paddr");
	CHECK_EQ(rd32(&f, 0x7000 + 52), 0, "start_info: reserved 0");
	CHECK(all_bytes(&f, 0x7038, 8, 0), "start_info: padding up to the modlist is 0");
	CHECK_EQ(rd64(&f, 0x7040), want_initrd, "modlist[0].paddr");
	CHECK_EQ(rd64(&f, 0x7048), sizeof(initrd), "modlist[0].size");
	CHECK_EQ(rd64(&f, 0x7050), 0, "modlist[0].cmdline_paddr 0");
	CHECK_EQ(rd64(&f, 0x7058), 0, "modlist[0].reserved 0");
	check_memmap_table(&f, STD_RAM, "PVH64");
	CHECK(all_bytes(&f, 0x7080 + 6 * 24, 0x8000 - 0x7080 - 6 * 24, FILL),
	      "PVH64: nothing after the memmap table");
	CHECK(all_bytes(&f, 0, 0x7000, FILL) && all_bytes(&f, 0x8000, 0x18000, FILL),
	      "PVH64: low memory outside the info page and cmdline untouched");
	fx_fini(&f);

	/* ELF32 with a 4-byte desc; no initrd, no rsdp. */
	vm_build(im, false, VM_ENTRY + 0x10, 4);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_PVH, "PVH32: probe");
	fx_init(&f, ERR_RAM);
	rc = load(&f, im, NULL, NULL, 0, 0);
	CHECK_EQ(rc, 0, "PVH32: loads (%s)", f.err);
	CHECK_EQ(f.r.entry, VM_ENTRY + 0x10, "PVH32: entry");
	CHECK_EQ(rd32(&f, 0x7000 + 12), 0, "PVH32: nr_modules 0");
	CHECK_EQ(rd64(&f, 0x7000 + 16), 0, "PVH32: modlist_paddr 0");
	CHECK_EQ(rd64(&f, 0x7000 + 32), 0, "PVH32: rsdp_paddr 0");
	CHECK_EQ(*gp(&f, 0x20000, 1), 0, "PVH32: empty cmdline");
	CHECK(all_bytes(&f, 0x7040, 0x40, 0), "PVH32: no module entry");
	check_memmap_table(&f, ERR_RAM, "PVH32");
	CHECK(f.r.initrd_start == 0 && f.r.initrd_end == 0, "PVH32: no initrd");
	fx_fini(&f);

	/* PT_NOTE with p_align 8: notes padded to 8 bytes. */
	img_reset(im);
	{
		struct eph ph[2] = {
			{PT_LOAD, PF_R | PF_X, VM_TEXT_OFF, 0, VM_TEXT_PA, VM_TEXT_SIZE, VM_TEXT_SIZE, 0x1000},
			{PT_NOTE, PF_R, VM_NOTE_OFF, 0, 0, 40, 0, 8},
		};
		elf_build(im, true, EM_X86_64, ph, 2, VM_TEXT_OFF + VM_TEXT_SIZE);
		uint8_t *n = im->b + VM_NOTE_OFF;
		memset(n, 0, 40);
		put32(n, 2); /* "A": name padded to 8 */
		put32(n + 4, 1);
		put32(n + 8, 7);
		n[12] = 'A';
		/* Its desc is at 12 + 8 = 20 (name padded to 8), 1 byte padded
		 * to 8: the next note starts at 28 (with 4-byte padding it would
		 * be at 20). Its name "Xen" is padded to 8 too: desc at 28 + 20. */
		n = im->b + VM_NOTE_OFF + 28;
		put32(n, 4);
		put32(n + 4, 4);
		put32(n + 8, 18);
		memcpy(n + 12, "Xen", 4);
		put32(n + 20, (uint32_t)VM_TEXT_PA + 4);
		put64(ph64(im, 1, offsetof(Elf64_Phdr, p_filesz)), 28 + 24);
		fx_init(&f, ERR_RAM);
		CHECK_EQ(load(&f, im, "", NULL, 0, 0), 0, "PT_NOTE p_align 8: loads (%s)", f.err);
		CHECK_EQ(f.r.entry, VM_TEXT_PA + 4, "PT_NOTE p_align 8: entry found");
		fx_fini(&f);
	}
}

static void test_pvh_errors(struct img *im)
{
	/* Formats. */
	/* No PVH note at all: keep only the GNU build id. */
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 2, offsetof(Elf64_Phdr, p_filesz)), 12 + 4 + 20);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_UNKNOWN, "no PVH note: probe unknown");
	expect_fail(im, -ENOEXEC, "ELF64 without PVH note", "no PVH entry note", "ELF64");
	/* Notes present, but no PT_NOTE segment. */
	vm_build(im, true, VM_ENTRY, 8);
	put32(ph64(im, 2, offsetof(Elf64_Phdr, p_type)), PT_NULL);
	expect_fail(im, -ENOEXEC, "no PT_NOTE", "XEN_ELFNOTE_PHYS32_ENTRY", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put16(im->b + offsetof(Elf64_Ehdr, e_machine), 183); /* EM_AARCH64 */
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_UNKNOWN, "arm64: probe unknown");
	expect_fail(im, -ENOEXEC, "non-x86", "e_machine 183", "EM_X86_64");
	vm_build(im, false, VM_ENTRY, 4);
	put16(im->b + offsetof(Elf32_Ehdr, e_machine), EM_X86_64);
	expect_fail(im, -ENOEXEC, "ELF32 x86-64", "e_machine 62", "EM_386");
	vm_build(im, true, VM_ENTRY, 8);
	im->b[EI_CLASS] = 3;
	expect_fail(im, -ENOEXEC, "bad class", "EI_CLASS] 3", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	im->b[EI_DATA] = ELFDATA2MSB;
	expect_fail(im, -ENOEXEC, "big endian", "EI_DATA] 2", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put16(im->b + offsetof(Elf64_Ehdr, e_type), ET_DYN);
	expect_fail(im, -ENOEXEC, "ET_DYN", "e_type 3", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	im->size = 40;
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_UNKNOWN, "truncated ELF: probe unknown");
	expect_fail(im, -EINVAL, "truncated ELF header", "shorter than the 64-byte ELF64 header", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	im->size = 10;
	expect_fail(im, -EINVAL, "truncated e_ident", "shorter than e_ident", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put64(im->b + offsetof(Elf64_Ehdr, e_phoff), VM_SIZE - 8);
	expect_fail(im, -EINVAL, "phdrs past EOF", "e_phoff 0x37f8", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put16(im->b + offsetof(Elf64_Ehdr, e_phnum), 0);
	expect_fail(im, -EINVAL, "e_phnum 0", "e_phnum is 0", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put16(im->b + offsetof(Elf64_Ehdr, e_phnum), PN_XNUM);
	expect_fail(im, -EINVAL, "PN_XNUM", "PN_XNUM", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put16(im->b + offsetof(Elf64_Ehdr, e_phentsize), 32);
	expect_fail(im, -EINVAL, "e_phentsize", "e_phentsize 32", NULL);

	/* Notes. */
	vm_build(im, true, VM_ENTRY, 8);
	put32(im->b + VM_NOTE_OFF, 0x7fffffff); /* first note's namesz */
	expect_fail(im, -EINVAL, "note past p_filesz", "PT_NOTE", "n_namesz 2147483647");
	vm_build(im, true, VM_ENTRY, 2);
	expect_fail(im, -EINVAL, "PVH note descsz 2", "n_descsz 2", NULL);
	vm_build(im, true, 0x100000000ULL, 8);
	expect_fail(im, -EINVAL, "PVH entry above 4 GiB", "0x100000000", "4 GiB");
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 2, offsetof(Elf64_Phdr, p_offset)), VM_SIZE - 4);
	expect_fail(im, -EINVAL, "PT_NOTE past EOF", "program header 2 (PT_NOTE)", "past the end");
	vm_build(im, true, VM_DATA_PA + VM_DATA_FILE + 8, 8);
	expect_fail(im, -EINVAL, "entry in bss", "0x1400808", "not inside");

	/* Segments. */
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_filesz)), VM_DATA_MEM + 1);
	expect_fail(im, -EINVAL, "filesz > memsz", "program header 1: p_filesz 0x3001", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_offset)), VM_SIZE - 0x10);
	expect_fail(im, -EINVAL, "segment past EOF", "program header 1: p_offset 0x37f0", "past the end");
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_paddr)), 0xfffff000ULL);
	expect_fail(im, -EINVAL, "segment past 4 GiB", "p_paddr 0xfffff000", "4 GiB");
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_paddr)), 0x2f000);
	expect_fail(im, -EINVAL, "segment in the boot area", "boot area 0x7000-0x30000", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_paddr)), 0xf1000);
	expect_fail(im, -EINVAL, "segment in the BIOS area", "overlaps reserved 0xf0000-0x100000", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_paddr)), VM_TEXT_PA + 0x1000);
	expect_fail(im, -EINVAL, "overlapping segments", "overlaps program header 0", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_paddr)), 0x3000000);
	expect_fail(im, -E2BIG, "segment beyond RAM", "p_paddr 0x3000000", "low RAM ends at 0x2000000");
	vm_build(im, true, VM_ENTRY, 8);
	put64(ph64(im, 0, offsetof(Elf64_Phdr, p_memsz)), 0);
	put64(ph64(im, 1, offsetof(Elf64_Phdr, p_memsz)), 0);
	expect_fail(im, -EINVAL, "no PT_LOAD", "PT_LOAD with p_memsz > 0", NULL);
	vm_build(im, true, VM_ENTRY, 8);
	expect_fail_ex(im, ERR_RAM, "", 12 * MIB, -E2BIG, "PVH initrd too big",
		       "initrd (0xc00000 bytes)", "kernel end 0x1403000");
	char *big = malloc(LINUX_CMDLINE_MAX + 1);
	if (!big)
		abort();
	memset(big, 'z', LINUX_CMDLINE_MAX);
	big[LINUX_CMDLINE_MAX] = '\0';
	expect_fail_ex(im, ERR_RAM, big, 0, -EINVAL, "PVH cmdline too long", "65536 bytes", NULL);
	big[LINUX_CMDLINE_MAX - 1] = '\0';
	{
		struct fx f;
		fx_init(&f, ERR_RAM);
		CHECK_EQ(load(&f, im, big, NULL, 0, 0), 0, "PVH cmdline of 65535 chars: loads (%s)", f.err);
		CHECK_EQ(f.r.cmdline_end, 0x30000, "PVH cmdline of 65535 chars: fills the buffer");
		fx_fini(&f);
	}
	free(big);
}

static void test_probe(struct img *im)
{
	CHECK_EQ(linux_probe(NULL, 100), LINUX_IMAGE_UNKNOWN, "probe: NULL");
	img_reset(im);
	CHECK_EQ(linux_probe(im->b, 0), LINUX_IMAGE_UNKNOWN, "probe: empty");
	CHECK_EQ(linux_probe(im->b, 0x1000), LINUX_IMAGE_UNKNOWN, "probe: zeroes");
	memcpy(im->b + 0x202, "HdrS", 4);
	CHECK_EQ(linux_probe(im->b, 0x207), LINUX_IMAGE_UNKNOWN, "probe: version cut short");
	CHECK_EQ(linux_probe(im->b, 0x208), LINUX_IMAGE_BZIMAGE, "probe: HdrS + version is enough");
	/* A Multiboot-style ELF32 without the note. */
	struct eph ph[1] = {{PT_LOAD, PF_R | PF_X, 0x1000, 0x100000, 0x100000, 0x100, 0x100, 0x1000}};
	elf_build(im, false, EM_386, ph, 1, 0x1100);
	CHECK_EQ(linux_probe(im->b, im->size), LINUX_IMAGE_UNKNOWN, "probe: ELF32 without note");
}

/* ----------------------------------------------------- CPU state helpers */

/* Decodes a GDT code/data descriptor (SDM Vol. 3A 3.4.5). */
static struct vm_segment decode(uint64_t d, uint16_t sel)
{
	uint32_t limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 48) & 0xf) << 16;
	struct vm_segment s = {
		.base = ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24,
		.selector = sel,
		.type = (uint8_t)((d >> 40) & 0xf),
		.s = (uint8_t)((d >> 44) & 1),
		.dpl = (uint8_t)((d >> 45) & 3),
		.present = (uint8_t)((d >> 47) & 1),
		.l = (uint8_t)((d >> 53) & 1),
		.db = (uint8_t)((d >> 54) & 1),
		.g = (uint8_t)((d >> 55) & 1),
	};
	s.limit = s.g ? limit << 12 | 0xfff : limit;
	return s;
}

static bool same_seg(struct vm_segment a, struct vm_segment b)
{
	return a.base == b.base && a.limit == b.limit && a.selector == b.selector && a.type == b.type &&
	       a.s == b.s && a.dpl == b.dpl && a.present == b.present && a.db == b.db && a.l == b.l &&
	       a.g == b.g;
}

static void test_long_mode(void)
{
	struct fx f;
	struct vm_boot_cpu st;
	fx_init(&f, STD_RAM);
	memset(&st, 0x55, sizeof(st));
	CHECK_EQ(linux_build_long_mode(&f.m, LINUX_TABLES_ADDR, &st), 0, "long mode: builds");
	CHECK_EQ(st.cr0, 0x80000011ULL, "long mode: CR0 = PG|ET|PE");
	CHECK_EQ(st.cr3, 0xA000, "long mode: CR3 = PML4 at base + 0x1000");
	CHECK_EQ(st.cr4, 0x20, "long mode: CR4 = PAE");
	CHECK_EQ(st.efer, 0x500, "long mode: EFER = LME|LMA");
	CHECK_EQ(st.gdt_base, 0x9000, "long mode: GDT base");
	CHECK_EQ(st.gdt_limit, 47, "long mode: GDT limit (6 entries)");
	CHECK_EQ(st.rflags, 2, "long mode: RFLAGS 0x2");
	CHECK_EQ(rd64(&f, 0x9000), 0, "GDT[0] null");
	CHECK_EQ(rd64(&f, 0x9008), 0x00cf9b000000ffffULL, "GDT[1] 32-bit code");
	CHECK_EQ(rd64(&f, 0x9010), 0x00af9b000000ffffULL, "GDT[2] 64-bit code (__BOOT_CS 0x10)");
	CHECK_EQ(rd64(&f, 0x9018), 0x00cf93000000ffffULL, "GDT[3] data (__BOOT_DS 0x18)");
	CHECK_EQ(rd64(&f, 0x9020), 0x00008b0000000067ULL, "GDT[4] busy TSS, limit 0x67");
	CHECK_EQ(rd64(&f, 0x9028), 0, "GDT[5] TSS high half");
	CHECK(same_seg(st.cs, decode(rd64(&f, 0x9010), 0x10)), "long mode: CS matches GDT[2]");
	CHECK(st.cs.l == 1 && st.cs.db == 0 && st.cs.selector == 0x10, "long mode: CS 64-bit, 0x10");
	CHECK(same_seg(st.ds, decode(rd64(&f, 0x9018), 0x18)), "long mode: DS matches GDT[3]");
	CHECK(st.ds.type == 3 && st.ds.limit == 0xffffffffu && st.ds.db == 1,
	      "long mode: DS flat read/write");
	CHECK(st.tr.selector == 0x20 && st.tr.type == 0xb && st.tr.s == 0 && st.tr.present == 1 &&
		      st.tr.limit == 0x67 && st.tr.base == 0,
	      "long mode: TR busy TSS 0x20, base 0, limit 0x67");
	CHECK_EQ(rd64(&f, 0xA000), 0xB003, "PML4[0] -> PDPT, present|writable");
	CHECK(all_bytes(&f, 0xA008, 0xff8, 0), "PML4[1..511] empty");
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(rd64(&f, 0xB000 + 8 * i), (0xC000 + 0x1000 * i) | 3, "PDPT[%u] -> PD %u", i, i);
	CHECK(all_bytes(&f, 0xB020, 0xfe0, 0), "PDPT[4..511] empty");
	unsigned bad = 0;
	for (uint64_t j = 0; j < 2048; j++)
		if (rd64(&f, 0xC000 + 8 * j) != (j << 21 | 0x83))
			bad++;
	CHECK_EQ(bad, 0, "PD entries: 2048 x 2 MiB identity pages, present|writable|PS");
	CHECK_EQ(rd64(&f, 0xFFF8), (2047ULL << 21) | 0x83, "last PD entry maps 4 GiB - 2 MiB");
	CHECK(*gp(&f, 0x8fff, 1) == FILL && *gp(&f, 0x10000, 1) == FILL,
	      "long mode: only [0x9000, 0x10000) written");

	memset(f.host, FILL, f.ram);
	CHECK_EQ(linux_build_long_mode(&f.m, 0x9100, &st), -EINVAL, "long mode: unaligned base");
	CHECK_EQ(linux_build_long_mode(&f.m, STD_RAM - 0x1000, &st), -EFAULT,
		 "long mode: base past RAM");
	CHECK_EQ(linux_build_long_mode(&f.m, 0xFFFFC000ULL, &st), -EINVAL, "long mode: crosses 4 GiB");
	CHECK_EQ(linux_build_long_mode(&f.m, 0x9000, NULL), -EINVAL, "long mode: NULL state");
	CHECK_EQ(linux_build_long_mode(NULL, 0x9000, &st), -EINVAL, "long mode: NULL memory");
	CHECK(untouched(&f), "long mode: errors write nothing");

	memset(&st, 0x55, sizeof(st));
	CHECK_EQ(linux_build_prot_mode(&f.m, LINUX_TABLES_ADDR, &st), 0, "prot mode: builds");
	CHECK_EQ(st.cr0, 0x11, "prot mode: CR0 = ET|PE, paging off");
	CHECK(st.cr3 == 0 && st.cr4 == 0 && st.efer == 0, "prot mode: CR3, CR4, EFER 0");
	CHECK(same_seg(st.cs, decode(rd64(&f, 0x9008), 0x08)), "prot mode: CS matches GDT[1]");
	CHECK(st.cs.db == 1 && st.cs.l == 0 && st.cs.limit == 0xffffffffu && st.cs.base == 0,
	      "prot mode: CS flat 32-bit");
	CHECK(same_seg(st.ds, decode(rd64(&f, 0x9018), 0x18)), "prot mode: DS matches GDT[3]");
	CHECK(st.tr.type == 0xb && st.tr.limit == 0x67 && st.tr.base == 0,
	      "prot mode: TR 32-bit busy TSS, base 0, limit 0x67 (start_info.h)");
	CHECK_EQ(st.rflags, 2, "prot mode: RFLAGS 0x2");
	CHECK_EQ(rd64(&f, 0x9010), 0x00af9b000000ffffULL, "prot mode: same GDT");
	CHECK(*gp(&f, 0xA000, 1) == FILL, "prot mode: only [0x9000, 0xA000) written");
	fx_fini(&f);
}

int main(void)
{
	struct img im;
	img_init(&im);
	test_bz_standard(&im);
	test_bz_variants(&im);
	test_bz_highmem(&im);
	test_bz_errors(&im);
	test_pvh_standard(&im);
	test_pvh_errors(&im);
	test_probe(&im);
	test_long_mode();
	free(im.b);
	return tap_done();
}
