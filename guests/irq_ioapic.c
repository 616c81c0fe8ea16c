/* irq_ioapic.c: interrupts through the I/O APIC (82093AA; SDM Vol. 3A 10.8.5
 * for EOI and level-triggered interrupts).
 *  - Registers: IOAPICVER (version, 24 entries), every entry masked at
 *    reset, an entry reads back as written.
 *  - PIT: channel 0 periodic at 1 kHz, ISA IRQ0 on pin 2, routed in turn to
 *    CPU 0..min(N,4)-1 (physical destination): each counts PIT_TICKS ticks,
 *    no sooner than the PIT's period allows, and no other CPU sees one;
 *    masking the pin stops them.
 *  - UART: COM1 (IRQ 4, pin 4, edge) with IER.ETBEI and MCR.OUT2: a line of
 *    text is sent one byte per THR-empty interrupt, from the handler (it
 *    shows on the console); one interrupt per byte plus the last.
 *  - Level: QEMU pc-testdev line 10 (port 0x200a) on pin 10, level,
 *    active high, run on the BSP and on the last AP: raising it delivers
 *    once and sets Remote IRR (bit 14) and the vector's TMR bit; while it
 *    stays high and no EOI came, nothing more; the EOI (broadcast to the I/O
 *    APIC) re-delivers since the line is still high; lowering it, then EOI,
 *    clears Remote IRR and nothing more comes. A masked level line delivers
 *    when unmasked. Active low (pin 11, line 11; skipped with "no-polarity",
 *    for QEMU, whose I/O APIC ignores the polarity bit): a wire at 0 is
 *    asserted, at 1 quiet.
 *  - Edge: pin 5 (line 5): an edge while masked is lost; each rising edge
 *    while unmasked delivers once.
 *  - 2 to 8 CPUs: logical destination (flat, LDR = 1 << ID) to all CPUs
 *    reaches each once; lowest priority to all reaches exactly one; the
 *    physical broadcast destination 0xff reaches each once. */
#include "irq.h"

#define VEC_PIT 0x60
#define VEC_UART 0x61
#define VEC_LVL 0x70
#define VEC_LVL_LOW 0x71
#define VEC_EDGE 0x72
#define VEC_MC 0x73
#define PIN_PIT 2
#define PIN_UART 4
#define PIN_EDGE 5
#define PIN_MC 6
#define LINE_LVL 10
#define LINE_LVL_LOW 11
#define PIT_TICKS 20
#define PIT_COUNT 1193 /* 1 kHz */
#define WAIT_US 2000000
#define MAX_MC_CPUS 8

static volatile uint32_t pit[IRQ_MAX_CPUS], lvl[IRQ_MAX_CPUS], lvl_low[IRQ_MAX_CPUS], edge, mc[IRQ_MAX_CPUS],
	mc_total;
static volatile uint32_t pit_cpu; /* the CPU pin 2 is routed to */
static volatile uint32_t pit_wrong;
static volatile uint64_t pit_last;

static void on_pit(struct isr_frame *f)
{
	uint32_t id = apic_id();
	if (id == pit_cpu) {
		pit_last = rdtsc();
		atomic_inc(&pit[id]);
	} else {
		atomic_inc(&pit_wrong);
	}
	apic_eoi();
}

/* Level handlers: count, no EOI (the test sends it). */
static void on_lvl(struct isr_frame *f) { atomic_inc(&lvl[apic_id()]); }
static void on_lvl_low(struct isr_frame *f) { atomic_inc(&lvl_low[apic_id()]); }

static void on_edge(struct isr_frame *f)
{
	atomic_inc(&edge);
	apic_eoi();
}

static void on_mc(struct isr_frame *f)
{
	atomic_inc(&mc[apic_id()]);
	atomic_inc(&mc_total);
	apic_eoi();
}

