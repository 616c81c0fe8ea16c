/* mptable.c: builds the guest's Intel MP 1.4 tables in the BIOS area (loaders/mptable.h). */
#include <errno.h>
#include <string.h>

#include "loaders/bytes.h"
#include "loaders/mptable.h"

/* MP 4.1 Table 4-1: floating pointer structure. */
#define MPFP_SIZE 16
#define MPFP_OFF_PHYSPTR 4
#define MPFP_OFF_LENGTH 8 /* in 16-byte paragraphs: 1 */
#define MPFP_OFF_SPEC_REV 9
#define MPFP_OFF_CHECKSUM 10
#define MPFP_OFF_FEATURE1 11 /* 0: a configuration table is present */
#define MPFP_OFF_FEATURE2 12 /* bit 7 IMCRP = 0: virtual wire mode, no IMCR */

/* MP 4.2 Table 4-2: configuration table header. */
#define MPC_HDR_SIZE 44
#define MPC_OFF_LENGTH 4
#define MPC_OFF_SPEC_REV 6
#define MPC_OFF_CHECKSUM 7
#define MPC_OFF_OEM_ID 8
#define MPC_OFF_PRODUCT_ID 16
#define MPC_OFF_ENTRY_COUNT 34
#define MPC_OFF_LAPIC_ADDR 36

/* MP 4.3 base table entries. */
#define MPE_PROCESSOR 0 /* 20 bytes */
#define MPE_BUS 1
#define MPE_IOAPIC 2
#define MPE_IOINT 3
#define MPE_LINT 4
#define MPE_PROCESSOR_SIZE 20
#define MPE_SIZE 8 /* every other entry */
#define MP_CPU_EN 0x01
#define MP_CPU_BP 0x02
#define MP_IOAPIC_EN 0x01
#define MP_INT_INT 0
#define MP_INT_NMI 1
#define MP_INT_EXTINT 3
#define MP_FLAGS_CONFORM 0 /* polarity and trigger "conform to the bus" (MP 4.3.4) */
#define MP_ISA_BUS_ID 0
#define MP_ALL_LAPICS 0xFF
#define MP_ISA_IRQS 16
#define MP_NIOINT (MP_ISA_IRQS - 1) /* IRQ2 (cascade) has none */
#define MP_NLINT 2

/* CPU signature and feature flags of the processor entries (MP 4.3.1
 * Tables 4-5, 4-6): family 6; FPU and on-chip APIC (CPUID.1:EDX bits 0, 9).
 * Linux only prints them. */
#define MP_CPU_SIGNATURE 0x600u
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9))

#define MPC_SIZE(n) (MPC_HDR_SIZE + (n) * MPE_PROCESSOR_SIZE + (2 + MP_NIOINT + MP_NLINT) * MPE_SIZE)

_Static_assert(MPTABLE_FP_ADDR + MPFP_SIZE <= MPTABLE_CONFIG_ADDR &&
		       MPTABLE_CONFIG_ADDR + MPC_SIZE(MPTABLE_MAX_CPUS) <= MPTABLE_LIMIT,
	       "MP table does not fit its window");

/* One 8-byte interrupt assignment entry (MP 4.3.4 / 4.3.5: same layout). */
static uint8_t *mp_int_entry(uint8_t *e, uint8_t type, uint8_t int_type, uint8_t src_irq,
			     uint8_t dst_id, uint8_t dst_pin)
{
	e[0] = type;
	e[1] = int_type;
	le_st16(e + 2, MP_FLAGS_CONFORM);
	e[4] = MP_ISA_BUS_ID;
	e[5] = src_irq;
	e[6] = dst_id;
	e[7] = dst_pin;
	return e + MPE_SIZE;
}

