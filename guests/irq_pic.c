/* irq_pic.c: interrupts through the 8259A pair only (8259A datasheet; SDM
 * Vol. 3A 10.5.1 for LINT0 in ExtINT mode).
 * The BSP's local APIC is left as reset leaves it (software-disabled, LINT0
 * ExtINT unmasked, as KVM and a BIOS's virtual wire mode have it); only its
 * ICR is used, to start the APs. The PICs are initialised with ICW1-4,
 * vector bases 0x20 / 0x28.
 *  - IRQ0: PIT channel 0 at 1 kHz; PIT_TICKS interrupts on vector 0x20, no
 *    sooner than the PIT period allows, with ISR bit 0 set in the handler
 *    and clear after the non-specific EOI; masking IRQ0 (IMR) stops them.
 *  - IRQ8: RTC periodic interrupt (status A rate 6: 1024 Hz, status B PIE)
 *    through the slave (vector 0x28, cascade on master IR2): RTC_TICKS
 *    interrupts, each with PF and IRQF in status C, EOI to both chips.
 *  - IRQ5 (pc-testdev line 5), edge: one interrupt per rising edge, none
 *    while the line stays high.
 *  - IRQ10 (line 10) with its ELCR bit set, level: after an EOI with the
 *    line still high it comes again; the handler lowers the line at the
 *    third, and no fourth comes.
 *  - APs (their LINT0 is masked after INIT) never get a PIC interrupt. */
#include "irq.h"

#define PIC_BASE_M 0x20
#define PIC_BASE_S 0x28
#define PIT_TICKS 50
#define PIT_COUNT 1193
#define RTC_TICKS 32
#define LEVEL_TIMES 3
#define WAIT_US 2000000

static volatile uint32_t irq0, irq0_isr_bad, irq8, irq8_bad, irq5, irq10, on_ap;
static volatile uint64_t irq0_last, irq8_last;

/* Which CPU: the APIC ID register reads fine with the APIC software-disabled. */
static uint32_t cpu_id(void) { return xapic_read(APIC_ID) >> 24; }

static void on_irq0(struct isr_frame *f)
{
	if (cpu_id() != 0)
		atomic_inc(&on_ap);
	irq0_last = rdtsc();
	if (irq0 < 3 && !(pic_isr() & 1)) /* a few times only: 4 port accesses each */
		irq0_isr_bad++;
	irq0++;
	pic_eoi(0);
}

static void on_irq8(struct isr_frame *f)
{
	if (cpu_id() != 0)
		atomic_inc(&on_ap);
	irq8_last = rdtsc();
	uint8_t c = rtc_read(0x0c); /* reading C clears it and lowers IRQ8 */
	if ((c & 0xc0) != 0xc0)
		irq8_bad++;
	irq8++;
	pic_eoi(8);
}

static void on_irq5(struct isr_frame *f)
{
	irq5++;
	pic_eoi(5);
}

static void on_irq10(struct isr_frame *f)
{
	if (++irq10 == LEVEL_TIMES)
		testdev_irq(10, 0);
	pic_eoi(10);
}

static void on_ap_any(struct isr_frame *f) { atomic_inc(&on_ap); }

static bool wait(volatile uint32_t *c, uint32_t want)
{
	cpu_sti();
	int r = irq_spin_until(c, want, WAIT_US);
	cpu_cli();
	return r == 0;
}

