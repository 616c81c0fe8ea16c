/* irq_nmi_lowpri.c: NMI IPIs and lowest-priority delivery (SDM Vol. 3A
 * 10.6.1, 10.6.2.4, 10.8.3).
 * NMI (one per CPU: the guests return from handlers without IRET, see
 * lib/isr.S, so NMI blocking never ends after the first):
 *  - 1 CPU: the BSP sends itself an NMI by physical destination.
 *  - 2+ CPUs: AP 1 waits halted with IF=0 (only an NMI can wake it) and
 *    gets one from the BSP; APs 2.. get one while idle; then AP 1 sends one
 *    to the BSP, which waits halted with IF=0. Every CPU counts exactly one
 *    NMI, the ones that waited with IF=0 saw IF=0 in the NMI's frame, and
 *    no ISR bit is set in an NMI handler (NMIs need no EOI).
 * Lowest priority (2 to 8 CPUs, xAPIC flat logical mode, LDR = 1 << ID):
 *  - for each CPU w in turn, w sets TPR 0x10 and the others 0x20 or 0x30; a
 *    lowest-priority IPI (vector 0x80) to all of them must be taken by w,
 *    by w alone;
 *  - with equal TPRs exactly one CPU takes each such IPI.
 * Each IPI is sent only after the previous one was taken. KVM's in-kernel
 * APIC and QEMU's TCG APIC do not arbitrate by TPR (vector hashing, or the
 * first CPU of the set): the lowest-priority part is meant for hyve. */
#include "irq.h"

#define VEC_LP 0x80
#define LP_MAX_CPUS 8
#define WAIT_US 2000000

static volatile uint32_t nmis[IRQ_MAX_CPUS], nmi_if[IRQ_MAX_CPUS], nmi_isr[IRQ_MAX_CPUS];
static volatile uint32_t ready[IRQ_MAX_CPUS];
static volatile uint32_t lp[IRQ_MAX_CPUS], lp_total;

static void on_nmi(struct isr_frame *f)
{
	uint32_t id = apic_id();
	nmi_if[id] = (f->eflags >> 9) & 1;
	nmi_isr[id] = apic_bank_count(APIC_ISR0);
	atomic_inc(&nmis[id]);
}

static void on_lp(struct isr_frame *f)
{
	atomic_inc(&lp[apic_id()]);
	atomic_inc(&lp_total);
	apic_eoi();
}

/* Halts with IF=0 until an NMI came: only an NMI can end HLT here. */
static void halt_noif_until_nmi(uint32_t id)
{
	cpu_cli();
	while (!nmis[id])
		__asm__ volatile("hlt" ::: "memory");
}

static int ap1_wait_nmi(uint32_t id, uint32_t arg)
{
	ready[id] = 1;
	halt_noif_until_nmi(id);
	return 0;
}

static int ap1_nmi_to_bsp(uint32_t id, uint32_t arg)
{
	while (!ready[0])
		cpu_pause();
	irq_delay_us(2000); /* let the BSP reach its HLT */
	ipi_nmi(0, APIC_DEST_PHYSICAL);
	return 0;
}

static int setup_logical(uint32_t id, uint32_t arg)
{
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, (1u << id) << 24);
	return 0;
}

/* TPR of CPU id in a round won by `winner` (0xff: everyone equal). Below 0x40:
 * the command service's kick vector 0x41 must still get through. */
static uint32_t tpr_of(uint32_t id, uint32_t winner)
{
	return winner == 0xff ? 0x20 : winner == id ? 0x10 : 0x20 + 0x10 * (id % 2);
}

static int set_tpr(uint32_t id, uint32_t arg)
{
	uint32_t tpr = tpr_of(id, arg);
	apic_write(APIC_TPR, tpr);
	return 0;
}

