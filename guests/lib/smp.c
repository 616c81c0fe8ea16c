/* smp.c: AP start-up, report tables and their checks (see smp.h). */
#include "smp.h"

struct smp_table smp_tables[SMP_NTABLES];
uint32_t smp_ncpus;
volatile uint64_t smp_t0;

extern const uint8_t smp_tramp_start[], smp_tramp_end[], smp_tramp_fn[], smp_tramp_table[];

/* Pages the conventional vectors occupy (smp.h). */
#define SMP_LOW_START ((uint32_t)SMP_VEC_A << 12)
#define SMP_LOW_END (((uint32_t)SMP_VEC_LAST + 1) << 12)

uint32_t smp_set_count(const struct smp_set *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < SMP_MAX_CPUS / 32; i++)
		for (uint32_t w = s->w[i]; w; w &= w - 1) /* no libgcc: no __popcountsi2 */
			n++;
	return n;
}

void smp_set_aps(struct smp_set *s, uint32_t n)
{
	smp_set_clear(s);
	for (uint32_t id = 1; id < n && id < SMP_MAX_CPUS; id++)
		smp_set_add(s, id);
}

static bool overlaps_low(uint32_t start, uint32_t len)
{
	return start < SMP_LOW_END && start + len > SMP_LOW_START;
}

uint32_t smp_init(enum smp_mode mode, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	if (overlaps_low(mbi, sizeof(struct multiboot_info)) || (*cl && overlaps_low((uint32_t)cl, strlen(cl) + 1)))
		guest_fail("multiboot info at %08x / cmdline at %08x overlap the AP trampoline pages %05x-%05x", mbi,
			   (uint32_t)cl, SMP_LOW_START, SMP_LOW_END - 1);

	uint32_t n = fwcfg_cpu_count();
	if (!n)
		guest_fail("fw_cfg absent or reports 0 CPUs");
	smp_ncpus = n;
	idt_init();
	if (mode == SMP_X2APIC) {
		if (!cpu_has_x2apic())
			guest_skip("no x2APIC (CPUID.1:ECX[21] = 0)");
		x2apic_enable_self();
		apic_x2mode = 1;
	} else if (n > 255) {
		guest_skip("%u CPUs cannot all be addressed in xAPIC mode", n);
	}
	apic_sw_enable();
	if (apic_id() != 0)
		guest_fail("BSP has APIC ID %u, expected 0", apic_id());
	smp_install(SMP_VEC_A, 0, NULL);
	return n;
}

uint32_t smp_init_auto(uint32_t mbi)
{
	return smp_init(fwcfg_cpu_count() > 255 ? SMP_X2APIC : SMP_XAPIC, mbi);
}

bool smp_switch_to_x2apic(void)
{
	if (!cpu_has_x2apic())
		return false;
	x2apic_enable_self();
	apic_x2mode = 1;
	apic_sw_enable();
	return true;
}

void smp_install(uint8_t vector, uint32_t table, smp_ap_fn fn)
{
	uint8_t *page = (uint8_t *)((uint32_t)vector << 12);
	size_t len = (size_t)(smp_tramp_end - smp_tramp_start);

	memcpy(page, smp_tramp_start, len);
	*(volatile uint32_t *)(page + (smp_tramp_fn - smp_tramp_start)) = (uint32_t)fn;
	*(volatile uint32_t *)(page + (smp_tramp_table - smp_tramp_start)) = table;
}

void smp_report(uint32_t table, uint32_t id)
{
	struct smp_table *t = &smp_tables[table % SMP_NTABLES];
	uint64_t now = rdtsc();

	if (id < SMP_MAX_CPUS) {
		if (atomic_xadd(&t->seen[id], 1) == 0)
			t->tsc[id] = now;
	} else {
		t->oor_last = id;
		atomic_inc(&t->oor);
	}
	/* Last: a BSP that sees count sees the entries above (x86 TSO). */
	atomic_inc(&t->count);
}

void smp_ap_main(smp_ap_fn fn, uint32_t table)
{
	idt_load();
	if (apic_x2mode)
		x2apic_enable_self();
	uint32_t id = apic_id();
	if (fn)
		fn(id, table);
	else
		smp_report(table, id);
	cpu_park();
}

