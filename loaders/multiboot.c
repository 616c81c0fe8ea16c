/* multiboot.c: Multiboot v1 kernel loader, QEMU `-kernel` compatible (loaders/multiboot.h). */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "loaders/bytes.h"
#include "loaders/memmap.h"
#include "loaders/multiboot.h"

#define MB_PAGE 0x1000ULL
#define FOUR_GIB 0x100000000ULL

/* Multiboot header (MB sec. 3.1.1): byte offsets from the magic. */
#define MBH_OFF_FLAGS 4
#define MBH_OFF_CHECKSUM 8
#define MBH_OFF_HEADER_ADDR 12
#define MBH_OFF_LOAD_ADDR 16
#define MBH_OFF_LOAD_END_ADDR 20
#define MBH_OFF_BSS_END_ADDR 24
#define MBH_OFF_ENTRY_ADDR 28
#define MBH_BASE_SIZE 12 /* magic, flags, checksum */
#define MBH_AOUT_SIZE 32 /* through entry_addr */

/* Header flags (MB sec. 3.1.2). Bits 0-15 are requirements: a loader that
 * does not understand one must refuse the image. Bits 16-31 are optional. */
#define MBH_FLAG_PAGE_ALIGN (1u << 0) /* modules on 4 KiB pages: always done */
#define MBH_FLAG_MEM_INFO (1u << 1)   /* mem_* fields: always provided */
#define MBH_FLAG_VIDEO (1u << 2)      /* video mode: ignored, as QEMU does */
#define MBH_FLAG_AOUT_KLUDGE (1u << 16)
#define MBH_REQUIRED_MASK 0xFFFFu
#define MBH_SUPPORTED (MBH_FLAG_PAGE_ALIGN | MBH_FLAG_MEM_INFO | MBH_FLAG_VIDEO)

#define MB_MMAP_ENTRY_SIZE_FIELD 20 /* mmap "size": bytes after the size field */

/* Everything one load reads; lives on mb_load's stack. */
struct mb_ctx {
	const struct mb_load_params *p; /* caller's, read-only */
	const uint8_t *img;
	uint64_t size;
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	unsigned nmap;
	uint64_t low_top; /* end of the highest RAM entry below 4 GiB */
	char *err;
	size_t errlen;
};

struct mb_hdr {
	uint32_t off; /* file offset of the magic */
	uint32_t flags;
};

/* One range of the kernel to copy: filesz bytes from the file, then zeroes
 * up to memsz. */
struct mb_seg {
	uint64_t off, filesz, paddr, memsz;
	unsigned idx; /* ELF program header index, for messages */
};

struct mb_plan {
	struct mb_seg seg[MB_MAX_SEGMENTS];
	unsigned nseg;
	uint32_t entry;
	uint64_t kstart, kend;
};

/* One error line into c->err, and guest writes that report their failure
 * there (loaders/bytes.h). */
#define mb_fail(c, ...) loader_fail((c)->err, (c)->errlen, __VA_ARGS__)
#define mb_put(c, ...) loader_put((c)->err, (c)->errlen, __VA_ARGS__)
#define mb_zero(c, ...) loader_zero((c)->err, (c)->errlen, __VA_ARGS__)

/* Checks that [base, base + len) lies in one RAM entry of the memory map;
 * otherwise fails with "<what> is not in guest RAM (<why>)": -E2BIG when
 * more RAM would fix it, else -EINVAL. Reserved ranges (EBDA, BIOS area,
 * IOAPIC, LAPIC) are refused too: ACPI/MP tables go in the BIOS area. */