/* ---- UART ------------------------------------------------------------------ */
static const char uart_msg[] = "uart-irq: this line was sent by the COM1 THR-empty interrupt handler\n";
static volatile uint32_t uart_pos, uart_irqs, uart_done, uart_other;

static void on_uart(struct isr_frame *f)
{
	uint8_t iir = inb(COM1_PORT + 2);
	uart_irqs++;
	if ((iir & 0x0f) == 0x02) { /* THR empty (16550D table 5) */
		if (uart_pos < sizeof(uart_msg) - 1) {
			outb(COM1_PORT, (uint8_t)uart_msg[uart_pos++]);
		} else {
			outb(COM1_PORT + 1, 0); /* IER: no more interrupts */
			uart_done = 1;
		}
	} else {
		uart_other++;
	}
	apic_eoi();
}

static void uart_part(void)
{
	ioapic_rte_set(PIN_UART, IOAPIC_RTE_DEST(0) | VEC_UART);
	outb(COM1_PORT + 4, 0x0b); /* MCR: DTR, RTS, OUT2 (the interrupt gate on PCs) */
	cpu_sti();
	outb(COM1_PORT + 1, 0x02); /* IER: ETBEI */
	if (irq_spin_until(&uart_done, 1, WAIT_US) < 0)
		irq_problem(0, "uart: %u of %u bytes sent by interrupts", uart_pos, (uint32_t)sizeof(uart_msg) - 1);
	irq_delay_us(2000);
	cpu_cli();
	outb(COM1_PORT + 1, 0);
	outb(COM1_PORT + 4, 0x03);
	ioapic_mask(PIN_UART, true);
	uint32_t len = sizeof(uart_msg) - 1;
	printf("uart: %u bytes sent from %u THRE interrupts (pin 4, edge)\n", uart_pos, uart_irqs);
	if (uart_irqs < len + 1 || uart_irqs > len + 3 || uart_other)
		irq_problem(0, "uart: %u interrupts (%u not THRE) for %u bytes, expected %u", uart_irqs, uart_other,
			    len, len + 1);
}

/* ---- registers ----------------------------------------------------------------- */
static void register_part(void)
{
	uint32_t ver = ioapic_read(IOAPIC_REG_VER), id = ioapic_read(IOAPIC_REG_ID);
	uint32_t npins = ((ver >> 16) & 0xff) + 1;
	printf("ioapic: id %u, version 0x%x, %u pins\n", (id >> 24) & 0xf, ver & 0xff, npins);
	if (npins != 24 || ((ver & 0xff) != 0x11 && (ver & 0xff) != 0x20))
		irq_problem(0, "IOAPICVER %08x: expected version 0x11 or 0x20 with 24 entries", ver);
	for (unsigned pin = 0; pin < 24; pin++)
		if (!(ioapic_rte_get(pin) & IOAPIC_RTE_MASKED))
			irq_problem(0, "pin %u not masked at reset: %llx", pin, ioapic_rte_get(pin));
	uint64_t rte = IOAPIC_RTE_DEST(5) | IOAPIC_RTE_MASKED | IOAPIC_RTE_LEVEL | IOAPIC_RTE_ACTIVE_LOW |
		       IOAPIC_RTE_LOGICAL | IOAPIC_RTE_DM_LOWPRIO | 0x99;
	ioapic_rte_set(20, rte);
	if (ioapic_rte_get(20) != rte)
		irq_problem(0, "pin 20 reads %llx, wrote %llx", ioapic_rte_get(20), rte);
	ioapic_rte_set(20, IOAPIC_RTE_MASKED);
}

