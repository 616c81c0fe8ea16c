/* trace.h: hyve's tracing sinks: readable lines on stderr, JSON lines in a file (smp-spec 5). */
#ifndef FRONTEND_TRACE_H
#define FRONTEND_TRACE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "devices/bus.h"
#include "vmm/vmm.h"

struct tracer {
	pthread_mutex_t lock; /* serialises output lines from vCPU threads */
	bool apic_text;       /* (c) --trace=apic */
	bool io_text;         /* (c) --trace=io */
	FILE *json;           /* (c) --trace-file, NULL if none; line-buffered: each event is
			       * written when it happens (docs/trace-format.md) */
	uint64_t t0_ns;       /* (c) CLOCK_MONOTONIC at tracer_init: every event's t_ns counts from it */
};

/* Opens the JSON file if path is set; -errno on failure. */
int tracer_init(struct tracer *t, bool apic_text, bool io_text, const char *json_path);
void tracer_close(struct tracer *t);
/* Writes one JSON event of hyve's own (docs/trace-format.md) when a trace
 * file is open: {"event":EVENT,"t_ns":N,FIELDS} where fields (printf
 * format, may be "") are the object's other members. Any thread. */
void tracer_event(struct tracer *t, const char *event, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));
/* vm_trace_fn for libvmm events (ctx = struct tracer *). */
void tracer_vm_event(void *ctx, const struct vm_trace_event *ev);
/* bus_trace_fn for port/MMIO accesses (ctx = struct tracer *). */
void tracer_io_event(void *ctx, enum bus_space space, uint64_t addr, unsigned size, bool is_write,
		     uint64_t val, bool claimed, const char *name);
/* Copies s into out (n bytes) as the inside of a JSON string. */
void json_escape(char *out, size_t n, const char *s);
/* Writes a cpuset as "1-3,5" (or "-" when empty) into buf. */
void cpuset_format(const cpuset_t *s, char *buf, size_t len);

#endif