void smp_idle_until(volatile uint32_t *flag)
{
	cpu_cli();
	while (!*flag)
		cpu_sti_hlt_cli();
}

/* ---- IPI counters ---------------------------------------------------------- */
volatile uint32_t smp_recv[SMP_MAX_CPUS], smp_recv_total;
volatile uint32_t smp_nmi[SMP_MAX_CPUS], smp_nmi_total;
volatile uint32_t smp_kicks[SMP_MAX_CPUS];
volatile uint32_t smp_quit;

static void count_fixed(struct isr_frame *f)
{
	uint32_t id = apic_id();
	if (id < SMP_MAX_CPUS)
		atomic_inc(&smp_recv[id]);
	atomic_inc(&smp_recv_total);
	apic_eoi();
}

static void count_kick(struct isr_frame *f)
{
	uint32_t id = apic_id();
	if (id < SMP_MAX_CPUS)
		atomic_inc(&smp_kicks[id]);
	apic_eoi();
}

static void count_nmi(struct isr_frame *f)
{
	uint32_t id = apic_id();
	if (id < SMP_MAX_CPUS)
		atomic_inc(&smp_nmi[id]);
	atomic_inc(&smp_nmi_total); /* NMIs take no EOI (SDM 10.8.5) */
}

void smp_counters_init(void)
{
	idt_set_handler(SMP_VEC_COUNT, count_fixed);
	idt_set_handler(SMP_VEC_KICK, count_kick);
	idt_set_handler(2, count_nmi);
}

void smp_idle_life(uint32_t id, uint32_t table)
{
	apic_sw_enable();
	smp_report(table, id);
	smp_idle_until(&smp_quit);
}

/* ---- IPIs ------------------------------------------------------------------ */
void ipi_init_assert(uint32_t dest, uint32_t how)
{
	apic_send(dest, how | APIC_DM_INIT | APIC_LEVEL_ASSERT);
}

void ipi_init_deassert(uint32_t dest, uint32_t how)
{
	apic_send(dest, how | APIC_DM_INIT | APIC_TRIGGER_LEVEL);
}

void ipi_startup(uint32_t dest, uint32_t how, uint8_t vector)
{
	apic_send(dest, how | APIC_DM_STARTUP | APIC_LEVEL_ASSERT | vector);
}

void ipi_fixed(uint32_t dest, uint32_t how, uint8_t vector)
{
	apic_send(dest, how | APIC_DM_FIXED | APIC_LEVEL_ASSERT | vector);
}

void ipi_nmi(uint32_t dest, uint32_t how) { apic_send(dest, how | APIC_DM_NMI | APIC_LEVEL_ASSERT); }

static void mark_t0(void)
{
	if (!smp_t0)
		smp_t0 = rdtsc();
}

void smp_init_sipi_sipi(uint32_t dest, uint32_t how, uint8_t vector, uint32_t init_delay_us)
{
	mark_t0();
	ipi_init_assert(dest, how);
	delay_us(init_delay_us);
	ipi_startup(dest, how, vector);
	delay_us(SMP_SIPI_DELAY_US);
	ipi_startup(dest, how, vector);
}

void smp_init_each(const struct smp_set *set)
{
	for (uint32_t id = 0; id < SMP_MAX_CPUS; id++)
		if (smp_set_has(set, id))
			ipi_init_assert(id, APIC_DEST_PHYSICAL);
}

void smp_startup_each(const struct smp_set *set, uint8_t vector)
{
	for (uint32_t id = 0; id < SMP_MAX_CPUS; id++)
		if (smp_set_has(set, id))
			ipi_startup(id, APIC_DEST_PHYSICAL, vector);
}

void smp_boot_each(const struct smp_set *set, uint8_t vector, uint32_t init_delay_us)
{
	mark_t0();
	smp_init_each(set);
	delay_us(init_delay_us);
	smp_startup_each(set, vector);
	delay_us(SMP_SIPI_DELAY_US);
	smp_startup_each(set, vector);
}

