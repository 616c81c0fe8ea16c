/* test_apic_dest.c: ICR decoding, the SDM table 10-3 verdicts and IPI destination resolution (vmm/apic_dest.c). */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/apic_dest.h"

/* ICR low-word builders. */
#define LOG APIC_ICR_DESTMODE_LOGICAL
#define ASSERT_ APIC_ICR_LEVEL_ASSERT
#define TLEVEL APIC_ICR_TRIGGER_LEVEL
#define ICR(mode, sh, vec, flags)                                                                  \
	((uint32_t)(vec) | ((uint32_t)(mode) << APIC_ICR_DM_SHIFT) |                               \
	 ((uint32_t)(sh) << APIC_ICR_SH_SHIFT) | (uint32_t)(flags))
#define XD(d) ((uint32_t)(d) << 24) /* xAPIC ICR_HI: destination in bits 31:24 */

/* Short names for the expected-verdict tables. */
#define D APIC_IPI_DELIVER
#define IV APIC_IPI_ILLEGAL_VECTOR
#define IN APIC_IPI_IGNORE_INVALID
#define DA APIC_IPI_IGNORE_DEASSERT
#define US APIC_IPI_IGNORE_UNSUPPORTED

static void check_set(const cpuset_t *s, uint64_t want, const char *name)
{
	bool upper = false;
	for (unsigned w = 1; w < VM_MAXCPU / 64; w++)
		upper |= s->bits[w] != 0;
	if (!CHECK(!upper && s->bits[0] == want, "%s", name))
		printf("#   got 0x%llx%s, want 0x%llx\n", (unsigned long long)s->bits[0],
		       upper ? " (+ ids >= 64)" : "", (unsigned long long)want);
}

static void mask_to_set(cpuset_t *s, uint64_t m)
{
	cpuset_zero(s);
	s->bits[0] = m;
}

static enum apic_ipi_verdict check_icr(bool x2, uint32_t lo, uint32_t hi)
{
	struct apic_ipi ipi;
	apic_ipi_decode(&ipi, 0, x2, lo, hi);
	return apic_ipi_check(&ipi);
}

/* ---- decoding ----------------------------------------------------------------------------- */

/* What the core counts in vm->ids_moved: entries whose id is not their index. */
static uint32_t moved_of(const struct apic_addr *a, uint32_t n)
{
	uint32_t m = 0;
	for (uint32_t i = 0; a && i < n && i < VM_MAXCPU; i++)
		m += a[i].id != i;
	return m;
}

static void test_decode(void)
{
	struct apic_ipi ipi;

	/* Typical xAPIC "all excluding self" STARTUP, vector 8, with ICR_HI garbage below 31:24. */
	apic_ipi_decode(&ipi, 2, false, 0x000C4608u, 0x03abcdefu);
	CHECK_EQ(ipi.sender, 2, "decode: sender");
	CHECK_EQ(ipi.dest, 3, "decode xAPIC: dest is ICR_HI[31:24] only");
	CHECK_EQ(ipi.vector, 8, "decode: vector");
	CHECK_EQ(ipi.mode, APIC_DM_STARTUP, "decode: delivery mode");
	CHECK_EQ(ipi.shorthand, APIC_SH_ALL_EXCL, "decode: shorthand");
	CHECK(!ipi.logical, "decode: physical");
	CHECK(ipi.level_assert, "decode: level assert");
	CHECK(!ipi.trigger_level, "decode: edge");
	CHECK(!ipi.x2apic, "decode: xAPIC sender");

	apic_ipi_decode(&ipi, 0, false, 0, 0xffffffffu);
	CHECK_EQ(ipi.dest, 0xff, "decode xAPIC: dest is 8 bits");

	apic_ipi_decode(&ipi, 7, true, 0xffffffffu, 0x12345678u);
	CHECK_EQ(ipi.dest, 0x12345678u, "decode x2APIC: dest is all 32 bits of ICR[63:32]");
	CHECK_EQ(ipi.vector, 0xff, "decode all-ones: vector");
	CHECK_EQ(ipi.mode, APIC_DM_RESERVED, "decode all-ones: mode 7");
	CHECK_EQ(ipi.shorthand, APIC_SH_ALL_EXCL, "decode all-ones: shorthand 3");
	CHECK(ipi.logical && ipi.level_assert && ipi.trigger_level && ipi.x2apic,
	      "decode all-ones: flag bits");

	apic_ipi_decode(&ipi, 0, true, 0x00000400u | LOG, 0xffffffffu);
	CHECK(ipi.mode == APIC_DM_NMI && ipi.logical && ipi.dest == 0xffffffffu,
	      "decode x2APIC logical NMI broadcast");
	apic_ipi_decode(NULL, 0, false, 0, 0); /* must not crash */
	CHECK(1, "decode: NULL ipi is ignored");
}

/* ---- the validity table (SDM table 10-3) -------------------------------------------------- */

/* Expected verdicts by mode x shorthand (none, self, all-incl, all-excl). */
static const uint8_t want_edge_okvec[8][4] = {
	{D, D, D, D},     /* fixed */
	{D, IN, IN, D},   /* lowprio */
	{US, US, US, US}, /* smi */
	{US, US, US, US}, /* remote read */
	{D, IN, IN, D},   /* nmi */
	{D, IN, IN, D},   /* init */
	{D, IN, IN, D},   /* startup */
	{US, US, US, US}, /* reserved */
};
static const uint8_t want_edge_lowvec[8][4] = {
	{IV, IV, IV, IV}, /* fixed: vector < 16 with any shorthand */
	{IV, IN, IN, IV}, /* lowprio: invalid shorthand wins over the vector */
	{US, US, US, US},
	{US, US, US, US},
	{D, IN, IN, D},   /* nmi ignores the vector */
	{D, IN, IN, D},   /* init ignores the vector */
	{D, IN, IN, D},   /* startup: any 8-bit vector */
	{US, US, US, US},
};
/* trigger = level, level = 0 (table 10-3 note 2; INIT: level de-assert, 10.6.1). */
static const uint8_t want_level_deassert[8][4] = {
	{IN, IN, IN, IN},
	{IN, IN, IN, IN},
	{US, US, US, US},
	{US, US, US, US},
	{IN, IN, IN, IN},
	{DA, DA, DA, DA}, /* de-assert goes to all regardless of shorthand: always ignored */
	{D, IN, IN, D},   /* trigger/level do not matter for STARTUP */
	{US, US, US, US},
};

