/* test_vlapic.c: the virtual local APIC register file (vmm/vlapic.c) against SDM Vol. 3A chapter 10. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "vmm/vlapic.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define BASE_AP 0xfee00800ULL /* EN, not BSP, default base (SDM 10.4.4) */
#define BASE_BSP 0xfee00900ULL /* EN | BSP */
#define BASE_X2 (BASE_AP | APIC_BASE_EXTD)
#define BASE_OFF 0xfee00000ULL /* globally disabled */
#define VER_WANT 0x01060014u /* EOI-broadcast suppression, 7 LVT entries (max LVT 6), version 0x14 */
#define LINT0_VIRTUAL_WIRE 0x700u /* BSP LINT0 at reset: ExtINT, unmasked (as KVM) */
#define ICR_LO_RW 0x000ccfffu /* vector, DM, dest mode, level, trigger, shorthand: no bit 12 */
#define ICR_SH_SELF (1u << 18)

/* MSR of an xAPIC offset (SDM 10.12.1.2). */
#define MSR(off) (MSR_X2APIC_FIRST + ((off) >> 4))

static const uint32_t lvt_offs[] = {APIC_OFF_LVT_CMCI, APIC_OFF_LVT_TIMER, APIC_OFF_LVT_THERMAL,
				    APIC_OFF_LVT_PMC,  APIC_OFF_LVT_LINT0, APIC_OFF_LVT_LINT1,
				    APIC_OFF_LVT_ERROR};

/* One vLAPIC with what it publishes and what its ICR callback saw. No globals:
 * every test owns its fixtures. */
struct fx {
	struct apic_addr pub;
	struct vlapic_ops ops;
	struct vlapic *vl;
	unsigned nicr; /* icr_write calls */
	uint32_t lo, hi; /* last icr_write arguments */
	struct vlapic *icr_vl; /* last icr_write's vl argument */
	struct fx *peer; /* if set: a FIXED IPI (vector >= 16) is delivered into peer */
	bool reenter; /* the callback re-enters its own vlapic (no lock may be held) */
	uint32_t reenter_icr; /* ICR_LO peeked from inside the callback */
	unsigned neoi;  /* eoi (broadcast) calls */
	int eoi_vec;    /* the last one's vector */
};

static void eoi_cb(void *ctx, uint8_t vector)
{
	struct fx *f = ctx;
	f->neoi++;
	f->eoi_vec = vector;
}

static void icr_cb(void *ctx, struct vlapic *vl, uint32_t lo, uint32_t hi)
{
	struct fx *f = ctx;
	f->nicr++;
	f->lo = lo;
	f->hi = hi;
	f->icr_vl = vl;
	if (f->reenter) {
		f->reenter_icr = vlapic_peek(vl, APIC_OFF_ICR_LO);
		vlapic_set_error(vl, 0); /* takes the lock: would deadlock if it were held */
	}
	if (f->peer && ((lo >> 8) & 7) == 0 && (lo & 0xff) >= 16)
		vlapic_set_intr(f->peer->vl, (uint8_t)lo, false);
}

static struct fx *fx_new(uint32_t id, bool bsp, bool x2cap, unsigned phys_bits)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	memset(&f->pub, 0xa5, sizeof(f->pub)); /* vlapic_create must publish every field */
	f->ops = (struct vlapic_ops){.ctx = f, .icr_write = icr_cb, .eoi = eoi_cb};
	f->vl = vlapic_create(id, bsp, x2cap, phys_bits, &f->pub, &f->ops);
	if (!f->vl)
		abort();
	return f;
}

static void fx_free(struct fx *f)
{
	vlapic_destroy(f->vl);
	free(f);
}

static uint32_t rd(struct vlapic *vl, uint32_t off)
{
	uint64_t v = 0xdeadbeefcafef00dULL;
	vlapic_mmio_read(vl, off, 4, &v);
	return (uint32_t)v;
}

static void wr(struct vlapic *vl, uint32_t off, uint32_t val)
{
	vlapic_mmio_write(vl, off, 4, val);
}

static uint64_t rdmsr_or(struct vlapic *vl, uint32_t msr, uint64_t dflt)
{
	uint64_t v = dflt;
	if (vlapic_rdmsr(vl, msr, &v) != 0)
		return dflt;
	return v;
}

/* Bit v of a 256-bit bank read through the register file. */
static bool bank_bit(struct vlapic *vl, uint32_t first, unsigned v)
{
	return (vlapic_peek(vl, first + (v / 32) * 16) >> (v % 32)) & 1;
}

static bool bank_empty(struct vlapic *vl, uint32_t first)
{
	for (unsigned i = 0; i < 8; i++)
		if (vlapic_peek(vl, first + i * 16))
			return false;
	return true;
}

static bool lvts_all(struct vlapic *vl, uint32_t want)
{
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++)
		if (vlapic_peek(vl, lvt_offs[i]) != want)
			return false;
	return true;
}

/* Every LVT masked, except the BSP's reset-time virtual-wire LINT0. */
static bool lvts_masked(struct vlapic *vl)
{
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++) {
		uint32_t v = vlapic_peek(vl, lvt_offs[i]);
		if (lvt_offs[i] == APIC_OFF_LVT_LINT0 && v == LINT0_VIRTUAL_WIRE && vlapic_id(vl) == 0)
			continue;
		if (!(v & APIC_LVT_MASKED))
			return false;
	}
	return true;
}

/* Power-on/INIT LVTs: all masked; the BSP's LINT0 is the virtual wire. */
static bool lvts_reset(struct vlapic *vl, bool bsp)
{
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++) {
		uint32_t want = bsp && lvt_offs[i] == APIC_OFF_LVT_LINT0 ? LINT0_VIRTUAL_WIRE : APIC_LVT_MASKED;
		if (vlapic_peek(vl, lvt_offs[i]) != want)
			return false;
	}
	return true;
}

/* Puts a vlapic created in xAPIC mode into x2APIC mode (SDM 10.12.5: xAPIC -> x2APIC). */
static int to_x2(struct fx *f)
{
	return vlapic_set_apicbase(f->vl, vlapic_get_apicbase(f->vl) | APIC_BASE_EXTD);
}

/* ---- power-on state (SDM 10.4.7.1) ----------------------------------------------------------- */

static void check_poweron_regs(struct fx *f, uint32_t id, const char *who)
{
	struct vlapic *vl = f->vl;
	CHECK_EQ(rd(vl, APIC_OFF_ID), id << 24, "%s: ID register holds the id in bits 31:24", who);
	CHECK_EQ(rd(vl, APIC_OFF_VER), VER_WANT, "%s: version 0x01060014", who);
	CHECK_EQ(rd(vl, APIC_OFF_TPR), 0, "%s: TPR 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_APR), 0, "%s: APR 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0, "%s: PPR 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_LDR), 0, "%s: LDR 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_DFR), 0xffffffffu, "%s: DFR all ones", who);
	CHECK_EQ(rd(vl, APIC_OFF_SVR), 0xff, "%s: SVR 0xff (software disabled)", who);
	CHECK(bank_empty(vl, APIC_OFF_ISR0) && bank_empty(vl, APIC_OFF_TMR0) && bank_empty(vl, APIC_OFF_IRR0),
	      "%s: ISR, TMR, IRR clear", who);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), 0, "%s: ESR 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_ICR_LO), 0, "%s: ICR low 0", who);
	CHECK_EQ(rd(vl, APIC_OFF_ICR_HI), 0, "%s: ICR high 0", who);
	CHECK(lvts_reset(vl, vlapic_get_apicbase(vl) & APIC_BASE_BSP),
	      "%s: LVT entries read 0x10000 (masked); the BSP's LINT0 reads 0x700 (ExtINT)", who);
	CHECK(rd(vl, APIC_OFF_TIMER_ICR) == 0 && rd(vl, APIC_OFF_TIMER_CCR) == 0 &&
		      rd(vl, APIC_OFF_TIMER_DCR) == 0,
	      "%s: timer initial/current count and divide configuration 0", who);
	CHECK(!vlapic_x2apic_mode(vl), "%s: starts in xAPIC mode", who);
	CHECK_EQ(vlapic_mmio_base(vl), vlapic_get_apicbase(vl) & APIC_BASE_ADDR_MASK,
		 "%s: MMIO page at the APIC base", who);
	CHECK_EQ(vlapic_id(vl), id, "%s: vlapic_id", who);
	CHECK(f->pub.id == id && f->pub.ldr == 0 && f->pub.dfr == 0xffffffffu && f->pub.x2apic == 0 &&
		      f->pub.sw_enabled == 0 && f->pub.ppr == 0,
	      "%s: published addressing state is the reset state", who);
}

static void test_poweron(void)
{
	struct fx *bsp = fx_new(0, true, true, 36);
	struct fx *ap = fx_new(5, false, true, 36);
	check_poweron_regs(bsp, 0, "power-on BSP");
	check_poweron_regs(ap, 5, "power-on AP 5");
	CHECK_EQ(vlapic_get_apicbase(bsp->vl), BASE_BSP, "power-on BSP: APIC base 0xfee00900");
	CHECK_EQ(vlapic_get_apicbase(ap->vl), BASE_AP, "power-on AP: APIC base 0xfee00800");
	CHECK_EQ(vlapic_mmio_base(ap->vl), 0xfee00000ULL, "power-on: MMIO page at 0xfee00000");
	CHECK_EQ(bsp->nicr + ap->nicr, 0, "power-on: no IPI sent");
	fx_free(bsp);
	fx_free(ap);

	struct fx *big = fx_new(300, false, true, 36);
	CHECK_EQ(rd(big->vl, APIC_OFF_ID), (300u & 0xff) << 24,
		 "power-on id 300: xAPIC ID shows the low 8 bits");
	CHECK_EQ(big->pub.id, 300, "power-on id 300: published id is the full id");
	fx_free(big);
}

/* ---- xAPIC MMIO: every register ------------------------------------------------------------ */

struct rwcase {
	uint32_t off;
	uint32_t write;
	uint32_t want;
	const char *name;
};

