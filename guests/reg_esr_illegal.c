/* reg_esr_illegal.c: regression (smp-spec 2.4, SDM 10.5.3): a FIXED IPI with
 * a vector below 16 is illegal: the sender's ESR gets bit 5 ("send illegal
 * vector") and nothing is delivered.
 * ESR protocol: write it (which latches the errors since the previous write),
 * then read it.
 *  1. Control: a legal FIXED IPI (vector 0x40) to SELF is taken once and
 *     leaves ESR = 0.
 *  2. FIXED vector 5 to SELF: ESR bit 5 set, no vector-5 interrupt.
 *  3. (N >= 2) FIXED vector 5 to AP 1 by physical unicast: ESR bit 5 set,
 *     AP 1 takes no interrupt; then a legal IPI to AP 1 is taken once (the AP
 *     and its APIC are fine).
 * Vector 5 gets a counting handler: if it were delivered as an interrupt it
 * would be counted (not mistaken for a #BR). */
#include "smp.h"

#define ILLEGAL_VECTOR 5

static volatile uint32_t illegal_taken;

static void count_illegal(struct isr_frame *f)
{
	atomic_inc(&illegal_taken);
	apic_eoi();
}

static int expect(bool ok, const char *what)
{
	printf("%s: %s\n", what, ok ? "ok" : "WRONG");
	return ok ? 0 : 1;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	struct smp_set aps;
	int problems;
	uint32_t esr;

	printf("reg_esr_illegal: %u CPUs; FIXED IPI with vector %u sets ESR bit 5 and delivers nothing\n", n,
	       ILLEGAL_VECTOR);
	smp_counters_init();
	idt_set_handler(ILLEGAL_VECTOR, count_illegal);
	smp_install(SMP_VEC_A, 0, smp_idle_life);
	cpu_sti();
	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "start");

	apic_esr_latch();
	ipi_fixed(0, APIC_SH_SELF, SMP_VEC_COUNT);
	smp_wait_value(&smp_recv[0], 1);
	esr = apic_esr_latch();
	printf("legal self IPI: taken %u, ESR %02x\n", smp_recv[0], esr);
	problems += expect(smp_recv[0] == 1 && esr == 0, "1. legal vector to self taken, ESR clear");

	ipi_fixed(0, APIC_SH_SELF, ILLEGAL_VECTOR);
	delay_us(SMP_LATE_WINDOW_US);
	esr = apic_esr_latch();
	printf("vector %u to self: ESR %02x, taken %u\n", ILLEGAL_VECTOR, esr, illegal_taken);
	problems += expect((esr & APIC_ESR_SEND_ILLEGAL_VECTOR) && !illegal_taken,
			   "2. illegal vector to self: ESR bit 5, not delivered");

	if (n >= 2) {
		ipi_fixed(1, APIC_DEST_PHYSICAL, ILLEGAL_VECTOR);
		delay_us(SMP_LATE_WINDOW_US);
		esr = apic_esr_latch();
		printf("vector %u to AP 1: ESR %02x, taken %u\n", ILLEGAL_VECTOR, esr, illegal_taken);
		problems += expect((esr & APIC_ESR_SEND_ILLEGAL_VECTOR) && !illegal_taken,
				   "3. illegal vector to AP 1: ESR bit 5, not delivered");
		ipi_fixed(1, APIC_DEST_PHYSICAL, SMP_VEC_COUNT);
		smp_wait_value(&smp_recv[1], 1);
		problems += expect(smp_recv[1] == 1, "3. legal vector to AP 1 taken once");
	}
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
