/* vlapic.c: hyve's virtual local APIC register file (SDM Vol. 3A chapter 10). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/gmem.h"
#include "vmm/vlapic.h"

#define APIC_VERSION 0x14u       /* integrated APIC, as on P6 and later (SDM 10.4.8) */
#define APIC_VER_EOI_SUPPRESS (1u << 24) /* SVR[12] may suppress EOI broadcasts (SDM 10.8.5) */
#define APIC_SVR_FOCUS_DISABLE (1u << 9)
#define APIC_SVR_EOI_SUPPRESS (1u << 12)
#define APIC_SVR_WRITABLE (0xffu | APIC_SVR_ENABLE | APIC_SVR_FOCUS_DISABLE | APIC_SVR_EOI_SUPPRESS)
#define APIC_MAX_LVT 6u          /* 7 LVT entries: CMCI, timer, thermal, PMC, LINT0, LINT1, error */
#define APIC_NREGS (APIC_PAGE_SIZE / 16)
#define VLAPIC_TIMER_MAX_OWED 1000 /* periodic ticks kept owed at most (1 s at 1 kHz) */

#define REG(off) ((off) >> 4)

/* LVT writable bits per entry (SDM figure 10-8). */
#define LVT_VECTOR 0xffu
#define LVT_DM (7u << 8)
#define LVT_POLARITY (1u << 13)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_TRIGGER (1u << 15)
#define LVT_TIMER_MODE (3u << 17)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_DM_SHIFT 8
#define LVT_DM_FIXED 0u
#define LVT_DM_NMI 4u
#define LVT_DM_EXTINT 7u

enum timer_mode { TIMER_ONESHOT = 0, TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2 };

/* ICR low bits software can write: vector, delivery mode, destination mode,
 * level, trigger mode, shorthand. Not bit 12: delivery status is read-only in
 * xAPIC mode (SDM 10.6.1, figure 10-12) and reserved in x2APIC mode (SDM
 * 10.12.9, figure 10-28; a WRMSR setting it is #GP, 10.12.1.3); it always
 * reads idle (smp-spec 2.1). */
#define ICR_LO_WRITABLE 0x000ccfffu

struct vlapic {
	/* Legend: (c) set at create, constant after; (l) guarded by lock. */
	pthread_mutex_t lock;
	uint32_t id;                  /* (c) initial APIC ID == x2APIC ID == vCPU id */
	uint32_t cur_id;              /* (l) current APIC ID: id, or what the guest wrote to the xAPIC ID register */
	bool x2apic_capable;          /* (c) CPUID offers x2APIC */
	uint64_t base_reserved;       /* (c) reserved bits of IA32_APIC_BASE for this MAXPHYADDR */
	const struct vlapic_ops *ops; /* (c) */
	struct apic_addr *pub;        /* (c) slot; fields written under lock with atomic stores */
	uint64_t apic_base;           /* (l) IA32_APIC_BASE */
	uint32_t regs[APIC_NREGS];    /* (l) register file by offset >> 4 */
	uint32_t esr_pending;         /* (l) errors since the last ESR write (SDM 10.5.3) */
	bool bsp;                     /* (c) */
	bool lint_level[2];           /* (l) last level seen on LINT0/LINT1 */
	/* Timer (SDM 10.5.4), in CLOCK_MONOTONIC ns at VLAPIC_BUS_HZ / divide. */
	uint64_t timer_period;        /* (l) initial count * divide in ns; 0: not counting */
	uint64_t timer_deadline;      /* (l) next expiry; 0: none armed */
	uint64_t tsc_deadline;        /* (l) IA32_TSC_DEADLINE; 0: disarmed */
	uint32_t timer_owed;          /* (l) periodic ticks not yet raised (see timer_expire) */
};