static int mb_need_ram(struct mb_ctx *c, uint64_t base, uint64_t len, const char *what)
{
	if (memmap_is_ram(c->map, c->nmap, base, len))
		return 0;
	uint64_t end = len > UINT64_MAX - base ? UINT64_MAX : base + len;
	for (unsigned i = 0; i < c->nmap; i++) {
		const struct memmap_entry *e = &c->map[i];
		if (e->type != MEMMAP_RAM && base < e->base + e->len && e->base < end)
			return mb_fail(c, -EINVAL, "%s is not in guest RAM (overlaps reserved 0x%llx-0x%llx)",
				       what, (unsigned long long)e->base,
				       (unsigned long long)(e->base + e->len));
	}
	/* Past the top of low RAM: -E2BIG only if a bigger -m could fix it,
	 * i.e. the range ends below the MMIO hole. */
	if (end > c->low_top)
		return mb_fail(c, end <= GMEM_LOWMEM_LIMIT ? -E2BIG : -EINVAL,
			       "%s is not in guest RAM (guest low RAM ends at 0x%llx)", what,
			       (unsigned long long)c->low_top);
	/* Inside low RAM's span but crossing a gap (the VGA/ROM window). */
	uint64_t hole = base;
	for (unsigned i = 0; i < c->nmap; i++) {
		const struct memmap_entry *e = &c->map[i];
		if (e->type == MEMMAP_RAM && e->base <= base && base < e->base + e->len)
			hole = e->base + e->len;
	}
	return mb_fail(c, -EINVAL, "%s is not in guest RAM (no RAM at 0x%llx)", what,
		       (unsigned long long)hole);
}

/* MB sec. 3.1: the header is 32-bit aligned and entirely within the first
 * MB_SEARCH_LIMIT bytes. Like QEMU, a magic whose checksum fails is skipped
 * and the search goes on; it is reported only if nothing valid follows. */
static int mb_find_header(struct mb_ctx *c, struct mb_hdr *h)
{
	uint64_t lim = c->size < MB_SEARCH_LIMIT ? c->size : MB_SEARCH_LIMIT;
	bool bad = false;
	uint32_t bad_off = 0, bad_flags = 0, bad_sum = 0;

	for (uint64_t off = 0; off + MBH_BASE_SIZE <= lim; off += 4) {
		const uint8_t *b = c->img + off;
		if (le_ld32(b) != MB_HEADER_MAGIC)
			continue;
		uint32_t flags = le_ld32(b + MBH_OFF_FLAGS), sum = le_ld32(b + MBH_OFF_CHECKSUM);
		if ((uint32_t)(MB_HEADER_MAGIC + flags + sum) == 0) {
			h->off = (uint32_t)off;
			h->flags = flags;
			return 0;
		}
		if (!bad) {
			bad = true;
			bad_off = (uint32_t)off;
			bad_flags = flags;
			bad_sum = sum;
		}
	}
	if (bad)
		return mb_fail(c, -ENOEXEC,
			       "multiboot header at offset 0x%x: checksum 0x%08x does not match "
			       "magic+flags (want 0x%08x)",
			       bad_off, bad_sum, (uint32_t)(0u - MB_HEADER_MAGIC - bad_flags));
	return mb_fail(c, -ENOEXEC, "no multiboot header in the first %u bytes", MB_SEARCH_LIMIT);
}