static void test_validity_table(void)
{
	static const struct {
		const char *name;
		uint32_t flags;
	} tl[] = {
		{"edge/assert", ASSERT_},
		{"edge/level0", 0},
		{"level/assert", TLEVEL | ASSERT_},
		{"level/deassert", TLEVEL},
	};
	static const uint8_t vecs[2] = {0x30, 0x05};
	unsigned k = 0;

	for (unsigned mode = 0; mode < 8; mode++)
		for (unsigned sh = 0; sh < 4; sh++)
			for (unsigned t = 0; t < sizeof(tl) / sizeof(tl[0]); t++)
				for (unsigned v = 0; v < 2; v++, k++) {
					unsigned want;
					if (t == 3)
						want = want_level_deassert[mode][sh];
					else
						want = v ? want_edge_lowvec[mode][sh]
							 : want_edge_okvec[mode][sh];
					/* Destination mode, sender mode and the destination never matter. */
					uint32_t flags = tl[t].flags | ((k & 1) ? LOG : 0);
					bool x2 = (k & 2) != 0;
					uint32_t hi = (k & 4) ? 0xffffffffu : XD(k & 0xff);
					enum apic_ipi_verdict got =
						check_icr(x2, ICR(mode, sh, vecs[v], flags), hi);
					if (!CHECK(got == want, "table 10-3: %s %s %s vector 0x%02x -> %s",
						   apic_dm_name(mode), apic_shorthand_name(sh),
						   tl[t].name, vecs[v],
						   apic_ipi_verdict_name((enum apic_ipi_verdict)want)))
						printf("#   got %s\n", apic_ipi_verdict_name(got));
				}
}

static void test_validity_cases(void)
{
	static const struct {
		const char *name;
		uint32_t lo;
		enum apic_ipi_verdict want;
	} c[] = {
		{"fixed vector 15 is illegal", ICR(APIC_DM_FIXED, 0, 15, ASSERT_), IV},
		{"fixed vector 16 is legal", ICR(APIC_DM_FIXED, 0, 16, ASSERT_), D},
		{"fixed vector 0 to self is illegal", ICR(APIC_DM_FIXED, 1, 0, ASSERT_), IV},
		{"fixed vector 0xff", ICR(APIC_DM_FIXED, 0, 0xff, 0), D},
		{"fixed level-assert is sent as edge", ICR(APIC_DM_FIXED, 2, 0x40, TLEVEL | ASSERT_), D},
		{"fixed level-deassert vector 5 is ignored, not an ESR error",
		 ICR(APIC_DM_FIXED, 0, 5, TLEVEL), IN},
		{"lowprio all-excl vector 15 is illegal", ICR(APIC_DM_LOWPRIO, 3, 15, ASSERT_), IV},
		{"lowprio all-excl vector 16", ICR(APIC_DM_LOWPRIO, 3, 16, ASSERT_), D},
		{"startup vector 0", ICR(APIC_DM_STARTUP, 0, 0x00, ASSERT_), D},
		{"startup vector 0xa0 (SDM-reserved, accepted)", ICR(APIC_DM_STARTUP, 0, 0xa0, ASSERT_), D},
		{"startup vector 0xbf (SDM-reserved, accepted)", ICR(APIC_DM_STARTUP, 3, 0xbf, ASSERT_), D},
		{"startup vector 0xff", ICR(APIC_DM_STARTUP, 0, 0xff, ASSERT_), D},
		{"Linux INIT assert 0xc500", 0x0000c500u, D},
		{"Linux INIT de-assert 0x8500", 0x00008500u, DA},
		{"MPS INIT de-assert to all-incl 0xc8500", 0x000c8500u, DA},
		{"INIT edge with level 0 (0x500) is an INIT", 0x00000500u, D},
		{"all-excl INIT 0xc4500", 0x000c4500u, D},
		{"all-excl SIPI 0xc4608", 0x000c4608u, D},
		{"Linux SIPI 0x608", 0x00000608u, D},
		{"INIT to self", 0x00044500u, IN},
		{"NMI to all-incl", 0x00084400u, IN},
		{"SMI", ICR(APIC_DM_SMI, 0, 0, ASSERT_), US},
		{"remote read", ICR(APIC_DM_REMOTE_READ, 0, 0x30, ASSERT_), US},
		{"reserved mode 7", ICR(APIC_DM_RESERVED, 3, 0x30, ASSERT_), US},
		{"delivery-status bit is ignored", ICR(APIC_DM_FIXED, 0, 0x30, APIC_ICR_DELIVERY_PENDING), D},
		{"reserved ICR bits are ignored", ICR(APIC_DM_NMI, 0, 0, 0xfff32000u), D},
	};
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		enum apic_ipi_verdict got = check_icr(false, c[i].lo, XD(1));
		if (!CHECK(got == c[i].want, "check: %s -> %s", c[i].name,
			   apic_ipi_verdict_name(c[i].want)))
			printf("#   got %s\n", apic_ipi_verdict_name(got));
	}

	/* A hand-built apic_ipi can hold values no decode produces. */
	struct apic_ipi ipi = {.mode = 8, .vector = 0x30};
	CHECK(apic_ipi_check(&ipi) == US, "check: mode 8 is unsupported");
	ipi = (struct apic_ipi){.mode = 0xff, .shorthand = 0xff};
	CHECK(apic_ipi_check(&ipi) == US, "check: mode 0xff is unsupported");
	ipi = (struct apic_ipi){.mode = APIC_DM_FIXED, .shorthand = 4, .vector = 0x30};
	CHECK(apic_ipi_check(&ipi) == IN, "check: shorthand 4 is invalid");
	CHECK(apic_ipi_check(NULL) == IN, "check: NULL is invalid");
}