/* Writable registers, written with all ones (SDM figure 10-8, 10.4.7, 10.6.1...). */
static const struct rwcase rw_cases[] = {
	{APIC_OFF_TPR, 0xffffffffu, 0xff, "TPR keeps bits 7:0"},
	{APIC_OFF_LDR, 0xffffffffu, 0xff000000u, "LDR keeps bits 31:24"},
	{APIC_OFF_DFR, 0x00000000u, 0x0fffffffu, "DFR: model bits writable, 27:0 read as ones"},
	{APIC_OFF_DFR, 0xffffffffu, 0xffffffffu, "DFR back to flat"},
	{APIC_OFF_SVR, 0xffffffffu, 0x13ffu, "SVR keeps vector, enable, focus, EOI-broadcast suppression"},
	{APIC_OFF_LVT_CMCI, 0xffffffffu, 0x107ffu, "LVT CMCI: vector, DM, mask"},
	{APIC_OFF_LVT_TIMER, 0xffffffffu, 0x700ffu, "LVT timer: vector, mask, timer mode"},
	{APIC_OFF_LVT_THERMAL, 0xffffffffu, 0x107ffu, "LVT thermal: vector, DM, mask"},
	{APIC_OFF_LVT_PMC, 0xffffffffu, 0x107ffu, "LVT PMC: vector, DM, mask"},
	{APIC_OFF_LVT_LINT0, 0xffffffffu, 0x1a7ffu, "LVT LINT0: no delivery status, no remote IRR"},
	{APIC_OFF_LVT_LINT1, 0xffffffffu, 0x1a7ffu, "LVT LINT1: no delivery status, no remote IRR"},
	{APIC_OFF_LVT_ERROR, 0xffffffffu, 0x100ffu, "LVT error: vector, mask"},
	{APIC_OFF_LVT_TIMER, 0x000200efu, 0x000200efu, "LVT timer unmasked periodic"},
	{APIC_OFF_LVT_LINT0, 0x00000700u, 0x00000700u, "LVT LINT0 ExtINT unmasked"},
	{APIC_OFF_ICR_HI, 0xffffffffu, 0xff000000u, "ICR high keeps the destination byte"},
	{APIC_OFF_ICR_LO, 0xffffffffu, ICR_LO_RW, "ICR low: delivery status and reserved bits read 0"},
	{APIC_OFF_TIMER_ICR, 0xffffffffu, 0xffffffffu, "timer initial count"},
	{APIC_OFF_TIMER_DCR, 0xffffffffu, 0x0000000bu, "timer divide configuration bits 3,1,0"},
};

/* Offsets that take a write in xAPIC mode (everything else is read-only or absent). */
static bool xapic_writable(uint32_t off)
{
	switch (off) {
	case APIC_OFF_ID:
	case APIC_OFF_TPR:
	case APIC_OFF_EOI:
	case APIC_OFF_LDR:
	case APIC_OFF_DFR:
	case APIC_OFF_SVR:
	case APIC_OFF_ESR:
	case APIC_OFF_LVT_CMCI:
	case APIC_OFF_ICR_LO:
	case APIC_OFF_ICR_HI:
	case APIC_OFF_LVT_TIMER:
	case APIC_OFF_LVT_THERMAL:
	case APIC_OFF_LVT_PMC:
	case APIC_OFF_LVT_LINT0:
	case APIC_OFF_LVT_LINT1:
	case APIC_OFF_LVT_ERROR:
	case APIC_OFF_TIMER_ICR:
	case APIC_OFF_TIMER_DCR:
		return true;
	default:
		return false;
	}
}

static void test_mmio_registers(void)
{
	struct fx *f = fx_new(5, false, true, 36);
	struct vlapic *vl = f->vl;

	wr(vl, APIC_OFF_SVR, 0x1ff); /* software-enable so LVT masks can clear */
	CHECK_EQ(rd(vl, APIC_OFF_SVR), 0x1ff, "mmio: SVR enable");
	for (unsigned i = 0; i < ARRAY_SIZE(rw_cases); i++) {
		const struct rwcase *c = &rw_cases[i];
		if (c->off == APIC_OFF_SVR) {
			wr(vl, c->off, c->write);
			CHECK_EQ(rd(vl, c->off), c->want, "mmio: %s", c->name);
			wr(vl, APIC_OFF_SVR, 0x1ff);
			continue;
		}
		wr(vl, c->off, c->write);
		CHECK_EQ(rd(vl, c->off), c->want, "mmio: %s", c->name);
		CHECK_EQ(vlapic_peek(vl, c->off), c->want, "mmio: peek agrees (%s)", c->name);
	}
	CHECK_EQ(f->nicr, 1, "mmio: only the ICR low write sent an IPI");
	CHECK(!(rd(vl, APIC_OFF_ICR_LO) & APIC_ICR_DELIVERY_PENDING), "mmio: ICR delivery status reads idle");
	wr(vl, APIC_OFF_TPR, 0);

	/* EOI is write-only: reads 0 after a write. */
	wr(vl, APIC_OFF_EOI, 0x12345678u);
	CHECK_EQ(rd(vl, APIC_OFF_EOI), 0, "mmio: EOI reads 0");

	/* Read-only registers and holes: a write of all ones changes nothing anywhere. */
	unsigned bad = 0, badholes = 0, nro = 0;
	uint32_t snap[APIC_PAGE_SIZE / 16];
	for (uint32_t off = 0; off < APIC_PAGE_SIZE; off += 16)
		snap[off / 16] = vlapic_peek(vl, off);
	unsigned nicr0 = f->nicr;
	for (uint32_t off = 0; off < APIC_PAGE_SIZE; off += 16) {
		if (xapic_writable(off))
			continue;
		nro++;
		wr(vl, off, 0xffffffffu);
		wr(vl, off, 0);
		for (uint32_t o = 0; o < APIC_PAGE_SIZE; o += 16)
			if (vlapic_peek(vl, o) != snap[o / 16]) {
				bad++;
				printf("#   write to 0x%03x changed 0x%03x: 0x%x -> 0x%x\n", off, o,
				       snap[o / 16], vlapic_peek(vl, o));
				snap[o / 16] = vlapic_peek(vl, o);
			}
		bool hole = off < APIC_OFF_ID || (off > APIC_OFF_VER && off < APIC_OFF_TPR) ||
			    (off > APIC_OFF_ESR && off < APIC_OFF_LVT_CMCI) ||
			    (off > APIC_OFF_TIMER_CCR && off < APIC_OFF_TIMER_DCR) ||
			    off > APIC_OFF_TIMER_DCR;
		if (hole && rd(vl, off) != 0)
			badholes++;
	}
	CHECK(nro > 200, "mmio: %u read-only or absent offsets probed", nro);
	CHECK_EQ(bad, 0, "mmio: writes to read-only registers and holes change nothing");
	CHECK_EQ(badholes, 0, "mmio: holes (and SELF_IPI in xAPIC mode) read 0");
	CHECK_EQ(f->nicr, nicr0, "mmio: no IPI from read-only writes (SELF_IPI offset inert in xAPIC mode)");
	CHECK_EQ(rd(vl, APIC_OFF_ID), 5u << 24, "mmio: ID unchanged by the other registers' writes");
	CHECK_EQ(rd(vl, APIC_OFF_VER), VER_WANT, "mmio: version is read-only");
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0, "mmio: PPR is read-only");
	{
		uint32_t ccr0 = rd(vl, APIC_OFF_TIMER_CCR); /* the test clock stands still */
		wr(vl, APIC_OFF_TIMER_CCR, 0x1234);
		CHECK_EQ(rd(vl, APIC_OFF_TIMER_CCR), ccr0, "mmio: timer current count is read-only");
	}
	fx_free(f);
}

static void test_mmio_bad_access(void)
{
	struct fx *f = fx_new(1, false, true, 36);
	struct vlapic *vl = f->vl;
	uint64_t v;
	static const unsigned sizes[] = {0, 1, 2, 3, 8, 16};

	wr(vl, APIC_OFF_TPR, 0x20);
	wr(vl, APIC_OFF_ICR_HI, 0x02000000u);
	unsigned nz = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		v = ~0ULL;
		vlapic_mmio_read(vl, APIC_OFF_TPR, sizes[i], &v);
		nz += v != 0;
	}
	CHECK_EQ(nz, 0, "bad access: non-4-byte reads of TPR read 0");
	unsigned nz2 = 0;
	for (uint32_t o = 1; o < 16; o++) {
		v = ~0ULL;
		vlapic_mmio_read(vl, APIC_OFF_TPR + o, 4, &v);
		nz2 += v != 0;
		v = ~0ULL;
		vlapic_mmio_read(vl, APIC_OFF_ICR_HI + o, 4, &v);
		nz2 += v != 0;
	}
	CHECK_EQ(nz2, 0, "bad access: 4-byte reads not at a register's first dword read 0");
	static const uint32_t far[] = {0x1000, 0x1080, 0x10300, 0x7ffffff0u, 0xfffffff0u, 0xffffffffu};
	unsigned nz3 = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(far); i++) {
		v = ~0ULL;
		vlapic_mmio_read(vl, far[i], 4, &v);
		nz3 += v != 0;
		wr(vl, far[i], 0xffffffffu);
		vlapic_mmio_write(vl, far[i], 8, ~0ULL);
	}
	CHECK_EQ(nz3, 0, "bad access: offsets >= 0x1000 read 0");
	CHECK_EQ(vlapic_peek(vl, 0x1080), 0, "bad access: peek beyond the page reads 0");

	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		vlapic_mmio_write(vl, APIC_OFF_TPR, sizes[i], 0xff);
		vlapic_mmio_write(vl, APIC_OFF_ICR_LO, sizes[i], 0x4030);
		vlapic_mmio_write(vl, APIC_OFF_SVR, sizes[i], 0x1ff);
	}
	for (uint32_t o = 1; o < 16; o++) {
		vlapic_mmio_write(vl, APIC_OFF_TPR + o, 4, 0xff);
		vlapic_mmio_write(vl, APIC_OFF_ICR_LO + o, 4, 0x4030);
		vlapic_mmio_write(vl, APIC_OFF_SVR + o, 4, 0x1ff);
	}
	CHECK_EQ(rd(vl, APIC_OFF_TPR), 0x20, "bad access: odd-sized and unaligned writes leave TPR alone");
	CHECK_EQ(rd(vl, APIC_OFF_SVR), 0xff, "bad access: ... and SVR");
	CHECK_EQ(rd(vl, APIC_OFF_ICR_LO), 0, "bad access: ... and ICR low");
	CHECK_EQ(rd(vl, APIC_OFF_ICR_HI), 0x02000000u, "bad access: ... and ICR high");
	CHECK_EQ(f->nicr, 0, "bad access: no IPI from a malformed ICR write");
	CHECK_EQ(vlapic_peek(vl, APIC_OFF_TPR), 0x20,
		 "bad access: writes >= 0x1000 do not alias into the page");
	fx_free(f);
}

