/* test_cpuid.c: the per-vCPU CPUID table builder (vmm/cpuid.c) over a synthetic KVM table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/cpuid.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CAP 64
#define SIG CPUID_FLAG_INDEXED

#define L1_ECX_SSE3 (1u << 0)
#define L1_ECX_MONITOR (1u << 3)
#define L1_ECX_SSSE3 (1u << 9)
#define L1_ECX_X2APIC (1u << 21)
#define L1_ECX_TSC_DEADLINE (1u << 24)
#define L1_ECX_HYPERVISOR (1u << 31)
#define L1_EDX_FPU (1u << 0)
#define L1_EDX_APIC (1u << 9)
#define L1_EDX_HTT (1u << 28)

/* A table like the one KVM_GET_SUPPORTED_CPUID returns on an Intel host.
 * max_basic: leaf 0 EAX; with_1f: include KVM's own 0x1f subleaves. */
static unsigned make_table(struct cpuid_entry *e, uint32_t max_basic, bool host_x2apic, bool with_1f)
{
	unsigned n = 0;
	memset(e, 0, sizeof(*e) * CAP);
	e[n++] = (struct cpuid_entry){
		.function = 0, .eax = max_basic, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69};
	e[n++] = (struct cpuid_entry){.function = 1,
					   .eax = 0x000906ea,
					   .ebx = 0x00100800,
					   .ecx = L1_ECX_SSE3 | L1_ECX_MONITOR | L1_ECX_SSSE3 |
						  L1_ECX_TSC_DEADLINE | (host_x2apic ? L1_ECX_X2APIC : 0),
					   .edx = L1_EDX_FPU | L1_EDX_APIC | L1_EDX_HTT};
	for (uint32_t i = 0; i < 4; i++)
		e[n++] = (struct cpuid_entry){.function = 4,
						   .index = i,
						   .flags = SIG,
						   .eax = (7u << 26) | (1u << 14) | (i < 2 ? 0x121 : 0x143),
						   .ebx = 0x01c0003f + i,
						   .ecx = 0x3f + i};
	/* KVM's view of the host topology: wrong for the guest. */
	e[n++] = (struct cpuid_entry){
		.function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7};
	e[n++] = (struct cpuid_entry){
		.function = 0xb, .index = 1, .flags = SIG, .eax = 4, .ebx = 16, .ecx = 0x201, .edx = 7};
	e[n++] = (struct cpuid_entry){
		.function = 0xd, .index = 0, .flags = SIG, .eax = 0x7, .ebx = 0x340, .ecx = 0x340};
	e[n++] = (struct cpuid_entry){.function = 0xd, .index = 1, .flags = SIG, .eax = 0xf};
	if (with_1f) {
		e[n++] = (struct cpuid_entry){.function = 0x1f,
						   .index = 0,
						   .flags = SIG,
						   .eax = 1,
						   .ebx = 2,
						   .ecx = 0x100,
						   .edx = 9};
		e[n++] = (struct cpuid_entry){.function = 0x1f,
						   .index = 1,
						   .flags = SIG,
						   .eax = 5,
						   .ebx = 24,
						   .ecx = 0x201,
						   .edx = 9};
		e[n++] = (struct cpuid_entry){
			.function = 0x1f, .index = 2, .flags = SIG, .eax = 0, .ebx = 0, .ecx = 0x2, .edx = 9};
	}
	struct cpuid_entry kvm = {.function = 0x40000000, .eax = 0x40000001};
	memcpy(&kvm.ebx, "KVMKVMKVM\0\0\0", 12);
	e[n++] = kvm;
	e[n++] = (struct cpuid_entry){.function = 0x40000001, .eax = 0x01007afb};
	e[n++] = (struct cpuid_entry){.function = 0x80000000, .eax = 0x80000008};
	e[n++] = (struct cpuid_entry){.function = 0x80000008, .eax = 0x00003027};
	return n;
}