static void test_names(void)
{
	static const char *const dm[] = {"fixed", "lowprio", "smi",     "remote-read",
					 "nmi",   "init",    "startup", "reserved"};
	static const char *const sh[] = {"none", "self", "all-incl", "all-excl"};
	static const char *const vd[] = {"deliver", "illegal-vector", "invalid", "init-deassert",
					 "unsupported"};
	for (unsigned i = 0; i < 8; i++)
		CHECK(strcmp(apic_dm_name(i), dm[i]) == 0, "name of mode %u is %s", i, dm[i]);
	for (unsigned i = 0; i < 4; i++)
		CHECK(strcmp(apic_shorthand_name(i), sh[i]) == 0, "name of shorthand %u is %s", i, sh[i]);
	for (unsigned i = 0; i < 5; i++)
		CHECK(strcmp(apic_ipi_verdict_name((enum apic_ipi_verdict)i), vd[i]) == 0,
		      "name of verdict %u is %s", i, vd[i]);
	CHECK(strcmp(apic_dm_name(8), "unknown") == 0 && strcmp(apic_dm_name(~0u), "unknown") == 0,
	      "out-of-range mode names are 'unknown'");
	CHECK(strcmp(apic_shorthand_name(4), "unknown") == 0 &&
		      strcmp(apic_shorthand_name(~0u), "unknown") == 0,
	      "out-of-range shorthand names are 'unknown'");
	CHECK(strcmp(apic_ipi_verdict_name((enum apic_ipi_verdict)5), "unknown") == 0 &&
		      strcmp(apic_ipi_verdict_name((enum apic_ipi_verdict)-1), "unknown") == 0,
	      "out-of-range verdict names are 'unknown'");
}

/* ---- destination resolution: fixtures ----------------------------------------------------- */

#define DFR_FLAT 0xffffffffu
#define DFR_CLUSTER 0x0fffffffu

enum fx_kind {
	FX_PLAIN8,  /* 8 xAPIC vCPUs, ids 0..7, reset LDR/DFR */
	FX_FLAT8,   /* 8 xAPIC vCPUs, flat model, assorted LDRs (one LDR 0) */
	FX_CLUS12,  /* 12 xAPIC vCPUs, cluster model, clusters 0..2 */
	FX_MIXED4,  /* per-target DFR: flat, cluster, flat, invalid model */
	FX_X2_40,   /* 40 x2APIC vCPUs, ids 0..39, derived LDRs */
	FX_SPARSE4, /* x2APIC ids {0, 5, 2, 0x12345678}: the fast path misses */
	FX_X2BIG3,  /* x2APIC ids {0x10, 0x12345678, 0xfffffff0}, derived LDRs */
	FX_PPR6,    /* ids 0..5, flat LDR bit i, ppr {40,20,20,10,10,30} */
	FX_PPRIDS3, /* equal ppr, ids {5, 4, 3}: tie goes to the lowest id */
	FX_ONE,     /* n = 1 */
};

struct fixture {
	struct apic_addr a[64];
	uint32_t n;
};

static void fx_build(struct fixture *f, enum fx_kind which)
{
	static const uint8_t flat8[8] = {0x01, 0x02, 0x04, 0x08, 0x30, 0x40, 0x00, 0x80};
	static const uint8_t clus12[12] = {0x01, 0x02, 0x04, 0x08, 0x11, 0x12,
					   0x14, 0x18, 0x21, 0x22, 0x26, 0x00};
	static const uint32_t sparse[4] = {0, 5, 2, 0x12345678u};
	static const uint32_t x2big[3] = {0x10, 0x12345678u, 0xfffffff0u};
	static const uint8_t ppr6[6] = {0x40, 0x20, 0x20, 0x10, 0x10, 0x30};

	memset(f, 0, sizeof(*f));
	for (uint32_t i = 0; i < 64; i++)
		f->a[i] = (struct apic_addr){.id = i, .ldr = 0, .dfr = DFR_FLAT, .sw_enabled = 1};
	switch (which) {
	case FX_PLAIN8:
		f->n = 8;
		break;
	case FX_FLAT8:
		f->n = 8;
		for (uint32_t i = 0; i < 8; i++)
			f->a[i].ldr = (uint32_t)flat8[i] << 24;
		break;
	case FX_CLUS12:
		f->n = 12;
		for (uint32_t i = 0; i < 12; i++) {
			f->a[i].ldr = (uint32_t)clus12[i] << 24;
			f->a[i].dfr = DFR_CLUSTER;
		}
		break;
	case FX_MIXED4:
		f->n = 4;
		f->a[0].ldr = 0x01000000u;
		f->a[1].ldr = 0x01000000u;
		f->a[1].dfr = DFR_CLUSTER;
		f->a[2].ldr = 0x12000000u;
		f->a[3].ldr = 0x01000000u;
		f->a[3].dfr = 0x5fffffffu;
		break;
	case FX_X2_40:
		f->n = 40;
		for (uint32_t i = 0; i < 40; i++) {
			f->a[i].x2apic = 1;
			f->a[i].ldr = apic_x2apic_ldr(i);
		}
		break;
	case FX_SPARSE4:
		f->n = 4;
		for (uint32_t i = 0; i < 4; i++) {
			f->a[i].x2apic = 1;
			f->a[i].id = sparse[i];
			f->a[i].ldr = apic_x2apic_ldr(sparse[i]);
		}
		break;
	case FX_X2BIG3:
		f->n = 3;
		for (uint32_t i = 0; i < 3; i++) {
			f->a[i].x2apic = 1;
			f->a[i].id = x2big[i];
			f->a[i].ldr = apic_x2apic_ldr(x2big[i]);
		}
		break;
	case FX_PPR6:
		f->n = 6;
		for (uint32_t i = 0; i < 6; i++) {
			f->a[i].ldr = 1u << (24 + i);
			f->a[i].ppr = ppr6[i];
		}
		break;
	case FX_PPRIDS3:
		f->n = 3;
		for (uint32_t i = 0; i < 3; i++) {
			f->a[i].x2apic = 1;
			f->a[i].id = 5 - i;
			f->a[i].ppr = 0x20;
		}
		break;
	case FX_ONE:
		f->n = 1;
		break;
	}
}

struct rcase {
	const char *name;
	enum fx_kind fx;
	bool x2;         /* sender in x2APIC mode */
	uint32_t sender;
	uint32_t lo, hi; /* raw ICR */
	uint64_t elig;   /* eligible set over ids 0..63 */
	uint64_t want;
};