/* ---- checks ------------------------------------------------------------------ */
uint32_t smp_timeout_scale(void) { return 1 + smp_ncpus / 128; }

int smp_wait_value(volatile uint32_t *p, uint32_t target)
{
	uint64_t start = rdtsc(), last = start, scale = smp_timeout_scale();
	uint32_t seen = *p;

	while (seen < target) {
		uint64_t now = rdtsc();
		uint32_t c = *p;
		if (c != seen) {
			seen = c;
			last = now;
		} else if (now - last > SMP_TIMEOUT_PROGRESS * scale || now - start > SMP_TIMEOUT_HARD) {
			return -1;
		}
		cpu_pause();
	}
	return 0;
}

int smp_wait(uint32_t table, uint32_t n) { return smp_wait_value(&smp_tables[table % SMP_NTABLES].count, n); }

/* At most this many problem lines; the rest are only counted. */
#define SMP_MAX_PROBLEM_LINES 16

int smp_check(uint32_t table, const struct smp_set *expected, const char *what)
{
	struct smp_table *t = &smp_tables[table % SMP_NTABLES];
	uint32_t want = smp_set_count(expected);
	int problems = 0;

	if (smp_wait(table, want) < 0)
		printf("%s: timed out: %u of %u expected reports\n", what, t->count, want);
	delay_us(SMP_LATE_WINDOW_US);

	uint32_t ok = 0;
	for (uint32_t id = 0; id < SMP_MAX_CPUS; id++) {
		uint32_t s = t->seen[id];
		bool exp = smp_set_has(expected, id);
		if (exp && s == 1) {
			ok++;
			continue;
		}
		if (!exp && s == 0)
			continue;
		if (problems++ >= SMP_MAX_PROBLEM_LINES)
			continue;
		if (exp && s == 0)
			printf("%s: AP %u never reported\n", what, id);
		else if (exp && s == 2)
			printf("%s: APIC ID %u reported twice\n", what, id);
		else if (exp)
			printf("%s: APIC ID %u reported %u times\n", what, id, s);
		else
			printf("%s: unexpected AP with APIC ID %u (%u reports)\n", what, id, s);
	}
	if (t->oor) {
		problems++;
		printf("%s: %u reports with APIC ID >= %u (last %x)\n", what, t->oor, SMP_MAX_CPUS, t->oor_last);
	}
	if (problems > SMP_MAX_PROBLEM_LINES)
		printf("%s: ... %d problems in all\n", what, problems);
	if (want)
		printf("%s: %u of %u expected APs reported exactly once, %u reports in all\n", what, ok, want,
		       t->count);
	else
		printf("%s: %u reports (none expected)\n", what, t->count);
	return problems;
}

int smp_logical_fixed_test(const uint32_t *dests, uint32_t ndests, uint32_t n, smp_match_fn match,
			   const char *what)
{
	uint32_t target = 0;
	int problems = 0;

	for (uint32_t i = 0; i < ndests; i++) {
		uint32_t k = 0;
		for (uint32_t id = 0; id < n; id++)
			k += match(id, dests[i]);
		target += k;
		ipi_fixed(dests[i], APIC_DEST_LOGICAL, SMP_VEC_COUNT);
		if (smp_wait_value(&smp_recv_total, target) < 0) {
			printf("%s: timed out after logical destination %x: %u of %u interrupts taken\n", what,
			       dests[i], smp_recv_total, target);
			problems++;
			break;
		}
	}
	delay_us(SMP_LATE_WINDOW_US);
	for (uint32_t id = 0; id < n && id < SMP_MAX_CPUS; id++) {
		uint32_t want = 0;
		for (uint32_t i = 0; i < ndests; i++)
			want += match(id, dests[i]);
		if (smp_recv[id] != want && problems++ < SMP_MAX_PROBLEM_LINES)
			printf("%s: APIC ID %u took %u interrupts, expected %u\n", what, id, smp_recv[id], want);
	}
	printf("%s: %u logical IPIs sent, %u interrupts taken, %u expected\n", what, ndests, smp_recv_total,
	       target);
	return problems;
}
