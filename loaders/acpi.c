/* acpi.c: builds the guest's ACPI tables in the BIOS area (loaders/acpi.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "loaders/acpi.h"
#include "loaders/bytes.h"

#define ACPI_HDR_SIZE 36 /* ACPI 5.2.6 Table 5.4 */
#define ACPI_HDR_OFF_LENGTH 4
#define ACPI_HDR_OFF_CHECKSUM 9

/* RSDP (ACPI 5.2.5.3 Table 5.3). */
#define RSDP_SIZE 36
#define RSDP_V1_SIZE 20 /* "Checksum" covers the first 20 bytes */
#define RSDP_OFF_CHECKSUM 8
#define RSDP_OFF_OEMID 9
#define RSDP_OFF_REVISION 15
#define RSDP_OFF_RSDT 16
#define RSDP_OFF_LENGTH 20
#define RSDP_OFF_XSDT 24
#define RSDP_OFF_EXT_CHECKSUM 32

/* FACS (ACPI 5.2.10 Table 5.14): no checksum. */
#define FACS_SIZE 64
#define FACS_ALIGN 64
#define FACS_OFF_LENGTH 4
#define FACS_OFF_VERSION 32

/* FADT (ACPI 5.2.9 Table 5.9): byte offsets. */
#define FADT_SIZE 276
#define FADT_OFF_FIRMWARE_CTRL 36
#define FADT_OFF_DSDT 40
#define FADT_OFF_SCI_INT 46
#define FADT_OFF_SMI_CMD 48
#define FADT_OFF_PM1A_EVT_BLK 56
#define FADT_OFF_PM1A_CNT_BLK 64
#define FADT_OFF_PM_TMR_BLK 76
#define FADT_OFF_PM1_EVT_LEN 88
#define FADT_OFF_PM1_CNT_LEN 89
#define FADT_OFF_PM_TMR_LEN 91
#define FADT_OFF_P_LVL2_LAT 96
#define FADT_OFF_P_LVL3_LAT 98
#define FADT_OFF_CENTURY 108
#define FADT_OFF_IAPC_BOOT_ARCH 109
#define FADT_OFF_FLAGS 112
#define FADT_OFF_RESET_REG 116
#define FADT_OFF_RESET_VALUE 128
#define FADT_OFF_MINOR_VERSION 131
#define FADT_OFF_X_DSDT 140
#define FADT_OFF_X_PM1A_EVT_BLK 148
#define FADT_OFF_X_PM1A_CNT_BLK 172
#define FADT_OFF_X_PM_TMR_BLK 208

/* P_LVL2_LAT > 100 and P_LVL3_LAT > 1000 mean "C2/C3 not supported". */
#define FADT_NO_C2 0x0fff
#define FADT_NO_C3 0x0fff

/* IAPC_BOOT_ARCH (ACPI 5.2.9.3 Table 5.11). */
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)

/* FADT Flags (ACPI 5.2.9 Table 5.10). */
#define FADT_F_WBINVD (1u << 0)        /* WBINVD works: required on IA-PC */
#define FADT_F_PROC_C1 (1u << 2)       /* C1 (HLT) on every processor */
#define FADT_F_PWR_BUTTON (1u << 4)    /* 1: no fixed-feature power button */
#define FADT_F_SLP_BUTTON (1u << 5)    /* 1: no fixed-feature sleep button */
#define FADT_F_FIX_RTC (1u << 6)       /* 1: no RTC wake status in PM1 */
#define FADT_F_TMR_VAL_EXT (1u << 8)   /* 0: the PM timer is 24 bits */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_FLAGS                                                                                 \
	(FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC | \
	 FADT_F_RESET_REG_SUP)

/* Generic Address Structure (ACPI 5.2.3.2 Table 5.1). */
#define GAS_SIZE 12
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_UNDEFINED 0 /* "legacy reasons": as QEMU for the PM blocks */
#define GAS_ACCESS_BYTE 1