static unsigned count_fn(const struct cpuid_entry *e, unsigned n, uint32_t lo, uint32_t hi)
{
	unsigned c = 0;
	for (unsigned i = 0; i < n; i++)
		c += e[i].function >= lo && e[i].function <= hi;
	return c;
}

static bool same_entry(const struct cpuid_entry *a, const struct cpuid_entry *b)
{
	return a && b && a->function == b->function && a->index == b->index && a->flags == b->flags &&
	       a->eax == b->eax && a->ebx == b->ebx && a->ecx == b->ecx && a->edx == b->edx;
}

static uint32_t ceil_log2(uint32_t n)
{
	uint32_t s = 0;
	while ((1ULL << s) < n)
		s++;
	return s;
}

/* The extended topology leaf (SDM Vol. 2A, CPUID leaf 0BH / 1FH). */
static void check_topology(struct cpuid_entry *e, unsigned n, uint32_t fn, uint32_t id, uint32_t ncpus,
			   const char *what)
{
	CHECK_EQ(count_fn(e, n, fn, fn), 3, "%s: leaf 0x%x has exactly subleaves 0, 1, 2", what, fn);
	struct cpuid_entry *s0 = cpuid_find(e, n, fn, 0), *s1 = cpuid_find(e, n, fn, 1),
				*s2 = cpuid_find(e, n, fn, 2);
	if (!CHECK(s0 && s1 && s2, "%s: leaf 0x%x subleaves present", what, fn))
		return;
	CHECK((s0->flags & SIG) && (s1->flags & SIG) && (s2->flags & SIG), "%s: 0x%x: index significant",
	      what, fn);
	CHECK(s0->edx == id && s1->edx == id && s2->edx == id,
	      "%s: 0x%x: EDX = full x2APIC ID %u in every subleaf", what, fn, id);
	CHECK(s0->eax == 0 && s0->ebx == 1 && s0->ecx == 0x100,
	      "%s: 0x%x.0: SMT level, shift 0, 1 thread (eax %x ebx %x ecx %x)", what, fn, s0->eax, s0->ebx,
	      s0->ecx);
	CHECK_EQ(s1->eax, ceil_log2(ncpus), "%s: 0x%x.1: shift = ceil(log2(%u))", what, fn, ncpus);
	CHECK_EQ(s1->ebx, ncpus, "%s: 0x%x.1: %u logical processors", what, fn, ncpus);
	CHECK_EQ(s1->ecx, 0x201, "%s: 0x%x.1: core level, subleaf 1", what, fn);
	CHECK(s2->eax == 0 && s2->ebx == 0 && s2->ecx == 2, "%s: 0x%x.2: invalid level ends the list", what,
	      fn);
	CHECK(cpuid_find(e, n, fn, 3) == NULL, "%s: 0x%x.3 absent", what, fn);
}

struct vcase {
	uint32_t id, ncpus;
	bool x2apic;
};

