/* linux.c: Linux x86 loader: bzImage via the 64-bit boot protocol, ELF vmlinux via PVH (loaders/linux.h). */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "loaders/bytes.h"
#include "loaders/linux.h"
#include "loaders/memmap.h"

#define LX_PAGE 0x1000ULL
#define LX_ONE_MIB 0x100000ULL
#define LX_FOUR_GIB 0x100000000ULL
#define LX_SECTOR 512u
#define LX_JMP_SHORT 0xEBu             /* boot.rst "jump": 0xEB, signed offset from 0x202 */
#define LX_MAX_KERNEL_ALIGN 0x40000000u /* 1 GiB: anything larger is nonsense */
#define LX_NOTE_HDR 12u                 /* n_namesz, n_descsz, n_type */

/* Control register and EFER bits (SDM Vol. 3A 2.5, 2.2.1). */
#define LX_CR0_PE (1ULL << 0)
#define LX_CR0_ET (1ULL << 4) /* hard-wired to 1 since the P6 */
#define LX_CR0_PG (1ULL << 31)
#define LX_CR4_PAE (1ULL << 5)
#define LX_EFER_LME (1ULL << 8)
#define LX_EFER_LMA (1ULL << 10)
#define LX_RFLAGS_FIXED 0x2ULL /* bit 1 always reads 1 */

/* Paging entries (SDM Vol. 3A 4.5): present, writable, 2 MiB page. */
#define LX_PTE_P (1ULL << 0)
#define LX_PTE_RW (1ULL << 1)
#define LX_PTE_PS (1ULL << 7)
#define LX_PD_PAGES 4 /* 4 x 512 x 2 MiB = 4 GiB */

/* Descriptors of hyve's boot GDT (SDM Vol. 3A 3.4.5, 7.2.3 for the TSS;
 * the same selectors as Linux's own boot GDT, arch/x86/boot/compressed/head_64.S). */
static const uint64_t lx_gdt[LINUX_GDT_ENTRIES] = {
	0,                     /* null */
	0x00cf9b000000ffffULL, /* 0x08: code, 32-bit (D=1), flat 4 GiB, accessed */
	0x00af9b000000ffffULL, /* 0x10: code, 64-bit (L=1), flat, accessed: __BOOT_CS */
	0x00cf93000000ffffULL, /* 0x18: data, read/write, flat, accessed: __BOOT_DS */
	0x00008b0000000067ULL, /* 0x20: busy TSS, base 0, limit 0x67 (low half) */
	0,                     /* 0x28: high half of the 16-byte TSS descriptor (base 63:32 = 0) */
};

/* Everything one load reads; lives on linux_load's stack. */
struct lx_ctx {
	const struct linux_load_params *p; /* caller's, read-only */
	const uint8_t *img;
	uint64_t size;
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	unsigned nmap;
	uint64_t low_top; /* end of the highest RAM entry below 4 GiB */
	char *err;        /* NULL: quiet (linux_probe) */
	size_t errlen;
};

/* One ELF PT_LOAD segment to copy: filesz bytes from the file, then zeroes
 * up to memsz. */
struct lx_seg {
	uint64_t off, filesz, paddr, memsz;
	unsigned idx; /* program header index, for messages */
};

/* What a load decided; guest memory is written only from this. */
struct lx_plan {
	enum linux_image_kind kind;
	uint64_t entry;
	uint16_t protocol;
	/* bzImage */
	uint32_t hdr_end;   /* end of the setup header: 0x202 + jump offset */
	uint64_t code_off;  /* file offset of the protected-mode code */
	uint64_t code_size; /* bytes of it hyve copies */
	uint64_t load;      /* where it goes */
	/* PVH */
	struct lx_seg seg[LINUX_MAX_SEGMENTS];
	unsigned nseg;
	/* both */
	uint64_t kstart, kend;
	uint64_t cmdline_len; /* bytes without the NUL */
	uint64_t initrd_start;
	uint64_t info_end;
};

/* The ELF header fields both classes share, widened. */
struct lx_elf {
	bool is64;
	uint64_t phoff;
	unsigned phnum, phentsize;
};

struct lx_phdr {
	uint32_t type, flags;
	uint64_t off, vaddr, paddr, filesz, memsz, align;
};

/* One error line into c->err, and guest writes that report their failure
 * there (loaders/bytes.h). */
#define lx_fail(c, ...) loader_fail((c)->err, (c)->errlen, __VA_ARGS__)
#define lx_put(c, ...) loader_put((c)->err, (c)->errlen, __VA_ARGS__)
#define lx_zero(c, ...) loader_zero((c)->err, (c)->errlen, __VA_ARGS__)

static uint64_t lx_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t lx_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static bool lx_overlap(uint64_t b1, uint64_t e1, uint64_t b2, uint64_t e2)
{
	return b1 < e2 && b2 < e1;
}

/* Checks that [base, base + len) lies in one RAM entry of the memory map;
 * otherwise fails with "<what> is not in guest RAM (<why>)": -E2BIG when
 * more RAM would fix it, else -EINVAL (same rules as loaders/multiboot.c). */
static int lx_need_ram(struct lx_ctx *c, uint64_t base, uint64_t len, const char *what)
{
	if (memmap_is_ram(c->map, c->nmap, base, len))
		return 0;
	uint64_t end = len > UINT64_MAX - base ? UINT64_MAX : base + len;
	for (unsigned i = 0; i < c->nmap; i++) {
		const struct memmap_entry *e = &c->map[i];
		if (e->type != MEMMAP_RAM && lx_overlap(base, end, e->base, e->base + e->len))
			return lx_fail(c, -EINVAL,
				       "%s is not in guest RAM (overlaps reserved 0x%llx-0x%llx)", what,
				       (unsigned long long)e->base,
				       (unsigned long long)(e->base + e->len));
	}
	if (end > c->low_top)
		return lx_fail(c, end <= GMEM_LOWMEM_LIMIT ? -E2BIG : -EINVAL,
			       "%s is not in guest RAM (guest low RAM ends at 0x%llx)", what,
			       (unsigned long long)c->low_top);
	uint64_t hole = base;
	for (unsigned i = 0; i < c->nmap; i++) {
		const struct memmap_entry *e = &c->map[i];
		if (e->type == MEMMAP_RAM && e->base <= base && base < e->base + e->len)
			hole = e->base + e->len;
	}
	return lx_fail(c, -EINVAL, "%s is not in guest RAM (no RAM at 0x%llx)", what,
		       (unsigned long long)hole);
}