/* MB sec. 3.1.3: the a.out kludge address fields say where the file goes. */
static int mb_plan_aout(struct mb_ctx *c, const struct mb_hdr *h, struct mb_plan *pl)
{
	const uint8_t *b = c->img + h->off;
	uint32_t header_addr = le_ld32(b + MBH_OFF_HEADER_ADDR);
	uint32_t load_addr = le_ld32(b + MBH_OFF_LOAD_ADDR);
	uint32_t load_end_addr = le_ld32(b + MBH_OFF_LOAD_END_ADDR);
	uint32_t bss_end_addr = le_ld32(b + MBH_OFF_BSS_END_ADDR);
	uint32_t entry_addr = le_ld32(b + MBH_OFF_ENTRY_ADDR);
	char what[128];

	if (load_addr > header_addr)
		return mb_fail(c, -EINVAL,
			       "multiboot header: load_addr 0x%x is above header_addr 0x%x", load_addr,
			       header_addr);
	/* The header's distance from load_addr in memory equals its distance
	 * from the start of the text in the file. */
	uint32_t delta = header_addr - load_addr;
	if (delta > h->off)
		return mb_fail(c, -EINVAL,
			       "multiboot header: header_addr 0x%x - load_addr 0x%x = 0x%x exceeds the "
			       "header's file offset 0x%x",
			       header_addr, load_addr, delta, h->off);
	uint64_t file_off = h->off - delta;
	uint64_t load_size;
	if (load_end_addr) {
		if (load_end_addr < load_addr)
			return mb_fail(c, -EINVAL,
				       "multiboot header: load_end_addr 0x%x is below load_addr 0x%x",
				       load_end_addr, load_addr);
		load_size = load_end_addr - load_addr;
		if (load_size > c->size - file_off)
			return mb_fail(c, -EINVAL,
				       "multiboot header: load_end_addr 0x%x needs 0x%llx bytes from file "
				       "offset 0x%llx but the file has 0x%llx bytes",
				       load_end_addr, (unsigned long long)load_size,
				       (unsigned long long)file_off, (unsigned long long)c->size);
	} else {
		load_size = c->size - file_off; /* 0 = the rest of the file */
		if (load_size > FOUR_GIB - load_addr)
			return mb_fail(c, -EINVAL,
				       "multiboot header: load_addr 0x%x + 0x%llx bytes of file runs past "
				       "4 GiB",
				       load_addr, (unsigned long long)load_size);
	}
	/* header_addr is where the magic "is supposed to be loaded": the
	 * header must be part of the text that is loaded. */
	if (load_size < (uint64_t)delta + MBH_AOUT_SIZE)
		return mb_fail(c, -EINVAL,
			       "multiboot header: load_end_addr 0x%x ends before the header itself "
			       "(header_addr 0x%x + %u)",
			       load_end_addr, header_addr, MBH_AOUT_SIZE);
	uint64_t load_end = load_addr + load_size;
	uint64_t kend = load_end;
	if (bss_end_addr) {
		if (bss_end_addr < load_end)
			return mb_fail(c, -EINVAL,
				       "multiboot header: bss_end_addr 0x%x is below the end of the loaded "
				       "image 0x%llx",
				       bss_end_addr, (unsigned long long)load_end);
		kend = bss_end_addr;
	}
	if (entry_addr < load_addr || entry_addr >= load_end)
		return mb_fail(c, -EINVAL,
			       "multiboot header: entry_addr 0x%x is outside the loaded image "
			       "0x%x-0x%llx",
			       entry_addr, load_addr, (unsigned long long)load_end);
	snprintf(what, sizeof(what), "multiboot header: kernel 0x%x-0x%llx (load_addr to %s)",
		 load_addr, (unsigned long long)kend, bss_end_addr ? "bss_end_addr" : "end of load");
	int rc = mb_need_ram(c, load_addr, kend - load_addr, what);
	if (rc)
		return rc;

	pl->seg[0] = (struct mb_seg){
		.off = file_off, .filesz = load_size, .paddr = load_addr, .memsz = kend - load_addr};
	pl->nseg = 1;
	pl->entry = entry_addr;
	pl->kstart = load_addr;
	pl->kend = kend;
	return 0;
}

