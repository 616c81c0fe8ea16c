/* apic_dest.c: pure ICR decoding, IPI validity (SDM table 10-3) and destination resolution (vmm/apic_dest.h). */
#include <stddef.h>

#include "vmm/apic_dest.h"

/* Bits of the registers as apic_addr carries them (SDM 10.6.2.2, 10.12.10). */
#define XAPIC_DEST_BCAST 0xffu          /* 8-bit MDA all ones: broadcast (10.6.2.1, 10.6.2.2) */
#define X2APIC_DEST_BCAST 0xffffffffu   /* 32-bit MDA all ones: broadcast (10.12.9) */
#define XAPIC_LDR_SHIFT 24              /* xAPIC logical APIC ID is LDR[31:24] (fig. 10-13) */
#define DFR_MODEL_SHIFT 28              /* DFR[31:28] model (fig. 10-14) */
#define DFR_MODEL_FLAT 0xfu
#define DFR_MODEL_CLUSTER 0x0u
#define XAPIC_CLUSTER_ALL 0xfu          /* cluster address 1111b selects every cluster */
#define APIC_VECTOR_MIN_LEGAL 16u       /* vectors 0-15 are illegal (10.5.3 ESR bit 5) */

/* ---- decoding ----------------------------------------------------------------------------- */

void apic_ipi_decode(struct apic_ipi *ipi, uint32_t sender, bool x2apic, uint32_t icr_lo,
		     uint32_t icr_hi)
{
	if (ipi == NULL)
		return;
	ipi->sender = sender;
	/* SDM 10.6.1 (fig. 10-12): xAPIC destination is ICR[63:56] = ICR_HI[31:24].
	 * SDM 10.12.9 (fig. 10-28): x2APIC destination is ICR[63:32], all 32 bits. */
	ipi->dest = x2apic ? icr_hi : icr_hi >> 24;
	ipi->vector = (uint8_t)(icr_lo & APIC_ICR_VECTOR_MASK);
	ipi->mode = (uint8_t)((icr_lo & APIC_ICR_DM_MASK) >> APIC_ICR_DM_SHIFT);
	ipi->shorthand = (uint8_t)((icr_lo & APIC_ICR_SH_MASK) >> APIC_ICR_SH_SHIFT);
	ipi->logical = (icr_lo & APIC_ICR_DESTMODE_LOGICAL) != 0;
	ipi->level_assert = (icr_lo & APIC_ICR_LEVEL_ASSERT) != 0;
	ipi->trigger_level = (icr_lo & APIC_ICR_TRIGGER_LEVEL) != 0;
	ipi->x2apic = x2apic;
}

/* ---- validity (SDM Vol 3A table 10-3; chapter 11 "Local APIC" in newer editions) ----------- */

/*
 * Base verdict by delivery mode x destination shorthand, before the vector
 * and trigger/level refinements in apic_ipi_check(). Table 10-3 ("Valid
 * Combinations for the Pentium 4 and Intel Xeon Processors' Local xAPIC
 * Interrupt Command Register"):
 *   no shorthand        edge   all modes          valid
 *   self                edge   fixed              valid
 *   self                x      lowprio/NMI/INIT/SMI/STARTUP  invalid
 *   all including self  edge   fixed              valid
 *   all including self  x      lowprio/NMI/INIT/SMI/STARTUP  invalid
 *   all excluding self  edge   all modes          valid (lowprio: note 1, model specific)
 * SMI, remote read (82489DX only, reserved on P6 and later, 10.6.1) and the
 * reserved encoding 111b are not emulated: ignored and counted
 * (smp-spec 2.4), whatever the shorthand.
 */
