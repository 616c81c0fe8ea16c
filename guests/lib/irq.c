/* irq.c: interrupt and timer helpers of the interrupt test guests (see irq.h). */
#include "irq.h"

/* ---- IDT stubs for vectors 0x20-0xfe ---------------------------------------
 * One 16-byte slot per vector from IRQ_STUB_FIRST on: push a dummy error
 * code and the vector, then the same common path as isr.S (save the GPRs,
 * isr_dispatch(frame), return with POPF;RET because KVM-PVM cannot emulate a
 * protected-mode IRET at CPL0; see the comment in isr.S). No vector in this
 * range pushes an error code (SDM Vol. 3A table 6-1: only exceptions do). */
__asm__(".text\n"
	".code32\n"
	".balign 16\n"
	"irq_stub_base:\n"
	".set irq_stub_vec, " "0x20" "\n"
	".rept 0xff - 0x20\n"
	".balign 16\n"
	"pushl $0\n"
	"pushl $irq_stub_vec\n"
	"jmp irq_stub_common\n"
	".set irq_stub_vec, irq_stub_vec + 1\n"
	".endr\n"
	"irq_stub_common:\n"
	"pushal\n"
	"cld\n"
	"pushl %esp\n"
	"call isr_dispatch\n"
	"addl $4, %esp\n"
	"movl 40(%esp), %eax\n" /* frame: 32 vector, 36 error, 40 eip, 44 cs, 48 eflags */
	"movl 48(%esp), %ecx\n"
	"movl %ecx, 44(%esp)\n"
	"movl %eax, 48(%esp)\n"
	"popal\n"
	"addl $12, %esp\n"
	"popfl\n"
	"ret\n");

extern const uint8_t irq_stub_base[];
/* rt.c's dispatcher (called by isr.S too). */
void isr_dispatch(struct isr_frame *f);

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

void irq_idt_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) d;
	__asm__ volatile("sidt %0" : "=m"(d));
	struct idt_gate *idt = (struct idt_gate *)d.base;
	uint32_t n = ((uint32_t)d.limit + 1) / 8;
	for (uint32_t v = IRQ_STUB_FIRST; v <= IRQ_STUB_LAST && v < n; v++) {
		if (idt[v].type & 0x80)
			continue; /* present: isr.S has a stub for it */
		uint32_t a = (uint32_t)irq_stub_base + (v - IRQ_STUB_FIRST) * 16;
		idt[v].off_lo = (uint16_t)a;
		idt[v].off_hi = (uint16_t)(a >> 16);
		idt[v].sel = 0x08;
		idt[v].zero = 0;
		idt[v].type = 0x8e; /* present, DPL 0, 32-bit interrupt gate */
	}
}

/* ---- local APIC ---------------------------------------------------------------- */
bool apic_bank_test(uint32_t first_off, uint8_t vec)
{
	return (apic_read(first_off + (uint32_t)(vec / 32) * 0x10) >> (vec % 32)) & 1;
}

int apic_bank_highest(uint32_t first_off)
{
	for (int i = 7; i >= 0; i--) {
		uint32_t w = apic_read(first_off + (uint32_t)i * 0x10);
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

uint32_t apic_bank_count(uint32_t first_off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < 8; i++)
		for (uint32_t w = apic_read(first_off + i * 0x10); w; w &= w - 1)
			n++;
	return n;
}

bool cpu_has_tsc_deadline(void) { return (cpuid(1, 0).ecx >> 24) & 1; }

uint32_t apic_bus_khz(void)
{
	if (cpuid(1, 0).ecx & (1u << 31)) {
		struct cpuid_regs h = cpuid(0x40000000, 0);
		if (h.eax >= 0x40000010 && h.eax < 0x40000100) {
			uint32_t khz = cpuid(0x40000010, 0).ebx;
			if (khz)
				return khz;
		}
	}
	return 1000000;
}

uint32_t apic_timer_counts(uint32_t us, uint32_t div)
{
	return (uint32_t)udiv64((uint64_t)us * apic_bus_khz(), 1000 * div, NULL);
}

/* ---- TSC --------------------------------------------------------------------------- */
static uint32_t khz_cached;

/* PIT channel 2 in mode 0 counts `count` ticks after the count is written
 * with GATE high; OUT2 (port 0x61 bit 5) goes high at terminal count
 * (82C54 "Mode 0"). Linux's pit_calibrate_tsc does the same. */
static uint32_t calibrate_pit(void)
{
	const uint32_t count = 59659; /* 50 ms */
	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01)); /* GATE2 high, speaker off */
	outb(PIT_CMD, 0xb0);                                /* ch2, LSB/MSB, mode 0, binary */
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, count >> 8);
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < 10000000 && !(inb(0x61) & 0x20); i++)
		;
	uint64_t dt = rdtsc() - t0;
	outb(0x61, (uint8_t)(inb(0x61) & ~0x03));
	return (uint32_t)udiv64(dt * PIT_HZ, count * 1000, NULL);
}

