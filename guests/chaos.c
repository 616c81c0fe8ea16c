/* chaos.c: a hostile SMP guest (issue 12): every vCPU fires random local
 * APIC, I/O APIC and port accesses at once, for a fixed time, and the BSP
 * then ends the run with the status the command line asked for. hyve must
 * neither crash, nor hang, nor leak, nor end with another status.
 *
 * Command line (all optional): seed=N (xorshift seed; default: the TSC,
 * printed either way so that a run can be repeated), ms=N (chaos time in
 * milliseconds, default 2000), exit=N (the debug-exit code the BSP writes at
 * the end, default GUEST_PASS: hyve's status is (N << 1) | 1), x2apic (every
 * CPU starts in x2APIC mode; default xAPIC), ops=MASK (only the operation
 * classes OP_* in MASK; default all), abrupt (the BSP exits as soon as the
 * time is up, without quiescing the APs: hyve must tear the VM down in full
 * chaos; only COM1 is left to the BSP then, or an AP's LCR or MCR write could
 * swallow its last lines). At most CHAOS_MAX_CPUS CPUs.
 *
 * What each CPU does, one random operation after another (the weights are
 * in op_table):
 *   - ICR writes: every delivery mode (fixed, lowest priority, SMI, remote
 *     read, NMI, INIT, STARTUP, reserved), both level and trigger bits, every
 *     shorthand, physical and logical destinations (own ID, other IDs,
 *     nonexistent IDs, broadcasts); xAPIC through ICR_HI/ICR_LO, x2APIC through
 *     one WRMSR to 0x830 (sometimes with reserved bits: #GP, SDM 10.12.9);
 *     STARTUP storms to random targets;
 *   - xAPIC MMIO at any offset 0..0xfff, 1/2/4/8 bytes, read and write,
 *     including page-crossing ones (only aligned 32-bit accesses are defined,
 *     SDM 10.4.1);
 *   - x2APIC MSRs 0x800-0x8ff read and write (absent, read-only and
 *     write-only registers and reserved bits must #GP, SDM 10.12.1.2);
 *     IA32_TSC_DEADLINE;
 *   - IA32_APIC_BASE: xAPIC, x2APIC, disabled, and the illegal transitions
 *     and reserved bits (#GP, SDM 10.12.5, figure 10-27);
 *   - TPR and EOI storms, ESR, SVR, the LVTs, and the timer: one-shot,
 *     periodic and TSC-deadline with tiny counts and every divider;
 *   - the I/O APIC: IOREGSEL/IOWIN on random registers, redirection entries
 *     with random vectors, delivery modes, destinations and masks, and raw
 *     MMIO at random offsets and sizes;
 *   - ports: PIT, port 0x61, 8259 pair (BSP only, see below), ELCR, RTC, COM1,
 *     PM timer and PM1a event block, fw_cfg, POST, pc-testdev IRQ lines, and
 *     unclaimed ports;
 *   - APs only: halting with IF=1 (any interrupt wakes them) or IF=0 (only an
 *     NMI, INIT/STARTUP does).
 *
 * How the guest survives its own chaos:
 *   - Every vector has a handler (idt_init + irq_idt_init): interrupts are
 *     counted and EOId when their ISR bit is set; NMIs are counted; a #GP
 *     on RDMSR/WRMSR is skipped (RDMSR returns 0). Any other exception is a
 *     failure of the run: counted, its CPU parks, and the BSP ends with FAIL.
 *   - Vectors the guest programs are never 17, 21, 29 or 30: those exception
 *     stubs expect an error code that an interrupt does not push (SDM Vol.
 *     3A table 6-1). Vectors 0-15 are sent on purpose: hyve must refuse
 *     them (ESR, SDM 10.5.3). The 8259's vector base stays >= 0x20 (the
 *     guest programs it first: hyve's 8259s start at the BIOS bases 8, 0x70).
 *   - An interrupt taken inside a handler or at its final POPF;RET returns
 *     with IF=0 (see on_interrupt()): storms cannot nest without bound.
 *   - STARTUP vectors are drawn from CHAOS_SIPI_FIRST..CHAOS_SIPI_LAST; each of
 *     those pages holds a copy of the trampoline below, which re-enters the
 *     chaos loop on a fixed per-CPU stack (its index from CPUID.1:EBX[31:24],
 *     which works in any APIC state). NMIs are handled at every instruction
 *     of the way (see the trampoline).
 *   - The BSP is the coordinator and out of INIT's reach: an INIT whose
 *     destination could include it (physical ID 0 or broadcast, logical
 *     all-ones, x2APIC logical cluster 0 bit 0, all-excluding-self from an AP)
 *     becomes a FIXED IPI. The BSP never writes its own xAPIC LDR, so its LDR
 *     is 0 in xAPIC mode and matches no logical destination; in x2APIC mode
 *     its LDR is cluster 0 bit 0. INITs hyve must ignore are sent anyway,
 *     to anyone: level de-assert (smp-spec 1.5), SELF and ALL-INCLUDING-SELF
 *     (SDM table 10-3). The I/O APIC's INIT and a LINT INIT are not modelled.
 *     STARTUPs reach the BSP too: it is running, so hyve must drop them
 *     (smp-spec 1.7).
 *   - Only the BSP writes the 8259 ports (an init sequence interleaved with
 *     another CPU's writes would take an IMR byte as the vector base).
 *   - Ports that end or reset the machine are only read: debug-exit 0xf4-0xf7,
 *     0xcf9, 0x92, the i8042 (0x60, 0x64), pvpanic 0x505, PM1a control 0x604.
 *   - The BSP runs with IF=0 except for short windows and never halts, so a
 *     timer or NMI storm cannot keep it from its clock.
 *   - So that APs do not all end up waiting for a STARTUP, the BSP sends
 *     STARTUP to all excluding self every 64 operations.
 * At the end the BSP sets `stop`; each AP that sees it acknowledges and parks.
 * APs waiting for a STARTUP, halted with IF=0 or held by an interrupt storm
 * cannot see it: after 100 ms the BSP enables its own APIC again and sends
 * INIT and STARTUP to all excluding self (up to QUIESCE_ROUNDS times), so
 * every AP restarts, sees `stop` and parks. An AP that does not is a failure
 * (a lost INIT or STARTUP, a stuck vCPU). The BSP re-initialises COM1, prints
 * the figures and writes the exit code, or FAIL if a CPU took an unexpected
 * exception.
 *
 * Memory below 1 MiB: IVT 0-0x3ff, IRET stub 0x500, real-mode stacks
 * 0x8000-0xbfff (256 bytes per CPU), trampolines 0x10000-0x8ffff. The
 * Multiboot data must lie elsewhere (checked). */