#define D APIC_IPI_DELIVER
#define I APIC_IPI_IGNORE_INVALID
#define U APIC_IPI_IGNORE_UNSUPPORTED
static const uint8_t icr_base_verdict[8][4] = {
	/*                       none self all-incl all-excl */
	[APIC_DM_FIXED] = {D, D, D, D},
	[APIC_DM_LOWPRIO] = {D, I, I, D},
	[APIC_DM_SMI] = {U, U, U, U},
	[APIC_DM_REMOTE_READ] = {U, U, U, U},
	[APIC_DM_NMI] = {D, I, I, D},
	[APIC_DM_INIT] = {D, I, I, D},
	[APIC_DM_STARTUP] = {D, I, I, D},
	[APIC_DM_RESERVED] = {U, U, U, U},
};
#undef D
#undef I
#undef U

enum apic_ipi_verdict apic_ipi_check(const struct apic_ipi *ipi)
{
	if (ipi == NULL)
		return APIC_IPI_IGNORE_INVALID;
	/* A hand-built apic_ipi may hold anything in its uint8_t fields;
	 * apic_ipi_decode() never produces these. */
	if (ipi->mode > APIC_DM_RESERVED)
		return APIC_IPI_IGNORE_UNSUPPORTED;
	if (ipi->shorthand > APIC_SH_ALL_EXCL)
		return APIC_IPI_IGNORE_INVALID;

	/*
	 * INIT level de-assert: delivery mode INIT, level 0, trigger mode 1
	 * (SDM 10.6.1). It only re-synchronised arbitration IDs on the P6 APIC
	 * bus, is "sent to all processors regardless of the value in the
	 * destination field or the destination shorthand field", and is not
	 * supported by Pentium 4 / Xeon: nothing to emulate, so it is checked
	 * before the shorthand (MPS 1.4 start-up code sends it; smp-spec 1.5).
	 *
	 * Decision: INIT with level 0 and *edge* trigger is an ordinary INIT,
	 * not a de-assert. Table 10-3 lists every edge-triggered no-shorthand or
	 * all-excluding-self IPI as valid, 10.6.1 says the level flag has no
	 * meaning on Pentium 4 / Xeon, KVM delivers it, and smp-spec 1.4 says
	 * "INIT (edge, or level-assert)". bhyve drops it as a de-assert; a guest
	 * that writes ICR = 0x00000500 would then never start its APs.
	 */
	if (ipi->mode == APIC_DM_INIT && ipi->trigger_level && !ipi->level_assert)
		return APIC_IPI_IGNORE_DEASSERT;

	enum apic_ipi_verdict v = (enum apic_ipi_verdict)icr_base_verdict[ipi->mode][ipi->shorthand];
	if (v != APIC_IPI_DELIVER)
		return v;

	/*
	 * Table 10-3 note 2: a level-triggered IPI "is treated as edge triggered
	 * if level bit is set to 1, otherwise ignored". Applied to FIXED,
	 * LOWPRIO and NMI (as KVM does for FIXED/LOWPRIO and illumos bhyve for
	 * all three). STARTUP is exempt: 10.6.1 says the trigger mode is ignored
	 * for every mode but INIT de-assert, and KVM and bhyve start the AP
	 * whatever trigger/level say. (INIT level de-assert was handled above.)
	 */
	if (ipi->trigger_level && !ipi->level_assert && ipi->mode != APIC_DM_STARTUP)
		return APIC_IPI_IGNORE_INVALID;

	/* SDM 10.5.3: vectors 0-15 are reserved; sending one sets ESR bit 5
	 * ("send illegal vector") and nothing is delivered. Only FIXED and
	 * LOWPRIO carry a vector to deliver: NMI and INIT ignore the field, and
	 * STARTUP's vector is a page number (below). */
	if ((ipi->mode == APIC_DM_FIXED || ipi->mode == APIC_DM_LOWPRIO) &&
	    ipi->vector < APIC_VECTOR_MIN_LEGAL)
		return APIC_IPI_ILLEGAL_VECTOR;

	/* STARTUP: any 8-bit vector is delivered (start page vector << 12). The
	 * SDM (8.4.4.1, 10.6.1) reserves vectors A0H-BFH "do not use", but
	 * hardware still starts the AP there and so do KVM and bhyve; refusing
	 * them would only make hyve stricter than real machines. */
	return APIC_IPI_DELIVER;
}

