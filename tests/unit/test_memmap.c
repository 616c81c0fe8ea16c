/* test_memmap.c: the guest e820-style memory map and the multiboot mem_lower/mem_upper helpers. */
#include <errno.h>
#include <stdlib.h>

#include "loaders/memmap.h"
#include "tests/unit/tap.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* Layouts only: memmap never touches guest memory, so a fake host pointer
 * stands in for RAM sizes the test could not allocate. */
static uint8_t *const fake_host = (uint8_t *)0x10000;

static int build(uint64_t ram, struct memmap_entry *map)
{
	struct guest_mem m;
	gmem_layout(&m, fake_host, ram);
	return memmap_build(&m, map, MEMMAP_MAX_ENTRIES);
}

static void check_entry(const struct memmap_entry *e, uint64_t base, uint64_t len, uint32_t type,
			const char *what)
{
	CHECK_EQ(e->base, base, "%s: base", what);
	CHECK_EQ(e->len, len, "%s: length", what);
	CHECK_EQ(e->type, type, "%s: type", what);
}

/* Sorted, non-overlapping, no empty entries: the contract of memmap_build. */
static void check_sane(const struct memmap_entry *map, int n, const char *what)
{
	bool ok = n >= 0 && n <= MEMMAP_MAX_ENTRIES;
	for (int i = 0; ok && i < n; i++) {
		ok = map[i].len > 0;
		if (i > 0)
			ok = ok && map[i - 1].base + map[i - 1].len <= map[i].base;
	}
	CHECK(ok, "%s: entries sorted, non-empty, non-overlapping", what);
}

static uint32_t lower(uint64_t ram)
{
	struct guest_mem m;
	gmem_layout(&m, fake_host, ram);
	return memmap_lower_kb(&m);
}

static uint32_t upper(uint64_t ram)
{
	struct guest_mem m;
	gmem_layout(&m, fake_host, ram);
	return memmap_upper_kb(&m);
}

static void test_256m(void)
{
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = build(256 * MIB, map);
	CHECK_EQ(n, 6, "256 MiB: six entries");
	check_sane(map, n, "256 MiB");
	check_entry(&map[0], 0, 0x9fc00, MEMMAP_RAM, "256 MiB: conventional RAM");
	check_entry(&map[1], 0x9fc00, 0x400, MEMMAP_RESERVED, "256 MiB: EBDA");
	check_entry(&map[2], 0xf0000, 0x10000, MEMMAP_RESERVED, "256 MiB: BIOS area");
	check_entry(&map[3], MIB, 255 * MIB, MEMMAP_RAM, "256 MiB: extended RAM");
	check_entry(&map[4], GMEM_IOAPIC_BASE, 0x1000, MEMMAP_RESERVED, "256 MiB: IOAPIC");
	check_entry(&map[5], GMEM_LAPIC_BASE, 0x1000, MEMMAP_RESERVED, "256 MiB: LAPIC");
	CHECK_EQ(lower(256 * MIB), 639, "256 MiB: mem_lower is 639 KiB (EBDA excluded)");
	CHECK_EQ(upper(256 * MIB), 255 * 1024, "256 MiB: mem_upper is 255 MiB in KiB");

	CHECK(memmap_is_ram(map, n, 0, 0x9fc00), "256 MiB: all of conventional RAM is RAM");
	CHECK(!memmap_is_ram(map, n, 0x9fb00, 0x200), "256 MiB: a range into the EBDA is not RAM");
	CHECK(!memmap_is_ram(map, n, 0xa0000, 1), "256 MiB: the VGA window is not RAM");
	CHECK(memmap_is_ram(map, n, MIB, 255 * MIB), "256 MiB: all of extended RAM is RAM");
	CHECK(!memmap_is_ram(map, n, MIB, 255 * MIB + 1), "256 MiB: one byte past RAM is not");
	CHECK(!memmap_is_ram(map, n, 0xff000, 0x2000), "256 MiB: BIOS area + 1 MiB is not one range");
	CHECK(memmap_is_ram(map, n, 256 * MIB, 0), "256 MiB: empty range at the end of RAM");
	CHECK(!memmap_is_ram(map, n, GMEM_LAPIC_BASE, 4), "256 MiB: LAPIC page is not RAM");
	CHECK(!memmap_is_ram(map, n, UINT64_MAX, 2), "256 MiB: wrapping range is refused");
	CHECK(!memmap_is_ram(map, n, 2 * MIB, UINT64_MAX), "256 MiB: huge length is refused");

	CHECK_EQ(memmap_build(&(struct guest_mem){0}, map, 1), -ENOSPC,
		 "no RAM still needs two MMIO entries: cap 1 gives -ENOSPC");
	struct guest_mem m;
	gmem_layout(&m, fake_host, 256 * MIB);
	CHECK_EQ(memmap_build(&m, map, 5), -ENOSPC, "256 MiB: cap 5 < 6 entries gives -ENOSPC");
	CHECK_EQ(memmap_build(&m, map, 6), 6, "256 MiB: cap 6 is exactly enough");
}

