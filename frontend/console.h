/* console.h: the guest's serial console on hyve's stdin/stdout. */
#ifndef FRONTEND_CONSOLE_H
#define FRONTEND_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "devices/uart8250.h"

/* Locks: the UART calls console_tx() and console_rx_drained() with its own
 * lock held, so `lock` may not be held while calling into the UART (lock
 * order: UART -> lock). The reader thread owns the input side (R): it never
 * blocks on the guest, so Ctrl-A x works at once even when the guest reads
 * nothing. */
#define CONSOLE_PENDING 4096
struct console {
	pthread_mutex_t lock;     /* guards out[] */
	int room_fd;              /* (c) eventfd: console_rx_drained() says the UART has room */
	int stop_fd;              /* (c) eventfd: console_fini() stops the reader */
	struct uart8250 *uart;    /* (c) where input goes */
	bool tty_out;             /* (c) stdout is a terminal: write each byte at once */
	bool raw;                 /* (c) stdin was put in raw mode */
	struct termios saved;     /* (c) stdin's mode before */
	bool reader;              /* (c) the input thread runs */
	pthread_t thread;         /* (c) */
	bool escape;              /* (R) Ctrl-A seen */
	bool in_eof;              /* (R) stdin ended */
	uint8_t pend[CONSOLE_PENDING]; /* (R) input read but not yet taken by the UART */
	size_t npend, pend_off;   /* (R) */
	uint64_t dropped;         /* (R) keys a terminal typed while pend[] was full */
	void (*quit)(void *ctx);  /* (c) Ctrl-A x */
	void *quit_ctx;           /* (c) */
	char out[4096];           /* (lock) pending output when stdout is not a terminal */
	size_t nout;              /* (lock) */
	unsigned out_gen;         /* (lock) counts console_tx() calls */
	unsigned idle_gen;        /* (lock) out_gen at the reader's last idle tick */
};

/* Sets the console up: raw mode when stdin is a terminal, and a reader thread
 * feeding uart. quit is called on Ctrl-A x. 0 or -errno. */
int console_init(struct console *c, struct uart8250 *uart, void (*quit)(void *), void *quit_ctx);
/* uart8250_ops.tx */
void console_tx(void *ctx, uint8_t byte);
/* uart8250_ops.rx_drained */
void console_rx_drained(void *ctx);
/* Stops and joins the reader, flushes output, drops the input a terminal
 * typed that the guest never took (it is not left for the user's shell),
 * and restores the terminal. */
void console_fini(struct console *c);

#endif
