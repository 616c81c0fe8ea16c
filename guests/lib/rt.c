/* rt.c: guest runtime core: entry, exit protocol, TSC, fw_cfg, Multiboot
 * helpers, strings and the shared IDT. */
#include "rt.h"

#include "apic.h"

/* ---- strings ---------------------------------------------------------- */
void *memcpy(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (uint8_t)a[i] - (uint8_t)b[i];
		if (!a[i])
			return 0;
	}
	return 0;
}

/* ---- entry / exit -------------------------------------------------------- */
void rt_main(uint32_t magic, uint32_t mbi)
{
	serial_init();
	if (magic != MULTIBOOT_BOOT_MAGIC)
		printf("warning: multiboot magic is %08x, not %08x\n", magic, MULTIBOOT_BOOT_MAGIC);
	kmain(magic, mbi);
	guest_fail("kmain returned");
}

void cpu_park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

void guest_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	cpu_park();
}

void guest_pass(void)
{
	serial_puts("PASS\n");
	guest_exit(GUEST_PASS);
}

void guest_fail(const char *fmt, ...)
{
	va_list ap;
	serial_puts("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	serial_puts("\n");
	guest_exit(GUEST_FAIL);
}

void guest_skip(const char *fmt, ...)
{
	va_list ap;
	serial_puts("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	serial_puts("\n");
	guest_exit(GUEST_SKIP);
}

/* ---- TSC ------------------------------------------------------------------ */
uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem)
{
	uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
	uint32_t qhi = hi / d, qlo, r;

	hi %= d;
	/* hi < d, so the 64/32 DIVL cannot overflow */
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(hi), "rm"(d));
	if (rem)
		*rem = r;
	return ((uint64_t)qhi << 32) | qlo;
}

static uint32_t tsc_khz_cached;
static bool tsc_khz_done;

uint32_t tsc_khz(void)
{
	if (tsc_khz_done)
		return tsc_khz_cached;
	uint32_t khz = 0;
	struct cpuid_regs r = cpuid(1, 0);
	if (r.ecx & (1u << 31)) { /* hypervisor present: timing leaf 0x40000010 (EAX = TSC kHz) */
		struct cpuid_regs h = cpuid(0x40000000, 0);
		if (h.eax >= 0x40000010 && h.eax < 0x40000100)
			khz = cpuid(0x40000010, 0).eax;
	}
	uint32_t max = cpuid(0, 0).eax;
	if (!khz && max >= 0x15) { /* SDM Vol. 3B 18.7.3: TSC = crystal * EBX / EAX */
		struct cpuid_regs t = cpuid(0x15, 0);
		if (t.eax && t.ebx && t.ecx)
			khz = (uint32_t)udiv64((uint64_t)(t.ecx / 1000) * t.ebx, t.eax, NULL);
	}
	if (!khz && max >= 0x16)
		khz = (cpuid(0x16, 0).eax & 0xffff) * 1000;
	tsc_khz_cached = khz;
	tsc_khz_done = true;
	return khz;
}

uint32_t tsc_khz_for_delays(void)
{
	uint32_t khz = tsc_khz();
	return khz ? khz : 3000000;
}

void delay_cycles(uint64_t cycles)
{
	uint64_t end = rdtsc() + cycles;
	while (rdtsc() < end)
		cpu_pause();
}

void delay_us(uint32_t us)
{
	uint64_t cycles = udiv64((uint64_t)us * tsc_khz_for_delays(), 1000, NULL);
	delay_cycles(cycles);
}

uint64_t tsc_cycles_to_us(uint64_t cycles)
{
	uint32_t khz = tsc_khz();
	if (!khz)
		return 0;
	/* cycles * 1000 / khz without overflow for any realistic run time */
	return udiv64(cycles * 1000, khz, NULL);
}

/* ---- fw_cfg -------------------------------------------------------------- */
void fwcfg_select(uint16_t key) { outw(FW_CFG_PORT_SEL, key); }

void fwcfg_read(void *buf, uint32_t len)
{
	uint8_t *p = buf;
	for (uint32_t i = 0; i < len; i++)
		p[i] = inb(FW_CFG_PORT_DATA);
}

bool fwcfg_present(void)
{
	char sig[4];
	fwcfg_select(FW_CFG_SIGNATURE);
	fwcfg_read(sig, 4);
	return memcmp(sig, "QEMU", 4) == 0;
}

uint32_t fwcfg_read_u16(uint16_t key)
{
	uint8_t b[2];
	fwcfg_select(key);
	fwcfg_read(b, 2);
	return b[0] | (uint32_t)b[1] << 8;
}

