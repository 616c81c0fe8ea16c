/* irq_nest.c: nested interrupts, ISR bits and EOI order, on every vCPU at
 * once (SDM Vol. 3A 10.8.3 "interrupt priority", 10.8.4, 10.8.5).
 * Each CPU sends itself fixed IPIs (ICR, SELF shorthand); handlers keep IF=0
 * except where they enable it on purpose.
 *  1. LOW 0x51 in service sets IF=1 and sends HIGH 0xa2: HIGH nests at once;
 *     in its handler ISR = {51, a2} and PPR = 0xa0; its EOI clears a2 (the
 *     highest ISR bit), leaving ISR = {51}, PPR = 0x50. Back in LOW, SAME
 *     0x52 (LOW's class) is sent with IF=1: it must not nest (PPR 0x50
 *     blocks class 5) and waits in IRR; LOW's EOI lets it in afterwards.
 *     Order: LOW begins, HIGH, LOW ends, SAME.
 *  2. Three levels and EOI order: LOW 0x51 -> MID 0x83 -> TOP 0xc4. TOP
 *     writes EOI twice: the first clears c4, the second 83 (EOI always ends
 *     the highest vector in service, whoever writes it), PPR following 0xc0
 *     -> 0x80 -> 0x50; MID then returns without an EOI; LOW's EOI empties
 *     ISR. Order: LOW begins, MID begins, TOP, MID ends, LOW ends.
 * Self-IPIs are edge-triggered: TMR stays clear. At the end IRR, ISR and PPR
 * are 0. Handlers record what they saw; the checks run outside (AP stacks
 * are 1 KiB). Append "x2apic" for x2APIC mode. */
#include "irq.h"

#define V_LOW 0x51
#define V_SAME 0x52
#define V_MID 0x83
#define V_HIGH 0xa2
#define V_TOP 0xc4
#define LOG_MAX 16
#define NEST_TIMEOUT_US 500000

enum { EV_LOW_BEGIN = 1, EV_LOW_END, EV_HIGH, EV_SAME, EV_MID_BEGIN, EV_MID_END, EV_TOP };
static const char *const ev_names[] = {"?", "LOW begins", "LOW ends", "HIGH", "SAME", "MID begins", "MID ends", "TOP"};

struct cpu {
	volatile uint32_t phase, n, bad;
	volatile uint8_t ev[LOG_MAX];
	volatile uint32_t done_high, done_same, done_top;
	char why[8][48];
};
static struct cpu cpus[IRQ_MAX_CPUS];

static void ev(struct cpu *c, uint32_t e)
{
	if (c->n < LOG_MAX)
		c->ev[c->n] = (uint8_t)e;
	c->n++;
}

/* A failed check in a handler: a bit in c->bad and a short fixed reason. */
static void bad(struct cpu *c, uint32_t bit, const char *why)
{
	c->bad |= 1u << bit;
	if (bit < 8)
		memcpy(c->why[bit], why, strlen(why) + 1 < 48 ? strlen(why) + 1 : 48);
}

/* ISR holds exactly the vectors of mask (one bit per vector of the list). */
static bool isr_is(const uint8_t *vecs, uint32_t n)
{
	if (apic_bank_count(APIC_ISR0) != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!apic_isr_has(vecs[i]))
			return false;
	return true;
}

static bool ppr_is(uint8_t v) { return (apic_read(APIC_PPR) & 0xff) == v; }

static void on_low(struct isr_frame *f)
{
	struct cpu *c = &cpus[apic_id()];
	static const uint8_t low[] = {V_LOW};
	ev(c, EV_LOW_BEGIN);
	if (!isr_is(low, 1) || !ppr_is(0x50) || apic_tmr_has(V_LOW))
		bad(c, 0, "LOW: ISR/PPR/TMR wrong on entry");
	if (c->phase == 1) {
		apic_self_ipi(V_HIGH);
		cpu_sti();
		irq_spin_until(&c->done_high, 1, NEST_TIMEOUT_US);
		cpu_cli();
		apic_self_ipi(V_SAME);
		cpu_sti();
		irq_delay_us(1000);
		cpu_cli();
		if (c->done_same || !apic_irr_has(V_SAME))
			bad(c, 1, "SAME nested in LOW or not pending");
	} else {
		apic_self_ipi(V_MID);
		cpu_sti();
		irq_spin_until(&c->done_top, 1, NEST_TIMEOUT_US);
		cpu_cli();
	}
	if (!isr_is(low, 1) || !ppr_is(0x50))
		bad(c, 2, "LOW: ISR/PPR wrong before its EOI");
	ev(c, EV_LOW_END);
	apic_eoi();
}

