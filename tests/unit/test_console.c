/* test_console.c: the console thread feeding the 16550A from stdin while a
 * "vCPU" thread echoes every byte back through THR: no deadlock, no lost,
 * doubled or reordered byte, and output flushed in order. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/uart8250.h"
#include "frontend/console.h"
#include "tests/unit/tap.h"

#define NBYTES 300000
#define DEADLINE_S 20

struct echo_vcpu {
	struct uart8250 *u;
	size_t got;          /* bytes read from RBR */
	size_t bad;          /* bytes not equal to what was sent */
	volatile int stop;   /* set by main on timeout */
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i % 61) == 60 ? '\n' : 'a' + (i * 7 + i / 61) % 26);
}

/* A guest that polls LSR.DR and echoes: RBR read (uart lock, may call
 * console_rx_drained) then THR write (uart lock, calls console_tx). */
static void *vcpu(void *arg)
{
	struct echo_vcpu *e = arg;
	uart_write(e->u, UART_FCR, UART_FCR_FE | UART_FCR_RFR | UART_FCR_XFR);
	while (e->got < NBYTES && !e->stop) {
		if (!(uart_read(e->u, UART_LSR) & UART_LSR_DR))
			continue;
		uint8_t b = uart_read(e->u, UART_RBR);
		if (b != pattern(e->got))
			e->bad++;
		e->got++;
		uart_write(e->u, UART_THR, b);
	}
	return NULL;
}

static void *writer(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[4096];
	for (size_t off = 0; off < NBYTES;) {
		size_t n = NBYTES - off < sizeof(buf) ? NBYTES - off : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		ssize_t w = write(fd, buf, n);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd); /* EOF ends the console's reader */
	return NULL;
}

struct drain {
	int fd;
	size_t n, bad;
};

static void *drainer(void *arg)
{
	struct drain *d = arg;
	uint8_t buf[4096];
	ssize_t r;
	while ((r = read(d->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++, d->n++)
			if (buf[i] != pattern(d->n))
				d->bad++;
	return NULL;
}

static void on_quit(void *ctx) { (void)ctx; }

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as hyve: a closed pipe is an error return, not death */
	int in[2], out[2];
	int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
	if (pipe(in) || pipe(out) || saved_in < 0 || saved_out < 0)
		return 1;
	dup2(in[0], STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	close(in[0]);
	close(out[1]);

	static struct console con;
	static struct uart8250 u;
	static const struct uart8250_ops ops = {.tx = console_tx, .rx_drained = console_rx_drained};
	uart_init(&u, &ops, &con);
	int ci = console_init(&con, &u, on_quit, NULL);

	struct echo_vcpu e = {.u = &u};
	struct drain d = {.fd = out[0]};
	pthread_t tv, tw, td;
	pthread_create(&td, NULL, drainer, &d);
	pthread_create(&tv, NULL, vcpu, &e);
	pthread_create(&tw, NULL, writer, &in[1]);

	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += DEADLINE_S;
	int jr = pthread_timedjoin_np(tv, NULL, &dl);
	if (jr == 0) {
		pthread_join(tw, NULL);
		console_fini(&con); /* flushes what is buffered */
	}

	/* Back to the real stdout for the TAP lines. */
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_in, STDIN_FILENO);
	if (jr == 0)
		pthread_join(td, NULL); /* ends: every write end of out is closed now */
	CHECK_EQ(ci, 0, "console_init on pipes");
	CHECK(!con.raw, "no raw mode when stdin is not a terminal");
	CHECK_EQ(jr, 0, "a vCPU echoing while the console pushes input does not deadlock (%d s)", DEADLINE_S);
	CHECK_EQ(e.got, NBYTES, "every byte of stdin reached RBR");
	CHECK_EQ(e.bad, 0, "in order, none lost or doubled");
	if (jr == 0) {
		CHECK_EQ(d.n, NBYTES, "every echoed byte reached stdout");
		CHECK_EQ(d.bad, 0, "stdout in order");
	}
	if (jr != 0) {
		fflush(stdout);
		_exit(tap_done()); /* threads are stuck: do not tear anything down */
	}
	uart_destroy(&u);
	return tap_done();
}
