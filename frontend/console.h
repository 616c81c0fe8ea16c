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
 * lock held, so neither `lock` nor `rx_lock` may be held while calling into
 * the UART (lock order: UART -> lock, UART -> rx_lock). */
struct console {
	pthread_mutex_t lock;     /* guards out[] */
	pthread_mutex_t rx_lock;  /* guards rx_gen; never held across a UART call */
	pthread_cond_t rx_room;   /* (rx_lock) signalled with each rx_gen step */
	unsigned rx_gen;          /* (rx_lock) counts console_rx_drained() calls */
	struct uart8250 *uart;    /* (c) where input goes */
	bool tty_out;             /* (c) stdout is a terminal: write each byte at once */
	bool raw;                 /* (c) stdin was put in raw mode */
	struct termios saved;     /* (c) stdin's mode before */
	bool reader;              /* (c) the input thread runs */
	pthread_t thread;         /* (c) */
	bool escape;              /* (reader) Ctrl-A seen */
	void (*quit)(void *ctx);  /* (c) Ctrl-A x */
	void *quit_ctx;           /* (c) */
	char out[4096];           /* (lock) pending output when stdout is not a terminal */
	size_t nout;              /* (lock) */
};

/* Sets the console up: raw mode when stdin is a terminal, and a reader thread
 * feeding uart. quit is called on Ctrl-A x. 0 or -errno. */
int console_init(struct console *c, struct uart8250 *uart, void (*quit)(void *), void *quit_ctx);
/* uart8250_ops.tx */
void console_tx(void *ctx, uint8_t byte);
/* uart8250_ops.rx_drained */
void console_rx_drained(void *ctx);
/* Flushes output and restores the terminal. */
void console_fini(struct console *c);

#endif
