/* apic.c: local APIC helpers shared by the BSP and the APs (see apic.h). */
#include "apic.h"

volatile uint32_t apic_x2mode;

/* Bound on delivery-status polls after an xAPIC ICR write. */
#define ICR_IDLE_SPINS 1000

bool cpu_has_x2apic(void) { return (cpuid(1, 0).ecx >> 21) & 1; }

bool pv_eoi_offered(void)
{
	if (!((cpuid(1, 0).ecx >> 31) & 1)) /* CPUID.1:ECX[31]: a hypervisor is present */
		return false;
	for (uint32_t base = 0x40000000u; base < 0x40010000u; base += 0x100) {
		struct cpuid_regs r = cpuid(base, 0);
		if (r.ebx == 0x4b4d564bu && r.ecx == 0x564b4d56u && r.edx == 0x4du) /* "KVMKVMKVM\0\0\0" */
			return r.eax >= base + 1 && ((cpuid(base + 1, 0).eax >> 6) & 1);
	}
	return false;
}

void pv_eoi_enable(volatile uint32_t *word)
{
	if (word)
		*word = 0;
	wrmsr(MSR_KVM_PV_EOI_EN, word ? (uint64_t)(uintptr_t)word | 1 : 0);
}

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