/* ---- IA32_APIC_BASE (SDM 10.4.4, 10.12.5) -------------------------------------------------- */

enum amode { M_OFF, M_XAPIC, M_X2APIC, M_INVALID };
static const char *const amode_name[] = {"disabled", "xAPIC", "x2APIC", "EN=0,EXTD=1"};

static uint64_t amode_bits(enum amode m)
{
	switch (m) {
	case M_OFF:
		return 0;
	case M_XAPIC:
		return APIC_BASE_EN;
	case M_X2APIC:
		return APIC_BASE_EN | APIC_BASE_EXTD;
	default:
		return APIC_BASE_EXTD;
	}
}

static int go_mode(struct fx *f, enum amode m)
{
	switch (m) {
	case M_OFF:
		return vlapic_set_apicbase(f->vl, BASE_OFF);
	case M_XAPIC:
		return 0;
	case M_X2APIC:
		return to_x2(f);
	default:
		return -1;
	}
}

static void test_apicbase_transitions(void)
{
	/* SDM figure 10-27: legal[from][to]. */
	static const bool legal[3][4] = {
		/* to:     off    xAPIC  x2APIC invalid */
		/* off */ {true, true, false, false},
		/* xAPIC */ {true, true, true, false},
		/* x2APIC */ {true, false, true, false},
	};
	for (unsigned from = 0; from < 3; from++)
		for (unsigned to = 0; to < 4; to++) {
			struct fx *f = fx_new(0x42, false, true, 36);
			CHECK_EQ(go_mode(f, from), 0, "apicbase: reach %s", amode_name[from]);
			uint64_t before = vlapic_get_apicbase(f->vl);
			uint64_t val = 0xfee00000ULL | amode_bits(to);
			int r = vlapic_set_apicbase(f->vl, val);
			if (legal[from][to]) {
				CHECK_EQ(r, 0, "apicbase: %s -> %s is legal", amode_name[from],
					 amode_name[to]);
				CHECK_EQ(vlapic_get_apicbase(f->vl), val, "apicbase: %s -> %s reads back",
					 amode_name[from], amode_name[to]);
			} else {
				CHECK_EQ(r, -EINVAL, "apicbase: %s -> %s is #GP", amode_name[from],
					 amode_name[to]);
				CHECK_EQ(vlapic_get_apicbase(f->vl), before,
					 "apicbase: %s -> %s leaves the base", amode_name[from],
					 amode_name[to]);
			}
			uint64_t now = vlapic_get_apicbase(f->vl);
			bool x2 = (now & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
			bool xa = (now & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EN;
			CHECK(vlapic_x2apic_mode(f->vl) == x2 && f->pub.x2apic == x2 &&
				      vlapic_mmio_base(f->vl) == (xa ? 0xfee00000ULL : 0),
			      "apicbase: %s -> %s: mode, MMIO base and published mode agree",
			      amode_name[from], amode_name[to]);
			fx_free(f);
		}
}

static void test_apicbase_bits(void)
{
	struct fx *f = fx_new(2, false, true, 36);
	struct vlapic *vl = f->vl;
	unsigned bad = 0;
	for (unsigned b = 0; b < 64; b++) {
		bool reserved = b < 8 || b == 9 || b >= 36;
		int r = vlapic_set_apicbase(vl, BASE_AP | (1ULL << b));
		if (reserved != (r == -EINVAL)) {
			bad++;
			printf("#   bit %u: got %d\n", b, r);
		}
		if (r == 0)
			vlapic_set_apicbase(vl, BASE_AP); /* undo; x2APIC -> xAPIC is illegal: via disabled */
		if (vlapic_get_apicbase(vl) != BASE_AP) {
			vlapic_set_apicbase(vl, BASE_OFF);
			vlapic_set_apicbase(vl, BASE_AP);
		}
	}
	CHECK_EQ(bad, 0, "apicbase: bits 7:0, 9 and 63:36 are reserved with MAXPHYADDR 36 (SDM fig. 10-26)");
	fx_free(f);

	f = fx_new(2, false, true, 39);
	CHECK_EQ(vlapic_set_apicbase(f->vl, BASE_AP | (1ULL << 39)), -EINVAL,
		 "apicbase: MAXPHYADDR 39: bit 39 reserved");
	CHECK_EQ(vlapic_set_apicbase(f->vl, (1ULL << 38) | 0xfee00800ULL), 0,
		 "apicbase: MAXPHYADDR 39: bit 38 is address");
	CHECK_EQ(vlapic_mmio_base(f->vl), (1ULL << 38) | 0xfee00000ULL, "apicbase: relocated MMIO base");
	fx_free(f);

	f = fx_new(2, false, true, 0); /* implausible MAXPHYADDR: 36 is assumed */
	CHECK_EQ(vlapic_set_apicbase(f->vl, BASE_AP | (1ULL << 36)), -EINVAL,
		 "apicbase: bad MAXPHYADDR defaults to 36");
	CHECK_EQ(vlapic_set_apicbase(f->vl, BASE_AP | (1ULL << 35)), 0, "apicbase: ... bit 35 is address");
	fx_free(f);

	f = fx_new(3, false, true, 36);
	CHECK_EQ(vlapic_set_apicbase(f->vl, 0xfed00800ULL), 0, "apicbase: xAPIC relocation");
	CHECK_EQ(vlapic_mmio_base(f->vl), 0xfed00000ULL, "apicbase: MMIO base follows");
	fx_free(f);

	/* EXTD when the CPUID does not offer x2APIC is reserved. */
	f = fx_new(3, false, false, 36);
	CHECK_EQ(vlapic_set_apicbase(f->vl, BASE_X2), -EINVAL, "apicbase: EXTD #GP without x2APIC in CPUID");
	CHECK_EQ(vlapic_get_apicbase(f->vl), BASE_AP, "apicbase: ... base unchanged");
	CHECK(!vlapic_x2apic_mode(f->vl), "apicbase: ... still xAPIC");
	uint64_t v;
	CHECK_EQ(vlapic_rdmsr(f->vl, 0x802, &v), -EINVAL, "apicbase: ... x2APIC MSRs #GP");
	fx_free(f);

	/* The BSP flag is read-only. */
	struct fx *bsp = fx_new(0, true, true, 36), *ap = fx_new(1, false, true, 36);
	CHECK_EQ(vlapic_set_apicbase(ap->vl, BASE_BSP), 0, "apicbase: AP writing BSP=1 is accepted");
	CHECK_EQ(vlapic_get_apicbase(ap->vl), BASE_AP, "apicbase: ... but the AP does not become BSP");
	CHECK_EQ(vlapic_set_apicbase(bsp->vl, BASE_AP), 0, "apicbase: BSP writing BSP=0 is accepted");
	CHECK_EQ(vlapic_get_apicbase(bsp->vl), BASE_BSP, "apicbase: ... but it stays the BSP");
	CHECK_EQ(vlapic_set_apicbase(bsp->vl, BASE_OFF), 0, "apicbase: BSP global disable");
	CHECK_EQ(vlapic_get_apicbase(bsp->vl), BASE_OFF | APIC_BASE_BSP, "apicbase: ... keeps BSP");
	fx_free(bsp);
	fx_free(ap);
}

/* Global disable (SDM 10.4.3): the APIC returns to its power-up state. */
static void test_apicbase_disable_resets(void)
{
	struct fx *f = fx_new(7, false, true, 36);
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_SVR, 0x1ff);
	wr(vl, APIC_OFF_TPR, 0x30);
	wr(vl, APIC_OFF_LDR, 0x04000000u);
	wr(vl, APIC_OFF_DFR, 0x0fffffffu);
	wr(vl, APIC_OFF_LVT_TIMER, 0x40);
	wr(vl, APIC_OFF_TIMER_ICR, 1000);
	wr(vl, APIC_OFF_ICR_HI, 0x01000000u);
	vlapic_set_intr(vl, 0x50, true);
	vlapic_set_intr(vl, 0x60, false);
	vlapic_intr_accepted(vl, 0x60);
	vlapic_set_error(vl, APIC_ESR_ILLEGAL_REG);
	wr(vl, APIC_OFF_ESR, 0);
	CHECK(rd(vl, APIC_OFF_ESR) != 0 && rd(vl, APIC_OFF_PPR) == 0x60 && f->pub.sw_enabled,
	      "disable: state set up");

	CHECK_EQ(vlapic_set_apicbase(vl, BASE_OFF), 0, "disable: global disable");
	CHECK_EQ(vlapic_mmio_base(vl), 0, "disable: MMIO interface off");
	CHECK_EQ(f->pub.sw_enabled, 0, "disable: published as not enabled");
	CHECK(!vlapic_set_intr(vl, 0x70, false), "disable: interrupts refused while globally disabled");
	CHECK_EQ(vlapic_pending_intr(vl), -1, "disable: nothing pending");
	uint64_t v;
	CHECK_EQ(vlapic_rdmsr(vl, 0x808, &v), -EINVAL, "disable: x2APIC MSR read #GP");
	CHECK_EQ(vlapic_wrmsr(vl, 0x808, 0), -EINVAL, "disable: x2APIC MSR write #GP");
	wr(vl, APIC_OFF_TPR, 0x50); /* the MMIO page is off: must not land */
	CHECK_EQ(vlapic_set_apicbase(vl, BASE_AP), 0, "disable: re-enable xAPIC");
	check_poweron_regs(f, 7, "after global disable");

	/* From x2APIC: disable, re-enable: the ID is in xAPIC format again. */
	CHECK_EQ(to_x2(f), 0, "disable x2: enter x2APIC");
	CHECK_EQ(vlapic_wrmsr(vl, 0x808, 0x40), 0, "disable x2: TPR via MSR");
	CHECK_EQ(vlapic_wrmsr(vl, 0x80f, 0x1ff), 0, "disable x2: SVR via MSR");
	CHECK_EQ(vlapic_set_apicbase(vl, BASE_OFF), 0, "disable x2: x2APIC -> disabled");
	CHECK_EQ(vlapic_set_apicbase(vl, BASE_AP), 0, "disable x2: disabled -> xAPIC");
	check_poweron_regs(f, 7, "after x2APIC global disable");
	fx_free(f);
}

/* Entering x2APIC (SDM 10.12.5.1): ID is the 32-bit x2APIC ID, LDR derived, other state kept. */
static void test_enter_x2apic(void)
{
	struct fx *f = fx_new(0x123, false, true, 36), *g = fx_new(0x10, false, true, 36);
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_SVR, 0x1ff);
	wr(vl, APIC_OFF_TPR, 0x20);
	wr(vl, APIC_OFF_LDR, 0x01000000u);
	wr(vl, APIC_OFF_LVT_LINT0, 0x700);
	CHECK_EQ(to_x2(f), 0, "x2 enter: xAPIC -> x2APIC");
	CHECK(vlapic_x2apic_mode(vl), "x2 enter: in x2APIC mode");
	CHECK_EQ(vlapic_mmio_base(vl), 0, "x2 enter: MMIO interface off");
	CHECK_EQ(rdmsr_or(vl, 0x802, 0xdead), 0x123, "x2 enter: ID = 32-bit x2APIC ID");
	uint32_t ldr = ((0x123u >> 4) << 16) | (1u << (0x123 & 0xf));
	CHECK_EQ(rdmsr_or(vl, 0x80d, 0xdead), ldr, "x2 enter: LDR derived = 0x%x", ldr);
	CHECK_EQ(apic_x2apic_ldr(0x123), ldr, "x2 enter: apic_x2apic_ldr agrees");
	CHECK_EQ(rdmsr_or(vl, 0x808, 0xdead), 0x20, "x2 enter: TPR kept");
	CHECK_EQ(rdmsr_or(vl, 0x80f, 0xdead), 0x1ff, "x2 enter: SVR kept");
	CHECK_EQ(rdmsr_or(vl, 0x835, 0xdead), 0x700, "x2 enter: LVT LINT0 kept");
	CHECK(f->pub.x2apic == 1 && f->pub.ldr == ldr && f->pub.id == 0x123, "x2 enter: published");
	/* The MMIO page is gone: writes through it do nothing. */
	wr(vl, APIC_OFF_TPR, 0x90);
	wr(vl, APIC_OFF_ICR_LO, 0x4030);
	CHECK_EQ(rdmsr_or(vl, 0x808, 0xdead), 0x20, "x2 enter: MMIO writes ignored in x2APIC mode");
	CHECK_EQ(f->nicr, 0, "x2 enter: no IPI through MMIO in x2APIC mode");
	CHECK_EQ(vlapic_set_apicbase(vl, BASE_AP), -EINVAL, "x2 enter: x2APIC -> xAPIC is #GP");
	CHECK(vlapic_x2apic_mode(vl), "x2 enter: ... still x2APIC");
	CHECK_EQ(vlapic_set_apicbase(vl, BASE_X2), 0, "x2 enter: x2APIC -> x2APIC rewrite is fine");
	CHECK_EQ(rdmsr_or(vl, 0x808, 0xdead), 0x20, "x2 enter: ... and keeps the registers");

	/* Another id for the derived LDR: 0x10 -> cluster 1, bit 0. */
	CHECK_EQ(to_x2(g), 0, "x2 enter: second vlapic");
	CHECK_EQ(rdmsr_or(g->vl, 0x80d, 0), 0x00010001u, "x2 enter: id 0x10 -> LDR 0x00010001");
	CHECK_EQ(f->pub.ldr, ldr, "x2 enter: first vlapic's publication untouched");
	fx_free(f);
	fx_free(g);
}

