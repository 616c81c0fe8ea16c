/* reg_ipi_all_pairs.c: regression (smp-spec 2.4): FIXED and NMI IPIs between
 * every pair of vCPUs, BSP included, with exact per-CPU counts.
 *  - Participants P: every CPU when N <= 16, else CPUs 0-7 and N-8..N-1 (all
 *    N(N-1) pairs would take minutes at 288 vCPUs on this emulation-bound
 *    host). All APs are started and checked regardless.
 *  - Each AP: software-enables its APIC, reports, then waits for commands
 *    halted with IF=1. The BSP gives one sender at a time a command in its
 *    mailbox and wakes it with a FIXED IPI of vector 0x41 (a "kick", counted
 *    apart).
 *  - FIXED round: each sender s in P sends vector 0x40 to every other member
 *    of P by physical unicast, one at a time, waiting until the target
 *    counted it (a second IPI while the vector is still pending in the IRR
 *    would merge into one interrupt). Every member must count |P|-1, every
 *    non-member 0.
 *  - NMI round: a ring over P; each member sends one NMI to its successor.
 *    Every member must count exactly 1 NMI. One per CPU because the guests
 *    return from handlers without IRET (KVM-PVM cannot emulate a
 *    protected-mode IRET, see lib/isr.S), so NMI blocking never ends.
 *  Counters are read from the receiving CPU's own APIC ID. */
#include "smp.h"

#define FULL_LIMIT 16
#define CMD_FIXED 1
#define CMD_NMI 2

static volatile uint32_t mail[SMP_MAX_CPUS];
static volatile uint32_t done_total, send_timeouts;
static uint32_t members[FULL_LIMIT], nmembers;

/* Sends as `self`; runs on the sender with IF as its caller has it. */
static void do_cmd(uint32_t self, uint32_t cmd)
{
	if (cmd == CMD_FIXED) {
		for (uint32_t i = 0; i < nmembers; i++) {
			uint32_t t = members[i];
			if (t == self)
				continue;
			uint32_t before = smp_recv[t];
			ipi_fixed(t, APIC_DEST_PHYSICAL, SMP_VEC_COUNT);
			if (smp_wait_value(&smp_recv[t], before + 1) < 0)
				atomic_inc(&send_timeouts);
		}
	} else if (cmd == CMD_NMI) {
		for (uint32_t i = 0; i < nmembers; i++)
			if (members[i] == self)
				ipi_nmi(members[(i + 1) % nmembers], APIC_DEST_PHYSICAL);
	}
}

static void life_a(uint32_t id, uint32_t table)
{
	apic_sw_enable();
	smp_report(table, id);
	for (;;) {
		while (!mail[id] && !smp_quit)
			cpu_sti_hlt_cli();
		if (smp_quit)
			return;
		do_cmd(id, mail[id]);
		mail[id] = 0;
		atomic_inc(&done_total);
	}
}

/* Runs cmd on every member in turn (the BSP itself, APs through their mailbox). */
static int round(uint32_t cmd, const char *what)
{
	for (uint32_t i = 0; i < nmembers; i++) {
		uint32_t s = members[i];
		if (s == 0) {
			do_cmd(0, cmd);
			continue;
		}
		uint32_t target = done_total + 1;
		mail[s] = cmd;
		ipi_fixed(s, APIC_DEST_PHYSICAL, SMP_VEC_KICK);
		if (smp_wait_value(&done_total, target) < 0) {
			printf("%s: AP %u did not finish its command\n", what, s);
			return 1;
		}
	}
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uint32_t n = smp_init_auto(mbi);
	struct smp_set aps;
	int problems;

	for (uint32_t id = 0; id < n; id++)
		if (n <= FULL_LIMIT || id < FULL_LIMIT / 2 || id >= n - FULL_LIMIT / 2)
			members[nmembers++] = id;
	printf("reg_ipi_all_pairs: %u CPUs; FIXED IPIs between all pairs of %u CPUs, NMI ring\n", n, nmembers);
	smp_counters_init();
	smp_install(SMP_VEC_A, 0, life_a);
	cpu_sti();
	smp_set_aps(&aps, n);
	smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
	problems = smp_check(0, &aps, "start");
	if (problems)
		guest_fail("APs did not start");

	problems += round(CMD_FIXED, "fixed");
	if (send_timeouts) {
		printf("fixed: %u IPIs were not taken by their target\n", send_timeouts);
		problems++;
	}
	if (nmembers >= 2) {
		problems += round(CMD_NMI, "nmi");
		if (smp_wait_value(&smp_nmi_total, nmembers) < 0)
			printf("nmi: timed out: %u of %u NMIs taken\n", smp_nmi_total, nmembers);
	}
	delay_us(SMP_LATE_WINDOW_US);

	uint32_t next = 0, lines = 0;
	for (uint32_t id = 0; id < n; id++) {
		bool member = next < nmembers && members[next] == id;
		if (member)
			next++;
		uint32_t want_fixed = member ? nmembers - 1 : 0;
		uint32_t want_nmi = member && nmembers >= 2 ? 1 : 0;
		uint32_t want_kicks = member && id ? (nmembers >= 2 ? 2 : 1) : 0;
		if (smp_recv[id] != want_fixed || smp_nmi[id] != want_nmi || smp_kicks[id] != want_kicks) {
			problems++;
			if (lines++ < 16)
				printf("CPU %u: %u fixed, %u NMI, %u kicks; expected %u, %u, %u\n", id, smp_recv[id],
				       smp_nmi[id], smp_kicks[id], want_fixed, want_nmi, want_kicks);
		}
	}
	printf("fixed: %u interrupts taken, %u expected; nmi: %u taken, %u expected\n", smp_recv_total,
	       nmembers * (nmembers - 1), smp_nmi_total, nmembers >= 2 ? nmembers : 0);
	if (problems)
		guest_fail("%d problems", problems);
	guest_pass();
}