static void test_tiny(void)
{
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n;

	n = build(512 * 1024, map);
	CHECK_EQ(n, 3, "512 KiB: RAM plus the two MMIO pages");
	check_sane(map, n, "512 KiB");
	check_entry(&map[0], 0, 512 * 1024, MEMMAP_RAM, "512 KiB: RAM");
	check_entry(&map[1], GMEM_IOAPIC_BASE, 0x1000, MEMMAP_RESERVED, "512 KiB: IOAPIC");
	CHECK_EQ(lower(512 * 1024), 512, "512 KiB: mem_lower is all of RAM");
	CHECK_EQ(upper(512 * 1024), 0, "512 KiB: no RAM at 1 MiB, mem_upper 0");

	n = build(0x9fe00, map);
	CHECK_EQ(n, 4, "RAM ending inside the EBDA: 4 entries");
	check_entry(&map[1], 0x9fc00, 0x200, MEMMAP_RESERVED, "EBDA clipped to the RAM behind it");
	CHECK_EQ(lower(0x9fe00), 639, "RAM ending inside the EBDA: mem_lower 639");

	n = build(0xf8000, map);
	CHECK_EQ(n, 5, "RAM ending inside the BIOS area: 5 entries");
	check_sane(map, n, "RAM ending inside the BIOS area");
	check_entry(&map[2], 0xf0000, 0x8000, MEMMAP_RESERVED, "BIOS area clipped to RAM");

	n = build(MIB, map);
	CHECK_EQ(n, 5, "exactly 1 MiB: no extended RAM entry");
	CHECK_EQ(upper(MIB), 0, "exactly 1 MiB: mem_upper 0");

	n = build(MIB + 0x1000, map);
	CHECK_EQ(n, 6, "1 MiB + 4 KiB: one page of extended RAM");
	check_entry(&map[3], MIB, 0x1000, MEMMAP_RAM, "1 MiB + 4 KiB: extended RAM");
	CHECK_EQ(upper(MIB + 0x1000), 4, "1 MiB + 4 KiB: mem_upper 4");

	n = build(0, map);
	CHECK_EQ(n, 2, "no RAM: only the MMIO pages");
	CHECK_EQ(lower(0), 0, "no RAM: mem_lower 0");
	CHECK_EQ(upper(0), 0, "no RAM: mem_upper 0");
}

static void test_large(void)
{
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n;

	n = build(4 * GIB, map);
	CHECK_EQ(n, 7, "4 GiB: seven entries");
	check_sane(map, n, "4 GiB");
	check_entry(&map[3], MIB, GMEM_LOWMEM_LIMIT - MIB, MEMMAP_RAM, "4 GiB: RAM up to the hole");
	check_entry(&map[4], GMEM_IOAPIC_BASE, 0x1000, MEMMAP_RESERVED, "4 GiB: IOAPIC");
	check_entry(&map[5], GMEM_LAPIC_BASE, 0x1000, MEMMAP_RESERVED, "4 GiB: LAPIC");
	check_entry(&map[6], GMEM_HIGHMEM_BASE, 4 * GIB - GMEM_LOWMEM_LIMIT, MEMMAP_RAM,
		    "4 GiB: the rest above 4 GiB");
	CHECK_EQ(lower(4 * GIB), 639, "4 GiB: mem_lower 639");
	CHECK_EQ(upper(4 * GIB), (GMEM_LOWMEM_LIMIT - MIB) >> 10,
		 "4 GiB: mem_upper stops at the MMIO hole");
	CHECK(memmap_is_ram(map, n, GMEM_HIGHMEM_BASE, GIB), "4 GiB: high RAM is RAM");
	CHECK(!memmap_is_ram(map, n, GMEM_LOWMEM_LIMIT - 4, 8), "4 GiB: range into the hole is not");

	n = build(GMEM_LOWMEM_LIMIT, map);
	CHECK_EQ(n, 6, "exactly 3 GiB: no high RAM entry");
	check_entry(&map[3], MIB, GMEM_LOWMEM_LIMIT - MIB, MEMMAP_RAM, "3 GiB: RAM up to the hole");

	n = build(64 * GIB, map);
	CHECK_EQ(n, 7, "64 GiB: seven entries");
	check_entry(&map[6], GMEM_HIGHMEM_BASE, 64 * GIB - GMEM_LOWMEM_LIMIT, MEMMAP_RAM,
		    "64 GiB: high RAM");
	CHECK_EQ(upper(64 * GIB), (GMEM_LOWMEM_LIMIT - MIB) >> 10,
		 "64 GiB: mem_upper counts only memory below the hole");

	/* A hand-made guest_mem with a bogus huge region: clipped, no overflow. */
	struct guest_mem m = {.nregions = 1, .ram_size = UINT64_MAX};
	m.r[0] = (struct gmem_region){.gpa = 0, .size = UINT64_MAX, .host = fake_host};
	n = memmap_build(&m, map, MEMMAP_MAX_ENTRIES);
	check_sane(map, n, "a region covering all addresses");
	CHECK_EQ(n, 7, "a region covering all addresses: still seven entries");
	CHECK_EQ(map[6].base + map[6].len, UINT64_MAX, "a region covering all addresses: clipped");
	CHECK_EQ(memmap_upper_kb(&m), (GMEM_LOWMEM_LIMIT - MIB) >> 10,
		 "a region covering all addresses: mem_upper fits 32 bits");
}

int main(void)
{
	test_256m();
	test_tiny();
	test_large();
	return tap_done();
}
