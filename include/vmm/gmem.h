/* gmem.h: guest physical memory layout and the one checked accessor to it.
 *
 * Layout (see docs/architecture.md): RAM from 0 up to GMEM_LOWMEM_LIMIT; the
 * hole [GMEM_LOWMEM_LIMIT, 4 GiB) holds the IOAPIC, the LAPIC and (later)
 * other MMIO; RAM beyond the low limit is remapped to start at 4 GiB.
 * Leaf header: loaders and devices include it without seeing a VM.
 */
#ifndef VMM_GMEM_H
#define VMM_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_LOWMEM_LIMIT 0xC0000000ULL /* 3 GiB: start of the MMIO hole */
#define GMEM_HIGHMEM_BASE 0x100000000ULL /* RAM above the hole restarts here */
#define GMEM_IOAPIC_BASE 0xFEC00000ULL
#define GMEM_LAPIC_BASE 0xFEE00000ULL

#define GMEM_MAX_REGIONS 2

struct gmem_region {
	uint64_t gpa;  /* guest-physical start */
	uint64_t size; /* bytes, > 0 */
	uint8_t *host; /* host mapping of gpa */
};

struct guest_mem {
	unsigned nregions;    /* 1 or 2; regions sorted by gpa, non-overlapping */
	uint64_t ram_size;    /* total RAM bytes (sum of region sizes) */
	struct gmem_region r[GMEM_MAX_REGIONS];
};

/* Splits ram_size bytes at host into the low/high regions of the layout. */
void gmem_layout(struct guest_mem *m, uint8_t *host, uint64_t ram_size);

/* Host pointer to [gpa, gpa + len) if the whole range is RAM inside one
 * region; NULL otherwise (overflow-safe; len 0 is valid inside a region). */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy in/out of guest RAM. 0, or -EFAULT if any byte is not RAM. */
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

/* The KVM memory slots that map RAM when some 4 KiB pages of it are holes:
 * a local APIC relocated onto RAM (SDM Vol. 3A 10.4.5) has its MMIO page
 * there, and KVM exits for MMIO only where no slot is. */
#define GMEM_PAGE_SIZE 0x1000ULL
#define GMEM_MAX_HOLES 8
#define GMEM_MAX_SLOTS (GMEM_MAX_REGIONS + GMEM_MAX_HOLES)
struct gmem_slot {
	uint64_t gpa, size;
	uint8_t *host;
};
/* Fills out[] with the slots that map m's RAM except the pages holes[0..n)
 * (page-aligned; pages that are not RAM, and duplicates, change nothing),
 * sorted by gpa; returns their count (at most GMEM_MAX_REGIONS + n). */
unsigned gmem_slots(const struct guest_mem *m, const uint64_t *holes, unsigned n, struct gmem_slot *out);

/* Highest guest-physical address + 1 of RAM. */
uint64_t gmem_top(const struct guest_mem *m);
/* Bytes of RAM below GMEM_LOWMEM_LIMIT. */
uint64_t gmem_lowmem(const struct guest_mem *m);

#endif
