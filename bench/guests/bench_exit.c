/* bench_exit.c: the cost of one exit, the floor every other figure is made of
 * (issue 6). One vCPU; each figure is the TSC cycles of BENCH_EXIT_OPS
 * back-to-back operations of one kind (after BENCH_EXIT_WARM untimed ones):
 *   loop         an empty loop iteration (the guest's own per-iteration cost)
 *   cpuid        CPUID leaf 0: an exit KVM handles in the kernel
 *   port_out     OUTB to an unclaimed port (0x1234): a user-space exit in both
 *                hyve and QEMU
 *   xapic_read   MMIO read of the xAPIC version register (0xfee00030): user
 *                space in hyve and with QEMU's kernel-irqchip=off, in-kernel
 *                with QEMU's default irqchip
 *   x2apic_rdmsr RDMSR 0x803 (x2APIC version) after switching to x2APIC
 *                (skipped when CPUID has no x2APIC)
 * Prints: BENCH exit op=NAME n=OPS cycles=C   (or BENCH exit op=NAME skip=why) */
#include "bench.h"

#define BENCH_EXIT_OPS 2000
#define BENCH_EXIT_WARM 50
#define UNCLAIMED_PORT 0x1234

/* One loop per operation, each its own function (noinline: the same code
 * under every VMM), so the empty loop is the exact per-iteration overhead of
 * the others: at ~1-2 M emulated instructions/s it is not negligible. */
#define BENCH_OP_LOOP(name, body)                                                                          \
	static __attribute__((noinline)) void name(uint32_t count)                                          \
	{                                                                                                  \
		for (uint32_t i = 0; i < count; i++) {                                                      \
			body;                                                                              \
		}                                                                                          \
	}

BENCH_OP_LOOP(op_loop, __asm__ volatile("" ::: "memory"))
BENCH_OP_LOOP(op_cpuid, (void)cpuid(0, 0))
BENCH_OP_LOOP(op_port_out, outb(UNCLAIMED_PORT, 0))
BENCH_OP_LOOP(op_xapic_read, (void)xapic_read(APIC_VERSION))
BENCH_OP_LOOP(op_x2apic_rdmsr, (void)rdmsr(X2APIC_MSR(APIC_VERSION)))

static void measure(const char *name, void (*op)(uint32_t))
{
	op(BENCH_EXIT_WARM);
	uint64_t t0 = rdtsc();
	op(BENCH_EXIT_OPS);
	uint64_t dt = rdtsc() - t0;
	printf("BENCH exit op=%s n=%u cycles=%llu\n", name, BENCH_EXIT_OPS, dt);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	bench_info("bench_exit", fwcfg_cpu_count());
	measure("loop", op_loop);
	measure("cpuid", op_cpuid);
	measure("port_out", op_port_out);
	measure("xapic_read", op_xapic_read); /* the APIC is in xAPIC mode at reset (SDM 10.12.5) */
	if (cpu_has_x2apic()) {
		x2apic_enable_self();
		measure("x2apic_rdmsr", op_x2apic_rdmsr);
	} else {
		printf("BENCH exit op=x2apic_rdmsr skip=no-x2APIC-in-CPUID\n");
	}
	guest_pass();
}
