/* sysctl.c: debug-exit, reset control, port 0x92, minimal i8042 and port 0x80 (devices/sysctl.h). */
#include <string.h>

#include "devices/bus.h"
#include "devices/sysctl.h"

static void request_reset(const struct sysreset_ops *ops, void *ctx, enum sysreset_source src)
{
	if (ops && ops->on_reset)
		ops->on_reset(ctx, src);
}

/* ---- isa-debug-exit ---- */

void debugexit_init(struct debugexit *d, const struct debugexit_ops *ops, void *ctx)
{
	d->ops = ops;
	d->ctx = ctx;
}

uint32_t debugexit_read(struct debugexit *d, unsigned offset, unsigned size)
{
	return 0; /* QEMU debug_exit_read */
}

void debugexit_write(struct debugexit *d, unsigned offset, unsigned size, uint32_t value)
{
	if (size != 1 && size != 2 && size != 4)
		return; /* QEMU debug_exit_ops: valid sizes 1..4 */
	if (size < 4)
		value &= (1u << (8 * size)) - 1;
	if (d->ops && d->ops->on_exit)
		d->ops->on_exit(d->ctx, value);
}

/* ---- Reset Control Register ---- */

int rstctl_init(struct rstctl *r, const struct sysreset_ops *ops, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->ctx = ctx;
	return -pthread_mutex_init(&r->lock, NULL);
}

void rstctl_destroy(struct rstctl *r)
{
	pthread_mutex_destroy(&r->lock);
}

uint8_t rstctl_read(struct rstctl *r, unsigned offset)
{
	if (offset != RCR_OFF)
		return 0xff;
	pthread_mutex_lock(&r->lock);
	uint8_t v = r->rcr;
	pthread_mutex_unlock(&r->lock);
	return v;
}

void rstctl_write(struct rstctl *r, unsigned offset, uint8_t value)
{
	if (offset != RCR_OFF)
		return;
	if (value & RCR_RST_CPU) {
		/* QEMU rcr_write: reset now, register unchanged. */
		request_reset(r->ops, r->ctx, SYSRESET_RCR);
		return;
	}
	pthread_mutex_lock(&r->lock);
	r->rcr = value & RCR_SYS_RST; /* keep the reset type only */
	pthread_mutex_unlock(&r->lock);
}

/* ---- port 0x92 ---- */

int port92_init(struct port92 *p, const struct sysreset_ops *ops, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->ctx = ctx;
	return -pthread_mutex_init(&p->lock, NULL);
}

void port92_destroy(struct port92 *p)
{
	pthread_mutex_destroy(&p->lock);
}

void port92_reset(struct port92 *p)
{
	pthread_mutex_lock(&p->lock);
	p->outport &= (uint8_t)~PORT92_FAST_RESET;
	pthread_mutex_unlock(&p->lock);
}

uint8_t port92_read(struct port92 *p, unsigned offset)
{
	if (offset != PORT92_OFF)
		return 0xff;
	pthread_mutex_lock(&p->lock);
	uint8_t v = p->outport;
	pthread_mutex_unlock(&p->lock);
	return v;
}

void port92_write(struct port92 *p, unsigned offset, uint8_t value)
{
	if (offset != PORT92_OFF)
		return;
	pthread_mutex_lock(&p->lock);
	uint8_t old = p->outport;
	p->outport = value;
	pthread_mutex_unlock(&p->lock);
	/* QEMU port92_write: reset on the rising edge of bit 0 only. */
	if ((value & PORT92_FAST_RESET) && !(old & PORT92_FAST_RESET))
		request_reset(p->ops, p->ctx, SYSRESET_PORT92);
}

/* ---- i8042 ---- */

