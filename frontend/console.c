/* console.c: COM1 on stdin/stdout; raw terminal; Ctrl-A x quits, as QEMU's -nographic. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "frontend/console.h"

#define CTRL_A 0x01
#define CONSOLE_IDLE_MS 50

/* Puts n bytes out on stdout, waiting in poll() for room (at most 4096 bytes
 * a write: POLLOUT on a pipe means that much fits, so the write does not
 * block) or for abort_fd. false when stdout is gone or the wait was aborted. */
static bool write_out(struct console *c, const char *p, size_t n)
{
	while (n) {
		struct pollfd pf[2] = {{.fd = STDOUT_FILENO, .events = POLLOUT}, {.fd = c->abort_fd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (pf[1].revents)
			return false;
		ssize_t w = write(STDOUT_FILENO, p, n < 4096 ? n : 4096);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return false; /* stdout gone: the guest's output is dropped */
		p += w;
		n -= (size_t)w;
		__atomic_add_fetch(&c->written, (uint64_t)w, __ATOMIC_RELAXED);
	}
	return true;
}

/* The output thread: takes what console_tx() queued and writes it with no
 * lock held. A terminal gets every byte at once; a pipe or a file gets lines,
 * and a partial line (a prompt) after CONSOLE_IDLE_MS without more output. */
static void *writer(void *arg)
{
	struct console *c = arg;
	char *buf = c->wbuf;
	bool gone = false;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->nout == 0) {
			if (c->stopping)
				break;
			pthread_cond_wait(&c->out_cv, &c->lock);
			continue;
		}
		if (!c->tty_out && !c->line_done && !c->stopping) {
			unsigned gen = c->out_gen;
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += CONSOLE_IDLE_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			int r = pthread_cond_timedwait(&c->out_cv, &c->lock, &until);
			if (r != ETIMEDOUT || c->out_gen != gen)
				continue; /* more output came: wait for its line */
		}
		size_t n = c->nout;
		memcpy(buf, c->out, n);
		c->nout = 0;
		c->line_done = false;
		pthread_cond_broadcast(&c->room_cv);
		pthread_mutex_unlock(&c->lock);
		if (!gone && !write_out(c, buf, n))
			gone = true; /* stdout is gone or stuck: drop the rest */
		pthread_mutex_lock(&c->lock);
		if (gone)
			c->dropped_out += n;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void console_tx(void *ctx, uint8_t byte)
{
	struct console *c = ctx;
	pthread_mutex_lock(&c->lock);
	while (c->nout == sizeof(c->out) && !c->ending && c->writer)
		pthread_cond_wait(&c->room_cv, &c->lock); /* back-pressure: no byte lost */
	if (c->nout == sizeof(c->out)) {
		c->dropped_out++;
	} else {
		c->out[c->nout++] = (char)byte;
		c->out_gen++;
		if (byte == '\n' || c->nout >= sizeof(c->out) / 2)
			c->line_done = true;
		if (c->tty_out || c->line_done || c->nout == 1)
			pthread_cond_signal(&c->out_cv);
	}
	pthread_mutex_unlock(&c->lock);
}

void console_end(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	c->ending = true;
	pthread_cond_broadcast(&c->room_cv);
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
		int r = poll(pf, 3, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the writer's idle wait */
	pthread_cond_init(&c->out_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->room_cv, NULL);
	c->room_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->room_fd < 0 || c->stop_fd < 0 || c->abort_fd < 0)
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
	int r = pthread_create(&c->wthread, NULL, writer, c);
	if (r)
		return -r;
	c->writer = true;
	/* Input from a terminal, a pipe or a file alike; EOF just ends input. */
	r = pthread_create(&c->thread, NULL, reader, c);
	if (r)
		return -r;
	c->reader = true;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd > 0) /* 0 is stdin: a console that never got its eventfds */
		close(*fd);
	*fd = -1;
}

void console_fini(struct console *c)
{
	if (c->reader) {
		uint64_t one = 1;
		if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(c->thread, NULL);
		c->reader = false;
	}
	if (c->writer) {
		pthread_mutex_lock(&c->lock);
		c->ending = c->stopping = true;
		pthread_cond_broadcast(&c->out_cv);
		pthread_cond_broadcast(&c->room_cv);
		pthread_mutex_unlock(&c->lock);
		/* What is queued goes out while stdout takes it; a second with no
		 * progress (a pipe nobody reads) and the rest is dropped. */
		for (;;) {
			uint64_t before = __atomic_load_n(&c->written, __ATOMIC_RELAXED);
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			if (pthread_timedjoin_np(c->wthread, NULL, &until) == 0)
				break;
			if (__atomic_load_n(&c->written, __ATOMIC_RELAXED) == before) {
				uint64_t one = 1;
				if (write(c->abort_fd, &one, sizeof(one)) < 0) {
					/* cannot overflow */
				}
			}
		}
		c->writer = false;
		if (c->dropped_out)
			fprintf(stderr, "hyve: console: %llu bytes of the guest's output were dropped: stdout did not take them\n",
				(unsigned long long)c->dropped_out);
	}
	if (c->raw) {
		tcflush(STDIN_FILENO, TCIFLUSH); /* typed, never taken: not for the shell */
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
	}
	c->raw = false;
	close_fd(&c->room_fd);
	close_fd(&c->stop_fd);
	close_fd(&c->abort_fd);
}
