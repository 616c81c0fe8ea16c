/* i8259.c: cascaded 8259A pair with ELCR: init sequence, priorities, EOI, poll, INTA (devices/i8259.h). */
#include <errno.h>
#include <string.h>

#include "devices/i8259.h"

#define MASTER 0
#define SLAVE 1
#define NO_IRQ 8u /* "no level" result of the priority resolver */

/* i8259_chip.icw_expect: which initialization word the data port takes next. */
enum { ICW_DONE = 0, EXPECT_ICW2 = 2, EXPECT_ICW3 = 3, EXPECT_ICW4 = 4 };

/* Vector bases a PC BIOS programs (so an unprogrammed PIC never hands out
 * exception vectors). */
#define BIOS_MASTER_BASE 0x08
#define BIOS_SLAVE_BASE 0x70

static const struct i8259_ops no_ops;

/* Rank of level ir in the rotating priority order: 0 is the highest. */
static unsigned rank(const struct i8259_chip *c, unsigned ir)
{
	return (ir - c->prio_add) & 7;
}

/* Level of the highest-priority bit set in bits, or NO_IRQ. */
static unsigned highest(const struct i8259_chip *c, uint8_t bits)
{
	for (unsigned r = 0; r < 8; r++) {
		unsigned ir = (c->prio_add + r) & 7;
		if (bits & (1u << ir))
			return ir;
	}
	return NO_IRQ;
}

/* The request this chip would signal on INT now, or NO_IRQ (8259A "Fully
 * Nested Mode"): the highest unmasked request, if it outranks every level
 * in service. In special mask mode masked in-service levels do not block
 * (8259A "Special Mask Mode"); in special fully nested mode the master
 * lets the slave interrupt while IR2 is in service (8259A "Special Fully
 * Nested Mode"). A chip in the middle of its ICW sequence signals nothing. */
static unsigned chip_pending(const struct i8259_chip *c, bool master)
{
	if (c->icw_expect != ICW_DONE)
		return NO_IRQ;
	unsigned req = highest(c, c->irr & ~c->imr);
	if (req == NO_IRQ)
		return NO_IRQ;
	uint8_t busy = c->isr;
	if (c->special_mask)
		busy &= ~c->imr;
	if (master && c->sfnm)
		busy &= ~(1u << I8259_CASCADE_IRQ);
	unsigned cur = highest(c, busy);
	if (cur != NO_IRQ && rank(c, cur) <= rank(c, req))
		return NO_IRQ;
	return req;
}

/* New level of input ir (8259A edge/level sense; PIIX4 ELCR). */
static void chip_set_line(struct i8259_chip *c, unsigned ir, bool level)
{
	uint8_t bit = (uint8_t)(1u << ir);
	bool was = c->lines & bit;

	if (level)
		c->lines |= bit;
	else
		c->lines &= (uint8_t)~bit;
	if (c->elcr & bit) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= (uint8_t)~bit;
	} else if (level && !was) {
		c->irr |= bit;
	}
}

/* Propagates the slave's INT to master IR2 and reports the master's INT.
 * IR2 follows the slave's INT as a level whatever ELCR says: the slave
 * keeps INT up while it has an eligible request, so a second slave request
 * pending after an INTA (e.g. in AEOI mode) is not lost for want of a new
 * edge. */
static void update(struct i8259 *pic)
{
	struct i8259_chip *m = &pic->chip[MASTER];
	uint8_t cascade = 1u << I8259_CASCADE_IRQ;

	if (chip_pending(&pic->chip[SLAVE], false) != NO_IRQ) {
		m->lines |= cascade;
		m->irr |= cascade;
	} else {
		m->lines &= (uint8_t)~cascade;
		m->irr &= (uint8_t)~cascade;
	}

	bool out = chip_pending(&pic->chip[MASTER], true) != NO_IRQ;
	if (out != pic->int_out) {
		pic->int_out = out;
		if (pic->ops->intr)
			pic->ops->intr(pic->ctx, out);
	}
}

/* Acknowledge of level ir (the first INTA pulse, 8259A "Interrupt
 * Sequence"): ISR set unless AEOI, an edge request leaves IRR. */
static void chip_ack(struct i8259_chip *c, unsigned ir)
{
	uint8_t bit = (uint8_t)(1u << ir);
	if (c->aeoi) {
		if (c->rotate_aeoi)
			c->prio_add = (uint8_t)((ir + 1) & 7);
	} else {
		c->isr |= bit;
	}
	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;
}