static void test_build(void)
{
	static const struct vcase vc[] = {
		{0, 1, false},	   {0, 4, false},    {5, 6, false},  {5, 8, true},
		{254, 255, false}, {300, 301, true}, {0, 300, true}, {1023, 1024, true},
	};
	struct cpuid_entry tmpl[CAP], e[CAP];
	for (unsigned c = 0; c < ARRAY_SIZE(vc); c++)
		for (unsigned host_x2 = 0; host_x2 < 2; host_x2++) {
			const struct vcase *v = &vc[c];
			char what[64];
			snprintf(what, sizeof(what), "id %u of %u, x2apic %d, host x2apic %u", v->id,
				 v->ncpus, v->x2apic, host_x2);
			unsigned n0 = make_table(tmpl, 0xd, host_x2, false);
			memcpy(e, tmpl, sizeof(e));
			struct cpuid_params p = {.apic_id = v->id, .ncpus = v->ncpus, .x2apic = v->x2apic};
			int n = cpuid_build(e, n0, CAP, &p);
			/* -2 (KVM 0xb) +3 (0xb) -2 (KVM PV leaves) +1 (hyve) +2 (KVM's, moved) */
			if (!CHECK(n == (int)n0 + 2, "%s: entry count %d (-2 KVM 0xb +3, -2 PV leaves +1 +2)",
				   what, n))
				continue;
			unsigned un = (unsigned)n;

			struct cpuid_entry *l0 = cpuid_find(e, un, 0, 0), *l1 = cpuid_find(e, un, 1, 0);
			CHECK(l0 && l0->eax == 0xd && l0->ebx == tmpl[0].ebx, "%s: leaf 0 kept (max 0xd)",
			      what);
			if (CHECK(l1 != NULL, "%s: leaf 1 present", what)) {
				CHECK_EQ(l1->ebx >> 24, v->id & 0xff, "%s: leaf 1 EBX[31:24] initial APIC ID",
					 what);
				CHECK_EQ((l1->ebx >> 16) & 0xff, v->ncpus > 255 ? 255 : v->ncpus,
					 "%s: leaf 1 EBX[23:16] logical processor count", what);
				CHECK_EQ(l1->ebx & 0xffff, 0x0800, "%s: leaf 1 EBX[15:0] kept", what);
				CHECK_EQ(!!(l1->edx & L1_EDX_HTT), v->ncpus > 1,
					 "%s: HTT iff more than one vCPU", what);
				CHECK(l1->edx & L1_EDX_APIC, "%s: APIC present", what);
				CHECK_EQ(!!(l1->ecx & L1_ECX_X2APIC), v->x2apic,
					 "%s: x2APIC bit follows the params", what);
				CHECK(!(l1->ecx & L1_ECX_MONITOR), "%s: MONITOR cleared", what);
				CHECK(l1->ecx & L1_ECX_TSC_DEADLINE, "%s: TSC-deadline offered (vLAPIC timer)",
				      what);
				CHECK(l1->ecx & L1_ECX_HYPERVISOR, "%s: hypervisor bit", what);
				CHECK((l1->ecx & (L1_ECX_SSE3 | L1_ECX_SSSE3)) ==
						      (L1_ECX_SSE3 | L1_ECX_SSSE3) &&
					      (l1->edx & L1_EDX_FPU) && l1->eax == tmpl[1].eax,
				      "%s: other leaf 1 features kept", what);
			}
			check_topology(e, un, 0xb, v->id, v->ncpus, what);
			CHECK_EQ(count_fn(e, un, 0x1f, 0x1f), 0, "%s: no leaf 0x1f when leaf 0 max < 0x1f",
				 what);

			unsigned bad4 = 0, n4 = 0;
			uint32_t cores = v->ncpus > 64 ? 64 : v->ncpus;
			for (unsigned i = 0; i < un; i++)
				if (e[i].function == 4) {
					n4++;
					bad4 += (e[i].eax >> 26) != cores - 1 ||
						((e[i].eax >> 14) & 0xfff) != 0 ||
						(e[i].eax & 0x3fff) != (tmpl[2 + e[i].index].eax & 0x3fff) ||
						e[i].ebx != tmpl[2 + e[i].index].ebx;
				}
			CHECK(n4 == 4 && bad4 == 0,
			      "%s: leaf 4: cores-1 = %u in EAX[31:26], 1 thread per cache, rest kept", what,
			      cores - 1);

			CHECK_EQ(count_fn(e, un, 0x40000000, 0x400000ff), 1,
				 "%s: KVM's PV leaves gone, one left", what);
			struct cpuid_entry *hv = cpuid_find(e, un, 0x40000000, 0);
			char sig[13] = {0};
			if (hv) {
				memcpy(sig, &hv->ebx, 4);
				memcpy(sig + 4, &hv->ecx, 4);
				memcpy(sig + 8, &hv->edx, 4);
			}
			CHECK(hv && strcmp(sig, "hyvehyvehyve") == 0, "%s: 0x40000000 signature \"%s\"", what,
			      sig);
			CHECK(hv && hv->eax == 0x40000000, "%s: 0x40000000 EAX = highest hypervisor leaf",
			      what);
			CHECK(cpuid_find(e, un, 0x40000001, 0) == NULL, "%s: 0x40000001 (KVM features) gone",
			      what);
			struct cpuid_entry *kb = cpuid_find(e, un, 0x40000100, 0);
			struct cpuid_entry *kf = cpuid_find(e, un, 0x40000101, 0);
			char ksig[13] = {0};
			if (kb) {
				memcpy(ksig, &kb->ebx, 4);
				memcpy(ksig + 4, &kb->ecx, 4);
				memcpy(ksig + 8, &kb->edx, 4);
			}
			CHECK(kb && kb->eax == 0x40000101 && !memcmp(ksig, "KVMKVMKVM\0\0\0", 12),
			      "%s: KVM's signature moved to 0x40000100", what);
			CHECK(kf && kf->eax == 0x0100026b,
			      "%s: 0x40000101 keeps only kvmclock, NOP_IO_DELAY, steal time, PV EOI (hyve's), "
			      "PV TLB flush, STABLE (0x%x)", what, kf ? kf->eax : 0);
			CHECK(same_entry(cpuid_find(e, un, 0xd, 0), &tmpl[8]) &&
				      same_entry(cpuid_find(e, un, 0xd, 1), &tmpl[9]) &&
				      same_entry(cpuid_find(e, un, 0x80000000, 0),
						 cpuid_find(tmpl, n0, 0x80000000, 0)) &&
				      same_entry(cpuid_find(e, un, 0x80000008, 0),
						 cpuid_find(tmpl, n0, 0x80000008, 0)),
			      "%s: unrelated leaves untouched", what);
		}
}