int i8042_init(struct i8042 *k, const struct sysreset_ops *ops, void *ctx)
{
	memset(k, 0, sizeof(*k));
	k->ops = ops;
	k->ctx = ctx;
	k->outport = I8042_OUT_RESET | I8042_OUT_A20; /* CPU running, A20 on */
	k->last_was_cmd = true;                        /* QEMU kbd_reset: KBD_STAT_CMD */
	return -pthread_mutex_init(&k->lock, NULL);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

uint8_t i8042_read(struct i8042 *k, unsigned offset)
{
	uint8_t v;
	switch (offset) {
	case I8042_OFF_CMD:
		pthread_mutex_lock(&k->lock);
		v = I8042_STR_SYSFLAG | I8042_STR_KEYLOCK;
		if (k->last_was_cmd)
			v |= I8042_STR_CMDDAT;
		pthread_mutex_unlock(&k->lock);
		return v; /* OBF and IBF clear: nothing to read, ready for input */
	case I8042_OFF_DATA:
		return 0;
	default:
		return 0xff;
	}
}

static bool cmd_takes_data(uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPORT:
	case I8042_CMD_WRITE_KBD_OBUF:
	case I8042_CMD_WRITE_AUX_OBUF:
	case I8042_CMD_WRITE_AUX:
		return true;
	default:
		return false;
	}
}

void i8042_write(struct i8042 *k, unsigned offset, uint8_t value)
{
	bool reset = false;

	if (offset != I8042_OFF_CMD && offset != I8042_OFF_DATA)
		return;
	pthread_mutex_lock(&k->lock);
	if (offset == I8042_OFF_CMD) {
		k->last_was_cmd = true;
		k->write_cmd = 0;
		if ((value & I8042_CMD_PULSE_MASK) == I8042_CMD_PULSE_MASK)
			reset = !(value & I8042_OUT_RESET); /* pulse bit 0 low: CPU reset */
		else if (cmd_takes_data(value))
			k->write_cmd = value;
	} else {
		k->last_was_cmd = false;
		if (k->write_cmd == I8042_CMD_WRITE_OUTPORT) {
			k->outport = value;
			reset = !(value & I8042_OUT_RESET); /* QEMU outport_write */
		}
		k->write_cmd = 0;
	}
	pthread_mutex_unlock(&k->lock);
	if (reset)
		request_reset(k->ops, k->ctx, SYSRESET_I8042);
}

/* ---- port 0x80 ---- */

int port80_init(struct port80 *p, const struct port80_ops *ops, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->ctx = ctx;
	return -pthread_mutex_init(&p->lock, NULL);
}

void port80_destroy(struct port80 *p)
{
	pthread_mutex_destroy(&p->lock);
}

uint8_t port80_read(struct port80 *p, unsigned offset)
{
	return 0xff; /* QEMU ioport80_read */
}

void port80_write(struct port80 *p, unsigned offset, uint8_t value)
{
	if (offset != PORT80_OFF)
		return;
	pthread_mutex_lock(&p->lock);
	p->last = value;
	p->written = true;
	pthread_mutex_unlock(&p->lock);
	if (p->ops && p->ops->on_post)
		p->ops->on_post(p->ctx, value);
}

bool port80_last(struct port80 *p, uint8_t *code)
{
	pthread_mutex_lock(&p->lock);
	bool w = p->written;
	if (w && code)
		*code = p->last;
	pthread_mutex_unlock(&p->lock);
	return w;
}

int pmcnt_init(struct pmcnt *p, const struct pmcnt_ops *ops, void *ctx)
{
	p->ops = ops;
	p->ctx = ctx;
	p->cnt = PMCNT_SCI_EN;
	p->en = 0;
	return -pthread_mutex_init(&p->lock, NULL);
}

void pmcnt_destroy(struct pmcnt *p)
{
	pthread_mutex_destroy(&p->lock);
}

uint16_t pmcnt_read(struct pmcnt *p, unsigned offset, unsigned size)
{
	if (offset >= PMCNT_LEN || (size != 1 && size != 2) || offset + size > PMCNT_LEN)
		return size == 1 ? 0xff : 0xffff;
	pthread_mutex_lock(&p->lock);
	uint16_t v = (uint16_t)(p->cnt >> (8 * offset));
	pthread_mutex_unlock(&p->lock);
	return size == 1 ? (v & 0xff) : v;
}

void pmcnt_write(struct pmcnt *p, unsigned offset, unsigned size, uint16_t value)
{
	if (offset >= PMCNT_LEN || (size != 1 && size != 2) || offset + size > PMCNT_LEN)
		return;
	pthread_mutex_lock(&p->lock);
	uint16_t v = p->cnt;
	if (size == 2)
		v = value;
	else if (offset == 0)
		v = (uint16_t)((v & 0xff00) | (value & 0xff));
	else
		v = (uint16_t)((v & 0x00ff) | ((value & 0xff) << 8));
	bool off = (v & PMCNT_SLP_EN) &&
		   ((v & PMCNT_SLP_TYP_MASK) >> PMCNT_SLP_TYP_SHIFT) == PMCNT_SLP_TYP_S5;
	p->cnt = (v & (uint16_t)~PMCNT_SLP_EN) | PMCNT_SCI_EN; /* SLP_EN write-only; SCI_EN stays */
	pthread_mutex_unlock(&p->lock);
	if (off && p->ops && p->ops->on_poweroff)
		p->ops->on_poweroff(p->ctx);
}

