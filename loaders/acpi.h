/* acpi.h: ACPI tables (RSDP, RSDT, XSDT, FADT, FACS, MCFG, DSDT, MADT) for an ncpus-vCPU PC guest, written into guest RAM.
 *
 * Reference: ACPI Specification 6.5 (cited "ACPI" + section): 5.2.5 RSDP
 * (5.2.5.1 finding it on IA-PC: a 16-byte boundary in 0xE0000-0xFFFFF),
 * 5.2.6 table header, 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 FADT, 5.2.10 FACS,
 * 5.2.11.1 DSDT, 5.2.12 MADT, 5.2.3.2 Generic Address Structure, 20 (AML).
 *
 * Placement: [ACPI_BASE, ACPI_LIMIT) = [0xF0000, 0xF8000), inside the BIOS
 * area that loaders/memmap.h reports reserved, so the OS neither reuses it
 * nor misses it in its scan. loaders/mptable.h uses [0xF8000, 0x100000).
 * Inside the window, at fixed addresses (16-byte aligned; checked at
 * compile time not to overlap):
 *   0xF0000  RSDP v2 (36 bytes; the address to hand to Linux/PVH)
 *   0xF0040  FACS (64 bytes, 64-byte aligned as ACPI 5.2.10 requires)
 *   0xF0080  RSDT -> FADT, MADT, MCFG (48 bytes)
 *   0xF00C0  XSDT -> FADT, MADT, MCFG (60 bytes)
 *   0xF0100  FADT (ACPI 6.5 layout, 276 bytes) -> FACS, DSDT
 *   0xF0220  MCFG (60 bytes: the ECAM window of segment 0, buses 0..0)
 *   0xF0260  DSDT (header + the AML of loaders/dsdt.asl, about 2 KiB)
 *   0xF1000  MADT (44 + 8 per xAPIC vCPU + 16 per x2APIC vCPU + 38 or 50
 *            bytes; 14438 bytes for 1024 vCPUs, ending at 0xF4866)
 * acpi_result repeats each address; the extent used is [start, end).
 *
 * What the tables describe (and what the frontend must provide):
 *  - MADT: local APIC at 0xFEE00000, PCAT_COMPAT (dual 8259s present);
 *    vCPU i has APIC ID i and ACPI Processor UID i: a Processor Local APIC
 *    structure (type 0) for IDs 0..254, a Processor Local x2APIC structure
 *    (type 9) for IDs >= 255 (ACPI 5.2.12.12), all Enabled; one I/O APIC,
 *    ID ACPI_IOAPIC_ID, at 0xFEC00000, GSI base 0; Interrupt Source
 *    Overrides ISA IRQ0 -> GSI 2 (edge, active high) and IRQ9 -> GSI 9
 *    (level, active high: the SCI); Local APIC NMI on LINT1 of every
 *    processor (UID 0xFF), plus Local x2APIC NMI (UID 0xFFFFFFFF) when
 *    x2APIC structures are present.
 *  - FADT: not HW_REDUCED. PM1a_EVT_BLK 0x600 (4 bytes), PM1a_CNT_BLK
 *    0x604 (2 bytes: devices/sysctl.h pmcnt), PM_TMR_BLK 0x608 (4 bytes,
 *    24-bit: TMR_VAL_EXT = 0, devices/pmtimer.h), no GPE blocks, SCI_INT 9,
 *    SMI_CMD 0 (the machine is always in ACPI mode: ACPI 5.2.9 SMI_CMD, so
 *    the OS never writes ACPI_ENABLE; PM1a_CNT.SCI_EN should read 1),
 *    C2/C3 latencies above the limits (only C1 via HLT), CENTURY 0x32
 *    (devices/rtc.h), IAPC_BOOT_ARCH LEGACY_DEVICES | 8042, RESET_REG I/O
 *    0xCF9 value 6 (devices/sysctl.h RCR), fixed power and sleep buttons
 *    absent, both 32- and 64-bit (X_) addresses filled in.
 *  - MCFG (PCI Firmware 3.2 4.1.2): ECAM at ACPI_ECAM_BASE for segment 0,
 *    buses 0..ACPI_ECAM_BUSES-1 (devices/pci.h).
 *  - DSDT (loaders/dsdt.asl): \_S5_ = Package {0, 0, 0, 0}: soft-off is
 *    SLP_TYP 0 written with SLP_EN to PM1a_CNT (devices/sysctl.h
 *    PMCNT_SLP_TYP_S5); \_SB.PEVT, QEMU's pvpanic (QEMU0001, port 0x505);
 *    \_SB.PCI0, the PCI root bridge (PNP0A08/PNP0A03, bus 0, I/O window
 *    0xC000-0xFFFF, memory window 0xC0000000-0xDFFFFFFF, _OSC granting the
 *    OS every feature, _PRT: slot s pin p -> GSI 16 + ((s + p) & 3));
 *    \_SB.MRES, a PNP0C02 motherboard resource reserving the ECAM window.
 */