uint32_t fwcfg_read_u32(uint16_t key)
{
	uint8_t b[4];
	fwcfg_select(key);
	fwcfg_read(b, 4);
	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint64_t fwcfg_read_u64(uint16_t key)
{
	uint8_t b[8];
	uint64_t v = 0;
	fwcfg_select(key);
	fwcfg_read(b, 8);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

uint32_t fwcfg_cpu_count(void)
{
	if (!fwcfg_present())
		return 0;
	return fwcfg_read_u16(FW_CFG_NB_CPUS);
}

/* ---- Multiboot -------------------------------------------------------------- */
const char *mb_cmdline(uint32_t mbi)
{
	const struct multiboot_info *mi = (const struct multiboot_info *)mbi;
	if (!mbi || !(mi->flags & MB_INFO_CMDLINE) || !mi->cmdline)
		return "";
	return (const char *)mi->cmdline;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int parse_first_number(const char *s, uint32_t *out)
{
	while (*s) {
		while (is_space(*s))
			s++;
		const char *tok = s;
		while (*s && !is_space(*s))
			s++;
		size_t len = (size_t)(s - tok);
		if (!len)
			break;
		unsigned base = 10;
		size_t i = 0;
		if (len > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) {
			base = 16;
			i = 2;
		}
		uint32_t v = 0;
		bool ok = true;
		for (; i < len; i++) {
			char c = tok[i];
			unsigned d;
			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (base == 16 && c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (base == 16 && c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else {
				ok = false;
				break;
			}
			v = v * base + d;
		}
		if (ok) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

bool cmdline_has_word(const char *s, const char *word)
{
	size_t wlen = strlen(word);
	while (*s) {
		while (is_space(*s))
			s++;
		const char *tok = s;
		while (*s && !is_space(*s))
			s++;
		if ((size_t)(s - tok) == wlen && wlen && strncmp(tok, word, wlen) == 0)
			return true;
	}
	return false;
}

int cmdline_get(const char *s, const char *key, char *val, size_t size)
{
	size_t klen = strlen(key);
	while (*s) {
		while (is_space(*s))
			s++;
		const char *tok = s;
		while (*s && !is_space(*s))
			s++;
		if ((size_t)(s - tok) > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
			const char *v = tok + klen + 1;
			size_t n = 0;
			while (v + n < s && n + 1 < size) {
				val[n] = v[n];
				n++;
			}
			if (size)
				val[n] = '\0';
			return 0;
		}
	}
	return -1;
}

/* ---- IDT ------------------------------------------------------------------ */
struct idt_entry {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

struct isr_stub {
	uint32_t vector, addr;
};
extern const struct isr_stub isr_stub_table[];
extern const uint32_t isr_stub_count;

static struct idt_entry idt[256] __attribute__((aligned(8)));
static struct idt_ptr idt_desc;
static isr_fn isr_handlers[256];
volatile uint32_t rt_fault_count;
static volatile uint32_t rt_fault_vec = 0xffffffffu, rt_fault_len;

/* Masks both 8259 PICs (OCW1 = 0xff on ports 0x21 / 0xa1). Under QEMU the
 * BIOS leaves the PIT ticking on IRQ0 with the PIC mapped at vector 8, which
 * would look like a #DF once a guest sets IF; hyve has no PIC and ignores
 * the writes. */
static void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void idt_init(void)
{
	pic_mask_all();
	for (uint32_t i = 0; i < isr_stub_count; i++) {
		const struct isr_stub *s = &isr_stub_table[i];
		struct idt_entry *e = &idt[s->vector];
		e->off_lo = (uint16_t)s->addr;
		e->off_hi = (uint16_t)(s->addr >> 16);
		e->sel = 0x08;
		e->zero = 0;
		e->type = 0x8e; /* present, DPL 0, 32-bit interrupt gate */
	}
	idt_desc.limit = sizeof(idt) - 1;
	idt_desc.base = (uint32_t)idt;
	idt_load();
}

void idt_load(void)
{
	if (idt_desc.base)
		__asm__ volatile("lidt %0" : : "m"(idt_desc));
}

void idt_set_handler(uint8_t vec, isr_fn fn) { isr_handlers[vec] = fn; }

void rt_expect_fault(uint8_t vec, uint32_t insn_len)
{
	rt_fault_len = insn_len;
	rt_fault_vec = vec;
}

void rt_expect_fault_cancel(void) { rt_fault_vec = 0xffffffffu; }

/* Called by isr.S; -Wmissing-prototypes wants this declaration. */
void isr_dispatch(struct isr_frame *f);

void isr_dispatch(struct isr_frame *f)
{
	uint32_t vec = f->vector;

	if (vec == rt_fault_vec) {
		rt_fault_vec = 0xffffffffu;
		f->eip += rt_fault_len;
		atomic_inc(&rt_fault_count);
		return;
	}
	if (isr_handlers[vec]) {
		isr_handlers[vec](f);
		return;
	}
	if (vec == ISR_VEC_SPURIOUS)
		return; /* spurious interrupts need no EOI (SDM 10.9) */
	/* Reading the APIC ID could itself fault if the APIC is broken; the
	 * message says which CPU only as a hint. */
	guest_fail("unexpected %s %u (error %x) at eip %08x on APIC ID %u", vec < 32 ? "exception" : "interrupt",
		   vec, f->error, f->eip, apic_id());
}