/* ---- x2APIC MSRs (SDM 10.12.1.2, table 10-6; 10.12.1.3 reserved bits) ---------------------- */

enum { RD = 1, WR = 2, WR0 = 4 /* only 0 may be written */ };

static unsigned x2_access(uint32_t msr)
{
	switch (msr) {
	case 0x802:
	case 0x803:
	case 0x80a:
	case 0x80d:
	case 0x839:
		return RD;
	case 0x808:
	case 0x80f:
	case 0x82f:
	case 0x830:
	case 0x832:
	case 0x833:
	case 0x834:
	case 0x835:
	case 0x836:
	case 0x837:
	case 0x838:
	case 0x83e:
		return RD | WR;
	case 0x80b:
		return WR | WR0;
	case 0x828:
		return RD | WR | WR0;
	case 0x83f:
		return WR;
	default:
		if (msr >= 0x810 && msr <= 0x827)
			return RD; /* ISR, TMR, IRR */
		return 0;
	}
}

static void test_x2apic_msrs(void)
{
	struct fx *f = fx_new(0x123, false, true, 36);
	struct vlapic *vl = f->vl;
	uint64_t v;

	/* Not in x2APIC mode: every MSR is #GP, in both directions. */
	unsigned ok = 0;
	for (uint32_t m = MSR_X2APIC_FIRST; m <= MSR_X2APIC_LAST; m++) {
		ok += vlapic_rdmsr(vl, m, &v) != -EINVAL;
		ok += vlapic_wrmsr(vl, m, 0) != -EINVAL;
	}
	CHECK_EQ(ok, 0, "x2 msr: every access #GP in xAPIC mode");
	CHECK_EQ(f->nicr, 0, "x2 msr: ... and no IPI");

	CHECK_EQ(to_x2(f), 0, "x2 msr: enter x2APIC");
	CHECK_EQ(vlapic_wrmsr(vl, 0x80f, 0x1ff), 0, "x2 msr: software-enable");

	unsigned badrd = 0, badwr = 0;
	for (uint32_t m = MSR_X2APIC_FIRST; m <= MSR_X2APIC_LAST; m++) {
		unsigned a = x2_access(m);
		v = 0x5a5a;
		int r = vlapic_rdmsr(vl, m, &v);
		if ((a & RD) ? r != 0 : r != -EINVAL) {
			badrd++;
			printf("#   rdmsr 0x%x: %d\n", m, r);
		}
		if (m == 0x80f)
			continue; /* writing SVR 0 would software-disable; checked below */
		uint64_t before = rdmsr_or(vl, m, 0);
		r = vlapic_wrmsr(vl, m, 0);
		if ((a & WR) ? r != 0 : r != -EINVAL) {
			badwr++;
			printf("#   wrmsr 0x%x, 0: %d\n", m, r);
		}
		if (!(a & WR) && rdmsr_or(vl, m, 0) != before) {
			badwr++;
			printf("#   wrmsr 0x%x changed a read-only register\n", m);
		}
	}
	CHECK_EQ(badrd, 0, "x2 msr: RDMSR #GP exactly for EOI, SELF_IPI and absent registers");
	CHECK_EQ(badwr, 0, "x2 msr: WRMSR #GP exactly for read-only and absent registers");
	CHECK_EQ(f->nicr, 2, "x2 msr: the sweep sent 2 IPIs (ICR and SELF_IPI)");
	static const uint32_t gone[] = {0x809, 0x80c, 0x80e, 0x831};
	for (unsigned i = 0; i < ARRAY_SIZE(gone); i++)
		CHECK(vlapic_rdmsr(vl, gone[i], &v) == -EINVAL && vlapic_wrmsr(vl, gone[i], 0) == -EINVAL,
		      "x2 msr: 0x%x (APR/RRD/DFR/ICR2) does not exist", gone[i]);
	CHECK(vlapic_rdmsr(vl, 0x7ff, &v) == -EINVAL && vlapic_wrmsr(vl, 0x900, 0) == -EINVAL &&
		      vlapic_rdmsr(vl, MSR_IA32_APIC_BASE, &v) == -EINVAL,
	      "x2 msr: MSRs outside 0x800-0x8ff are not the vlapic's");

	/* Read-only registers #GP on write with any value (ID, LDR, VER, PPR, ISR/TMR/IRR, CCR). */
	static const uint32_t ro[] = {0x802, 0x803, 0x80a, 0x80d, 0x810, 0x818, 0x820, 0x827, 0x839};
	for (unsigned i = 0; i < ARRAY_SIZE(ro); i++) {
		uint64_t before = rdmsr_or(vl, ro[i], 0);
		CHECK_EQ(vlapic_wrmsr(vl, ro[i], before), -EINVAL, "x2 msr: write to read-only 0x%x #GP",
			 ro[i]);
		CHECK_EQ(rdmsr_or(vl, ro[i], ~0ULL), before, "x2 msr: ... 0x%x unchanged", ro[i]);
	}
	CHECK_EQ(rdmsr_or(vl, 0x802, 0), 0x123, "x2 msr: ID reads the full x2APIC ID");
	CHECK_EQ(rdmsr_or(vl, 0x80d, 0), apic_x2apic_ldr(0x123), "x2 msr: LDR = ((id>>4)<<16)|(1<<(id&15))");
	CHECK_EQ(rdmsr_or(vl, 0x803, 0), VER_WANT, "x2 msr: version");

	/* Writable registers round-trip; reserved bits #GP and change nothing (SDM 10.12.1.3). */
	struct {
		uint32_t msr;
		uint64_t good, bad;
		const char *name;
	} rw[] = {
		{0x808, 0x45, 0x145, "TPR"},
		{0x808, 0x45, 1ULL << 32, "TPR high half"},
		{0x80f, 0x13ff, 0x21ff, "SVR (bit 13 reserved)"},
		{0x832, 0x200ef, 0x800ef, "LVT timer"},
		{0x835, 0xa7ff, 0x20000, "LVT LINT0 bit 17"},
		{0x837, 0x100ef, 0x100ef | 0x700, "LVT error delivery mode"},
		{0x833, 0x104ff, 0x104ff | (1u << 13), "LVT thermal polarity"},
		{0x838, 0xffffffffu, 1ULL << 40, "timer initial count"},
		{0x83e, 0xb, 0x4, "timer divide bit 2"},
		{0x83f, 0x41, 0x141, "SELF_IPI vector only"},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(rw); i++) {
		CHECK_EQ(vlapic_wrmsr(vl, rw[i].msr, rw[i].good), 0, "x2 msr: %s write 0x%llx", rw[i].name,
			 (unsigned long long)rw[i].good);
		uint64_t before = rdmsr_or(vl, rw[i].msr, 0);
		if (rw[i].msr != 0x83f)
			CHECK_EQ(before, rw[i].good, "x2 msr: %s reads back", rw[i].name);
		unsigned n0 = f->nicr;
		CHECK_EQ(vlapic_wrmsr(vl, rw[i].msr, rw[i].bad), -EINVAL, "x2 msr: %s reserved bits #GP",
			 rw[i].name);
		CHECK_EQ(rdmsr_or(vl, rw[i].msr, 0), before, "x2 msr: %s unchanged after #GP", rw[i].name);
		CHECK_EQ(f->nicr, n0, "x2 msr: %s: no IPI from a #GP write", rw[i].name);
	}
	vlapic_wrmsr(vl, 0x808, 0);

	/* EOI and ESR: only 0 may be written. */
	CHECK(vlapic_set_intr(vl, 0x40, false), "x2 msr: raise 0x40");
	vlapic_intr_accepted(vl, 0x40);
	CHECK_EQ(vlapic_wrmsr(vl, 0x80b, 1), -EINVAL, "x2 msr: non-zero EOI #GP");
	CHECK(bank_bit(vl, APIC_OFF_ISR0, 0x40), "x2 msr: ... ISR untouched");
	CHECK_EQ(vlapic_wrmsr(vl, 0x80b, 0), 0, "x2 msr: EOI 0");
	CHECK(!bank_bit(vl, APIC_OFF_ISR0, 0x40), "x2 msr: ... ISR cleared");
	CHECK_EQ(vlapic_rdmsr(vl, 0x80b, &v), -EINVAL, "x2 msr: EOI read #GP");
	vlapic_set_error(vl, APIC_ESR_SEND_ILLEGAL_VECTOR);
	CHECK_EQ(vlapic_wrmsr(vl, 0x828, 0x20), -EINVAL, "x2 msr: non-zero ESR write #GP");
	CHECK_EQ(rdmsr_or(vl, 0x828, ~0ULL), 0, "x2 msr: ... did not latch");
	CHECK_EQ(vlapic_wrmsr(vl, 0x828, 0), 0, "x2 msr: ESR write 0 latches");
	CHECK_EQ(rdmsr_or(vl, 0x828, ~0ULL), APIC_ESR_SEND_ILLEGAL_VECTOR,
		 "x2 msr: ESR reads the latched error");

	/* ICR: one 64-bit WRMSR, destination in 63:32 (SDM 10.12.9). */
	unsigned n0 = f->nicr;
	uint64_t icr = (0x12345678ULL << 32) | 0x000c4630u;
	CHECK_EQ(vlapic_wrmsr(vl, 0x830, icr), 0, "x2 icr: write");
	CHECK(f->nicr == n0 + 1 && f->lo == 0x000c4630u && f->hi == 0x12345678u && f->icr_vl == vl,
	      "x2 icr: callback once with lo 0x000c4630, hi 0x12345678");
	CHECK_EQ(rdmsr_or(vl, 0x830, 0), icr, "x2 icr: reads back 64 bits, delivery status idle");
	static const uint32_t icr_rsvd[] = {1u << 12, 1u << 13, 1u << 16, 1u << 17, 1u << 20, 1u << 31};
	for (unsigned i = 0; i < ARRAY_SIZE(icr_rsvd); i++) {
		n0 = f->nicr;
		CHECK_EQ(vlapic_wrmsr(vl, 0x830, 0x30 | icr_rsvd[i]), -EINVAL,
			 "x2 icr: reserved bit 0x%x #GP", icr_rsvd[i]);
		CHECK_EQ(f->nicr, n0, "x2 icr: ... sends nothing");
	}
	CHECK_EQ(rdmsr_or(vl, 0x830, 0), icr, "x2 icr: unchanged by the #GP writes");
	CHECK_EQ(vlapic_wrmsr(vl, 0x830, 0xffffffff00000000ULL | ICR_LO_RW), 0, "x2 icr: all defined bits");
	CHECK(f->lo == ICR_LO_RW && f->hi == 0xffffffffu, "x2 icr: all defined bits reach the callback");

	/* SELF_IPI: a FIXED IPI to self (smp-spec 2.5). */
	n0 = f->nicr;
	CHECK_EQ(vlapic_wrmsr(vl, 0x83f, 0xe5), 0, "x2 self: write vector 0xe5");
	CHECK(f->nicr == n0 + 1 && f->lo == (0xe5u | ICR_SH_SELF) && f->hi == 0,
	      "x2 self: icr_lo = vector | shorthand SELF (0x%x), hi 0", f->lo);
	CHECK_EQ(vlapic_rdmsr(vl, 0x83f, &v), -EINVAL, "x2 self: read #GP");
	CHECK_EQ(rdmsr_or(vl, 0x830, 0), 0xffffffff00000000ULL | ICR_LO_RW,
		 "x2 self: does not touch the ICR");
	fx_free(f);
}

