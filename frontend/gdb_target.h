/* gdb_target.h: the GDB stub's target half (frontend/gdb.h's ops) over
 * libvmm's debug support (include/vmm/vmm_debug.h), and the stub's thread
 * that listens for GDB (--gdb=tcp:[HOST:]PORT or unix:PATH).
 *
 *   gdb_target.c  the ops: threads (vCPUs with a thread, GDB id = vCPU id +
 *                 1), registers, memory by guest virtual address, the
 *                 software breakpoint table (int3 bytes and the originals),
 *                 DR0-DR3 for hardware breakpoints and watchpoints, resume,
 *                 stop, detach, kill; the vCPU threads' debug exits
 *   gdb_listen.c  the listening socket, the stub's thread (one GDB at a
 *                 time; another may attach after a detach), the VM's end
 *
 * All-stop: the first vCPU that stops for the debugger (breakpoint,
 * watchpoint, step) stops every other one (vm_debug_stop), and GDB hears of
 * it once all are held. Field legend: (c) gdb_target_start; (l) `lock`;
 * (S) the stub's thread.
 */
#ifndef FRONTEND_GDB_TARGET_H
#define FRONTEND_GDB_TARGET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "frontend/gdb.h"
#include "vmm/vmm_debug.h"

struct machine;

#define GDB_MAX_SWBP 64

struct gdb_swbp {
	uint64_t addr;    /* guest virtual address, through vCPU 0's paging */
	uint8_t orig;     /* the byte the int3 replaced */
};

struct gdb_target {
	struct machine *m;            /* (c) */
	struct gdb_stub stub;         /* (c) gdb_init; locks itself */
	bool wait;                    /* (c) --gdb-wait */
	int listen_fd;                /* (c) */
	int end_fd;                   /* (c) eventfd: the VM ended, the stub's thread leaves */
	char where[160];              /* (c) "tcp:HOST:PORT" / "unix:PATH", for messages */
	char unix_path[108];          /* (c) to unlink at the end; "" for TCP */
	pthread_t thread;             /* (c) */
	bool started;                 /* (c) the thread runs */
	pthread_mutex_t lock;         /* guards (l) */
	bool session;                 /* (l) a GDB is connected */
	int conn;                     /* (l) its socket, -1 */
	bool waiting;                 /* (l) the stub waits for a stop report (after resume or stop) */
	bool have_ev;                 /* (l) ev holds the first stop since the last resume */
	struct gdb_stop ev;           /* (l) */
	bool ended;                   /* (l) the VM ended */
	/* Breakpoints: changed by the stub's thread while the VM is stopped;
	 * read by vCPU threads on a #BP (under lock). */
	struct gdb_swbp sw[GDB_MAX_SWBP]; /* (l) */
	unsigned nsw;                 /* (l) */
	uint64_t dr[4], dr7;          /* (l) hardware breakpoints and watchpoints */
	enum gdb_bp_type dr_type[4];  /* (l) */
};

/* Listens on spec (options.h's parsed --gdb), enables libvmm's debug
 * support, starts the stub's thread; wait: every vCPU is held before its
 * first instruction until GDB resumes it. x86_64: GDB's amd64 register set,
 * else i386. 0, or -1 (said why). Before any vCPU thread starts. */
int gdb_target_start(struct gdb_target *t, struct machine *m, bool x86_64);
/* The VM ended with process status `status`: a waiting GDB gets W, a
 * connected one is let go; joins the stub's thread. Main thread; the second
 * call does nothing. vCPU threads may still report (they are ignored). */
void gdb_target_end(struct gdb_target *t, int status);
/* After gdb_target_end and every vCPU thread's end (also after a failed
 * gdb_target_start): frees the rest. */
void gdb_target_fini(struct gdb_target *t);
/* A vCPU thread's VM_EXITCODE_DEBUG: a stop for GDB (every vCPU stops), or a
 * #BP that is not GDB's, handed to the guest. */
void gdb_target_debug_exit(struct gdb_target *t, struct vcpu *v, const struct vm_exit *ex);

/* gdb_target.c, for gdb_listen.c */
extern const struct gdb_target_ops gdb_target_ops;
/* libvmm's all_stopped: report the stop to a GDB that waits for one. */
void gdb_target_all_stopped(void *ctx);

#endif