#define ALL ~0ULL
#define B(i) (1ULL << (i))
#define LO(n) ((n) >= 64 ? ~0ULL : (1ULL << (n)) - 1)
#define FIX(sh) ICR(APIC_DM_FIXED, sh, 0x40, ASSERT_)
#define FIXL ICR(APIC_DM_FIXED, 0, 0x40, ASSERT_ | LOG)
#define NMIL ICR(APIC_DM_NMI, 0, 0, ASSERT_ | LOG)
#define LP(sh, flags) ICR(APIC_DM_LOWPRIO, sh, 0x40, ASSERT_ | (flags))

static const struct rcase rcases[] = {
	/* physical, xAPIC sender (SDM 10.6.2.1) */
	{"xapic phys unicast 3", FX_PLAIN8, false, 0, FIX(0), XD(3), ALL, B(3)},
	{"xapic phys unicast 0", FX_PLAIN8, false, 5, FIX(0), XD(0), ALL, B(0)},
	{"xapic phys unicast 7", FX_PLAIN8, false, 0, FIX(0), XD(7), ALL, B(7)},
	{"xapic phys unicast to self", FX_PLAIN8, false, 4, FIX(0), XD(4), ALL, B(4)},
	{"xapic phys id == n matches nothing", FX_PLAIN8, false, 0, FIX(0), XD(8), ALL, 0},
	{"xapic phys id 0xfe matches nothing", FX_PLAIN8, false, 0, FIX(0), XD(0xfe), ALL, 0},
	{"xapic phys ICR_HI low bits ignored", FX_PLAIN8, false, 0, FIX(0), 0x03ffffffu, ALL, B(3)},
	{"xapic phys broadcast 0xff (includes sender)", FX_PLAIN8, false, 2, FIX(0), XD(0xff), ALL,
	 LO(8)},
	{"xapic phys broadcast & eligible", FX_PLAIN8, false, 2, FIX(0), XD(0xff), B(1) | B(2),
	 B(1) | B(2)},
	{"xapic phys unicast, target not eligible", FX_PLAIN8, false, 0, FIX(0), XD(3), ~B(3), 0},
	{"xapic phys eligible beyond n is cut", FX_PLAIN8, false, 0, FIX(0), XD(0xff), ALL, LO(8)},
	{"xapic phys on x2APIC targets", FX_X2_40, false, 0, FIX(0), XD(33), ALL, B(33)},
	{"xapic phys 0xff on x2APIC targets", FX_X2_40, false, 0, FIX(0), XD(0xff), ALL, LO(40)},
	{"xapic phys 0x78 never truncates id 0x12345678", FX_SPARSE4, false, 0, FIX(0), XD(0x78),
	 ALL, 0},
	/* physical, x2APIC sender (SDM 10.12.9) */
	{"x2apic phys unicast 37", FX_X2_40, true, 0, FIX(0), 37, ALL, B(37)},
	{"x2apic phys id == n matches nothing", FX_X2_40, true, 0, FIX(0), 40, ALL, 0},
	{"x2apic phys 0xff is not a broadcast", FX_X2_40, true, 0, FIX(0), 0xff, ALL, 0},
	{"x2apic phys 0x100 does not reach 0", FX_X2_40, true, 0, FIX(0), 0x100, ALL, 0},
	{"x2apic phys 0x01000003 does not reach 3", FX_X2_40, true, 0, FIX(0), 0x01000003u, ALL, 0},
	{"x2apic phys 0x12345678 matches nothing", FX_X2_40, true, 0, FIX(0), 0x12345678u, ALL, 0},
	{"x2apic phys 0xfffffffe matches nothing", FX_X2_40, true, 0, FIX(0), 0xfffffffeu, ALL, 0},
	{"x2apic phys broadcast 0xffffffff", FX_X2_40, true, 3, FIX(0), 0xffffffffu, ALL, LO(40)},
	{"x2apic phys broadcast & eligible", FX_X2_40, true, 3, FIX(0), 0xffffffffu, 0xf0f0ULL,
	 0xf0f0ULL},
	{"x2apic phys on an xAPIC-mode target", FX_PLAIN8, true, 0, FIX(0), 6, ALL, B(6)},
	/* sparse ids: the unicast fast path misses and the scan decides */
	{"sparse: id 5 is vCPU 1", FX_SPARSE4, true, 0, FIX(0), 5, ALL, B(1)},
	{"sparse: id 1 is nobody", FX_SPARSE4, true, 0, FIX(0), 1, ALL, 0},
	{"sparse: id 2 is vCPU 2 (fast path)", FX_SPARSE4, true, 0, FIX(0), 2, ALL, B(2)},
	{"sparse: id 0x12345678 is vCPU 3", FX_SPARSE4, true, 0, FIX(0), 0x12345678u, ALL, B(3)},
	{"sparse: id 3 is nobody", FX_SPARSE4, true, 0, FIX(0), 3, ALL, 0},
	/* logical flat (SDM 10.6.2.2): LDRs 01 02 04 08 30 40 00 80 */
	{"flat 0x01", FX_FLAT8, false, 0, FIXL, XD(0x01), ALL, B(0)},
	{"flat 0x03: two targets", FX_FLAT8, false, 0, FIXL, XD(0x03), ALL, B(0) | B(1)},
	{"flat 0x10: one of a multi-bit LDR", FX_FLAT8, false, 0, FIXL, XD(0x10), ALL, B(4)},
	{"flat 0x20: the other bit", FX_FLAT8, false, 0, FIXL, XD(0x20), ALL, B(4)},
	{"flat 0x24", FX_FLAT8, false, 0, FIXL, XD(0x24), ALL, B(2) | B(4)},
	{"flat 0x7f: LDR 0 is not matched", FX_FLAT8, false, 0, FIXL, XD(0x7f), ALL, LO(6)},
	{"flat 0x80", FX_FLAT8, false, 0, FIXL, XD(0x80), ALL, B(7)},
	{"flat 0xfe: every bit but 0, LDR 0 still out", FX_FLAT8, false, 0, FIXL, XD(0xfe), ALL,
	 LO(8) & ~B(0) & ~B(6)},
	{"flat 0xff broadcast reaches LDR 0 too", FX_FLAT8, false, 0, FIXL, XD(0xff), ALL, LO(8)},
	{"flat 0x00 matches nothing", FX_FLAT8, false, 0, FIXL, XD(0x00), ALL, 0},
	{"flat 0x03 & eligible", FX_FLAT8, false, 0, FIXL, XD(0x03), B(1), B(1)},
	{"flat on reset LDRs: 0x01 matches nothing", FX_PLAIN8, false, 0, FIXL, XD(0x01), ALL, 0},
	{"flat on reset LDRs: 0xff reaches all", FX_PLAIN8, false, 0, FIXL, XD(0xff), ALL, LO(8)},
	/* logical cluster (SDM 10.6.2.2): 01 02 04 08 | 11 12 14 18 | 21 22 26 00 */
	{"cluster 0 member 0", FX_CLUS12, false, 0, FIXL, XD(0x01), ALL, B(0)},
	{"cluster 0 members 0,1", FX_CLUS12, false, 0, FIXL, XD(0x03), ALL, B(0) | B(1)},
	{"cluster 0 all members", FX_CLUS12, false, 0, FIXL, XD(0x0f), ALL, LO(4)},
	{"cluster 1 member 0", FX_CLUS12, false, 0, FIXL, XD(0x11), ALL, B(4)},
	{"cluster 1 members 2,3", FX_CLUS12, false, 0, FIXL, XD(0x1c), ALL, B(6) | B(7)},
	{"cluster 2 member 1 (two holders)", FX_CLUS12, false, 0, FIXL, XD(0x22), ALL,
	 B(9) | B(10)},
	{"cluster 2 member 2", FX_CLUS12, false, 0, FIXL, XD(0x24), ALL, B(10)},
	{"cluster 3 does not exist", FX_CLUS12, false, 0, FIXL, XD(0x31), ALL, 0},
	{"cluster 1 empty mask", FX_CLUS12, false, 0, FIXL, XD(0x10), ALL, 0},
	{"cluster 0 empty mask (LDR 0 not matched)", FX_CLUS12, false, 0, FIXL, XD(0x00), ALL, 0},
	{"cluster 0xf member 0 of every cluster", FX_CLUS12, false, 0, FIXL, XD(0xf1), ALL,
	 B(0) | B(4) | B(8)},
	{"cluster 0xf member 1 of every cluster", FX_CLUS12, false, 0, FIXL, XD(0xf2), ALL,
	 B(1) | B(5) | B(9) | B(10)},
	{"cluster 0xff broadcast reaches LDR 0 too", FX_CLUS12, false, 0, FIXL, XD(0xff), ALL,
	 LO(12)},
	{"cluster 0xff broadcast & eligible", FX_CLUS12, false, 0, FIXL, XD(0xff), B(11) | B(40),
	 B(11)},
	/* DFR model decided per target */
	{"mixed DFR 0x01: flat + cluster, bad model out", FX_MIXED4, false, 0, FIXL, XD(0x01), ALL,
	 B(0) | B(1)},
	{"mixed DFR 0x12: only the flat 0x12", FX_MIXED4, false, 0, FIXL, XD(0x12), ALL, B(2)},
	{"mixed DFR 0xff reaches the bad model too", FX_MIXED4, false, 0, FIXL, XD(0xff), ALL,
	 LO(4)},
	/* x2APIC logical (SDM 10.12.10): ldr = (id >> 4) << 16 | 1 << (id & 15) */
	{"x2 logical 0x1: id 0", FX_X2_40, true, 0, FIXL, 0x00000001u, ALL, B(0)},
	{"x2 logical cluster 0 all", FX_X2_40, true, 0, FIXL, 0x0000ffffu, ALL, LO(16)},
	{"x2 logical cluster 1 bit 0: id 16", FX_X2_40, true, 0, FIXL, 0x00010001u, ALL, B(16)},
	{"x2 logical cluster 1 bit 15: id 31", FX_X2_40, true, 0, FIXL, 0x00018000u, ALL, B(31)},
	{"x2 logical cluster 2 bits 0,7: ids 32,39", FX_X2_40, true, 0, FIXL, 0x00020081u, ALL,
	 B(32) | B(39)},
	{"x2 logical cluster 2 bit 8: id 40 >= n", FX_X2_40, true, 0, FIXL, 0x00020100u, ALL, 0},
	{"x2 logical cluster 3 is beyond n", FX_X2_40, true, 0, FIXL, 0x00030001u, ALL, 0},
	{"x2 logical empty mask", FX_X2_40, true, 0, FIXL, 0x00020000u, ALL, 0},
	{"x2 logical 0xffff0001: no cluster broadcast", FX_X2_40, true, 0, FIXL, 0xffff0001u, ALL, 0},
	{"x2 logical broadcast", FX_X2_40, true, 5, NMIL, 0xffffffffu, ALL, LO(40)},
	{"x2 logical cluster 1 & eligible evens", FX_X2_40, true, 0, FIXL, 0x0001ffffu,
	 0x5555555555555555ULL, 0x55550000ULL},
	{"x2 logical big: cluster 1 bit 0 = id 0x10", FX_X2BIG3, true, 0, FIXL, 0x00010001u, ALL,
	 B(0)},
	{"x2 logical big: id 0x12345678", FX_X2BIG3, true, 0, FIXL, 0x45670100u, ALL, B(1)},
	{"x2 logical big: cluster 0xffff is a real cluster", FX_X2BIG3, true, 0, FIXL, 0xffff0001u,
	 ALL, B(2)},
	{"x2 logical big: broadcast", FX_X2BIG3, true, 0, FIXL, 0xffffffffu, ALL, LO(3)},
	/* shorthands ignore the destination field (SDM 10.6.1, 10.6.2.4) */
	{"self", FX_PLAIN8, false, 3, FIX(1), XD(0xff), ALL, B(3)},
	{"self, logical bit and dest ignored", FX_PLAIN8, false, 3, FIX(1) | LOG, XD(0x01), ALL, B(3)},
	{"self, sender not eligible", FX_PLAIN8, false, 3, FIX(1), 0, ~B(3), 0},
	{"self, sender >= n", FX_PLAIN8, false, 9, FIX(1), 0, ALL, 0},
	{"self, x2APIC", FX_X2_40, true, 39, FIX(1), 0x12345678u, ALL, B(39)},
	{"all-incl", FX_PLAIN8, false, 3, FIX(2), XD(5), ALL, LO(8)},
	{"all-incl & eligible", FX_PLAIN8, false, 3, FIX(2), 0, B(0) | B(3) | B(5),
	 B(0) | B(3) | B(5)},
	{"all-incl, sender not eligible", FX_PLAIN8, false, 3, FIX(2), 0, B(0) | B(5), B(0) | B(5)},
	{"all-excl", FX_PLAIN8, false, 3, FIX(3), XD(3), ALL, LO(8) & ~B(3)},
	{"all-excl, only the sender eligible", FX_PLAIN8, false, 3, FIX(3), 0, B(3), 0},
	{"all-excl, sender not eligible", FX_PLAIN8, false, 3, FIX(3), 0, B(0) | B(1), B(0) | B(1)},
	{"all-excl, sender >= n", FX_PLAIN8, false, 100, FIX(3), 0, ALL, LO(8)},
	{"all-excl, sender 0xffffffff", FX_PLAIN8, false, 0xffffffffu, FIX(3), 0, ALL, LO(8)},
	{"all-excl INIT, x2APIC, 40 vCPUs", FX_X2_40, true, 0, ICR(APIC_DM_INIT, 3, 0, ASSERT_),
	 0xffffffffu, ALL, LO(40) & ~B(0)},
	/* lowest priority (smp-spec 2.4): ppr 40 20 20 10 10 30 */
	{"lowprio phys broadcast: lowest ppr, lowest id", FX_PPR6, false, 0, LP(0, 0), XD(0xff), ALL,
	 B(3)},
	{"lowprio: best not eligible, next tie", FX_PPR6, false, 0, LP(0, 0), XD(0xff), ~B(3), B(4)},
	{"lowprio: eligible {0,5}", FX_PPR6, false, 0, LP(0, 0), XD(0xff), B(0) | B(5), B(5)},
	{"lowprio logical 0x07", FX_PPR6, false, 0, LP(0, LOG), XD(0x07), ALL, B(1)},
	{"lowprio logical 0x01: single match", FX_PPR6, false, 0, LP(0, LOG), XD(0x01), ALL, B(0)},
	{"lowprio logical 0xc0: no match", FX_PPR6, false, 0, LP(0, LOG), XD(0xc0), ALL, 0},
	{"lowprio phys unicast 2", FX_PPR6, false, 0, LP(0, 0), XD(2), ALL, B(2)},
	{"lowprio phys nobody", FX_PPR6, false, 0, LP(0, 0), XD(9), ALL, 0},
	{"lowprio all-excl from 3", FX_PPR6, false, 3, LP(3, 0), 0, ALL, B(4)},
	{"lowprio x2APIC sender picks one", FX_PPR6, true, 0, LP(0, 0), 0xffffffffu, ALL, B(3)},
	{"lowprio nothing eligible", FX_PPR6, false, 0, LP(0, 0), XD(0xff), 0, 0},
	{"lowprio tie broken by APIC id, not index", FX_PPRIDS3, true, 0, LP(0, 0), 0xffffffffu, ALL,
	 B(2)},
	{"lowprio tie, lowest id not eligible", FX_PPRIDS3, true, 0, LP(0, 0), 0xffffffffu, B(0) | B(1),
	 B(1)},
	/* n = 1 */
	{"n=1 phys 0", FX_ONE, false, 0, FIX(0), XD(0), ALL, B(0)},
	{"n=1 phys 1", FX_ONE, false, 0, FIX(0), XD(1), ALL, 0},
	{"n=1 broadcast", FX_ONE, false, 0, FIX(0), XD(0xff), ALL, B(0)},
	{"n=1 x2 broadcast", FX_ONE, true, 0, FIX(0), 0xffffffffu, ALL, B(0)},
	{"n=1 all-excl", FX_ONE, false, 0, FIX(3), 0, ALL, 0},
	{"n=1 self", FX_ONE, false, 0, FIX(1), 0, ALL, B(0)},
	{"n=1 lowprio broadcast", FX_ONE, false, 0, LP(0, 0), XD(0xff), ALL, B(0)},
};