/* One PT_LOAD program header (ELF gABI "Program Header"). */
static int mb_plan_phdr(struct mb_ctx *c, struct mb_plan *pl, unsigned i, const uint8_t *ph,
			uint32_t e_entry, bool *entry_set)
{
	uint32_t p_offset = le_ld32(ph + offsetof(Elf32_Phdr, p_offset));
	uint32_t p_vaddr = le_ld32(ph + offsetof(Elf32_Phdr, p_vaddr));
	uint32_t p_paddr = le_ld32(ph + offsetof(Elf32_Phdr, p_paddr));
	uint32_t p_filesz = le_ld32(ph + offsetof(Elf32_Phdr, p_filesz));
	uint32_t p_memsz = le_ld32(ph + offsetof(Elf32_Phdr, p_memsz));
	uint32_t p_flags = le_ld32(ph + offsetof(Elf32_Phdr, p_flags));
	char what[128];

	if (p_filesz > p_memsz)
		return mb_fail(c, -EINVAL,
			       "ELF program header %u: p_filesz 0x%x is larger than p_memsz 0x%x", i,
			       p_filesz, p_memsz);
	if ((uint64_t)p_offset + p_filesz > c->size)
		return mb_fail(c, -EINVAL,
			       "ELF program header %u: p_offset 0x%x + p_filesz 0x%x is past the end of "
			       "the file (0x%llx bytes)",
			       i, p_offset, p_filesz, (unsigned long long)c->size);
	uint64_t end = (uint64_t)p_paddr + p_memsz;
	if (end > FOUR_GIB)
		return mb_fail(c, -EINVAL,
			       "ELF program header %u: p_paddr 0x%x + p_memsz 0x%x wraps past 4 GiB", i,
			       p_paddr, p_memsz);
	snprintf(what, sizeof(what), "ELF program header %u: p_paddr 0x%x + p_memsz 0x%x", i, p_paddr,
		 p_memsz);
	int rc = mb_need_ram(c, p_paddr, p_memsz, what);
	if (rc)
		return rc;
	for (unsigned j = 0; j < pl->nseg; j++) {
		const struct mb_seg *o = &pl->seg[j];
		if (p_paddr < o->paddr + o->memsz && o->paddr < end)
			return mb_fail(c, -EINVAL,
				       "ELF program header %u: p_paddr 0x%x + p_memsz 0x%x overlaps program "
				       "header %u (0x%llx-0x%llx)",
				       i, p_paddr, p_memsz, o->idx, (unsigned long long)o->paddr,
				       (unsigned long long)(o->paddr + o->memsz));
	}
	if (pl->nseg >= MB_MAX_SEGMENTS)
		return mb_fail(c, -EINVAL, "ELF program header %u: more than %u PT_LOAD segments", i,
			       MB_MAX_SEGMENTS);
	pl->seg[pl->nseg++] = (struct mb_seg){
		.off = p_offset, .filesz = p_filesz, .paddr = p_paddr, .memsz = p_memsz, .idx = i};
	if (pl->nseg == 1 || p_paddr < pl->kstart)
		pl->kstart = p_paddr;
	if (end > pl->kend)
		pl->kend = end;
	/* e_entry is virtual. As QEMU's load_elf (include/hw/elf_ops.h) does,
	 * translate it when it lies in the file part of an executable segment
	 * whose vaddr and paddr differ (a higher-half kernel). */
	if (!*entry_set && p_vaddr != p_paddr && (p_flags & PF_X) && e_entry >= p_vaddr &&
	    e_entry - p_vaddr < p_filesz) {
		pl->entry = e_entry - p_vaddr + p_paddr;
		*entry_set = true;
	}
	return 0;
}

/* Without the a.out kludge the image must be ELF (MB sec. 3.1.2, bit 16);
 * QEMU loads only i386 ELF32 executables. Header fields: ELF gABI and the
 * i386 psABI. */
