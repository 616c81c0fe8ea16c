/* uart8250.h: bus-agnostic 16550A UART model (the PC's COM ports), 8 byte-wide registers.
 *
 * Reference: TI/National "PC16550D UART with FIFOs" datasheet (cited as
 * "16550D", section 8 = register descriptions) and QEMU's hw/char/serial.c,
 * whose guest-visible behaviour this follows except where noted.
 *
 * The model sees register offsets 0..7 only; a thin adapter in the frontend
 * maps them to ports (COM1: UART_COM1_BASE, UART_NREGS ports) and splits
 * wider accesses into byte accesses at consecutive offsets (as QEMU does).
 * Effects leave through callbacks given at init:
 *   tx   each byte the guest writes to THR, immediately (transmission is
 *        instantaneous: LSR.THRE and LSR.TEMT are always set again on return);
 *   irq  the level of the UART's interrupt line, called whenever it changes.
 *        As on a PC's COM port the line is gated by MCR.OUT2 (which drives the
 *        IRQ buffer enable) and is inactive in loopback mode (16550D 8.6: the
 *        modem control outputs are forced inactive in loopback);
 *   rx_drained (optional) the receiver became empty, connected and
 *        listened to: the guest's read of RBR emptied the receive FIFO, a FIFO
 *        clear (FCR, a change of FCR.FE) discarded what it held, MCR left
 *        loopback mode, or the guest first looked at the receiver (below). The frontend's console thread may push more
 *        input: a console that waits whenever uart_rx_room() is 0 is woken
 *        at the latest once the guest has taken (or discarded) all it held.
 * Input enters through uart_rx_push() from the frontend's console thread.
 *
 * Behaviour worth knowing:
 * - MCR resets to 0 (16550D), unlike QEMU's OUT2-set reset value: a guest
 *   must set OUT2 to get interrupts, as on real hardware (Linux does).
 * - Modem inputs are "cable connected, peer ready": MSR = DCD|DSR|CTS (0xb0),
 *   as in QEMU. In loopback, MSR[7:4] follow MCR (DTR->DSR, RTS->CTS,
 *   OUT1->RI, OUT2->DCD) and changes set the MSR delta bits.
 * - Receive: in FIFO mode 16 bytes, else the single holding register.
 *   uart_rx_push() never overruns: it accepts only what fits (nothing in
 *   loopback mode, where the serial input is disconnected, 16550D 8.6).
 *   Overrun (LSR.OE) happens when bytes looped back in loopback mode do
 *   not fit: the byte is lost in FIFO mode, overwrites RBR otherwise.
 * - Console input waits until the guest looks at the receiver: after power-on
 *   and uart_reset(), uart_rx_room() is 0 until the guest first reads RBR or
 *   LSR or sets IER.ERBFI. A guest sets its UART up before it listens, and
 *   that set-up discards received data (enabling the FIFO clears it, 16550D
 *   8.5; Linux also reads RBR once): input piped into hyve before that,
 *   which a real line would have sent later, would otherwise lose its
 *   first byte. QEMU has no such wait (its pipes do lose that byte).
 * - There is no character clock: the FIFO "character timeout" (IIR 0x0c)
 *   is reported as soon as the FIFO holds data below its trigger level, and
 *   "data available" (IIR 0x04) at or above it.
 * - Break: uart_rx_break() (the console's "send break", e.g. for SysRq) or
 *   setting LCR.SB in loopback mode receives a break: a 0 byte flagged as
 *   break; LSR.BI is revealed when that byte reaches the top of the FIFO
 *   (16550D 8.4) and LSR[7] is set while a flagged byte is in the FIFO.
 *
 * Threading: every entry point takes the UART's own mutex; callbacks run
 * with it held (so irq levels are reported in order) and must not call back
 * into this UART. vCPU threads call uart_read/uart_write, the console thread
 * uart_rx_push/uart_rx_room/uart_rx_break.
 *
 * Field legend: (i) set by uart_init, constant after; (l) guarded by lock.
 */
#ifndef DEVICES_UART8250_H
#define DEVICES_UART8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_COM1_BASE 0x3f8 /* PC port of COM1 (ISA IRQ 4) */
#define UART_COM2_BASE 0x2f8 /* COM2 (ISA IRQ 3) */
#define UART_NREGS 8         /* ports / register offsets per UART */
#define UART_FIFO_SIZE 16

/* Register offsets (16550D table 2). DLAB = LCR bit 7. */
#define UART_RBR 0 /* read, DLAB=0: receiver buffer */
#define UART_THR 0 /* write, DLAB=0: transmitter holding */
#define UART_DLL 0 /* DLAB=1: divisor latch LSB */
#define UART_IER 1 /* DLAB=0: interrupt enable */
#define UART_DLM 1 /* DLAB=1: divisor latch MSB */
#define UART_IIR 2 /* read: interrupt identification */
#define UART_FCR 2 /* write: FIFO control */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */
#define UART_MSR 6 /* modem status */
#define UART_SCR 7 /* scratch */

/* IER bits */
#define UART_IER_ERBFI 0x01 /* received data available (and timeout) */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */
#define UART_IER_MASK 0x0f