/* ---- PIT on pin 2 ------------------------------------------------------------------ */
static void pit_part(uint32_t n)
{
	uint32_t ncpu = n < 4 ? n : 4;
	pit_ch0_periodic(PIT_COUNT);
	for (uint32_t c = 0; c < ncpu; c++) {
		pit_cpu = c;
		ioapic_rte_set(PIN_PIT, IOAPIC_RTE_DEST(c) | IOAPIC_RTE_MASKED | VEC_PIT);
		uint64_t t0 = rdtsc();
		ioapic_mask(PIN_PIT, false);
		cpu_sti();
		if (irq_spin_until(&pit[c], PIT_TICKS, WAIT_US) < 0)
			irq_problem(0, "pit: CPU %u took %u of %u ticks", c, pit[c], PIT_TICKS);
		cpu_cli();
		ioapic_mask(PIN_PIT, true);
		uint64_t us = irq_cycles_to_us(pit_last - t0);
		/* the first edge may come at once, the next ones a period apart */
		uint64_t min_us = (uint64_t)(PIT_TICKS - 1) * PIT_COUNT * 1000000 / PIT_HZ;
		if (us * 100 < min_us * 99)
			irq_problem(0, "pit: %u ticks on CPU %u in %llu us, at least %llu expected", PIT_TICKS, c, us,
				    min_us);
		/* Edges delivered before the mask may still be on their way: one
		 * accepted (in service, its handler not yet counted) and one more
		 * pending in IRR (SDM 10.8.4: a vector can be in service and
		 * requested at once). A vCPU can be descheduled between accepting
		 * an interrupt and its handler's count, so both can arrive after
		 * `after`; anything beyond two means the mask did not hold (the
		 * 1 kHz PIT gives about five in the 5 ms below). */
		uint32_t after = pit[c];
		cpu_sti();
		irq_delay_us(5000);
		cpu_cli();
		if (pit[c] > after + 2)
			irq_problem(0, "pit: %u ticks on CPU %u after its pin was masked", pit[c] - after, c);
		if (c == 0)
			printf("pit: %u ticks via pin 2 in %llu us (ideal %llu)\n", PIT_TICKS, us,
			       (uint64_t)PIT_TICKS * PIT_COUNT * 1000000 / PIT_HZ);
	}
	pit_ch0_stop();
	if (pit_wrong)
		irq_problem(0, "pit: %u ticks reached a CPU the pin was not routed to", pit_wrong);
	printf("pit: pin 2 routed to CPUs 0..%u in turn, %u ticks each\n", ncpu - 1, PIT_TICKS);
}

/* ---- level-triggered lines (runs on the CPU it tests) ------------------------------ */
static bool remote_irr(unsigned pin) { return ioapic_rte_get(pin) & IOAPIC_RTE_REMOTE_IRR; }

static bool take(volatile uint32_t *c, uint32_t want)
{
	cpu_sti();
	int r = irq_spin_until(c, want, WAIT_US);
	irq_delay_us(1000);
	cpu_cli();
	return r == 0;
}