/* The initrd goes as high as allowed, page aligned (what QEMU's
 * x86_load_linux does: initrd_addr = (initrd_max - initrd_size) & ~4095),
 * above the kernel. limit is the first byte it may not occupy. */
static int lx_place_initrd(struct lx_ctx *c, struct lx_plan *pl, uint64_t limit,
			   const char *limit_name)
{
	uint64_t size = c->p->initrd_size;
	char what[160];

	pl->initrd_start = 0;
	if (size == 0)
		return 0;
	uint64_t top = lx_min(lx_min(c->low_top, limit), LX_FOUR_GIB);
	const char *why = top == limit ? limit_name : "the end of low RAM";
	uint64_t start = size > top ? 0 : (top - size) & ~(LX_PAGE - 1);
	if (size > top || start < pl->kend)
		return lx_fail(c, -E2BIG,
			       "initrd (0x%llx bytes) does not fit between the kernel end 0x%llx and "
			       "0x%llx (%s)",
			       (unsigned long long)size, (unsigned long long)pl->kend,
			       (unsigned long long)top, why);
	snprintf(what, sizeof(what), "initrd 0x%llx-0x%llx", (unsigned long long)start,
		 (unsigned long long)(start + size));
	int rc = lx_need_ram(c, start, size, what);
	if (rc)
		return rc;
	pl->initrd_start = start;
	return 0;
}

/* The command line buffer at LINUX_CMDLINE_ADDR; max is the longest string
 * the kernel accepts (bzImage: cmdline_size, boot.rst "The Kernel Command Line"). */
static int lx_plan_cmdline(struct lx_ctx *c, struct lx_plan *pl, uint64_t max, const char *max_name)
{
	const char *s = c->p->cmdline ? c->p->cmdline : "";
	size_t len = strlen(s);

	if (len > max)
		return lx_fail(c, -EINVAL, "command line is %zu bytes, longer than %s %llu", len,
			       max_name, (unsigned long long)max);
	if (len >= LINUX_CMDLINE_MAX)
		return lx_fail(c, -EINVAL,
			       "command line is %zu bytes, longer than hyve's buffer at 0x%llx (%llu "
			       "bytes with the NUL)",
			       len, LINUX_CMDLINE_ADDR, LINUX_CMDLINE_MAX);
	pl->cmdline_len = len;
	int rc = lx_need_ram(c, LINUX_INFO_ADDR, LINUX_INFO_SIZE, "boot information page 0x7000");
	if (!rc)
		rc = lx_need_ram(c, LINUX_CMDLINE_ADDR, len + 1, "command line at 0x20000");
	return rc;
}

/* ---------------------------------------------------------------- bzImage */

