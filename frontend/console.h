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
 * nothing. The writer thread owns stdout (W): a vCPU's console_tx() only
 * copies the byte into out[], so a stdout that does not drain (a pipe nobody
 * reads, a terminal stopped with Ctrl-S) stalls no vCPU while out[] has room,
 * and none at all once the VM ends (console_end()); the writer waits for
 * stdout in poll() with an abort eventfd, so console_fini() always returns. */
#define CONSOLE_PENDING 4096
#define CONSOLE_OUT 65536
struct console {
	pthread_mutex_t lock;     /* guards out[] and the writer's state */
	pthread_cond_t out_cv;    /* (c) signalled when output is to go */
	pthread_cond_t room_cv;   /* (c) signalled when out[] has room again */
	int room_fd;              /* (c) eventfd: console_rx_drained() says the UART has room */
	int stop_fd;              /* (c) eventfd: console_fini() stops the reader */
	int abort_fd;             /* (c) eventfd: console_fini() gives up on a stdout that does not drain */
	struct uart8250 *uart;    /* (c) where input goes */
	bool tty_out;             /* (c) stdout is a terminal: each byte goes at once */
	bool raw;                 /* (c) stdin was put in raw mode */
	struct termios saved;     /* (c) stdin's mode before */
	bool reader;              /* (c) the input thread runs */
	pthread_t thread;         /* (c) */
	bool writer;              /* (c) the output thread runs */
	pthread_t wthread;        /* (c) */
	bool escape;              /* (R) Ctrl-A seen */
	bool in_eof;              /* (R) stdin ended */
	uint8_t pend[CONSOLE_PENDING]; /* (R) input read but not yet taken by the UART */
	size_t npend, pend_off;   /* (R) */
	uint64_t dropped;         /* (R) keys a terminal typed while pend[] was full */
	void (*quit)(void *ctx);  /* (c) Ctrl-A x */
	void *quit_ctx;           /* (c) */
	char out[CONSOLE_OUT];    /* (lock) output the writer has not taken yet */
	size_t nout;              /* (lock) */
	bool line_done;           /* (lock) a '\n' (or a full half of out[]) came since the writer took */
	unsigned out_gen;         /* (lock) counts console_tx() calls: the writer's idle test */
	bool ending;              /* (lock) the VM ends: console_tx() never waits, drops when full */
	bool stopping;            /* (lock) console_fini(): the writer flushes and exits */
	uint64_t written;         /* (a) bytes the writer put out: its progress */
	uint64_t dropped_out;     /* (lock) guest output dropped (full after the end, or stdout gone) */
	char wbuf[CONSOLE_OUT];   /* (W) what the writer is putting out */
};

/* Sets the console up: raw mode when stdin is a terminal, and a reader thread
 * feeding uart. quit is called on Ctrl-A x. 0 or -errno. */
int console_init(struct console *c, struct uart8250 *uart, void (*quit)(void *), void *quit_ctx);
/* uart8250_ops.tx: queues the byte for the writer; waits only while out[]
 * is full and the VM has not ended. */
void console_tx(void *ctx, uint8_t byte);
/* The VM ends: no console_tx() waits for room any more (a full buffer
 * drops). Any thread; before the vCPU threads are joined. */
void console_end(struct console *c);
/* uart8250_ops.rx_drained */
void console_rx_drained(void *ctx);
/* Stops and joins the reader; lets the writer put out what is queued while
 * stdout takes it (output stuck for a second is dropped); drops the input a
 * terminal typed that the guest never took (it is not left for the user's
 * shell), and restores the terminal. */
void console_fini(struct console *c);

#endif
