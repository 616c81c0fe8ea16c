/* gdb_target.c: the guest that hyve's GDB stub is tested against
 * (tests/guest/cases_gdb.sh, with Debian's gdb and this ELF as its symbol
 * file). It starts the APs of --cpus N (one GDB thread each; they park with
 * CLI; HLT), then runs what the tests break, step and watch in:
 *
 *   gdb_ap_ran    how many APs ran (0 while GDB holds them: a STARTUP
 *                 that comes while GDB holds the VM starts nothing)
 *   gdb_magic     a global with a known value, read by `print`
 *   gdb_step()    a function to break at; its loop adds 1..n into gdb_sum
 *                 one instruction at a time (stepi / step)
 *   gdb_hw()      where a hardware breakpoint (hbreak) goes
 *   gdb_watched   written once, after gdb_hw() (watch)
 *   int3          with "int3" on the command line the guest runs an int3 of
 *                 its own after gdb_hw() and counts it in its #BP handler
 *                 ("gdb_target: own int3 handled 1"): GDB must not see it
 *   gdb_release   with "spin" on the command line the guest prints
 *                 "gdb_target: spinning" and loops (counting gdb_spins) until
 *                 GDB sets it (after an interrupt, Ctrl-C)
 *
 * It ends with the exit status given on the command line (the first
 * number, default 5: status (5 << 1) | 1 = 11) after printing
 * "gdb_target: sum=S watched=W". */
#include "smp.h"

volatile uint32_t gdb_magic = 0x1234abcd;
volatile uint32_t gdb_sum;
volatile uint32_t gdb_watched;
volatile uint32_t gdb_release;
volatile uint32_t gdb_spins;
volatile uint32_t gdb_ap_ran; /* APs that ran their first C code */
volatile uint32_t gdb_own_bp; /* #BPs of the guest's own int3 that reached its handler */

void gdb_step(uint32_t n);
void gdb_hw(void);

/* #BP is a trap: the handler returns after the int3 (SDM 6.15 "Interrupt 3"). */
static void gdb_bp(struct isr_frame *f)
{
	(void)f;
	gdb_own_bp++;
}

/* An AP's life (smp.h): count it, report, park. */
static void gdb_ap(uint32_t apic_id, uint32_t table)
{
	__atomic_add_fetch(&gdb_ap_ran, 1, __ATOMIC_SEQ_CST);
	smp_report(table, apic_id);
}

__attribute__((noinline)) void gdb_step(uint32_t n)
{
	for (uint32_t i = 1; i <= n; i++)
		gdb_sum += i;
}

__attribute__((noinline)) void gdb_hw(void)
{
	barrier();
	gdb_sum += 100;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	uint32_t code = 5, n = smp_init(SMP_XAPIC, mbi);
	struct smp_set aps;

	(void)parse_first_number(cl, &code);
	smp_install(SMP_VEC_A, 0, gdb_ap);
	smp_set_aps(&aps, n);
	for (uint32_t id = 1; id < n; id++)
		smp_init_sipi_sipi(id, APIC_DEST_PHYSICAL, SMP_VEC_A, SMP_INIT_DELAY_US);
	if (smp_check(0, &aps, "gdb"))
		guest_fail("APs did not start");
	printf("gdb_target: %u CPUs, magic at %p\n", n, (void *)&gdb_magic);
	gdb_step(4);
	gdb_hw();
	if (cmdline_has_word(cl, "int3")) { /* the guest's own breakpoint: not GDB's */
		idt_set_handler(3, gdb_bp);
		__asm__ volatile("int3" ::: "memory");
		printf("gdb_target: own int3 handled %u\n", gdb_own_bp);
	}
	gdb_watched = 42;
	if (cmdline_has_word(cl, "spin")) {
		printf("gdb_target: spinning\n");
		while (!gdb_release)
			gdb_spins++;
	}
	printf("gdb_target: sum=%u watched=%u\n", gdb_sum, gdb_watched);
	guest_exit(code);
}
