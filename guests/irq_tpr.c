/* irq_tpr.c: task priority and the delivery order of pending interrupts, on
 * every vCPU at once (SDM Vol. 3A 10.8.3, 10.8.3.1, 10.8.4).
 * Each CPU sends itself six fixed IPIs (ICR, SELF shorthand) in a scrambled
 * order, vectors 0x62 0xe4 0x51 0x93 0x75 0x6a (priority classes 6 e 5 9 7
 * 6), while they cannot be taken, and watches them come out:
 *  A. IF=0 and TPR = 0x80: all six wait in IRR, none in ISR; PPR = 0x80.
 *     With IF=1 only the classes above 8 come, highest first: e4 93. TPR =
 *     0x75: nothing (class 7 is not above TPR[7:4] = 7, the low nibble does
 *     not matter). TPR = 0x5f: 75 6a 62 (within class 6, the higher vector
 *     first). TPR = 0: 51.
 *  B. TPR = 0 and IF=0: all six pend; with IF=1 they come e4 93 75 6a 62 51.
 * Every handler reads PPR, which must be TPR when TPR[7:4] >= the class of
 * the vector in service, else that class << 4 (SDM 10.8.3.1), and checks
 * that ISR holds exactly its own vector. TPR reads back as written; PPR
 * follows it with nothing in service. Append "x2apic" for x2APIC mode
 * (TPR/PPR/ISR/IRR through MSRs 0x808, 0x80a, 0x810+, 0x820+). */
#include "irq.h"

#define NVEC 6
#define LOG_MAX 16
static const uint8_t send_order[NVEC] = {0x62, 0xe4, 0x51, 0x93, 0x75, 0x6a};

struct log {
	volatile uint32_t n;
	volatile uint8_t vec[LOG_MAX], ppr[LOG_MAX], isr_ok[LOG_MAX];
};
static struct log logs[IRQ_MAX_CPUS];

static void on_vec(struct isr_frame *f)
{
	uint32_t id = apic_id();
	struct log *l = &logs[id];
	uint32_t k = l->n;
	uint8_t vec = (uint8_t)f->vector;
	bool ok = apic_bank_highest(APIC_ISR0) == vec && apic_bank_count(APIC_ISR0) == 1;
	uint8_t ppr = (uint8_t)apic_read(APIC_PPR);
	if (k < LOG_MAX) {
		l->vec[k] = vec;
		l->ppr[k] = ppr;
		l->isr_ok[k] = ok;
	}
	l->n = k + 1;
	apic_eoi();
}

/* PPR while vector vec is in service under tpr (SDM 10.8.3.1). */
static uint8_t ppr_for(uint8_t tpr, uint8_t vec)
{
	return (tpr & 0xf0) >= (vec & 0xf0) ? tpr : (uint8_t)(vec & 0xf0);
}

static void set_tpr(uint32_t id, uint8_t tpr)
{
	apic_write(APIC_TPR, tpr);
	if ((apic_read(APIC_TPR) & 0xff) != tpr)
		irq_problem(id, "TPR reads %x, wrote %x", apic_read(APIC_TPR) & 0xff, tpr);
	if ((apic_read(APIC_PPR) & 0xff) != tpr)
		irq_problem(id, "PPR reads %x with TPR %x and nothing in service", apic_read(APIC_PPR) & 0xff, tpr);
}

/* Lets pending interrupts in for a while, then checks the log grew by the
 * `n` vectors of `want`, in order, each with the PPR it should have seen. */
static void let_in(uint32_t id, uint8_t tpr, const uint8_t *want, uint32_t n, const char *what)
{
	struct log *l = &logs[id];
	uint32_t start = l->n;
	cpu_sti();
	irq_spin_until(&l->n, start + n, 200000);
	irq_delay_us(2000); /* anything that should not come */
	cpu_cli();
	if (l->n != start + n) {
		irq_problem(id, "%s: %u interrupts taken, expected %u", what, l->n - start, n);
		return;
	}
	for (uint32_t i = 0; i < n && start + i < LOG_MAX; i++) {
		uint32_t k = start + i;
		if (l->vec[k] != want[i])
			irq_problem(id, "%s: interrupt %u was %x, expected %x", what, i, l->vec[k], want[i]);
		else if (l->ppr[k] != ppr_for(tpr, want[i]))
			irq_problem(id, "%s: PPR %x in the handler of %x (TPR %x), expected %x", what, l->ppr[k],
				    want[i], tpr, ppr_for(tpr, want[i]));
		if (!l->isr_ok[k])
			irq_problem(id, "%s: ISR did not hold exactly %x in its handler", what, l->vec[k]);
	}
}

static void send_all(uint32_t id, const char *what)
{
	for (uint32_t i = 0; i < NVEC; i++)
		apic_self_ipi(send_order[i]);
	for (uint32_t i = 0; i < NVEC; i++) {
		if (!apic_irr_has(send_order[i]))
			irq_problem(id, "%s: vector %x not pending in IRR", what, send_order[i]);
		if (apic_isr_has(send_order[i]))
			irq_problem(id, "%s: vector %x in ISR before it was taken", what, send_order[i]);
	}
}

static int run(uint32_t id, uint32_t arg)
{
	static const uint8_t a1[] = {0xe4, 0x93}, a3[] = {0x75, 0x6a, 0x62}, a4[] = {0x51};
	static const uint8_t b[] = {0xe4, 0x93, 0x75, 0x6a, 0x62, 0x51};

	cpu_cli();
	set_tpr(id, 0);
	/* A: masking by TPR */
	set_tpr(id, 0x80);
	send_all(id, "TPR 0x80");
	let_in(id, 0x80, a1, 2, "TPR 0x80");
	for (uint32_t i = 0; i < NVEC; i++) {
		uint8_t v = send_order[i];
		if (apic_irr_has(v) != (v < 0x90))
			irq_problem(id, "TPR 0x80, after delivery: vector %x %s in IRR", v,
				    apic_irr_has(v) ? "still" : "no longer");
	}
	set_tpr(id, 0x75);
	let_in(id, 0x75, NULL, 0, "TPR 0x75");
	set_tpr(id, 0x5f);
	let_in(id, 0x5f, a3, 3, "TPR 0x5f");
	set_tpr(id, 0);
	let_in(id, 0, a4, 1, "TPR 0");
	/* B: IF=0 only */
	send_all(id, "IF=0");
	let_in(id, 0, b, NVEC, "IF=0");
	irq_check_apic_quiet(id);
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);

	printf("irq_tpr: %u CPUs (%s); self-IPIs 62 e4 51 93 75 6a under TPR 80, 75, 5f, 0 and IF=0\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC");
	for (uint32_t i = 0; i < NVEC; i++)
		idt_set_handler(send_order[i], on_vec);
	irq_on_all(run, 0);
	uint32_t total = 0;
	for (uint32_t id = 0; id < n; id++)
		total += logs[id].n;
	printf("order: ");
	for (uint32_t k = 0; k < logs[0].n && k < LOG_MAX; k++)
		printf("%x%s", logs[0].vec[k], k == 5 ? " | " : " ");
	printf("(cpu 0); %u interrupts on %u CPUs, %u expected\n", total, n, n * 2 * NVEC);
	if (total != n * 2 * NVEC)
		irq_problem(0, "%u interrupts in all, expected %u", total, n * 2 * NVEC);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
