/* irq_pv_eoi.c: KVM's paravirtual EOI as hyve implements it (Linux
 * Documentation/virt/kvm/x86/msr.rst, MSR_KVM_PV_EOI_EN; cpuid.rst,
 * KVM_FEATURE_PV_EOI), on every CPU at once, in the APIC mode the command
 * line asks for. Each CPU hands the hypervisor its own flag word; its
 * handler notes whether bit 0 was set when it ran, then ends the interrupt
 * through the flag (clearing it) or, when it was clear, with an EOI write.
 *  - a lone edge-triggered self-IPI: the flag is set (nothing else requested,
 *    no EOI broadcast needed), and clearing it ends the interrupt: ISR empty;
 *  - two self-IPIs with IF=0, then STI: the higher one is taken while the
 *    lower still waits in IRR, so its flag is clear (its EOI must exit to let
 *    the lower one in); the lower one then gets the flag;
 *  - a level-triggered self-IPI (TMR set, SDM 10.8.4): no flag (its EOI may
 *    have to reach an I/O APIC, SDM 10.8.5);
 *  - after WRMSR 0 the flag is never set; RDMSR reads back what was written;
 *  - (BSP) a misaligned address and one outside RAM are #GP, as on KVM.
 * Not offered (no KVM leaf with bit 6): SKIP. The negative result: a
 * hypervisor that offers the feature but never sets the flag, sets it when it
 * must not, or loses an EOI prints "cpu N: ..." lines and FAIL. */
#include "irq.h"

#define VEC_LOW 0x55
#define VEC_HIGH 0x65 /* a higher priority class than VEC_LOW */
#define WAIT_US 500000

static volatile uint32_t pv_word[IRQ_MAX_CPUS];
static volatile uint32_t got[IRQ_MAX_CPUS];
static volatile uint8_t seen_vec[IRQ_MAX_CPUS][4], seen_flag[IRQ_MAX_CPUS][4];
static volatile uint32_t by_flag, by_write;

static void on_irq(struct isr_frame *f)
{
	uint32_t id = apic_id(), n = got[id];
	uint8_t flag = pv_word[id] & 1;
	if (n < 4) {
		seen_vec[id][n] = (uint8_t)f->vector;
		seen_flag[id][n] = flag;
	}
	atomic_inc(flag ? &by_flag : &by_write);
	pv_eoi_end(&pv_word[id]);
	got[id] = n + 1;
}

/* Sends the IPIs with IF=0, takes them, checks what each handler saw. */
static void round(uint32_t id, const char *what, const uint32_t *icr, unsigned nicr, const uint8_t *want_vec,
		  const uint8_t *want_flag, unsigned nwant)
{
	got[id] = 0;
	cpu_cli();
	for (unsigned i = 0; i < nicr; i++)
		apic_send(id, APIC_DEST_PHYSICAL | APIC_DM_FIXED | APIC_LEVEL_ASSERT | icr[i]);
	cpu_sti();
	if (irq_spin_until(&got[id], nwant, WAIT_US) < 0)
		irq_problem(id, "%s: %u of %u interrupts taken", what, got[id], nwant);
	irq_delay_us(1000);
	cpu_cli();
	if (got[id] != nwant)
		irq_problem(id, "%s: %u interrupts, expected %u", what, got[id], nwant);
	for (unsigned i = 0; i < nwant && i < got[id]; i++)
		if (seen_vec[id][i] != want_vec[i] || seen_flag[id][i] != want_flag[i])
			irq_problem(id, "%s: interrupt %u was vector %x with the flag %s, expected %x with it %s", what,
				    i, seen_vec[id][i], seen_flag[id][i] ? "set" : "clear", want_vec[i],
				    want_flag[i] ? "set" : "clear");
	if (apic_bank_count(APIC_ISR0) || apic_bank_count(APIC_IRR0))
		irq_problem(id, "%s: afterwards ISR has %u and IRR %u vectors (an EOI lost)", what,
			    apic_bank_count(APIC_ISR0), apic_bank_count(APIC_IRR0));
	if (pv_word[id] & 1)
		irq_problem(id, "%s: the flag is still set with nothing in service", what);
}

static int run(uint32_t id, uint32_t arg)
{
	(void)arg;
	uint64_t msr = (uint64_t)(uintptr_t)&pv_word[id] | 1;
	pv_eoi_enable(&pv_word[id]);
	if (rdmsr(MSR_KVM_PV_EOI_EN) != msr)
		irq_problem(id, "MSR_KVM_PV_EOI_EN reads %llx, wrote %llx", rdmsr(MSR_KVM_PV_EOI_EN), msr);

	static const uint32_t lone[] = {VEC_LOW}, two[] = {VEC_LOW, VEC_HIGH},
			      level[] = {APIC_TRIGGER_LEVEL | VEC_LOW};
	static const uint8_t v_low[] = {VEC_LOW}, v_two[] = {VEC_HIGH, VEC_LOW};
	static const uint8_t set[] = {1}, clear[] = {0}, clear_set[] = {0, 1};
	round(id, "lone edge-triggered IPI", lone, 1, v_low, set, 1);
	round(id, "two IPIs, the higher first", two, 2, v_two, clear_set, 2);
	round(id, "level-triggered IPI", level, 1, v_low, clear, 1);

	pv_eoi_enable(NULL);
	if (rdmsr(MSR_KVM_PV_EOI_EN) != 0)
		irq_problem(id, "MSR_KVM_PV_EOI_EN reads %llx after writing 0", rdmsr(MSR_KVM_PV_EOI_EN));
	round(id, "PV EOI off", lone, 1, v_low, clear, 1);

	if (id == 0) {
		uint32_t f0 = rt_fault_count;
		rt_expect_fault(13, 2); /* WRMSR is 2 bytes */
		wrmsr(MSR_KVM_PV_EOI_EN, (uint64_t)(uintptr_t)&pv_word[0] | 2 | 1);
		rt_expect_fault_cancel();
		rt_expect_fault(13, 2);
		wrmsr(MSR_KVM_PV_EOI_EN, IOAPIC_BASE | 1); /* MMIO, not RAM */
		rt_expect_fault_cancel();
		if (rt_fault_count != f0 + 2)
			irq_problem(id, "misaligned / non-RAM PV EOI address: %u #GP, expected 2", rt_fault_count - f0);
		if (rdmsr(MSR_KVM_PV_EOI_EN) != 0)
			irq_problem(id, "a refused write changed MSR_KVM_PV_EOI_EN to %llx", rdmsr(MSR_KVM_PV_EOI_EN));
	}
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	bool x2 = cmdline_has_word(mb_cmdline(mbi), "x2apic");
	uint32_t n = irq_smp_start(mbi, x2 ? SMP_X2APIC : SMP_XAPIC);

	printf("irq_pv_eoi: %u CPUs (%s)\n", n, apic_x2mode ? "x2APIC" : "xAPIC");
	if (!pv_eoi_offered())
		guest_skip("the hypervisor does not offer KVM PV EOI");
	idt_set_handler(VEC_LOW, on_irq);
	idt_set_handler(VEC_HIGH, on_irq);
	irq_on_all(run, 0);
	printf("pv-eoi: %u interrupts ended through the flag, %u by EOI writes, on %u CPUs (expected %u and %u)\n",
	       by_flag, by_write, n, 2 * n, 3 * n);
	if (by_flag != 2 * n || by_write != 3 * n)
		irq_problem(0, "%u interrupts ended through the flag and %u by writes", by_flag, by_write);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
