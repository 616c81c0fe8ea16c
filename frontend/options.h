/* options.h: hyve's command line (GNU long options) and its exit statuses. */
#ifndef FRONTEND_OPTIONS_H
#define FRONTEND_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Process exit statuses (docs/exits.md). Odd values come from the guest's
 * debug-exit port: (V << 1) | 1. Even values are hyve's own. */
enum hyve_status {
	HYVE_EXIT_POWEROFF = 0,  /* the guest powered off cleanly */
	HYVE_EXIT_USAGE = 2,     /* bad option, bad kernel or module */
	HYVE_EXIT_RESET = 4,     /* the guest asked for a reset */
	HYVE_EXIT_TRIPLE = 6,    /* a vCPU triple-faulted (registers on stderr) */
	HYVE_EXIT_INTERNAL = 8,  /* KVM could not run the guest (emulation failure, ...) */
	HYVE_EXIT_TIMEOUT = 10,  /* --timeout expired */
	HYVE_EXIT_HALTED = 12,   /* every vCPU halted with interrupts off: it can never run again */
	HYVE_EXIT_HOST = 14,     /* host problem: /dev/kvm missing, out of memory, ioctl failure */
	HYVE_EXIT_QUIT = 16,     /* the user typed Ctrl-A x on the console */
	HYVE_EXIT_PANIC = 18,    /* the guest reported a panic (pvpanic, port 0x505) */
};

#define HYVE_VERSION "0.1.0"

enum ap_startup { AP_STARTUP_IPI_EXIT = 0, AP_STARTUP_SPINUP_AP = 1 };

#define TRACE_IO (1u << 0)
#define TRACE_APIC (1u << 1)

#define HYVE_MAX_MODULES 16

struct options {
	uint32_t cpus;             /* --cpus, default 1 */
	uint64_t memory;           /* --memory bytes, default 256 MiB */
	const char *append;        /* --append, default "" */
	const char *modules[HYVE_MAX_MODULES]; /* "FILE ARGS" strings, --initrd entries then --module */
	unsigned nmodules;
	unsigned nmodule_opts;     /* how many of them came from --module (the last ones) */
	enum ap_startup ap_startup;
	bool no_x2apic;
	unsigned trace;            /* TRACE_* */
	const char *trace_file;    /* JSON lines */
	double timeout;            /* seconds; 0: none */
	bool verbose;
	const char *kernel;        /* NULL: the built-in default guest */
	/* --gdb=tcp:[HOST:]PORT | unix:PATH (frontend/gdb_target.h) */
	enum { GDB_NONE = 0, GDB_TCP = 1, GDB_UNIX = 2 } gdb;
	char gdb_host[64];         /* TCP: the address to bind, default 127.0.0.1 */
	uint16_t gdb_port;         /* TCP */
	char gdb_path[108];        /* unix: the socket's path (sun_path) */
	bool gdb_wait;             /* --gdb-wait: hold every vCPU until GDB resumes it */
	char *initrd_copy;         /* owned copy of --initrd split in place */
};

/* Parses argv. Returns 0 to run, 1 when --help/--version printed and hyve
 * should exit 0, or -1 after printing one error line "hyve: ..." to stderr. */
int options_parse(struct options *o, int argc, char **argv);
void options_free(struct options *o);

/* --gdb's value (frontend/gdb_listen.c): "tcp:PORT", "tcp:HOST:PORT" (HOST an
 * IP address, IPv6 in brackets allowed) or "unix:PATH" into o->gdb*. -1 with
 * why (" (reason)" or "") when it is none of them. */
int gdb_parse_spec(const char *s, struct options *o, char *why, size_t n);

/* Parses a size: a number with an optional decimal fraction ("1.5") and an
 * optional K/M/G/T suffix (binary; none: MiB, as QEMU's -m). -1 when it is
 * not a size, -2 when it is not a whole number of bytes. */
int parse_size(const char *s, uint64_t *out);

#endif
