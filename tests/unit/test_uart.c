/* test_uart.c: 16550A register semantics, FIFO, loopback, interrupts and callbacks. */
#include <errno.h>
#include <string.h>

#include "devices/uart8250.h"
#include "tests/unit/tap.h"

struct rec {
	uint8_t tx[64];
	unsigned ntx;
	bool level;
	unsigned irq_calls, rises;
	unsigned drained;
};

static void rec_tx(void *ctx, uint8_t byte)
{
	struct rec *r = ctx;
	if (r->ntx < sizeof(r->tx))
		r->tx[r->ntx] = byte;
	r->ntx++;
}

static void rec_irq(void *ctx, bool level)
{
	struct rec *r = ctx;
	r->irq_calls++;
	if (level && !r->level)
		r->rises++;
	r->level = level;
}

static void rec_drained(void *ctx)
{
	((struct rec *)ctx)->drained++;
}

static const struct uart8250_ops ops = {.tx = rec_tx, .irq = rec_irq, .rx_drained = rec_drained};

static void fresh(struct uart8250 *u, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	uart_init(u, &ops, r);
}

int main(void)
{
	struct uart8250 u, u2;
	struct rec r, r2;
	uint8_t buf[32];

	/* ---- reset state ---- */
	fresh(&u, &r);
	CHECK_EQ(uart_read(&u, UART_IER), 0x00, "IER after reset");
	CHECK_EQ(uart_read(&u, UART_IIR), 0x01, "IIR after reset: no interrupt, FIFOs off");
	CHECK_EQ(uart_read(&u, UART_LCR), 0x00, "LCR after reset");
	CHECK_EQ(uart_read(&u, UART_MCR), 0x00, "MCR after reset");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "LSR after reset: THRE|TEMT");
	CHECK_EQ(uart_read(&u, UART_MSR), 0xb0, "MSR after reset: DCD|DSR|CTS, no deltas");
	CHECK_EQ(uart_read(&u, UART_SCR), 0x00, "SCR after reset");
	uint64_t v = 0x5a;
	CHECK_EQ(uart_pio(&u, UART_SCR, 1, true, &v), 0, "uart_pio write");
	CHECK_EQ(uart_read(&u, UART_SCR), 0x5a, "uart_pio writes SCR");
	v = 0;
	uart_pio(&u, UART_LSR, 2, false, &v);
	CHECK_EQ(v, 0xb060, "uart_pio word read, split into bytes: LSR, then MSR in the high byte");
	v = 0;
	uart_pio(&u, UART_SCR, 1, false, &v);
	CHECK_EQ(v, 0x5a, "uart_pio reads SCR");
	v = 0;
	uart_write(&u, UART_SCR, 0);
	CHECK_EQ(r.irq_calls, 0, "no irq callback at init or on reads");
	CHECK_EQ(r.drained, 1, "the first LSR read: the guest listens (rx_drained)");
	CHECK_EQ(uart_read(&u, 8), 0xff, "offset 8 reads 0xff");
	uart_write(&u, 9, 0x12);
	CHECK_EQ(r.ntx, 0, "offset 9 write ignored");

	/* ---- scratch, DLAB ---- */
	uart_write(&u, UART_SCR, 0x5a);
	CHECK_EQ(uart_read(&u, UART_SCR), 0x5a, "scratch holds a byte");
	uart_write(&u, UART_LCR, UART_LCR_DLAB | 0x03);
	CHECK_EQ(uart_read(&u, UART_DLL), 0x0c, "DLL reset value (9600 baud)");
	CHECK_EQ(uart_read(&u, UART_DLM), 0x00, "DLM reset value");
	uart_write(&u, UART_DLL, 0x01);
	uart_write(&u, UART_DLM, 0x02);
	CHECK_EQ(uart_read(&u, UART_DLL), 0x01, "DLL written");
	CHECK_EQ(uart_read(&u, UART_DLM), 0x02, "DLM written");
	CHECK_EQ(r.ntx, 0, "DLL write does not transmit");
	uart_write(&u, UART_LCR, 0x03);
	CHECK_EQ(uart_read(&u, UART_IER), 0x00, "DLM write did not touch IER");
	CHECK_EQ(uart_read(&u, UART_LCR), 0x03, "LCR reads back");
	uart_write(&u, UART_IER, 0xff);
	CHECK_EQ(uart_read(&u, UART_IER), 0x0f, "IER keeps its low 4 bits");
	uart_write(&u, UART_IER, 0);
	uart_write(&u, UART_LCR, UART_LCR_DLAB);
	CHECK_EQ(uart_read(&u, UART_DLM), 0x02, "divisor kept while IER written");
	uart_write(&u, UART_LCR, 0);
	uart_write(&u, UART_MCR, 0xff);
	CHECK_EQ(uart_read(&u, UART_MCR), 0x1f, "MCR keeps its low 5 bits");
	uart_write(&u, UART_MCR, 0);
	CHECK_EQ(r.drained, 2, "leaving loopback reports the receiver connected (rx_drained)");
	uart_write(&u, UART_LSR, 0x00);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "LSR writes ignored");

	/* ---- transmit ---- */
	uart_write(&u, UART_THR, 'h');
	uart_write(&u, UART_THR, 'i');
	CHECK(r.ntx == 2 && r.tx[0] == 'h' && r.tx[1] == 'i', "THR bytes reach the tx callback in order");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "THRE and TEMT stay set after transmit");

	/* ---- receive, non-FIFO (16450) mode ---- */
	CHECK_EQ(uart_rx_room(&u), 1, "one byte of room without FIFO");
	CHECK_EQ(uart_rx_push(&u, (const uint8_t *)"xyz", 3), 1, "push accepts one byte without FIFO");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x61, "DR set");
	CHECK_EQ(uart_rx_room(&u), 0, "no room while RBR full");
	CHECK_EQ(uart_read(&u, UART_RBR), 'x', "RBR holds the byte");
	CHECK_EQ(r.drained, 3, "rx_drained on emptying");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "DR clear after read");
	CHECK_EQ(uart_read(&u, UART_RBR), 'x', "empty RBR reads the last byte again");
	CHECK_EQ(r.drained, 3, "no rx_drained when already empty");

	/* ---- FIFO mode ---- */
	uart_write(&u, UART_FCR, UART_FCR_FE | UART_FCR_RFR | UART_FCR_XFR);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc1, "IIR FIFO bits when FIFOs enabled");
	CHECK_EQ(uart_rx_room(&u), 16, "16 bytes of room in FIFO mode");
	for (unsigned i = 0; i < 20; i++)
		buf[i] = (uint8_t)('A' + i);
	CHECK_EQ(uart_rx_push(&u, buf, 20), 16, "push accepts 16 of 20");
	CHECK_EQ(uart_rx_push(&u, buf, 1), 0, "full FIFO accepts nothing");
	CHECK_EQ(uart_read(&u, UART_LSR) & UART_LSR_OE, 0, "push never overruns");
	unsigned inorder = 1;
	for (unsigned i = 0; i < 16; i++)
		if (uart_read(&u, UART_RBR) != 'A' + i)
			inorder = 0;
	CHECK(inorder, "FIFO returns bytes in order");
	CHECK_EQ(uart_read(&u, UART_LSR) & UART_LSR_DR, 0, "FIFO empty");
	CHECK_EQ(r.drained, 4, "rx_drained once per emptying");
	/* Wrap-around of the ring. */
	uart_rx_push(&u, buf, 10);
	for (unsigned i = 0; i < 5; i++)
		uart_read(&u, UART_RBR);
	uart_rx_push(&u, buf + 10, 10);
	inorder = 1;
	for (unsigned i = 5; i < 20; i++)
		if (uart_read(&u, UART_RBR) != 'A' + i)
			inorder = 0;
	CHECK(inorder, "FIFO order across ring wrap");
	/* RFR and FE changes clear the receive FIFO. */
	uart_rx_push(&u, buf, 3);
	uart_write(&u, UART_FCR, UART_FCR_FE | UART_FCR_RFR);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "FCR.RFR clears the receive FIFO");
	uart_rx_push(&u, buf, 3);
	uart_write(&u, UART_FCR, 0);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "clearing FCR.FE clears the FIFO");
	CHECK_EQ(uart_read(&u, UART_IIR), 0x01, "FIFO bits gone from IIR");
	CHECK_EQ(uart_rx_room(&u), 1, "back to one byte of room");
	uart_destroy(&u);

	/* ---- loopback ---- */
	fresh(&u, &r);
	uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT2);
	CHECK_EQ(uart_read(&u, UART_MSR) & 0xf0, 0x90, "loopback RTS|OUT2 -> CTS|DCD (Linux probe)");
	uart_write(&u, UART_MCR, UART_MCR_LOOP | 0x0f);
	CHECK_EQ(uart_read(&u, UART_MSR), 0xf0 | UART_MSR_DDSR, "all outputs -> all inputs, DSR delta");
	CHECK_EQ(uart_read(&u, UART_MSR), 0xf0, "reading MSR clears delta bits");
	uart_write(&u, UART_MCR, UART_MCR_LOOP | 0x0b); /* OUT1 off: RI falls */
	CHECK_EQ(uart_read(&u, UART_MSR), 0xb0 | UART_MSR_TERI, "RI falling edge sets TERI");
	uart_write(&u, UART_MCR, UART_MCR_LOOP | 0x0f); /* RI rises */
	CHECK_EQ(uart_read(&u, UART_MSR), 0xf0, "RI rising edge sets no delta");
	uart_write(&u, UART_MCR, UART_MCR_LOOP);
	CHECK_EQ(uart_read(&u, UART_MSR), 0x00 | UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD | UART_MSR_TERI,
		 "all inputs drop: all deltas");
	CHECK_EQ(uart_rx_room(&u), 0, "no console input in loopback");
	CHECK_EQ(uart_rx_push(&u, buf, 4), 0, "push refused in loopback");
	CHECK_EQ(uart_rx_break(&u), -EBUSY, "console break refused in loopback");
	uart_write(&u, UART_THR, 0x42);
	CHECK_EQ(r.ntx, 0, "loopback byte does not leave");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x61, "loopback byte received");
	CHECK_EQ(uart_read(&u, UART_RBR), 0x42, "loopback byte value");
	/* Overrun, 16450 mode: the new byte overwrites RBR. */
	uart_write(&u, UART_THR, 1);
	uart_write(&u, UART_THR, 2);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x63, "overrun without FIFO sets OE");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x61, "reading LSR clears OE");
	CHECK_EQ(uart_read(&u, UART_RBR), 2, "without FIFO the newest byte wins");
	/* Overrun, FIFO mode: the 17th byte is lost. */
	uart_write(&u, UART_FCR, UART_FCR_FE);
	for (unsigned i = 0; i < 17; i++)
		uart_write(&u, UART_THR, (uint8_t)(0x10 + i));
	CHECK_EQ(uart_read(&u, UART_LSR), 0x63, "17th byte overruns the FIFO");
	inorder = 1;
	for (unsigned i = 0; i < 16; i++)
		if (uart_read(&u, UART_RBR) != 0x10 + i)
			inorder = 0;
	CHECK(inorder, "FIFO kept the first 16 bytes");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "FIFO empty, OE cleared");
	/* Break in loopback via LCR.SB. */
	uart_write(&u, UART_LCR, UART_LCR_SB);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60 | UART_LSR_RXFE | UART_LSR_BI | UART_LSR_DR,
		 "LCR.SB in loopback receives a break");
	CHECK_EQ(uart_read(&u, UART_RBR), 0, "break byte is 0");
	uart_write(&u, UART_LCR, UART_LCR_SB);
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "holding SB set does not repeat the break");
	CHECK_EQ(r.irq_calls, 0, "loopback never drives the irq line");
	uart_destroy(&u);

	/* ---- interrupts ---- */
	fresh(&u, &r);
	uart_write(&u, UART_IER, UART_IER_ETBEI);
	CHECK_EQ(uart_read(&u, UART_IIR), UART_IIR_THRI, "ETBEI with THR empty: THRI");
	CHECK_EQ(r.irq_calls, 0, "no line without OUT2");
	uart_write(&u, UART_IER, 0);
	uart_write(&u, UART_MCR, UART_MCR_OUT2);
	CHECK(!r.level, "line low with nothing pending");
	uart_write(&u, UART_IER, UART_IER_ETBEI);
	CHECK(r.level, "THRI raises the line once OUT2 is set");
	CHECK_EQ(uart_read(&u, UART_IIR), UART_IIR_THRI, "IIR reports THRI");
	CHECK(!r.level, "reading IIR cleared THRI and the line");
	CHECK_EQ(uart_read(&u, UART_IIR), UART_IIR_NO_INT, "THRI gone");
	unsigned rises = r.rises;
	uart_write(&u, UART_THR, 'a');
	CHECK(r.level && r.rises == rises + 1, "writing THR re-raises THRI (byte sent at once)");
	uart_write(&u, UART_THR, 'b');
	CHECK(r.level && r.rises == rises + 2, "each THR write gives a new rising edge");
	uart_write(&u, UART_IER, 0);
	CHECK(!r.level, "disabling ETBEI lowers the line");
	uart_write(&u, UART_IER, UART_IER_ETBEI);
	CHECK(r.level, "re-enabling ETBEI re-raises it (Linux UART_BUG_THRE probe)");
	uart_write(&u, UART_MCR, 0);
	CHECK(!r.level, "clearing OUT2 gates the line off");
	uart_write(&u, UART_MCR, UART_MCR_OUT2);
	CHECK(r.level, "setting OUT2 lets it through again");
	uart_write(&u, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);
	CHECK(!r.level, "loopback gates the line off");
	uart_write(&u, UART_MCR, UART_MCR_OUT2);
	uart_read(&u, UART_MSR);
	uart_write(&u, UART_IER, 0);
	CHECK(!r.level, "line low again");

	/* Received data, 16450 mode. */
	uart_write(&u, UART_IER, UART_IER_ERBFI);
	uart_rx_push(&u, (const uint8_t *)"k", 1);
	CHECK(r.level, "received byte raises the line");
	CHECK_EQ(uart_read(&u, UART_IIR), UART_IIR_RDI, "IIR: data available");
	uart_read(&u, UART_RBR);
	CHECK(!r.level, "reading RBR clears it");
	CHECK_EQ(uart_read(&u, UART_IIR), UART_IIR_NO_INT, "no interrupt after read");

	/* FIFO trigger level 4: timeout below, data available at or above. */
	uart_write(&u, UART_FCR, UART_FCR_FE | 0x40);
	uart_rx_push(&u, buf, 2);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_CTI, "below trigger: character timeout");
	CHECK(r.level, "timeout raises the line");
	uart_rx_push(&u, buf, 2);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_RDI, "at trigger: data available");
	for (unsigned i = 0; i < 4; i++)
		uart_read(&u, UART_RBR);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc1, "drained FIFO: no interrupt");
	CHECK(!r.level, "line low");
	uart_write(&u, UART_FCR, UART_FCR_FE | 0xc0);
	uart_rx_push(&u, buf, 14);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_RDI, "trigger level 14 reached");
	uart_write(&u, UART_FCR, UART_FCR_FE | 0xc0 | UART_FCR_RFR);
	CHECK(!r.level, "clearing the FIFO lowers the line");

	/* Line status: break from the console. */
	uart_write(&u, UART_IER, UART_IER_ELSI | UART_IER_ERBFI);
	uart_rx_push(&u, (const uint8_t *)"a", 1);
	CHECK_EQ(uart_rx_break(&u), 0, "console break accepted");
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_CTI, "BI not revealed while 'a' is on top");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60 | UART_LSR_RXFE | UART_LSR_DR, "RXFE: error byte in FIFO");
	CHECK_EQ(uart_read(&u, UART_RBR), 'a', "first byte");
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_RLSI, "break on top: line status interrupt");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60 | UART_LSR_RXFE | UART_LSR_BI | UART_LSR_DR, "LSR.BI revealed");
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_CTI, "reading LSR cleared RLSI");
	CHECK_EQ(uart_read(&u, UART_RBR), 0, "break byte");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "all clear");
	CHECK(!r.level, "line low");

	/* Priority: line status > data > THR empty > modem status. */
	uart_write(&u, UART_IER, 0x0f);
	uart_write(&u, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP); /* inputs change: MSR deltas */
	uart_write(&u, UART_FCR, UART_FCR_FE | UART_FCR_RFR);   /* trigger 1 */
	for (unsigned i = 0; i < 17; i++)
		uart_write(&u, UART_THR, (uint8_t)i); /* overrun */
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_RLSI, "priority 1: line status");
	uart_read(&u, UART_LSR);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_RDI, "priority 2: data available");
	for (unsigned i = 0; i < 16; i++)
		uart_read(&u, UART_RBR);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_THRI, "priority 3: THR empty");
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_MSI, "priority 4: modem status");
	uart_read(&u, UART_MSR);
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc1, "nothing left");
	CHECK(!r.level, "loopback kept the line low throughout");

	/* Modem status interrupt outside loopback: leaving loopback changes inputs. */
	uart_write(&u, UART_IER, UART_IER_EDSSI);
	uart_write(&u, UART_MCR, UART_MCR_OUT2);
	CHECK(r.level, "MSR delta raises the line");
	CHECK_EQ(uart_read(&u, UART_IIR), 0xc0 | UART_IIR_MSI, "IIR: modem status");
	CHECK_EQ(uart_read(&u, UART_MSR), 0xb0 | UART_MSR_DCTS | UART_MSR_DDSR, "CTS and DSR came back");
	CHECK(!r.level, "reading MSR clears it");

	/* Reset lowers a raised line. */
	uart_write(&u, UART_IER, UART_IER_ETBEI);
	CHECK(r.level, "raised before reset");
	uart_reset(&u);
	CHECK(!r.level, "uart_reset lowers the line");
	CHECK_EQ(uart_read(&u, UART_LSR), 0x60, "LSR after uart_reset");
	CHECK_EQ(uart_read(&u, UART_IIR), 0x01, "IIR after uart_reset");

	/* rx_drained whenever room comes back by other means than RBR reads:
	 * the console thread waits for it once uart_rx_room() is 0 (a missing
	 * call left hyve's console deaf after a guest's FIFO reset). */
	fresh(&u2, &r2);
	CHECK_EQ(uart_rx_room(&u2), 0, "no room before the guest listens");
	CHECK_EQ(uart_rx_push(&u2, buf, 4), 0, "input held back before the guest listens");
	CHECK_EQ(uart_rx_break(&u2), -ENOSPC, "break held back before the guest listens");
	uart_write(&u2, UART_IER, UART_IER_ETBEI);
	uart_write(&u2, UART_FCR, UART_FCR_FE | UART_FCR_RFR | UART_FCR_XFR);
	uart_write(&u2, UART_MCR, UART_MCR_OUT2);
	CHECK_EQ(uart_rx_room(&u2), 0, "set-up writes do not open the receiver");
	CHECK_EQ(r2.drained, 0, "no rx_drained during set-up");
	uart_write(&u2, UART_IER, UART_IER_ERBFI);
	CHECK_EQ(uart_rx_room(&u2), 16, "IER.ERBFI: the guest listens");
	CHECK_EQ(r2.drained, 1, "rx_drained when the guest starts listening");
	uart_write(&u2, UART_IER, 0);
	uart_write(&u2, UART_FCR, 0);
	uart_reset(&u2);
	CHECK_EQ(uart_rx_room(&u2), 0, "reset: not listening again");
	(void)uart_read(&u2, UART_LSR);
	CHECK_EQ(uart_rx_room(&u2), 1, "an LSR read: the guest listens");
	CHECK_EQ(r2.drained, 2, "rx_drained on the first LSR read");
	uart_reset(&u2);
	(void)uart_read(&u2, UART_RBR);
	CHECK_EQ(uart_rx_room(&u2), 1, "an RBR read: the guest listens");
	CHECK_EQ(r2.drained, 3, "rx_drained on the first RBR read");
	uart_write(&u2, UART_LCR, UART_LCR_DLAB);
	uart_reset(&u2);
	uart_write(&u2, UART_LCR, UART_LCR_DLAB);
	(void)uart_read(&u2, UART_DLL);
	(void)uart_read(&u2, UART_IIR);
	CHECK_EQ(uart_rx_room(&u2), 0, "DLL and IIR reads do not count as listening");
	uart_write(&u2, UART_LCR, 0);
	(void)uart_read(&u2, UART_LSR);
	r2.drained = 0;
	CHECK_EQ(uart_rx_push(&u2, buf, 4), 1, "no FIFO: one byte");
	uart_write(&u2, UART_FCR, UART_FCR_FE | UART_FCR_RFR | UART_FCR_XFR);
	CHECK_EQ(uart_rx_room(&u2), 16, "enabling the FIFO discards the byte (16550D 8.5)");
	CHECK_EQ(r2.drained, 1, "rx_drained when enabling the FIFO discards input");
	uart_rx_push(&u2, buf, 16);
	uart_write(&u2, UART_FCR, UART_FCR_FE | UART_FCR_RFR);
	CHECK_EQ(r2.drained, 2, "rx_drained when FCR clears a full receive FIFO");
	uart_write(&u2, UART_FCR, UART_FCR_FE | UART_FCR_RFR);
	CHECK_EQ(r2.drained, 2, "no rx_drained when clearing an empty FIFO");
	uart_rx_push(&u2, buf, 3);
	uart_write(&u2, UART_FCR, 0);
	CHECK_EQ(r2.drained, 3, "rx_drained when disabling the FIFO discards input");
	uart_write(&u2, UART_MCR, UART_MCR_LOOP);
	CHECK_EQ(r2.drained, 3, "no rx_drained entering loopback");
	uart_write(&u2, UART_MCR, 0);
	CHECK_EQ(r2.drained, 4, "rx_drained leaving loopback (serial input reconnected)");
	uart_write(&u2, UART_MCR, UART_MCR_LOOP);
	uart_write(&u2, UART_THR, 'L'); /* looped back: the receiver holds it */
	uart_write(&u2, UART_MCR, 0);
	CHECK_EQ(r2.drained, 4, "no rx_drained leaving loopback with a looped-back byte held");
	CHECK_EQ(uart_read(&u2, UART_RBR), 'L', "looped-back byte");
	CHECK_EQ(r2.drained, 5, "rx_drained once that byte is read");
	uart_destroy(&u2);

	/* Two instances in one process do not share state. */
	fresh(&u2, &r2);
	uart_write(&u, UART_SCR, 1);
	uart_write(&u2, UART_SCR, 2);
	uart_write(&u2, UART_THR, 'z');
	CHECK(uart_read(&u, UART_SCR) == 1 && uart_read(&u2, UART_SCR) == 2, "instances independent");
	CHECK(r2.ntx == 1 && r2.tx[0] == 'z', "second instance has its own callbacks");

	/* No callbacks at all is fine. */
	struct uart8250 bare;
	uart_init(&bare, NULL, NULL);
	uart_write(&bare, UART_MCR, UART_MCR_OUT2);
	uart_write(&bare, UART_IER, 0x0f);
	uart_write(&bare, UART_THR, 'q');
	CHECK_EQ(uart_rx_push(&bare, buf, 1), 1, "UART without callbacks works");
	uart_read(&bare, UART_RBR);
	uart_destroy(&bare);

	/* Whatever a guest writes, in any order, the model stays consistent. */
	unsigned seed = 12345, broken = 0, deaf = 0;
	bool waiting = false; /* a console thread would wait for rx_drained */
	uart_reset(&u);
	for (unsigned i = 0; i < 200000; i++) {
		unsigned drained0 = r.drained;
		seed = seed * 1103515245u + 12345u;
		unsigned op = (seed >> 16) % 10, off = (seed >> 8) % (UART_NREGS + 1);
		uint8_t val = (uint8_t)(seed >> 24);
		if (op < 5)
			uart_write(&u, off, val);
		else if (op < 9)
			(void)uart_read(&u, off);
		else
			(void)uart_rx_push(&u, buf, val % 20);
		if (uart_rx_room(&u) > UART_FIFO_SIZE || u.rx_count > UART_FIFO_SIZE ||
		    (u.lsr & (UART_LSR_THRE | UART_LSR_TEMT)) != (UART_LSR_THRE | UART_LSR_TEMT))
			broken++;
		if (r.drained != drained0)
			waiting = false;
		if (waiting && u.rx_count == 0 && !(u.mcr & UART_MCR_LOOP))
			deaf++; /* empty and connected, but the waiter was never told */
		if (uart_rx_room(&u) == 0)
			waiting = true;
	}
	CHECK_EQ(broken, 0, "random register traffic keeps the invariants");
	CHECK_EQ(deaf, 0, "random register traffic: a console waiting for room is always woken");

	uart_destroy(&u);
	uart_destroy(&u2);
	return tap_done();
}
