/* irq_apic_disable.c: the APIC global disable shows in CPUID (Intel SDM Vol.
 * 3A 10.4.3: with IA32_APIC_BASE[11] clear, CPUID.01H:EDX[9] reads 0; issue
 * 13). On every CPU at once:
 *  - CPUID.01H:EDX[9] is 1 while the APIC is enabled;
 *  - xAPIC -> disabled: it reads 0, the APIC page reads all ones (nothing
 *    answers), IA32_APIC_BASE reads back without bit 11;
 *  - disabled -> xAPIC: it reads 1 again; the APIC is in its power-up state
 *    (software-disabled, SVR 0xff) and is software-enabled again;
 *  - with x2APIC: xAPIC -> x2APIC -> disabled (EXTD and EN cleared together,
 *    SDM 10.12.5) -> xAPIC, the bit follows each step.
 * The negative result: a host whose CPUID keeps bit 9 set while the APIC is
 * disabled prints "cpu N: ..." lines and FAIL. On KVM-PVM hosts the guest's
 * CPUID is answered by the host kernel's PVM code (hyve's table decides only
 * a few bits there), which the tests account for by what they expect. */
#include "irq.h"

#define CPUID1_EDX_APIC (1u << 9)

static volatile uint32_t steps[IRQ_MAX_CPUS];

static bool cpuid_apic(void) { return cpuid(1, 0).edx & CPUID1_EDX_APIC; }

/* Writes IA32_APIC_BASE (on this CPU only) and checks CPUID.01H:EDX[9]. */
static void set_base(uint32_t id, uint64_t base, const char *what)
{
	wrmsr(MSR_APIC_BASE, base);
	if (rdmsr(MSR_APIC_BASE) != base)
		irq_problem(id, "%s: IA32_APIC_BASE reads %llx, wrote %llx", what, rdmsr(MSR_APIC_BASE), base);
	bool want = base & APIC_BASE_EN, got = cpuid_apic();
	if (got != want)
		irq_problem(id, "%s: CPUID.01H:EDX[9] = %u with IA32_APIC_BASE[11] = %u", what, got, want);
	steps[id]++;
}

static int run(uint32_t id, uint32_t arg)
{
	(void)arg;
	uint64_t base = rdmsr(MSR_APIC_BASE), xapic = base & ~(uint64_t)APIC_BASE_EXTD;
	uint64_t off = base & ~(uint64_t)(APIC_BASE_EXTD | APIC_BASE_EN);
	bool x2 = base & APIC_BASE_EXTD;
	if (!cpuid_apic())
		irq_problem(id, "CPUID.01H:EDX[9] = 0 with the APIC enabled");
	if (x2)
		set_base(id, off, "x2APIC -> disabled");
	else
		set_base(id, off, "xAPIC -> disabled");
	if (xapic_read(APIC_VERSION) != 0xffffffffu)
		irq_problem(id, "disabled: the APIC page answers (version reads %x)", xapic_read(APIC_VERSION));
	set_base(id, xapic, "disabled -> xAPIC");
	if (xapic_read(APIC_SVR) != 0xff)
		irq_problem(id, "re-enabled: SVR reads %x, want the power-up 0xff", xapic_read(APIC_SVR));
	if (x2) {
		set_base(id, base, "xAPIC -> x2APIC");
		set_base(id, off, "x2APIC -> disabled");
		set_base(id, xapic, "disabled -> xAPIC");
		set_base(id, base, "xAPIC -> x2APIC");
	}
	/* The command service needs the APIC software-enabled (kicks), in the
	 * mode it had; apic_sw_enable() follows the test's mode. */
	apic_sw_enable();
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);
	printf("irq_apic_disable: %u CPUs (%s)\n", n, apic_x2mode ? "x2APIC" : "xAPIC");
	/* APs first (the BSP takes their completion kicks), then the BSP. */
	for (uint32_t id = 1; id < n; id++)
		irq_on_cpu(id, run, 0);
	run(0, 0);
	uint32_t total = 0;
	for (uint32_t id = 0; id < n; id++)
		total += steps[id];
	printf("cpuid: APIC bit follows IA32_APIC_BASE[11]: %u base writes checked on %u CPUs\n", total, n);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