static void test_resolve_table(void)
{
	struct fixture f;
	for (unsigned i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		const struct rcase *c = &rcases[i];
		struct apic_ipi ipi;
		cpuset_t elig, out;

		fx_build(&f, c->fx);
		/* Exactly n entries on the heap, so that ASan sees any read past addrs[n - 1]. */
		struct apic_addr *addrs = malloc(f.n * sizeof(*addrs));
		if (addrs == NULL)
			abort();
		memcpy(addrs, f.a, f.n * sizeof(*addrs));
		mask_to_set(&elig, c->elig);
		if (c->elig == ALL)
			cpuset_fill(&elig, VM_MAXCPU); /* ids >= n eligible too: must still be cut */
		apic_ipi_decode(&ipi, c->sender, c->x2, c->lo, c->hi);
		apic_dest_resolve(&ipi, addrs, f.n, moved_of(addrs, f.n), &elig, &out);
		check_set(&out, c->want, c->name);
		free(addrs);
	}
}

static void test_x2apic_ldr(void)
{
	static const struct {
		uint32_t id, ldr;
	} c[] = {
		{0, 0x00000001u},          {15, 0x00008000u},         {16, 0x00010001u},
		{0x1f, 0x00018000u},       {0x25, 0x00020020u},       {0xfffff, 0xffff8000u},
		{0x100000, 0x00000001u},   {0x12345678u, 0x45670100u}, {0xffffffffu, 0xffff8000u},
	};
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		CHECK_EQ(apic_x2apic_ldr(c[i].id), c[i].ldr,
			 "x2APIC LDR of id 0x%x (SDM 10.12.10.2: ID[19:4] << 16 | 1 << ID[3:0])",
			 c[i].id);
}