static int mb_plan_elf(struct mb_ctx *c, const struct mb_hdr *h, struct mb_plan *pl)
{
	const uint8_t *b = c->img;

	if (c->size < SELFMAG || memcmp(b, ELFMAG, SELFMAG) != 0)
		return mb_fail(c, -ENOEXEC,
			       "image is not ELF (no \\177ELF magic) and its multiboot header (offset "
			       "0x%x, flags 0x%08x) does not set flags bit 16 (a.out kludge)",
			       h->off, h->flags);
	if (c->size < EI_NIDENT)
		return mb_fail(c, -EINVAL, "ELF header: file is 0x%llx bytes, shorter than e_ident",
			       (unsigned long long)c->size);
	if (b[EI_CLASS] == ELFCLASS64)
		return mb_fail(c, -ENOEXEC,
			       "image is ELF64 (e_ident[EI_CLASS] 2); multiboot needs a 32-bit image");
	if (b[EI_CLASS] != ELFCLASS32)
		return mb_fail(c, -ENOEXEC, "ELF header: e_ident[EI_CLASS] %u is not ELFCLASS32 (1)",
			       b[EI_CLASS]);
	if (b[EI_DATA] != ELFDATA2LSB)
		return mb_fail(c, -ENOEXEC, "ELF header: e_ident[EI_DATA] %u is not ELFDATA2LSB (1)",
			       b[EI_DATA]);
	if (c->size < sizeof(Elf32_Ehdr))
		return mb_fail(c, -EINVAL,
			       "ELF header: file is 0x%llx bytes, shorter than the %zu-byte ELF32 header",
			       (unsigned long long)c->size, sizeof(Elf32_Ehdr));
	uint32_t e_type = le_ld16(b + offsetof(Elf32_Ehdr, e_type));
	uint32_t e_machine = le_ld16(b + offsetof(Elf32_Ehdr, e_machine));
	uint32_t e_entry = le_ld32(b + offsetof(Elf32_Ehdr, e_entry));
	uint32_t e_phoff = le_ld32(b + offsetof(Elf32_Ehdr, e_phoff));
	uint32_t e_phentsize = le_ld16(b + offsetof(Elf32_Ehdr, e_phentsize));
	uint32_t e_phnum = le_ld16(b + offsetof(Elf32_Ehdr, e_phnum));

	if (e_machine != EM_386)
		return mb_fail(c, -ENOEXEC, "ELF header: e_machine %u is not EM_386 (3)%s", e_machine,
			       e_machine == EM_X86_64 ? "; multiboot needs a 32-bit image" : "");
	if (e_type != ET_EXEC)
		return mb_fail(c, -ENOEXEC, "ELF header: e_type %u is not ET_EXEC (2)", e_type);
	if (e_phnum == 0)
		return mb_fail(c, -EINVAL, "ELF header: e_phnum is 0 (no program headers)");
	if (e_phnum == PN_XNUM)
		return mb_fail(c, -EINVAL,
			       "ELF header: e_phnum 0x%x (PN_XNUM extended numbering) is not supported",
			       e_phnum);
	if (e_phentsize < sizeof(Elf32_Phdr))
		return mb_fail(c, -EINVAL,
			       "ELF header: e_phentsize %u is smaller than an Elf32_Phdr (%zu)",
			       e_phentsize, sizeof(Elf32_Phdr));
	uint64_t ph_bytes = (uint64_t)e_phnum * e_phentsize; /* < 2^32: both are 16-bit */
	if (e_phoff > c->size || ph_bytes > c->size - e_phoff)
		return mb_fail(c, -EINVAL,
			       "ELF header: e_phoff 0x%x + e_phnum %u * e_phentsize %u runs past the end "
			       "of the file (0x%llx bytes)",
			       e_phoff, e_phnum, e_phentsize, (unsigned long long)c->size);

	bool entry_set = false;
	pl->nseg = 0;
	pl->kstart = pl->kend = 0;
	pl->entry = e_entry;
	for (unsigned i = 0; i < e_phnum; i++) {
		const uint8_t *ph = b + e_phoff + (uint64_t)i * e_phentsize;
		/* Zero-sized segments carry nothing; QEMU's load_elf skips them. */
		if (le_ld32(ph + offsetof(Elf32_Phdr, p_type)) != PT_LOAD ||
		    le_ld32(ph + offsetof(Elf32_Phdr, p_memsz)) == 0)
			continue;
		int rc = mb_plan_phdr(c, pl, i, ph, e_entry, &entry_set);
		if (rc)
			return rc;
	}
	if (pl->nseg == 0)
		return mb_fail(c, -EINVAL,
			       "ELF header: none of the %u program headers is a PT_LOAD with p_memsz > 0",
			       e_phnum);
	for (unsigned j = 0; j < pl->nseg; j++)
		if (pl->entry >= pl->seg[j].paddr && pl->entry - pl->seg[j].paddr < pl->seg[j].memsz)
			return 0;
	if (pl->entry != e_entry)
		return mb_fail(c, -EINVAL,
			       "ELF header: e_entry 0x%x (physical 0x%x) is not inside any PT_LOAD "
			       "segment",
			       e_entry, pl->entry);
	return mb_fail(c, -EINVAL, "ELF header: e_entry 0x%x is not inside any PT_LOAD segment",
		       e_entry);
}

/* Where each piece of the multiboot info goes (guest-physical). */
struct mb_info_layout {
	uint64_t info, mmap, mods, strings, end;
	uint64_t mods_start, mods_end;
};

static bool mb_add(uint64_t *acc, uint64_t v)
{
	return !__builtin_add_overflow(*acc, v, acc);
}

static bool mb_page_up(uint64_t *v)
{
	if (*v > UINT64_MAX - (MB_PAGE - 1))
		return false;
	*v = (*v + MB_PAGE - 1) & ~(MB_PAGE - 1);
	return true;
}