/* ---- ESR (SDM 10.5.3) ------------------------------------------------------------------------ */

static void test_esr(void)
{
	struct fx *f = fx_new(4, false, true, 36);
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_SVR, 0x1ff);
	vlapic_set_error(vl, APIC_ESR_SEND_ILLEGAL_VECTOR);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), 0, "esr: an error is not readable before an ESR write");
	wr(vl, APIC_OFF_ESR, 0x12345678u);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), APIC_ESR_SEND_ILLEGAL_VECTOR,
		 "esr: the write latches it (value ignored)");
	vlapic_set_error(vl, APIC_ESR_ILLEGAL_REG);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), APIC_ESR_SEND_ILLEGAL_VECTOR,
		 "esr: new errors wait for the next write");
	CHECK(!vlapic_set_intr(vl, 7, false), "esr: vector 7 is refused");
	CHECK(bank_empty(vl, APIC_OFF_IRR0), "esr: ... and not in IRR");
	wr(vl, APIC_OFF_ESR, 0);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), APIC_ESR_ILLEGAL_REG | APIC_ESR_RECV_ILLEGAL_VECTOR,
		 "esr: errors accumulate (illegal register | receive illegal vector 0x40)");
	wr(vl, APIC_OFF_ESR, 0);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), 0, "esr: a write with no new errors clears it");
	CHECK(!vlapic_set_intr(vl, 0, true) && !vlapic_set_intr(vl, 15, false),
	      "esr: vectors 0 and 15 refused");
	CHECK(vlapic_set_intr(vl, 16, false), "esr: vector 16 accepted");
	wr(vl, APIC_OFF_ESR, 0);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), APIC_ESR_RECV_ILLEGAL_VECTOR, "esr: receive illegal vector is bit 6");
	CHECK(bank_bit(vl, APIC_OFF_IRR0, 16) && !bank_bit(vl, APIC_OFF_IRR0, 15) &&
		      !bank_bit(vl, APIC_OFF_IRR0, 0),
	      "esr: only vector 16 in IRR");
	fx_free(f);
}

/* ---- interrupts, priorities, EOI (SDM 10.8) ------------------------------------------------ */

static void test_priority(void)
{
	struct fx *f = fx_new(9, false, true, 36), *g = fx_new(10, false, true, 36);
	struct vlapic *vl = f->vl;

	CHECK(!vlapic_set_intr(vl, 0x40, false), "prio: refused while software-disabled (SVR[8]=0)");
	CHECK(bank_empty(vl, APIC_OFF_IRR0), "prio: ... IRR untouched");
	wr(vl, APIC_OFF_SVR, 0x1ff);
	wr(g->vl, APIC_OFF_SVR, 0x1ff);

	wr(vl, APIC_OFF_TPR, 0x35);
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x35, "prio: PPR = TPR with no ISR");
	CHECK_EQ(f->pub.ppr, 0x35, "prio: published PPR");
	CHECK_EQ(vlapic_get_cr8(vl), 3, "prio: CR8 = TPR[7:4]");
	CHECK(vlapic_set_intr(vl, 0x31, false), "prio: accept 0x31");
	CHECK(bank_bit(vl, APIC_OFF_IRR0, 0x31) && !bank_bit(vl, APIC_OFF_TMR0, 0x31),
	      "prio: IRR set, TMR clear (edge)");
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: class 3 is not above PPR class 3");
	CHECK(vlapic_set_intr(vl, 0x41, true), "prio: accept 0x41 level");
	CHECK(bank_bit(vl, APIC_OFF_TMR0, 0x41), "prio: TMR set for level");
	CHECK_EQ(vlapic_pending_intr(vl), 0x41, "prio: 0x41 deliverable");
	vlapic_intr_accepted(vl, 0x41);
	CHECK(!bank_bit(vl, APIC_OFF_IRR0, 0x41) && bank_bit(vl, APIC_OFF_ISR0, 0x41),
	      "prio: accepted: IRR -> ISR");
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x40, "prio: PPR = ISRV class when above TPR (SDM 10.8.3.1)");
	CHECK_EQ(f->pub.ppr, 0x40, "prio: published PPR follows");
	CHECK(vlapic_set_intr(vl, 0x50, false) && vlapic_set_intr(vl, 0x4f, false),
	      "prio: accept 0x50, 0x4f");
	CHECK_EQ(vlapic_pending_intr(vl), 0x50, "prio: highest IRR wins");
	vlapic_intr_accepted(vl, 0x50);
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x50, "prio: nested: PPR 0x50");
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: 0x4f blocked by in-service 0x50");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(!bank_bit(vl, APIC_OFF_ISR0, 0x50) && bank_bit(vl, APIC_OFF_ISR0, 0x41),
	      "prio: EOI clears the highest ISR bit");
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x40, "prio: PPR back to 0x40");
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: 0x4f same class as in-service 0x41: blocked");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(bank_empty(vl, APIC_OFF_ISR0), "prio: second EOI empties ISR");
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x35, "prio: PPR = TPR again");
	CHECK_EQ(vlapic_pending_intr(vl), 0x4f, "prio: 0x4f now deliverable");
	vlapic_intr_accepted(vl, 0x4f);
	wr(vl, APIC_OFF_EOI, 0);
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: 0x31 still below TPR");
	wr(vl, APIC_OFF_TPR, 0x47);
	vlapic_set_intr(vl, 0x44, false);
	vlapic_intr_accepted(vl, 0x44);
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x47, "prio: TPR class == ISRV class: PPR = TPR");
	wr(vl, APIC_OFF_EOI, 0);
	wr(vl, APIC_OFF_EOI, 0); /* EOI with nothing in service: harmless */
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0x47, "prio: spurious EOI changes nothing");

	/* CR8 <-> TPR (SDM 10.8.6.1). */
	vlapic_set_cr8(vl, 0xf);
	CHECK_EQ(rd(vl, APIC_OFF_TPR), 0xf0, "cr8: CR8 15 -> TPR 0xf0");
	CHECK_EQ(rd(vl, APIC_OFF_PPR), 0xf0, "cr8: PPR follows");
	CHECK_EQ(vlapic_get_cr8(vl), 0xf, "cr8: reads back");
	CHECK_EQ(vlapic_pending_intr(vl), -1, "cr8: everything blocked");
	vlapic_set_cr8(vl, 2);
	CHECK_EQ(rd(vl, APIC_OFF_TPR), 0x20, "cr8: CR8 2 -> TPR 0x20");
	CHECK_EQ(f->pub.ppr, 0x20, "cr8: published PPR follows");
	CHECK_EQ(vlapic_pending_intr(vl), 0x31, "cr8: 0x31 above class 2");
	vlapic_set_cr8(vl, 0);
	CHECK_EQ(vlapic_get_cr8(vl), 0, "cr8: 0");

	/* accepted for a vector not in IRR: nothing. */
	vlapic_intr_accepted(vl, 0x99);
	CHECK(!bank_bit(vl, APIC_OFF_ISR0, 0x99), "prio: accepting a vector not requested does nothing");

	/* TMR follows the trigger of the latest acceptance. */
	vlapic_set_intr(vl, 0xfe, true);
	CHECK(bank_bit(vl, APIC_OFF_TMR0, 0xfe) && bank_bit(vl, APIC_OFF_IRR0, 0xfe),
	      "prio: vector 0xfe level");
	vlapic_set_intr(vl, 0xfe, false);
	CHECK(!bank_bit(vl, APIC_OFF_TMR0, 0xfe), "prio: re-raised edge clears TMR");
	CHECK_EQ(vlapic_pending_intr(vl), 0xfe, "prio: 0xfe highest");
	vlapic_intr_accepted(vl, 0xfe);
	CHECK(bank_bit(vl, APIC_OFF_ISR0, 0xfe), "prio: 0xfe (last word, bit 30) in service");

	/* Software-disable: pending interrupts are held. */
	wr(vl, APIC_OFF_SVR, 0xff);
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: nothing pending while software-disabled");
	CHECK(!vlapic_set_intr(vl, 0x80, false), "prio: new interrupts refused while software-disabled");
	wr(vl, APIC_OFF_SVR, 0x1ff);
	CHECK_EQ(vlapic_pending_intr(vl), -1, "prio: 0x31 still blocked by ISR 0xfe");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK_EQ(vlapic_pending_intr(vl), 0x31, "prio: held interrupt back after EOI");
	CHECK(bank_empty(g->vl, APIC_OFF_IRR0) && bank_empty(g->vl, APIC_OFF_ISR0) && g->pub.ppr == 0,
	      "prio: the second vlapic saw none of it");
	fx_free(f);
	fx_free(g);
}