static bool x2mode(const struct vlapic *vl)
{
	return (vl->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static bool hw_enabled(const struct vlapic *vl)
{
	return vl->apic_base & APIC_BASE_EN;
}

static bool sw_enabled(const struct vlapic *vl)
{
	return hw_enabled(vl) && (vl->regs[REG(APIC_OFF_SVR)] & APIC_SVR_ENABLE);
}

/* Highest set bit in a 256-bit IRR/ISR/TMR bank, or -1. */
static int bank_highest(const uint32_t *regs, uint32_t first_off)
{
	for (int i = 7; i >= 0; i--) {
		uint32_t w = regs[REG(first_off) + (unsigned)i];
		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

static void bank_set(uint32_t *regs, uint32_t first_off, uint8_t v, bool on)
{
	uint32_t *w = &regs[REG(first_off) + v / 32];
	if (on)
		*w |= 1u << (v % 32);
	else
		*w &= ~(1u << (v % 32));
}

static bool bank_test(const uint32_t *regs, uint32_t first_off, uint8_t v)
{
	return (regs[REG(first_off) + v / 32] >> (v % 32)) & 1;
}

/* PPR (SDM 10.8.3.1): TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4. */
static void update_ppr(struct vlapic *vl)
{
	uint32_t tpr = vl->regs[REG(APIC_OFF_TPR)] & 0xff;
	int isrv = bank_highest(vl->regs, APIC_OFF_ISR0);
	uint32_t isr_class = isrv < 0 ? 0 : ((uint32_t)isrv & 0xf0);
	uint32_t ppr = (tpr & 0xf0) >= isr_class ? tpr : isr_class;
	vl->regs[REG(APIC_OFF_PPR)] = ppr;
	/* APR for lowest-priority arbitration (SDM 10.6.2.4 / table 10-9 simplified:
	 * max(TPR, ISRV class); IRRV is not counted). */
	vl->regs[REG(APIC_OFF_APR)] = ppr;
	__atomic_store_n(&vl->pub->ppr, (uint8_t)ppr, __ATOMIC_RELAXED);
}

/* Sets the current APIC ID and keeps the VM's count of moved IDs (lock held).
 * The published id is stored before a move is counted and the count drops
 * only after the id is back, so a resolver that reads the count as 0 finds
 * every id at its index. */
static void set_cur_id(struct vlapic *vl, uint32_t id)
{
	bool was = vl->cur_id != vl->id, now = id != vl->id;
	vl->cur_id = id;
	__atomic_store_n(&vl->pub->id, id, __ATOMIC_SEQ_CST);
	if (vl->ops && vl->ops->ids_moved && was != now)
		__atomic_add_fetch(vl->ops->ids_moved, now ? 1u : (uint32_t)-1, __ATOMIC_SEQ_CST);
}

static void publish(struct vlapic *vl)
{
	__atomic_store_n(&vl->pub->ldr, vl->regs[REG(APIC_OFF_LDR)], __ATOMIC_RELAXED);
	__atomic_store_n(&vl->pub->dfr, vl->regs[REG(APIC_OFF_DFR)], __ATOMIC_RELAXED);
	__atomic_store_n(&vl->pub->x2apic, (uint8_t)x2mode(vl), __ATOMIC_RELAXED);
	__atomic_store_n(&vl->pub->sw_enabled, (uint8_t)sw_enabled(vl), __ATOMIC_RELAXED);
	update_ppr(vl);
}

static void mask_all_lvts(struct vlapic *vl)
{
	static const uint32_t lvts[] = {APIC_OFF_LVT_CMCI,  APIC_OFF_LVT_TIMER, APIC_OFF_LVT_THERMAL,
					APIC_OFF_LVT_PMC,   APIC_OFF_LVT_LINT0, APIC_OFF_LVT_LINT1,
					APIC_OFF_LVT_ERROR};
	for (unsigned i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++)
		vl->regs[REG(lvts[i])] |= APIC_LVT_MASKED;
}

/* Records an error (SDM 10.5.3) and, when the LVT error entry is unmasked,
 * raises its vector (an error interrupt is fixed and edge-triggered).
 * Lock held. */
static void raise_error(struct vlapic *vl, uint32_t bits)
{
	vl->esr_pending |= bits;
	uint32_t lvt = vl->regs[REG(APIC_OFF_LVT_ERROR)];
	if (!(lvt & APIC_LVT_MASKED) && sw_enabled(vl) && (lvt & 0xff) >= 16)
		bank_set(vl->regs, APIC_OFF_IRR0, (uint8_t)(lvt & 0xff), true);
}

static uint64_t clock_now(const struct vlapic *vl)
{
	return vl->ops && vl->ops->now_ns ? vl->ops->now_ns(vl->ops->ctx) : 0;
}

static void timer_arm(struct vlapic *vl, uint64_t deadline)
{
	vl->timer_deadline = deadline;
	if (vl->ops && vl->ops->timer_arm)
		vl->ops->timer_arm(vl->ops->ctx, deadline);
}

static void timer_stop(struct vlapic *vl)
{
	vl->timer_owed = 0;
	vl->timer_period = 0;
	vl->timer_deadline = 0;
	if (vl->ops && vl->ops->timer_disarm)
		vl->ops->timer_disarm(vl->ops->ctx);
}

static enum timer_mode timer_mode(const struct vlapic *vl)
{
	return (enum timer_mode)((vl->regs[REG(APIC_OFF_LVT_TIMER)] & LVT_TIMER_MODE) >> LVT_TIMER_MODE_SHIFT);
}

/* Divide value from TDCR bits 0, 1 and 3 (SDM figure 10-10): 2, 4, ... 128, or 1. */
static uint64_t timer_divide(const struct vlapic *vl)
{
	uint32_t d = vl->regs[REG(APIC_OFF_TIMER_DCR)];
	uint32_t idx = (d & 3) | ((d >> 1) & 4);
	return idx == 7 ? 1 : 2ULL << idx;
}

static uint64_t counts_to_ns(uint64_t counts, uint64_t div)
{
	return (uint64_t)((unsigned __int128)counts * div * 1000000000ULL / VLAPIC_BUS_HZ);
}

static void timer_catch_up(struct vlapic *vl);

/* Starts counting the initial count from now (a TMICT write). */
static void timer_start_count(struct vlapic *vl)
{
	uint32_t icr = vl->regs[REG(APIC_OFF_TIMER_ICR)];
	if (!icr || timer_mode(vl) == TIMER_TSC_DEADLINE) {
		timer_stop(vl);
		return;
	}
	vl->timer_owed = 0;
	vl->timer_period = counts_to_ns(icr, timer_divide(vl));
	if (!vl->timer_period)
		vl->timer_period = 1;
	timer_arm(vl, clock_now(vl) + vl->timer_period);
}

/* TMCCR: counts left in the current period (SDM 10.5.4), taken from the armed
 * deadline so that it survives a switch between one-shot and periodic mode:
 * SDM 10.5.4 ("changing the mode ... does not reload the count") has the
 * count go on from where it is; a one-shot count that reached 0 (deadline
 * cleared at expiry) stays 0 in periodic mode, and a periodic count that is
 * switched to one-shot ends at its current period's end. */
static uint32_t timer_ccr(const struct vlapic *vl)
{
	if (!vl->timer_period || !vl->timer_deadline || timer_mode(vl) == TIMER_TSC_DEADLINE)
		return 0;
	uint64_t now = clock_now(vl), left;
	if (now < vl->timer_deadline)
		left = vl->timer_deadline - now;
	else if (timer_mode(vl) == TIMER_PERIODIC) /* due, not yet reported: on the grid */
		left = vl->timer_period - (now - vl->timer_deadline) % vl->timer_period;
	else
		return 0;
	uint64_t per_count = counts_to_ns(1, timer_divide(vl));
	uint64_t c = per_count ? (left + per_count - 1) / per_count : left;
	uint32_t icr = vl->regs[REG(APIC_OFF_TIMER_ICR)];
	return c > icr ? icr : (uint32_t)c;
}

/* Register state after power-on (keep_id false: SDM 10.4.7.1, also a global
 * disable, 10.4.3) or INIT (keep_id true: 10.4.7.3, "the APIC ID ... unaffected";
 * KVM's kvm_lapic_reset() sets the xAPIC ID only when !init_event). Lock held. */
static void reset_regs(struct vlapic *vl, bool keep_id)
{
	uint32_t id = keep_id && !x2mode(vl) ? vl->cur_id : vl->id;
	memset(vl->regs, 0, sizeof(vl->regs));
	vl->esr_pending = 0;
	vl->tsc_deadline = 0;
	timer_stop(vl);
	/* In x2APIC mode the ID is always the initial one (10.12.5.1). */
	vl->regs[REG(APIC_OFF_ID)] = x2mode(vl) ? vl->id : (id << 24);
	set_cur_id(vl, id);
	vl->regs[REG(APIC_OFF_VER)] = APIC_VERSION | (APIC_MAX_LVT << 16) | APIC_VER_EOI_SUPPRESS;
	vl->regs[REG(APIC_OFF_DFR)] = 0xffffffffu;
	vl->regs[REG(APIC_OFF_SVR)] = 0xff;
	vl->regs[REG(APIC_OFF_LDR)] = x2mode(vl) ? apic_x2apic_ldr(vl->id) : 0;
	mask_all_lvts(vl);
	if (vl->bsp)
		/* The BSP's LINT0 starts as an unmasked ExtINT input ("virtual wire"),
		 * as firmware leaves it and as KVM resets it, so 8259 interrupts reach
		 * kernels that never touch the APIC. */
		vl->regs[REG(APIC_OFF_LVT_LINT0)] = LVT_DM_EXTINT << LVT_DM_SHIFT;
	publish(vl);
}

struct vlapic *vlapic_create(uint32_t id, bool bsp, bool x2apic_capable, unsigned phys_bits,
			     struct apic_addr *pub, const struct vlapic_ops *ops)
{
	struct vlapic *vl = calloc(1, sizeof(*vl));
	if (!vl)
		return NULL;
	pthread_mutex_init(&vl->lock, NULL);
	vl->id = id;
	vl->cur_id = id;
	vl->x2apic_capable = x2apic_capable;
	vl->ops = ops;
	vl->pub = pub;
	vl->bsp = bsp;
	if (phys_bits < 32 || phys_bits > 52)
		phys_bits = 36;
	/* Reserved: bits 7:0, bit 9, bits 63:MAXPHYADDR (SDM figure 10-26); EXTD when not offered. */
	vl->base_reserved = 0xffULL | (1ULL << 9) | ~((1ULL << phys_bits) - 1);
	if (!x2apic_capable)
		vl->base_reserved |= APIC_BASE_EXTD;
	vl->apic_base = GMEM_LAPIC_BASE | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
	reset_regs(vl, false); /* power-on */
	return vl;
}

void vlapic_destroy(struct vlapic *vl)
{
	if (!vl)
		return;
	set_cur_id(vl, vl->id); /* no longer counted as moved */
	pthread_mutex_destroy(&vl->lock);
	free(vl);
}

void vlapic_init_reset(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	reset_regs(vl, true);
	pthread_mutex_unlock(&vl->lock);
}

uint32_t vlapic_id(const struct vlapic *vl)
{
	return vl->id;
}

uint64_t vlapic_get_apicbase(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	uint64_t v = vl->apic_base;
	pthread_mutex_unlock(&vl->lock);
	return v;
}

bool vlapic_x2apic_mode(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	bool v = x2mode(vl);
	pthread_mutex_unlock(&vl->lock);
	return v;
}

uint64_t vlapic_mmio_base(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	uint64_t v = (hw_enabled(vl) && !x2mode(vl)) ? (vl->apic_base & APIC_BASE_ADDR_MASK) : 0;
	pthread_mutex_unlock(&vl->lock);
	return v;
}

/* SDM 10.12.5, figure 10-27: legal mode transitions of IA32_APIC_BASE[11:10]. */
int vlapic_set_apicbase(struct vlapic *vl, uint64_t val)
{
	if (val & vl->base_reserved)
		return -EINVAL;
	pthread_mutex_lock(&vl->lock);
	uint64_t old = vl->apic_base;
	bool old_en = old & APIC_BASE_EN, old_x2 = old & APIC_BASE_EXTD;
	bool new_en = val & APIC_BASE_EN, new_x2 = val & APIC_BASE_EXTD;
	int err = 0;
	if (!new_en && new_x2)
		err = -EINVAL; /* EN=0, EXTD=1 is an invalid state */
	else if (old_en && old_x2 && new_en && !new_x2)
		err = -EINVAL; /* x2APIC -> xAPIC directly */
	else if (!old_en && new_en && new_x2)
		err = -EINVAL; /* disabled -> x2APIC directly */
	if (err) {
		pthread_mutex_unlock(&vl->lock);
		return err;
	}
	/* The BSP flag is read-only to software. */
	vl->apic_base = (val & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP);
	if (old_en && !new_en) {
		/* Global disable (SDM 10.4.3): the APIC returns to its power-up register state. */
		reset_regs(vl, false);
	} else if (!old_x2 && new_x2) {
		/* Entering x2APIC mode (SDM 10.12.5.1): ID becomes the 32-bit x2APIC ID,
		 * LDR is derived from it, DFR is gone; the rest is kept. */
		vl->regs[REG(APIC_OFF_ID)] = vl->id;
		set_cur_id(vl, vl->id); /* a rewritten xAPIC ID does not carry over (10.12.5.1) */
		vl->regs[REG(APIC_OFF_LDR)] = apic_x2apic_ldr(vl->id);
		vl->regs[REG(APIC_OFF_DFR)] = 0xffffffffu;
		vl->regs[REG(APIC_OFF_ICR_HI)] = 0;
		publish(vl);
	} else if (!old_en && new_en) {
		reset_regs(vl, false);
	}
	pthread_mutex_unlock(&vl->lock);
	return 0;
}

/* Register read without side effects; lock held. */
static uint32_t read_reg(struct vlapic *vl, uint32_t off)
{
	if (off == APIC_OFF_TIMER_CCR)
		return timer_ccr(vl);
	return vl->regs[REG(off)];
}

uint32_t vlapic_peek(struct vlapic *vl, uint32_t off)
{
	if (off >= APIC_PAGE_SIZE)
		return 0;
	pthread_mutex_lock(&vl->lock);
	uint32_t v = read_reg(vl, off & ~0xfu);
	pthread_mutex_unlock(&vl->lock);
	return v;
}

/* EOI (SDM 10.8.5): clears the highest ISR bit. Returns the vector when a
 * level-triggered interrupt ended and the EOI must be broadcast, else -1. */
static int do_eoi(struct vlapic *vl)
{
	int v = bank_highest(vl->regs, APIC_OFF_ISR0), bcast = -1;
	if (v >= 0) {
		bank_set(vl->regs, APIC_OFF_ISR0, (uint8_t)v, false);
		if (bank_test(vl->regs, APIC_OFF_TMR0, (uint8_t)v) &&
		    !(vl->regs[REG(APIC_OFF_SVR)] & APIC_SVR_EOI_SUPPRESS))
			bcast = v;
		bank_set(vl->regs, APIC_OFF_TMR0, (uint8_t)v, false);
	}
	update_ppr(vl);
	return bcast;
}

static uint32_t lvt_writable(uint32_t off)
{
	switch (off) {
	case APIC_OFF_LVT_TIMER:
		return LVT_VECTOR | APIC_LVT_MASKED | LVT_TIMER_MODE;
	case APIC_OFF_LVT_LINT0:
	case APIC_OFF_LVT_LINT1:
		return LVT_VECTOR | LVT_DM | LVT_POLARITY | LVT_TRIGGER | APIC_LVT_MASKED;
	case APIC_OFF_LVT_ERROR:
		return LVT_VECTOR | APIC_LVT_MASKED;
	default: /* CMCI, thermal, PMC */
		return LVT_VECTOR | LVT_DM | APIC_LVT_MASKED;
	}
}

/* Writable bits of a register in the current mode, or 0 when it is read-only.
 * In x2APIC mode a write with other bits set is #GP (SDM 10.12.1.2). */
static bool reg_write_mask(const struct vlapic *vl, uint32_t off, uint32_t *mask)
{
	bool x2 = x2mode(vl);
	switch (off) {
	case APIC_OFF_ID:
		/* SDM 10.4.6: read/write in xAPIC mode (bits 31:24 on P4/Xeon and
		 * later, as KVM models it); the x2APIC ID is read-only (10.12.5.1). */
		*mask = 0xff000000u;
		return !x2;
	case APIC_OFF_TPR:
		*mask = 0xff;
		return true;
	case APIC_OFF_EOI:
		*mask = x2 ? 0 : 0xffffffffu; /* x2APIC: only 0 may be written */
		return true;
	case APIC_OFF_LDR:
		*mask = 0xff000000u;
		return !x2;
	case APIC_OFF_DFR:
		*mask = 0xf0000000u;
		return !x2;
	case APIC_OFF_SVR:
		*mask = APIC_SVR_WRITABLE;
		return true;
	case APIC_OFF_ESR:
		*mask = x2 ? 0 : 0xffffffffu;
		return true;
	case APIC_OFF_LVT_CMCI:
	case APIC_OFF_LVT_TIMER:
	case APIC_OFF_LVT_THERMAL:
	case APIC_OFF_LVT_PMC:
	case APIC_OFF_LVT_LINT0:
	case APIC_OFF_LVT_LINT1:
	case APIC_OFF_LVT_ERROR:
		/* Delivery status (12) and remote IRR (14) are read-only, not reserved:
		 * a read-modify-write must not fault (SDM 10.5.1); xAPIC drops reserved bits. */
		*mask = lvt_writable(off) | (1u << 12) | (1u << 14) | (x2 ? 0 : ~0u);
		return true;
	case APIC_OFF_ICR_LO:
		*mask = ICR_LO_WRITABLE;
		return true;
	case APIC_OFF_ICR_HI:
		*mask = 0xff000000u;
		return !x2;
	case APIC_OFF_TIMER_ICR:
		*mask = 0xffffffffu;
		return true;
	case APIC_OFF_TIMER_DCR:
		*mask = 0xb;
		return true;
	case APIC_OFF_SELF_IPI:
		*mask = 0xff;
		return x2;
	default:
		return false;
	}
}

/* What a register write asks for once the lock is dropped. */
struct wr_effects {
	bool send;           /* an IPI: icr_lo/icr_hi */
	uint32_t icr_lo, icr_hi;
	int eoi_vector;      /* >= 0: broadcast this EOI */
};

/* Performs a write whose mode checks passed; lock held on entry, and still held
 * on return; fx says what to do after unlocking. */
static void write_reg(struct vlapic *vl, uint32_t off, uint32_t val, struct wr_effects *fx)
{
	uint32_t *r = &vl->regs[REG(off)];
	uint32_t *icr_lo = &fx->icr_lo, *icr_hi = &fx->icr_hi;
	fx->send = false;
	fx->eoi_vector = -1;
	if (off == APIC_OFF_LVT_TIMER || off == APIC_OFF_TIMER_ICR || off == APIC_OFF_TIMER_DCR ||
	    off == APIC_OFF_SVR)
		timer_catch_up(vl); /* an expiry already due sees the registers of its time */
	switch (off) {
	case APIC_OFF_ID:
		/* Destination resolution uses the new ID from now on (physical
		 * IPIs and I/O APIC messages); hyve's own bookkeeping keeps the
		 * vCPU id. */
		*r = val & 0xff000000u;
		set_cur_id(vl, *r >> 24);
		return;
	case APIC_OFF_TPR:
		*r = val & 0xff;
		update_ppr(vl);
		return;
	case APIC_OFF_EOI:
		fx->eoi_vector = do_eoi(vl);
		return;
	case APIC_OFF_LDR:
		*r = val & 0xff000000u;
		publish(vl);
		return;
	case APIC_OFF_DFR:
		*r = (val & 0xf0000000u) | 0x0fffffffu;
		publish(vl);
		return;
	case APIC_OFF_SVR:
		*r = val & APIC_SVR_WRITABLE;
		if (!(val & APIC_SVR_ENABLE))
			mask_all_lvts(vl); /* SDM 10.4.7.2 */
		publish(vl);
		return;
	case APIC_OFF_ESR:
		/* SDM 10.5.3: a write latches the errors seen since the last write. */
		*r = vl->esr_pending;
		vl->esr_pending = 0;
		return;
	case APIC_OFF_LVT_CMCI:
	case APIC_OFF_LVT_TIMER:
	case APIC_OFF_LVT_THERMAL:
	case APIC_OFF_LVT_PMC:
	case APIC_OFF_LVT_LINT0:
	case APIC_OFF_LVT_LINT1:
	case APIC_OFF_LVT_ERROR:
		val &= lvt_writable(off);
		if (!sw_enabled(vl))
			val |= APIC_LVT_MASKED; /* mask cannot clear while software-disabled */
		if (off == APIC_OFF_LVT_TIMER &&
		    ((*r & LVT_TIMER_MODE) == (TIMER_TSC_DEADLINE << LVT_TIMER_MODE_SHIFT)) !=
			    ((val & LVT_TIMER_MODE) == (TIMER_TSC_DEADLINE << LVT_TIMER_MODE_SHIFT))) {
			/* Switching to or from TSC-deadline mode disarms the timer
			 * (SDM 10.5.4.1). */
			vl->regs[REG(APIC_OFF_TIMER_ICR)] = 0;
			vl->tsc_deadline = 0;
			timer_stop(vl);
		}
		*r = (*r & LVT_REMOTE_IRR) | val;
		return;
	case APIC_OFF_ICR_LO:
		*r = val & ICR_LO_WRITABLE; /* delivery status always reads idle (smp-spec 2.1) */
		*icr_lo = *r;
		*icr_hi = vl->regs[REG(APIC_OFF_ICR_HI)];
		fx->send = true;
		return;
	case APIC_OFF_ICR_HI:
		*r = val & 0xff000000u;
		return;
	case APIC_OFF_TIMER_ICR:
		if (timer_mode(vl) == TIMER_TSC_DEADLINE)
			return; /* ignored in TSC-deadline mode (SDM 10.5.4.1) */
		*r = val;
		timer_start_count(vl);
		return;
	case APIC_OFF_TIMER_DCR: {
		/* Keep the counts left and go on at the new rate. */
		uint32_t left = timer_ccr(vl);
		*r = val & 0xb;
		if (vl->timer_period && left) {
			uint64_t div = timer_divide(vl), now = clock_now(vl);
			vl->timer_period = counts_to_ns(vl->regs[REG(APIC_OFF_TIMER_ICR)], div);
			if (!vl->timer_period)
				vl->timer_period = 1;
			timer_arm(vl, now + counts_to_ns(left, div));
		}
		return;
	}
	case APIC_OFF_SELF_IPI:
		*icr_lo = (val & 0xff) | ((uint32_t)APIC_SH_SELF << APIC_ICR_SH_SHIFT);
		*icr_hi = 0;
		fx->send = true;
		return;
	default:
		return;
	}
}

void vlapic_mmio_read(struct vlapic *vl, uint32_t off, unsigned size, uint64_t *val)
{
	*val = 0;
	if (off >= APIC_PAGE_SIZE || size != 4 || (off & 0xf))
		return; /* SDM 10.4.1: only aligned 32-bit accesses are defined */
	pthread_mutex_lock(&vl->lock);
	if (hw_enabled(vl) && !x2mode(vl))
		*val = off == APIC_OFF_SELF_IPI ? 0 : read_reg(vl, off);
	else
		*val = 0xffffffffu; /* MMIO interface off: nothing answers */
	pthread_mutex_unlock(&vl->lock);
}

/* Runs what a write asked for, with the lock dropped. */
static void apply_effects(struct vlapic *vl, const struct wr_effects *fx)
{
	if (fx->send && vl->ops && vl->ops->icr_write)
		vl->ops->icr_write(vl->ops->ctx, vl, fx->icr_lo, fx->icr_hi);
	if (fx->eoi_vector >= 0 && vl->ops && vl->ops->eoi)
		vl->ops->eoi(vl->ops->ctx, (uint8_t)fx->eoi_vector);
}

void vlapic_mmio_write(struct vlapic *vl, uint32_t off, unsigned size, uint64_t val)
{
	uint32_t mask;
	struct wr_effects fx = {.eoi_vector = -1};
	if (off >= APIC_PAGE_SIZE || size != 4 || (off & 0xf))
		return;
	pthread_mutex_lock(&vl->lock);
	if (hw_enabled(vl) && !x2mode(vl) && off != APIC_OFF_SELF_IPI && reg_write_mask(vl, off, &mask))
		write_reg(vl, off, (uint32_t)val, &fx);
	pthread_mutex_unlock(&vl->lock);
	apply_effects(vl, &fx);
}

/* x2APIC MSR -> xAPIC offset; false for MSRs with no register in x2APIC mode. */
static bool msr_to_off(uint32_t msr, uint32_t *off)
{
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return false;
	*off = (msr - MSR_X2APIC_FIRST) << 4;
	switch (*off) {
	case APIC_OFF_APR: /* SDM table 10-6: APR, RRD, DFR, ICR_HI do not exist in x2APIC */
	case APIC_OFF_RRD:
	case APIC_OFF_DFR:
	case APIC_OFF_ICR_HI:
		return false;
	default:
		return *off == APIC_OFF_ID || *off == APIC_OFF_VER || *off == APIC_OFF_TPR ||
		       *off == APIC_OFF_PPR || *off == APIC_OFF_EOI || *off == APIC_OFF_LDR ||
		       *off == APIC_OFF_SVR || (*off >= APIC_OFF_ISR0 && *off < APIC_OFF_ESR) ||
		       *off == APIC_OFF_ESR || *off == APIC_OFF_LVT_CMCI || *off == APIC_OFF_ICR_LO ||
		       (*off >= APIC_OFF_LVT_TIMER && *off <= APIC_OFF_TIMER_CCR) ||
		       *off == APIC_OFF_TIMER_DCR || *off == APIC_OFF_SELF_IPI;
	}
}

int vlapic_rdmsr(struct vlapic *vl, uint32_t msr, uint64_t *val)
{
	uint32_t off;
	if (!msr_to_off(msr, &off) || off == APIC_OFF_EOI || off == APIC_OFF_SELF_IPI)
		return -EINVAL; /* absent or write-only: #GP */
	pthread_mutex_lock(&vl->lock);
	int err = 0;
	if (!x2mode(vl)) {
		err = -EINVAL;
	} else if (off == APIC_OFF_ICR_LO) {
		*val = ((uint64_t)vl->regs[REG(APIC_OFF_ICR_HI)] << 32) | vl->regs[REG(off)];
	} else {
		*val = read_reg(vl, off);
	}
	pthread_mutex_unlock(&vl->lock);
	return err;
}

int vlapic_wrmsr(struct vlapic *vl, uint32_t msr, uint64_t val)
{
	uint32_t off, mask;
	struct wr_effects fx = {.eoi_vector = -1};
	if (!msr_to_off(msr, &off))
		return -EINVAL;
	pthread_mutex_lock(&vl->lock);
	int err = 0;
	if (!x2mode(vl) || !reg_write_mask(vl, off, &mask)) {
		err = -EINVAL; /* not x2APIC mode, or a read-only register */
	} else if (off == APIC_OFF_ICR_LO) {
		if (val & ~(0xffffffff00000000ULL | ICR_LO_WRITABLE)) {
			err = -EINVAL;
		} else {
			vl->regs[REG(APIC_OFF_ICR_HI)] = (uint32_t)(val >> 32);
			write_reg(vl, off, (uint32_t)val, &fx);
		}
	} else if (val >> 32 || ((uint32_t)val & ~mask)) {
		err = -EINVAL; /* reserved bits set (SDM 10.12.1.2) */
	} else {
		write_reg(vl, off, (uint32_t)val, &fx);
	}
	pthread_mutex_unlock(&vl->lock);
	apply_effects(vl, &fx);
	return err;
}

bool vlapic_set_intr(struct vlapic *vl, uint8_t vector, bool level)
{
	bool ok = false;
	pthread_mutex_lock(&vl->lock);
	if (vector < 16) {
		raise_error(vl, APIC_ESR_RECV_ILLEGAL_VECTOR);
	} else if (sw_enabled(vl)) {
		bank_set(vl->regs, APIC_OFF_IRR0, vector, true);
		bank_set(vl->regs, APIC_OFF_TMR0, vector, level);
		ok = true;
	}
	pthread_mutex_unlock(&vl->lock);
	return ok;
}

void vlapic_set_error(struct vlapic *vl, uint32_t esr_bits)
{
	pthread_mutex_lock(&vl->lock);
	raise_error(vl, esr_bits);
	pthread_mutex_unlock(&vl->lock);
}

static int pending_locked(const struct vlapic *vl)
{
	int v = bank_highest(vl->regs, APIC_OFF_IRR0);
	if (v >= 0 && ((uint32_t)v & 0xf0) <= (vl->regs[REG(APIC_OFF_PPR)] & 0xf0))
		v = -1;
	if (!sw_enabled(vl))
		v = -1;
	return v;
}

int vlapic_pending_intr(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	int v = pending_locked(vl);
	pthread_mutex_unlock(&vl->lock);
	return v;
}

static void accept_locked(struct vlapic *vl, uint8_t vector);

void vlapic_intr_accepted(struct vlapic *vl, uint8_t vector)
{
	pthread_mutex_lock(&vl->lock);
	accept_locked(vl, vector);
	pthread_mutex_unlock(&vl->lock);
}

int vlapic_inject(struct vlapic *vl, bool can_inject, bool *more, uint8_t *cr8)
{
	pthread_mutex_lock(&vl->lock);
	int v = pending_locked(vl);
	if (v >= 0 && can_inject) {
		accept_locked(vl, (uint8_t)v);
		*more = pending_locked(vl) >= 0;
	} else {
		*more = v >= 0;
		v = -1;
	}
	*cr8 = (uint8_t)((vl->regs[REG(APIC_OFF_TPR)] >> 4) & 0xf);
	pthread_mutex_unlock(&vl->lock);
	return v;
}

static void accept_locked(struct vlapic *vl, uint8_t vector)
{
	if (bank_test(vl->regs, APIC_OFF_IRR0, vector)) {
		bank_set(vl->regs, APIC_OFF_IRR0, vector, false);
		bank_set(vl->regs, APIC_OFF_ISR0, vector, true);
		update_ppr(vl);
		uint32_t lvt = vl->regs[REG(APIC_OFF_LVT_TIMER)];
		if (vl->timer_owed && (lvt & LVT_VECTOR) == vector && !(lvt & APIC_LVT_MASKED)) {
			/* The next owed periodic tick: pending again, taken after EOI. */
			vl->timer_owed--;
			bank_set(vl->regs, APIC_OFF_IRR0, vector, true);
		}
	}
}

int vlapic_pv_eoi_vector(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	int v = bank_highest(vl->regs, APIC_OFF_ISR0);
	if (v >= 0 && (bank_highest(vl->regs, APIC_OFF_IRR0) >= 0 ||
		       bank_test(vl->regs, APIC_OFF_TMR0, (uint8_t)v)))
		v = -1;
	pthread_mutex_unlock(&vl->lock);
	return v;
}

void vlapic_pv_eoi(struct vlapic *vl, uint8_t vector)
{
	int bcast = -1;
	pthread_mutex_lock(&vl->lock);
	if (bank_highest(vl->regs, APIC_OFF_ISR0) == (int)vector)
		bcast = do_eoi(vl);
	pthread_mutex_unlock(&vl->lock);
	/* The TMR bit was clear when the flag was set, and only an interrupt
	 * accepted since (none: IRR was empty and the guest ran) could set it. */
	if (bcast >= 0 && vl->ops && vl->ops->eoi)
		vl->ops->eoi(vl->ops->ctx, (uint8_t)bcast);
}

uint8_t vlapic_get_cr8(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	uint8_t v = (uint8_t)((vl->regs[REG(APIC_OFF_TPR)] >> 4) & 0xf);
	pthread_mutex_unlock(&vl->lock);
	return v;
}

void vlapic_set_cr8(struct vlapic *vl, uint8_t cr8)
{
	pthread_mutex_lock(&vl->lock);
	uint32_t *tpr = &vl->regs[REG(APIC_OFF_TPR)];
	if (((*tpr >> 4) & 0xf) != (cr8 & 0xfu)) {
		*tpr = (uint32_t)(cr8 & 0xf) << 4;
		update_ppr(vl);
	}
	pthread_mutex_unlock(&vl->lock);
}

/* Sets the LVT timer vector pending unless masked (lock held). */
static bool timer_deliver(struct vlapic *vl)
{
	uint32_t lvt = vl->regs[REG(APIC_OFF_LVT_TIMER)];
	if ((lvt & APIC_LVT_MASKED) || !sw_enabled(vl))
		return false;
	uint8_t vec = (uint8_t)(lvt & LVT_VECTOR);
	if (vec < 16) {
		raise_error(vl, APIC_ESR_RECV_ILLEGAL_VECTOR);
		return false;
	}
	bank_set(vl->regs, APIC_OFF_IRR0, vec, true);
	bank_set(vl->regs, APIC_OFF_TMR0, vec, false);
	return true;
}

/* The deadline passed (now >= timer_deadline != 0; lock held): delivers per the
 * LVT as it is now and re-arms a periodic timer. Returns true when an
 * interrupt became pending. */
static bool timer_expire(struct vlapic *vl, uint64_t now)
{
	bool irq = false;
	if (timer_mode(vl) == TIMER_TSC_DEADLINE) {
		vl->tsc_deadline = 0; /* SDM 10.5.4.1: the MSR reads 0 once it fired */
		vl->timer_deadline = 0;
		irq = timer_deliver(vl);
	} else if (timer_mode(vl) == TIMER_PERIODIC && vl->timer_period) {
		/* Periods that ended while the previous tick was still pending in
		 * IRR, or while the host did not run us, are not lost: they are
		 * owed and re-raised one by one as the guest takes each tick (as
		 * KVM reinjects lost periodic ticks), so a guest counting ticks
		 * stays exact. The next deadline stays on the grid of the
		 * programmed start, so the timer never drifts. */
		uint64_t k = (now - vl->timer_deadline) / vl->timer_period + 1;
		uint8_t vec = (uint8_t)(vl->regs[REG(APIC_OFF_LVT_TIMER)] & LVT_VECTOR);
		uint64_t owed = k - 1 + (bank_test(vl->regs, APIC_OFF_IRR0, vec) ? 1 : 0);
		irq = timer_deliver(vl);
		if (irq) {
			vl->timer_owed += owed;
			if (vl->timer_owed > VLAPIC_TIMER_MAX_OWED)
				vl->timer_owed = VLAPIC_TIMER_MAX_OWED;
		}
		timer_arm(vl, vl->timer_deadline + k * vl->timer_period);
	} else {
		vl->timer_deadline = 0; /* one-shot: TMCCR stays 0 */
		irq = timer_deliver(vl);
	}
	return irq;
}

/* A deadline that passed while the host timer thread has not run yet (it
 * can lag by milliseconds on a loaded host) is expired now, so that the LVT
 * in force at the expiry decides: an interrupt is generated when the count
 * reaches 0, subject to the mask bit at that moment (SDM Vol. 3A 10.5.4 and
 * 10.5.1, "Mask"). Without this, unmasking an expired one-shot timer before
 * the host callback delivered a stale interrupt, and masking one lost a due
 * interrupt. Lock held; owner thread (the owner injects before entry). */
static void timer_catch_up(struct vlapic *vl)
{
	if (!vl->timer_deadline)
		return;
	uint64_t now = clock_now(vl);
	if (now >= vl->timer_deadline)
		timer_expire(vl, now);
}

bool vlapic_timer_fired(struct vlapic *vl)
{
	bool irq = false;
	pthread_mutex_lock(&vl->lock);
	uint64_t now = clock_now(vl);
	/* timer_deadline 0: disarmed (or caught up) after the host timer expired */
	if (vl->timer_deadline && now < vl->timer_deadline)
		timer_arm(vl, vl->timer_deadline); /* woken early: wait again */
	else if (vl->timer_deadline)
		irq = timer_expire(vl, now);
	pthread_mutex_unlock(&vl->lock);
	return irq;
}

uint64_t vlapic_tsc_deadline_read(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	uint64_t v = timer_mode(vl) == TIMER_TSC_DEADLINE ? vl->tsc_deadline : 0;
	pthread_mutex_unlock(&vl->lock);
	return v;
}

void vlapic_tsc_deadline_write(struct vlapic *vl, uint64_t val)
{
	pthread_mutex_lock(&vl->lock);
	if (timer_mode(vl) != TIMER_TSC_DEADLINE) {
		pthread_mutex_unlock(&vl->lock);
		return; /* ignored outside TSC-deadline mode (SDM 10.5.4.1) */
	}
	timer_catch_up(vl); /* a deadline already due fires before it is replaced */
	vl->tsc_deadline = val;
	if (!val) {
		timer_stop(vl);
	} else {
		uint64_t now = clock_now(vl);
		uint64_t tsc = vl->ops && vl->ops->guest_tsc ? vl->ops->guest_tsc(vl->ops->ctx) : 0;
		uint32_t khz = vl->ops && vl->ops->tsc_khz ? vl->ops->tsc_khz : 1000000;
		uint64_t delta = 0;
		if (val > tsc) {
			unsigned __int128 d = (unsigned __int128)(val - tsc) * 1000000ULL / khz;
			delta = d > (1ULL << 62) ? (1ULL << 62) : (uint64_t)d;
		}
		timer_arm(vl, now + delta);
	}
	pthread_mutex_unlock(&vl->lock);
}

enum vlapic_lint_action vlapic_lint(struct vlapic *vl, unsigned pin, bool level)
{
	enum vlapic_lint_action act = VLAPIC_LINT_NONE;
	if (pin > 1)
		return act;
	pthread_mutex_lock(&vl->lock);
	bool edge = level && !vl->lint_level[pin];
	vl->lint_level[pin] = level;
	uint32_t lvt = vl->regs[REG(pin ? APIC_OFF_LVT_LINT1 : APIC_OFF_LVT_LINT0)];
	if (!(lvt & APIC_LVT_MASKED) && hw_enabled(vl)) {
		switch ((lvt & LVT_DM) >> LVT_DM_SHIFT) {
		case LVT_DM_FIXED:
			if (edge && sw_enabled(vl) && (lvt & LVT_VECTOR) >= 16) {
				bank_set(vl->regs, APIC_OFF_IRR0, (uint8_t)(lvt & LVT_VECTOR), true);
				act = VLAPIC_LINT_IRR;
			}
			break;
		case LVT_DM_NMI:
			if (edge)
				act = VLAPIC_LINT_NMI;
			break;
		case LVT_DM_EXTINT:
			act = VLAPIC_LINT_EXTINT;
			break;
		default:
			break; /* SMI, INIT and reserved modes on LINT: ignored */
		}
	}
	pthread_mutex_unlock(&vl->lock);
	return act;
}

bool vlapic_accepts_extint(struct vlapic *vl)
{
	pthread_mutex_lock(&vl->lock);
	uint32_t lvt = vl->regs[REG(APIC_OFF_LVT_LINT0)];
	bool ok = !hw_enabled(vl) ||
		  (!(lvt & APIC_LVT_MASKED) && ((lvt & LVT_DM) >> LVT_DM_SHIFT) == LVT_DM_EXTINT);
	pthread_mutex_unlock(&vl->lock);
	return ok;
}