#include "irq.h"

#define CHAOS_MAX_CPUS 64
#define CHAOS_STACK 4096
#define CHAOS_SIPI_FIRST 0x10
#define CHAOS_SIPI_LAST 0x8f
#define CHAOS_LOW_END ((CHAOS_SIPI_LAST + 1) << 12)
#define IRET_STUB 0x500
#define DEFAULT_MS 2000
#define ACK_WAIT_US 100000
#define QUIESCE_ROUNDS 5

/* ---- the trampoline: real mode at STARTUP vector << 12 -> chaos_ap_main(id) --
 * NMIs can come at any instruction (IF=0 does not hold them), and one that
 * came between CR0.PE and the segment reloads used to end in a triple fault
 * (DS still held its real-mode base, so the handler's first data access
 * was beyond DS's limit). Each stage has a working NMI path now:
 *   - real mode: the IVT at 0 (IDTR as INIT left it: base 0, limit 0xffff,
 *     SDM table 9-1); entry 2 points to an IRET at 0x500;
 *   - CR0.PE set, IDTR still base 0: the same table read as a protected-mode
 *     IDT has its NMI gate at 0x10-0x17 (IVT entries 4 and 5, #BR and #OF,
 *     which cannot happen here), to chaos_nmi_stub;
 *   - after the segment reloads: the shared IDT (LIDT in chaos_pm32).
 * chaos_nmi_stub loads flat DS and ES and goes on to the shared NMI
 * handler; if the NMI came before the far jump (CS is not 0x08, so the near
 * RET of the handlers could not return there), it makes the far jump itself
 * (EBX and EDX hold the index and the stack). */
__asm__(".text\n"
	".code16\n"
	".globl chaos_tramp_start, chaos_tramp_end\n"
	"chaos_tramp_start:\n"
	"cli\n"
	"cld\n"
	"movw %cs, %ax\n"
	"movw %ax, %ds\n"
	"movl $1, %eax\n"
	"cpuid\n"
	"shrl $24, %ebx\n" /* initial APIC ID = our index */
	"andl $63, %ebx\n"
	"xorw %ax, %ax\n"
	"movw %ax, %ss\n"
	"leal 1(%ebx), %eax\n"
	"shll $8, %eax\n"
	"addl $0x8000, %eax\n"
	"movl %eax, %esp\n" /* real-mode stack 0:0x8000 + 256 * (id + 1) */
	"leal 1(%ebx), %edx\n"
	"shll $12, %edx\n"
	"addl $chaos_stacks, %edx\n" /* protected-mode stack top */
	"lgdtl (chaos_tramp_gdtr - chaos_tramp_start)\n"
	"movl %cr0, %eax\n"
	"orl $1, %eax\n"
	"movl %eax, %cr0\n"
	"ljmpl $0x08, $chaos_pm32\n"
	".balign 4\n"
	".word 0\n"
	"chaos_tramp_gdtr:\n"
	".word 3 * 8 - 1\n"
	".long gdt\n"
	"chaos_tramp_end:\n"
	".code32\n"
	"chaos_pm32:\n"
	"movw $0x10, %ax\n"
	"movw %ax, %ds\n"
	"movw %ax, %es\n"
	"movw %ax, %fs\n"
	"movw %ax, %gs\n"
	"movw %ax, %ss\n" /* blocks interrupts and NMIs for the next instruction */
	"movl %edx, %esp\n"
	"lidt chaos_idtr\n"
	"xorl %ebp, %ebp\n"
	"pushl %ebx\n"
	"call chaos_ap_main\n"
	"1: cli\n"
	"hlt\n"
	"jmp 1b\n"
	"chaos_nmi_stub:\n"
	"cmpw $0x08, 4(%esp)\n" /* the interrupted CS */
	"jne 2f\n"
	"pushl %eax\n"
	"movw $0x10, %ax\n"
	"movw %ax, %ds\n"
	"movw %ax, %es\n"
	"popl %eax\n"
	"jmp *%cs:chaos_nmi_next\n"
	"2: ljmpl $0x08, $chaos_pm32\n");

struct idtr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));
struct idtr chaos_idtr;       /* the shared IDT, for chaos_pm32 */
uint32_t chaos_nmi_next;      /* its NMI entry, for chaos_nmi_stub */
extern const uint8_t chaos_nmi_stub[];

extern const uint8_t chaos_tramp_start[], chaos_tramp_end[];
uint8_t chaos_stacks[CHAOS_MAX_CPUS][CHAOS_STACK] __attribute__((aligned(16)));
void chaos_ap_main(uint32_t id);

/* ---- shared state ------------------------------------------------------------ */
enum apic_state { ST_XAPIC, ST_X2APIC, ST_OFF };

