/* cpuid.c: builds each vCPU's CPUID table from what KVM supports (see cpuid.h). */
#include <errno.h>
#include <string.h>

#include "vmm/cpuid.h"

#define CPUID1_ECX_MONITOR (1u << 3)
#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID1_EDX_APIC (1u << 9)
#define CPUID1_EDX_HTT (1u << 28)

#define CPUID6_EAX_ARAT (1u << 2)

/* KVM paravirtual features (Documentation/virt/kvm/x86/cpuid.rst) that work
 * without KVM's in-kernel LAPIC: kvmclock (CLOCKSOURCE, CLOCKSOURCE2, STABLE),
 * NOP_IO_DELAY, STEAL_TIME and PV_TLB_FLUSH; and PV_EOI (bit 6), which hyve's
 * vLAPIC implements itself (vcpu_lapic.c). PV_UNHALT, PV_SEND_IPI, ASYNC_PF*
 * and MSI_EXT_DEST_ID need KVM's LAPIC and would lose interrupts or IPIs. */
#define KVM_FEATURES_KEPT \
	((1u << 0) | (1u << 1) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 9) | (1u << 24))
#define KVM_LEAF_BASE 0x40000100u /* where hyve puts KVM's leaves, after its own */

#define TOPO_LEVEL_SMT 1u
#define TOPO_LEVEL_CORE 2u

struct cpuid_entry *cpuid_find(struct cpuid_entry *e, unsigned nent, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < nent; i++)
		if (e[i].function == fn &&
		    (!(e[i].flags & CPUID_FLAG_INDEXED) || e[i].index == idx))
			return &e[i];
	return NULL;
}

unsigned cpuid_phys_bits(const struct cpuid_entry *e, unsigned nent)
{
	for (unsigned i = 0; i < nent; i++)
		if (e[i].function == 0x80000008 && (e[i].eax & 0xff) >= 32)
			return e[i].eax & 0xff;
	return 36;
}

static unsigned order_base2(uint32_t n)
{
	unsigned b = 0;
	while (b < 32 && (1ULL << b) < n)
		b++;
	return b;
}

/* Removes entries of function fn (all indices); returns the new count. */
static unsigned drop_leaf(struct cpuid_entry *e, unsigned nent, uint32_t lo, uint32_t hi)
{
	unsigned w = 0;
	for (unsigned i = 0; i < nent; i++)
		if (e[i].function < lo || e[i].function > hi)
			e[w++] = e[i];
	return w;
}

static int put(struct cpuid_entry *e, unsigned *nent, unsigned cap, const struct cpuid_entry *v)
{
	struct cpuid_entry *old = cpuid_find(e, *nent, v->function, v->index);
	if (old && old->index == v->index) {
		*old = *v;
		return 0;
	}
	if (*nent >= cap)
		return -ENOSPC;
	e[(*nent)++] = *v;
	return 0;
}

static int topology_leaf(struct cpuid_entry *e, unsigned *nent, unsigned cap, uint32_t fn,
			 const struct cpuid_params *p)
{
	/* Subleaf 0: SMT level, 1 thread per core; subleaf 1: core level, ncpus
	 * cores; subleaf 2: invalid level (ECX[15:8] = 0) ends the enumeration. */
	const uint32_t shift = order_base2(p->ncpus);
	for (uint32_t sub = 0; sub < 3; sub++) {
		struct cpuid_entry v = {.function = fn, .index = sub,
					     .flags = CPUID_FLAG_INDEXED, .edx = p->apic_id};
		if (sub == 0) {
			v.eax = 0;
			v.ebx = 1;
			v.ecx = (TOPO_LEVEL_SMT << 8) | sub;
		} else if (sub == 1) {
			v.eax = shift;
			v.ebx = p->ncpus & 0xffff;
			v.ecx = (TOPO_LEVEL_CORE << 8) | sub;
		} else {
			v.ecx = sub;
		}
		int r = put(e, nent, cap, &v);
		if (r)
			return r;
	}
	return 0;
}

