/* gdb.h: the GDB remote serial protocol (the stub's protocol half).
 *
 * Reference: GDB manual, appendix E "GDB Remote Serial Protocol" (cited
 * "RSP" + section: E.1 overview, E.3 stop replies, E.4 general query packets,
 * E.11 packet acknowledgment, E.9 notification... ) and appendix G "Target
 * Descriptions" (G.5.1 i386 features: org.gnu.gdb.i386.core, .sse,
 * .segments). Models: QEMU gdbstub/gdbstub.c, kvmtool's gdb support.
 *
 * This layer speaks the protocol on one connected socket and knows nothing
 * of KVM: it reads and writes registers and memory, inserts breakpoints and
 * resumes or stops vCPUs through a const ops table (the target half, which
 * the frontend implements over libvmm). Threads are vCPUs: GDB thread id =
 * vCPU id + 1 (RSP: ids are positive). The register set is GDB's amd64 one
 * (core + sse + segments) for a 64-bit kernel, or its i386 one for a 32-bit
 * kernel, chosen at gdb_init and described by target.xml (qXfer).
 *
 * Supported: ?, g/G, p/P, m/M/X, c/s and vCont (c, s, per thread), Z0-Z4 /
 * z0-z4 (software breakpoint, hardware breakpoint, write/read/access
 * watchpoint), H, T, qfThreadInfo/qsThreadInfo, qC, qAttached,
 * qSupported, qXfer:features:read, QStartNoAckMode, D (detach), k (kill),
 * Ctrl-C (0x03: stop every vCPU). Anything else gets the empty reply
 * (RSP: "not supported").
 *
 * Threading: gdb_serve() runs on the stub's own thread. The target reports
 * that the vCPUs stopped with gdb_stopped() from any thread (once every vCPU
 * is stopped, naming the one that caused it); the stub waits for that while
 * the guest runs, together with Ctrl-C from GDB.
 *
 * Field legend: (i) gdb_init; (S) the stub's thread; (l) `lock`.
 */
#ifndef FRONTEND_GDB_H
#define FRONTEND_GDB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_PACKET_MAX 4096 /* qSupported PacketSize: our largest packet, payload bytes */

/* The x86 registers GDB sees (the union of the amd64 and i386 sets). */
struct gdb_regs {
	uint64_t gpr[16];   /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (the SDM's encoding order) */
	uint64_t rip;
	uint32_t eflags;
	uint32_t seg[6];    /* cs ss ds es fs gs selectors */
	uint8_t st[8][10];  /* x87 stack, 80-bit */
	uint32_t fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint64_t fs_base, gs_base;
};

enum gdb_bp_type {
	GDB_BP_SW = 0,     /* Z0: software breakpoint (int3) */
	GDB_BP_HW = 1,     /* Z1: hardware breakpoint (DR0-DR3, execute) */
	GDB_WP_WRITE = 2,  /* Z2 */
	GDB_WP_READ = 3,   /* Z3 (x86 has no read-only watch: the target may refuse) */
	GDB_WP_ACCESS = 4, /* Z4 */
};

enum gdb_action { GDB_STAY = 0, GDB_CONTINUE = 1, GDB_STEP = 2 };

/* Why the vCPUs stopped. */
enum gdb_stop_reason {
	GDB_STOP_INTERRUPT = 0, /* Ctrl-C or the first stop (--gdb-wait): SIGINT/SIGTRAP */
	GDB_STOP_STEP,          /* a single step finished */
	GDB_STOP_SWBREAK,       /* an int3 that GDB inserted */
	GDB_STOP_HWBREAK,       /* a DR0-DR3 execute breakpoint */
	GDB_STOP_WATCH,         /* a watchpoint; addr is the data address */
	GDB_STOP_EXITED,        /* the VM ended; code is hyve's exit status */
};

struct gdb_stop {
	enum gdb_stop_reason reason;
	uint32_t vcpu;      /* the vCPU that stopped first (the others were stopped for it) */
	uint64_t addr;      /* GDB_STOP_WATCH: the data address */
	enum gdb_bp_type wtype; /* GDB_STOP_WATCH: which kind */
	int code;           /* GDB_STOP_EXITED */
};

struct gdb_target_ops {
	/* The vCPU ids GDB may see (those that exist), ascending; returns how many. */
	unsigned (*threads)(void *ctx, uint32_t *ids, unsigned max);
	int (*get_regs)(void *ctx, uint32_t vcpu, struct gdb_regs *r);
	int (*set_regs)(void *ctx, uint32_t vcpu, const struct gdb_regs *r);
	/* Guest virtual addresses through vcpu's page tables: bytes done, or -errno. */
	int (*read_mem)(void *ctx, uint32_t vcpu, uint64_t addr, uint8_t *buf, size_t n);
	int (*write_mem)(void *ctx, uint32_t vcpu, uint64_t addr, const uint8_t *buf, size_t n);
	/* 0, -ENOTSUP (that type), -ENOSPC (no debug register left) or -errno. */
	int (*breakpoint)(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned len, bool insert);
	/* Resumes: act[i] for vCPU ids[i] of the last threads() list (n entries);
	 * others for the vCPUs not in it (one that got its thread since: RSP
	 * vCont's action without a thread id, GDB_STAY when there is none, so
	 * that GDB's scheduler-locking also holds a vCPU GDB does not know yet). */
	void (*resume)(void *ctx, const uint32_t *ids, const enum gdb_action *act, unsigned n,
		       enum gdb_action others);
	/* Asks every vCPU to stop; the target calls gdb_stopped() when they have. */
	void (*stop)(void *ctx);
	void (*kill)(void *ctx);   /* k: end the VM */
	void (*detach)(void *ctx); /* D: remove every breakpoint, resume everything */
};

struct gdb_stub {
	const struct gdb_target_ops *ops; /* (i) */
	void *ctx;                        /* (i) */
	bool x86_64;                      /* (i) amd64 register set, else i386 */
	int fd;                           /* (S) the connection */
	int event_fd;                     /* (i) eventfd: gdb_stopped() was called */
	bool noack;                       /* (S) QStartNoAckMode */
	uint32_t g_vcpu;                  /* (S) Hg: the thread registers and memory go to */
	bool running;                     /* (S) resumed, no stop reported yet */
	pthread_mutex_t lock;
	bool stop_pending;                /* (l) */
	struct gdb_stop stop;             /* (l) the last stop */
	char in[GDB_PACKET_MAX + 1];      /* (S) the packet being read */
	char out[2 * GDB_PACKET_MAX + 8]; /* (S) the reply being built */
	uint8_t scratch[GDB_PACKET_MAX];  /* (S) memory transfers */
};

/* x86_64: which register set GDB gets. 0 or -errno. */
int gdb_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *ctx, bool x86_64);
void gdb_destroy(struct gdb_stub *s);

/* Serves one GDB connection on fd until GDB detaches, kills, the VM ends or
 * the connection closes. stopped: the vCPUs are stopped now (--gdb-wait:
 * GDB's first "?" is answered at once); else they run and the first stop
 * comes from gdb_stopped(). Returns 0 on detach/close, 1 after k. */
int gdb_serve(struct gdb_stub *s, int fd, bool stopped);

/* The target's report: every vCPU is stopped, for st. Any thread. */
void gdb_stopped(struct gdb_stub *s, const struct gdb_stop *st);

#endif