/* ---- SVR software disable (SDM 10.4.7.2) --------------------------------------------------- */

static void test_svr(void)
{
	struct fx *f = fx_new(2, false, true, 36);
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_LVT_TIMER, 0x30);
	CHECK_EQ(rd(vl, APIC_OFF_LVT_TIMER), 0x10030, "svr: while disabled, an LVT cannot be unmasked");
	wr(vl, APIC_OFF_SVR, 0x1ff);
	CHECK_EQ(f->pub.sw_enabled, 1, "svr: enable published");
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++)
		wr(vl, lvt_offs[i], 0x40 + i);
	unsigned unmasked = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++)
		unmasked += rd(vl, lvt_offs[i]) == 0x40 + i;
	CHECK_EQ(unmasked, 7, "svr: enabled: all 7 LVTs unmask");
	wr(vl, APIC_OFF_SVR, 0x0ff);
	CHECK_EQ(f->pub.sw_enabled, 0, "svr: disable published");
	unsigned ok = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(lvt_offs); i++)
		ok += rd(vl, lvt_offs[i]) == (APIC_LVT_MASKED | (0x40 + i));
	CHECK_EQ(ok, 7, "svr: software disable masks every LVT (vectors kept)");
	wr(vl, APIC_OFF_LVT_LINT0, 0x700);
	CHECK_EQ(rd(vl, APIC_OFF_LVT_LINT0), APIC_LVT_MASKED | 0x700, "svr: unmask refused while disabled");
	wr(vl, APIC_OFF_SVR, 0x1ff);
	CHECK(lvts_masked(vl), "svr: re-enabling leaves them masked");
	wr(vl, APIC_OFF_LVT_LINT0, 0x700);
	CHECK_EQ(rd(vl, APIC_OFF_LVT_LINT0), 0x700, "svr: re-enabled: unmask works");

	/* Same through MSRs in x2APIC mode. */
	CHECK_EQ(to_x2(f), 0, "svr x2: enter");
	CHECK_EQ(vlapic_wrmsr(vl, 0x80f, 0xff), 0, "svr x2: disable via MSR");
	CHECK(lvts_masked(vl), "svr x2: LVTs masked");
	CHECK_EQ(vlapic_wrmsr(vl, 0x835, 0x700), 0, "svr x2: LVT write accepted");
	CHECK_EQ(rdmsr_or(vl, 0x835, 0), 0x10700, "svr x2: ... but stays masked");
	fx_free(f);
}

/* ---- ICR (SDM 10.6.1; smp-spec 2.1) -------------------------------------------------------- */

static void test_icr_xapic(void)
{
	struct fx *a = fx_new(1, false, true, 36), *b = fx_new(2, false, true, 36);
	a->peer = b;
	wr(a->vl, APIC_OFF_SVR, 0x1ff);
	wr(b->vl, APIC_OFF_SVR, 0x1ff);

	wr(a->vl, APIC_OFF_ICR_HI, 0x02abcdefu);
	CHECK_EQ(a->nicr, 0, "icr: ICR high alone sends nothing");
	CHECK_EQ(rd(a->vl, APIC_OFF_ICR_HI), 0x02000000u, "icr: ICR high keeps 31:24");
	wr(a->vl, APIC_OFF_ICR_LO, 0x00004055u);
	CHECK(a->nicr == 1 && a->lo == 0x4055 && a->hi == 0x02000000u && a->icr_vl == a->vl,
	      "icr: ICR low sends once with lo 0x4055, hi 0x02000000 (got lo 0x%x hi 0x%x)", a->lo, a->hi);
	CHECK(bank_bit(b->vl, APIC_OFF_IRR0, 0x55) && !bank_bit(a->vl, APIC_OFF_IRR0, 0x55),
	      "icr: the peer (not the sender) got vector 0x55");
	CHECK_EQ(b->nicr, 0, "icr: the peer sent nothing");

	/* Delivery status (bit 12) is read-only and always idle. */
	wr(a->vl, APIC_OFF_ICR_LO, 0x00005030u);
	CHECK(!(a->lo & APIC_ICR_DELIVERY_PENDING), "icr: bit 12 written is not passed as pending (lo 0x%x)",
	      a->lo);
	CHECK_EQ(rd(a->vl, APIC_OFF_ICR_LO), 0x4030, "icr: bit 12 reads 0 after a write with it set");
	wr(a->vl, APIC_OFF_ICR_LO, 0xfff3a030u);
	CHECK_EQ(a->lo, 0xfff3a030u & ICR_LO_RW, "icr: reserved bits dropped before the callback");
	CHECK_EQ(rd(a->vl, APIC_OFF_ICR_LO), 0xfff3a030u & ICR_LO_RW, "icr: ... and read as 0");

	/* Rewriting ICR low resends with the stored destination. */
	unsigned n = a->nicr;
	wr(a->vl, APIC_OFF_ICR_LO, 0x000c4608u);
	CHECK(a->nicr == n + 1 && a->lo == 0x000c4608u && a->hi == 0x02000000u,
	      "icr: second send keeps ICR high");

	/* The callback runs with no vlapic lock held: it may re-enter. */
	a->reenter = true;
	wr(a->vl, APIC_OFF_ICR_LO, 0x4031);
	CHECK_EQ(a->reenter_icr, 0x4031, "icr: callback re-entered the vlapic and saw the new ICR");
	a->reenter = false;

	/* Two vlapics, each sending to the other. */
	b->peer = a;
	wr(b->vl, APIC_OFF_ICR_HI, 0x01000000u);
	wr(b->vl, APIC_OFF_ICR_LO, 0x4066);
	CHECK(b->nicr == 1 && b->hi == 0x01000000u && bank_bit(a->vl, APIC_OFF_IRR0, 0x66),
	      "icr: the second vlapic sends to the first");
	CHECK(rd(a->vl, APIC_OFF_ICR_HI) == 0x02000000u, "icr: the other vlapic's ICR is untouched");
	fx_free(a);
	fx_free(b);
}

/* ---- INIT (SDM 10.4.7.3) ------------------------------------------------------------------- */