static volatile uint32_t stop, acked[CHAOS_MAX_CPUS];
static volatile uint32_t com1_mine; /* abrupt end: the BSP needs COM1, APs leave it alone */
static volatile uint32_t state[CHAOS_MAX_CPUS]; /* enum apic_state, as this CPU last saw it */
static uint32_t rng[CHAOS_MAX_CPUS];
static volatile uint32_t n_ops[CHAOS_MAX_CPUS], n_entries[CHAOS_MAX_CPUS], n_irqs[CHAOS_MAX_CPUS],
	n_nmis[CHAOS_MAX_CPUS], n_gp[CHAOS_MAX_CPUS];
static volatile uint32_t n_icr[8], n_init_diverted, n_modesw, n_bad;
static volatile uint32_t bad_vec, bad_eip, bad_cpu;
static uint32_t ncpus, seed;

/* This CPU's index: which stack it runs on (the BSP's is crt0's). */
static inline uint32_t my_id(void)
{
	uint32_t esp;
	__asm__ volatile("movl %%esp, %0" : "=r"(esp));
	uint32_t off = esp - (uint32_t)chaos_stacks;
	return off < sizeof(chaos_stacks) ? off / CHAOS_STACK : 0;
}

/* xorshift32 (Marsaglia 2003): a few instructions, which matters where
 * guest code is emulated. */
static uint32_t rnd(uint32_t id)
{
	uint32_t x = rng[id];
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng[id] = x;
	return x;
}

static void rng_seed(uint32_t id, uint32_t salt)
{
	uint32_t x = seed ^ (id * 0x9e3779b9u) ^ (salt * 0x85ebca6bu);
	rng[id] = x ? x : 0x1234567u;
	for (int i = 0; i < 4; i++)
		rnd(id);
}

/* A vector the guest may program: never one whose exception stub expects an
 * error code (17 #AC, 21 #CP, 29 #VC, 30 #SX; 8 and 10-14 are below 16, which
 * the APIC refuses). */
static uint8_t fix_vector(uint32_t v)
{
	v &= 0xff;
	return (uint8_t)((v == 17 || v == 21 || v == 29 || v == 30) ? v + 0x20 : v);
}

/* ---- faults and interrupts --------------------------------------------------- */
static void apic_state_refresh(uint32_t id);

/* The handlers return with POPF; RET (isr.S: no IRET at CPL0 on KVM-PVM).
 * Where interrupts are injected as soon as IF is 1 (VMX, SVM), a storm (a
 * periodic timer with a tiny count, the PIT at 1 MHz) delivers the next
 * interrupt at the RET after the POPF, which leaves the RET's return address
 * on the stack below the new frame: one word deeper per interrupt, until the
 * stack overflowed into the IDT (seen on the nested SVM tier: 0x71 injected
 * at irq_stub_common's RET thousands of times, then a triple fault). An
 * interrupt taken at such a RET, or inside a handler, therefore returns with
 * IF=0: the nest unwinds, and the interrupted code enables interrupts again
 * itself (the BSP's window, the APs' loop). */
static volatile uint32_t depth[CHAOS_MAX_CPUS];
#define EFLAGS_IF (1u << 9)

static bool at_popf_ret(uint32_t eip)
{
	const uint8_t *p = (const uint8_t *)eip;
	return p[0] == 0xc3 && p[-1] == 0x9d; /* RET after POPF */
}

static void on_interrupt(struct isr_frame *f)
{
	uint32_t id = my_id(), v = f->vector;
	if (depth[id]++ || at_popf_ret(f->eip))
		f->eflags &= ~EFLAGS_IF;
	atomic_inc(&n_irqs[id]);
	/* EOI only what is in service: an interrupt from the 8259 (ExtINT) is not. */
	if (state[id] == ST_X2APIC) {
		uint32_t isr;
		__asm__ volatile("rdmsr" : "=a"(isr) : "c"(X2APIC_MSR(APIC_ISR0) + v / 32) : "edx");
		if ((isr >> (v % 32)) & 1)
			wrmsr(X2APIC_MSR(APIC_EOI), 0);
	} else if (state[id] == ST_XAPIC) {
		if ((xapic_read(APIC_ISR0 + (v / 32) * 0x10) >> (v % 32)) & 1)
			xapic_write(APIC_EOI, 0);
	}
	depth[id]--;
}

static void on_nmi(struct isr_frame *f) { atomic_inc(&n_nmis[my_id()]); }

static void on_bad(struct isr_frame *f)
{
	uint32_t id = my_id();
	if (atomic_xadd(&n_bad, 1) == 0) {
		bad_vec = f->vector;
		bad_eip = f->eip;
		bad_cpu = id;
	}
	if (id == 0) {
		serial_init();
		guest_fail("unexpected exception %u at eip %08x on the BSP", f->vector, f->eip);
	}
	acked[id] = 1;
	cpu_park();
}

/* #GP: expected on RDMSR (0f 32) and WRMSR (0f 30) of absent, read-only or
 * write-only MSRs, reserved bits and illegal APIC base transitions: skip
 * the instruction (RDMSR reads 0). Anything else is a failure. */
static void on_gp(struct isr_frame *f)
{
	const uint8_t *ip = (const uint8_t *)f->eip;
	if (ip[0] == 0x0f && (ip[1] == 0x30 || ip[1] == 0x32)) {
		if (ip[1] == 0x32)
			f->eax = f->edx = 0;
		f->eip += 2;
		atomic_inc(&n_gp[my_id()]);
		return;
	}
	on_bad(f);
}

static void handlers_init(void)
{
	for (uint32_t v = 0; v < 256; v++) {
		isr_fn fn = on_interrupt;
		if (v < 16)
			fn = on_bad; /* exceptions; the APIC delivers no vector below 16 */
		if (v == 2)
			fn = on_nmi;
		if (v == 13)
			fn = on_gp;
		idt_set_handler((uint8_t)v, fn);
	}
}