/* ---- robustness: NULLs, n > VM_MAXCPU, n = VM_MAXCPU ------------------------------------- */

static void test_edges(void)
{
	struct fixture f;
	struct apic_ipi ipi;
	cpuset_t elig, out;

	fx_build(&f, FX_PLAIN8);
	cpuset_fill(&elig, VM_MAXCPU);
	apic_ipi_decode(&ipi, 0, false, FIX(2), 0);

	memset(&out, 0xa5, sizeof(out));
	apic_dest_resolve(&ipi, f.a, 0, moved_of(f.a, 0), &elig, &out);
	check_set(&out, 0, "n = 0: empty set");
	memset(&out, 0xa5, sizeof(out));
	apic_dest_resolve(&ipi, NULL, 8, moved_of(NULL, 8), &elig, &out);
	check_set(&out, 0, "addrs NULL: empty set");
	memset(&out, 0xa5, sizeof(out));
	apic_dest_resolve(&ipi, f.a, 8, moved_of(f.a, 8), NULL, &out);
	check_set(&out, 0, "eligible NULL: empty set");
	memset(&out, 0xa5, sizeof(out));
	apic_dest_resolve(NULL, f.a, 8, moved_of(f.a, 8), &elig, &out);
	check_set(&out, 0, "ipi NULL: empty set");
	apic_dest_resolve(&ipi, f.a, 8, moved_of(f.a, 8), &elig, NULL);
	CHECK(1, "out NULL: no crash");

	struct apic_ipi bad = {.shorthand = 9, .mode = APIC_DM_FIXED, .vector = 0x40};
	apic_dest_resolve(&bad, f.a, 8, moved_of(f.a, 8), &elig, &out);
	check_set(&out, 0, "hand-built shorthand 9: empty set");
	bad = (struct apic_ipi){.mode = APIC_DM_FIXED, .dest = 0x103, .vector = 0x40};
	apic_dest_resolve(&bad, f.a, 8, moved_of(f.a, 8), &elig, &out);
	check_set(&out, B(3), "hand-built xAPIC dest 0x103: only the low 8 bits count");

	/* n = VM_MAXCPU, all x2APIC, and n above VM_MAXCPU is clamped (ASan watches). */
	struct apic_addr *big = malloc(VM_MAXCPU * sizeof(*big));
	if (big == NULL)
		abort();
	for (uint32_t i = 0; i < VM_MAXCPU; i++)
		big[i] = (struct apic_addr){.id = i, .ldr = apic_x2apic_ldr(i), .dfr = DFR_FLAT,
					    .x2apic = 1, .sw_enabled = 1, .ppr = 0xff};
	big[777].ppr = 0;

	apic_ipi_decode(&ipi, 0, true, FIX(0), 0xffffffffu);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK_EQ(cpuset_count(&out), VM_MAXCPU, "n=1024: x2APIC physical broadcast reaches all");
	apic_dest_resolve(&ipi, big, 5000, moved_of(big, 5000), &elig, &out);
	CHECK_EQ(cpuset_count(&out), VM_MAXCPU, "n=5000 is clamped to VM_MAXCPU");
	apic_ipi_decode(&ipi, 0, true, FIX(0), 0x7fffffffu); /* forces the scan */
	apic_dest_resolve(&ipi, big, 5000, moved_of(big, 5000), &elig, &out);
	CHECK(cpuset_empty(&out), "n=5000: physical scan stays inside addrs[0..1023]");
	apic_ipi_decode(&ipi, 0, true, FIXL, 0x00400001u);
	apic_dest_resolve(&ipi, big, 5000, moved_of(big, 5000), &elig, &out);
	CHECK(cpuset_empty(&out), "n=5000: logical scan stays inside addrs[0..1023]");

	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(0xff));
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK_EQ(cpuset_count(&out), VM_MAXCPU, "n=1024: xAPIC 0xff broadcast reaches all");

	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(0x10));
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == 1 && cpuset_isset(&out, 0x10),
	      "n=1024: xAPIC dest 0x10 reaches id 16 only, not 0x110, 0x210, ...");

	apic_ipi_decode(&ipi, 0, true, FIX(0), 1023);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == 1 && cpuset_isset(&out, 1023), "n=1024: x2APIC unicast 1023");
	apic_ipi_decode(&ipi, 0, true, FIX(0), 1024);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_empty(&out), "n=1024: x2APIC unicast 1024 matches nothing");

	apic_ipi_decode(&ipi, 0, true, FIXL, (63u << 16) | 0xffffu);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == 16 && cpuset_next(&out, 0) == 1008,
	      "n=1024: x2APIC logical cluster 63 = ids 1008..1023");

	apic_ipi_decode(&ipi, 1023, true, FIX(3), 0);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == VM_MAXCPU - 1 && !cpuset_isset(&out, 1023),
	      "n=1024: all-excl from 1023");

	apic_ipi_decode(&ipi, 0, true, LP(0, 0), 0xffffffffu);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == 1 && cpuset_isset(&out, 777), "n=1024: lowprio finds ppr 0 at 777");

	cpuset_fill(&elig, 512);
	apic_ipi_decode(&ipi, 0, true, FIX(2), 0);
	apic_dest_resolve(&ipi, big, VM_MAXCPU, moved_of(big, VM_MAXCPU), &elig, &out);
	CHECK(cpuset_count(&out) == 512 && cpuset_equal(&out, &elig), "n=1024: all-incl & eligible");
	free(big);
}