uint32_t irq_tsc_khz(void)
{
	if (!khz_cached) {
		uint32_t k = tsc_khz();
		/* Twice: the first run warms up (e.g. QEMU TCG translates the
		 * polling loop while the PIT already counts). */
		if (!k) {
			calibrate_pit();
			k = calibrate_pit();
		}
		khz_cached = k;
		if (!khz_cached)
			khz_cached = 1000000;
	}
	return khz_cached;
}

uint64_t irq_us_to_cycles(uint64_t us) { return udiv64(us * irq_tsc_khz(), 1000, NULL); }

uint64_t irq_cycles_to_us(uint64_t cycles) { return udiv64(cycles * 1000, irq_tsc_khz(), NULL); }

/* Busy loops leave the guest every POKE_US (an APIC register read): on the
 * KVM-PVM development hosts guest code at CPL0 runs in KVM's emulator, which
 * does not stop at the end of an STI shadow when an interrupt window is
 * requested, so an interrupt that became pending while IF was 0 is only
 * injected at the vCPU's next exit: measured without pokes, 185 of 200
 * self-IPIs sent with IF=0 came 0.1-1 ms after the STI, the slowest 29 ms. */
#define POKE_US 100

void irq_poke(void) { (void)apic_read(APIC_VERSION); }

void irq_delay_us(uint32_t us)
{
	uint64_t now = rdtsc(), end = now + irq_us_to_cycles(us), step = irq_us_to_cycles(POKE_US);
	uint64_t poke = now + step;
	while ((now = rdtsc()) < end) {
		if (now >= poke) {
			irq_poke();
			poke = now + step;
		}
		cpu_pause();
	}
}

int irq_halt_until(volatile uint32_t *p, uint32_t target, uint32_t timeout_us)
{
	uint64_t end = rdtsc() + irq_us_to_cycles(timeout_us);
	cpu_cli();
	while (*p < target) {
		if (rdtsc() > end)
			return -1;
		cpu_sti_hlt_cli();
	}
	return 0;
}

int irq_spin_until(volatile uint32_t *p, uint32_t target, uint32_t timeout_us)
{
	uint64_t now = rdtsc(), end = now + irq_us_to_cycles(timeout_us), step = irq_us_to_cycles(POKE_US);
	uint64_t poke = now + step;
	while (*p < target) {
		if ((now = rdtsc()) > end)
			return -1;
		if (now >= poke) {
			irq_poke();
			poke = now + step;
		}
		cpu_pause();
	}
	return 0;
}

/* ---- I/O APIC ---------------------------------------------------------------------- */
static volatile uint32_t *const ioregsel = (volatile uint32_t *)IOAPIC_BASE;
static volatile uint32_t *const iowin = (volatile uint32_t *)(IOAPIC_BASE + 0x10);

uint32_t ioapic_read(uint32_t reg)
{
	*ioregsel = reg;
	return *iowin;
}

void ioapic_write(uint32_t reg, uint32_t val)
{
	*ioregsel = reg;
	*iowin = val;
}

uint64_t ioapic_rte_get(unsigned pin)
{
	uint32_t lo = ioapic_read(IOAPIC_REG_RTE(pin));
	uint32_t hi = ioapic_read(IOAPIC_REG_RTE(pin) + 1);
	return (uint64_t)hi << 32 | lo;
}

void ioapic_rte_set(unsigned pin, uint64_t rte)
{
	ioapic_write(IOAPIC_REG_RTE(pin) + 1, (uint32_t)(rte >> 32));
	ioapic_write(IOAPIC_REG_RTE(pin), (uint32_t)rte);
}

void ioapic_mask(unsigned pin, bool masked)
{
	uint32_t lo = ioapic_read(IOAPIC_REG_RTE(pin));
	lo = masked ? lo | (uint32_t)IOAPIC_RTE_MASKED : lo & ~(uint32_t)IOAPIC_RTE_MASKED;
	ioapic_write(IOAPIC_REG_RTE(pin), lo);
}