static void test_init_reset(void)
{
	struct fx *f = fx_new(5, false, true, 36);
	struct vlapic *vl = f->vl;
	CHECK_EQ(vlapic_set_apicbase(vl, 0xfed00800ULL), 0, "init: relocate APIC base");
	wr(vl, APIC_OFF_SVR, 0x1ff);
	wr(vl, APIC_OFF_TPR, 0x40);
	wr(vl, APIC_OFF_LDR, 0x05000000u);
	wr(vl, APIC_OFF_DFR, 0x0fffffffu);
	wr(vl, APIC_OFF_LVT_LINT0, 0x700);
	wr(vl, APIC_OFF_TIMER_ICR, 1234);
	wr(vl, APIC_OFF_TIMER_DCR, 3);
	wr(vl, APIC_OFF_ICR_HI, 0x03000000u);
	wr(vl, APIC_OFF_ICR_LO, 0x4040);
	vlapic_set_intr(vl, 0x90, true);
	vlapic_intr_accepted(vl, 0x90);
	vlapic_set_intr(vl, 0xa0, false);
	vlapic_set_error(vl, APIC_ESR_ILLEGAL_REG);
	wr(vl, APIC_OFF_ESR, 0);
	vlapic_set_error(vl, APIC_ESR_SEND_ILLEGAL_VECTOR); /* pending, not latched */
	CHECK(f->pub.ldr == 0x05000000u && f->pub.dfr == 0x0fffffffu && f->pub.sw_enabled &&
		      f->pub.ppr == 0x90,
	      "init: state set up");

	vlapic_init_reset(vl);
	check_poweron_regs(f, 5, "init (xAPIC)");
	CHECK_EQ(vlapic_get_apicbase(vl), 0xfed00800ULL, "init: APIC base kept");
	wr(vl, APIC_OFF_ESR, 0);
	CHECK_EQ(rd(vl, APIC_OFF_ESR), 0, "init: pending errors dropped too");
	fx_free(f);

	/* x2APIC mode survives INIT; the derived LDR is kept. */
	f = fx_new(0x23, false, true, 36);
	vl = f->vl;
	CHECK_EQ(to_x2(f), 0, "init x2: enter x2APIC");
	vlapic_wrmsr(vl, 0x80f, 0x1ff);
	vlapic_wrmsr(vl, 0x808, 0x30);
	vlapic_wrmsr(vl, 0x830, (5ULL << 32) | 0x4030);
	vlapic_init_reset(vl);
	CHECK(vlapic_x2apic_mode(vl) && vlapic_get_apicbase(vl) == BASE_X2,
	      "init x2: still x2APIC, base kept");
	CHECK_EQ(rdmsr_or(vl, 0x802, 0), 0x23, "init x2: ID kept");
	CHECK_EQ(rdmsr_or(vl, 0x80d, 0), apic_x2apic_ldr(0x23), "init x2: LDR derived");
	CHECK_EQ(rdmsr_or(vl, 0x80f, 0), 0xff, "init x2: SVR 0xff");
	CHECK_EQ(rdmsr_or(vl, 0x808, ~0ULL), 0, "init x2: TPR 0");
	CHECK_EQ(rdmsr_or(vl, 0x830, ~0ULL), 0, "init x2: ICR 0");
	CHECK(lvts_all(vl, APIC_LVT_MASKED), "init x2: LVTs masked");
	CHECK(f->pub.x2apic == 1 && f->pub.ldr == apic_x2apic_ldr(0x23) && f->pub.id == 0x23 &&
		      f->pub.sw_enabled == 0 && f->pub.ppr == 0,
	      "init x2: published state");
	fx_free(f);
}

/* ---- published addressing state ----------------------------------------------------------- */

static void test_publish(void)
{
	struct fx *a = fx_new(3, false, true, 36), *b = fx_new(4, false, true, 36);
	wr(a->vl, APIC_OFF_LDR, 0x08000000u);
	CHECK_EQ(a->pub.ldr, 0x08000000u, "pub: LDR");
	wr(a->vl, APIC_OFF_DFR, 0);
	CHECK_EQ(a->pub.dfr, 0x0fffffffu, "pub: DFR (cluster model)");
	wr(a->vl, APIC_OFF_SVR, 0x1ff);
	CHECK_EQ(a->pub.sw_enabled, 1, "pub: SVR enable");
	wr(a->vl, APIC_OFF_TPR, 0x70);
	CHECK_EQ(a->pub.ppr, 0x70, "pub: PPR from TPR");
	vlapic_set_intr(a->vl, 0x99, false);
	vlapic_intr_accepted(a->vl, 0x99);
	CHECK_EQ(a->pub.ppr, 0x90, "pub: PPR from ISR");
	wr(a->vl, APIC_OFF_EOI, 0);
	CHECK_EQ(a->pub.ppr, 0x70, "pub: PPR after EOI");
	vlapic_set_cr8(a->vl, 1);
	CHECK_EQ(a->pub.ppr, 0x10, "pub: PPR after CR8");
	CHECK(b->pub.ldr == 0 && b->pub.dfr == 0xffffffffu && b->pub.sw_enabled == 0 && b->pub.ppr == 0 &&
		      b->pub.id == 4,
	      "pub: the other vlapic's slot is untouched");
	CHECK_EQ(to_x2(a), 0, "pub: enter x2APIC");
	CHECK(a->pub.x2apic == 1 && a->pub.ldr == apic_x2apic_ldr(3) && a->pub.id == 3,
	      "pub: x2APIC mode and derived LDR");
	CHECK_EQ(vlapic_set_apicbase(a->vl, BASE_OFF), 0, "pub: disable");
	CHECK(a->pub.x2apic == 0 && a->pub.ldr == 0 && a->pub.dfr == 0xffffffffu && a->pub.sw_enabled == 0 &&
		      a->pub.ppr == 0,
	      "pub: global disable publishes the reset state");
	fx_free(a);
	fx_free(b);
}

/* ---- fuzz: nothing a guest does may crash or break an invariant (smp-spec 2.6) ------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: deterministic, seedable */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned fuzz_invariants(struct fx *f)
{
	struct vlapic *vl = f->vl;
	unsigned bad = 0;
	uint64_t base = vlapic_get_apicbase(vl);
	bool en = base & APIC_BASE_EN, x2 = base & APIC_BASE_EXTD;
	bad += !en && x2; /* invalid state reached */
	bad += vlapic_x2apic_mode(vl) != (en && x2);
	bad += f->pub.x2apic != (en && x2);
	bad += (vlapic_peek(vl, APIC_OFF_ICR_LO) & ~ICR_LO_RW) != 0; /* incl. delivery status */
	uint32_t tpr = vlapic_peek(vl, APIC_OFF_TPR);
	bad += tpr > 0xff;
	int isrv = -1;
	for (int i = 7; i >= 0 && isrv < 0; i--) {
		uint32_t w = vlapic_peek(vl, APIC_OFF_ISR0 + (uint32_t)i * 16);
		if (w)
			isrv = i * 32 + 31 - __builtin_clz(w);
	}
	uint32_t cls = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	uint32_t ppr = (tpr & 0xf0) >= cls ? tpr : cls;
	bad += vlapic_peek(vl, APIC_OFF_PPR) != ppr;
	bad += f->pub.ppr != ppr;
	int p = vlapic_pending_intr(vl);
	bad += p != -1 && (p < 16 || p > 255 || ((uint32_t)p & 0xf0) <= (ppr & 0xf0));
	bad += vlapic_get_cr8(vl) != (tpr >> 4);
	if (en)
		bad += vlapic_peek(vl, APIC_OFF_ID) != (x2 ? f->pub.id : f->pub.id << 24);
	if (en && x2)
		bad += vlapic_peek(vl, APIC_OFF_LDR) != apic_x2apic_ldr(f->pub.id) ||
		       f->pub.ldr != apic_x2apic_ldr(f->pub.id);
	else
		bad += (vlapic_peek(vl, APIC_OFF_LDR) & 0x00ffffffu) != 0 ||
		       f->pub.ldr != vlapic_peek(vl, APIC_OFF_LDR);
	bad += vlapic_peek(vl, APIC_OFF_VER) != VER_WANT;
	if (!(vlapic_peek(vl, APIC_OFF_SVR) & APIC_SVR_ENABLE))
		bad += !lvts_masked(vl); /* SDM 10.4.7.2: software-disabled means every LVT masked */
	return bad;
}

/* KVM's PV EOI rules (lapic.c apic_sync_pv_eoi_to_guest): the highest
 * in-service vector may be ended through the guest's flag only with IRR
 * empty and its TMR bit clear; ending it is an EOI of that vector only. */
static void test_pv_eoi(void)
{
	struct fx *f = fx_new(0, true, true, 36);
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_SVR, 0x1ff);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), -1, "pv eoi: nothing in service: no flag");
	CHECK(vlapic_set_intr(vl, 0x40, false), "pv eoi: accept 0x40");
	CHECK_EQ(vlapic_pv_eoi_vector(vl), -1, "pv eoi: requested, not in service: no flag");
	vlapic_intr_accepted(vl, 0x40);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), 0x40, "pv eoi: lone edge vector in service: flag");
	CHECK(vlapic_set_intr(vl, 0x30, false), "pv eoi: accept 0x30 (below PPR: waits)");
	CHECK_EQ(vlapic_pv_eoi_vector(vl), -1, "pv eoi: anything in IRR: no flag (its EOI must exit)");
	vlapic_pv_eoi(vl, 0x40);
	CHECK(bank_empty(vl, APIC_OFF_ISR0) && rd(vl, APIC_OFF_PPR) == 0, "pv eoi: ended 0x40, PPR 0");
	CHECK_EQ(vlapic_pending_intr(vl), 0x30, "pv eoi: 0x30 deliverable after it");
	vlapic_intr_accepted(vl, 0x30);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), 0x30, "pv eoi: 0x30 alone: flag");
	vlapic_pv_eoi(vl, 0x31);
	CHECK(bank_bit(vl, APIC_OFF_ISR0, 0x30), "pv eoi: a vector not in service ends nothing");
	vlapic_pv_eoi(vl, 0x30);
	CHECK(bank_empty(vl, APIC_OFF_ISR0), "pv eoi: ended 0x30");
	/* Nested: only the highest in service. */
	CHECK(vlapic_set_intr(vl, 0x50, false), "pv eoi: accept 0x50");
	vlapic_intr_accepted(vl, 0x50);
	CHECK(vlapic_set_intr(vl, 0x70, false), "pv eoi: accept 0x70");
	vlapic_intr_accepted(vl, 0x70);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), 0x70, "pv eoi: nested: the highest");
	vlapic_pv_eoi(vl, 0x50);
	CHECK(bank_bit(vl, APIC_OFF_ISR0, 0x50) && bank_bit(vl, APIC_OFF_ISR0, 0x70),
	      "pv eoi: a lower in-service vector is not the one the flag was for");
	vlapic_pv_eoi(vl, 0x70);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), 0x50, "pv eoi: then the next one");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(bank_empty(vl, APIC_OFF_ISR0), "pv eoi: EOI write ends the last");
	/* Level-triggered: TMR set, its EOI is broadcast: never through the flag. */
	unsigned neoi = f->neoi;
	CHECK(vlapic_set_intr(vl, 0x60, true), "pv eoi: accept 0x60 level");
	vlapic_intr_accepted(vl, 0x60);
	CHECK_EQ(vlapic_pv_eoi_vector(vl), -1, "pv eoi: level-triggered in service: no flag");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(f->neoi == neoi + 1 && f->eoi_vec == 0x60, "pv eoi: its EOI write is broadcast");
	/* INIT leaves nothing to end. */
	CHECK(vlapic_set_intr(vl, 0x45, false), "pv eoi: accept 0x45");
	vlapic_intr_accepted(vl, 0x45);
	vlapic_init_reset(vl);
	vlapic_pv_eoi(vl, 0x45);
	CHECK(bank_empty(vl, APIC_OFF_ISR0) && f->neoi == neoi + 1, "pv eoi: after INIT: nothing, no broadcast");
	fx_free(f);
}