int cpuid_build(struct cpuid_entry *e, unsigned nent, unsigned cap, const struct cpuid_params *p)
{
	int r;
	struct cpuid_entry *l0 = cpuid_find(e, nent, 0, 0);
	if (l0 && l0->eax < 0xb)
		l0->eax = 0xb; /* make the topology leaf reachable */
	const bool has_1f = l0 && l0->eax >= 0x1f; /* l0 may move when leaves are dropped */

	struct cpuid_entry *l1 = cpuid_find(e, nent, 1, 0);
	if (l1) {
		uint32_t lp = p->ncpus > 255 ? 255 : p->ncpus;
		l1->ebx = (l1->ebx & 0x0000ffffu) | (lp << 16) | ((p->apic_id & 0xff) << 24);
		l1->ecx &= ~(CPUID1_ECX_MONITOR | CPUID1_ECX_X2APIC);
		l1->ecx |= CPUID1_ECX_TSC_DEADLINE; /* backed by the vLAPIC timer (SDM 10.5.4.1) */
		l1->ecx |= CPUID1_ECX_HYPERVISOR | (p->x2apic ? CPUID1_ECX_X2APIC : 0);
		l1->edx |= CPUID1_EDX_APIC;
		if (p->ncpus > 1)
			l1->edx |= CPUID1_EDX_HTT;
		else
			l1->edx &= ~CPUID1_EDX_HTT;
	}
	/* Leaf 4 (deterministic cache parameters): EAX[31:26] = cores per package - 1. */
	for (unsigned i = 0; i < nent; i++)
		if (e[i].function == 4) {
			uint32_t cores = p->ncpus > 64 ? 64 : p->ncpus;
			e[i].eax = (e[i].eax & 0x03ffffffu) | ((cores - 1) << 26);
			e[i].eax &= ~(0xfffu << 14); /* one thread shares each cache level */
		}

	/* Drop everything that goes before adding anything: the table never needs
	 * more room than its final size, so -ENOSPC means cap is really too small. */
	/* Leaf 6: the APIC timer always runs (ARAT), so Linux keeps it in idle. */
	struct cpuid_entry *l6 = cpuid_find(e, nent, 6, 0);
	if (l6)
		l6->eax |= CPUID6_EAX_ARAT;
	struct cpuid_entry *kvmf = cpuid_find(e, nent, 0x40000001, 0);
	const bool have_kvm = kvmf != NULL;
	const uint32_t kvm_features = have_kvm ? kvmf->eax & KVM_FEATURES_KEPT : 0;

	nent = drop_leaf(e, nent, 0xb, 0xb);
	nent = drop_leaf(e, nent, 0x1f, 0x1f);
	nent = drop_leaf(e, nent, 0x40000000, 0x400000ff);
	if ((r = topology_leaf(e, &nent, cap, 0xb, p)))
		return r;
	if (has_1f && (r = topology_leaf(e, &nent, cap, 0x1f, p)))
		return r;

	struct cpuid_entry hv = {.function = 0x40000000, .eax = p->tsc_khz ? 0x40000010 : 0x40000000};
	memcpy(&hv.ebx, HYVE_CPUID_SIGNATURE, 4);
	memcpy(&hv.ecx, HYVE_CPUID_SIGNATURE + 4, 4);
	memcpy(&hv.edx, HYVE_CPUID_SIGNATURE + 8, 4);
	if ((r = put(e, &nent, cap, &hv)))
		return r;
	if (p->tsc_khz) {
		struct cpuid_entry t = {.function = 0x40000010, .eax = p->tsc_khz, .ebx = 1000000};
		if ((r = put(e, &nent, cap, &t)))
			return r;
	}
	if (have_kvm) {
		/* Linux finds KVM by scanning 0x40000000 + n * 0x100 for its signature. */
		struct cpuid_entry kb = {.function = KVM_LEAF_BASE, .eax = KVM_LEAF_BASE + 1};
		memcpy(&kb.ebx, "KVMKVMKVM\0\0\0", 12);
		struct cpuid_entry kf = {.function = KVM_LEAF_BASE + 1, .eax = kvm_features};
		if ((r = put(e, &nent, cap, &kb)) || (r = put(e, &nent, cap, &kf)))
			return r;
	}
	return (int)nent;
}