static void on_high(struct isr_frame *f)
{
	struct cpu *c = &cpus[apic_id()];
	static const uint8_t both[] = {V_LOW, V_HIGH}, low[] = {V_LOW};
	ev(c, EV_HIGH);
	if (!isr_is(both, 2) || !ppr_is(0xa0))
		bad(c, 3, "HIGH: ISR/PPR wrong on entry");
	apic_eoi();
	if (!isr_is(low, 1) || !ppr_is(0x50))
		bad(c, 4, "HIGH: its EOI did not clear a2 only");
	c->done_high = 1;
}

static void on_same(struct isr_frame *f)
{
	struct cpu *c = &cpus[apic_id()];
	static const uint8_t same[] = {V_SAME};
	ev(c, EV_SAME);
	if (!isr_is(same, 1))
		bad(c, 5, "SAME: ISR wrong on entry");
	apic_eoi();
	c->done_same = 1;
}

static void on_mid(struct isr_frame *f)
{
	struct cpu *c = &cpus[apic_id()];
	static const uint8_t two[] = {V_LOW, V_MID}, low[] = {V_LOW};
	ev(c, EV_MID_BEGIN);
	if (!isr_is(two, 2) || !ppr_is(0x80))
		bad(c, 6, "MID: ISR/PPR wrong on entry");
	apic_self_ipi(V_TOP);
	cpu_sti();
	irq_spin_until(&c->done_top, 1, NEST_TIMEOUT_US);
	cpu_cli();
	if (!isr_is(low, 1))
		bad(c, 6, "MID: TOP's two EOIs did not end MID");
	ev(c, EV_MID_END); /* no EOI: TOP's second EOI ended MID */
}

static void on_top(struct isr_frame *f)
{
	struct cpu *c = &cpus[apic_id()];
	static const uint8_t three[] = {V_LOW, V_MID, V_TOP}, two[] = {V_LOW, V_MID}, low[] = {V_LOW};
	ev(c, EV_TOP);
	if (!isr_is(three, 3) || !ppr_is(0xc0))
		bad(c, 7, "TOP: ISR/PPR wrong on entry");
	apic_eoi();
	if (!isr_is(two, 2) || !ppr_is(0x80))
		bad(c, 7, "TOP: first EOI did not end c4");
	apic_eoi();
	if (!isr_is(low, 1) || !ppr_is(0x50))
		bad(c, 7, "TOP: second EOI did not end 83");
	c->done_top = 1;
}

static void check_order(uint32_t id, uint32_t from, const uint8_t *want, uint32_t n, const char *what)
{
	struct cpu *c = &cpus[id];
	if (c->n != from + n) {
		irq_problem(id, "%s: %u events, expected %u", what, c->n - from, n);
		return;
	}
	for (uint32_t i = 0; i < n && from + i < LOG_MAX; i++)
		if (c->ev[from + i] != want[i]) {
			irq_problem(id, "%s: event %u is '%s', expected '%s'", what, i,
				    ev_names[c->ev[from + i] < 8 ? c->ev[from + i] : 0], ev_names[want[i]]);
			return;
		}
}

static int run(uint32_t id, uint32_t arg)
{
	static const uint8_t order1[] = {EV_LOW_BEGIN, EV_HIGH, EV_LOW_END, EV_SAME};
	static const uint8_t order2[] = {EV_LOW_BEGIN, EV_MID_BEGIN, EV_TOP, EV_MID_END, EV_LOW_END};
	struct cpu *c = &cpus[id];

	cpu_cli();
	apic_write(APIC_TPR, 0);
	c->phase = 1;
	apic_self_ipi(V_LOW);
	cpu_sti();
	if (irq_spin_until(&c->done_same, 1, 2 * NEST_TIMEOUT_US) < 0)
		irq_problem(id, "nesting: SAME never came");
	cpu_cli();
	check_order(id, 0, order1, 4, "two levels");

	c->phase = 2;
	uint32_t from = c->n;
	apic_self_ipi(V_LOW);
	cpu_sti();
	irq_spin_until(&c->n, from + 5, 2 * NEST_TIMEOUT_US);
	irq_delay_us(1000);
	cpu_cli();
	check_order(id, from, order2, 5, "three levels");

	for (uint32_t b = 0; b < 8; b++)
		if (c->bad & (1u << b))
			irq_problem(id, "%s", c->why[b]);
	irq_check_apic_quiet(id);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);

	printf("irq_nest: %u CPUs (%s); 51 > a2 nests, 52 waits; 51 > 83 > c4 with two EOIs in c4\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC");
	idt_set_handler(V_LOW, on_low);
	idt_set_handler(V_HIGH, on_high);
	idt_set_handler(V_SAME, on_same);
	idt_set_handler(V_MID, on_mid);
	idt_set_handler(V_TOP, on_top);
	irq_on_all(run, 0);
	printf("cpu 0 events:");
	for (uint32_t k = 0; k < cpus[0].n && k < LOG_MAX; k++)
		printf(" %s%s", ev_names[cpus[0].ev[k] < 8 ? cpus[0].ev[k] : 0], k == 3 ? " |" : ",");
	printf("\n");
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