/* ICW1 (8259A "Initialization Command Words", items a-f). */
static void icw1(struct i8259_chip *c, uint8_t val)
{
	c->irr &= c->elcr & c->lines; /* edge sense reset; level requests stay */
	c->isr = 0;
	c->imr = 0;
	c->prio_add = 0; /* IR7 lowest */
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->aeoi = false;
	c->rotate_aeoi = false;
	c->sfnm = false;
	c->icw4_needed = val & I8259_ICW1_IC4;
	c->icw_expect = EXPECT_ICW2;
}

static void chip_data_write(struct i8259_chip *c, uint8_t val)
{
	switch (c->icw_expect) {
	case EXPECT_ICW2:
		c->vector_base = val & 0xf8;
		c->icw_expect = EXPECT_ICW3; /* ICW3 always follows: the pair is cascaded */
		break;
	case EXPECT_ICW3:
		c->icw_expect = c->icw4_needed ? EXPECT_ICW4 : ICW_DONE;
		break;
	case EXPECT_ICW4:
		c->aeoi = val & I8259_ICW4_AEOI;
		c->sfnm = val & I8259_ICW4_SFNM;
		c->icw_expect = ICW_DONE;
		break;
	default: /* OCW1 */
		c->imr = val;
		break;
	}
}

/* Non-specific EOI target: the highest level in service, skipping levels
 * masked in special mask mode (8259A "End of Interrupt"). */
static unsigned nseoi_level(const struct i8259_chip *c)
{
	uint8_t busy = c->isr;
	if (c->special_mask)
		busy &= ~c->imr;
	return highest(c, busy);
}

static void ocw2(struct i8259_chip *c, uint8_t val)
{
	unsigned level = val & I8259_OCW2_LEVEL_MASK, ir;

	switch (val & I8259_OCW2_CMD_MASK) {
	case I8259_OCW2_ROT_AEOI_CLR:
		c->rotate_aeoi = false;
		break;
	case I8259_OCW2_ROT_AEOI_SET:
		c->rotate_aeoi = true;
		break;
	case I8259_OCW2_NSEOI:
	case I8259_OCW2_ROT_NSEOI:
		ir = nseoi_level(c);
		if (ir == NO_IRQ)
			break;
		c->isr &= (uint8_t)~(1u << ir);
		if ((val & I8259_OCW2_CMD_MASK) == I8259_OCW2_ROT_NSEOI)
			c->prio_add = (uint8_t)((ir + 1) & 7); /* ir becomes lowest */
		break;
	case I8259_OCW2_SEOI:
		c->isr &= (uint8_t)~(1u << level);
		break;
	case I8259_OCW2_ROT_SEOI:
		c->isr &= (uint8_t)~(1u << level);
		c->prio_add = (uint8_t)((level + 1) & 7);
		break;
	case I8259_OCW2_SET_PRIO:
		c->prio_add = (uint8_t)((level + 1) & 7);
		break;
	case I8259_OCW2_NOP:
	default:
		break;
	}
}

static void ocw3(struct i8259_chip *c, uint8_t val)
{
	if (val & I8259_OCW3_ESMM)
		c->special_mask = val & I8259_OCW3_SMM;
	if (val & I8259_OCW3_RR)
		c->read_isr = val & I8259_OCW3_RIS;
	if (val & I8259_OCW3_P)
		c->poll = true;
}

static void chip_cmd_write(struct i8259_chip *c, uint8_t val)
{
	if (val & I8259_ICW1)
		icw1(c, val);
	else if (val & I8259_OCW3)
		ocw3(c, val);
	else
		ocw2(c, val);
}

/* Poll read (8259A "The Poll Command"): acts as an INTA of this chip. */
static uint8_t chip_poll(struct i8259_chip *c, bool master)
{
	c->poll = false;
	unsigned ir = chip_pending(c, master);
	if (ir == NO_IRQ)
		return 0;
	chip_ack(c, ir);
	return (uint8_t)(0x80 | ir);
}

static void chip_reset(struct i8259_chip *c, uint8_t base)
{
	uint8_t lines = c->lines;
	memset(c, 0, sizeof(*c));
	c->lines = lines;
	c->vector_base = base;
	c->imr = 0xff;
}

static void reset_locked(struct i8259 *pic)
{
	chip_reset(&pic->chip[MASTER], BIOS_MASTER_BASE);
	chip_reset(&pic->chip[SLAVE], BIOS_SLAVE_BASE);
}

