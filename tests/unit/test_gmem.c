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
	return tap_done();
}