/* ---- names for traces --------------------------------------------------------------------- */

const char *apic_ipi_verdict_name(enum apic_ipi_verdict v)
{
	static const char *const names[] = {
		[APIC_IPI_DELIVER] = "deliver",
		[APIC_IPI_ILLEGAL_VECTOR] = "illegal-vector",
		[APIC_IPI_IGNORE_INVALID] = "invalid",
		[APIC_IPI_IGNORE_DEASSERT] = "init-deassert",
		[APIC_IPI_IGNORE_UNSUPPORTED] = "unsupported",
	};
	unsigned i = (unsigned)v;
	return i < sizeof(names) / sizeof(names[0]) && names[i] ? names[i] : "unknown";
}

const char *apic_dm_name(unsigned mode)
{
	static const char *const names[] = {
		[APIC_DM_FIXED] = "fixed",   [APIC_DM_LOWPRIO] = "lowprio",
		[APIC_DM_SMI] = "smi",       [APIC_DM_REMOTE_READ] = "remote-read",
		[APIC_DM_NMI] = "nmi",       [APIC_DM_INIT] = "init",
		[APIC_DM_STARTUP] = "startup", [APIC_DM_RESERVED] = "reserved",
	};
	return mode < sizeof(names) / sizeof(names[0]) && names[mode] ? names[mode] : "unknown";
}

const char *apic_shorthand_name(unsigned sh)
{
	static const char *const names[] = {
		[APIC_SH_NONE] = "none",
		[APIC_SH_SELF] = "self",
		[APIC_SH_ALL_INCL] = "all-incl",
		[APIC_SH_ALL_EXCL] = "all-excl",
	};
	return sh < sizeof(names) / sizeof(names[0]) && names[sh] ? names[sh] : "unknown";
}

/* ---- destination resolution --------------------------------------------------------------- */

/*
 * The core passes vm->addrs, which each vLAPIC's owner rewrites under its own
 * lock with relaxed atomic stores (vlapic.c, publish() and update_ppr())
 * while other vCPUs resolve IPIs with no lock held. A plain load racing with
 * those stores is a data race, undefined behaviour in C11 (5.1.2.4), and
 * ThreadSanitizer reports it under the chaos guest (guests/chaos.c); so every
 * field is read with a relaxed atomic load (a plain MOV on x86). A stale value
 * is fine: the IPI then behaves as if sent just before the register changed.
 */
static inline uint32_t addr_id(const struct apic_addr *a) { return __atomic_load_n(&a->id, __ATOMIC_RELAXED); }
static inline uint32_t addr_ldr(const struct apic_addr *a) { return __atomic_load_n(&a->ldr, __ATOMIC_RELAXED); }
static inline uint32_t addr_dfr(const struct apic_addr *a) { return __atomic_load_n(&a->dfr, __ATOMIC_RELAXED); }
static inline uint8_t addr_ppr(const struct apic_addr *a) { return __atomic_load_n(&a->ppr, __ATOMIC_RELAXED); }

/*
 * Physical destination mode (SDM 10.6.2.1, 10.12.9). The destination is an
 * APIC ID; struct apic_addr.id holds the plain id (not the xAPIC register
 * layout with the id in bits 31:24).
 *
 * xAPIC: the MDA is 8 bits; 0xff is broadcast. It is compared with the
 * full 32-bit id, so a vCPU whose id is above 255 is unreachable from an
 * xAPIC sender rather than aliased onto id & 0xff (as KVM also does).
 * x2APIC: all 32 bits are compared, 0xffffffff is broadcast; nothing is
 * truncated, so 0x100 never reaches vCPU 0 and 0xfffffffe reaches nobody
 * unless some vCPU really has that id.
 *
 * Every APIC whose current ID equals the destination is a target: two
 * xAPICs the guest gave the same ID (SDM 10.4.6: the ID register is
 * writable) both receive it, one whose ID moved away does not.
 *
 * Fast path: smp-spec 1.1 makes the initial APIC ID = vCPU id, so while no
 * ID was rewritten (ids_moved == 0) the IDs are unique and addrs[dest] is
 * the only candidate; the scan runs when that guess fails or some ID moved.
 */