/* ---- 8259A ----------------------------------------------------------------------------- */
void pic_init(uint8_t master_base, uint8_t slave_base)
{
	outb(PIC_MASTER_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC_SLAVE_CMD, 0x11);
	outb(PIC_MASTER_DATA, master_base); /* ICW2 */
	outb(PIC_SLAVE_DATA, slave_base);
	outb(PIC_MASTER_DATA, 0x04); /* ICW3: slave on IR2 */
	outb(PIC_SLAVE_DATA, 0x02);  /* ICW3: slave ID 2 */
	outb(PIC_MASTER_DATA, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(PIC_SLAVE_DATA, 0x01);
	pic_set_imr(0xffff);
	outb(PIC_ELCR_MASTER, 0);
	outb(PIC_ELCR_SLAVE, 0);
}

void pic_set_imr(uint16_t mask)
{
	outb(PIC_MASTER_DATA, (uint8_t)mask);
	outb(PIC_SLAVE_DATA, (uint8_t)(mask >> 8));
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC_SLAVE_CMD, 0x20);
	outb(PIC_MASTER_CMD, 0x20);
}

uint16_t pic_isr(void)
{
	outb(PIC_MASTER_CMD, 0x0b); /* OCW3: read ISR */
	outb(PIC_SLAVE_CMD, 0x0b);
	uint16_t v = (uint16_t)(inb(PIC_MASTER_CMD) | (uint16_t)inb(PIC_SLAVE_CMD) << 8);
	outb(PIC_MASTER_CMD, 0x0a); /* OCW3: read IRR */
	outb(PIC_SLAVE_CMD, 0x0a);
	return v;
}

/* ---- 8254 --------------------------------------------------------------------------------- */
void pit_ch0_periodic(uint16_t count)
{
	outb(PIT_CMD, 0x34); /* ch0, LSB/MSB, mode 2, binary */
	outb(PIT_CH0, (uint8_t)count);
	outb(PIT_CH0, (uint8_t)(count >> 8));
}

void pit_ch0_stop(void)
{
	outb(PIT_CMD, 0x30); /* ch0, LSB/MSB, mode 0 */
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);
}

/* ---- RTC -------------------------------------------------------------------------------------- */
uint8_t rtc_read(uint8_t reg)
{
	outb(RTC_INDEX, reg & 0x7f);
	return inb(RTC_DATA);
}

void rtc_write(uint8_t reg, uint8_t val)
{
	outb(RTC_INDEX, reg & 0x7f);
	outb(RTC_DATA, val);
}

/* ---- problems ------------------------------------------------------------------------------- */
#define IRQ_MSGS 4
#define IRQ_MSG_LEN 120

static volatile uint32_t nproblems[IRQ_MAX_CPUS];
static char msgs[IRQ_MAX_CPUS][IRQ_MSGS][IRQ_MSG_LEN];
uint32_t irq_ncpus = 1;

void irq_problem(uint32_t id, const char *fmt, ...)
{
	va_list ap;
	if (id >= IRQ_MAX_CPUS)
		id = 0;
	uint32_t k = atomic_xadd(&nproblems[id], 1);
	if (id == 0) {
		printf("cpu 0: ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	} else if (k < IRQ_MSGS) {
		va_start(ap, fmt);
		vsnprintf(msgs[id][k], IRQ_MSG_LEN, fmt, ap);
		va_end(ap);
	}
}

void irq_check_apic_quiet(uint32_t id)
{
	if (apic_bank_count(APIC_IRR0) || apic_bank_count(APIC_ISR0) || apic_read(APIC_PPR))
		irq_problem(id, "at the end: %u IRR bits, %u ISR bits, PPR %x", apic_bank_count(APIC_IRR0),
			    apic_bank_count(APIC_ISR0), apic_read(APIC_PPR));
}

uint32_t irq_problems(void)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < IRQ_MAX_CPUS; i++)
		n += nproblems[i];
	return n;
}

uint32_t irq_report(void)
{
	for (uint32_t id = 1; id < IRQ_MAX_CPUS; id++) {
		uint32_t k = nproblems[id];
		for (uint32_t i = 0; i < k && i < IRQ_MSGS; i++)
			printf("cpu %u: %s\n", id, msgs[id][i]);
		if (k > IRQ_MSGS)
			printf("cpu %u: ... %u problems in all\n", id, k);
	}
	return irq_problems();
}

/* ---- per-CPU command service ------------------------------------------------------------------ */
struct mailbox {
	volatile irq_cpu_fn fn;
	volatile uint32_t arg;
	volatile int result;
	volatile uint32_t busy; /* set last by the BSP, cleared last by the AP */
};
static struct mailbox mail[IRQ_MAX_CPUS];
/* The BSP can take kicks (its APIC is software-enabled) and is waiting for
 * an AP: the AP kicks it when done. */
static volatile uint32_t bsp_kickable, bsp_waiting;

