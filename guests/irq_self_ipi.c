/* irq_self_ipi.c: self-IPIs on every vCPU at once, in the APIC mode the
 * command line asks for (SDM Vol. 3A 10.6.1, 10.12.11).
 * xAPIC (default):
 *  - ICR with the SELF shorthand, and ICR with physical destination = own
 *    APIC ID: each taken once; with IF=0 the vector waits in IRR.
 *  - three SELF IPIs of one vector while IF=0 make one interrupt (one IRR
 *    bit).
 *  - the SELF IPI register (offset 0x3f0) does not exist in xAPIC mode: a
 *    write there sends nothing; WRMSR 0x83f is #GP (BSP).
 *  - with the APIC software-disabled (SVR bit 8 = 0) a self-IPI is not
 *    accepted (no IRR bit, nothing after re-enabling), and the LVT timer
 *    reads masked (SDM 10.4.7.2).
 * x2APIC ("x2apic"):
 *  - SELF IPI MSR 0x83f (vector in bits 7:0) and the ICR (MSR 0x830) with
 *    the SELF shorthand and with destination = own x2APIC ID: each taken
 *    once; three MSR 0x83f writes with IF=0 make one interrupt.
 *  - 0x83f with a reserved bit set and RDMSR 0x83f (write-only) are #GP
 *    (BSP).
 * Every CPU must count exactly its own IPIs: none reaches another CPU.
 * Known QEMU (TCG) deviations: WRMSR 0x83f in xAPIC mode does not #GP, and a
 * software-disabled APIC accepts fixed interrupts (KVM's in-kernel APIC and
 * bhyve drop them, as hyve does). */
#include "irq.h"

#define VEC_A 0x55
#define VEC_B 0x56
#define WAIT_US 500000

static volatile uint32_t got[IRQ_MAX_CPUS][2];
static volatile uint32_t total;

static void on_self(struct isr_frame *f)
{
	atomic_inc(&got[apic_id()][f->vector == VEC_B]);
	atomic_inc(&total);
	apic_eoi();
}

/* One self-IPI by `send`, checked to wait in IRR with IF=0, then taken. */
static void one(uint32_t id, uint8_t vec, void (*send)(uint32_t id, uint8_t vec), uint32_t times, const char *what)
{
	volatile uint32_t *c = &got[id][vec == VEC_B];
	uint32_t before = *c;
	cpu_cli();
	for (uint32_t i = 0; i < times; i++)
		send(id, vec);
	if (!apic_irr_has(vec))
		irq_problem(id, "%s: vector %x not pending in IRR with IF=0", what, vec);
	if (*c != before)
		irq_problem(id, "%s: taken with IF=0", what);
	cpu_sti();
	if (irq_spin_until(c, before + 1, WAIT_US) < 0)
		irq_problem(id, "%s: not taken", what);
	irq_delay_us(1000);
	cpu_cli();
	if (*c != before + 1)
		irq_problem(id, "%s: %u interrupts, expected 1", what, *c - before);
}

static void send_sh_self(uint32_t id, uint8_t vec)
{
	apic_send(0, APIC_SH_SELF | APIC_DM_FIXED | APIC_LEVEL_ASSERT | vec);
}

static void send_phys_self(uint32_t id, uint8_t vec)
{
	apic_send(id, APIC_DEST_PHYSICAL | APIC_DM_FIXED | APIC_LEVEL_ASSERT | vec);
}

static void send_msr_self(uint32_t id, uint8_t vec) { wrmsr(MSR_X2APIC_SELF_IPI, vec); }

/* IF=1 for a while: nothing may come. */
static void quiet(uint32_t id, const char *what)
{
	uint32_t before = got[id][0] + got[id][1];
	cpu_sti();
	irq_delay_us(2000);
	cpu_cli();
	if (got[id][0] + got[id][1] != before || apic_irr_has(VEC_A) || apic_irr_has(VEC_B))
		irq_problem(id, "%s: an interrupt came", what);
}

static int run_xapic(uint32_t id, uint32_t arg)
{
	one(id, VEC_A, send_sh_self, 1, "ICR SELF shorthand");
	one(id, VEC_B, send_phys_self, 1, "ICR physical, own ID");
	one(id, VEC_A, send_sh_self, 3, "three SELF IPIs with IF=0");
	xapic_write(APIC_SELF_IPI, VEC_A);
	quiet(id, "xAPIC write to offset 0x3f0");
	if (id == 0) {
		rt_expect_fault(13, 2); /* WRMSR is 2 bytes */
		uint32_t f0 = rt_fault_count;
		wrmsr(MSR_X2APIC_SELF_IPI, VEC_A);
		rt_expect_fault_cancel();
		if (rt_fault_count != f0 + 1)
			irq_problem(id, "WRMSR 0x83f in xAPIC mode did not #GP");
		quiet(id, "WRMSR 0x83f in xAPIC mode");
	}
	apic_write(APIC_SVR, ISR_VEC_SPURIOUS); /* software-disable */
	send_sh_self(id, VEC_A);
	if (apic_irr_has(VEC_A))
		irq_problem(id, "software-disabled APIC accepted a self-IPI");
	if (!(apic_read(APIC_LVT_TIMER) & APIC_LVT_MASKED))
		irq_problem(id, "software-disabled APIC: LVT timer %x not masked", apic_read(APIC_LVT_TIMER));
	apic_sw_enable();
	quiet(id, "self-IPI while software-disabled");
	return 0;
}

static int run_x2apic(uint32_t id, uint32_t arg)
{
	one(id, VEC_A, send_msr_self, 1, "MSR 0x83f");
	one(id, VEC_B, send_sh_self, 1, "ICR SELF shorthand");
	one(id, VEC_A, send_phys_self, 1, "ICR physical, own ID");
	one(id, VEC_B, send_msr_self, 3, "three MSR 0x83f writes with IF=0");
	if (id == 0) {
		uint32_t f0 = rt_fault_count;
		rt_expect_fault(13, 2);
		wrmsr(MSR_X2APIC_SELF_IPI, 0x100 | VEC_A); /* bit 8 is reserved */
		rt_expect_fault_cancel();
		rt_expect_fault(13, 2); /* RDMSR is 2 bytes */
		(void)rdmsr(MSR_X2APIC_SELF_IPI);
		rt_expect_fault_cancel();
		if (rt_fault_count != f0 + 2)
			irq_problem(id, "reserved-bit write / read of MSR 0x83f: %u #GP, expected 2",
				    rt_fault_count - f0);
		quiet(id, "faulting MSR 0x83f accesses");
	}
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	bool x2 = cmdline_has_word(mb_cmdline(mbi), "x2apic");
	uint32_t n = irq_smp_start(mbi, x2 ? SMP_X2APIC : SMP_XAPIC);

	printf("irq_self_ipi: %u CPUs (%s)\n", n, apic_x2mode ? "x2APIC" : "xAPIC");
	idt_set_handler(VEC_A, on_self);
	idt_set_handler(VEC_B, on_self);
	irq_on_all(x2 ? run_x2apic : run_xapic, 0);
	uint32_t per_cpu = x2 ? 4 : 3;
	for (uint32_t id = 0; id < n; id++)
		if (got[id][0] + got[id][1] != per_cpu)
			irq_problem(0, "CPU %u took %u self-IPIs, expected %u", id, got[id][0] + got[id][1], per_cpu);
	printf("self-IPI (%s): %u interrupts on %u CPUs, %u expected\n",
	       x2 ? "MSR 0x83f, ICR SELF, ICR own ID" : "ICR SELF, ICR own ID", total, n, n * per_cpu);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
