/* cpuid.h: the CPUID table hyve gives each vCPU (pure; unit-tested on the host). */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <stdbool.h>
#include <stdint.h>

/* One CPUID leaf (function) and subleaf (index) with its four outputs, as
 * KVM_GET_SUPPORTED_CPUID and KVM_SET_CPUID2 carry it (vmm/kvm.c converts). */
struct cpuid_entry {
	uint32_t function, index;
	uint32_t flags; /* CPUID_FLAG_INDEXED, or 0; other KVM flags are carried unchanged */
	uint32_t eax, ebx, ecx, edx;
};

/* index is significant for this function (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
#define CPUID_FLAG_INDEXED 1u

struct cpuid_params {
	uint32_t apic_id; /* this vCPU's APIC ID (== vCPU id) */
	uint32_t ncpus;   /* configured vCPUs */
	bool x2apic;      /* offer x2APIC (CPUID.1:ECX[21]) */
	uint32_t tsc_khz; /* guest TSC frequency for the timing leaf (0: no timing leaf) */
};

/* Signature of hyve's hypervisor leaf 0x40000000 (EBX, ECX, EDX). */
#define HYVE_CPUID_SIGNATURE "hyvehyvehyve"

/* Rewrites the table KVM_GET_SUPPORTED_CPUID returned (nent entries, room for
 * cap) into this vCPU's table:
 *  - leaf 1: initial APIC ID (EBX[31:24], low 8 bits), logical processor count
 *    (EBX[23:16]) and HTT, APIC present, x2APIC per params, hypervisor bit;
 *    TSC-deadline, MONITOR and PCID-less features hyve does not back cleared;
 *  - leaves 0xb and 0x1f: one thread per core, ncpus cores, EDX = x2APIC ID
 *    (SDM Vol. 2A CPUID, "Extended Topology Enumeration Leaf");
 *  - leaf 4: cores per package;
 *  - leaf 6: ARAT;
 *  - 0x40000010, the de-facto hypervisor timing leaf (VMware's, also offered
 *    by QEMU): EAX = TSC kHz, EBX = APIC bus kHz (1 GHz), when tsc_khz != 0;
 *  - hypervisor leaves: 0x40000000 = hyve's signature; KVM's leaves move to
 *    0x40000100 (signature) and 0x40000101 (features), keeping only the PV
 *    features that work without KVM's in-kernel LAPIC (kvmclock, steal time,
 *    PV TLB flush, NOP I/O delay); they are added only when KVM offered them.
 * Returns the new entry count, or -ENOSPC when cap is too small. */
int cpuid_build(struct cpuid_entry *e, unsigned nent, unsigned cap, const struct cpuid_params *p);

/* Guest MAXPHYADDR from leaf 0x80000008 (36 if absent). */
unsigned cpuid_phys_bits(const struct cpuid_entry *e, unsigned nent);

/* Entry for (function, index), or NULL. */
struct cpuid_entry *cpuid_find(struct cpuid_entry *e, unsigned nent, uint32_t fn, uint32_t idx);

#endif