static void test_leaf0_and_1f(void)
{
	struct cpuid_entry e[CAP];
	struct cpuid_params p = {.apic_id = 5, .ncpus = 6, .x2apic = true};

	/* max 0x1f: leaf 0x1f rebuilt like 0xb. */
	unsigned n0 = make_table(e, 0x1f, true, true);
	int n = cpuid_build(e, n0, CAP, &p);
	CHECK_EQ(n, (int)n0 + 2, "1f: entry count (-3 KVM 0x1f +3, -2 0xb +3, -2 PV +1 +2 moved)");
	if (n > 0) {
		CHECK_EQ(cpuid_find(e, (unsigned)n, 0, 0)->eax, 0x1f, "1f: leaf 0 max kept");
		check_topology(e, (unsigned)n, 0xb, 5, 6, "1f id 5");
		check_topology(e, (unsigned)n, 0x1f, 5, 6, "1f id 5");
	}

	/* max 0x1f but KVM gave no 0x1f entries: hyve adds them. */
	n0 = make_table(e, 0x1f, true, false);
	p.apic_id = 300;
	p.ncpus = 512;
	n = cpuid_build(e, n0, CAP, &p);
	CHECK_EQ(n, (int)n0 + 5, "1f added: entry count (+1 0xb, +3 0x1f, -1 PV, +2 KVM moved)");
	if (n > 0)
		check_topology(e, (unsigned)n, 0x1f, 300, 512, "1f added id 300");

	/* max below 0x1f: KVM's stray 0x1f entries are removed. */
	n0 = make_table(e, 0xd, true, true);
	p.apic_id = 0;
	p.ncpus = 2;
	n = cpuid_build(e, n0, CAP, &p);
	CHECK(n > 0 && count_fn(e, (unsigned)n, 0x1f, 0x1f) == 0, "1f: removed when leaf 0 max is 0xd");

	/* max below 0xb: raised so the topology leaf is reachable. */
	n0 = make_table(e, 0x7, true, false);
	n = cpuid_build(e, n0, CAP, &p);
	CHECK(n > 0 && cpuid_find(e, (unsigned)n, 0, 0)->eax == 0xb, "leaf 0: max 7 raised to 0xb");
	if (n > 0)
		check_topology(e, (unsigned)n, 0xb, 0, 2, "max 7");

	/* Shift for a range of counts. */
	static const uint32_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 255, 256, 257, 1024};
	unsigned bad = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++) {
		n0 = make_table(e, 0xd, true, false);
		p = (struct cpuid_params){.apic_id = counts[i] - 1, .ncpus = counts[i], .x2apic = true};
		n = cpuid_build(e, n0, CAP, &p);
		struct cpuid_entry *s1 = n > 0 ? cpuid_find(e, (unsigned)n, 0xb, 1) : NULL;
		if (!s1 || s1->eax != ceil_log2(counts[i]) || s1->ebx != counts[i] ||
		    s1->edx != counts[i] - 1) {
			bad++;
			printf("#   ncpus %u: shift %u\n", counts[i], s1 ? s1->eax : 99);
		}
	}
	CHECK_EQ(bad, 0, "0xb.1: shift = ceil(log2(ncpus)) for 1..1024");
}

