/* uart8250.c: 16550A UART register model (devices/uart8250.h). */
#include <errno.h>
#include <string.h>

#include "devices/uart8250.h"

static const struct uart8250_ops no_ops;

/* Receive FIFO capacity: 16 bytes in FIFO mode, else the one RBR (16550D 8.4). */
static unsigned rx_cap(const struct uart8250 *u)
{
	return (u->fcr & UART_FCR_FE) ? UART_FIFO_SIZE : 1;
}

/* Receive trigger level from FCR[7:6] (16550D table 8: 1, 4, 8, 14 bytes). */
static unsigned rx_trigger(const struct uart8250 *u)
{
	static const unsigned level[4] = {1, 4, 8, 14};
	return level[(u->fcr & UART_FCR_TRIG_MASK) >> 6];
}

static void rx_clear(struct uart8250 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->rx_brk = 0;
}

/* Error bits of a byte are revealed when it reaches the top of the FIFO (16550D 8.4). */
static void rx_reveal_top(struct uart8250 *u)
{
	if (u->rx_count && (u->rx_brk >> u->rx_head) & 1)
		u->lsr |= UART_LSR_BI;
}

/* A byte finished arriving in the receiver shift register. */
static void rx_put(struct uart8250 *u, uint8_t byte, bool brk)
{
	unsigned idx;

	if (u->rx_count >= rx_cap(u)) {
		u->lsr |= UART_LSR_OE;
		if (u->fcr & UART_FCR_FE)
			return; /* FIFO mode: the shift register is overwritten, FIFO kept */
		idx = u->rx_head; /* 16450 mode: the new byte overwrites RBR */
	} else {
		idx = (u->rx_head + u->rx_count) % UART_FIFO_SIZE;
		u->rx_count++;
	}
	u->rx[idx] = byte;
	if (brk)
		u->rx_brk |= (uint16_t)(1u << idx);
	else
		u->rx_brk &= (uint16_t)~(1u << idx);
	if (idx == u->rx_head)
		rx_reveal_top(u);
}

static uint8_t rx_pop(struct uart8250 *u)
{
	uint8_t byte = u->rx[u->rx_head];
	u->rx_brk &= (uint16_t)~(1u << u->rx_head);
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	rx_reveal_top(u);
	return byte;
}

/* The serial input would take console bytes and the receiver is empty: the
 * state in which ops->rx_drained is reported (see uart8250.h). */
static bool rx_wants_input(const struct uart8250 *u)
{
	return u->rx_listening && u->rx_count == 0 && !(u->mcr & UART_MCR_LOOP);
}

/* Reports a change into rx_wants_input() since `before` (lock held). */
static void rx_notify(struct uart8250 *u, bool before)
{
	if (!before && rx_wants_input(u) && u->ops->rx_drained)
		u->ops->rx_drained(u->ctx);
}

static uint8_t lsr_value(const struct uart8250 *u)
{
	uint8_t v = u->lsr;
	if (u->rx_count)
		v |= UART_LSR_DR;
	if ((u->fcr & UART_FCR_FE) && u->rx_count && u->rx_brk)
		v |= UART_LSR_RXFE;
	return v;
}

/* IIR by priority (16550D table 5): line status, received data / timeout,
 * THR empty, modem status. */
static uint8_t iir_value(const struct uart8250 *u)
{
	uint8_t id = UART_IIR_NO_INT;

	if ((u->ier & UART_IER_ELSI) && (u->lsr & UART_LSR_INT_ANY))
		id = UART_IIR_RLSI;
	else if ((u->ier & UART_IER_ERBFI) && u->rx_count)
		id = (!(u->fcr & UART_FCR_FE) || u->rx_count >= rx_trigger(u)) ? UART_IIR_RDI
										 : UART_IIR_CTI;
	else if ((u->ier & UART_IER_ETBEI) && u->thre_pending)
		id = UART_IIR_THRI;
	else if ((u->ier & UART_IER_EDSSI) && (u->msr & UART_MSR_DELTA_MASK))
		id = UART_IIR_MSI;
	if (u->fcr & UART_FCR_FE)
		id |= UART_IIR_FIFO_ENABLED;
	return id;
}

