/* memmap.h: the guest's physical memory map (e820-style), shared by every loader.
 *
 * One pure function turns a struct guest_mem into the list of ranges a
 * firmware would report through INT 15h/E820 (ACPI 6.4 sec. 15, "System
 * Address Map Interfaces"). Multiboot's mmap and mem_lower/mem_upper, Linux's
 * boot_params.e820_table and the ACPI/MP table placement all derive from it,
 * so every loader agrees on what is RAM.
 *
 * Map for a guest with ram_size bytes (L = RAM below GMEM_LOWMEM_LIMIT):
 *   [0, 0x9fc00)                  RAM       conventional memory
 *   [0x9fc00, 0xa0000)            reserved  EBDA (1 KiB, as SeaBIOS reserves)
 *   [0xa0000, 0xf0000)            absent    VGA window + option ROMs: not listed
 *   [0xf0000, 0x100000)           reserved  BIOS area (ACPI RSDP / MP tables)
 *   [0x100000, L)                 RAM
 *   [GMEM_IOAPIC_BASE, +4 KiB)    reserved  IOAPIC MMIO
 *   [GMEM_LAPIC_BASE, +4 KiB)     reserved  LAPIC MMIO
 *   [GMEM_HIGHMEM_BASE, +rest)    RAM       only when ram_size > GMEM_LOWMEM_LIMIT
 * RAM-backed windows are clipped to the RAM that exists: with tiny RAM the
 * entries above L are left out (or shortened), never invented. The MMIO
 * pages are always listed.
 */
#ifndef LOADERS_MEMMAP_H
#define LOADERS_MEMMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/gmem.h"

/* Entry types: the E820 address range types (ACPI 6.4 sec. 15.1, Address Range Types). */
#define MEMMAP_RAM 1      /* AddressRangeMemory: usable by the OS */
#define MEMMAP_RESERVED 2 /* AddressRangeReserved: must not be used */

/* Fixed windows of the PC layout (see the map above). */
#define MEMMAP_EBDA_BASE 0x9FC00ULL  /* start of the EBDA = end of low RAM */
#define MEMMAP_VGA_BASE 0xA0000ULL   /* 640 KiB: end of the EBDA */
#define MEMMAP_BIOS_BASE 0xF0000ULL  /* start of the BIOS area */
#define MEMMAP_HIGH_BASE 0x100000ULL /* 1 MiB: extended memory starts here */
#define MEMMAP_MMIO_PAGE 0x1000ULL   /* size of the IOAPIC and LAPIC entries */

/* Upper bound on the entries memmap_build produces for any guest_mem. */
#define MEMMAP_MAX_ENTRIES 8

struct memmap_entry {
	uint64_t base; /* guest-physical start */
	uint64_t len;  /* bytes, > 0 */
	uint32_t type; /* MEMMAP_RAM or MEMMAP_RESERVED */
};

/* Fills out[0..cap) with the map of m, sorted by base, non-overlapping, no
 * empty entries. Returns the number of entries, or -ENOSPC if cap is too
 * small (out is then partially written). MEMMAP_MAX_ENTRIES always suffices.
 * Pure: reads only m->nregions and m->r[].gpa/.size. */
int memmap_build(const struct guest_mem *m, struct memmap_entry *out, unsigned cap);

/* True if [base, base + len) lies inside one MEMMAP_RAM entry of map[0..n)
 * (overflow-safe; len 0 is true at any address inside or at the end of a
 * RAM entry). */
bool memmap_is_ram(const struct memmap_entry *map, unsigned n, uint64_t base, uint64_t len);

/* Multiboot mem_lower (Multiboot 0.6.96 sec. 3.3): KiB of RAM starting at 0,
 * at most 639 (the EBDA takes the last KiB below 640 KiB, which is what
 * SeaBIOS's INT 12h, and so QEMU's multiboot, reports). Smaller for tiny RAM. */
uint32_t memmap_lower_kb(const struct guest_mem *m);

/* Multiboot mem_upper (sec. 3.3): KiB of RAM contiguous from 1 MiB up to
 * the first hole, 0 if there is no RAM at 1 MiB. Only memory below 4 GiB
 * counts, so the value always fits in 32 bits. */
uint32_t memmap_upper_kb(const struct guest_mem *m);

#endif