/* boot.rst "The Real-Mode Kernel Header" and "64-bit Boot Protocol". */
static int lx_plan_bzimage(struct lx_ctx *c, struct lx_plan *pl)
{
	const uint8_t *b = c->img;
	char what[160];

	/* c->size >= LINUX_HDR_VERSION + 2: "HdrS" was found at 0x202. */
	uint32_t boot_flag = le_ld16(b + LINUX_HDR_BOOT_FLAG);
	if (boot_flag != LINUX_BOOT_FLAG)
		return lx_fail(c, -ENOEXEC, "bzImage setup header: boot_flag 0x%04x is not 0xaa55",
			       boot_flag);
	uint32_t version = le_ld16(b + LINUX_HDR_VERSION);
	if (version < LINUX_MIN_PROTOCOL)
		return lx_fail(c, -ENOEXEC,
			       "bzImage setup header: version 0x%04x (boot protocol %u.%02u) is older "
			       "than 2.12: no xloadflags, no 64-bit entry point",
			       version, version >> 8, version & 0xff);
	/* boot.rst "jump": the header ends at 0x202 + the jump's offset;
	 * it must hold every field up to init_size and fit the zero page's
	 * hole for it (0x1f1-0x290, bootparam.h). */
	uint32_t jump = le_ld16(b + LINUX_HDR_JUMP);
	int32_t rel = (int8_t)(uint8_t)(jump >> 8);
	int64_t hdr_end = LINUX_HDR_HEADER + (int64_t)rel;
	if ((jump & 0xff) != LX_JMP_SHORT || hdr_end < LINUX_HDR_MIN_END ||
	    hdr_end > LINUX_BP_HDR_LIMIT)
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: jump 0x%04x does not end the header between "
			       "0x%x and 0x%x (want 0xEB then an offset from 0x202)",
			       jump, LINUX_HDR_MIN_END, LINUX_BP_HDR_LIMIT);
	pl->hdr_end = (uint32_t)hdr_end;
	if (c->size < pl->hdr_end)
		return lx_fail(c, -EINVAL,
			       "bzImage: file is 0x%llx bytes, shorter than its setup header (ends at "
			       "0x%x)",
			       (unsigned long long)c->size, pl->hdr_end);
	uint32_t setup_sects = b[LINUX_HDR_SETUP_SECTS];
	uint32_t sects = setup_sects ? setup_sects : 4; /* boot.rst: 0 means 4 */
	uint64_t setup_size = (uint64_t)(sects + 1) * LX_SECTOR;
	if (setup_size >= c->size)
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: setup_sects %u puts the protected-mode code at "
			       "0x%llx, at or past the end of the file (0x%llx bytes)",
			       setup_sects, (unsigned long long)setup_size, (unsigned long long)c->size);
	uint32_t loadflags = b[LINUX_HDR_LOADFLAGS];
	if (!(loadflags & LINUX_LF_LOADED_HIGH))
		return lx_fail(c, -ENOEXEC,
			       "bzImage setup header: loadflags 0x%02x lacks LOADED_HIGH (bit 0): a "
			       "zImage, not a bzImage",
			       loadflags);
	uint32_t xloadflags = le_ld16(b + LINUX_HDR_XLOADFLAGS);
	if (!(xloadflags & LINUX_XLF_KERNEL_64))
		return lx_fail(c, -ENOEXEC,
			       "bzImage setup header: xloadflags 0x%04x lacks XLF_KERNEL_64 (bit 0): no "
			       "64-bit entry point (a 32-bit kernel?)",
			       xloadflags);

	/* syssize counts 16-byte paragraphs; arch/x86/boot/tools/build.c
	 * rounds up, so it may exceed the file by up to 15 bytes. */
	uint32_t syssize = le_ld32(b + LINUX_HDR_SYSSIZE);
	uint64_t avail = c->size - setup_size;
	uint64_t sys_bytes = (uint64_t)syssize * 16;
	if (syssize == 0 || sys_bytes > ((avail + 15) & ~15ULL))
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: syssize 0x%x (0x%llx bytes of protected-mode "
			       "code) does not match the 0x%llx bytes after the setup sectors "
			       "(truncated image?)",
			       syssize, (unsigned long long)sys_bytes, (unsigned long long)avail);
	pl->code_off = setup_size;
	pl->code_size = lx_min(avail, sys_bytes);
	if (pl->code_size <= LINUX_ENTRY64_OFFSET)
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: syssize 0x%x: the protected-mode code (0x%llx "
			       "bytes) does not reach the 64-bit entry point at +0x200",
			       syssize, (unsigned long long)pl->code_size);

	/* Where the kernel runs (boot.rst "init_size", "pref_address",
	 * "relocatable_kernel"): a relocatable kernel at pref_address rounded
	 * up to kernel_alignment, else exactly at pref_address. */
	uint32_t relocatable = b[LINUX_HDR_RELOCATABLE];
	uint32_t align = le_ld32(b + LINUX_HDR_KERNEL_ALIGNMENT);
	uint64_t pref = le_ld64(b + LINUX_HDR_PREF_ADDRESS);
	uint32_t init_size = le_ld32(b + LINUX_HDR_INIT_SIZE);
	if (relocatable && (align < LX_PAGE || align > LX_MAX_KERNEL_ALIGN || (align & (align - 1))))
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: kernel_alignment 0x%x is not a power of two "
			       "between 4 KiB and 1 GiB",
			       align);
	if (init_size == 0)
		return lx_fail(c, -EINVAL, "bzImage setup header: init_size is 0");
	uint64_t load, runtime;
	if (relocatable) {
		load = pref >= LX_ONE_MIB && pref < LX_FOUR_GIB ? pref : LINUX_KERNEL_ADDR;
		runtime = (load + align - 1) & ~((uint64_t)align - 1);
	} else {
		if (pref < LX_ONE_MIB || pref >= LX_FOUR_GIB)
			return lx_fail(c, -EINVAL,
				       "bzImage setup header: pref_address 0x%llx is not between 1 MiB "
				       "and 4 GiB and relocatable_kernel is 0",
				       (unsigned long long)pref);
		load = runtime = pref;
	}
	/* load < 4 GiB and runtime < 4 GiB + 1 GiB: no overflow below. */
	pl->load = load;
	pl->kstart = load;
	pl->kend = lx_max(load + pl->code_size, runtime + init_size);
	if (pl->kend > LX_FOUR_GIB)
		return lx_fail(c, -EINVAL,
			       "bzImage setup header: pref_address 0x%llx + init_size 0x%x ends past "
			       "4 GiB (hyve identity-maps only the first 4 GiB)",
			       (unsigned long long)pref, init_size);
	snprintf(what, sizeof(what),
		 "bzImage kernel 0x%llx-0x%llx (pref_address 0x%llx, init_size 0x%x)",
		 (unsigned long long)pl->kstart, (unsigned long long)pl->kend,
		 (unsigned long long)pref, init_size);
	int rc = lx_need_ram(c, pl->kstart, pl->kend - pl->kstart, what);
	if (rc)
		return rc;

	uint32_t cmdline_size = le_ld32(b + LINUX_HDR_CMDLINE_SIZE);
	rc = lx_plan_cmdline(c, pl, cmdline_size, "the kernel's cmdline_size");
	if (rc)
		return rc;

	/* boot.rst "initrd_addr_max" is the highest byte the initrd may use.
	 * A kernel that can take it above 4 GiB does not bound it below 4 GiB
	 * (QEMU x86_load_linux: initrd_max = UINT32_MAX then). */
	char name[64];
	uint32_t initrd_addr_max = le_ld32(b + LINUX_HDR_INITRD_ADDR_MAX);
	uint64_t limit = (uint64_t)initrd_addr_max + 1;
	snprintf(name, sizeof(name), "initrd_addr_max 0x%x", initrd_addr_max);
	if (xloadflags & LINUX_XLF_CAN_BE_LOADED_ABOVE_4G) {
		limit = LX_FOUR_GIB;
		snprintf(name, sizeof(name), "4 GiB");
	}
	rc = lx_place_initrd(c, pl, limit, name);
	if (rc)
		return rc;

	pl->kind = LINUX_IMAGE_BZIMAGE;
	pl->protocol = (uint16_t)version;
	pl->entry = load + LINUX_ENTRY64_OFFSET;
	pl->info_end = LINUX_INFO_ADDR + LINUX_BP_SIZE;
	return 0;
}

/* The zero page (zero-page.rst): zeroed, the image's setup header copied
 * (boot.rst "64-bit Boot Protocol"), then the fields a loader writes. */