static const char *mb_str(const char *s)
{
	return s ? s : "";
}

/* Lays out the info after the kernel as QEMU does (hw/i386/multiboot.c puts
 * the module list, command lines and boot loader name right after the
 * page-aligned kernel, then each module page-aligned); hyve puts the
 * multiboot_info itself and the mmap there too (QEMU: 0x9500 and 0x9000). */
static int mb_plan_info(struct mb_ctx *c, const struct mb_plan *pl, struct mb_info_layout *l)
{
	const struct mb_load_params *p = c->p;
	uint64_t a = pl->kend;
	char what[128];
	bool ok = mb_page_up(&a);

	l->info = a;
	ok = ok && mb_add(&a, MB_INFO_SIZE);
	l->mmap = a;
	ok = ok && mb_add(&a, (uint64_t)c->nmap * MB_MMAP_ENTRY_SIZE);
	l->mods = a;
	ok = ok && mb_add(&a, (uint64_t)p->nmods * MB_MOD_SIZE);
	l->strings = a;
	ok = ok && mb_add(&a, strlen(p->kernel_name)) && mb_add(&a, 1) &&
	     mb_add(&a, strlen(mb_str(p->append))) && mb_add(&a, 1);
	for (unsigned i = 0; i < p->nmods; i++)
		ok = ok && mb_add(&a, strlen(mb_str(p->mods[i].cmdline))) && mb_add(&a, 1);
	ok = ok && mb_add(&a, sizeof(MB_BOOTLOADER_NAME));
	l->end = a;
	if (!ok || l->end > FOUR_GIB)
		return mb_fail(c, -E2BIG, "multiboot info after the kernel (kernel end 0x%llx) runs past 4 GiB",
			       (unsigned long long)pl->kend);
	snprintf(what, sizeof(what), "multiboot info 0x%llx-0x%llx (after the kernel)",
		 (unsigned long long)l->info, (unsigned long long)l->end);
	int rc = mb_need_ram(c, l->info, l->end - l->info, what);
	if (rc)
		return rc;

	mb_page_up(&a); /* a <= 4 GiB: cannot overflow */
	l->mods_start = l->mods_end = a;
	for (unsigned i = 0; i < p->nmods; i++) {
		uint64_t start = a;
		if (!mb_page_up(&start) || start > FOUR_GIB || p->mods[i].size > FOUR_GIB - start)
			return mb_fail(c, -E2BIG, "module %u (0x%zx bytes) at 0x%llx runs past 4 GiB", i,
				       p->mods[i].size, (unsigned long long)start);
		snprintf(what, sizeof(what), "module %u (0x%zx bytes) at 0x%llx", i, p->mods[i].size,
			 (unsigned long long)start);
		rc = mb_need_ram(c, start, p->mods[i].size, what);
		if (rc)
			return rc;
		a = start + p->mods[i].size;
		l->mods_end = a;
	}
	return 0;
}

static int mb_check_params(struct mb_ctx *c, const struct guest_mem *m,
			   const struct mb_load_params *p, const struct mb_load_result *r)
{
	if (!m || !p || !r)
		return mb_fail(c, -EINVAL, "mb_load: NULL guest memory, parameters or result");
	if (!p->kernel_name)
		return mb_fail(c, -EINVAL, "mb_load: kernel_name is NULL");
	if (!p->image && p->image_size)
		return mb_fail(c, -EINVAL, "mb_load: image is NULL but image_size is 0x%zx",
			       p->image_size);
	if (!p->mods && p->nmods)
		return mb_fail(c, -EINVAL, "mb_load: mods is NULL but nmods is %u", p->nmods);
	for (unsigned i = 0; i < p->nmods; i++)
		if (!p->mods[i].data && p->mods[i].size)
			return mb_fail(c, -EINVAL, "module %u: data is NULL but size is 0x%zx", i,
				       p->mods[i].size);
	if (p->image_size == 0)
		return mb_fail(c, -ENOEXEC, "kernel image is empty (0 bytes)");
	return 0;
}

