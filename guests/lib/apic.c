/* apic.c: local APIC helpers shared by the BSP and the APs (see apic.h). */
#include "apic.h"

volatile uint32_t apic_x2mode;

/* Bound on delivery-status polls after an xAPIC ICR write. */
#define ICR_IDLE_SPINS 1000

bool cpu_has_x2apic(void) { return (cpuid(1, 0).ecx >> 21) & 1; }

void x2apic_enable_self(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);
	/* xAPIC -> x2APIC is a legal transition with EN already set (SDM 10.12.5, figure 10-27). */
	if ((base & (APIC_BASE_EN | APIC_BASE_EXTD)) != (APIC_BASE_EN | APIC_BASE_EXTD))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
}

void apic_sw_enable(void) { apic_write(APIC_SVR, APIC_SVR_ENABLE | ISR_VEC_SPURIOUS); }

void apic_send(uint32_t dest, uint32_t icr_lo)
{
	if (apic_x2mode) {
		wrmsr(MSR_X2APIC_ICR, (uint64_t)dest << 32 | icr_lo);
		return;
	}
	if ((icr_lo & APIC_SH_MASK) == APIC_SH_NONE)
		xapic_write(APIC_ICR_HI, dest << 24);
	xapic_write(APIC_ICR_LO, icr_lo);
	for (int i = 0; i < ICR_IDLE_SPINS && (xapic_read(APIC_ICR_LO) & APIC_ICR_BUSY); i++)
		cpu_pause();
}

uint32_t apic_esr_latch(void)
{
	apic_write(APIC_ESR, 0); /* x2APIC: only 0 may be written (SDM 10.12.1.2) */
	return apic_read(APIC_ESR);
}

bool xapic_logical_match(uint32_t dfr, uint32_t ldr, uint8_t mda)
{
	uint8_t lid = (uint8_t)(ldr >> 24);

	if ((dfr >> 28) == 0xf) /* flat: bit mask */
		return (lid & mda) != 0;
	/* flat cluster: cluster number equal, member bits intersect */
	return (lid >> 4) == (mda >> 4) && (lid & mda & 0x0f) != 0;
}
