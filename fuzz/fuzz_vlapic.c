/* fuzz_vlapic.c: operation sequences on up to four vLAPICs wired together by
 * the IPI path (ICR decode, check and destination resolution of
 * vmm/apic_dest.c, IRR delivery): xAPIC MMIO at any offset and size, x2APIC
 * MSRs, IA32_APIC_BASE, interrupt acceptance and EOI, the timer, LINT pins,
 * TSC-deadline, INIT reset, CR8. Nothing may crash, hang or trip a sanitizer,
 * and the published addressing state must stay consistent. */
#include <stdbool.h>

#include "fuzz/fuzz.h"
#include "vmm/apic_dest.h"
#include "vmm/vlapic.h"

#define NMAX 4

struct world {
	unsigned n;
	struct vlapic *vl[NMAX];
	struct apic_addr pub[NMAX];
	struct vlapic_ops ops[NMAX];
	uint64_t now, tsc;
	int64_t deadline[NMAX];
	uint32_t ids_moved; /* vlapic_ops.ids_moved of every vLAPIC */
};

struct who {
	struct world *w;
	unsigned id;
};

static void on_icr(void *ctx, struct vlapic *vl, uint32_t lo, uint32_t hi)
{
	struct who *me = ctx;
	struct world *w = me->w;
	struct apic_ipi ipi;
	apic_ipi_decode(&ipi, me->id, vlapic_x2apic_mode(vl), lo, hi);
	if (apic_ipi_check(&ipi) != APIC_IPI_DELIVER)
		return;
	cpuset_t all, targets;
	cpuset_zero(&all);
	for (unsigned i = 0; i < w->n; i++)
		cpuset_set(&all, i);
	apic_dest_resolve(&ipi, w->pub, w->n, w->ids_moved, &all, &targets);
	CPUSET_FOREACH(i, &targets)
	{
		if ((unsigned)i >= w->n)
			__builtin_trap(); /* resolution named a vCPU that does not exist */
		if (ipi.mode == APIC_DM_FIXED || ipi.mode == APIC_DM_LOWPRIO)
			vlapic_set_intr(w->vl[i], ipi.vector, ipi.trigger_level);
		else if (ipi.mode == APIC_DM_INIT && i != 0)
			vlapic_init_reset(w->vl[i]);
	}
}

static void on_eoi(void *ctx, uint8_t vector) { (void)ctx; (void)vector; }

static void on_arm(void *ctx, uint64_t d)
{
	struct who *me = ctx;
	me->w->deadline[me->id] = (int64_t)d;
}

static void on_disarm(void *ctx)
{
	struct who *me = ctx;
	me->w->deadline[me->id] = -1;
}

static uint64_t on_now(void *ctx) { return ((struct who *)ctx)->w->now; }
static uint64_t on_tsc(void *ctx) { return ((struct who *)ctx)->w->tsc; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct world w = {.n = 1 + fz_u8(&f) % NMAX, .now = 1000, .tsc = 5000};
	struct who who[NMAX];
	bool x2cap = fz_u8(&f) & 1;
	for (unsigned i = 0; i < w.n; i++) {
		who[i] = (struct who){&w, i};
		w.deadline[i] = -1;
		w.ops[i] = (struct vlapic_ops){.ctx = &who[i], .icr_write = on_icr, .eoi = on_eoi,
					       .timer_arm = on_arm, .timer_disarm = on_disarm,
					       .now_ns = on_now, .guest_tsc = on_tsc, .tsc_khz = 1000000,
					       .ids_moved = &w.ids_moved};
		w.vl[i] = vlapic_create(i, i == 0, x2cap, 39, &w.pub[i], &w.ops[i]);
		if (!w.vl[i])
			return 0;
	}
	for (unsigned steps = 0; fz_more(&f) && steps < 4096; steps++) {
		unsigned op = fz_u8(&f), i = fz_u8(&f) % w.n;
		struct vlapic *vl = w.vl[i];
		uint64_t v = 0;
		switch (op % 14) {
		case 0: vlapic_mmio_read(vl, fz_u16(&f) & 0xfff, fz_size(&f), &v); break;
		case 1: { unsigned off = fz_u16(&f) & 0xfff, sz = fz_size(&f); vlapic_mmio_write(vl, off, sz, fz_u64(&f)); break; }
		case 2: vlapic_rdmsr(vl, 0x800 + fz_u8(&f), &v); break;
		case 3: { uint32_t msr = 0x800 + fz_u8(&f); vlapic_wrmsr(vl, msr, fz_u64(&f)); break; }
		case 4: vlapic_set_apicbase(vl, fz_u64(&f)); break;
		case 5: { uint8_t vec = fz_u8(&f); vlapic_set_intr(vl, vec, fz_u8(&f) & 1); break; }
		case 6: { int vec = vlapic_pending_intr(vl); if (vec >= 0) { if (vec < 16 || vec > 255) __builtin_trap(); vlapic_intr_accepted(vl, (uint8_t)vec); } break; }
		case 7: w.now += fz_u32(&f); w.tsc += fz_u32(&f); if (w.deadline[i] >= 0 && (uint64_t)w.deadline[i] <= w.now) vlapic_timer_fired(vl); break;
		case 8: { unsigned pin = fz_u8(&f) & 1; (void)vlapic_lint(vl, pin, fz_u8(&f) & 1); (void)vlapic_accepts_extint(vl); break; }
		case 9: vlapic_tsc_deadline_write(vl, w.tsc + fz_u32(&f)); (void)vlapic_tsc_deadline_read(vl); break;
		case 10: if (i != 0) vlapic_init_reset(vl); break;
		case 11: vlapic_set_cr8(vl, fz_u8(&f) & 0xf); if (vlapic_get_cr8(vl) > 15) __builtin_trap(); break;
		case 12: vlapic_set_error(vl, fz_u32(&f)); break;
		default: (void)vlapic_peek(vl, fz_u16(&f) & 0xff0); (void)vlapic_mmio_base(vl); break;
		}
		/* The published state follows the register file. */
		if (w.pub[i].x2apic != vlapic_x2apic_mode(vl))
			__builtin_trap();
		/* The moved-ID count is exact (the physical fast path trusts it). */
		uint32_t moved = 0;
		for (unsigned k = 0; k < w.n; k++)
			moved += w.pub[k].id != k;
		if (moved != w.ids_moved || (w.pub[i].x2apic && w.pub[i].id != i))
			__builtin_trap();
	}
	for (unsigned i = 0; i < w.n; i++)
		vlapic_destroy(w.vl[i]);
	return 0;
}