static void lx_build_zero_page(struct lx_ctx *c, const struct lx_plan *pl, uint8_t *bp)
{
	memset(bp, 0, LINUX_BP_SIZE);
	memcpy(bp + LINUX_BP_HDR, c->img + LINUX_BP_HDR, pl->hdr_end - LINUX_BP_HDR);
	bp[LINUX_HDR_TYPE_OF_LOADER] = LINUX_LOADER_UNDEFINED;
	bp[LINUX_HDR_LOADFLAGS] |= LINUX_LF_CAN_USE_HEAP | LINUX_LF_KEEP_SEGMENTS;
	le_st16(bp + LINUX_HDR_HEAP_END_PTR, LINUX_HEAP_END_PTR);
	/* boot.rst "code32_start": a loader that puts a relocatable kernel
	 * elsewhere than 0x100000 points it at the load address. */
	le_st32(bp + LINUX_HDR_CODE32_START, (uint32_t)pl->load);
	le_st32(bp + LINUX_HDR_RAMDISK_IMAGE, (uint32_t)pl->initrd_start);
	le_st32(bp + LINUX_HDR_RAMDISK_SIZE, (uint32_t)c->p->initrd_size);
	le_st32(bp + LINUX_HDR_CMD_LINE_PTR, (uint32_t)LINUX_CMDLINE_ADDR);
	le_st64(bp + LINUX_HDR_SETUP_DATA, 0); /* no setup_data list */
	le_st64(bp + LINUX_BP_ACPI_RSDP_ADDR, c->p->rsdp_addr);
	bp[LINUX_BP_E820_ENTRIES] = (uint8_t)c->nmap;
	for (unsigned i = 0; i < c->nmap; i++) {
		uint8_t *e = bp + LINUX_BP_E820_TABLE + i * LINUX_BP_E820_ENTRY_SIZE;
		le_st64(e, c->map[i].base);
		le_st64(e + 8, c->map[i].len);
		le_st32(e + 16, c->map[i].type);
	}
}

/* -------------------------------------------------------------------- ELF */

/* ELF header (ELF gABI "ELF Header"; x86-64 psABI for EM_X86_64). */
static int lx_elf_header(struct lx_ctx *c, struct lx_elf *e)
{
	const uint8_t *b = c->img;

	if (c->size < EI_NIDENT)
		return lx_fail(c, -EINVAL, "ELF header: file is 0x%llx bytes, shorter than e_ident",
			       (unsigned long long)c->size);
	if (b[EI_CLASS] != ELFCLASS32 && b[EI_CLASS] != ELFCLASS64)
		return lx_fail(c, -ENOEXEC,
			       "ELF header: e_ident[EI_CLASS] %u is neither ELFCLASS32 (1) nor "
			       "ELFCLASS64 (2)",
			       b[EI_CLASS]);
	if (b[EI_DATA] != ELFDATA2LSB)
		return lx_fail(c, -ENOEXEC, "ELF header: e_ident[EI_DATA] %u is not ELFDATA2LSB (1)",
			       b[EI_DATA]);
	e->is64 = b[EI_CLASS] == ELFCLASS64;
	size_t ehsize = e->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (c->size < ehsize)
		return lx_fail(c, -EINVAL,
			       "ELF header: file is 0x%llx bytes, shorter than the %zu-byte ELF%s header",
			       (unsigned long long)c->size, ehsize, e->is64 ? "64" : "32");
	/* e_type and e_machine sit at the same offsets in both classes. */
	uint32_t e_type = le_ld16(b + offsetof(Elf64_Ehdr, e_type));
	uint32_t e_machine = le_ld16(b + offsetof(Elf64_Ehdr, e_machine));
	uint32_t want = e->is64 ? EM_X86_64 : EM_386;
	if (e_machine != want)
		return lx_fail(c, -ENOEXEC, "ELF header: e_machine %u is not %s for an ELFCLASS%s image",
			       e_machine, e->is64 ? "EM_X86_64 (62)" : "EM_386 (3)",
			       e->is64 ? "64" : "32");
	if (e_type != ET_EXEC)
		return lx_fail(c, -ENOEXEC, "ELF header: e_type %u is not ET_EXEC (2)", e_type);
	if (e->is64) {
		e->phoff = le_ld64(b + offsetof(Elf64_Ehdr, e_phoff));
		e->phentsize = le_ld16(b + offsetof(Elf64_Ehdr, e_phentsize));
		e->phnum = le_ld16(b + offsetof(Elf64_Ehdr, e_phnum));
	} else {
		e->phoff = le_ld32(b + offsetof(Elf32_Ehdr, e_phoff));
		e->phentsize = le_ld16(b + offsetof(Elf32_Ehdr, e_phentsize));
		e->phnum = le_ld16(b + offsetof(Elf32_Ehdr, e_phnum));
	}
	size_t phsize = e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (e->phnum == 0)
		return lx_fail(c, -EINVAL, "ELF header: e_phnum is 0 (no program headers)");
	if (e->phnum == PN_XNUM)
		return lx_fail(c, -EINVAL,
			       "ELF header: e_phnum 0x%x (PN_XNUM extended numbering) is not supported",
			       e->phnum);
	if (e->phentsize < phsize)
		return lx_fail(c, -EINVAL, "ELF header: e_phentsize %u is smaller than an Elf%s_Phdr (%zu)",
			       e->phentsize, e->is64 ? "64" : "32", phsize);
	uint64_t ph_bytes = (uint64_t)e->phnum * e->phentsize; /* < 2^32 */
	if (e->phoff > c->size || ph_bytes > c->size - e->phoff)
		return lx_fail(c, -EINVAL,
			       "ELF header: e_phoff 0x%llx + e_phnum %u * e_phentsize %u runs past the "
			       "end of the file (0x%llx bytes)",
			       (unsigned long long)e->phoff, e->phnum, e->phentsize,
			       (unsigned long long)c->size);
	return 0;
}

