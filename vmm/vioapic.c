/* vioapic.c: 82093AA I/O APIC model: register window, pin logic, Remote IRR and EOI (vmm/vioapic.h). */
#include <errno.h>
#include <string.h>

#include "vmm/vioapic.h"

static const struct vioapic_ops no_ops;

/* Messages decided under the lock, sent after it is released. */
struct pending {
	unsigned n;
	struct {
		uint8_t dest, mode, vector;
		bool logical, level;
	} m[VIOAPIC_NPINS];
};

static unsigned rte_mode(uint64_t rte)
{
	return (unsigned)((rte & VIOAPIC_RTE_DM_MASK) >> VIOAPIC_RTE_DM_SHIFT);
}

/* Level semantics apply only to Fixed and Lowest Priority: SMI, NMI, INIT and
 * ExtINT are edge-triggered whatever the trigger bit says (82093AA 3.2.4). */
static bool rte_is_level(uint64_t rte)
{
	unsigned mode = rte_mode(rte);
	return (rte & VIOAPIC_RTE_TRIGGER_LEVEL) &&
	       (mode == VIOAPIC_DM_FIXED || mode == VIOAPIC_DM_LOWPRIO);
}

static bool pin_asserted(const struct vioapic *io, unsigned pin)
{
	bool wire = (io->wire >> pin) & 1;
	return wire != !!(io->rte[pin] & VIOAPIC_RTE_POLARITY_LOW);
}

/* Queues pin's message; sets Remote IRR for a level entry (82093AA 3.2.4:
 * "set when the local APIC(s) accept the level interrupt"). Caller checked
 * the mask and, for level entries, that Remote IRR was clear. */
static void send(struct vioapic *io, unsigned pin, struct pending *p)
{
	uint64_t rte = io->rte[pin];
	unsigned mode = rte_mode(rte);

	if (mode == VIOAPIC_DM_RESERVED3 || mode == VIOAPIC_DM_RESERVED6)
		return;
	bool level = rte_is_level(rte);
	if (level)
		io->rte[pin] |= VIOAPIC_RTE_REMOTE_IRR;
	if (p->n >= VIOAPIC_NPINS)
		return; /* cannot happen: at most one message per pin per call */
	p->m[p->n].dest = (uint8_t)(rte >> VIOAPIC_RTE_DEST_SHIFT);
	p->m[p->n].logical = !!(rte & VIOAPIC_RTE_DESTMODE_LOGICAL);
	p->m[p->n].mode = (uint8_t)mode;
	p->m[p->n].vector = (uint8_t)(rte & VIOAPIC_RTE_VECTOR_MASK);
	p->m[p->n].level = level;
	p->n++;
}

/* A level entry delivers while asserted, unmasked and Remote IRR clear. */
static void level_check(struct vioapic *io, unsigned pin, struct pending *p)
{
	uint64_t rte = io->rte[pin];
	if (rte_is_level(rte) && !(rte & VIOAPIC_RTE_MASKED) &&
	    !(rte & VIOAPIC_RTE_REMOTE_IRR) && pin_asserted(io, pin))
		send(io, pin, p);
}

/* Releases the lock, then sends what was queued. */
static void unlock_and_send(struct vioapic *io, const struct pending *p)
{
	pthread_mutex_unlock(&io->lock);
	for (unsigned i = 0; i < p->n; i++)
		if (io->ops->deliver)
			io->ops->deliver(io->ctx, p->m[i].dest, p->m[i].logical, p->m[i].mode,
					 p->m[i].vector, p->m[i].level);
}

static void reset_locked(struct vioapic *io)
{
	io->ioregsel = 0;
	for (unsigned i = 0; i < VIOAPIC_NPINS; i++)
		io->rte[i] = VIOAPIC_RTE_MASKED;
}

int vioapic_init(struct vioapic *io, const struct vioapic_ops *ops, void *ctx, uint8_t id)
{
	memset(io, 0, sizeof(*io));
	int err = pthread_mutex_init(&io->lock, NULL);
	if (err)
		return -err;
	io->ops = ops ? ops : &no_ops;
	io->ctx = ctx;
	io->id = ((uint32_t)id << VIOAPIC_ID_SHIFT) & VIOAPIC_ID_MASK;
	io->wire = 0;
	reset_locked(io);
	return 0;
}

