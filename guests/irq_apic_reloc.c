/* irq_apic_reloc.c: relocating the local APIC's register page onto RAM
 * (Intel SDM Vol. 3A 10.4.5; issue 13). xAPIC mode, 2 CPUs:
 *  - the BSP fills a page of RAM (RELOC) with a pattern, then moves its APIC
 *    there (IA32_APIC_BASE[35:12]): the page now answers as the APIC (the
 *    version and ID registers, TPR written and read back, a self-IPI sent
 *    and EOIed through it), the old page at 0xfee00000 answers nothing
 *    (reads all ones);
 *  - meanwhile AP 1, whose APIC stayed at 0xfee00000, reads the pattern at
 *    RELOC and writes a word there: on hardware each CPU sees its own APIC
 *    at its own base, so for AP 1 the page is RAM (hyve's choice when vCPUs
 *    disagree: docs/architecture.md);
 *  - the BSP moves its APIC back: RELOC is RAM again with the pattern
 *    (what the APIC registers took did not reach it) and AP 1's word, and
 *    the APIC answers at 0xfee00000 with the TPR it was given at RELOC.
 * The negative result: a hypervisor that leaves RAM at the new base prints
 * "cpu N: ..." lines (the pattern where the version register should be)
 * and FAIL. */
#include "irq.h"

#define RELOC 0x03000000u /* 48 MiB: RAM (hyve and QEMU give 128 MiB or more) */
#define VEC_SELF 0x67
#define PATTERN(off) (0xa5000000u | (off))
#define AP_WORD 0x5a5a1234u
#define AP_OFF 0x40 /* a reserved offset of the APIC page */
#define WAIT_US 2000000

static volatile uint32_t moved, ap_seen, ap_done, self_taken;

static volatile uint32_t *reloc(uint32_t off) { return (volatile uint32_t *)(uintptr_t)(RELOC + off); }

/* The self-IPI's handler EOIs through the relocated page. */
static void on_self(struct isr_frame *f)
{
	(void)f;
	self_taken++;
	*reloc(APIC_EOI) = 0;
}

static int ap_part(uint32_t id, uint32_t arg)
{
	(void)arg;
	if (irq_spin_until(&moved, 1, WAIT_US)) {
		irq_problem(id, "the BSP did not move its APIC");
		return 1;
	}
	ap_seen = *reloc(APIC_VERSION);
	*reloc(AP_OFF) = AP_WORD;
	ap_done = 1;
	return 0;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	(void)magic;
	uint32_t n = irq_smp_start_xapic(mbi, 2, "the APIC page exists in xAPIC mode only");
	idt_set_handler(VEC_SELF, on_self);
	uint32_t ver = xapic_read(APIC_VERSION);
	printf("irq_apic_reloc: %u CPUs, APIC page moved from 0xfee00000 to 0x%x (RAM)\n", n, RELOC);
	for (uint32_t off = 0; off < 0x1000; off += 16)
		*reloc(off) = PATTERN(off);
	irq_start_on_cpu(1, ap_part, 0);

	uint64_t base = rdmsr(MSR_APIC_BASE);
	cpu_cli();
	wrmsr(MSR_APIC_BASE, (base & 0xfffu) | RELOC);
	/* From here until the move back the BSP uses no library APIC helper
	 * (they address 0xfee00000). */
	uint32_t v = *reloc(APIC_VERSION), id = *reloc(APIC_ID), old = xapic_read(APIC_VERSION);
	*reloc(APIC_TPR) = 0x20;
	uint32_t tpr = *reloc(APIC_TPR);
	*reloc(APIC_ICR_HI) = 0;
	*reloc(APIC_ICR_LO) = APIC_DM_FIXED | APIC_LEVEL_ASSERT | APIC_DEST_PHYSICAL | VEC_SELF;
	cpu_sti();
	for (int i = 0; i < 1000 && !self_taken; i++)
		(void)*reloc(APIC_VERSION); /* an exit: where the IPI is injected on KVM-PVM */
	cpu_cli();
	moved = 1;
	uint64_t end = rdtsc() + irq_us_to_cycles(WAIT_US);
	while (!ap_done && rdtsc() < end)
		cpu_pause();
	wrmsr(MSR_APIC_BASE, base);
	/* Back at 0xfee00000. */
	if (v != ver || id != 0)
		irq_problem(0, "moved: version %08x and ID %08x at 0x%x, want %08x and 0 (the pattern is %08x)", v, id,
			    RELOC, ver, PATTERN(APIC_VERSION));
	if (tpr != 0x20)
		irq_problem(0, "moved: TPR reads %x after writing 0x20", tpr);
	if (!self_taken)
		irq_problem(0, "moved: the self-IPI sent through the moved ICR was not taken");
	if (old != 0xffffffffu)
		irq_problem(0, "moved: the old page still answers (version %08x)", old);
	if (!ap_done)
		irq_problem(1, "AP 1 did not finish");
	else if (ap_seen != PATTERN(APIC_VERSION))
		irq_problem(1, "AP 1 read %08x at 0x%x (its APIC is at 0xfee00000), want the RAM %08x", ap_seen,
			    RELOC + APIC_VERSION, PATTERN(APIC_VERSION));
	irq_wait_cpu(1);
	uint32_t bad = 0, first = 0;
	for (uint32_t off = 0; off < 0x1000; off += 16) {
		uint32_t want = off == AP_OFF ? AP_WORD : PATTERN(off);
		if (*reloc(off) != want && !bad++)
			first = off;
	}
	if (bad)
		irq_problem(0, "moved back: %u words of RAM at 0x%x differ, first at +0x%x: %08x", bad, RELOC, first,
			    *reloc(first));
	if (xapic_read(APIC_VERSION) != ver || xapic_read(APIC_TPR) != 0x20)
		irq_problem(0, "moved back: at 0xfee00000 version %08x TPR %x, want %08x and 0x20",
			    xapic_read(APIC_VERSION), xapic_read(APIC_TPR), ver);
	xapic_write(APIC_TPR, 0);
	printf("moved: the APIC answered at 0x%x (version, ID, TPR, self-IPI), 0xfee00000 did not, AP 1 saw RAM\n",
	       RELOC);
	printf("moved back: RAM at 0x%x as it was (and AP 1's word), the APIC at 0xfee00000 kept its TPR\n", RELOC);
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
