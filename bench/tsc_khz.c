/* tsc_khz.c: host helper of bench/run: prints the host's TSC frequency in kHz,
 * measured as RDTSC against CLOCK_MONOTONIC_RAW over five 100 ms windows (the
 * median). The benchmark guests cannot always tell their TSC frequency (no
 * CPUID leaf 0x15/0x16 or 0x40000010 on every host), and KVM runs a guest's
 * TSC at the host's rate unless told otherwise (KVM_SET_TSC_KHZ, which
 * neither hyve nor QEMU's default CPU uses). /proc/cpuinfo's "cpu MHz" is the
 * current core clock, not the TSC. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

#define WINDOWS 5
#define WINDOW_NS 100000000ll

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	double khz[WINDOWS];

	for (int i = 0; i < WINDOWS; i++) {
		int64_t t0 = now_ns();
		uint64_t c0 = __rdtsc();
		int64_t t1;
		do
			t1 = now_ns();
		while (t1 - t0 < WINDOW_NS);
		uint64_t c1 = __rdtsc();
		khz[i] = (double)(c1 - c0) * 1e6 / (double)(t1 - t0);
	}
	qsort(khz, WINDOWS, sizeof(khz[0]), cmp_double);
	printf("%.0f\n", khz[WINDOWS / 2]);
	return 0;
}