void vioapic_destroy(struct vioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

void vioapic_reset(struct vioapic *io)
{
	pthread_mutex_lock(&io->lock);
	reset_locked(io);
	pthread_mutex_unlock(&io->lock);
}

/* Value of indirect register reg (82093AA 3.0 table 2); 0 for holes. */
static uint32_t reg_read(const struct vioapic *io, uint8_t reg)
{
	if (reg == VIOAPIC_REG_ID)
		return io->id;
	if (reg == VIOAPIC_REG_VER)
		return VIOAPIC_VERSION_VALUE;
	if (reg == VIOAPIC_REG_ARB)
		return io->id; /* 82093AA 3.2.3: arbitration ID, loaded from the APIC ID */
	if (reg >= VIOAPIC_REG_REDTBL && reg < VIOAPIC_REG_REDTBL_END) {
		unsigned pin = (unsigned)(reg - VIOAPIC_REG_REDTBL) / 2;
		uint64_t rte = io->rte[pin];
		return (reg & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
	}
	return 0;
}

static void reg_write(struct vioapic *io, uint8_t reg, uint32_t val, struct pending *p)
{
	if (reg == VIOAPIC_REG_ID) {
		io->id = val & VIOAPIC_ID_MASK;
		return;
	}
	if (reg < VIOAPIC_REG_REDTBL || reg >= VIOAPIC_REG_REDTBL_END)
		return; /* IOAPICVER, IOAPICARB and holes are read-only */

	unsigned pin = (unsigned)(reg - VIOAPIC_REG_REDTBL) / 2;
	uint64_t old = io->rte[pin], rte;
	if (reg & 1)
		rte = (old & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		rte = (old & ~0xffffffffULL) | val;
	rte &= VIOAPIC_RTE_RW_BITS;
	rte |= old & VIOAPIC_RTE_REMOTE_IRR; /* read-only: kept */
	/* An edge entry has no Remote IRR: switching to edge clears it. Linux
	 * relies on this to clear a stuck Remote IRR on version 0x11 IOAPICs
	 * (io_apic.c __eoi_ioapic_pin); QEMU and KVM do the same. */
	if (!(rte & VIOAPIC_RTE_TRIGGER_LEVEL))
		rte &= ~VIOAPIC_RTE_REMOTE_IRR;
	io->rte[pin] = rte;
	/* Edges come only from the wire; a pending level request is (re)delivered. */
	level_check(io, pin, p);
}

/* Width mask of a 1/2/4/8-byte access. */
static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static bool size_ok(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

int vioapic_mmio_read(struct vioapic *io, uint64_t offset, unsigned size, uint64_t *val)
{
	if (!val)
		return -EINVAL;
	*val = 0;
	if (!size_ok(size))
		return -EINVAL;

	uint32_t dword;
	pthread_mutex_lock(&io->lock);
	if (offset < VIOAPIC_OFF_IOREGSEL + 4)
		dword = io->ioregsel;
	else if (offset >= VIOAPIC_OFF_IOWIN && offset < VIOAPIC_OFF_IOWIN + 4)
		dword = reg_read(io, io->ioregsel);
	else
		dword = 0;
	pthread_mutex_unlock(&io->lock);
	*val = ((uint64_t)dword >> (8 * (offset & 3))) & size_mask(size);
	return 0;
}

int vioapic_mmio_write(struct vioapic *io, uint64_t offset, unsigned size, uint64_t val)
{
	struct pending p = {.n = 0};

	if (!size_ok(size))
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	if (offset == VIOAPIC_OFF_IOREGSEL)
		io->ioregsel = (uint8_t)val;
	else if (offset == VIOAPIC_OFF_IOWIN && size >= 4)
		reg_write(io, io->ioregsel, (uint32_t)val, &p);
	unlock_and_send(io, &p);
	return 0;
}

int vioapic_set_irq(struct vioapic *io, unsigned pin, bool level)
{
	struct pending p = {.n = 0};

	if (pin >= VIOAPIC_NPINS)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	bool was = pin_asserted(io, pin);
	if (level)
		io->wire |= 1u << pin;
	else
		io->wire &= ~(1u << pin);
	bool now = pin_asserted(io, pin);
	uint64_t rte = io->rte[pin];
	if (rte_is_level(rte))
		level_check(io, pin, &p);
	else if (now && !was && !(rte & VIOAPIC_RTE_MASKED))
		send(io, pin, &p);
	unlock_and_send(io, &p);
	return 0;
}

int vioapic_pulse_irq(struct vioapic *io, unsigned pin)
{
	struct pending p = {.n = 0};

	if (pin >= VIOAPIC_NPINS)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	uint64_t rte = io->rte[pin];
	if (!pin_asserted(io, pin) && !(rte & VIOAPIC_RTE_MASKED) &&
	    !(rte_is_level(rte) && (rte & VIOAPIC_RTE_REMOTE_IRR)))
		send(io, pin, &p);
	unlock_and_send(io, &p);
	return 0;
}

void vioapic_eoi(struct vioapic *io, uint8_t vector)
{
	struct pending p = {.n = 0};

	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < VIOAPIC_NPINS; pin++) {
		uint64_t rte = io->rte[pin];
		if ((rte & VIOAPIC_RTE_VECTOR_MASK) != vector || !(rte & VIOAPIC_RTE_REMOTE_IRR))
			continue;
		io->rte[pin] = rte & ~VIOAPIC_RTE_REMOTE_IRR;
		/* XXX: a guest that EOIs without quieting its device gets the
		 * interrupt again at once, forever (as on hardware); KVM throttles
		 * such storms, hyve does not: each round costs the guest an EOI. */
		level_check(io, pin, &p);
	}
	unlock_and_send(io, &p);
}

uint64_t vioapic_rte(struct vioapic *io, unsigned pin)
{
	if (pin >= VIOAPIC_NPINS)
		return 0;
	pthread_mutex_lock(&io->lock);
	uint64_t rte = io->rte[pin];
	pthread_mutex_unlock(&io->lock);
	return rte;
}