/* An AP's life: software-enable the APIC, report, then run commands. */
static void ap_service(uint32_t id, uint32_t table)
{
	apic_sw_enable();
	smp_report(table, id);
	for (;;) {
		cpu_cli();
		while (!mail[id].busy)
			cpu_sti_hlt_cli();
		int r = mail[id].fn(id, mail[id].arg);
		cpu_cli();
		mail[id].result = r;
		__asm__ volatile("lock; addl $0, (%%esp)" ::: "memory"); /* store busy / load bsp_waiting order */
		mail[id].busy = 0;
		__asm__ volatile("lock; addl $0, (%%esp)" ::: "memory");
		if (bsp_waiting && bsp_kickable)
			ipi_fixed(0, APIC_DEST_PHYSICAL, SMP_VEC_KICK);
	}
}

static uint32_t start_common(uint32_t n)
{
	irq_ncpus = n;
	irq_idt_init();
	irq_tsc_khz();
	smp_counters_init();
	smp_install(SMP_VEC_A, 0, ap_service);
	if (n > 1) {
		struct smp_set aps;
		smp_set_aps(&aps, n);
		smp_boot_each(&aps, SMP_VEC_A, SMP_INIT_DELAY_US);
		if (smp_check(0, &aps, "start"))
			guest_fail("APs did not start");
	}
	cpu_cli();
	return n;
}

uint32_t irq_smp_start(uint32_t mbi, enum smp_mode mode)
{
	uint32_t n = smp_init(mode, mbi);
	if (n > IRQ_MAX_CPUS)
		guest_skip("%u CPUs: these tests use at most %u", n, IRQ_MAX_CPUS);
	bsp_kickable = 1;
	return start_common(n);
}

uint32_t irq_smp_start_xapic(uint32_t mbi, uint32_t min, const char *why_no_x2)
{
	if (cmdline_has_word(mb_cmdline(mbi), "x2apic"))
		guest_skip("%s", why_no_x2);
	uint32_t n = irq_smp_start(mbi, SMP_XAPIC);
	if (n < min)
		guest_skip("%u CPUs: this test needs %u", n, min);
	return n;
}

uint32_t irq_smp_start_apic_untouched(uint32_t mbi)
{
	uint32_t n = fwcfg_cpu_count();
	if (!n)
		guest_fail("fw_cfg absent or reports 0 CPUs");
	if (n > IRQ_MAX_CPUS || n > 255)
		guest_skip("%u CPUs: these tests use at most %u", n, IRQ_MAX_CPUS);
	smp_ncpus = n;
	idt_init();
	return start_common(n);
}

void irq_start_on_cpu(uint32_t id, irq_cpu_fn fn, uint32_t arg)
{
	mail[id].fn = fn;
	mail[id].arg = arg;
	mail[id].result = 0;
	mail[id].busy = 1;
	ipi_fixed(id, APIC_DEST_PHYSICAL, SMP_VEC_KICK);
}

/* While the BSP waits halted, a periodic APIC timer on the kick vector
 * wakes it every 10 ms, so a lost kick or a stuck AP costs time, not a hang. */
#define WATCHDOG_US 10000
#define AP_DONE_TIMEOUT_US 20000000u

int irq_wait_cpu(uint32_t id)
{
	uint64_t end = rdtsc() + irq_us_to_cycles(AP_DONE_TIMEOUT_US);
	bool halt = bsp_kickable;
	if (halt) {
		apic_write(APIC_TIMER_DCR, APIC_TDCR_DIV16);
		apic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | SMP_VEC_KICK);
		apic_write(APIC_TIMER_ICR, apic_timer_counts(WATCHDOG_US, 16));
	}
	cpu_cli();
	bsp_waiting = 1;
	__asm__ volatile("lock; addl $0, (%%esp)" ::: "memory");
	while (mail[id].busy && rdtsc() < end) {
		if (halt)
			cpu_sti_hlt_cli();
		else
			cpu_pause();
	}
	bsp_waiting = 0;
	if (halt) {
		apic_write(APIC_TIMER_ICR, 0);
		apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	}
	if (mail[id].busy) {
		irq_problem(0, "CPU %u did not finish its command in %u s", id, AP_DONE_TIMEOUT_US / 1000000);
		return 1;
	}
	return mail[id].result;
}

int irq_on_cpu(uint32_t id, irq_cpu_fn fn, uint32_t arg)
{
	if (id == 0) {
		int r = fn(0, arg);
		cpu_cli();
		return r;
	}
	irq_start_on_cpu(id, fn, arg);
	return irq_wait_cpu(id);
}

int irq_on_all(irq_cpu_fn fn, uint32_t arg)
{
	for (uint32_t id = 1; id < irq_ncpus; id++)
		irq_start_on_cpu(id, fn, arg);
	int r = fn(0, arg);
	cpu_cli();
	for (uint32_t id = 1; id < irq_ncpus; id++)
		r += irq_wait_cpu(id);
	return r;
}