/* Program header i, widened (inside the file: checked by lx_elf_header). */
static void lx_phdr(const struct lx_ctx *c, const struct lx_elf *e, unsigned i, struct lx_phdr *ph)
{
	const uint8_t *p = c->img + e->phoff + (uint64_t)i * e->phentsize;
	if (e->is64) {
		ph->type = le_ld32(p + offsetof(Elf64_Phdr, p_type));
		ph->flags = le_ld32(p + offsetof(Elf64_Phdr, p_flags));
		ph->off = le_ld64(p + offsetof(Elf64_Phdr, p_offset));
		ph->vaddr = le_ld64(p + offsetof(Elf64_Phdr, p_vaddr));
		ph->paddr = le_ld64(p + offsetof(Elf64_Phdr, p_paddr));
		ph->filesz = le_ld64(p + offsetof(Elf64_Phdr, p_filesz));
		ph->memsz = le_ld64(p + offsetof(Elf64_Phdr, p_memsz));
		ph->align = le_ld64(p + offsetof(Elf64_Phdr, p_align));
	} else {
		ph->type = le_ld32(p + offsetof(Elf32_Phdr, p_type));
		ph->flags = le_ld32(p + offsetof(Elf32_Phdr, p_flags));
		ph->off = le_ld32(p + offsetof(Elf32_Phdr, p_offset));
		ph->vaddr = le_ld32(p + offsetof(Elf32_Phdr, p_vaddr));
		ph->paddr = le_ld32(p + offsetof(Elf32_Phdr, p_paddr));
		ph->filesz = le_ld32(p + offsetof(Elf32_Phdr, p_filesz));
		ph->memsz = le_ld32(p + offsetof(Elf32_Phdr, p_memsz));
		ph->align = le_ld32(p + offsetof(Elf32_Phdr, p_align));
	}
}

/* Walks the notes of one PT_NOTE segment (ELF gABI "Note Section": namesz,
 * descsz, type, then name and desc each padded to the segment's alignment:
 * 4 bytes, or 8 when p_align says 8) for XEN_ELFNOTE_PHYS32_ENTRY, name
 * "Xen" (xen/include/public/elfnote.h). Its desc is the 32-bit physical
 * entry, stored as 4 bytes, or as 8 by Linux's _ASM_PTR on x86-64
 * (arch/x86/platform/pvh/head.S). 1 = found, 0 = not here, < 0 = error. */
static int lx_scan_notes(struct lx_ctx *c, unsigned i, const struct lx_phdr *ph, uint64_t *entry)
{
	if (ph->off > c->size || ph->filesz > c->size - ph->off)
		return lx_fail(c, -EINVAL,
			       "ELF program header %u (PT_NOTE): p_offset 0x%llx + p_filesz 0x%llx is "
			       "past the end of the file (0x%llx bytes)",
			       i, (unsigned long long)ph->off, (unsigned long long)ph->filesz,
			       (unsigned long long)c->size);
	const uint8_t *n = c->img + ph->off;
	uint64_t a = ph->align == 8 ? 8 : 4;
	uint64_t pos = 0;
	while (ph->filesz - pos >= LX_NOTE_HDR) {
		uint64_t namesz = le_ld32(n + pos), descsz = le_ld32(n + pos + 4);
		uint32_t type = le_ld32(n + pos + 8);
		uint64_t name = pos + LX_NOTE_HDR;
		uint64_t desc = name + ((namesz + a - 1) & ~(a - 1)); /* < 2^36: no overflow */
		if (desc > ph->filesz || descsz > ph->filesz - desc)
			return lx_fail(c, -EINVAL,
				       "ELF program header %u (PT_NOTE): note at offset 0x%llx "
				       "(n_namesz %llu, n_descsz %llu) runs past p_filesz 0x%llx",
				       i, (unsigned long long)pos, (unsigned long long)namesz,
				       (unsigned long long)descsz, (unsigned long long)ph->filesz);
		if (type == LINUX_XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(n + name, "Xen", 4) == 0) {
			if (descsz != 4 && descsz != 8)
				return lx_fail(c, -EINVAL,
					       "ELF program header %u: PVH note XEN_ELFNOTE_PHYS32_ENTRY "
					       "has n_descsz %llu, not 4 or 8",
					       i, (unsigned long long)descsz);
			uint64_t v = descsz == 4 ? le_ld32(n + desc) : le_ld64(n + desc);
			if (v >= LX_FOUR_GIB)
				return lx_fail(c, -EINVAL,
					       "ELF program header %u: PVH note XEN_ELFNOTE_PHYS32_ENTRY "
					       "0x%llx is not below 4 GiB",
					       i, (unsigned long long)v);
			*entry = v;
			return 1;
		}
		pos = desc + ((descsz + a - 1) & ~(a - 1));
		if (pos > ph->filesz)
			break;
	}
	return 0;
}