static int level_test(uint32_t id, uint32_t no_polarity)
{
	volatile uint32_t *c = &lvl[id];
	const unsigned pin = LINE_LVL;

	cpu_cli();
	ioapic_rte_set(pin, IOAPIC_RTE_DEST(id) | IOAPIC_RTE_LEVEL | VEC_LVL);
	testdev_irq(LINE_LVL, 1);
	irq_poke();
	if (!apic_irr_has(VEC_LVL) || !apic_tmr_has(VEC_LVL) || !remote_irr(pin))
		irq_problem(id, "level: line raised: IRR %u, TMR %u, Remote IRR %u; expected 1 1 1",
			    apic_irr_has(VEC_LVL), apic_tmr_has(VEC_LVL), remote_irr(pin));
	if (!take(c, 1) || *c != 1)
		irq_problem(id, "level: %u interrupts for the raised line, expected 1", *c);
	if (!apic_isr_has(VEC_LVL) || apic_irr_has(VEC_LVL))
		irq_problem(id, "level: in service: ISR %u IRR %u, expected 1 0", apic_isr_has(VEC_LVL),
			    apic_irr_has(VEC_LVL));
	cpu_sti();
	irq_delay_us(2000);
	cpu_cli();
	if (*c != 1 || apic_irr_has(VEC_LVL))
		irq_problem(id, "level: line still high, no EOI: %u interrupts, IRR %u; expected 1, 0", *c,
			    apic_irr_has(VEC_LVL));

	apic_eoi(); /* line still high: delivered again */
	if (!take(c, 2) || *c != 2)
		irq_problem(id, "level: EOI with the line high: %u interrupts, expected 2", *c);
	if (!remote_irr(pin))
		irq_problem(id, "level: Remote IRR clear after the re-delivery");

	testdev_irq(LINE_LVL, 0);
	if (!remote_irr(pin))
		irq_problem(id, "level: lowering the line cleared Remote IRR (only EOI may)");
	apic_eoi();
	if (remote_irr(pin))
		irq_problem(id, "level: Remote IRR still set after the line dropped and EOI");
	cpu_sti();
	irq_delay_us(2000);
	cpu_cli();
	if (*c != 2 || apic_isr_has(VEC_LVL) || apic_irr_has(VEC_LVL))
		irq_problem(id, "level: after the last EOI: %u interrupts, ISR %u, IRR %u; expected 2 0 0", *c,
			    apic_isr_has(VEC_LVL), apic_irr_has(VEC_LVL));

	/* masked while asserted: delivered when unmasked */
	ioapic_mask(pin, true);
	testdev_irq(LINE_LVL, 1);
	cpu_sti();
	irq_delay_us(2000);
	cpu_cli();
	if (*c != 2 || remote_irr(pin))
		irq_problem(id, "level: masked line delivered (%u interrupts, Remote IRR %u)", *c, remote_irr(pin));
	ioapic_mask(pin, false);
	if (!take(c, 3) || *c != 3)
		irq_problem(id, "level: unmasking the raised line: %u interrupts, expected 3", *c);
	testdev_irq(LINE_LVL, 0);
	apic_eoi();
	ioapic_mask(pin, true);
	if (remote_irr(pin))
		irq_problem(id, "level: Remote IRR set at the end");

	if (!no_polarity) {
		volatile uint32_t *cl = &lvl_low[id];
		const unsigned pl = LINE_LVL_LOW;
		testdev_irq(LINE_LVL_LOW, 0); /* wire low = asserted for an active-low entry */
		ioapic_rte_set(pl, IOAPIC_RTE_DEST(id) | IOAPIC_RTE_LEVEL | IOAPIC_RTE_ACTIVE_LOW | VEC_LVL_LOW);
		if (!take(cl, 1) || *cl != 1)
			irq_problem(id, "active low: wire at 0 gave %u interrupts, expected 1", *cl);
		testdev_irq(LINE_LVL_LOW, 1); /* deasserted */
		apic_eoi();
		cpu_sti();
		irq_delay_us(2000);
		cpu_cli();
		if (*cl != 1 || remote_irr(pl))
			irq_problem(id, "active low: wire at 1: %u interrupts, Remote IRR %u; expected 1, 0", *cl,
				    remote_irr(pl));
		testdev_irq(LINE_LVL_LOW, 0);
		if (!take(cl, 2) || *cl != 2)
			irq_problem(id, "active low: wire back at 0: %u interrupts, expected 2", *cl);
		testdev_irq(LINE_LVL_LOW, 1);
		apic_eoi();
		ioapic_mask(pl, true);
		testdev_irq(LINE_LVL_LOW, 0);
	}
	return 0;
}