/* Recomputes the IRQ line (gated by OUT2, inactive in loopback) and reports changes. */
static void update_irq(struct uart8250 *u)
{
	bool level = !(iir_value(u) & UART_IIR_NO_INT) && (u->mcr & UART_MCR_OUT2) &&
		     !(u->mcr & UART_MCR_LOOP);
	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->ops->irq)
			u->ops->irq(u->ctx, level);
	}
}

/* MSR[7:4] as the modem inputs currently are (16550D 8.6 for loopback wiring). */
static uint8_t modem_inputs(const struct uart8250 *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	uint8_t v = 0;
	if (u->mcr & UART_MCR_DTR)
		v |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_RTS)
		v |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_OUT1)
		v |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		v |= UART_MSR_DCD;
	return v;
}

static void set_modem_inputs(struct uart8250 *u, uint8_t in)
{
	uint8_t old = u->msr & 0xf0, chg = old ^ in;
	if (chg & UART_MSR_CTS)
		u->msr |= UART_MSR_DCTS;
	if (chg & UART_MSR_DSR)
		u->msr |= UART_MSR_DDSR;
	if (chg & UART_MSR_DCD)
		u->msr |= UART_MSR_DDCD;
	if ((old & UART_MSR_RI) && !(in & UART_MSR_RI))
		u->msr |= UART_MSR_TERI;
	u->msr = (uint8_t)((u->msr & UART_MSR_DELTA_MASK) | in);
}

static void reset_locked(struct uart8250 *u)
{
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	u->scr = 0;
	u->fcr = 0;
	u->dll = 0x0c; /* 9600 baud from 1.8432 MHz, QEMU's reset divisor */
	u->dlm = 0;
	u->rbr_last = 0;
	u->thre_pending = false;
	u->rx_listening = false;
	rx_clear(u);
}

int uart_init(struct uart8250 *u, const struct uart8250_ops *ops, void *ctx)
{
	memset(u, 0, sizeof(*u));
	int err = pthread_mutex_init(&u->lock, NULL);
	if (err)
		return -err;
	u->ops = ops ? ops : &no_ops;
	u->ctx = ctx;
	u->irq_level = false;
	reset_locked(u);
	return 0;
}