/* ---- random ICRs and random addressing state ---------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, seeded below. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void test_random(void)
{
	uint64_t seed = 0x6879766521ULL; /* "hyve!" */
	unsigned bad_subset = 0, bad_lowprio = 0, bad_verdict = 0, bad_name = 0, runs = 4000;
	unsigned nonempty = 0;

	for (unsigned it = 0; it < runs; it++) {
		uint64_t r = rng_next(&seed);
		uint32_t n;
		switch (r & 7) {
		case 0:
			n = 0;
			break;
		case 1:
			n = 1;
			break;
		case 2:
			n = VM_MAXCPU;
			break;
		default:
			n = 1 + (uint32_t)((r >> 8) % 70);
			break;
		}
		struct apic_addr *a = malloc((n ? n : 1) * sizeof(*a));
		if (a == NULL)
			abort();
		for (uint32_t i = 0; i < n; i++) {
			uint64_t x = rng_next(&seed), y = rng_next(&seed);
			uint32_t id;
			switch (x & 3) {
			case 0:
				id = i; /* the usual case */
				break;
			case 1:
				id = (uint32_t)(y >> 32); /* anything */
				break;
			case 2:
				id = (uint32_t)(y % 300);
				break;
			default:
				id = 0xffffffffu - (uint32_t)(y & 3);
				break;
			}
			a[i] = (struct apic_addr){
				.id = id,
				.ldr = (x & 4) ? apic_x2apic_ldr(id) : (uint32_t)y,
				.dfr = (x & 8) ? DFR_FLAT : (x & 16) ? DFR_CLUSTER : (uint32_t)(y >> 16),
				.x2apic = (uint8_t)((x >> 5) & 1),
				.sw_enabled = (uint8_t)((x >> 6) & 1),
				.ppr = (uint8_t)(x >> 8),
				.pad = (uint8_t)(x >> 16),
			};
		}
		cpuset_t elig, out;
		for (unsigned w = 0; w < VM_MAXCPU / 64; w++)
			elig.bits[w] = rng_next(&seed) | ((it & 1) ? rng_next(&seed) : 0);
		uint32_t lo = (uint32_t)rng_next(&seed), hi = (uint32_t)rng_next(&seed);
		uint64_t s = rng_next(&seed);
		uint32_t sender = (s & 1) ? (uint32_t)(s >> 32) : (n ? (uint32_t)((s >> 8) % n) : 0);
		bool x2 = (s >> 2) & 1;
		if ((s >> 3) & 1)
			hi = (s >> 4) & 1 ? 0xffffffffu : 0xff000000u; /* broadcasts often */

		struct apic_ipi ipi;
		apic_ipi_decode(&ipi, sender, x2, lo, hi);
		enum apic_ipi_verdict v = apic_ipi_check(&ipi);
		if ((unsigned)v > APIC_IPI_IGNORE_UNSUPPORTED)
			bad_verdict++;
		if (!strcmp(apic_ipi_verdict_name(v), "unknown") || !strcmp(apic_dm_name(ipi.mode), "unknown") ||
		    !strcmp(apic_shorthand_name(ipi.shorthand), "unknown"))
			bad_name++;

		/* Resolve whatever the verdict: resolution itself must be safe on any input. */
		apic_dest_resolve(&ipi, a, n, moved_of(a, n), &elig, &out);
		cpuset_t allowed;
		cpuset_fill(&allowed, n);
		cpuset_and(&allowed, &elig);
		cpuset_t extra = out;
		cpuset_andnot(&extra, &allowed);
		if (!cpuset_empty(&extra)) {
			if (!bad_subset)
				printf("# first escape: it=%u lo=0x%08x hi=0x%08x n=%u\n", it, lo, hi, n);
			bad_subset++;
		}
		if (ipi.mode == APIC_DM_LOWPRIO && cpuset_count(&out) > 1)
			bad_lowprio++;
		nonempty += !cpuset_empty(&out);
		free(a);
	}
	CHECK_EQ(bad_subset, 0, "random: %u IPIs never target outside eligible and [0, n)", runs);
	CHECK_EQ(bad_lowprio, 0, "random: lowprio never yields more than one target");
	CHECK_EQ(bad_verdict, 0, "random: verdicts stay in the enum");
	CHECK_EQ(bad_name, 0, "random: decoded fields always have names");
	CHECK(nonempty > runs / 8, "random: a fair share of IPIs reach someone (%u of %u)", nonempty,
	      runs);
}

