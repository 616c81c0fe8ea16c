/* irq_ipi_storm.c: fixed IPIs between vCPUs (SDM Vol. 3A 10.6), exact counts.
 *  1. Ping-pong: for every ordered pair (a, b), a != b, CPU a sends PING
 *     (vector 0x50) to b ROUNDS times; b's handler answers with PONG (0x51)
 *     to a from inside the handler; a sends the next PING only after the
 *     PONG came (halted, IF=1). One pair at a time. Every CPU must count
 *     exactly ROUNDS * (N-1) pings and as many pongs.
 *  2. Storm: every CPU at once sends STORM_ROUNDS rounds of one IPI to
 *     every other CPU, vector 0x60 + sender (so IPIs from different senders
 *     never merge in an IRR); a sender starts round r+1 to a target only
 *     after that target counted round r from it (otherwise two IPIs of the
 *     same vector could merge into one interrupt, which the SDM allows).
 *     Target t must count exactly STORM_ROUNDS from each sender s, and the
 *     total must be N * (N-1) * STORM_ROUNDS.
 * Needs 2 to 16 CPUs (one storm vector per sender). Physical destination;
 * append "x2apic" for x2APIC mode (the ICR is then one WRMSR). */
#include "irq.h"

#define VEC_PING 0x50
#define VEC_PONG 0x51
#define VEC_STORM 0x60 /* + sender APIC ID */
#define MAX_STORM_CPUS 16
#define ROUNDS 5
#define STORM_ROUNDS 50
#define WAIT_US 2000000

static volatile uint32_t pings[IRQ_MAX_CPUS], pongs[IRQ_MAX_CPUS];
static volatile uint32_t pinger; /* who sent the ping in flight (one pair at a time) */
static volatile uint32_t storm[MAX_STORM_CPUS][MAX_STORM_CPUS]; /* [target][sender] */
static volatile uint32_t storm_total, storm_go;

static void on_ping(struct isr_frame *f)
{
	atomic_inc(&pings[apic_id()]);
	ipi_fixed(pinger, APIC_DEST_PHYSICAL, VEC_PONG); /* an IPI from inside a handler */
	apic_eoi();
}

static void on_pong(struct isr_frame *f)
{
	atomic_inc(&pongs[apic_id()]);
	apic_eoi();
}

static void on_storm(struct isr_frame *f)
{
	uint32_t t = apic_id(), s = f->vector - VEC_STORM;
	if (t < MAX_STORM_CPUS && s < MAX_STORM_CPUS)
		atomic_inc(&storm[t][s]);
	atomic_inc(&storm_total);
	apic_eoi();
}

/* CPU a ping-pongs with every other CPU in turn. */
static int pingpong(uint32_t a, uint32_t arg)
{
	for (uint32_t b = 0; b < irq_ncpus; b++) {
		if (b == a)
			continue;
		for (uint32_t r = 0; r < ROUNDS; r++) {
			uint32_t want = pongs[a] + 1;
			pinger = a;
			ipi_fixed(b, APIC_DEST_PHYSICAL, VEC_PING);
			if (irq_halt_until(&pongs[a], want, WAIT_US) < 0) {
				irq_problem(a, "no PONG from CPU %u in round %u", b, r);
				return 1;
			}
		}
	}
	return 0;
}

static int storm_sender(uint32_t s, uint32_t arg)
{
	uint32_t n = irq_ncpus;
	/* Start together: everyone spins (IF=1) until all arrived. */
	atomic_inc(&storm_go);
	cpu_sti();
	irq_spin_until(&storm_go, n, WAIT_US);
	for (uint32_t r = 0; r < STORM_ROUNDS; r++) {
		for (uint32_t t = 0; t < n; t++)
			if (t != s)
				ipi_fixed(t, APIC_DEST_PHYSICAL, VEC_STORM + s);
		for (uint32_t t = 0; t < n; t++)
			if (t != s && irq_spin_until(&storm[t][s], r + 1, WAIT_US) < 0) {
				irq_problem(s, "round %u: CPU %u took %u of my IPIs", r, t, storm[t][s]);
				cpu_cli();
				return 1;
			}
	}
	cpu_cli();
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	enum smp_mode mode = cmdline_has_word(mb_cmdline(mbi), "x2apic") ? SMP_X2APIC : SMP_XAPIC;
	uint32_t n = irq_smp_start(mbi, mode);
	if (n < 2 || n > MAX_STORM_CPUS)
		guest_skip("needs 2 to %u CPUs, has %u", MAX_STORM_CPUS, n);

	printf("irq_ipi_storm: %u CPUs (%s); ping-pong %u rounds per ordered pair, storm %u rounds all-to-all\n", n,
	       apic_x2mode ? "x2APIC" : "xAPIC", ROUNDS, STORM_ROUNDS);
	idt_set_handler(VEC_PING, on_ping);
	idt_set_handler(VEC_PONG, on_pong);
	for (uint32_t s = 0; s < n; s++)
		idt_set_handler((uint8_t)(VEC_STORM + s), on_storm);

	/* APs wait for commands halted with IF=1; the BSP does too while an AP
	 * runs its command, so every CPU can answer pings. */
	for (uint32_t a = 0; a < n; a++)
		irq_on_cpu(a, pingpong, 0);
	irq_delay_us(10000);
	uint32_t want = ROUNDS * (n - 1), ptotal = 0;
	for (uint32_t id = 0; id < n; id++) {
		ptotal += pings[id];
		if (pings[id] != want || pongs[id] != want)
			irq_problem(0, "ping-pong: CPU %u took %u pings and %u pongs, expected %u each", id, pings[id],
				    pongs[id], want);
	}
	printf("ping-pong: %u pings and as many pongs, %u expected\n", ptotal, n * want);

	irq_on_all(storm_sender, 0);
	cpu_sti();
	irq_delay_us(10000); /* late or duplicate interrupts */
	cpu_cli();
	for (uint32_t t = 0; t < n; t++)
		for (uint32_t s = 0; s < n; s++) {
			uint32_t w = s == t ? 0 : STORM_ROUNDS;
			if (storm[t][s] != w)
				irq_problem(0, "storm: CPU %u took %u IPIs from CPU %u, expected %u", t, storm[t][s],
					    s, w);
		}
	printf("storm: %u interrupts taken, %u expected\n", storm_total, n * (n - 1) * STORM_ROUNDS);
	if (storm_total != n * (n - 1) * STORM_ROUNDS)
		irq_problem(0, "storm: %u interrupts, expected %u", storm_total, n * (n - 1) * STORM_ROUNDS);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