/* MADT (ACPI 5.2.12 Table 5.19) and its structures. */
#define MADT_OFF_LAPIC_ADDR 36
#define MADT_OFF_FLAGS 40
#define MADT_FIXED 44
#define MADT_PCAT_COMPAT 1u
#define MADT_TYPE_LAPIC 0     /* 5.2.12.2, 8 bytes */
#define MADT_TYPE_IOAPIC 1    /* 5.2.12.3, 12 bytes */
#define MADT_TYPE_ISO 2       /* 5.2.12.5, 10 bytes */
#define MADT_TYPE_LAPIC_NMI 4 /* 5.2.12.7, 6 bytes */
#define MADT_TYPE_X2APIC 9    /* 5.2.12.12, 16 bytes */
#define MADT_TYPE_X2APIC_NMI 10 /* 5.2.12.13, 12 bytes */
#define MADT_LAPIC_SIZE 8
#define MADT_IOAPIC_SIZE 12
#define MADT_ISO_SIZE 10
#define MADT_LAPIC_NMI_SIZE 6
#define MADT_X2APIC_SIZE 16
#define MADT_X2APIC_NMI_SIZE 12
#define MADT_ENABLED 1u
#define MADT_UID_ALL 0xFFu
#define MADT_X2UID_ALL 0xFFFFFFFFu
/* MPS INTI flags (5.2.12.5 Table 5.26): polarity bits 1:0, trigger 3:2. */
#define INTI_HIGH 0x1u
#define INTI_EDGE (0x1u << 2)
#define INTI_LEVEL (0x3u << 2)
#define MADT_NMI_LINT 1 /* the PC wires NMI to LINT1 */

/* DSDT body: the AML iasl makes of loaders/dsdt.asl (\_S5_, the pvpanic
 * device, the PCI host bridge PCI0 with its windows, _OSC and _PRT, and the
 * motherboard resource that reserves the ECAM window); tools/dsdt-aml. */
#include "loaders/dsdt_aml.h"

/* MCFG (PCI Firmware 3.2 4.1.2 Table 4-2/4-3): header, 8 reserved bytes, one
 * 16-byte allocation per segment: base, segment, first and last bus. */
#define MCFG_SIZE (ACPI_HDR_SIZE + 8 + 16)
#define MCFG_REVISION 1

#define MADT_SIZE(nl, nx)                                                                          \
	(MADT_FIXED + (nl) * MADT_LAPIC_SIZE + (nx) * MADT_X2APIC_SIZE + MADT_IOAPIC_SIZE +        \
	 2 * MADT_ISO_SIZE + MADT_LAPIC_NMI_SIZE + ((nx) ? MADT_X2APIC_NMI_SIZE : 0))

/* The fixed addresses of acpi.h leave room for each table, and the
 * worst-case MADT fits the window. */
_Static_assert(ACPI_RSDP_ADDR + RSDP_SIZE <= ACPI_FACS_ADDR && ACPI_FACS_ADDR % FACS_ALIGN == 0 &&
		       ACPI_FACS_ADDR + FACS_SIZE <= ACPI_RSDT_ADDR &&
		       ACPI_RSDT_ADDR + ACPI_HDR_SIZE + ACPI_NTABLES * 4 <= ACPI_XSDT_ADDR &&
		       ACPI_XSDT_ADDR + ACPI_HDR_SIZE + ACPI_NTABLES * 8 <= ACPI_FADT_ADDR &&
		       ACPI_FADT_ADDR + FADT_SIZE <= ACPI_MCFG_ADDR && ACPI_MCFG_ADDR + MCFG_SIZE <= ACPI_DSDT_ADDR &&
		       ACPI_DSDT_ADDR + ACPI_HDR_SIZE + sizeof(dsdt_aml) <= ACPI_MADT_ADDR,
	       "ACPI tables overlap");
_Static_assert(ACPI_MADT_ADDR +
			       MADT_SIZE(ACPI_XAPIC_MAX_ID + 1, ACPI_MAX_CPUS - ACPI_XAPIC_MAX_ID - 1) <=
		       ACPI_LIMIT,
	       "ACPI_MAX_CPUS does not fit the ACPI window");

struct acpi_layout {
	uint64_t rsdp, facs, rsdt, xsdt, fadt, mcfg, dsdt, madt, end;
	uint32_t madt_len;
	unsigned nl, nx;
};

/* System Description Table Header (ACPI 5.2.6): OEM Table ID "HYVE" +
 * signature, revisions 1, creator "HYVE". The checksum is set last. */