/* ---- APIC access in whatever state this CPU's APIC is in ----------------------- */
static void apic_state_refresh(uint32_t id)
{
	uint64_t b = rdmsr(MSR_APIC_BASE);
	state[id] = !(b & APIC_BASE_EN) ? ST_OFF : (b & APIC_BASE_EXTD) ? ST_X2APIC : ST_XAPIC;
}

static void apic_wr(uint32_t id, uint32_t off, uint32_t v)
{
	if (state[id] == ST_X2APIC)
		wrmsr(X2APIC_MSR(off), v);
	else
		xapic_write(off, v);
}

/* Would an INIT with this ICR reach the BSP (see the header)? dest is the
 * 8-bit xAPIC or the 32-bit x2APIC destination. */
static bool init_may_hit_bsp(uint32_t id, bool x2, uint32_t lo, uint32_t dest)
{
	if (((lo >> 8) & 7) != 5)
		return false;
	if ((lo & APIC_TRIGGER_LEVEL) && !(lo & APIC_LEVEL_ASSERT))
		return false; /* level de-assert: ignored (smp-spec 1.5) */
	switch (lo & APIC_SH_MASK) {
	case APIC_SH_SELF:
	case APIC_SH_ALL_INCL:
		return false; /* invalid for INIT (SDM table 10-3): ignored */
	case APIC_SH_ALL_EXCL:
		return id != 0;
	}
	uint32_t bcast = x2 ? X2APIC_BROADCAST : XAPIC_BROADCAST;
	if (!x2)
		dest &= 0xff;
	if (dest == bcast)
		return true;
	if (lo & APIC_DEST_LOGICAL)
		return x2 && (dest >> 16) == 0 && (dest & 1);
	return dest == 0;
}

/* Sends an ICR (lo, dest) through this CPU's APIC, made safe: STARTUP vectors
 * land on a trampoline, programmed vectors are fixed, an INIT that may
 * reach the BSP becomes FIXED. */
static void send_icr(uint32_t id, uint32_t lo, uint32_t dest, uint32_t reserved_hi)
{
	uint32_t mode = (lo >> 8) & 7;
	if (mode == 6)
		lo = (lo & ~0xffu) | (CHAOS_SIPI_FIRST + (lo & 0xff) % (CHAOS_SIPI_LAST - CHAOS_SIPI_FIRST + 1));
	else
		lo = (lo & ~0xffu) | fix_vector(lo);
	bool x2 = state[id] == ST_X2APIC;
	if (init_may_hit_bsp(id, x2, lo, dest)) {
		lo &= ~(7u << 8);
		atomic_inc(&n_init_diverted);
	}
	atomic_inc(&n_icr[(lo >> 8) & 7]);
	if (x2) {
		(void)reserved_hi;
		wrmsr(MSR_X2APIC_ICR, (uint64_t)dest << 32 | lo);
	} else {
		xapic_write(APIC_ICR_HI, dest << 24 | (reserved_hi & 0xffffff));
		xapic_write(APIC_ICR_LO, lo);
	}
}

/* A random destination: mostly real IDs, also nonexistent ones and broadcasts. */
static uint32_t rnd_dest(uint32_t id)
{
	uint32_t r = rnd(id);
	switch (r & 7) {
	case 0:
		return 0xff;
	case 1:
		return 0xffffffffu;
	case 2:
		return r >> 8; /* anything */
	case 3:
		return ncpus + ((r >> 8) & 3); /* just beyond the last CPU */
	default:
		return (r >> 8) % ncpus;
	}
}

static void op_icr(uint32_t id)
{
	uint32_t r = rnd(id), r2 = rnd(id);
	uint32_t lo = (r & 0xff) | (r & (7u << 8)) | (r & APIC_DEST_LOGICAL) | (r & APIC_LEVEL_ASSERT) |
		      (r & APIC_TRIGGER_LEVEL) | (r & APIC_SH_MASK);
	if ((r2 & 3) == 0)
		lo |= APIC_LEVEL_ASSERT; /* mostly edge + assert, as real senders */
	if ((r2 & 0x7c) == 0)
		lo |= r2 & 0xfff30000u; /* reserved bits: #GP in x2APIC mode */
	if (((r2 >> 8) & 7) == 0)
		lo = (lo & ~(7u << 8)) | APIC_DM_STARTUP; /* SIPI storms */
	send_icr(id, lo, rnd_dest(id), r2 >> 8);
}

/* ---- MMIO of any size -------------------------------------------------------- */
static uint64_t mmio_read(uint32_t a, uint32_t size)
{
	switch (size) {
	case 1:
		return *(volatile uint8_t *)a;
	case 2:
		return *(volatile uint16_t *)a;
	case 4:
		return *(volatile uint32_t *)a;
	default: {
		volatile uint64_t v;
		__asm__ volatile("movq (%1), %%mm0\n\tmovq %%mm0, %0" : "=m"(v) : "r"(a) : "memory");
		return v;
	}
	}
}

static void mmio_write(uint32_t a, uint32_t size, uint64_t v)
{
	switch (size) {
	case 1:
		*(volatile uint8_t *)a = (uint8_t)v;
		return;
	case 2:
		*(volatile uint16_t *)a = (uint16_t)v;
		return;
	case 4:
		*(volatile uint32_t *)a = (uint32_t)v;
		return;
	default: {
		volatile uint64_t t = v;
		__asm__ volatile("movq %0, %%mm0\n\tmovq %%mm0, (%1)" : : "m"(t), "r"(a) : "memory");
		return;
	}
	}
}

/* Is off one of the registers whose low byte is a vector (SVR, LVTs)? */
static bool vector_reg(uint32_t off)
{
	return off == APIC_SVR || off == 0x2f0 || (off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR);
}