void uart_destroy(struct uart8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

void uart_reset(struct uart8250 *u)
{
	pthread_mutex_lock(&u->lock);
	reset_locked(u); /* the guest no longer listens: nothing to report to the console */
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

/* THR write: the byte leaves at once, so THR empties again at once. As in
 * QEMU the THRE interrupt is withdrawn first and re-raised after, so an
 * edge-triggered interrupt controller sees a new edge per byte. */
static void thr_write(struct uart8250 *u, uint8_t value)
{
	u->thre_pending = false;
	update_irq(u);
	if (u->mcr & UART_MCR_LOOP)
		rx_put(u, value, false);
	else if (u->ops->tx)
		u->ops->tx(u->ctx, value);
	u->thre_pending = true;
}

static void ier_write(struct uart8250 *u, uint8_t value)
{
	uint8_t changed = (u->ier ^ value) & UART_IER_MASK;
	u->ier = value & UART_IER_MASK;
	if (u->ier & UART_IER_ERBFI)
		u->rx_listening = true;
	/* Enabling ETBEI while THR is empty (always, here) raises THRI; disabling drops it. */
	if (changed & UART_IER_ETBEI)
		u->thre_pending = (u->ier & UART_IER_ETBEI) && (u->lsr & UART_LSR_TEMT);
}

static void fcr_write(struct uart8250 *u, uint8_t value)
{
	if ((value ^ u->fcr) & UART_FCR_FE)
		value |= UART_FCR_RFR | UART_FCR_XFR; /* 16550D 8.5: changing FCR0 clears both */
	if (value & UART_FCR_RFR) {
		rx_clear(u);
		u->lsr &= (uint8_t)~UART_LSR_BI;
	}
	if (value & UART_FCR_XFR)
		u->thre_pending = true; /* the (always empty) transmit FIFO is empty */
	/* Other bits are only programmed together with FCR0 = 1 (16550D 8.5). */
	u->fcr = (value & UART_FCR_FE)
			 ? (uint8_t)(value & (UART_FCR_FE | UART_FCR_DMS | UART_FCR_TRIG_MASK))
			 : 0;
}

static void lcr_write(struct uart8250 *u, uint8_t value)
{
	bool brk_on = (value & UART_LCR_SB) && !(u->lcr & UART_LCR_SB);
	u->lcr = value;
	if (brk_on && (u->mcr & UART_MCR_LOOP))
		rx_put(u, 0, true); /* the break loops back to the receiver */
}

uint8_t uart_read(struct uart8250 *u, unsigned offset)
{
	uint8_t v = 0xff;

	if (offset >= UART_NREGS)
		return v;
	pthread_mutex_lock(&u->lock);
	bool wanted = rx_wants_input(u);
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_RBR: /* == UART_DLL */
		if (dlab) {
			v = u->dll;
			break;
		}
		u->rx_listening = true;
		if (u->rx_count) {
			v = u->rbr_last = rx_pop(u);
		} else {
			v = u->rbr_last;
		}
		break;
	case UART_IER: /* == UART_DLM */
		v = dlab ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = iir_value(u);
		if ((v & (UART_IIR_ID_MASK | UART_IIR_NO_INT)) == UART_IIR_THRI)
			u->thre_pending = false;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		u->rx_listening = true;
		v = lsr_value(u);
		u->lsr &= (uint8_t)~UART_LSR_INT_ANY;
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= (uint8_t)~UART_MSR_DELTA_MASK;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	update_irq(u);
	rx_notify(u, wanted);
	pthread_mutex_unlock(&u->lock);
	return v;
}

void uart_write(struct uart8250 *u, unsigned offset, uint8_t value)
{
	if (offset >= UART_NREGS)
		return;
	pthread_mutex_lock(&u->lock);
	bool wanted = rx_wants_input(u);
	bool dlab = u->lcr & UART_LCR_DLAB;
	switch (offset) {
	case UART_THR: /* == UART_DLL */
		if (dlab)
			u->dll = value;
		else
			thr_write(u, value);
		break;
	case UART_IER: /* == UART_DLM */
		if (dlab)
			u->dlm = value;
		else
			ier_write(u, value);
		break;
	case UART_FCR:
		fcr_write(u, value);
		break;
	case UART_LCR:
		lcr_write(u, value);
		break;
	case UART_MCR:
		u->mcr = value & UART_MCR_MASK;
		set_modem_inputs(u, modem_inputs(u));
		break;
	case UART_LSR: /* read-only (factory test only, 16550D 8.4): ignored, as QEMU */
	case UART_MSR: /* read-only: ignored */
		break;
	case UART_SCR:
		u->scr = value;
		break;
	}
	update_irq(u);
	/* FCR clearing a non-empty receive FIFO or MCR leaving loopback makes
	 * room the console may be waiting for. */
	rx_notify(u, wanted);
	pthread_mutex_unlock(&u->lock);
}

static size_t room_locked(const struct uart8250 *u)
{
	if (u->mcr & UART_MCR_LOOP)
		return 0; /* serial input disconnected in loopback (16550D 8.6) */
	if (!u->rx_listening)
		return 0; /* held back until the guest looks at the receiver (uart8250.h) */
	return rx_cap(u) - u->rx_count;
}

size_t uart_rx_push(struct uart8250 *u, const uint8_t *buf, size_t n)
{
	pthread_mutex_lock(&u->lock);
	size_t room = room_locked(u);
	if (n > room)
		n = room;
	for (size_t i = 0; i < n; i++)
		rx_put(u, buf[i], false);
	if (n)
		update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart_rx_room(struct uart8250 *u)
{
	pthread_mutex_lock(&u->lock);
	size_t room = room_locked(u);
	pthread_mutex_unlock(&u->lock);
	return room;
}

int uart_rx_break(struct uart8250 *u)
{
	int ret = 0;
	pthread_mutex_lock(&u->lock);
	if (u->mcr & UART_MCR_LOOP) {
		ret = -EBUSY;
	} else if (room_locked(u) == 0) {
		ret = -ENOSPC;
	} else {
		rx_put(u, 0, true);
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/* --- port I/O bus handlers --- */

int uart_pio(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct uart8250 *d = opaque;
	if (!wr)
		*val = 0;
	for (unsigned i = 0; i < size; i++) { /* one register per byte, as QEMU splits */
		if (wr)
			uart_write(d, (unsigned)off + i, (uint8_t)(*val >> (8 * i)));
		else
			*val |= (uint64_t)uart_read(d, (unsigned)off + i) << (8 * i);
	}
	return 0;
}