/* Writes s with its NUL at *gpa and advances *gpa past it. */
static int mb_put_str(struct mb_ctx *c, const struct guest_mem *m, uint64_t *gpa, const char *s)
{
	size_t n = strlen(s) + 1;
	int rc = mb_put(c, m, *gpa, s, n);
	*gpa += n;
	return rc;
}

static int mb_write(struct mb_ctx *c, const struct guest_mem *m, const struct mb_plan *pl,
		    const struct mb_info_layout *l)
{
	const struct mb_load_params *p = c->p;
	int rc = 0;

	for (unsigned i = 0; i < pl->nseg && !rc; i++) {
		const struct mb_seg *s = &pl->seg[i];
		rc = mb_put(c, m, s->paddr, c->img + s->off, s->filesz);
		if (!rc) /* bss: MB sec. 3.1.3 bss_end_addr; ELF p_memsz > p_filesz */
			rc = mb_zero(c, m, s->paddr + s->filesz, s->memsz - s->filesz);
	}
	if (!rc)
		rc = mb_zero(c, m, l->info, l->mods_start - l->info);
	if (rc)
		return rc;

	/* Strings: the kernel's command line, each module's, the loader name. */
	uint64_t s = l->strings;
	uint64_t cmdline = s;
	rc = mb_put(c, m, s, p->kernel_name, strlen(p->kernel_name));
	s += strlen(p->kernel_name);
	if (!rc)
		rc = mb_put(c, m, s++, " ", 1); /* QEMU: snprintf("%s %s", name, append) */
	if (!rc)
		rc = mb_put_str(c, m, &s, mb_str(p->append));

	/* Module list (MB sec. 3.3 "mods_addr") and the modules themselves. */
	uint64_t at = l->mods_start;
	for (unsigned i = 0; i < p->nmods && !rc; i++) {
		uint8_t mod[MB_MOD_SIZE] = {0};
		uint64_t start = at;
		mb_page_up(&start);
		rc = mb_zero(c, m, at, start - at);
		if (!rc)
			rc = mb_put(c, m, start, p->mods[i].data, p->mods[i].size);
		at = start + p->mods[i].size;
		le_st32(mod + 0, (uint32_t)start);
		le_st32(mod + 4, (uint32_t)at); /* end = start + size, as QEMU */
		le_st32(mod + 8, (uint32_t)s);
		if (!rc)
			rc = mb_put_str(c, m, &s, mb_str(p->mods[i].cmdline));
		if (!rc)
			rc = mb_put(c, m, l->mods + (uint64_t)i * MB_MOD_SIZE, mod, sizeof(mod));
	}
	uint64_t loader_name = s;
	if (!rc)
		rc = mb_put_str(c, m, &s, MB_BOOTLOADER_NAME);

	/* Memory map (MB sec. 3.3 "mmap_addr"): size, base_addr, length, type. */
	for (unsigned i = 0; i < c->nmap && !rc; i++) {
		uint8_t e[MB_MMAP_ENTRY_SIZE];
		le_st32(e + 0, MB_MMAP_ENTRY_SIZE_FIELD);
		le_st64(e + 4, c->map[i].base);
		le_st64(e + 12, c->map[i].len);
		le_st32(e + 20, c->map[i].type);
		rc = mb_put(c, m, l->mmap + (uint64_t)i * MB_MMAP_ENTRY_SIZE, e, sizeof(e));
	}
	if (rc)
		return rc;

	uint8_t mbi[MB_INFO_SIZE] = {0};
	le_st32(mbi + MB_INFO_OFF_FLAGS, MB_INFO_MEMORY | MB_INFO_BOOTDEV | MB_INFO_CMDLINE |
					      MB_INFO_MODS | MB_INFO_MEM_MAP | MB_INFO_LOADER_NAME);
	le_st32(mbi + MB_INFO_OFF_MEM_LOWER, memmap_lower_kb(m));
	le_st32(mbi + MB_INFO_OFF_MEM_UPPER, memmap_upper_kb(m));
	le_st32(mbi + MB_INFO_OFF_BOOT_DEVICE, MB_BOOT_DEVICE_NONE);
	le_st32(mbi + MB_INFO_OFF_CMDLINE, (uint32_t)cmdline);
	le_st32(mbi + MB_INFO_OFF_MODS_COUNT, p->nmods);
	le_st32(mbi + MB_INFO_OFF_MODS_ADDR, (uint32_t)l->mods);
	le_st32(mbi + MB_INFO_OFF_MMAP_LENGTH, c->nmap * MB_MMAP_ENTRY_SIZE);
	le_st32(mbi + MB_INFO_OFF_MMAP_ADDR, (uint32_t)l->mmap);
	le_st32(mbi + MB_INFO_OFF_LOADER_NAME, (uint32_t)loader_name);
	return mb_put(c, m, l->info, mbi, sizeof(mbi));
}