/* vlapic_inject: lookup, acceptance and CR8 in one step (vcpu.c inject()). */
static void test_inject(void)
{
	struct fx *f = fx_new(0, true, true, 36);
	struct vlapic *vl = f->vl;
	bool more = true;
	uint8_t cr8 = 0xff;
	wr(vl, APIC_OFF_SVR, 0x1ff);
	wr(vl, APIC_OFF_TPR, 0x20);
	CHECK(vlapic_inject(vl, true, &more, &cr8) == -1 && !more && cr8 == 2, "inject: nothing pending; CR8 = 2");
	CHECK(vlapic_set_intr(vl, 0x41, false) && vlapic_set_intr(vl, 0x52, false), "inject: accept 0x41, 0x52");
	CHECK(vlapic_inject(vl, false, &more, &cr8) == -1 && more, "inject: no window: nothing taken, one wanted");
	CHECK(bank_bit(vl, APIC_OFF_IRR0, 0x52) && !bank_bit(vl, APIC_OFF_ISR0, 0x52), "inject: ... IRR untouched");
	CHECK_EQ(vlapic_inject(vl, true, &more, &cr8), 0x52, "inject: the highest first");
	CHECK(bank_bit(vl, APIC_OFF_ISR0, 0x52) && !bank_bit(vl, APIC_OFF_IRR0, 0x52) && rd(vl, APIC_OFF_PPR) == 0x50,
	      "inject: IRR -> ISR, PPR 0x50");
	CHECK(!more, "inject: 0x41 is below the in-service class: no window");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(vlapic_inject(vl, true, &more, &cr8) == 0x41 && !more, "inject: then 0x41, nothing after it");
	CHECK(vlapic_set_intr(vl, 0x90, false) && vlapic_set_intr(vl, 0xa0, false), "inject: accept 0x90, 0xa0");
	CHECK(vlapic_inject(vl, true, &more, &cr8) == 0xa0 && !more, "inject: 0xa0; 0x90 blocked by it");
	wr(vl, APIC_OFF_EOI, 0);
	CHECK(vlapic_inject(vl, true, &more, &cr8) == 0x90 && !more, "inject: 0x90 after EOI");
	fx_free(f);
}

static void test_fuzz(void)
{
	struct fx *f[2] = {fx_new(0, true, true, 36), fx_new(0x1f3, false, true, 40)};
	f[0]->peer = f[1];
	f[1]->peer = f[0];
	static const unsigned sizes[] = {1, 2, 3, 4, 4, 4, 4, 8};
	static const uint32_t hot[] = {APIC_OFF_ICR_LO,	   APIC_OFF_ICR_HI,    APIC_OFF_SVR,	 APIC_OFF_EOI,
				       APIC_OFF_TPR,	   APIC_OFF_ESR,       APIC_OFF_LDR,	 APIC_OFF_DFR,
				       APIC_OFF_LVT_LINT0, APIC_OFF_LVT_TIMER, APIC_OFF_SELF_IPI};
	uint64_t seed = 0x1234567;
	unsigned bad = 0, ops = 0, first_bad = 0;
	for (unsigned it = 0; it < 6000; it++) {
		uint64_t r = rng_next(&seed), val = rng_next(&seed);
		struct fx *x = f[r & 1];
		struct vlapic *vl = x->vl;
		unsigned kind = (unsigned)(r >> 1) % 16;
		uint32_t off = (uint32_t)(r >> 8) % 0x1100;
		if ((r >> 40) % 4)
			off &= ~0xfu;
		if ((r >> 44) % 3 == 0) /* bias toward the registers with side effects */
			off = hot[(r >> 46) % ARRAY_SIZE(hot)];
		if ((val >> 60) < 8)
			val &= 0xffffffffu;
		switch (kind) {
		case 0:
		case 1:
		case 2: {
			uint64_t v;
			vlapic_mmio_read(vl, off, sizes[(r >> 32) % 8], &v);
			break;
		}
		case 3:
		case 4:
		case 5:
			vlapic_mmio_write(vl, off, sizes[(r >> 32) % 8], val);
			break;
		case 6:
		case 7: {
			uint64_t v;
			uint32_t msr = 0x7f0 + (uint32_t)(r >> 16) % 0x120;
			vlapic_rdmsr(vl, msr, &v);
			break;
		}
		case 8:
		case 9: {
			uint32_t msr = 0x7f0 + (uint32_t)(r >> 16) % 0x120;
			vlapic_wrmsr(vl, msr, (r >> 50) & 1 ? val & 0xff : val);
			break;
		}
		case 10: {
			static const uint64_t bases[] = {BASE_AP,	BASE_X2,       BASE_OFF,
							 0xfee00400ULL, 0xfed00800ULL, BASE_BSP,
							 0xfee00c00ULL, 0xfee00801ULL};
			uint64_t b = (r >> 20) % 9 == 8 ? val : bases[(r >> 20) % 8];
			vlapic_set_apicbase(vl, b);
			break;
		}
		case 11:
			vlapic_set_intr(vl, (uint8_t)val, (val >> 8) & 1);
			break;
		case 12: {
			int p = vlapic_pending_intr(vl);
			if (p >= 0)
				vlapic_intr_accepted(vl, (uint8_t)p);
			else
				vlapic_intr_accepted(vl, (uint8_t)val);
			break;
		}
		case 13:
			vlapic_set_cr8(vl, (uint8_t)val);
			break;
		case 14:
			if ((val & 0xf) == 0)
				vlapic_init_reset(vl);
			else
				vlapic_set_error(vl, (uint32_t)val);
			break;
		default:
			(void)vlapic_peek(vl, off);
			(void)vlapic_mmio_base(vl);
			break;
		}
		ops++;
		unsigned b = fuzz_invariants(f[0]) + fuzz_invariants(f[1]);
		if (b && !bad)
			first_bad = it;
		bad += b;
	}
	CHECK_EQ(ops, 6000, "fuzz: 6000 random MMIO/MSR/APIC-base/interrupt operations ran");
	if (!CHECK(bad == 0, "fuzz: invariants held after every operation"))
		printf("#   %u violations, the first at iteration %u\n", bad, first_bad);
	CHECK(f[0]->nicr + f[1]->nicr > 0, "fuzz: some IPIs were sent (%u, %u)", f[0]->nicr, f[1]->nicr);
	fx_free(f[0]);
	fx_free(f[1]);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] =
		"not ok - watchdog: a vlapic call hung (lock held across the ICR callback?)\n";
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* The xAPIC ID register is read/write (SDM 10.4.6, bits 31:24); the current
 * ID is published for destination resolution and counted as moved while it
 * differs from the initial one; INIT, global disable and the switch to
 * x2APIC mode (10.12.5.1) restore the initial ID, which the x2APIC ID
 * register shows read-only. */
static void test_xapic_id(void)
{
	uint32_t moved = 0;
	struct fx *f = fx_new(5, false, true, 39);
	f->ops.ids_moved = &moved;
	struct vlapic *vl = f->vl;
	wr(vl, APIC_OFF_ID, 0x09123456u);
	CHECK_EQ(rd(vl, APIC_OFF_ID), 0x09000000u, "xapic id: writable, bits 31:24 only");
	CHECK_EQ(f->pub.id, 9, "xapic id: the new ID is published");
	CHECK_EQ(moved, 1, "xapic id: counted as moved");
	CHECK_EQ(vlapic_id(vl), 5, "xapic id: the initial (vCPU) id is kept");
	wr(vl, APIC_OFF_ID, 0x07000000u);
	CHECK_EQ(moved, 1, "xapic id: moved again: still counted once");
	wr(vl, APIC_OFF_ID, 0x05000000u);
	CHECK_EQ(f->pub.id, 5, "xapic id: written back to the initial ID");
	CHECK_EQ(moved, 0, "xapic id: ... no longer moved");
	wr(vl, APIC_OFF_ID, 0x0a000000u);
	vlapic_init_reset(vl);
	CHECK_EQ(rd(vl, APIC_OFF_ID), 0x0au << 24, "xapic id: INIT keeps a rewritten ID (SDM 10.4.7.3)");
	CHECK(f->pub.id == 0x0a && moved == 1, "xapic id: ... still published, still moved");
	uint64_t base = vlapic_get_apicbase(vl);
	CHECK_EQ(vlapic_set_apicbase(vl, base & ~APIC_BASE_EN), 0, "xapic id: global disable");
	CHECK_EQ(vlapic_set_apicbase(vl, base), 0, "xapic id: re-enable");
	CHECK(rd(vl, APIC_OFF_ID) == 5u << 24 && f->pub.id == 5 && moved == 0,
	      "xapic id: global disable restores the initial ID");
	wr(vl, APIC_OFF_ID, 0x0a000000u);
	CHECK_EQ(vlapic_set_apicbase(vl, base | APIC_BASE_EXTD), 0, "xapic id: to x2APIC mode");
	uint64_t v = 0;
	CHECK(vlapic_rdmsr(vl, 0x802, &v) == 0 && v == 5, "xapic id: x2APIC ID is the initial ID, not the written one");
	CHECK(f->pub.id == 5 && moved == 0, "xapic id: ... published, not moved");
	CHECK_EQ(vlapic_wrmsr(vl, 0x802, 7), -EINVAL, "xapic id: x2APIC ID write #GP (read-only)");
	CHECK(vlapic_rdmsr(vl, 0x802, &v) == 0 && v == 5, "xapic id: x2APIC ID unchanged");
	fx_free(f);
	struct fx *g = fx_new(3, false, true, 39);
	g->ops.ids_moved = &moved;
	wr(g->vl, APIC_OFF_ID, 0x20000000u);
	CHECK_EQ(moved, 1, "xapic id: a moved vLAPIC ...");
	fx_free(g);
	CHECK_EQ(moved, 0, "xapic id: ... is no longer counted once destroyed");
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(60);
	test_xapic_id();
	test_poweron();
	test_mmio_registers();
	test_mmio_bad_access();
	test_apicbase_transitions();
	test_apicbase_bits();
	test_apicbase_disable_resets();
	test_enter_x2apic();
	test_x2apic_msrs();
	test_esr();
	test_priority();
	test_svr();
	test_icr_xapic();
	test_init_reset();
	test_publish();
	test_pv_eoi();
	test_inject();
	test_fuzz();
	return tap_done();
}