static void resolve_physical(const struct apic_ipi *ipi, const struct apic_addr *addrs, uint32_t n,
			     uint32_t ids_moved, cpuset_t *out)
{
	uint32_t dest = ipi->x2apic ? ipi->dest : (ipi->dest & 0xffu);

	if (ipi->x2apic ? dest == X2APIC_DEST_BCAST : dest == XAPIC_DEST_BCAST) {
		cpuset_fill(out, n);
		return;
	}
	if (!ids_moved && dest < n && addr_id(&addrs[dest]) == dest) {
		cpuset_set(out, dest);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (addr_id(&addrs[i]) == dest)
			cpuset_set(out, i);
}

/*
 * xAPIC logical match of one target (SDM 10.6.2.2). The model is the
 * target's DFR[31:28]: the SDM requires every APIC to use the same model,
 * and deciding per target keeps a guest that is half-way through
 * reprogramming its APICs well defined. A DFR model other than flat
 * (1111b) or cluster (0000b) is undefined: such a target matches nothing
 * (only the all-ones broadcast, handled by the caller, reaches it).
 *   flat:    MDA[7:0] & LDR[31:24] != 0.
 *   cluster: MDA[7:4] is the cluster, compared with LDR[31:28]; 1111b
 *            selects every cluster (the flat-cluster model addresses only
 *            15 clusters, 1111b being the all-clusters address; "broadcast
 *            to all APICs is achieved by setting all destination bits to
 *            one"), as apic_dest.h specifies; then MDA[3:0] & LDR[27:24]
 *            != 0 selects the members. KVM, Xen and bhyve honour only the
 *            full 0xff broadcast, so 0xf1..0xfe reach nobody there.
 * An LDR of 0 (its reset value, SDM 10.4.7.1) therefore never matches,
 * except through the broadcast.
 */
static bool xapic_logical_match(uint32_t mda, const struct apic_addr *a)
{
	uint32_t model = addr_dfr(a) >> DFR_MODEL_SHIFT;
	uint32_t lid = (addr_ldr(a) >> XAPIC_LDR_SHIFT) & 0xffu;

	if (model == DFR_MODEL_FLAT)
		return (mda & lid) != 0;
	if (model == DFR_MODEL_CLUSTER) {
		uint32_t mcluster = mda >> 4, tcluster = lid >> 4;
		if (mcluster != XAPIC_CLUSTER_ALL && mcluster != tcluster)
			return false;
		return (mda & lid & 0xfu) != 0;
	}
	return false;
}

/*
 * x2APIC logical match (SDM 10.12.10.2): cluster model only; the MDA's
 * bits 31:16 name the cluster and must equal LDR[31:16], bits 15:0 are a
 * member mask ANDed with LDR[15:0]. There is no cluster broadcast in
 * x2APIC mode; only 0xffffffff (caller) is a broadcast. The LDR is taken as
 * the core passes it (for x2APIC targets it is apic_x2apic_ldr(id)).
 */
static bool x2apic_logical_match(uint32_t mda, const struct apic_addr *a)
{
	uint32_t ldr = addr_ldr(a);
	return (mda >> 16) == (ldr >> 16) && (mda & ldr & 0xffffu) != 0;
}

/*
 * Logical destination mode. The all-ones MDA (0xff xAPIC, 0xffffffff
 * x2APIC) is a broadcast to every APIC, including those whose LDR is still
 * 0 or whose DFR model is invalid. Strictly by the SDM an APIC with LDR 0
 * matches nothing, not even 0xff (0xff & 0 == 0); KVM and bhyve both treat
 * all ones as broadcast in logical mode too, and so does hyve
 * (apic_dest.h).
 * Mixed modes (a target whose x2APIC mode differs from the sender's) are
 * not defined by the SDM, which expects system software to switch every
 * APIC to x2APIC mode (10.12); the sender's rules are applied to the
 * target's raw register values, and the result stays inside `eligible`.
 */
static void resolve_logical(const struct apic_ipi *ipi, const struct apic_addr *addrs, uint32_t n,
			    cpuset_t *out)
{
	if (ipi->x2apic) {
		uint32_t mda = ipi->dest;
		if (mda == X2APIC_DEST_BCAST) {
			cpuset_fill(out, n);
			return;
		}
		for (uint32_t i = 0; i < n; i++)
			if (x2apic_logical_match(mda, &addrs[i]))
				cpuset_set(out, i);
		return;
	}

	uint32_t mda = ipi->dest & 0xffu;
	if (mda == XAPIC_DEST_BCAST) {
		cpuset_fill(out, n);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (xapic_logical_match(mda, &addrs[i]))
			cpuset_set(out, i);
}

/*
 * Lowest-priority arbitration (SDM 10.6.2.4; smp-spec 2.4): keep exactly one
 * member of set, the one with the lowest PPR, ties broken by the lowest APIC
 * ID (then by the lowest vCPU index, should two ids be equal). The SDM makes
 * lowest-priority IPIs model specific and in x2APIC mode leaves them to the
 * implementation; hyve picks one target in both modes. set is already a
 * subset of [0, n).
 */
static void lowprio_pick(const struct apic_addr *addrs, cpuset_t *set)
{
	int best = -1;
	uint32_t best_ppr = 0, best_id = 0;

	CPUSET_FOREACH(i, set)
	{
		uint32_t ppr = addr_ppr(&addrs[i]), id = addr_id(&addrs[i]);
		if (best < 0 || ppr < best_ppr || (ppr == best_ppr && id < best_id)) {
			best = i;
			best_ppr = ppr;
			best_id = id;
		}
	}
	cpuset_zero(set);
	if (best >= 0)
		cpuset_set(set, (uint32_t)best);
}

void apic_dest_resolve(const struct apic_ipi *ipi, const struct apic_addr *addrs, uint32_t n,
		       uint32_t ids_moved, const cpuset_t *eligible, cpuset_t *out)
{
	if (out == NULL)
		return;
	cpuset_zero(out);
	if (ipi == NULL || addrs == NULL || eligible == NULL)
		return;
	if (n > VM_MAXCPU)
		n = VM_MAXCPU; /* contract says n <= VM_MAXCPU; never trust it with an index */

	/* Destination shorthands bypass the destination field (SDM 10.6.1,
	 * 10.6.2.4). cpuset_set/clr ignore ids >= VM_MAXCPU; SELF also checks
	 * the sender against n so it stays inside [0, n). */
	switch (ipi->shorthand) {
	case APIC_SH_NONE:
		if (ipi->logical)
			resolve_logical(ipi, addrs, n, out);
		else
			resolve_physical(ipi, addrs, n, ids_moved, out);
		break;
	case APIC_SH_SELF:
		if (ipi->sender < n)
			cpuset_set(out, ipi->sender);
		break;
	case APIC_SH_ALL_INCL:
		cpuset_fill(out, n);
		break;
	case APIC_SH_ALL_EXCL:
		cpuset_fill(out, n);
		cpuset_clr(out, ipi->sender);
		break;
	default:
		/* Not a 2-bit field value: only a hand-built apic_ipi gets here. */
		return;
	}

	/* smp-spec 2.1/2.3: every target set is cut down to what the mode may
	 * reach; arbitration then chooses among the reachable matches only. */
	cpuset_and(out, eligible);
	if (ipi->mode == APIC_DM_LOWPRIO)
		lowprio_pick(addrs, out);
}