static int lx_find_pvh_entry(struct lx_ctx *c, const struct lx_elf *e, uint64_t *entry)
{
	for (unsigned i = 0; i < e->phnum; i++) {
		struct lx_phdr ph;
		lx_phdr(c, e, i, &ph);
		if (ph.type != PT_NOTE)
			continue;
		int rc = lx_scan_notes(c, i, &ph, entry);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	return lx_fail(c, -ENOEXEC,
		       "ELF%s image has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18, name "
		       "\"Xen\") in its PT_NOTE segments: hyve boots an ELF vmlinux only through PVH "
		       "(CONFIG_PVH)",
		       e->is64 ? "64" : "32");
}

/* One PT_LOAD segment: in the file, below 4 GiB, in RAM, clear of hyve's
 * boot area and of the other segments. */
static int lx_plan_segment(struct lx_ctx *c, struct lx_plan *pl, unsigned i, const struct lx_phdr *ph)
{
	char what[160];

	if (ph->filesz > ph->memsz)
		return lx_fail(c, -EINVAL,
			       "ELF program header %u: p_filesz 0x%llx exceeds p_memsz 0x%llx", i,
			       (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	if (ph->off > c->size || ph->filesz > c->size - ph->off)
		return lx_fail(c, -EINVAL,
			       "ELF program header %u: p_offset 0x%llx + p_filesz 0x%llx is past the "
			       "end of the file (0x%llx bytes)",
			       i, (unsigned long long)ph->off, (unsigned long long)ph->filesz,
			       (unsigned long long)c->size);
	if (ph->paddr >= LX_FOUR_GIB || ph->memsz > LX_FOUR_GIB - ph->paddr)
		return lx_fail(c, -EINVAL,
			       "ELF program header %u: p_paddr 0x%llx + p_memsz 0x%llx ends past 4 GiB "
			       "(the PVH entry runs with paging off)",
			       i, (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
	uint64_t end = ph->paddr + ph->memsz;
	if (lx_overlap(ph->paddr, end, LINUX_BOOT_AREA_START, LINUX_BOOT_AREA_END))
		return lx_fail(c, -EINVAL,
			       "ELF program header %u: p_paddr 0x%llx + p_memsz 0x%llx overlaps hyve's "
			       "boot area 0x%llx-0x%llx",
			       i, (unsigned long long)ph->paddr, (unsigned long long)ph->memsz,
			       LINUX_BOOT_AREA_START, LINUX_BOOT_AREA_END);
	snprintf(what, sizeof(what), "ELF program header %u: p_paddr 0x%llx + p_memsz 0x%llx", i,
		 (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
	int rc = lx_need_ram(c, ph->paddr, ph->memsz, what);
	if (rc)
		return rc;
	for (unsigned j = 0; j < pl->nseg; j++) {
		const struct lx_seg *o = &pl->seg[j];
		if (lx_overlap(ph->paddr, end, o->paddr, o->paddr + o->memsz))
			return lx_fail(c, -EINVAL,
				       "ELF program header %u: p_paddr 0x%llx + p_memsz 0x%llx overlaps "
				       "program header %u (0x%llx-0x%llx)",
				       i, (unsigned long long)ph->paddr, (unsigned long long)ph->memsz,
				       o->idx, (unsigned long long)o->paddr,
				       (unsigned long long)(o->paddr + o->memsz));
	}
	if (pl->nseg >= LINUX_MAX_SEGMENTS)
		return lx_fail(c, -EINVAL, "ELF program header %u: more than %u PT_LOAD segments", i,
			       LINUX_MAX_SEGMENTS);
	pl->seg[pl->nseg++] = (struct lx_seg){
		.off = ph->off, .filesz = ph->filesz, .paddr = ph->paddr, .memsz = ph->memsz, .idx = i};
	if (pl->nseg == 1 || ph->paddr < pl->kstart)
		pl->kstart = ph->paddr;
	if (end > pl->kend)
		pl->kend = end;
	return 0;
}

/* PVH (start_info.h; QEMU hw/i386/x86.c + hw/i386/pvh, Linux
 * arch/x86/platform/pvh/enlighten.c for what the kernel reads). */
static int lx_plan_pvh(struct lx_ctx *c, struct lx_plan *pl)
{
	struct lx_elf e;
	uint64_t entry = 0;

	int rc = lx_elf_header(c, &e);
	if (!rc)
		rc = lx_find_pvh_entry(c, &e, &entry);
	if (rc)
		return rc;
	pl->nseg = 0;
	pl->kstart = pl->kend = 0;
	for (unsigned i = 0; i < e.phnum; i++) {
		struct lx_phdr ph;
		lx_phdr(c, &e, i, &ph);
		/* Zero-sized segments carry nothing (as QEMU's load_elf). */
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		rc = lx_plan_segment(c, pl, i, &ph);
		if (rc)
			return rc;
	}
	if (pl->nseg == 0)
		return lx_fail(c, -EINVAL,
			       "ELF header: none of the %u program headers is a PT_LOAD with p_memsz > 0",
			       e.phnum);
	bool inside = false;
	for (unsigned j = 0; j < pl->nseg; j++)
		if (entry >= pl->seg[j].paddr && entry - pl->seg[j].paddr < pl->seg[j].filesz)
			inside = true;
	if (!inside)
		return lx_fail(c, -EINVAL,
			       "PVH note XEN_ELFNOTE_PHYS32_ENTRY 0x%llx is not inside the file data of "
			       "any PT_LOAD segment",
			       (unsigned long long)entry);
	/* Linux copies at most COMMAND_LINE_SIZE bytes; no header bounds it. */
	rc = lx_plan_cmdline(c, pl, LINUX_CMDLINE_MAX - 1, "hyve's limit");
	if (!rc)
		rc = lx_place_initrd(c, pl, LX_FOUR_GIB, "4 GiB");
	if (rc)
		return rc;
	pl->kind = LINUX_IMAGE_PVH;
	pl->entry = entry;
	pl->protocol = 0;
	pl->info_end = LINUX_PVH_MEMMAP_ADDR + (uint64_t)c->nmap * LINUX_PVH_MEMMAP_ENTRY_SIZE;
	return 0;
}

/* hvm_start_info v1 at LINUX_INFO_ADDR, then its module list and memory
 * map table (start_info.h). buf covers [LINUX_INFO_ADDR, info_end). */
static void lx_build_start_info(struct lx_ctx *c, const struct lx_plan *pl, uint8_t *buf)
{
	bool initrd = c->p->initrd_size != 0;

	memset(buf, 0, pl->info_end - LINUX_INFO_ADDR);
	le_st32(buf + LINUX_PVH_OFF_MAGIC, LINUX_PVH_MAGIC);
	le_st32(buf + LINUX_PVH_OFF_VERSION, LINUX_PVH_VERSION);
	le_st32(buf + LINUX_PVH_OFF_FLAGS, 0);
	le_st32(buf + LINUX_PVH_OFF_NR_MODULES, initrd ? 1 : 0);
	le_st64(buf + LINUX_PVH_OFF_MODLIST_PADDR, initrd ? LINUX_PVH_MODLIST_ADDR : 0);
	le_st64(buf + LINUX_PVH_OFF_CMDLINE_PADDR, LINUX_CMDLINE_ADDR);
	le_st64(buf + LINUX_PVH_OFF_RSDP_PADDR, c->p->rsdp_addr);
	le_st64(buf + LINUX_PVH_OFF_MEMMAP_PADDR, LINUX_PVH_MEMMAP_ADDR);
	le_st32(buf + LINUX_PVH_OFF_MEMMAP_ENTRIES, c->nmap);
	if (initrd) {
		uint8_t *mod = buf + (LINUX_PVH_MODLIST_ADDR - LINUX_INFO_ADDR);
		le_st64(mod, pl->initrd_start);
		le_st64(mod + 8, c->p->initrd_size);
		/* cmdline_paddr 0: "not present"; reserved 0. */
	}
	/* Types are the E820 ones (XEN_HVM_MEMMAP_TYPE_RAM = 1, _RESERVED = 2). */
	for (unsigned i = 0; i < c->nmap; i++) {
		uint8_t *e = buf + (LINUX_PVH_MEMMAP_ADDR - LINUX_INFO_ADDR) +
			     (uint64_t)i * LINUX_PVH_MEMMAP_ENTRY_SIZE;
		le_st64(e, c->map[i].base);
		le_st64(e + 8, c->map[i].len);
		le_st32(e + 16, c->map[i].type);
	}
}

/* ---------------------------------------------------------------- writing */

static int lx_write(struct lx_ctx *c, const struct guest_mem *m, const struct lx_plan *pl)
{
	const struct linux_load_params *p = c->p;
	uint8_t info[LINUX_INFO_SIZE];
	int rc = 0;

	if (pl->kind == LINUX_IMAGE_BZIMAGE) {
		/* The rest of the init_size range is the kernel's to clear. */
		rc = lx_put(c, m, pl->load, c->img + pl->code_off, pl->code_size);
		lx_build_zero_page(c, pl, info);
	} else {
		for (unsigned i = 0; i < pl->nseg && !rc; i++) {
			const struct lx_seg *s = &pl->seg[i];
			rc = lx_put(c, m, s->paddr, c->img + s->off, s->filesz);
			if (!rc) /* bss: p_memsz > p_filesz (ELF gABI "Program Header") */
				rc = lx_zero(c, m, s->paddr + s->filesz, s->memsz - s->filesz);
		}
		lx_build_start_info(c, pl, info);
	}
	if (!rc)
		rc = lx_put(c, m, LINUX_INFO_ADDR, info, pl->info_end - LINUX_INFO_ADDR);
	if (!rc)
		rc = lx_put(c, m, LINUX_CMDLINE_ADDR, p->cmdline ? p->cmdline : "", pl->cmdline_len + 1);
	if (!rc && p->initrd_size)
		rc = lx_put(c, m, pl->initrd_start, p->initrd, p->initrd_size);
	return rc;
}

static int lx_check_params(struct lx_ctx *c, const struct guest_mem *m,
			   const struct linux_load_params *p, const struct linux_load_result *r)
{
	if (!m || !p || !r)
		return lx_fail(c, -EINVAL, "linux_load: NULL guest memory, parameters or result");
	if (!p->image && p->image_size)
		return lx_fail(c, -EINVAL, "linux_load: image is NULL but image_size is 0x%zx",
			       p->image_size);
	if (!p->initrd && p->initrd_size)
		return lx_fail(c, -EINVAL, "linux_load: initrd is NULL but initrd_size is 0x%zx",
			       p->initrd_size);
	if (p->image_size == 0)
		return lx_fail(c, -ENOEXEC, "kernel image is empty (0 bytes)");
	return 0;
}

static bool lx_is_elf(const uint8_t *b, uint64_t size)
{
	return size >= SELFMAG && memcmp(b, ELFMAG, SELFMAG) == 0;
}

static bool lx_is_bzimage(const uint8_t *b, uint64_t size)
{
	return size >= LINUX_HDR_VERSION + 2 && le_ld32(b + LINUX_HDR_HEADER) == LINUX_HDRS_MAGIC;
}

/* The one classifier of linux_probe and linux_load: an ELF file is a PVH
 * candidate whatever its bytes at 0x202 (an ELF cannot be a bzImage, which
 * starts with a boot sector); otherwise "HdrS" at 0x202 makes a bzImage. */
static enum linux_image_kind lx_classify(const uint8_t *img, size_t size)
{
	if (lx_is_elf(img, size))
		return LINUX_IMAGE_PVH;
	if (lx_is_bzimage(img, size))
		return LINUX_IMAGE_BZIMAGE;
	return LINUX_IMAGE_UNKNOWN;
}

enum linux_image_kind linux_probe(const void *image, size_t size)
{
	struct lx_ctx c = {.img = image, .size = size};
	struct lx_elf e;
	uint64_t entry;

	if (!image)
		return LINUX_IMAGE_UNKNOWN;
	enum linux_image_kind k = lx_classify(c.img, c.size);
	if (k == LINUX_IMAGE_PVH && (lx_elf_header(&c, &e) != 0 || lx_find_pvh_entry(&c, &e, &entry) != 0))
		return LINUX_IMAGE_UNKNOWN; /* an ELF without a usable PVH note */
	return k;
}

int linux_load(const struct guest_mem *m, const struct linux_load_params *p,
	       struct linux_load_result *r, char *err, size_t errlen)
{
	struct lx_ctx c = {.p = p, .err = err, .errlen = errlen};
	/* Static storage is off limits (no globals) and 32 segments are ~1 KiB:
	 * the plan lives on the stack, zeroed. */
	struct lx_plan pl = {0};

	if (err && errlen)
		err[0] = '\0';
	int rc = lx_check_params(&c, m, p, r);
	if (rc)
		return rc;
	c.img = p->image;
	c.size = p->image_size;
	int n = memmap_build(m, c.map, MEMMAP_MAX_ENTRIES);
	if (n < 0)
		return lx_fail(&c, n, "internal: memory map does not fit");
	c.nmap = (unsigned)n;
	for (unsigned i = 0; i < c.nmap; i++)
		if (c.map[i].type == MEMMAP_RAM && c.map[i].base < LX_FOUR_GIB &&
		    c.map[i].base + c.map[i].len > c.low_top)
			c.low_top = c.map[i].base + c.map[i].len;

	enum linux_image_kind kind = lx_classify(c.img, c.size);
	if (kind == LINUX_IMAGE_PVH)
		rc = lx_plan_pvh(&c, &pl);
	else if (kind == LINUX_IMAGE_BZIMAGE)
		rc = lx_plan_bzimage(&c, &pl);
	else if (c.size < LINUX_HDR_VERSION + 2)
		rc = lx_fail(&c, -ENOEXEC,
			     "kernel image (0x%llx bytes) is neither ELF nor a bzImage (too short for "
			     "the setup header's \"HdrS\" at 0x202)",
			     (unsigned long long)c.size);
	else
		rc = lx_fail(&c, -ENOEXEC,
			     "kernel image is neither ELF nor a bzImage (header at 0x202 is 0x%08x, not "
			     "\"HdrS\" 0x%08x)",
			     le_ld32(c.img + LINUX_HDR_HEADER), LINUX_HDRS_MAGIC);
	if (rc)
		return rc;

	/* Everything is checked: only now touch guest memory. */
	rc = lx_write(&c, m, &pl);
	if (rc)
		return rc;
	*r = (struct linux_load_result){
		.kind = pl.kind,
		.entry = pl.entry,
		.rsi = pl.kind == LINUX_IMAGE_BZIMAGE ? LINUX_INFO_ADDR : 0,
		.rbx = pl.kind == LINUX_IMAGE_PVH ? LINUX_INFO_ADDR : 0,
		.protocol = pl.protocol,
		.kernel_start = pl.kstart,
		.kernel_end = pl.kend,
		.info_start = LINUX_INFO_ADDR,
		.info_end = pl.info_end,
		.cmdline_start = LINUX_CMDLINE_ADDR,
		.cmdline_end = LINUX_CMDLINE_ADDR + pl.cmdline_len + 1,
		.initrd_start = pl.initrd_start,
		.initrd_end = p->initrd_size ? pl.initrd_start + p->initrd_size : 0,
	};
	return 0;
}

/* ------------------------------------------------------ CPU state helpers */

static uint8_t *lx_tables_ptr(const struct guest_mem *m, uint64_t base, uint64_t size, int *rc)
{
	*rc = 0;
	if (!m || (base & (LX_PAGE - 1)) || base >= LX_FOUR_GIB || size > LX_FOUR_GIB - base) {
		*rc = -EINVAL;
		return NULL;
	}
	uint8_t *p = gmem_ptr(m, base, size);
	if (!p)
		*rc = -EFAULT;
	return p;
}

static void lx_write_gdt(uint8_t *g)
{
	for (unsigned i = 0; i < LINUX_GDT_ENTRIES; i++)
		le_st64(g + 8 * i, lx_gdt[i]);
}

/* The hidden parts matching lx_gdt. */
static void lx_fill_segments(struct vm_boot_cpu *st, uint64_t base, bool long_mode)
{
	st->gdt_base = base + LINUX_GDT_OFF;
	st->gdt_limit = LINUX_GDT_ENTRIES * 8 - 1;
	st->cs = (struct vm_segment){.base = 0,
					.limit = 0xffffffffu,
					.selector = long_mode ? LINUX_SEL_CODE64 : LINUX_SEL_CODE32,
					.type = 0xb,
					.s = 1,
					.present = 1,
					.db = long_mode ? 0 : 1,
					.l = long_mode ? 1 : 0,
					.g = 1};
	st->ds = (struct vm_segment){.base = 0,
					.limit = 0xffffffffu,
					.selector = LINUX_SEL_DATA,
					.type = 0x3,
					.s = 1,
					.present = 1,
					.db = 1,
					.g = 1};
	/* start_info.h: "tr: must be a 32-bit TSS (active) with a base of '0'
	 * and a limit of '0x67'"; VMX wants a busy TSS (type 11) in either mode
	 * (SDM Vol. 3C 26.3.1.2). */
	st->tr = (struct vm_segment){
		.base = 0, .limit = 0x67, .selector = LINUX_SEL_TSS, .type = 0xb, .s = 0, .present = 1};
	st->rflags = LX_RFLAGS_FIXED;
}

int linux_build_long_mode(const struct guest_mem *m, uint64_t base, struct vm_boot_cpu *st)
{
	int rc;
	uint8_t *t = lx_tables_ptr(m, base, LINUX_LONG_MODE_SIZE, &rc);
	if (!t || !st)
		return t ? -EINVAL : rc;

	memset(t, 0, LINUX_LONG_MODE_SIZE);
	lx_write_gdt(t + LINUX_GDT_OFF);
	/* 4-level paging (SDM Vol. 3A 4.5): PML4[0] -> PDPT; PDPT[i] -> PD i;
	 * PD i maps [i GiB, i+1 GiB) with 2 MiB pages, identity. */
	le_st64(t + LINUX_PML4_OFF, (base + LINUX_PDPT_OFF) | LX_PTE_P | LX_PTE_RW);
	for (uint64_t i = 0; i < LX_PD_PAGES; i++) {
		uint64_t pd = LINUX_PD_OFF + i * LX_PAGE;
		le_st64(t + LINUX_PDPT_OFF + 8 * i, (base + pd) | LX_PTE_P | LX_PTE_RW);
		for (uint64_t j = 0; j < 512; j++)
			le_st64(t + pd + 8 * j,
				(i << 30 | j << 21) | LX_PTE_P | LX_PTE_RW | LX_PTE_PS);
	}
	memset(st, 0, sizeof(*st));
	st->cr0 = LX_CR0_PE | LX_CR0_ET | LX_CR0_PG;
	st->cr3 = base + LINUX_PML4_OFF;
	st->cr4 = LX_CR4_PAE;
	st->efer = LX_EFER_LME | LX_EFER_LMA;
	lx_fill_segments(st, base, true);
	return 0;
}

int linux_build_prot_mode(const struct guest_mem *m, uint64_t base, struct vm_boot_cpu *st)
{
	int rc;
	uint8_t *t = lx_tables_ptr(m, base, LINUX_PROT_MODE_SIZE, &rc);
	if (!t || !st)
		return t ? -EINVAL : rc;

	memset(t, 0, LINUX_PROT_MODE_SIZE);
	lx_write_gdt(t + LINUX_GDT_OFF);
	memset(st, 0, sizeof(*st));
	/* start_info.h: "cr0: bit 0 (PE) must be set. All the other writeable
	 * bits are cleared. cr4: all bits are cleared." ET is not writeable. */
	st->cr0 = LX_CR0_PE | LX_CR0_ET;
	lx_fill_segments(st, base, false);
	return 0;
}