int mb_load(const struct guest_mem *m, const struct mb_load_params *p, struct mb_load_result *r,
	    char *err, size_t errlen)
{
	struct mb_ctx c = {.p = p, .err = err, .errlen = errlen};
	/* Zeroed: gcc -O2 cannot see that mb_fail never returns 0. */
	struct mb_plan pl = {0};
	struct mb_hdr h = {0};
	struct mb_info_layout l = {0};

	if (err && errlen)
		err[0] = '\0';
	int rc = mb_check_params(&c, m, p, r);
	if (rc)
		return rc;
	c.img = p->image;
	c.size = p->image_size;
	int n = memmap_build(m, c.map, MEMMAP_MAX_ENTRIES);
	if (n < 0)
		return mb_fail(&c, n, "internal: memory map does not fit");
	c.nmap = (unsigned)n;
	for (unsigned i = 0; i < c.nmap; i++)
		if (c.map[i].type == MEMMAP_RAM && c.map[i].base < FOUR_GIB &&
		    c.map[i].base + c.map[i].len > c.low_top)
			c.low_top = c.map[i].base + c.map[i].len;

	rc = mb_find_header(&c, &h);
	if (rc)
		return rc;
	uint32_t unsupported = h.flags & MBH_REQUIRED_MASK & ~MBH_SUPPORTED;
	if (unsupported)
		return mb_fail(&c, -ENOEXEC,
			       "multiboot header: flags 0x%08x sets required bit %d that hyve does not "
			       "support",
			       h.flags, __builtin_ctz(unsupported));
	if (h.flags & MBH_FLAG_AOUT_KLUDGE) {
		uint64_t lim = c.size < MB_SEARCH_LIMIT ? c.size : MB_SEARCH_LIMIT;
		if (h.off + MBH_AOUT_SIZE > lim)
			return mb_fail(&c, -EINVAL,
				       "multiboot header at offset 0x%x: a.out kludge fields (flags bit 16) "
				       "end past %s",
				       h.off, lim == c.size ? "the end of the file" : "the first 8192 bytes");
		rc = mb_plan_aout(&c, &h, &pl);
	} else {
		rc = mb_plan_elf(&c, &h, &pl);
	}
	if (rc)
		return rc;
	rc = mb_plan_info(&c, &pl, &l);
	if (rc)
		return rc;

	/* Everything is checked: only now touch guest memory. */
	rc = mb_write(&c, m, &pl, &l);
	if (rc)
		return rc;
	*r = (struct mb_load_result){
		.entry = pl.entry,
		.eax = MB_BOOTLOADER_MAGIC,
		.ebx = (uint32_t)l.info,
		.kernel_start = pl.kstart,
		.kernel_end = pl.kend,
		.info_start = l.info,
		.info_end = l.end,
		.mods_start = l.mods_start,
		.mods_end = l.mods_end,
	};
	return 0;
}

void mb_boot_cpu(const struct mb_load_result *r, struct vm_boot_cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->rip = r->entry;
	cpu->rax = r->eax;
	cpu->rbx = r->ebx;
	cpu->rflags = 0x2;
	cpu->cr0 = 0x11; /* PE | ET */
	cpu->cs = (struct vm_segment){.limit = 0xffffffff, .selector = 0x10, .type = 0xb, .s = 1,
				      .present = 1, .db = 1, .g = 1};
	cpu->ds = (struct vm_segment){.limit = 0xffffffff, .selector = 0x18, .type = 0x3, .s = 1,
				      .present = 1, .db = 1, .g = 1};
}