static uint32_t rnd_size(uint32_t r) { return 1u << (r & 3); }

static void op_xapic_mmio(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	uint32_t off = (r >> 4) & 0xfff, size = rnd_size(r);
	if (r & 0x10000)
		off &= ~3u; /* more aligned accesses: the defined ones */
	if (r & 0x20000)
		off &= ~0xfu;
	if (!(r & 0x40000)) {
		(void)mmio_read(XAPIC_MMIO_BASE + off, size);
		return;
	}
	if (off == APIC_ICR_LO && size == 4) {
		send_icr(id, v, rnd_dest(id), 0);
		return;
	}
	if (id == 0 && off < APIC_LDR + 4 && off + size > APIC_LDR)
		return; /* the BSP keeps LDR 0 */
	if (size == 4 && vector_reg(off))
		v = (v & ~0xffu) | fix_vector(v);
	if (size == 8 && off == APIC_ICR_LO)
		return; /* hyve ignores it, but its low half would be an unchecked ICR */
	mmio_write(XAPIC_MMIO_BASE + off, size, (uint64_t)rnd(id) << 32 | v);
}

static void op_x2apic_msr(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	uint32_t msr = 0x800 + ((r >> 4) & 0xff), off = (msr - 0x800) << 4;
	if (!(r & 0x1000)) {
		(void)rdmsr(msr);
		return;
	}
	uint64_t val = v;
	if ((r & 0xe000) == 0)
		val |= (uint64_t)rnd(id) << 32; /* reserved: #GP */
	else if (r & 0x2000)
		val &= 0x1ffff; /* small values pass more checks */
	if (off == APIC_ICR_LO) {
		send_icr(id, (uint32_t)val, (uint32_t)(val >> 32), 0);
		return;
	}
	if (vector_reg(off) || off == APIC_SELF_IPI)
		val = (val & ~0xffull) | fix_vector((uint32_t)val);
	wrmsr(msr, val);
}

static void op_apic_base(uint32_t id)
{
	uint32_t r = rnd(id);
	uint64_t b = XAPIC_MMIO_BASE;
	switch (r & 7) {
	case 0:
	case 1:
		b |= APIC_BASE_EN; /* xAPIC (from x2APIC: #GP) */
		break;
	case 2:
	case 3:
		b |= APIC_BASE_EN | APIC_BASE_EXTD; /* x2APIC (from disabled: #GP) */
		break;
	case 4:
		break; /* disabled */
	case 5:
		b |= APIC_BASE_EXTD; /* EN=0 EXTD=1: invalid, #GP */
		break;
	case 6:
		b |= APIC_BASE_EN | ((r >> 8) & 0x2ff); /* reserved bits: #GP */
		break;
	default:
		(void)rdmsr(MSR_APIC_BASE);
		return;
	}
	atomic_inc(&n_modesw);
	wrmsr(MSR_APIC_BASE, b);
	apic_state_refresh(id);
}

static void op_timer(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	switch (r & 7) {
	case 0:
	case 1: /* LVT timer: one-shot, periodic, TSC-deadline, reserved mode */
		apic_wr(id, APIC_LVT_TIMER, fix_vector(v) | (v & APIC_LVT_MASKED) | ((r >> 3) & 3) << 17);
		break;
	case 2:
	case 3: /* tiny or random counts */
		apic_wr(id, APIC_TIMER_ICR, (r & 0x100) ? v : (v & 0x3ff));
		break;
	case 4:
		apic_wr(id, APIC_TIMER_DCR, v & 0xb);
		break;
	case 5:
		wrmsr(MSR_TSC_DEADLINE, (r & 0x100) ? rdtsc() + (v & 0xffff) : (r & 0x200) ? 0 : (uint64_t)v << 8);
		break;
	case 6:
		apic_wr(id, APIC_TPR, v & 0xff);
		break;
	default: /* EOI storm, with or without anything in service */
		for (uint32_t i = 0; i < (v & 7) + 1; i++)
			apic_wr(id, APIC_EOI, 0);
		break;
	}
}

static void op_apic_misc(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	static const uint32_t lvts[] = {APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR, 0x2f0, 0x330, 0x340};
	switch (r & 3) {
	case 0:
		apic_wr(id, APIC_SVR, fix_vector(v) | (v & 0x1300) | ((r & 4) ? APIC_SVR_ENABLE : 0));
		break;
	case 1:
		apic_wr(id, lvts[(r >> 4) % 6], fix_vector(v) | (v & 0x1a700));
		break;
	case 2:
		apic_wr(id, APIC_ESR, 0);
		break;
	default:
		if (state[id] == ST_X2APIC)
			wrmsr(X2APIC_MSR(APIC_SELF_IPI), fix_vector(v));
		else if (id != 0)
			apic_wr(id, APIC_LDR, v & 0xff000000u);
		else
			apic_wr(id, APIC_DFR, v | 0x0fffffffu);
		break;
	}
}

/* ---- I/O APIC ------------------------------------------------------------------- */
static void op_ioapic(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	volatile uint32_t *sel = (volatile uint32_t *)IOAPIC_BASE, *win = (volatile uint32_t *)(IOAPIC_BASE + 0x10);
	switch (r & 3) {
	case 0: { /* a redirection entry: random vector, mode, destination, mask */
		uint32_t pin = (r >> 4) % 24;
		*sel = IOAPIC_REG_RTE(pin) + 1;
		*win = (r & 0x100) ? rnd_dest(id) << 24 : v & 0xff000000u;
		*sel = IOAPIC_REG_RTE(pin);
		*win = fix_vector(v) | (v & 0x1af00);
		break;
	}
	case 1: /* any register; IOWIN writes may land in a register another CPU selected */
		*sel = (r & 0x100) ? (r >> 12) & 0xff : (r >> 12) & 0x3f;
		if (r & 0x200)
			*win = (v & ~0xffu) | fix_vector(v);
		else
			(void)*win;
		break;
	default: { /* raw MMIO: any offset and size; a byte landing on IOWIN[7:0] is a fixed vector */
		uint32_t off = (r >> 4) & ((r & 0x10000) ? 0xfff : 0x4f), size = rnd_size(r >> 20);
		uint64_t val = (uint64_t)rnd(id) << 32 | v;
		if (!(r & 0x200)) {
			(void)mmio_read(IOAPIC_BASE + off, size);
			break;
		}
		if (off <= 0x10 && off + size > 0x10) {
			uint32_t sh = (0x10 - off) * 8;
			val = (val & ~(0xffull << sh)) | (uint64_t)fix_vector((uint32_t)(val >> sh)) << sh;
		}
		mmio_write(IOAPIC_BASE + off, size, val);
		break;
	}
	}
}