uint32_t pmevt_read(struct pmcnt *p, unsigned offset, unsigned size)
{
	if (size != 1 && size != 2 && size != 4)
		return 0xffffffffu;
	if (offset >= PMEVT_LEN || offset + size > PMEVT_LEN)
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	pthread_mutex_lock(&p->lock);
	uint32_t blk = (uint32_t)p->en << 16; /* PM1_STS reads 0: no event is ever pending */
	pthread_mutex_unlock(&p->lock);
	blk >>= 8 * offset;
	return size == 4 ? blk : blk & ((1u << (8 * size)) - 1);
}

void pmevt_write(struct pmcnt *p, unsigned offset, unsigned size, uint32_t value)
{
	if ((size != 1 && size != 2 && size != 4) || offset >= PMEVT_LEN || offset + size > PMEVT_LEN)
		return;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned byte = offset + i;
		uint8_t b = (uint8_t)(value >> (8 * i));
		if (byte == 2)
			p->en = (uint16_t)((p->en & 0xff00) | b);
		else if (byte == 3)
			p->en = (uint16_t)((p->en & 0x00ff) | (b << 8));
		/* bytes 0-1: PM1_STS, write-1-to-clear of bits that are never set */
	}
	pthread_mutex_unlock(&p->lock);
}

/* ---- pvpanic ---- */

void pvpanic_init(struct pvpanic *p, const struct pvpanic_ops *ops, void *ctx)
{
	p->ops = ops;
	p->ctx = ctx;
}

uint8_t pvpanic_read(struct pvpanic *p, unsigned offset)
{
	(void)p;
	return offset == 0 ? PVPANIC_EVENTS : 0xff;
}

void pvpanic_write(struct pvpanic *p, unsigned offset, uint8_t value)
{
	uint8_t ev = value & PVPANIC_EVENTS;
	if (offset == 0 && ev && p->ops && p->ops->on_event)
		p->ops->on_event(p->ctx, ev);
}

/* --- port I/O bus handlers --- */

BUS_SIZED_REGS_HANDLER(debugexit_pio, struct debugexit, uint32_t, debugexit_read, debugexit_write)

BUS_BYTE_REGS_HANDLER(rstctl_pio, struct rstctl, rstctl_read, rstctl_write)

BUS_BYTE_REGS_HANDLER(port92_pio, struct port92, port92_read, port92_write)

/* The i8042 answers at 0x60 and 0x64 only (0x61 is the PIT's): a range
 * and a handler each, for the register REG. */
#define I8042_PORT(NAME, REG)                                                   \
	static uint8_t NAME##_rd(struct i8042 *k, unsigned off)                 \
	{                                                                       \
		(void)off;                                                      \
		return i8042_read(k, REG);                                      \
	}                                                                       \
	static void NAME##_wr(struct i8042 *k, unsigned off, uint8_t value)     \
	{                                                                       \
		(void)off;                                                      \
		i8042_write(k, REG, value);                                     \
	}                                                                       \
	BUS_BYTE_REGS_HANDLER(NAME, struct i8042, NAME##_rd, NAME##_wr)
I8042_PORT(i8042_pio_data, I8042_OFF_DATA)
I8042_PORT(i8042_pio_cmd, I8042_OFF_CMD)

BUS_BYTE_REGS_HANDLER(port80_pio, struct port80, port80_read, port80_write)

BUS_BYTE_REGS_HANDLER(pvpanic_pio, struct pvpanic, pvpanic_read, pvpanic_write)

BUS_SIZED_REGS_HANDLER(pmcnt_pio, struct pmcnt, uint16_t, pmcnt_read, pmcnt_write)

BUS_SIZED_REGS_HANDLER(pmevt_pio, struct pmcnt, uint32_t, pmevt_read, pmevt_write)