static void quiet(uint32_t us)
{
	cpu_sti();
	irq_delay_us(us);
	cpu_cli();
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = irq_smp_start_apic_untouched(mbi);
	uint32_t svr = xapic_read(APIC_SVR), lint0 = xapic_read(APIC_LVT_LINT0);

	printf("irq_pic: %u CPUs; BSP APIC SVR %x LINT0 %x (untouched)\n", n, svr, lint0);
	pic_init(PIC_BASE_M, PIC_BASE_S);
	idt_set_handler(PIC_BASE_M + 0, on_irq0);
	idt_set_handler(PIC_BASE_S + 0, on_irq8);
	idt_set_handler(PIC_BASE_M + 5, on_irq5);
	idt_set_handler(PIC_BASE_S + 2, on_irq10);
	for (uint32_t v = PIC_BASE_M; v < PIC_BASE_M + 16; v++)
		if (v != PIC_BASE_M && v != PIC_BASE_S && v != PIC_BASE_M + 5 && v != PIC_BASE_S + 2)
			idt_set_handler((uint8_t)v, on_ap_any); /* spurious 7/15 and anything else */

	/* IRQ0: PIT */
	/* t0 before the count is written: an edge latched in IRR while IRQ0
	 * was masked makes at most one interrupt, every other needs an edge of
	 * its own, so PIT_TICKS interrupts take at least PIT_TICKS - 1 periods. */
	uint64_t t0 = rdtsc();
	pit_ch0_periodic(PIT_COUNT);
	pic_set_imr((uint16_t)~(1u << 0));
	if (!wait(&irq0, PIT_TICKS))
		irq_problem(0, "irq0: %u of %u ticks", irq0, PIT_TICKS);
	pic_set_imr(0xffff);
	uint64_t us = irq_cycles_to_us(irq0_last - t0);
	uint64_t min_us = (uint64_t)(PIT_TICKS - 1) * PIT_COUNT * 1000000 / PIT_HZ;
	if (us * 100 < min_us * 99)
		irq_problem(0, "irq0: %u ticks in %llu us, at least %llu expected", PIT_TICKS, us, min_us);
	if (irq0_isr_bad)
		irq_problem(0, "irq0: ISR bit 0 clear in the handler (%u times)", irq0_isr_bad);
	if (pic_isr())
		irq_problem(0, "irq0: ISR %x after EOI", pic_isr());
	uint32_t after = irq0;
	quiet(5000);
	if (irq0 != after)
		irq_problem(0, "irq0: %u ticks while masked", irq0 - after);
	pit_ch0_stop();
	printf("irq0: %u PIT ticks through the PIC in %llu us (ideal %llu)\n", irq0, us,
	       (uint64_t)PIT_TICKS * PIT_COUNT * 1000000 / PIT_HZ);

	/* IRQ8: RTC periodic, through the slave */
	uint8_t a = rtc_read(0x0a), b = rtc_read(0x0b);
	rtc_write(0x0a, (uint8_t)((a & 0xf0) | 0x06)); /* 1024 Hz */
	(void)rtc_read(0x0c);
	t0 = rdtsc();
	rtc_write(0x0b, (uint8_t)(b | 0x40)); /* PIE */
	pic_set_imr((uint16_t)~((1u << 2) | (1u << 8)));
	if (!wait(&irq8, RTC_TICKS))
		irq_problem(0, "irq8: %u of %u RTC interrupts", irq8, RTC_TICKS);
	pic_set_imr(0xffff);
	rtc_write(0x0b, b);
	rtc_write(0x0a, a);
	(void)rtc_read(0x0c);
	us = irq_cycles_to_us(irq8_last - t0);
	if (us * 100 < (uint64_t)(RTC_TICKS - 1) * 1000000 / 1024 * 99)
		irq_problem(0, "irq8: %u RTC interrupts in %llu us: faster than 1024 Hz", RTC_TICKS, us);
	if (irq8_bad)
		irq_problem(0, "irq8: status C without PF|IRQF %u times", irq8_bad);
	printf("irq8: %u RTC periodic interrupts through the slave PIC in %llu us (ideal %u)\n", irq8, us,
	       RTC_TICKS * 1000000 / 1024);

	/* IRQ5: edge */
	testdev_irq(5, 0);
	pic_set_imr((uint16_t)~(1u << 5));
	for (uint32_t k = 1; k <= 2; k++) {
		testdev_irq(5, 1);
		if (!wait(&irq5, k))
			irq_problem(0, "irq5: no interrupt for rising edge %u", k);
		quiet(2000); /* the line stays high: nothing more */
		if (irq5 != k)
			irq_problem(0, "irq5: %u interrupts after %u rising edges", irq5, k);
		testdev_irq(5, 0);
	}

	/* IRQ10: level (ELCR) */
	outb(PIC_ELCR_SLAVE, 1u << 2);
	pic_set_imr((uint16_t)~((1u << 2) | (1u << 10)));
	testdev_irq(10, 1);
	if (!wait(&irq10, LEVEL_TIMES))
		irq_problem(0, "irq10: %u of %u level interrupts", irq10, LEVEL_TIMES);
	quiet(2000);
	if (irq10 != LEVEL_TIMES)
		irq_problem(0, "irq10: %u level interrupts, expected %u", irq10, LEVEL_TIMES);
	testdev_irq(10, 0);
	pic_set_imr(0xffff);
	outb(PIC_ELCR_SLAVE, 0);
	printf("irq5: %u interrupts for 2 rising edges; irq10 (level, ELCR): %u interrupts until the line dropped\n",
	       irq5, irq10);

	if (on_ap)
		irq_problem(0, "%u PIC interrupts reached an AP or an unexpected vector", on_ap);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