/* ---- ports ---------------------------------------------------------------------- */
/* Ports that must only be read: they end, reset or power off the machine. */
static bool port_read_only(uint32_t port, uint32_t size)
{
	static const uint16_t deny[][2] = {{0xf4, 0xf7} /* hyve's debug-exit is 4 ports */, {0x60, 0x60}, {0x64, 0x64}, {0x92, 0x92},
					   {0xcf9, 0xcf9}, {0x505, 0x505}, {0x604, 0x605},
					   /* the 8259 pair: BSP only (see the header) */
					   {0x20, 0x21}, {0xa0, 0xa1}};
	for (uint32_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
		if (port <= deny[i][1] && port + size > deny[i][0])
			return true;
	return false;
}

static uint32_t port_in(uint32_t port, uint32_t size)
{
	return size == 1 ? inb((uint16_t)port) : size == 2 ? inw((uint16_t)port) : inl((uint16_t)port);
}

static void port_out(uint32_t port, uint32_t size, uint32_t v)
{
	if (size == 1)
		outb((uint16_t)port, (uint8_t)v);
	else if (size == 2)
		outw((uint16_t)port, (uint16_t)v);
	else
		outl((uint16_t)port, v);
}

static void op_port(uint32_t id)
{
	static const uint16_t ports[] = {0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x71, 0x3f9, 0x3fa, 0x3fb,
					 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x4d0, 0x4d1, 0x600, 0x602, 0x608, 0x510,
					 0x511, 0x80, 0x20, 0x21, 0xa0, 0xa1, 0x60, 0x64, 0x92, 0xcf9, 0x505,
					 0x604, 0xf4};
	uint32_t r = rnd(id), v = rnd(id);
	uint32_t size = 1u << ((r >> 4) % 3), port;
	switch (r & 7) {
	case 0: /* pc-testdev IRQ lines: levels for the 8259 and the I/O APIC */
		port = 0x2000 + (r >> 8) % 24;
		v &= 0x01010101u;
		break;
	case 1:
		port = (r >> 8) & 0xffff; /* anywhere, mostly unclaimed */
		break;
	case 2: /* COM1's data port: printable bytes only */
		port = 0x3f8;
		size = 1;
		v = 0x20 + v % 0x5f;
		break;
	default:
		port = ports[(r >> 8) % (sizeof(ports) / sizeof(ports[0]))];
		if (port == 0x43 && !(v & 0x30))
			v |= 0x30; /* mostly a count load rather than a latch */
		break;
	}
	if (com1_mine && port < 0x400 && port + size > 0x3f8)
		return;
	if (!(r & 0x8) || port_read_only(port, size))
		(void)port_in(port, size);
	else
		port_out(port, size, v);
}

/* The 8259 pair (BSP only): a full init sequence with random flags and a
 * vector base >= 0x20, or OCWs. */
static void op_pic(uint32_t id)
{
	uint32_t r = rnd(id), v = rnd(id);
	uint16_t cmd = (r & 0x100) ? 0xa0 : 0x20, data = cmd + 1;
	switch (r & 3) {
	case 0: {
		uint8_t icw1 = 0x10 | (v & 0x0b); /* LTIM, SNGL, IC4 random */
		uint8_t base = (uint8_t)((v >> 8) & 0xf8);
		outb(cmd, icw1);
		outb(data, base < 0x20 ? base + 0x20 : base);
		if (!(icw1 & 2))
			outb(data, (uint8_t)(v >> 16));
		if (icw1 & 1)
			outb(data, (uint8_t)((v >> 24) & 0x1f));
		break;
	}
	case 1:
		outb(data, (uint8_t)v); /* IMR */
		break;
	case 2:
		outb(cmd, (uint8_t)(v & 0xe7)); /* OCW2 (EOIs, rotation) */
		break;
	default:
		outb(cmd, (uint8_t)((v & 0x67) | 0x08)); /* OCW3 (read IRR/ISR, poll, special mask) */
		(void)inb(cmd);
		break;
	}
}

/* ---- the loop -------------------------------------------------------------------- */
/* Operation classes; ops=MASK on the command line keeps a subset (for
 * finding which class a failure needs). */
enum {
	OP_ICR = 1 << 0,
	OP_XAPIC_MMIO = 1 << 1,
	OP_X2APIC_MSR = 1 << 2,
	OP_APIC_BASE = 1 << 3,
	OP_TIMER = 1 << 4,
	OP_APIC_MISC = 1 << 5,
	OP_IOAPIC = 1 << 6,
	OP_PORT = 1 << 7,
	OP_PIC = 1 << 8,
	OP_HALT = 1 << 9,
	OP_ALL = (1 << 10) - 1,
};
static uint32_t ops_mask = OP_ALL;

/* The BSP programs the 8259s; an AP halts, with IF=1 until any interrupt or,
 * rarely, with IF=0 until an NMI, INIT or STARTUP. */
static void op_pic_or_halt(uint32_t id)
{
	if (id == 0) {
		if (ops_mask & OP_PIC)
			op_pic(id);
	} else if (ops_mask & OP_HALT) {
		if (rnd(id) & 3)
			cpu_sti_hlt_cli();
		else if (!(rnd(id) & 7))
			__asm__ volatile("cli; hlt" ::: "memory");
	}
}

/* Operation r (0..63) is the first entry whose `below` exceeds it. */
static const struct {
	uint8_t below;
	uint16_t cls; /* 0: op_pic_or_halt checks its own classes */
	void (*fn)(uint32_t id);
} op_table[] = {
	{14, OP_ICR, op_icr},        {22, OP_XAPIC_MMIO, op_xapic_mmio}, {28, OP_X2APIC_MSR, op_x2apic_msr},
	{31, OP_APIC_BASE, op_apic_base}, {38, OP_TIMER, op_timer},   {42, OP_APIC_MISC, op_apic_misc},
	{50, OP_IOAPIC, op_ioapic},  {60, OP_PORT, op_port},            {64, 0, op_pic_or_halt},
};

static void chaos_op(uint32_t id)
{
	uint32_t r = rnd(id) & 63, i = 0;
	while (r >= op_table[i].below)
		i++;
	if (!op_table[i].cls || (ops_mask & op_table[i].cls))
		op_table[i].fn(id);
	atomic_inc(&n_ops[id]);
}

static void ap_stop(uint32_t id)
{
	cpu_cli();
	acked[id] = 1;
	cpu_park();
}

void chaos_ap_main(uint32_t id)
{
	atomic_inc(&n_entries[id]);
	depth[id] = 0; /* an INIT may have come in the middle of a handler */
	apic_state_refresh(id);
	rng_seed(id, n_entries[id]);
	for (;;) {
		if (stop)
			ap_stop(id);
		cpu_sti();
		chaos_op(id);
	}
}

/* BSP at the end: how many APs acknowledged `stop`, waiting up to us. */
static uint32_t wait_acks(uint32_t us)
{
	uint32_t n = 0;
	for (uint64_t dl = rdtsc() + irq_us_to_cycles(us); rdtsc() < dl;) {
		n = 0;
		for (uint32_t i = 1; i < ncpus; i++)
			n += acked[i];
		if (n == ncpus - 1)
			break;
		cpu_pause();
	}
	return n;
}

/* BSP at the end: INIT, then STARTUP, to every AP, so that each restarts,
 * sees `stop` and parks. The BSP's APIC may be off: enable it first. */
static void quiesce_aps(void)
{
	uint64_t b = rdmsr(MSR_APIC_BASE);
	if (!(b & APIC_BASE_EN))
		wrmsr(MSR_APIC_BASE, b | APIC_BASE_EN);
	apic_state_refresh(0);
	uint32_t x2 = state[0] == ST_X2APIC, sh = APIC_SH_ALL_EXCL | APIC_LEVEL_ASSERT;
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t lo = sh | (i ? APIC_DM_STARTUP | CHAOS_SIPI_FIRST : APIC_DM_INIT);
		if (x2)
			wrmsr(MSR_X2APIC_ICR, lo);
		else
			xapic_write(APIC_ICR_LO, lo);
		delay_us(SMP_SIPI_DELAY_US);
	}
}

