/* apic_dest.h: pure IPI decoding and destination resolution (smp-spec section 2).
 *
 * No VM, no locks, no KVM: the core hands in a snapshot of every configured
 * vCPU's addressing state and gets back a target set. Unit-tested on the host
 * (tests/unit/test_apic_dest.c).
 * SDM = Intel SDM Vol. 3A chapter 10 (APIC); table 10-3 is the ICR validity table.
 */
#ifndef VMM_APIC_DEST_H
#define VMM_APIC_DEST_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/cpuset.h"

/* ICR delivery modes (ICR bits 10:8, SDM 10.6.1). */
enum apic_dm {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWPRIO = 1,
	APIC_DM_SMI = 2,
	APIC_DM_REMOTE_READ = 3, /* "reserved" on P6+, remote read on 82489DX */
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_STARTUP = 6,
	APIC_DM_RESERVED = 7,
};

/* ICR destination shorthand (bits 19:18). */
enum apic_shorthand {
	APIC_SH_NONE = 0,
	APIC_SH_SELF = 1,
	APIC_SH_ALL_INCL = 2,
	APIC_SH_ALL_EXCL = 3,
};

/* ICR low-word bit layout (xAPIC 0x300, x2APIC MSR 0x830 bits 31:0). */
#define APIC_ICR_VECTOR_MASK 0xffu
#define APIC_ICR_DM_SHIFT 8
#define APIC_ICR_DM_MASK (7u << 8)
#define APIC_ICR_DESTMODE_LOGICAL (1u << 11)
#define APIC_ICR_DELIVERY_PENDING (1u << 12) /* read-only; hyve always reads idle */
#define APIC_ICR_LEVEL_ASSERT (1u << 14)
#define APIC_ICR_TRIGGER_LEVEL (1u << 15)
#define APIC_ICR_SH_SHIFT 18
#define APIC_ICR_SH_MASK (3u << 18)

/* One decoded ICR write. */
struct apic_ipi {
	uint32_t sender;     /* vCPU id of the sender (== its initial APIC ID; SELF/ALL_EXCL use it) */
	uint32_t dest;       /* destination field: ICR[63:56] in xAPIC, ICR[63:32] in x2APIC */
	uint8_t vector;      /* ICR[7:0] */
	uint8_t mode;        /* enum apic_dm */
	uint8_t shorthand;   /* enum apic_shorthand */
	bool logical;        /* ICR[11]: logical destination mode */
	bool level_assert;   /* ICR[14] */
	bool trigger_level;  /* ICR[15] */
	bool x2apic;         /* sender's APIC is in x2APIC mode */
};

/* Builds an apic_ipi from the raw ICR (low 32 bits, and the destination as it
 * sits in the register: xAPIC ICR_HI bits 31:24 are taken from icr_hi >> 24,
 * x2APIC uses all 32 bits of icr_hi). */
void apic_ipi_decode(struct apic_ipi *ipi, uint32_t sender, bool x2apic, uint32_t icr_lo,
		     uint32_t icr_hi);

/* Addressing state of one configured vCPU as destination resolution sees it.
 * For a vCPU whose vLAPIC was never allocated the core passes the reset
 * values: id = vCPU id, ldr = 0, dfr = 0xffffffff, x2apic = 0, sw_enabled = 0,
 * ppr = 0 (SDM 10.4.7.1). */
struct apic_addr {
	uint32_t id;     /* current APIC ID (full 32 bits; in xAPIC mode the guest may rewrite it, register bits 31:24) */
	uint32_t ldr;    /* LDR register value as the guest reads it (xAPIC: bits 31:24 used) */
	uint32_t dfr;    /* DFR (xAPIC only; model in bits 31:28: 1111b flat, 0000b cluster) */
	uint8_t x2apic;  /* 1 if this APIC is in x2APIC mode */
	uint8_t sw_enabled; /* SVR[8] */
	uint8_t ppr;     /* processor priority register (for lowest-priority arbitration) */
	uint8_t pad;
};

/* What the core must do with an ICR write (SDM table 10-3 plus smp-spec 2.4). */
enum apic_ipi_verdict {
	APIC_IPI_DELIVER = 0,       /* resolve the destination and deliver */
	APIC_IPI_ILLEGAL_VECTOR,    /* FIXED/LOWPRIO with vector < 16: set ESR "send illegal vector" (bit 5), deliver nothing */
	APIC_IPI_IGNORE_INVALID,    /* invalid combination (e.g. SELF/ALL_INCL with LOWPRIO, NMI, INIT, STARTUP): ignored */
	APIC_IPI_IGNORE_DEASSERT,   /* INIT level de-assert (mode INIT, level=0, trigger=level): ignored, SDM 10.6.1 */
	APIC_IPI_IGNORE_UNSUPPORTED, /* SMI, remote read, reserved mode: ignored and counted */
};

enum apic_ipi_verdict apic_ipi_check(const struct apic_ipi *ipi);
/* Short stable name of a verdict / mode / shorthand for traces ("deliver", "fixed", "all-excl", ...). */
const char *apic_ipi_verdict_name(enum apic_ipi_verdict v);
const char *apic_dm_name(unsigned mode);
const char *apic_shorthand_name(unsigned sh);

/* Resolves the target set of ipi among vCPUs 0..n-1 (addrs[i] describes vCPU i,
 * n <= VM_MAXCPU). ids_moved: how many of addrs[] may hold an id other than
 * their index (the guest rewrote an xAPIC ID, SDM 10.4.6); 0 lets physical
 * resolution trust addrs[dest].id == dest to be the only holder of dest. `eligible` is the set the mode may reach: the core passes the
 * active set for FIXED/LOWPRIO/NMI and the configured set for INIT/STARTUP
 * (smp-spec 2.3); the result is always a subset of it and of [0, n).
 * Rules (smp-spec 2.2, SDM 10.6.2):
 *  - shorthands SELF / ALL_INCL / ALL_EXCL ignore the destination field;
 *  - physical: xAPIC compares the 8-bit dest with id; 0xff is broadcast.
 *    x2APIC compares the 32-bit dest with id; 0xffffffff is broadcast.
 *  - logical, xAPIC, target in flat model (dfr[31:28] = 1111b): (dest & ldr[31:24]) != 0;
 *    broadcast dest 0xff reaches all;
 *    cluster model (0000b): dest[7:4] == ldr[31:28] cluster, and dest[3:0] & ldr[27:24];
 *    cluster 0xf with any bit is broadcast to all clusters (dest 0xff).
 *  - logical, x2APIC: dest[31:16] == ldr[31:16] and (dest[15:0] & ldr[15:0]) != 0;
 *    dest 0xffffffff is broadcast.
 *  - LOWPRIO: exactly one target among the matches: lowest ppr, ties broken by the
 *    lowest APIC id (smp-spec 2.4); empty if no match.
 * A target whose mode (x2apic) differs from the sender's is matched by the sender's rules.
 * Never reads addrs[i] for i >= n; never fails. */
void apic_dest_resolve(const struct apic_ipi *ipi, const struct apic_addr *addrs, uint32_t n,
		       uint32_t ids_moved, const cpuset_t *eligible, cpuset_t *out);

/* x2APIC logical ID derived from the x2APIC ID (SDM 10.12.10.2):
 * ldr = ((id >> 4) << 16) | (1 << (id & 0xf)). */
static inline uint32_t apic_x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

#endif