static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	le_st32(t + ACPI_HDR_OFF_LENGTH, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, "HYVE", 4);
	memcpy(t + 20, sig, 4);
	le_st32(t + 24, 1); /* OEM Revision */
	memcpy(t + 28, "HYVE", 4);
	le_st32(t + 32, 1); /* Creator Revision */
}

static void acpi_gas(uint8_t *g, uint8_t bit_width, uint8_t access, uint64_t addr)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = bit_width;
	g[2] = 0; /* bit offset */
	g[3] = access;
	le_st64(g + 4, addr);
}

static void acpi_plan(unsigned ncpus, struct acpi_layout *l)
{
	l->nl = ncpus < ACPI_XAPIC_MAX_ID + 1 ? ncpus : ACPI_XAPIC_MAX_ID + 1;
	l->nx = ncpus - l->nl;
	l->madt_len = MADT_SIZE(l->nl, l->nx);
	l->rsdp = ACPI_RSDP_ADDR;
	l->facs = ACPI_FACS_ADDR;
	l->rsdt = ACPI_RSDT_ADDR;
	l->xsdt = ACPI_XSDT_ADDR;
	l->fadt = ACPI_FADT_ADDR;
	l->mcfg = ACPI_MCFG_ADDR;
	l->dsdt = ACPI_DSDT_ADDR;
	l->madt = ACPI_MADT_ADDR;
	l->end = l->madt + l->madt_len;
}

