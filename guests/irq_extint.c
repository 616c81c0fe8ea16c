/* irq_extint.c: an I/O APIC pin programmed as ExtINT (82093AA 3.2.4:
 * delivery mode 111, "the interrupt is from an external, 8259A-compatible
 * controller": the destination runs one INTA cycle and the 8259 gives the
 * vector). Each message is one INTA; with nothing pending in the 8259 that
 * INTA returns its spurious IR7 vector (8259A datasheet), once.
 * The BSP's LINT0 is masked (its reset ExtINT virtual wire would also take
 * the 8259's INTR), so every interrupt here comes from an I/O APIC message
 * on pin 5, driven by pc-testdev line 5 (which also drives the 8259's IRQ5):
 *  - IRQ5 unmasked in the 8259: one pulse, one interrupt on vector 0x25,
 *    not in the local APIC's ISR (it is the 8259's), EOI to the 8259;
 *  - IRQ5 masked: each pulse gives exactly one spurious 0x27 and nothing
 *    more (a model that keeps the "INTR" up after the message storms the
 *    guest with spurious vectors);
 *  - the pin masked in the I/O APIC: a pulse gives nothing.
 * The negative result: "cpu 0: ..." lines and FAIL. */
#include "irq.h"

#define PIC_BASE_M 0x20
#define PIC_BASE_S 0x28
#define PIN 5
#define WAIT_US 500000

static volatile uint32_t by_vec[16];
static volatile uint32_t isr_seen;

static void on_pic(struct isr_frame *f)
{
	unsigned irq = (unsigned)(f->vector - PIC_BASE_M);
	by_vec[irq]++;
	if (irq == PIN) {
		if (apic_isr_has((uint8_t)f->vector))
			isr_seen++;
		pic_eoi(PIN);
	}
}

static uint32_t total(void)
{
	uint32_t t = 0;
	for (unsigned i = 0; i < 16; i++)
		t += by_vec[i];
	return t;
}

static void pulse(void)
{
	testdev_irq(PIN, true);
	testdev_irq(PIN, false);
}

/* One pulse with IF=1, then a quiet while: exactly `want` more on vector
 * base + irq, nothing else. */
static void expect(const char *what, unsigned irq, uint32_t want)
{
	uint32_t before = total(), on = by_vec[irq];
	cpu_sti();
	pulse();
	if (want)
		irq_spin_until(&by_vec[irq], on + want, WAIT_US);
	irq_delay_us(20000);
	cpu_cli();
	if (by_vec[irq] - on != want || total() - before != want)
		irq_problem(0, "%s: %u interrupts on vector %x and %u in all, expected %u and %u", what,
			    by_vec[irq] - on, PIC_BASE_M + irq, total() - before, want, want);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	uint32_t n = irq_smp_start(mbi, SMP_XAPIC);
	printf("irq_extint: %u CPUs; I/O APIC pin %u as ExtINT to the BSP\n", n, PIN);
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED | APIC_LVT_DM_EXTINT);
	pic_init(PIC_BASE_M, PIC_BASE_S);
	for (unsigned v = 0; v < 16; v++)
		idt_set_handler((uint8_t)(PIC_BASE_M + v), on_pic);
	ioapic_rte_set(PIN, IOAPIC_RTE_DM_EXTINT | IOAPIC_RTE_DEST(0));

	pic_set_imr((uint16_t)~(1u << PIN));
	expect("IRQ5 unmasked", PIN, 1);
	if (isr_seen)
		irq_problem(0, "the 8259's vector was in the local APIC's ISR");
	if (pic_isr())
		irq_problem(0, "8259 ISR %x after EOI", pic_isr());

	pic_set_imr(0xffff);
	for (unsigned i = 0; i < 3; i++)
		expect("IRQ5 masked in the 8259: the spurious IR7", 7, 1);
	if (pic_isr())
		irq_problem(0, "8259 ISR %x after spurious INTAs (IR7 sets none)", pic_isr());

	ioapic_mask(PIN, true);
	pic_set_imr((uint16_t)~(1u << PIN));
	expect("pin masked in the I/O APIC", PIN, 0);
	/* IRQ5 is now pending in the 8259 (its edge came): nothing may take it
	 * (LINT0 masked, the pin masked). */
	pic_set_imr(0xffff);

	printf("extint: %u interrupts from 8259 vector 0x%x, %u spurious 0x%x, %u in all\n", by_vec[PIN],
	       PIC_BASE_M + PIN, by_vec[7], PIC_BASE_M + 7, total());
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
