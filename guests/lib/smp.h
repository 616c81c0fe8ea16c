/* smp.h: AP start-up and reporting library of hyve's SMP test guests.
 *
 * How an AP comes up (SDM Vol. 3A 8.4.4): the BSP copies a real-mode
 * trampoline to page `vector << 12` below 1 MiB (smp_install) and sends
 * INIT / STARTUP(vector). The AP starts at CS:IP = (vector << 8):0, loads the
 * guest's flat GDT, enters 32-bit protected mode, takes the 1 KiB stack of
 * its initial APIC ID (SMP_MAX_CPUS stacks, one per AP however often it
 * starts; smp_tramp.S), loads the shared IDT, switches its APIC to x2APIC mode if the test
 * runs in x2APIC mode, reads its APIC ID from its own APIC and runs the
 * "life" installed with the trampoline:
 *   - no function: report into the trampoline's table, then park (cli; hlt);
 *   - a function fn(id, table): it must call smp_report() itself when it is
 *     ready to be counted; when fn returns the AP parks.
 * Different vectors can carry different lives, which is how the tests see
 * which start-up an AP went through ("second life" tables).
 *
 * Report tables: seen[id] counts reports per APIC ID (IDs >= SMP_MAX_CPUS are
 * counted in `oor`), count counts all reports, tsc[id] holds the TSC of an
 * ID's first report. Tables live in .bss: zero at load.
 *
 * Memory this library uses below 1 MiB: the pages of the vectors a guest
 * installs, by convention 0x10000-0x14fff (vectors 0x10-0x14). Not 0x8000:
 * QEMU's Multiboot loader keeps the info block and memory map at 0x9000-0x9fff.
 * The loader must not put Multiboot data in these pages (smp_init checks the
 * info block and the command line and fails the test if they overlap).
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "apic.h"
#include "rt.h"

#define SMP_MAX_CPUS 1024
#define SMP_STACK_SIZE 1024
#define SMP_NTABLES 5 /* one per conventional vector below */

/* Conventional trampoline vectors and the table each reports into. */
#define SMP_VEC_A 0x10 /* first life -> table 0 (page 0x10000) */
#define SMP_VEC_B 0x11 /* second life -> table 1 (page 0x11000) */
#define SMP_VEC_C 0x12 /* third life -> table 2 (page 0x12000) */
#define SMP_VEC_D 0x13 /* -> table 3 (page 0x13000) */
#define SMP_VEC_E 0x14 /* -> table 4 (page 0x14000) */
#define SMP_VEC_LAST SMP_VEC_E

/* Timeouts: waiting for reports gives up after SMP_TIMEOUT_PROGRESS TSC
 * cycles without progress (2^32: 1.4 s at 3 GHz, 4.3 s at 1 GHz), multiplied
 * by smp_timeout_scale(), or after SMP_TIMEOUT_HARD in all. The host runs
 * every vCPU: N APs that start or take an IPI at once share its cores, so
 * the gap between two reports grows with N (1023 APs on 2 busy host cores). */
#define SMP_TIMEOUT_PROGRESS (1ull << 32)
#define SMP_TIMEOUT_HARD (1ull << 36)
/* 1 + N / 128: 1 up to 127 CPUs, 9 at 1024. */
uint32_t smp_timeout_scale(void);
/* After the expected reports arrived: how long to wait for unexpected late ones. */
#define SMP_LATE_WINDOW_US 50000
/* Delays of the INIT-SIPI-SIPI sequence (SDM 8.4.4.1 says 10 ms and 200 us; an
 * emulated APIC needs neither, so the INIT delay is kept short). */
#define SMP_INIT_DELAY_US 1000
#define SMP_SIPI_DELAY_US 200

struct smp_table {
	volatile uint32_t count;
	volatile uint32_t oor;
	volatile uint32_t oor_last;
	volatile uint32_t seen[SMP_MAX_CPUS];
	volatile uint64_t tsc[SMP_MAX_CPUS];
};
extern struct smp_table smp_tables[SMP_NTABLES];

/* A set of APIC IDs 0..SMP_MAX_CPUS-1. */
struct smp_set {
	uint32_t w[SMP_MAX_CPUS / 32];
};
static inline void smp_set_clear(struct smp_set *s) { memset(s, 0, sizeof(*s)); }
static inline void smp_set_add(struct smp_set *s, uint32_t id)
{
	if (id < SMP_MAX_CPUS)
		s->w[id / 32] |= 1u << (id % 32);
}
static inline bool smp_set_has(const struct smp_set *s, uint32_t id)
{
	return id < SMP_MAX_CPUS && ((s->w[id / 32] >> (id % 32)) & 1);
}
uint32_t smp_set_count(const struct smp_set *s);
/* s = {1, ..., n-1}: every AP of an n-CPU machine. */
void smp_set_aps(struct smp_set *s, uint32_t n);

typedef void (*smp_ap_fn)(uint32_t apic_id, uint32_t table);

enum smp_mode { SMP_XAPIC = 0, SMP_X2APIC = 1 };

/* BSP set-up: reads the CPU count from fw_cfg (FAIL if absent), checks the
 * Multiboot data is clear of the trampoline pages, builds and loads the IDT,
 * enables the BSP's APIC (SVR), and for SMP_X2APIC switches it to x2APIC mode
 * (SKIP if CPUID has no x2APIC). xAPIC with more than 255 CPUs: SKIP (xAPIC
 * IDs are 8 bits and 0xff is broadcast). Installs the default first life at
 * SMP_VEC_A (report into table 0, park). Returns N; prints nothing. */