/* IIR values (bits 3:0) and FIFO bits */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID_MASK 0x0e
#define UART_IIR_MSI 0x00  /* modem status; cleared by reading MSR */
#define UART_IIR_THRI 0x02 /* THR empty; cleared by reading IIR or writing THR */
#define UART_IIR_RDI 0x04  /* data available; cleared when below trigger */
#define UART_IIR_RLSI 0x06 /* line status; cleared by reading LSR */
#define UART_IIR_CTI 0x0c  /* character timeout; cleared by reading RBR */
#define UART_IIR_FIFO_ENABLED 0xc0

/* FCR bits */
#define UART_FCR_FE 0x01       /* FIFO enable; changing it clears both FIFOs */
#define UART_FCR_RFR 0x02      /* clear receive FIFO (self-clearing) */
#define UART_FCR_XFR 0x04      /* clear transmit FIFO (self-clearing) */
#define UART_FCR_DMS 0x08      /* DMA mode select (no effect) */
#define UART_FCR_TRIG_MASK 0xc0 /* receive trigger: 1, 4, 8, 14 bytes */

/* LCR bits */
#define UART_LCR_WLS_MASK 0x03
#define UART_LCR_STB 0x04
#define UART_LCR_PEN 0x08
#define UART_LCR_EPS 0x10
#define UART_LCR_SPAR 0x20
#define UART_LCR_SB 0x40   /* set break */
#define UART_LCR_DLAB 0x80 /* divisor latch access */

/* MCR bits */
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* PC: enables the IRQ line */
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

/* LSR bits */
#define UART_LSR_DR 0x01   /* data ready */
#define UART_LSR_OE 0x02   /* overrun error */
#define UART_LSR_PE 0x04   /* parity error (never produced) */
#define UART_LSR_FE 0x08   /* framing error (never produced) */
#define UART_LSR_BI 0x10   /* break interrupt */
#define UART_LSR_THRE 0x20 /* THR empty */
#define UART_LSR_TEMT 0x40 /* transmitter empty */
#define UART_LSR_RXFE 0x80 /* error in receive FIFO */
#define UART_LSR_INT_ANY (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

/* MSR bits */
#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04 /* trailing edge of RI */
#define UART_MSR_DDCD 0x08
#define UART_MSR_DELTA_MASK 0x0f
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

struct uart8250_ops {
	void (*tx)(void *ctx, uint8_t byte);  /* may be NULL: output discarded */
	void (*irq)(void *ctx, bool level);   /* may be NULL: no interrupt wired */
	void (*rx_drained)(void *ctx);        /* may be NULL */
};

struct uart8250 {
	pthread_mutex_t lock;                 /* (i) */
	const struct uart8250_ops *ops;       /* (i) */
	void *ctx;                            /* (i) passed to every callback */

	uint8_t ier, lcr, mcr, lsr, msr, scr; /* (l) registers; lsr without DR/RXFE */
	uint8_t fcr;                          /* (l) FE, DMS, trigger bits */
	uint8_t dll, dlm;                     /* (l) divisor latch */
	uint8_t rbr_last;                     /* (l) last byte read, returned when empty */
	bool thre_pending;                    /* (l) THR-empty interrupt pending */
	bool irq_level;                       /* (l) last level given to ops->irq */
	bool rx_listening;                    /* (l) the guest read RBR/LSR or set ERBFI */

	uint8_t rx[UART_FIFO_SIZE];           /* (l) receive ring */
	uint16_t rx_brk;                      /* (l) bit i: rx[i] was received as a break */
	unsigned rx_head;                     /* (l) index of the oldest byte */
	unsigned rx_count;                    /* (l) bytes held, <= capacity */
};

/* Initialises u in its reset state with callbacks ops (not copied, must
 * outlive u) and ctx. Calls no callback. 0, or -errno (mutex creation). */
int uart_init(struct uart8250 *u, const struct uart8250_ops *ops, void *ctx);

/* Destroys the lock. No call may be in progress or start afterwards. */
void uart_destroy(struct uart8250 *u);

/* Back to the power-on state (16550D table 4; MCR = 0, FIFOs off and
 * empty). Lowers the irq line if it was raised. */
void uart_reset(struct uart8250 *u);

/* Guest read of register offset (0..7; the adapter passes port - base).
 * May have side effects (RBR pops, IIR clears THRI, LSR and MSR clear their
 * status bits). An offset >= UART_NREGS reads 0xff and changes nothing. */
uint8_t uart_read(struct uart8250 *u, unsigned offset);

/* Guest write of value to register offset (0..7). An offset >= UART_NREGS
 * is ignored. Writing THR calls ops->tx (or loops back in loopback mode). */
void uart_write(struct uart8250 *u, unsigned offset, uint8_t value);

/* Console input: appends up to n bytes of buf to the receive FIFO and
 * returns how many were accepted (0 in loopback mode, when full, or before
 * the guest listens: see above). */
size_t uart_rx_push(struct uart8250 *u, const uint8_t *buf, size_t n);

/* Bytes uart_rx_push() would accept now. */
size_t uart_rx_room(struct uart8250 *u);

/* Console break: receives a break (see above). -ENOSPC if the receiver has
 * no room or the guest does not listen yet (nothing happens), -EBUSY in
 * loopback mode, else 0. */
int uart_rx_break(struct uart8250 *u);


/* --- port I/O bus handlers (devices/bus.h bus_handler_fn: offset from the
 * range's base, size 1-4; a read stores into *val; always 0) --- */
/* UART_COM1_BASE: eight byte registers; a wider access is split into bytes. */
int uart_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val);

#endif