int i8259_init(struct i8259 *pic, const struct i8259_ops *ops, void *ctx)
{
	memset(pic, 0, sizeof(*pic));
	int err = pthread_mutex_init(&pic->lock, NULL);
	if (err)
		return -err;
	pic->ops = ops ? ops : &no_ops;
	pic->ctx = ctx;
	reset_locked(pic);
	return 0;
}

void i8259_destroy(struct i8259 *pic)
{
	pthread_mutex_destroy(&pic->lock);
}

void i8259_reset(struct i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	reset_locked(pic);
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

uint8_t i8259_read(struct i8259 *pic, unsigned reg)
{
	uint8_t v = 0xff;

	if (reg >= I8259_NREGS)
		return v;
	pthread_mutex_lock(&pic->lock);
	if (reg == I8259_REG_ELCR_MASTER || reg == I8259_REG_ELCR_SLAVE) {
		v = pic->chip[reg - I8259_REG_ELCR_MASTER].elcr;
	} else {
		unsigned n = reg / 2; /* REG_MASTER_* -> 0, REG_SLAVE_* -> 1 */
		struct i8259_chip *c = &pic->chip[n];
		if (c->poll)
			v = chip_poll(c, n == MASTER);
		else if (reg & 1)
			v = c->imr;
		else
			v = c->read_isr ? c->isr : c->irr;
		update(pic);
	}
	pthread_mutex_unlock(&pic->lock);
	return v;
}

void i8259_write(struct i8259 *pic, unsigned reg, uint8_t value)
{
	if (reg >= I8259_NREGS)
		return;
	pthread_mutex_lock(&pic->lock);
	switch (reg) {
	case I8259_REG_MASTER_CMD:
	case I8259_REG_SLAVE_CMD:
		chip_cmd_write(&pic->chip[reg / 2], value);
		break;
	case I8259_REG_MASTER_DATA:
	case I8259_REG_SLAVE_DATA:
		chip_data_write(&pic->chip[reg / 2], value);
		break;
	case I8259_REG_ELCR_MASTER:
		pic->chip[MASTER].elcr = value & I8259_ELCR_MASTER_MASK;
		break;
	case I8259_REG_ELCR_SLAVE:
		pic->chip[SLAVE].elcr = value & I8259_ELCR_SLAVE_MASK;
		break;
	}
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

int i8259_set_irq(struct i8259 *pic, unsigned irq, bool level)
{
	if (irq >= I8259_NIRQS || irq == I8259_CASCADE_IRQ)
		return -EINVAL;
	pthread_mutex_lock(&pic->lock);
	chip_set_line(&pic->chip[irq / 8], irq % 8, level);
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return 0;
}

bool i8259_intr_pending(struct i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	bool out = pic->int_out;
	pthread_mutex_unlock(&pic->lock);
	return out;
}

uint8_t i8259_intack(struct i8259 *pic)
{
	struct i8259_chip *m = &pic->chip[MASTER], *s = &pic->chip[SLAVE];
	uint8_t vector;

	pthread_mutex_lock(&pic->lock);
	unsigned ir = chip_pending(m, true);
	if (ir == NO_IRQ) {
		vector = (uint8_t)(m->vector_base + 7); /* spurious IRQ7 */
	} else if (ir == I8259_CASCADE_IRQ) {
		unsigned sir = chip_pending(s, false);
		if (sir == NO_IRQ) {
			vector = (uint8_t)(s->vector_base + 7); /* spurious IRQ15 */
		} else {
			chip_ack(s, sir);
			vector = (uint8_t)(s->vector_base + sir);
		}
		chip_ack(m, ir);
	} else {
		chip_ack(m, ir);
		vector = (uint8_t)(m->vector_base + ir);
	}
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return vector;
}

/* --- port I/O bus handlers --- */
static int i8259_pio(struct i8259 *d, unsigned reg, bool wr, uint64_t *val)
{
	if (wr)
		i8259_write(d, reg, (uint8_t)*val); /* byte registers: the low byte of a wider access */
	else
		*val = i8259_read(d, reg);
	return 0;
}

int i8259_pio_master(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct i8259 *d = opaque;
	(void)size;
	return i8259_pio(d, I8259_REG_MASTER_CMD + (unsigned)off, wr, val);
}

int i8259_pio_slave(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct i8259 *d = opaque;
	(void)size;
	return i8259_pio(d, I8259_REG_SLAVE_CMD + (unsigned)off, wr, val);
}

int i8259_pio_elcr(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct i8259 *d = opaque;
	(void)size;
	return i8259_pio(d, I8259_REG_ELCR_MASTER + (unsigned)off, wr, val);
}