/* Tables for several vCPUs from one template are independent. */
static void test_per_vcpu(void)
{
	struct cpuid_entry tmpl[CAP], a[CAP], b[CAP], c[CAP];
	unsigned n0 = make_table(tmpl, 0xd, true, false);
	memcpy(a, tmpl, sizeof(a));
	memcpy(b, tmpl, sizeof(b));
	memcpy(c, tmpl, sizeof(c));
	struct cpuid_params pa = {0, 301, true, 0}, pb = {5, 301, true, 0}, pc = {300, 301, true, 0};
	int na = cpuid_build(a, n0, CAP, &pa), nb = cpuid_build(b, n0, CAP, &pb),
	    nc = cpuid_build(c, n0, CAP, &pc);
	CHECK(na > 0 && nb > 0 && nc > 0, "per vcpu: three tables built");
	if (na <= 0 || nb <= 0 || nc <= 0)
		return;
	CHECK(cpuid_find(a, (unsigned)na, 0xb, 0)->edx == 0 &&
		      cpuid_find(b, (unsigned)nb, 0xb, 0)->edx == 5 &&
		      cpuid_find(c, (unsigned)nc, 0xb, 2)->edx == 300,
	      "per vcpu: x2APIC IDs 0, 5, 300");
	CHECK((cpuid_find(a, (unsigned)na, 1, 0)->ebx >> 24) == 0 &&
		      (cpuid_find(b, (unsigned)nb, 1, 0)->ebx >> 24) == 5 &&
		      (cpuid_find(c, (unsigned)nc, 1, 0)->ebx >> 24) == (300 & 0xff),
	      "per vcpu: initial APIC IDs 0, 5, 44 (300 & 0xff)");
	CHECK(same_entry(&tmpl[1], cpuid_find(tmpl, n0, 1, 0)) && tmpl[1].ebx == 0x00100800,
	      "per vcpu: the template is not modified");
}

