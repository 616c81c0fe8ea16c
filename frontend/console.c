/* console.c: COM1 on stdin/stdout; raw terminal; Ctrl-A x quits, as QEMU's -nographic. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend/console.h"

#define CTRL_A 0x01
#define CONSOLE_IDLE_MS 50

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
	c->out_gen++;
	if (c->tty_out || byte == '\n' || c->nout == sizeof(c->out))
		flush_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void console_rx_drained(void *ctx)
{
	struct console *c = ctx;
	uint64_t one = 1;
	if (write(c->room_fd, &one, sizeof(one)) < 0) {
		/* an eventfd only fails on overflow, after 2^64 - 1 drains */
	}
}

/* Hands pending input to the UART, as much as it takes now. */
static void push_pending(struct console *c)
{
	if (c->pend_off < c->npend)
		c->pend_off += uart_rx_push(c->uart, c->pend + c->pend_off, c->npend - c->pend_off);
	if (c->pend_off == c->npend)
		c->npend = c->pend_off = 0;
}

/* New bytes from stdin. On a terminal, Ctrl-A x quits and Ctrl-A Ctrl-A
 * types one Ctrl-A; keys beyond pend[] are dropped (a guest that reads
 * nothing must not stop the escape). Returns false after Ctrl-A x. */
static bool take_input(struct console *c, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (c->raw && c->escape) {
			c->escape = false;
			if (b == 'x' || b == 'X') {
				c->quit(c->quit_ctx);
				return false;
			}
			if (b != CTRL_A)
				continue;
		} else if (c->raw && b == CTRL_A) {
			c->escape = true;
			continue;
		}
		if (c->npend < sizeof(c->pend))
			c->pend[c->npend++] = b;
		else
			c->dropped++;
	}
	return true;
}

/* The input thread. A terminal is always read (the escape must work at once,
 * whatever the guest does); a pipe or a file only when everything read
 * before was taken (back-pressure: no byte of it is lost). */
static void *reader(void *arg)
{
	struct console *c = arg;
	for (;;) {
		push_pending(c);
		bool want = !c->in_eof && (c->raw || c->npend == 0);
		struct pollfd pf[3] = {{.fd = c->stop_fd, .events = POLLIN},
				       {.fd = c->room_fd, .events = POLLIN},
				       {.fd = want ? STDIN_FILENO : -1, .events = POLLIN}};
		/* Output to a pipe or a file goes out by lines; a partial one (a
		 * prompt) goes out after CONSOLE_IDLE_MS without more output. */
		int r = poll(pf, 3, c->tty_out ? -1 : CONSOLE_IDLE_MS);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (r == 0) {
			pthread_mutex_lock(&c->lock);
			if (c->nout && c->out_gen == c->idle_gen)
				flush_locked(c);
			c->idle_gen = c->out_gen;
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		if (pf[0].revents)
			return NULL;
		if (pf[1].revents & POLLIN) {
			uint64_t n;
			if (read(c->room_fd, &n, sizeof(n)) < 0) {
				/* another wake-up already took the count */
			}
		}
		if (pf[2].revents) {
			uint8_t buf[64];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				c->in_eof = true; /* EOF: the guest just gets no more input */
			else if (!take_input(c, buf, (size_t)n))
				return NULL;
		}
	}
}

int console_init(struct console *c, struct uart8250 *uart, void (*quit)(void *), void *quit_ctx)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->room_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->room_fd < 0 || c->stop_fd < 0)
		return -errno;
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
	if (c->reader) {
		uint64_t one = 1;
		if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(c->thread, NULL);
		c->reader = false;
	}
	pthread_mutex_lock(&c->lock);
	flush_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (c->raw) {
		tcflush(STDIN_FILENO, TCIFLUSH); /* typed, never taken: not for the shell */
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
	}
	c->raw = false;
}