static uint32_t cmdline_u32(const char *cl, const char *key, uint32_t dflt)
{
	char buf[24];
	uint32_t v;
	if (cmdline_get(cl, key, buf, sizeof(buf)) < 0 || parse_first_number(buf, &v) < 0)
		return dflt;
	return v;
}

static bool overlaps_low(uint32_t a, uint32_t len) { return a < CHAOS_LOW_END && a + len > 0; }

/* Everything below 1 MiB that the APs use: IVT with the protected-mode NMI
 * gate inside it, IRET stub, trampolines (see the trampoline's comment). */
static void low_memory_init(void)
{
	__asm__ volatile("sidt %0" : "=m"(chaos_idtr));
	const uint16_t *gate2 = (const uint16_t *)(chaos_idtr.base + 2 * 8);
	chaos_nmi_next = gate2[0] | (uint32_t)gate2[3] << 16;
	uint32_t low = 0;
	__asm__("" : "+r"(low)); /* low memory: GCC's bounds checks must not see address 0 */
	volatile uint16_t *ivt = (volatile uint16_t *)low;
	for (uint32_t v = 0; v < 256; v++) {
		ivt[2 * v] = IRET_STUB; /* offset */
		ivt[2 * v + 1] = 0;     /* segment */
	}
	uint32_t nmi = (uint32_t)chaos_nmi_stub;
	ivt[8] = (uint16_t)nmi; /* 0x10: an interrupt gate for vector 2 of an IDT at 0 */
	ivt[9] = 0x08;
	ivt[10] = 0x8e00;
	ivt[11] = (uint16_t)(nmi >> 16);
	((volatile uint8_t *)low)[IRET_STUB] = 0xcf; /* IRET (real mode) */
	size_t len = (size_t)(chaos_tramp_end - chaos_tramp_start);
	for (uint32_t vec = CHAOS_SIPI_FIRST; vec <= CHAOS_SIPI_LAST; vec++)
		memcpy((uint8_t *)(low + (vec << 12)), chaos_tramp_start, len);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	const char *cl = mb_cmdline(mbi);
	bool x2 = cmdline_has_word(cl, "x2apic"), abrupt = cmdline_has_word(cl, "abrupt");
	uint32_t ms = cmdline_u32(cl, "ms", DEFAULT_MS), want = cmdline_u32(cl, "exit", GUEST_PASS);
	seed = cmdline_u32(cl, "seed", (uint32_t)rdtsc());
	ops_mask = cmdline_u32(cl, "ops", OP_ALL);

	if (overlaps_low(mbi, sizeof(struct multiboot_info)) || (*cl && overlaps_low((uint32_t)cl, strlen(cl) + 1)))
		guest_fail("multiboot data below %x", CHAOS_LOW_END);
	ncpus = fwcfg_cpu_count();
	if (!ncpus)
		guest_fail("fw_cfg absent or reports 0 CPUs");
	if (ncpus > CHAOS_MAX_CPUS)
		guest_skip("%u CPUs: chaos uses at most %u", ncpus, CHAOS_MAX_CPUS);
	if (x2 && !cpu_has_x2apic())
		guest_skip("no x2APIC (CPUID.1:ECX[21] = 0)");
	idt_init();
	irq_idt_init();
	handlers_init();
	uint32_t khz = irq_tsc_khz();
	low_memory_init();
	pic_init(0x20, 0x28); /* hyve's 8259s start at the BIOS bases 8 and 0x70 */
	if (x2)
		x2apic_enable_self();
	apic_x2mode = x2;
	apic_sw_enable();
	apic_state_refresh(0);
	rng_seed(0, 0);
	printf("chaos: seed=%u ms=%u exit=%u cpus=%u %s ops=%x tsc=%u kHz\n", seed, ms, want, ncpus,
	       x2 ? "x2apic" : "xapic", ops_mask, khz);

	/* Start every AP (INIT to all excluding self, then STARTUP twice). */
	if (ncpus > 1) {
		ipi_init_assert(0, APIC_SH_ALL_EXCL);
		delay_us(SMP_INIT_DELAY_US);
		ipi_startup(0, APIC_SH_ALL_EXCL, CHAOS_SIPI_FIRST);
		delay_us(SMP_SIPI_DELAY_US);
		ipi_startup(0, APIC_SH_ALL_EXCL, CHAOS_SIPI_FIRST);
	}

	uint64_t t0 = rdtsc(), end = t0 + irq_us_to_cycles((uint64_t)ms * 1000);
	uint32_t k = 0;
	while (rdtsc() < end) {
		chaos_op(0);
		if ((++k & 7) == 0) { /* a short window for interrupts (taken at the next exit) */
			cpu_sti();
			(void)inb(0x80);
			cpu_cli();
		}
		if ((k & 63) == 0) /* restart every AP waiting for a STARTUP */
			send_icr(0, APIC_DM_STARTUP | APIC_LEVEL_ASSERT | APIC_SH_ALL_EXCL | rnd(0), 0, 0);
	}
	uint64_t t1 = rdtsc();

	if (abrupt) { /* hyve must tear down a VM in full chaos */
		com1_mine = 1;
		delay_us(2000); /* an AP's COM1 write in flight lands before serial_init() */
		serial_init();
		printf("\nchaos: seed=%u: %u ms of chaos on %u CPUs; abrupt end\nchaos: exiting with %u\n", seed,
		       (uint32_t)udiv64(irq_cycles_to_us(t1 - t0), 1000, NULL), ncpus, want);
		guest_exit(want);
	}
	stop = 1;
	uint32_t naps = 0, self_parked = wait_acks(ACK_WAIT_US), nacked = self_parked;
	/* The rest wait for a STARTUP or halt with IF=0: INIT and STARTUP to all
	 * excluding self, from an APIC the BSP enables again for it. */
	for (uint32_t round = 0; round < QUIESCE_ROUNDS && nacked < ncpus - 1; round++) {
		quiesce_aps();
		nacked = wait_acks(ACK_WAIT_US);
	}
	serial_init(); /* COM1 was part of the chaos */
	printf("\nchaos: seed=%u: %u ms of chaos on %u CPUs; at the end %u of %u APs parked by themselves, %u after "
	       "INIT/STARTUP\n",
	       seed, (uint32_t)udiv64(irq_cycles_to_us(t1 - t0), 1000, NULL), ncpus, self_parked, ncpus - 1,
	       nacked - self_parked);
	uint32_t ops = 0, irqs = 0, nmis = 0, gps = 0, entries = 0, icrs = 0;
	for (uint32_t i = 0; i < ncpus; i++) {
		printf("chaos: cpu %u: %u ops, %u starts, %u interrupts, %u NMIs, %u #GP skipped\n", i, n_ops[i],
		       n_entries[i], n_irqs[i], n_nmis[i], n_gp[i]);
		ops += n_ops[i], irqs += n_irqs[i], nmis += n_nmis[i], gps += n_gp[i], entries += n_entries[i];
		naps += i && n_entries[i];
	}
	for (uint32_t m = 0; m < 8; m++)
		icrs += n_icr[m];
	printf("chaos: ICR writes %u (fixed %u lowprio %u smi %u rrd %u nmi %u init %u startup %u reserved %u), "
	       "%u INITs made FIXED, %u APIC base writes\n",
	       icrs, n_icr[0], n_icr[1], n_icr[2], n_icr[3], n_icr[4], n_icr[5], n_icr[6], n_icr[7],
	       n_init_diverted, n_modesw);
	printf("chaos: total %u ops, %u AP starts, %u interrupts, %u NMIs, %u #GP skipped\n", ops, entries, irqs,
	       nmis, gps);
	if (n_bad)
		guest_fail("%u unexpected exceptions; the first: vector %u at eip %08x on CPU %u", n_bad, bad_vec,
			   bad_eip, bad_cpu);
	if (ncpus > 1 && !naps)
		guest_fail("no AP ever started");
	if (nacked != ncpus - 1)
		guest_fail("%u of %u APs did not park after %u rounds of INIT and STARTUP", ncpus - 1 - nacked,
			   ncpus - 1, QUIESCE_ROUNDS);
	printf("chaos: exiting with %u\n", want);
	guest_exit(want);
}
