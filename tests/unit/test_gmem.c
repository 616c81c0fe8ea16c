/* test_gmem.c: guest memory layout and the checked accessor. */
#include <errno.h>
#include <stdlib.h>

#include "tests/unit/tap.h"
#include "vmm/gmem.h"

int main(void)
{
	static uint8_t host[1 << 16];
	struct guest_mem m;

	gmem_layout(&m, host, sizeof(host));
	CHECK_EQ(m.nregions, 1, "small RAM is one region");
	CHECK(gmem_ptr(&m, 0, sizeof(host)) == host, "whole RAM is addressable");
	CHECK(gmem_ptr(&m, 1, sizeof(host)) == NULL, "one byte past the end is refused");
	CHECK(gmem_ptr(&m, sizeof(host), 0) != NULL, "empty range at the end is valid");
	CHECK(gmem_ptr(&m, sizeof(host) + 1, 0) == NULL, "empty range past the end is refused");
	CHECK(gmem_ptr(&m, 16, UINT64_MAX) == NULL, "length overflow is refused");
	CHECK(gmem_ptr(&m, UINT64_MAX, 2) == NULL, "address overflow is refused");
	uint32_t v = 0x12345678, r = 0;
	CHECK_EQ(gmem_write(&m, 100, &v, 4), 0, "write inside RAM");
	CHECK_EQ(gmem_read(&m, 100, &r, 4), 0, "read inside RAM");
	CHECK_EQ(r, v, "read back what was written");
	CHECK_EQ(gmem_write(&m, sizeof(host) - 2, &v, 4), -EFAULT, "write across the end fails");

	/* A large VM: RAM above the 3 GiB hole moves to 4 GiB (no host memory touched). */
	gmem_layout(&m, (uint8_t *)0x100000, 4ULL << 30);
	CHECK_EQ(m.nregions, 2, "4 GiB of RAM is split around the hole");
	CHECK_EQ(m.r[0].size, GMEM_LOWMEM_LIMIT, "low region ends at the hole");
	CHECK_EQ(m.r[1].gpa, GMEM_HIGHMEM_BASE, "high region starts at 4 GiB");
	CHECK_EQ(m.r[1].size, (4ULL << 30) - GMEM_LOWMEM_LIMIT, "high region holds the rest");
	CHECK_EQ(gmem_top(&m), GMEM_HIGHMEM_BASE + (1ULL << 30), "top of RAM");
	CHECK(gmem_ptr(&m, GMEM_LAPIC_BASE, 4) == NULL, "LAPIC page is not RAM");
	CHECK(gmem_ptr(&m, GMEM_LOWMEM_LIMIT - 2, 4) == NULL, "range across the hole is refused");

	/* Memory slots around APIC pages relocated onto RAM (SDM 10.4.5). */
	struct gmem_slot sl[GMEM_MAX_SLOTS];
	unsigned ns = gmem_slots(&m, NULL, 0, sl);
	CHECK(ns == 2 && sl[0].gpa == 0 && sl[0].size == GMEM_LOWMEM_LIMIT && sl[1].gpa == GMEM_HIGHMEM_BASE,
	      "slots: no hole: one slot per region");
	const uint64_t holes[] = {0x2000000, GMEM_LAPIC_BASE, 0x1000, 0x2000000, 0};
	ns = gmem_slots(&m, holes, 5, sl);
	CHECK_EQ(ns, 3, "slots: holes at 0, 0x1000 and 0x2000000 (twice), one not RAM: 3 slots");
	CHECK(sl[0].gpa == 0x2000 && sl[0].size == 0x2000000 - 0x2000 && sl[0].host == m.r[0].host + 0x2000,
	      "slots: [0x2000, 0x2000000) after the two pages at 0");
	CHECK(sl[1].gpa == 0x2001000 && sl[1].size == GMEM_LOWMEM_LIMIT - 0x2001000 &&
		      sl[1].host == m.r[0].host + 0x2001000,
	      "slots: the rest of low RAM after the hole at 0x2000000");
	CHECK(sl[2].gpa == GMEM_HIGHMEM_BASE && sl[2].size == (1ULL << 30), "slots: the high region whole");
	const uint64_t last[] = {GMEM_LOWMEM_LIMIT - 0x1000, GMEM_HIGHMEM_BASE};
	ns = gmem_slots(&m, last, 2, sl);
	CHECK(ns == 2 && sl[0].size == GMEM_LOWMEM_LIMIT - 0x1000 && sl[1].gpa == GMEM_HIGHMEM_BASE + 0x1000 &&
		      sl[1].size == (1ULL << 30) - 0x1000,
	      "slots: holes at a region's last and first page");
	return tap_done();
}