int mptable_build(const struct guest_mem *m, unsigned ncpus, struct mptable_result *r, char *err,
		  size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!m || !r)
		return loader_fail(err, errlen, -EINVAL,
				   "mptable_build: NULL guest memory or result");
	if (ncpus == 0)
		return loader_fail(err, errlen, -EINVAL, "MP table: ncpus is 0");
	if (ncpus > MPTABLE_MAX_CPUS)
		return loader_fail(err, errlen, -ERANGE,
				   "MP table: ncpus %u exceeds %u (8-bit APIC IDs, 0xFF is "
				   "broadcast, one ID for the I/O APIC); describe this guest with "
				   "ACPI only",
				   ncpus, MPTABLE_MAX_CPUS);
	uint8_t *w = gmem_ptr(m, MPTABLE_BASE, MPTABLE_LIMIT - MPTABLE_BASE);
	if (!w)
		return loader_fail(err, errlen, -E2BIG,
				   "MP table 0x%llx-0x%llx is not in guest RAM (low RAM is 0x%llx "
				   "bytes)",
				   MPTABLE_BASE, MPTABLE_LIMIT, (unsigned long long)gmem_lowmem(m));
	memset(w, 0, MPTABLE_LIMIT - MPTABLE_BASE);

	uint8_t ioapic_id = (uint8_t)ncpus;
	uint32_t len = MPC_SIZE(ncpus);
	unsigned count = ncpus + 2 + MP_NIOINT + MP_NLINT;
	uint8_t *c = w + (MPTABLE_CONFIG_ADDR - MPTABLE_BASE);

	memcpy(c, "PCMP", 4);
	le_st16(c + MPC_OFF_LENGTH, len);
	c[MPC_OFF_SPEC_REV] = MPTABLE_SPEC_REV;
	memcpy(c + MPC_OFF_OEM_ID, MPTABLE_OEM_ID, 8);
	memcpy(c + MPC_OFF_PRODUCT_ID, MPTABLE_PRODUCT_ID, 12);
	le_st16(c + MPC_OFF_ENTRY_COUNT, count);
	le_st32(c + MPC_OFF_LAPIC_ADDR, (uint32_t)GMEM_LAPIC_BASE);

	uint8_t *e = c + MPC_HDR_SIZE;
	for (unsigned i = 0; i < ncpus; i++, e += MPE_PROCESSOR_SIZE) {
		e[0] = MPE_PROCESSOR;
		e[1] = (uint8_t)i;
		e[2] = MPTABLE_LAPIC_VERSION;
		e[3] = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0);
		le_st32(e + 4, MP_CPU_SIGNATURE);
		le_st32(e + 8, MP_CPU_FEATURES);
	}
	e[0] = MPE_BUS;
	e[1] = MP_ISA_BUS_ID;
	memcpy(e + 2, "ISA   ", 6);
	e += MPE_SIZE;
	e[0] = MPE_IOAPIC;
	e[1] = ioapic_id;
	e[2] = MPTABLE_IOAPIC_VERSION;
	e[3] = MP_IOAPIC_EN;
	le_st32(e + 4, (uint32_t)GMEM_IOAPIC_BASE);
	e += MPE_SIZE;
	for (unsigned irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == 2)
			continue; /* the cascade: INTIN2 carries IRQ0 */
		e = mp_int_entry(e, MPE_IOINT, MP_INT_INT, (uint8_t)irq, ioapic_id,
				 (uint8_t)(irq == 0 ? 2 : irq));
	}
	e = mp_int_entry(e, MPE_LINT, MP_INT_EXTINT, 0, MP_ALL_LAPICS, 0);
	e = mp_int_entry(e, MPE_LINT, MP_INT_NMI, 0, MP_ALL_LAPICS, 1);
	loader_checksum(len, c, MPC_OFF_CHECKSUM);

	uint8_t *fp = w + (MPTABLE_FP_ADDR - MPTABLE_BASE);
	memcpy(fp, "_MP_", 4);
	le_st32(fp + MPFP_OFF_PHYSPTR, (uint32_t)MPTABLE_CONFIG_ADDR);
	fp[MPFP_OFF_LENGTH] = 1;
	fp[MPFP_OFF_SPEC_REV] = MPTABLE_SPEC_REV;
	fp[MPFP_OFF_FEATURE1] = 0;
	fp[MPFP_OFF_FEATURE2] = 0;
	loader_checksum(MPFP_SIZE, fp, MPFP_OFF_CHECKSUM);

	*r = (struct mptable_result){
		.fp = MPTABLE_FP_ADDR,
		.config = MPTABLE_CONFIG_ADDR,
		.start = MPTABLE_BASE,
		.end = MPTABLE_CONFIG_ADDR + len,
		.ioapic_id = ioapic_id,
		.nentries = count,
	};
	return 0;
}