uint32_t smp_init(enum smp_mode mode, uint32_t mbi);
/* smp_init in xAPIC mode, or in x2APIC mode when fw_cfg reports more than
 * 255 CPUs (for tests that are about start-up, not about the APIC mode). */
uint32_t smp_init_auto(uint32_t mbi);
/* BSP, after smp_init(SMP_XAPIC): moves the BSP to x2APIC mode (APs started
 * from now on follow); false if CPUID has no x2APIC. */
bool smp_switch_to_x2apic(void);
extern uint32_t smp_ncpus;
/* TSC when the BSP sent the first INIT of smp_boot*(); 0 before. */
extern volatile uint64_t smp_t0;

/* Copies the trampoline to page vector << 12 with the life (fn, table). */
void smp_install(uint8_t vector, uint32_t table, smp_ap_fn fn);
/* Counts one report of apic_id in table (any CPU, lock-free). */
void smp_report(uint32_t table, uint32_t apic_id);
/* Entry from the trampoline (smp_tramp.S); not for guests. */
void smp_ap_main(smp_ap_fn fn, uint32_t table);
/* Halts with IF=1 until *flag != 0 (any interrupt re-checks it); IF=0 after. */
void smp_idle_until(volatile uint32_t *flag);

/* ---- IPIs in the current mode (apic_x2mode). `how` is the destination
 * mode and shorthand part of the ICR: APIC_DEST_PHYSICAL or APIC_DEST_LOGICAL,
 * optionally | APIC_SH_*; dest is ignored with a shorthand. */
void ipi_init_assert(uint32_t dest, uint32_t how);
/* INIT level de-assert (trigger level, level 0): ignored by P6+ APICs. */
void ipi_init_deassert(uint32_t dest, uint32_t how);
void ipi_startup(uint32_t dest, uint32_t how, uint8_t vector);
void ipi_fixed(uint32_t dest, uint32_t how, uint8_t vector);
void ipi_nmi(uint32_t dest, uint32_t how);

/* SDM 8.4.4.1 sequence to one destination: INIT, init_delay_us, STARTUP,
 * 200 us, STARTUP (the second must be harmless). Sets smp_t0 if unset. */
void smp_init_sipi_sipi(uint32_t dest, uint32_t how, uint8_t vector, uint32_t init_delay_us);
/* The same sequence to every ID in `set`, physical unicast, pipelined:
 * INIT to each, one delay, STARTUP to each, 200 us, STARTUP to each. */
void smp_boot_each(const struct smp_set *set, uint8_t vector, uint32_t init_delay_us);
/* STARTUP (physical unicast) to each ID in set. */
void smp_startup_each(const struct smp_set *set, uint8_t vector);
/* INIT level-assert (physical unicast) to each ID in set. */
void smp_init_each(const struct smp_set *set);

/* ---- IPI counters: fixed IPIs with vector SMP_VEC_COUNT and NMIs are
 * counted per receiving APIC ID; SMP_VEC_KICK only wakes a halted CPU (counted
 * apart). Handlers EOI fixed vectors. A CPU must have the shared IDT (APs load
 * it at start-up), a software-enabled APIC and IF=1 (or be halted in
 * smp_idle_until) to take fixed IPIs. */
#define SMP_VEC_COUNT 0x40
#define SMP_VEC_KICK 0x41
extern volatile uint32_t smp_recv[SMP_MAX_CPUS], smp_recv_total;
extern volatile uint32_t smp_nmi[SMP_MAX_CPUS], smp_nmi_total;
extern volatile uint32_t smp_kicks[SMP_MAX_CPUS];
/* Set to end every smp_idle_life (APs see it at their next wake-up). */
extern volatile uint32_t smp_quit;
/* BSP: routes SMP_VEC_COUNT, SMP_VEC_KICK and NMI to the counting handlers. */
void smp_counters_init(void);
/* An AP life: software-enable the APIC, report, idle with IF=1 until
 * smp_quit, then park. */
void smp_idle_life(uint32_t apic_id, uint32_t table);

/* Logical-destination FIXED IPI test: sends one SMP_VEC_COUNT IPI in
 * logical destination mode to each of dests[0..ndests-1], each only after the
 * previous one was taken by every CPU it should reach (a vector still pending
 * in an IRR would merge two IPIs into one interrupt), then checks that every
 * CPU 0..n-1 counted exactly as many as match(id, dest) predicts. The counters
 * must be 0 before. Returns the number of problems. */
typedef bool (*smp_match_fn)(uint32_t apic_id, uint32_t dest);
int smp_logical_fixed_test(const uint32_t *dests, uint32_t ndests, uint32_t n, smp_match_fn match,
			   const char *what);

/* Waits until *p >= target, giving up after SMP_TIMEOUT_PROGRESS cycles
 * without a change of *p; 0 when reached, -1 on timeout. Polls with PAUSE;
 * IF is left as the caller has it. */
int smp_wait_value(volatile uint32_t *p, uint32_t target);
/* Waits until table's count >= n; 0 when reached, -1 on timeout. */
int smp_wait(uint32_t table, uint32_t n);
/* Waits for the expected reports (timeout), then SMP_LATE_WINDOW_US more for
 * late unexpected ones, then checks that exactly the IDs in `expected`
 * reported, each exactly once. Prints one line per problem ("AP 3 never
 * reported", "APIC ID 5 reported twice", "unexpected AP with APIC ID 9")
 * and a summary prefixed by `what`. Returns the number of problems. */
int smp_check(uint32_t table, const struct smp_set *expected, const char *what);

#endif
