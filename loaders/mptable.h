/* mptable.h: Intel MultiProcessor Specification 1.4 tables (floating pointer + configuration table) for an ncpus-vCPU PC guest.
 *
 * Reference: Intel MultiProcessor Specification, version 1.4, May 1997
 * (cited "MP" + section): 4.1 MP Floating Pointer Structure, 4.2 MP
 * Configuration Table Header, 4.3 base table entries (4.3.1 Processor,
 * 4.3.2 Bus, 4.3.3 I/O APIC, 4.3.4 I/O Interrupt Assignment, 4.3.5 Local
 * Interrupt Assignment), 5.1 default configurations (IRQ routing).
 *
 * Placement: [MPTABLE_BASE, MPTABLE_LIMIT) = [0xF8000, 0x100000), the upper
 * half of the reserved BIOS area (loaders/memmap.h) that an OS searches for
 * "_MP_" on 16-byte boundaries (MP 4: "within the BIOS ROM address space
 * between 0F0000h and 0FFFFFh"). loaders/acpi.h uses [0xF0000, 0xF8000).
 *   0xF8000  MP floating pointer (16 bytes), PHYSICAL ADDRESS POINTER ->
 *   0xF8010  MP configuration table: 44-byte header, then the entries
 *            sorted by type (MP 4.3): one Processor per vCPU (20 bytes),
 *            bus 0 "ISA", one I/O APIC, 15 I/O interrupt assignments, two
 *            local interrupt assignments (8 bytes each); 5276 bytes for
 *            254 vCPUs. No extended table.
 *
 * What it describes:
 *  - vCPU i has local APIC ID i, version 0x14 (integrated xAPIC, as
 *    vmm/vlapic.c reports), enabled; vCPU 0 is the BSP.
 *  - One I/O APIC, version 0x11 (82093AA, vmm/vioapic.h), at 0xFEC00000,
 *    with ID ncpus: MP IDs share one name space, so it takes the first ID
 *    no processor uses. (The ACPI MADT names it 0, and the vIOAPIC's ID
 *    register holds what libvmm gave it; on xAPIC machines Linux neither
 *    checks nor rewrites it: arch/x86/kernel/apic/io_apic.c
 *    setup_ioapic_ids_from_mpc returns early.)
 *  - ISA IRQs 0, 1 and 3-15 as INT, bus-default polarity and trigger, to
 *    INTIN = IRQ, except IRQ0 (the PIT) -> INTIN2; IRQ2 is the 8259
 *    cascade and has no entry (MP 5.1, as SeaBIOS and bhyve do).
 *  - ExtINT (the 8259 pair) on LINT0 and NMI on LINT1 of every local APIC
 *    (destination 0xFF).
 *
 * Limit: the MP table's APIC IDs are 8 bits and 0xFF means "all", and the
 * I/O APIC needs an ID of its own, so it describes at most
 * MPTABLE_MAX_CPUS = 254 processors (IDs 0..253, I/O APIC 254). A guest
 * with more vCPUs is refused (-ERANGE): describe it with ACPI alone
 * (acpi_build: x2APIC entries) and leave the MP table out; a truncated
 * table would hide vCPUs from an OS that trusts it.
 */
#ifndef LOADERS_MPTABLE_H
#define LOADERS_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"

#define MPTABLE_BASE 0xF8000ULL
#define MPTABLE_LIMIT 0x100000ULL
#define MPTABLE_FP_ADDR 0xF8000ULL     /* floating pointer */
#define MPTABLE_CONFIG_ADDR 0xF8010ULL /* configuration table */
#define MPTABLE_MAX_CPUS 254

#define MPTABLE_SPEC_REV 4          /* 1.4 */
#define MPTABLE_LAPIC_VERSION 0x14
#define MPTABLE_IOAPIC_VERSION 0x11
#define MPTABLE_OEM_ID "HYVE    "        /* 8 bytes */
#define MPTABLE_PRODUCT_ID "HYVE        " /* 12 bytes */

struct mptable_result {
	uint64_t fp;         /* floating pointer address (MPTABLE_FP_ADDR) */
	uint64_t config;     /* configuration table address */
	uint64_t start, end; /* [start, end): bytes written */
	uint8_t ioapic_id;   /* = ncpus */
	unsigned nentries;   /* ENTRY COUNT of the configuration table */
};

/* Writes the MP floating pointer and configuration table for ncpus vCPUs
 * (APIC IDs 0..ncpus-1) at [MPTABLE_BASE, MPTABLE_LIMIT) (the rest of the
 * window is zeroed), checksums valid (MP 4.1, 4.2). On error guest memory
 * is untouched and err (if err != NULL and errlen > 0) holds one line
 * naming the value. Returns 0, or
 *   -EINVAL  m or r NULL, ncpus 0;
 *   -ERANGE  ncpus > MPTABLE_MAX_CPUS (use ACPI only, see above);
 *   -E2BIG   the window is not guest RAM (RAM smaller than 1 MiB). */
int mptable_build(const struct guest_mem *m, unsigned ncpus, struct mptable_result *r, char *err,
		  size_t errlen);

#endif