/* Writable xAPIC IDs (SDM 10.4.6): physical IPIs and I/O APIC messages go to
 * every APIC whose current ID matches, also when two share one, and not to a
 * vCPU whose ID moved away; the fast path is only taken while no ID moved. */
static void test_moved_ids(void)
{
	struct apic_addr a[8];
	cpuset_t elig, out;
	struct apic_ipi ipi;
	for (uint32_t i = 0; i < 8; i++)
		a[i] = (struct apic_addr){.id = i, .dfr = DFR_FLAT, .sw_enabled = 1};
	cpuset_fill(&elig, 8);
	a[5].id = 3; /* vCPU 5 took ID 3: vCPUs 3 and 5 share it */
	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(3));
	apic_dest_resolve(&ipi, a, 8, 1, &elig, &out);
	check_set(&out, B(3) | B(5), "moved: two APICs with ID 3 both receive a physical IPI to 3");
	apic_dest_resolve(&ipi, a, 8, 0, &elig, &out);
	check_set(&out, B(3), "moved: (a stale count of 0 takes the fast path: vCPU 3 only)");
	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(5));
	apic_dest_resolve(&ipi, a, 8, 1, &elig, &out);
	check_set(&out, 0, "moved: ID 5 moved away: nobody receives an IPI to 5");
	a[3].id = 0x42; /* vCPU 3 moved to an ID beyond n */
	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(0x42));
	apic_dest_resolve(&ipi, a, 8, 2, &elig, &out);
	check_set(&out, B(3), "moved: an ID above n is reached by a scan");
	apic_ipi_decode(&ipi, 0, false, FIX(0), XD(3));
	apic_dest_resolve(&ipi, a, 8, 2, &elig, &out);
	check_set(&out, B(5), "moved: ID 3 now held by vCPU 5 only");
	/* x2APIC-format destinations (the I/O APIC's path) compare the same ids */
	apic_ipi_decode(&ipi, 0, true, FIX(0), 3);
	apic_dest_resolve(&ipi, a, 8, 2, &elig, &out);
	check_set(&out, B(5), "moved: a 32-bit destination 3 reaches vCPU 5");
	/* lowest priority among the holders of an ID: one target */
	a[3].id = 3;
	apic_ipi_decode(&ipi, 0, false, LP(0, 0), XD(3));
	apic_dest_resolve(&ipi, a, 8, 1, &elig, &out);
	CHECK_EQ(cpuset_count(&out), 1, "moved: lowest priority to a shared ID picks one");
}

int main(void)
{
	test_moved_ids();
	test_decode();
	test_validity_table();
	test_validity_cases();
	test_names();
	test_x2apic_ldr();
	test_resolve_table();
	test_edges();
	test_random();
	return tap_done();
}