#ifndef LOADERS_ACPI_H
#define LOADERS_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"

#define ACPI_BASE 0xF0000ULL  /* window start: the RSDP is here */
#define ACPI_LIMIT 0xF8000ULL /* window end (exclusive); MP tables follow */
#define ACPI_MAX_CPUS 1024    /* hyve's -c limit; the worst-case MADT fits the window */
#define ACPI_RSDP_ADDR 0xF0000ULL
#define ACPI_FACS_ADDR 0xF0040ULL
#define ACPI_RSDT_ADDR 0xF0080ULL
#define ACPI_XSDT_ADDR 0xF00C0ULL
#define ACPI_FADT_ADDR 0xF0100ULL
#define ACPI_MCFG_ADDR 0xF0220ULL
#define ACPI_DSDT_ADDR 0xF0260ULL
#define ACPI_MADT_ADDR 0xF1000ULL
#define ACPI_NTABLES 3 /* RSDT/XSDT entries: FADT, MADT, MCFG */

#define ACPI_ECAM_BASE 0xE0000000ULL /* devices/pci.h PCI_ECAM_BASE */
#define ACPI_ECAM_BUSES 1

#define ACPI_XAPIC_MAX_ID 254 /* highest APIC ID described by a type-0 structure */
#define ACPI_IOAPIC_ID 0
#define ACPI_SCI_IRQ 9
#define ACPI_PM1A_EVT_BLK 0x600
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1A_CNT_BLK 0x604
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM_TMR_BLK 0x608
#define ACPI_PM_TMR_LEN 4
#define ACPI_RESET_PORT 0xCF9
#define ACPI_RESET_VALUE 6
#define ACPI_CENTURY 0x32

/* Revisions hyve writes (ACPI 5.2.x "Revision" of each table). */
#define ACPI_RSDP_REVISION 2 /* ACPI 2.0+ RSDP with the XSDT address */
#define ACPI_FADT_REVISION 6 /* FADT Major Version 6 ... */
#define ACPI_FADT_MINOR 5    /* ... Minor 5: ACPI 6.5, 276 bytes */
#define ACPI_MADT_REVISION 5 /* ACPI 6.3+: defines the Online Capable flag */
#define ACPI_DSDT_REVISION 2 /* 64-bit AML integers */
#define ACPI_FACS_VERSION 2

#define ACPI_OEM_ID "HYVE  " /* 6 bytes, in every header and the RSDP */

struct acpi_result {
	uint64_t rsdp;       /* RSDP address: hvm_start_info.rsdp_paddr, boot_params.acpi_rsdp_addr */
	uint64_t start, end; /* [start, end): bytes written (start = ACPI_BASE) */
	uint64_t rsdt, xsdt, fadt, facs, mcfg, dsdt, madt;
	unsigned n_lapic;    /* type-0 structures in the MADT: min(ncpus, 255) */
	unsigned n_x2apic;   /* type-9 structures: ncpus - n_lapic */
};

/* Writes the ACPI tables for a guest with ncpus vCPUs (APIC IDs 0..ncpus-1)
 * into m at [ACPI_BASE, ACPI_LIMIT) (the rest of the window is zeroed), all
 * checksums valid (ACPI 5.2.5.3, 5.2.6). On error guest memory is untouched
 * and err (if err != NULL and errlen > 0) holds one line naming the value.
 * Returns 0, or
 *   -EINVAL  m or r NULL, ncpus 0 or above ACPI_MAX_CPUS;
 *   -E2BIG   the window is not guest RAM (RAM smaller than 1 MiB). */
int acpi_build(const struct guest_mem *m, unsigned ncpus, struct acpi_result *r, char *err,
	       size_t errlen);

#endif
