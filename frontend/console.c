/* console.c: COM1 on stdin/stdout; raw terminal; Ctrl-A x quits, as QEMU's -nographic. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "frontend/console.h"

#define CTRL_A 0x01

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* stdout gone: the guest's output is dropped */
		p += w;
		n -= (size_t)w;
	}
}

static void flush_locked(struct console *c)
{
	write_all(c->out, c->nout);
	c->nout = 0;
}

void console_tx(void *ctx, uint8_t byte)
{
	struct console *c = ctx;
	pthread_mutex_lock(&c->lock);
	c->out[c->nout++] = (char)byte;
	if (c->tty_out || byte == '\n' || c->nout == sizeof(c->out))
		flush_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void console_rx_drained(void *ctx)
{
	struct console *c = ctx;
	pthread_mutex_lock(&c->rx_lock);
	c->rx_gen++;
	pthread_cond_broadcast(&c->rx_room);
	pthread_mutex_unlock(&c->rx_lock);
}

static unsigned rx_gen(struct console *c)
{
	pthread_mutex_lock(&c->rx_lock);
	unsigned gen = c->rx_gen;
	pthread_mutex_unlock(&c->rx_lock);
	return gen;
}

/* Hands n bytes to the UART, waiting while its receiver is full. The
 * generation is read before each push, so a drain between the push and the
 * wait is seen (no lost wake-up) although no console lock is held across the
 * UART call: holding one there deadlocked with a vCPU in console_tx(), which
 * runs under the UART's lock. */
static void push_all(struct console *c, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	while (off < n) {
		unsigned gen = rx_gen(c);
		off += uart_rx_push(c->uart, buf + off, n - off);
		if (off < n) {
			pthread_mutex_lock(&c->rx_lock);
			while (c->rx_gen == gen)
				pthread_cond_wait(&c->rx_room, &c->rx_lock);
			pthread_mutex_unlock(&c->rx_lock);
		}
	}
}

static void *reader(void *arg)
{
	struct console *c = arg;
	uint8_t buf[64];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL; /* EOF: the guest just gets no more input */
		size_t w = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (c->raw && c->escape) {
				c->escape = false;
				if (buf[i] == 'x' || buf[i] == 'X') {
					c->quit(c->quit_ctx);
					return NULL;
				}
				if (buf[i] != CTRL_A)
					continue;
			} else if (c->raw && buf[i] == CTRL_A) {
				c->escape = true;
				continue;
			}
			buf[w++] = buf[i];
		}
		push_all(c, buf, w);
	}
}

int console_init(struct console *c, struct uart8250 *uart, void (*quit)(void *), void *quit_ctx)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->rx_lock, NULL);
	pthread_cond_init(&c->rx_room, NULL);
	c->uart = uart;
	c->quit = quit;
	c->quit_ctx = quit_ctx;
	c->tty_out = isatty(STDOUT_FILENO);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved) == 0) {
		struct termios t = c->saved;
		cfmakeraw(&t);
		t.c_oflag |= OPOST; /* keep \n -> \r\n on our own output */
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			c->raw = true;
	}
	/* Input from a terminal, a pipe or a file alike; EOF just ends input. */
	int r = pthread_create(&c->thread, NULL, reader, c);
	if (r)
		return -r;
	c->reader = true;
	return 0;
}

void console_fini(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	flush_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (c->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
	c->raw = false;
	/* The reader may be blocked in read(); the process ends without joining it. */
}
