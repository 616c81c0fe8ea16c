/* irq_apic_id.c: the xAPIC ID register is read/write and decides who receives
 * a physical-mode interrupt (Intel SDM Vol. 3A 10.4.6, 10.6.2.1; issue 13).
 * xAPIC mode, 4 CPUs or more:
 *  - AP 2 writes ID 1 (it now shares ID 1 with AP 1), AP 3 writes ID 0xf7,
 *    the BSP ID 0xf9; each reads its new ID back;
 *  - a fixed IPI to physical destination 1 reaches AP 1 and AP 2, one to 3
 *    reaches nobody (that ID moved away), one to 0xf7 reaches AP 3, one to
 *    0xf9 the BSP, one to 0 nobody; an I/O APIC edge on pin 5 (pc-testdev
 *    line 5) sent to destination 1 and then 0xf7 reaches the same CPUs;
 *  - AP 3 enables x2APIC mode: its x2APIC ID (MSR 0x802) is its initial ID
 *    3, not 0xf7 (SDM 10.12.5.1); back to xAPIC through global disable, the ID
 *    register holds the initial ID again (10.4.7.1);
 *  - IDs restored: each ID reaches its own CPU only.
 * Who took an interrupt is told by CPUID.1:EBX[31:24], the initial APIC ID,
 * since apic_id() follows the written register. The negative result: with a
 * read-only ID register the writes do not read back and the IPIs to 1 and
 * 0xf7 reach the wrong CPUs: "cpu N: ..." lines and FAIL. */
#include "irq.h"

#define VEC_ID 0x66
#define WAIT_US 2000000
#define QUIET_US 20000
#define IOAPIC_PIN 5
#define ID_AP3 0xf7 /* above every configured ID (at most 64 CPUs here) */
#define ID_BSP 0xf9

static volatile uint32_t got[IRQ_MAX_CPUS]; /* by initial APIC ID */
static volatile uint32_t ready, release;

static uint32_t initial_id(void) { return cpuid(1, 0).ebx >> 24; }

static void on_vec(struct isr_frame *f)
{
	(void)f;
	uint32_t id = initial_id();
	if (id < IRQ_MAX_CPUS)
		atomic_inc(&got[id]);
	apic_eoi();
}

/* Writes the xAPIC ID register and checks it reads back. */
static void set_id(uint32_t who, uint32_t id)
{
	xapic_write(APIC_ID, id << 24);
	if (xapic_read(APIC_ID) != id << 24)
		irq_problem(who, "ID register reads %08x after writing %08x", xapic_read(APIC_ID), id << 24);
}

/* On an AP: take ID `arg`, tell the BSP, wait (IF=1) until released, then
 * (AP 3) the x2APIC excursion, and the initial ID back. */
static int moved_ap(uint32_t id, uint32_t arg)
{
	set_id(id, arg);
	atomic_inc(&ready);
	cpu_cli();
	while (!release)
		cpu_sti_hlt_cli();
	if (id == 3) {
		uint64_t base = rdmsr(MSR_APIC_BASE);
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);
		uint32_t x2id = (uint32_t)rdmsr(X2APIC_MSR(APIC_ID));
		if (x2id != id)
			irq_problem(id, "x2APIC mode after ID %u was written: x2APIC ID %u, want the initial %u", arg,
				    x2id, id);
		wrmsr(MSR_APIC_BASE, base & ~(APIC_BASE_EXTD | APIC_BASE_EN)); /* x2APIC -> disabled -> xAPIC */
		wrmsr(MSR_APIC_BASE, base & ~APIC_BASE_EXTD);
		apic_sw_enable();
		if (xapic_read(APIC_ID) != id << 24)
			irq_problem(id, "back in xAPIC mode: ID register %08x, want the initial %08x",
				    xapic_read(APIC_ID), id << 24);
	}
	set_id(id, id);
	return 0;
}

/* Sends one interrupt (IPI or I/O APIC edge) to physical destination dest
 * and checks that exactly the CPUs in `want` (bit = initial ID) take it. */
static void expect(uint32_t dest, uint32_t want, bool ioapic, uint32_t n)
{
	uint32_t before[IRQ_MAX_CPUS];
	for (uint32_t i = 0; i < n; i++)
		before[i] = got[i];
	if (ioapic) {
		ioapic_rte_set(IOAPIC_PIN, VEC_ID | IOAPIC_RTE_DM_FIXED | IOAPIC_RTE_DEST(dest));
		testdev_irq(IOAPIC_PIN, true);
		testdev_irq(IOAPIC_PIN, false);
	} else {
		ipi_fixed(dest, APIC_DEST_PHYSICAL, VEC_ID);
	}
	cpu_sti();
	for (uint32_t i = 0; i < n; i++)
		if (want >> i & 1 && irq_spin_until(&got[i], before[i] + 1, WAIT_US))
			irq_problem(0, "%s to ID %u: CPU %u (initial ID) took nothing", ioapic ? "I/O APIC" : "IPI", dest,
				    i);
	irq_delay_us(QUIET_US);
	cpu_cli();
	for (uint32_t i = 0; i < n; i++)
		if (!(want >> i & 1) && got[i] != before[i])
			irq_problem(0, "%s to ID %u: CPU %u (initial ID) took it", ioapic ? "I/O APIC" : "IPI", dest, i);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	uint32_t n = irq_smp_start_xapic(mbi, 4, "the ID register is read-only in x2APIC mode");
	idt_set_handler(VEC_ID, on_vec);
	printf("irq_apic_id: %u CPUs (xAPIC)\n", n);
	irq_start_on_cpu(2, moved_ap, 1);
	irq_start_on_cpu(3, moved_ap, ID_AP3);
	if (irq_spin_until(&ready, 2, WAIT_US))
		guest_fail("APs 2 and 3 did not take their new IDs");
	set_id(0, ID_BSP);
	expect(1, 1u << 1 | 1u << 2, false, n);
	expect(3, 0, false, n);
	expect(ID_AP3, 1u << 3, false, n);
	expect(ID_BSP, 1u << 0, false, n);
	expect(0, 0, false, n);
	expect(1, 1u << 1 | 1u << 2, true, n);
	expect(ID_AP3, 1u << 3, true, n);
	printf("moved: IPIs and I/O APIC messages follow the written IDs (1 twice, 3 gone, f7, f9)\n");
	set_id(0, 0);
	release = 1;
	ipi_fixed(1, APIC_DEST_PHYSICAL, SMP_VEC_KICK); /* AP 2 still answers to ID 1 */
	ipi_fixed(ID_AP3, APIC_DEST_PHYSICAL, SMP_VEC_KICK); /* AP 3 to ID_AP3 */
	irq_wait_cpu(2);
	irq_wait_cpu(3);
	for (uint32_t id = 0; id < 4; id++)
		expect(id, 1u << id, false, n);
	ioapic_mask(IOAPIC_PIN, true);
	printf("restored: each ID reaches its own CPU; x2APIC ID stayed the initial one\n");
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