static void test_enospc(void)
{
	struct cpuid_entry e[CAP];
	struct cpuid_params p = {.apic_id = 1, .ncpus = 4, .x2apic = false};
	/* A table with no 0xb and no PV leaves needs 3 + 1 more entries. */
	unsigned n0 = make_table(e, 0xd, false, false);
	unsigned w = 0;
	for (unsigned i = 0; i < n0; i++)
		if (e[i].function != 0xb && (e[i].function < 0x40000000 || e[i].function > 0x400000ff))
			e[w++] = e[i];
	n0 = w;
	struct cpuid_entry save[CAP];
	memcpy(save, e, sizeof(e));
	int need = cpuid_build(e, n0, CAP, &p);
	CHECK_EQ(need, (int)n0 + 4, "enospc: table without 0xb/PV leaves grows by 4");
	unsigned bad = 0;
	for (unsigned cap = n0; cap < (unsigned)need; cap++) {
		memcpy(e, save, sizeof(e));
		int r = cpuid_build(e, n0, cap, &p);
		if (r != -ENOSPC) {
			bad++;
			printf("#   cap %u: %d\n", cap, r);
		}
	}
	CHECK_EQ(bad, 0, "enospc: -ENOSPC for every cap below what is needed");
	memcpy(e, save, sizeof(e));
	CHECK_EQ(cpuid_build(e, n0, (unsigned)need, &p), need, "enospc: exactly enough room works");

	/* The full KVM-like table shrinks and grows along the way: cap == the final count must do. */
	struct cpuid_entry f[CAP];
	unsigned nf = make_table(f, 0x1f, true, true);
	memcpy(save, f, sizeof(f));
	int fin = cpuid_build(f, nf, CAP, &p);
	memcpy(f, save, sizeof(f));
	CHECK_EQ(cpuid_build(f, nf, (unsigned)fin, &p), fin,
		 "enospc: cap equal to the final entry count suffices");
	memcpy(f, save, sizeof(f));
	CHECK_EQ(cpuid_build(f, nf, (unsigned)fin - 1, &p), -ENOSPC, "enospc: one less is -ENOSPC");
}

static void test_find_and_phys_bits(void)
{
	struct cpuid_entry e[CAP];
	unsigned n = make_table(e, 0xd, true, false);
	CHECK(cpuid_find(e, n, 4, 2) == &e[4], "find: leaf 4 subleaf 2 by index");
	CHECK(cpuid_find(e, n, 4, 9) == NULL, "find: leaf 4 subleaf 9 absent");
	CHECK(cpuid_find(e, n, 1, 7) == &e[1], "find: leaf 1 ignores the index");
	CHECK(cpuid_find(e, n, 0x12345, 0) == NULL, "find: absent leaf");
	CHECK(cpuid_find(e, 0, 0, 0) == NULL, "find: empty table");

	CHECK_EQ(cpuid_phys_bits(e, n), 39, "phys bits: 0x80000008 EAX[7:0] = 39");
	struct cpuid_entry *x = cpuid_find(e, n, 0x80000008, 0);
	x->eax = 0x3020;
	CHECK_EQ(cpuid_phys_bits(e, n), 32, "phys bits: 32");
	x->eax = 0x3034;
	CHECK_EQ(cpuid_phys_bits(e, n), 52, "phys bits: 52");
	x->eax = 0x301f;
	CHECK_EQ(cpuid_phys_bits(e, n), 36, "phys bits: implausible 31 -> 36");
	x->function = 0x80000007;
	CHECK_EQ(cpuid_phys_bits(e, n), 36, "phys bits: no leaf 0x80000008 -> 36");
	CHECK_EQ(cpuid_phys_bits(e, 0), 36, "phys bits: empty table -> 36");
}

static void test_timing_leaf(void)
{
	struct cpuid_entry e[CAP];
	unsigned n0 = make_table(e, 0xd, true, false);
	struct cpuid_params p = {.apic_id = 1, .ncpus = 2, .x2apic = true, .tsc_khz = 2100000};
	int n = cpuid_build(e, n0, CAP, &p);
	struct cpuid_entry *hv = n > 0 ? cpuid_find(e, (unsigned)n, 0x40000000, 0) : NULL;
	struct cpuid_entry *t = n > 0 ? cpuid_find(e, (unsigned)n, 0x40000010, 0) : NULL;
	CHECK(hv && hv->eax == 0x40000010, "timing: 0x40000000 EAX reaches the timing leaf");
	CHECK(t && t->eax == 2100000 && t->ebx == 1000000, "timing: 0x40000010 = TSC kHz, bus kHz (1 GHz)");
}

int main(void)
{
	test_build();
	test_leaf0_and_1f();
	test_per_vcpu();
	test_enospc();
	test_find_and_phys_bits();
	test_timing_leaf();
	return tap_done();
}
