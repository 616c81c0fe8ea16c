/* memmap.c: builds the guest's e820-style physical memory map (loaders/memmap.h). */
#include <errno.h>

#include "loaders/memmap.h"

#define FOUR_GIB 0x100000000ULL

/* Where RAM regions may show through, and as what. Anything outside these
 * windows (the VGA/option-ROM window, the MMIO hole) is not reported even if
 * a region covers it. Ordered by base. */
static const struct memmap_entry memmap_windows[] = {
	{0, MEMMAP_EBDA_BASE, MEMMAP_RAM},
	{MEMMAP_EBDA_BASE, MEMMAP_VGA_BASE - MEMMAP_EBDA_BASE, MEMMAP_RESERVED},
	{MEMMAP_BIOS_BASE, MEMMAP_HIGH_BASE - MEMMAP_BIOS_BASE, MEMMAP_RESERVED},
	{MEMMAP_HIGH_BASE, GMEM_LOWMEM_LIMIT - MEMMAP_HIGH_BASE, MEMMAP_RAM},
	{GMEM_HIGHMEM_BASE, UINT64_MAX - GMEM_HIGHMEM_BASE, MEMMAP_RAM},
};

static int memmap_push(struct memmap_entry *out, unsigned cap, unsigned *n, uint64_t base,
		       uint64_t end, uint32_t type)
{
	if (end <= base)
		return 0;
	if (*n >= cap)
		return -ENOSPC;
	out[(*n)++] = (struct memmap_entry){.base = base, .len = end - base, .type = type};
	return 0;
}

int memmap_build(const struct guest_mem *m, struct memmap_entry *out, unsigned cap)
{
	unsigned n = 0;
	unsigned nreg = m->nregions < GMEM_MAX_REGIONS ? m->nregions : GMEM_MAX_REGIONS;
	int rc;

	for (size_t w = 0; w < sizeof(memmap_windows) / sizeof(memmap_windows[0]); w++) {
		const struct memmap_entry *win = &memmap_windows[w];
		uint64_t wend = win->base + win->len;
		for (unsigned i = 0; i < nreg; i++) {
			uint64_t rb = m->r[i].gpa;
			/* Overflow-safe end of a caller-supplied region. */
			uint64_t re = m->r[i].size > UINT64_MAX - rb ? UINT64_MAX : rb + m->r[i].size;
			uint64_t b = rb > win->base ? rb : win->base;
			uint64_t e = re < wend ? re : wend;
			rc = memmap_push(out, cap, &n, b, e, win->type);
			if (rc)
				return rc;
		}
	}
	/* The IOAPIC and LAPIC pages are MMIO whatever the RAM size; firmware
	 * reports them reserved so the OS does not map RAM there. */
	rc = memmap_push(out, cap, &n, GMEM_IOAPIC_BASE, GMEM_IOAPIC_BASE + MEMMAP_MMIO_PAGE,
			 MEMMAP_RESERVED);
	if (rc)
		return rc;
	rc = memmap_push(out, cap, &n, GMEM_LAPIC_BASE, GMEM_LAPIC_BASE + MEMMAP_MMIO_PAGE,
			 MEMMAP_RESERVED);
	if (rc)
		return rc;

	/* Insertion sort by base: at most MEMMAP_MAX_ENTRIES entries. */
	for (unsigned i = 1; i < n; i++) {
		struct memmap_entry e = out[i];
		unsigned j = i;
		while (j > 0 && out[j - 1].base > e.base) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = e;
	}
	return (int)n;
}

bool memmap_is_ram(const struct memmap_entry *map, unsigned n, uint64_t base, uint64_t len)
{
	if (len > UINT64_MAX - base)
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct memmap_entry *e = &map[i];
		if (e->type != MEMMAP_RAM || base < e->base)
			continue;
		uint64_t off = base - e->base;
		if (off <= e->len && len <= e->len - off)
			return true;
	}
	return false;
}

uint32_t memmap_lower_kb(const struct guest_mem *m)
{
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = memmap_build(m, map, MEMMAP_MAX_ENTRIES);

	for (int i = 0; i < n; i++)
		if (map[i].type == MEMMAP_RAM && map[i].base == 0)
			return (uint32_t)(map[i].len >> 10); /* <= 0x9fc00 >> 10 = 639 */
	return 0;
}

uint32_t memmap_upper_kb(const struct guest_mem *m)
{
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = memmap_build(m, map, MEMMAP_MAX_ENTRIES);
	uint64_t top = MEMMAP_HIGH_BASE;

	/* Same walk as QEMU's multiboot option ROM (pc-bios/optionrom/multiboot.S,
	 * upper_mem_entry): extend from 1 MiB through RAM entries below 4 GiB
	 * that contain the current top, restarting because the map need not be
	 * ordered. top only grows, so this ends. */
	for (int i = 0; i < n; i++) {
		const struct memmap_entry *e = &map[i];
		if (e->type != MEMMAP_RAM || e->base >= FOUR_GIB)
			continue;
		uint64_t end = e->len > FOUR_GIB - e->base ? FOUR_GIB : e->base + e->len;
		if (e->base <= top && top < end) {
			top = end;
			i = -1;
		}
	}
	return (uint32_t)((top - MEMMAP_HIGH_BASE) >> 10);
}