static void nmi_part(uint32_t n)
{
	if (n == 1) {
		ipi_nmi(0, APIC_DEST_PHYSICAL);
		irq_delay_us(1000);
	} else {
		irq_start_on_cpu(1, ap1_wait_nmi, 0);
		if (irq_spin_until(&ready[1], 1, WAIT_US) < 0)
			irq_problem(0, "AP 1 did not get ready");
		irq_delay_us(2000); /* let it reach its HLT */
		ipi_nmi(1, APIC_DEST_PHYSICAL);
		irq_wait_cpu(1);
		for (uint32_t id = 2; id < n; id++)
			ipi_nmi(id, APIC_DEST_PHYSICAL);
		irq_start_on_cpu(1, ap1_nmi_to_bsp, 0);
		ready[0] = 1;
		halt_noif_until_nmi(0);
		irq_wait_cpu(1);
		for (uint32_t id = 2; id < n; id++)
			irq_spin_until(&nmis[id], 1, WAIT_US);
	}
	irq_delay_us(10000);
	uint32_t total = 0;
	for (uint32_t id = 0; id < n; id++) {
		total += nmis[id];
		if (nmis[id] != 1)
			irq_problem(0, "nmi: CPU %u took %u NMIs, expected 1", id, nmis[id]);
		else if (nmi_isr[id])
			irq_problem(0, "nmi: CPU %u had %u ISR bits set in its NMI handler", id, nmi_isr[id]);
		bool noif = n > 1 && id <= 1;
		if (nmis[id] && noif && nmi_if[id])
			irq_problem(0, "nmi: CPU %u waited with IF=0 but its NMI frame has IF=1", id);
	}
	printf("nmi: %u NMIs taken on %u CPUs (%s), %u expected\n", total, n,
	       n > 1 ? "AP 1 and the BSP halted with IF=0" : "self, physical destination", n);
}

static void lowprio_part(uint32_t n)
{
	uint32_t all = (1u << n) - 1, rounds = 0, ok = 0;

	irq_on_all(setup_logical, 0);
	for (uint32_t w = 0; w <= n; w++) {
		uint32_t winner = w < n ? w : 0xff;
		irq_on_all(set_tpr, winner);
		uint32_t before[LP_MAX_CPUS];
		for (uint32_t id = 0; id < n; id++)
			before[id] = lp[id];
		rounds++;
		apic_send(all, APIC_DEST_LOGICAL | APIC_DM_LOWPRIO | APIC_LEVEL_ASSERT | VEC_LP);
		cpu_sti();
		if (irq_spin_until(&lp_total, rounds, WAIT_US) < 0)
			irq_problem(0, "lowprio: IPI %u was not taken", rounds);
		irq_delay_us(5000); /* a second taker would show now */
		cpu_cli();
		uint32_t takers = 0, who = 0;
		for (uint32_t id = 0; id < n; id++)
			if (lp[id] != before[id]) {
				takers += lp[id] - before[id];
				who = id;
			}
		if (takers != 1)
			irq_problem(0, "lowprio: %u CPUs took one IPI", takers);
		else if (winner != 0xff && who != winner)
			irq_problem(0, "lowprio: CPU %u (TPR %x) took it, not CPU %u (TPR 10)", who,
				    tpr_of(who, winner), winner);
		else
			ok++;
	}
	printf("lowprio: %u of %u IPIs taken by the one CPU with the lowest TPR (last round: equal TPRs)\n", ok,
	       rounds);
}

static int tpr_zero(uint32_t id, uint32_t arg)
{
	apic_write(APIC_TPR, 0);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = irq_smp_start(mbi, SMP_XAPIC);

	printf("irq_nmi_lowpri: %u CPUs (xAPIC)\n", n);
	idt_set_handler(2, on_nmi);
	idt_set_handler(VEC_LP, on_lp);
	nmi_part(n);
	if (n >= 2 && n <= LP_MAX_CPUS)
		lowprio_part(n);
	else
		printf("lowprio: not tested with %u CPUs (needs 2 to %u)\n", n, LP_MAX_CPUS);
	irq_on_all(tpr_zero, 0);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