static void acpi_write_fadt(uint8_t *t, const struct acpi_layout *l)
{
	acpi_header(t, "FACP", FADT_SIZE, ACPI_FADT_REVISION);
	/* FIRMWARE_CTRL and X_FIRMWARE_CTRL: only one may be nonzero. */
	le_st32(t + FADT_OFF_FIRMWARE_CTRL, (uint32_t)l->facs);
	le_st32(t + FADT_OFF_DSDT, (uint32_t)l->dsdt);
	le_st16(t + FADT_OFF_SCI_INT, ACPI_SCI_IRQ);
	le_st32(t + FADT_OFF_SMI_CMD, 0);
	le_st32(t + FADT_OFF_PM1A_EVT_BLK, ACPI_PM1A_EVT_BLK);
	le_st32(t + FADT_OFF_PM1A_CNT_BLK, ACPI_PM1A_CNT_BLK);
	le_st32(t + FADT_OFF_PM_TMR_BLK, ACPI_PM_TMR_BLK);
	t[FADT_OFF_PM1_EVT_LEN] = ACPI_PM1_EVT_LEN;
	t[FADT_OFF_PM1_CNT_LEN] = ACPI_PM1_CNT_LEN;
	t[FADT_OFF_PM_TMR_LEN] = ACPI_PM_TMR_LEN;
	le_st16(t + FADT_OFF_P_LVL2_LAT, FADT_NO_C2);
	le_st16(t + FADT_OFF_P_LVL3_LAT, FADT_NO_C3);
	t[FADT_OFF_CENTURY] = ACPI_CENTURY;
	le_st16(t + FADT_OFF_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042);
	le_st32(t + FADT_OFF_FLAGS, FADT_FLAGS);
	/* RESET_REG: "Register_Bit_Width must be 8 and Register_Bit_Offset 0". */
	acpi_gas(t + FADT_OFF_RESET_REG, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
	t[FADT_OFF_RESET_VALUE] = ACPI_RESET_VALUE;
	t[FADT_OFF_MINOR_VERSION] = ACPI_FADT_MINOR;
	le_st64(t + FADT_OFF_X_DSDT, l->dsdt);
	acpi_gas(t + FADT_OFF_X_PM1A_EVT_BLK, ACPI_PM1_EVT_LEN * 8, GAS_ACCESS_UNDEFINED,
		 ACPI_PM1A_EVT_BLK);
	acpi_gas(t + FADT_OFF_X_PM1A_CNT_BLK, ACPI_PM1_CNT_LEN * 8, GAS_ACCESS_UNDEFINED,
		 ACPI_PM1A_CNT_BLK);
	acpi_gas(t + FADT_OFF_X_PM_TMR_BLK, ACPI_PM_TMR_LEN * 8, GAS_ACCESS_UNDEFINED,
		 ACPI_PM_TMR_BLK);
	loader_checksum(FADT_SIZE, t, ACPI_HDR_OFF_CHECKSUM);
}

static void acpi_write_madt(uint8_t *t, const struct acpi_layout *l)
{
	acpi_header(t, "APIC", l->madt_len, ACPI_MADT_REVISION);
	le_st32(t + MADT_OFF_LAPIC_ADDR, (uint32_t)GMEM_LAPIC_BASE);
	le_st32(t + MADT_OFF_FLAGS, MADT_PCAT_COMPAT);
	uint8_t *e = t + MADT_FIXED;
	/* The boot processor (APIC ID 0) comes first, as OSPM expects. */
	for (unsigned i = 0; i < l->nl; i++, e += MADT_LAPIC_SIZE) {
		e[0] = MADT_TYPE_LAPIC;
		e[1] = MADT_LAPIC_SIZE;
		e[2] = (uint8_t)i; /* ACPI Processor UID */
		e[3] = (uint8_t)i; /* APIC ID */
		le_st32(e + 4, MADT_ENABLED);
	}
	/* ACPI 5.2.12.12: x2APIC structures for IDs >= 255 (0xFF is the xAPIC broadcast). */
	for (unsigned k = 0; k < l->nx; k++, e += MADT_X2APIC_SIZE) {
		uint32_t id = l->nl + k;
		e[0] = MADT_TYPE_X2APIC;
		e[1] = MADT_X2APIC_SIZE;
		le_st16(e + 2, 0);   /* reserved */
		le_st32(e + 4, id);  /* x2APIC ID */
		le_st32(e + 8, MADT_ENABLED);
		le_st32(e + 12, id); /* ACPI Processor UID */
	}
	e[0] = MADT_TYPE_IOAPIC;
	e[1] = MADT_IOAPIC_SIZE;
	e[2] = ACPI_IOAPIC_ID;
	e[3] = 0;
	le_st32(e + 4, (uint32_t)GMEM_IOAPIC_BASE);
	le_st32(e + 8, 0); /* Global System Interrupt Base */
	e += MADT_IOAPIC_SIZE;
	/* ISA IRQ0 (the PIT) reaches I/O APIC pin 2, as on every PC and as
	 * the frontend wires it; the SCI is level, active high (the FADT's
	 * SCI_INT is an ISA IRQ whose default would be edge). */
	static const struct {
		uint8_t irq;
		uint32_t gsi;
		uint16_t flags;
	} iso[2] = {{0, 2, INTI_EDGE | INTI_HIGH}, {ACPI_SCI_IRQ, ACPI_SCI_IRQ, INTI_LEVEL | INTI_HIGH}};
	for (unsigned k = 0; k < 2; k++, e += MADT_ISO_SIZE) {
		e[0] = MADT_TYPE_ISO;
		e[1] = MADT_ISO_SIZE;
		e[2] = 0; /* Bus: ISA */
		e[3] = iso[k].irq;
		le_st32(e + 4, iso[k].gsi);
		le_st16(e + 8, iso[k].flags);
	}
	e[0] = MADT_TYPE_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_SIZE;
	e[2] = MADT_UID_ALL;
	le_st16(e + 3, INTI_EDGE | INTI_HIGH);
	e[5] = MADT_NMI_LINT;
	e += MADT_LAPIC_NMI_SIZE;
	if (l->nx) {
		e[0] = MADT_TYPE_X2APIC_NMI;
		e[1] = MADT_X2APIC_NMI_SIZE;
		le_st16(e + 2, INTI_EDGE | INTI_HIGH);
		le_st32(e + 4, MADT_X2UID_ALL);
		e[8] = MADT_NMI_LINT; /* then 3 reserved bytes */
	}
	loader_checksum(l->madt_len, t, ACPI_HDR_OFF_CHECKSUM);
}

int acpi_build(const struct guest_mem *m, unsigned ncpus, struct acpi_result *r, char *err,
	       size_t errlen)
{
	struct acpi_layout l;

	if (err && errlen)
		err[0] = '\0';
	if (!m || !r)
		return loader_fail(err, errlen, -EINVAL,
				   "acpi_build: NULL guest memory or result");
	if (ncpus == 0 || ncpus > ACPI_MAX_CPUS)
		return loader_fail(err, errlen, -EINVAL, "ACPI tables: ncpus %u is not in 1..%u",
				   ncpus, ACPI_MAX_CPUS);
	uint8_t *w = gmem_ptr(m, ACPI_BASE, ACPI_LIMIT - ACPI_BASE);
	if (!w)
		return loader_fail(err, errlen, -E2BIG,
				   "ACPI tables 0x%llx-0x%llx are not in guest RAM (low RAM is "
				   "0x%llx bytes)",
				   ACPI_BASE, ACPI_LIMIT, (unsigned long long)gmem_lowmem(m));
	acpi_plan(ncpus, &l);
	memset(w, 0, ACPI_LIMIT - ACPI_BASE);
#define AT(gpa) (w + ((gpa) - ACPI_BASE))

	uint8_t *t = AT(l.facs);
	memcpy(t, "FACS", 4);
	le_st32(t + FACS_OFF_LENGTH, FACS_SIZE);
	t[FACS_OFF_VERSION] = ACPI_FACS_VERSION;

	t = AT(l.dsdt);
	acpi_header(t, "DSDT", ACPI_HDR_SIZE + sizeof(dsdt_aml), ACPI_DSDT_REVISION);
	memcpy(t + ACPI_HDR_SIZE, dsdt_aml, sizeof(dsdt_aml));
	loader_checksum(ACPI_HDR_SIZE + sizeof(dsdt_aml), t, ACPI_HDR_OFF_CHECKSUM);

	acpi_write_fadt(AT(l.fadt), &l);
	acpi_write_madt(AT(l.madt), &l);

	t = AT(l.mcfg);
	acpi_header(t, "MCFG", MCFG_SIZE, MCFG_REVISION);
	le_st64(t + ACPI_HDR_SIZE + 8, ACPI_ECAM_BASE);
	le_st16(t + ACPI_HDR_SIZE + 16, 0);                       /* PCI segment group 0 */
	t[ACPI_HDR_SIZE + 18] = 0;                                /* start bus */
	t[ACPI_HDR_SIZE + 19] = (uint8_t)(ACPI_ECAM_BUSES - 1);   /* end bus */
	loader_checksum(MCFG_SIZE, t, ACPI_HDR_OFF_CHECKSUM);

	const uint64_t listed[ACPI_NTABLES] = {l.fadt, l.madt, l.mcfg};
	t = AT(l.rsdt);
	acpi_header(t, "RSDT", ACPI_HDR_SIZE + ACPI_NTABLES * 4, 1);
	for (unsigned i = 0; i < ACPI_NTABLES; i++)
		le_st32(t + ACPI_HDR_SIZE + 4 * i, (uint32_t)listed[i]);
	loader_checksum(ACPI_HDR_SIZE + ACPI_NTABLES * 4, t, ACPI_HDR_OFF_CHECKSUM);

	t = AT(l.xsdt);
	acpi_header(t, "XSDT", ACPI_HDR_SIZE + ACPI_NTABLES * 8, 1);
	for (unsigned i = 0; i < ACPI_NTABLES; i++)
		le_st64(t + ACPI_HDR_SIZE + 8 * i, listed[i]);
	loader_checksum(ACPI_HDR_SIZE + ACPI_NTABLES * 8, t, ACPI_HDR_OFF_CHECKSUM);

	t = AT(l.rsdp);
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + RSDP_OFF_OEMID, ACPI_OEM_ID, 6);
	t[RSDP_OFF_REVISION] = ACPI_RSDP_REVISION;
	le_st32(t + RSDP_OFF_RSDT, (uint32_t)l.rsdt);
	le_st32(t + RSDP_OFF_LENGTH, RSDP_SIZE);
	le_st64(t + RSDP_OFF_XSDT, l.xsdt);
	loader_checksum(RSDP_V1_SIZE, t, RSDP_OFF_CHECKSUM);
	loader_checksum(RSDP_SIZE, t, RSDP_OFF_EXT_CHECKSUM);
#undef AT

	*r = (struct acpi_result){
		.rsdp = l.rsdp,
		.start = ACPI_BASE,
		.end = l.end,
		.rsdt = l.rsdt,
		.xsdt = l.xsdt,
		.fadt = l.fadt,
		.facs = l.facs,
		.mcfg = l.mcfg,
		.dsdt = l.dsdt,
		.madt = l.madt,
		.n_lapic = l.nl,
		.n_x2apic = l.nx,
	};
	return 0;
}
