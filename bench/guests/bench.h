/* bench.h: shared bits of hyve's benchmark guests (bench/guests, issue 6).
 *
 * Every benchmark guest runs unchanged under hyve and under QEMU (-kernel,
 * -accel kvm) and reports on the serial console with one-line records that
 * bench/run parses:
 *   BENCH info guest=NAME cpus=N tsc_khz=K     (K = 0: CPUID does not say)
 *   BENCH <figure> key=value ...               (the figures; see each guest)
 *   BENCH error what=<text>                    (a figure could not be taken)
 * then PASS and debug-exit status 33 (rt.h), or FAIL.
 *
 * Cost model: on the KVM-PVM hosts hyve is developed on, guest CPL0 code is
 * emulated (~1-2 M instructions/s), so the loops are short and the figures
 * are taken over a few thousand operations at most. */
#ifndef BENCH_GUEST_H
#define BENCH_GUEST_H

#include "smp.h"

/* The delays of the INIT-STARTUP-STARTUP sequence in TSC cycles: smp.h's
 * SMP_INIT_DELAY_US and SMP_SIPI_DELAY_US at 3 GHz. Fixed in cycles rather
 * than derived from tsc_khz() so that every VMM gets the same delays whether
 * or not its CPUID tells the guest the TSC frequency. */
#define BENCH_INIT_DELAY_CYCLES (SMP_INIT_DELAY_US * 3000ull)
#define BENCH_SIPI_DELAY_CYCLES (SMP_SIPI_DELAY_US * 3000ull)

/* Upper bound of any single wait for another CPU (2^34 cycles: ~6 s at 3 GHz). */
#define BENCH_WAIT_CYCLES (1ull << 34)

static inline void bench_info(const char *guest, uint32_t ncpus)
{
	printf("BENCH info guest=%s cpus=%u tsc_khz=%u\n", guest, ncpus, tsc_khz());
}

/* Waits with IF as the caller has it until *p >= target; false after
 * BENCH_WAIT_CYCLES. */
static inline bool bench_wait_ge(volatile uint32_t *p, uint32_t target)
{
	uint64_t t0 = rdtsc();
	while (*p < target) {
		if (rdtsc() - t0 > BENCH_WAIT_CYCLES)
			return false;
		cpu_pause();
	}
	return true;
}

/* INIT to APIC IDs 1..n-1, BENCH_INIT_DELAY_CYCLES, STARTUP(SMP_VEC_A) to
 * each, BENCH_SIPI_DELAY_CYCLES, STARTUP to each: smp_boot_each()'s
 * pipelined SDM 8.4.4.1 sequence, walking only the IDs it sends to (at ~1-2 M
 * emulated instructions/s, walking smp_set's 1024 bits three times would be a
 * visible part of the figures). */
static inline void bench_boot_aps(uint32_t n)
{
	for (uint32_t id = 1; id < n; id++)
		ipi_init_assert(id, APIC_DEST_PHYSICAL);
	delay_cycles(BENCH_INIT_DELAY_CYCLES);
	for (uint32_t id = 1; id < n; id++)
		ipi_startup(id, APIC_DEST_PHYSICAL, SMP_VEC_A);
	delay_cycles(BENCH_SIPI_DELAY_CYCLES);
	for (uint32_t id = 1; id < n; id++)
		ipi_startup(id, APIC_DEST_PHYSICAL, SMP_VEC_A);
}

#endif