/* ---- edge on pin 5 ---------------------------------------------------------------- */
static void edge_part(void)
{
	ioapic_rte_set(PIN_EDGE, IOAPIC_RTE_DEST(0) | IOAPIC_RTE_MASKED | VEC_EDGE);
	testdev_irq(PIN_EDGE, 1); /* edge while masked: lost */
	ioapic_mask(PIN_EDGE, false);
	cpu_sti();
	irq_delay_us(2000);
	cpu_cli();
	if (edge)
		irq_problem(0, "edge: an edge seen while masked was delivered at unmask");
	for (uint32_t k = 1; k <= 2; k++) {
		testdev_irq(PIN_EDGE, 0);
		testdev_irq(PIN_EDGE, 1);
		if (!take(&edge, k) || edge != k)
			irq_problem(0, "edge: %u interrupts after %u rising edges", edge, k);
	}
	testdev_irq(PIN_EDGE, 0);
	ioapic_mask(PIN_EDGE, true);
	printf("edge: masked edge lost, then %u interrupts for 2 rising edges\n", edge);
}

/* ---- several CPUs ------------------------------------------------------------------ */
static int setup_logical(uint32_t id, uint32_t arg)
{
	apic_write(APIC_DFR, APIC_DFR_FLAT);
	apic_write(APIC_LDR, (1u << id) << 24);
	return 0;
}

static void multi_part(uint32_t n)
{
	irq_on_all(setup_logical, 0);
	static const struct {
		uint64_t rte;
		bool one;
		const char *what;
	} kinds[] = {
		{IOAPIC_RTE_LOGICAL, false, "logical, all CPUs"},
		{IOAPIC_RTE_LOGICAL | IOAPIC_RTE_DM_LOWPRIO, true, "lowest priority, all CPUs"},
		{0, false, "physical broadcast 0xff"},
	};
	for (uint32_t k = 0; k < 3; k++) {
		uint64_t dest = kinds[k].rte & IOAPIC_RTE_LOGICAL ? (1u << n) - 1 : 0xff;
		uint32_t before[MAX_MC_CPUS], total0 = mc_total, want = kinds[k].one ? 1 : n;
		for (uint32_t id = 0; id < n; id++)
			before[id] = mc[id];
		ioapic_rte_set(PIN_MC, IOAPIC_RTE_DEST(dest) | kinds[k].rte | VEC_MC);
		testdev_irq(PIN_MC, 1);
		testdev_irq(PIN_MC, 0);
		cpu_sti();
		irq_spin_until(&mc_total, total0 + want, WAIT_US);
		irq_delay_us(5000);
		cpu_cli();
		uint32_t takers = 0;
		for (uint32_t id = 0; id < n; id++) {
			uint32_t d = mc[id] - before[id];
			takers += d != 0;
			if (d > 1 || (!kinds[k].one && d != 1))
				irq_problem(0, "%s: CPU %u took %u interrupts, expected 1", kinds[k].what, id, d);
		}
		if (mc_total - total0 != want)
			irq_problem(0, "%s: %u interrupts, expected %u", kinds[k].what, mc_total - total0, want);
		printf("multi: %s: %u CPUs took it\n", kinds[k].what, takers);
	}
	ioapic_mask(PIN_MC, true);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = irq_smp_start(mbi, SMP_XAPIC);
	bool no_polarity = cmdline_has_word(mb_cmdline(mbi), "no-polarity");

	printf("irq_ioapic: %u CPUs (xAPIC)\n", n);
	idt_set_handler(VEC_PIT, on_pit);
	idt_set_handler(VEC_UART, on_uart);
	idt_set_handler(VEC_LVL, on_lvl);
	idt_set_handler(VEC_LVL_LOW, on_lvl_low);
	idt_set_handler(VEC_EDGE, on_edge);
	idt_set_handler(VEC_MC, on_mc);

	register_part();
	pit_part(n);
	uart_part();
	irq_on_cpu(0, level_test, no_polarity);
	if (n > 1)
		irq_on_cpu(n - 1, level_test, no_polarity);
	printf("level: line 10 on pin 10 (%s): Remote IRR, re-delivery after EOI, masked until unmasked%s\n",
	       n > 1 ? "BSP and last AP" : "BSP", no_polarity ? "" : "; active-low pin 11");
	edge_part();
	if (n >= 2 && n <= MAX_MC_CPUS)
		multi_part(n);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
