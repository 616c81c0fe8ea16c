/* irq_sti_hlt.c: an interrupt pending at STI; HLT wakes the HLT and returns
 * after it (Intel SDM Vol. 2B "STI": interrupts are recognised only after the
 * instruction that follows STI; AMD APM Vol. 2 15.21.5 "interrupt shadow").
 * This is the idiom every OS idle loop relies on: a wake-up that arrives
 * between the check and the HLT must not be slept through.
 *
 * TRIALS times, on the CPUs in turn: with IF=0, a self-IPI (vector VEC_T) is
 * made pending, then the CPU calls STI; HLT; CLI; RET with the STI in the last
 * byte of a page and the HLT at the start of a 2 MiB region that nothing
 * touched before (irq_sti_hlt.ld). So the HLT's instruction fetch faults in
 * the hypervisor's nested page tables, also where the host backs guest RAM
 * with 2 MiB pages: the vCPU leaves the guest inside the STI shadow and must
 * come back with the shadow intact. The handler records where the interrupt
 * returns to: right after the HLT, or to the HLT itself (the shadow was lost:
 * the handler returns to the HLT, which then sleeps until the watchdog, a
 * one-shot APIC timer, wakes it). QEMU's SVM emulation (TCG) loses the shadow
 * at VMRUN: hyve, nested there, must still give the architectural result
 * (issue 16).
 *
 * Prints "sti-hlt: 4 trials on N CPUs, every interrupt returned after its HLT". */
#include "irq.h"

#define VEC_T 0x58 /* the pending self-IPI */
#define VEC_W 0x59 /* the watchdog (APIC timer, one-shot) */
#define TRIALS 4
#define WATCHDOG_US 100000

/* Per trial: INT3 filler, STI as the last byte of one page, HLT; CLI; RET
 * at the start of the next (placed by irq_sti_hlt.ld). */
#define TRIAL_CODE(k)                                                                                    \
	__asm__(".pushsection .sti_hlt_" #k ", \"ax\"\n"                                                \
		".globl sti_hlt_" #k "\n"                                                                   \
		".fill 4095, 1, 0xcc\n"                                                                     \
		"sti_hlt_" #k ": sti\n"                                                                     \
		"hlt\n"                                                                                     \
		"cli\n"                                                                                     \
		"ret\n"                                                                                     \
		".popsection\n");                                                                          \
	extern const uint8_t sti_hlt_##k[]
TRIAL_CODE(0);
TRIAL_CODE(1);
TRIAL_CODE(2);
TRIAL_CODE(3);
static const uint8_t *const trial_sti[TRIALS] = {sti_hlt_0, sti_hlt_1, sti_hlt_2, sti_hlt_3};

static volatile uint32_t taken, woke, seen_eip;

static void on_t(struct isr_frame *f)
{
	seen_eip = f->eip;
	taken++;
	apic_eoi();
}

static void on_w(struct isr_frame *f)
{
	(void)f;
	woke++;
	apic_eoi();
}

static int trial(uint32_t id, uint32_t k)
{
	uint32_t sti = (uint32_t)(uintptr_t)trial_sti[k], hlt = sti + 1;
	uint32_t t0 = taken, w0 = woke;
	seen_eip = 0;
	cpu_cli();
	apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV16);
	apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_ONESHOT | VEC_W);
	apic_write(APIC_TIMER_ICR, apic_timer_counts(WATCHDOG_US, 16));
	apic_self_ipi(VEC_T);
	if (!apic_irr_has(VEC_T))
		irq_problem(id, "trial %u: vector %x not pending in IRR with IF=0", k, VEC_T);
	((void (*)(void))(uintptr_t)sti)(); /* STI; HLT; CLI; RET */
	apic_write(APIC_TIMER_ICR, 0);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	if (taken != t0 + 1)
		irq_problem(id, "trial %u: %u interrupts, expected 1", k, taken - t0);
	else if (seen_eip == hlt)
		irq_problem(id, "trial %u: the interrupt was taken before the HLT at %x (STI shadow lost); the HLT then slept%s",
			    k, hlt, woke != w0 ? " until the watchdog" : "");
	else if (seen_eip != hlt + 1)
		irq_problem(id, "trial %u: the interrupt returned to %x, expected %x (after the HLT)", k, seen_eip, hlt + 1);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);

	printf("irq_sti_hlt: %u CPUs (%s); a pending self-IPI at STI; HLT, the HLT in a fresh 2 MiB region\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC");
	idt_set_handler(VEC_T, on_t);
	idt_set_handler(VEC_W, on_w);
	for (uint32_t k = 0; k < TRIALS; k++)
		irq_on_cpu(k % n, trial, k);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	printf("sti-hlt: %u trials on %u CPUs, every interrupt returned after its HLT\n", TRIALS, n);
	guest_pass();
}
