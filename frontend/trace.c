/* trace.c: formats libvmm trace events and bus accesses for people and for tools. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "frontend/trace.h"
#include "vmm/apic_dest.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int tracer_init(struct tracer *t, bool apic_text, bool io_text, const char *json_path)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->apic_text = apic_text;
	t->io_text = io_text;
	t->t0_ns = now_ns();
	if (json_path) {
		t->json = fopen(json_path, "w");
		if (!t->json)
			return -errno;
		/* One write per line: a killed hyve leaves every event before it. */
		setvbuf(t->json, NULL, _IOLBF, 0);
	}
	return 0;
}

/* Nanoseconds since tracer_init. */
static unsigned long long t_ns(const struct tracer *t)
{
	return (unsigned long long)(now_ns() - t->t0_ns);
}

void tracer_event(struct tracer *t, const char *event, const char *fields, ...)
{
	if (!t->json)
		return;
	char body[384];
	va_list ap;
	va_start(ap, fields);
	vsnprintf(body, sizeof(body), fields, ap);
	va_end(ap);
	pthread_mutex_lock(&t->lock);
	fprintf(t->json, "{\"event\":\"%s\",\"t_ns\":%llu%s%s}\n", event, t_ns(t), *body ? "," : "", body);
	pthread_mutex_unlock(&t->lock);
}

void tracer_close(struct tracer *t)
{
	if (t->json)
		fclose(t->json);
	t->json = NULL;
	pthread_mutex_destroy(&t->lock);
}

void json_escape(char *out, size_t n, const char *s)
{
	size_t k = 0;
	for (; *s && k + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			k += (size_t)snprintf(out + k, n - k, "\\%c", c);
		else if (c < 0x20)
			k += (size_t)snprintf(out + k, n - k, "\\u%04x", c);
		else
			out[k++] = (char)c;
	}
	out[k] = 0;
}

void cpuset_format(const cpuset_t *s, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	int i = cpuset_next(s, 0);
	if (i < 0) {
		snprintf(buf, len, "-");
		return;
	}
	while (i >= 0 && n + 24 < len) {
		int j = i;
		while (cpuset_isset(s, (uint32_t)j + 1))
			j++;
		n += (size_t)snprintf(buf + n, len - n, n ? ",%d" : "%d", i);
		if (j > i)
			n += (size_t)snprintf(buf + n, len - n, "-%d", j);
		i = cpuset_next(s, (uint32_t)j + 1);
	}
	if (i >= 0)
		snprintf(buf + n, len - n, ",...");
}

static void json_set(const cpuset_t *s, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "[");
	bool first = true;
	CPUSET_FOREACH(i, s)
	{
		if (n + 16 >= len)
			break;
		n += (size_t)snprintf(buf + n, len - n, first ? "%d" : ",%d", i);
		first = false;
	}
	snprintf(buf + n, len - n, "]");
}

void tracer_vm_event(void *ctx, const struct vm_trace_event *ev)
{
	struct tracer *t = ctx;
	char set[256], line[512];
	if (!t->apic_text && !t->json)
		return;
	pthread_mutex_lock(&t->lock);
	switch (ev->kind) {
	case VM_TRACE_IPI:
		if (t->apic_text) {
			cpuset_format(ev->targets, set, sizeof(set));
			fprintf(stderr,
				"apic: vcpu%u sends %s vector 0x%02x shorthand %s dest 0x%x %s (%s) -> %s: %s\n",
				ev->vcpu, apic_dm_name(ev->mode), ev->vector, apic_shorthand_name(ev->shorthand),
				ev->dest, ev->logical ? "logical" : "physical", ev->x2apic ? "x2APIC" : "xAPIC",
				ev->what, set);
		}
		if (t->json) {
			json_set(ev->targets, set, sizeof(set));
			snprintf(line, sizeof(line),
				 "{\"event\":\"ipi\",\"t_ns\":%llu,\"sender\":%u,\"mode\":\"%s\",\"vector\":%u,"
				 "\"shorthand\":\"%s\",\"dest\":%u,\"dest_mode\":\"%s\",\"apic_mode\":\"%s\","
				 "\"verdict\":\"%s\",\"targets\":%s}\n",
				 t_ns(t), ev->vcpu, apic_dm_name(ev->mode), ev->vector, apic_shorthand_name(ev->shorthand),
				 ev->dest, ev->logical ? "logical" : "physical", ev->x2apic ? "x2apic" : "xapic",
				 ev->what, set);
			fputs(line, t->json);
		}
		break;
	case VM_TRACE_TARGET:
		if (t->apic_text)
			fprintf(stderr, "apic:   %s to vcpu%u: %s\n", apic_dm_name(ev->mode), ev->vcpu, ev->what);
		if (t->json)
			fprintf(t->json,
				"{\"event\":\"target\",\"t_ns\":%llu,\"vcpu\":%u,\"mode\":\"%s\",\"vector\":%u,"
				"\"delivered\":%s,\"reason\":\"%s\"}\n",
				t_ns(t), ev->vcpu, apic_dm_name(ev->mode), ev->vector, ev->delivered ? "true" : "false",
				ev->what);
		break;
	case VM_TRACE_STATE:
		if (t->apic_text)
			fprintf(stderr, "apic: vcpu%u state %s\n", ev->vcpu, ev->what);
		if (t->json)
			fprintf(t->json, "{\"event\":\"state\",\"t_ns\":%llu,\"vcpu\":%u,\"change\":\"%s\"}\n", t_ns(t),
				ev->vcpu, ev->what);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&t->lock);
}

void tracer_io_event(void *ctx, enum bus_space space, uint64_t addr, unsigned size, bool is_write,
		     uint64_t val, bool claimed, const char *name)
{
	struct tracer *t = ctx;
	if (!t->io_text)
		return;
	pthread_mutex_lock(&t->lock);
	fprintf(stderr, "io: %s %s 0x%llx size %u %s 0x%llx%s%s\n", space == BUS_PIO ? "port" : "mmio",
		is_write ? "write" : "read", (unsigned long long)addr, size, is_write ? "value" : "->",
		(unsigned long long)val, claimed ? " " : " (unclaimed)", claimed && name ? name : "");
	pthread_mutex_unlock(&t->lock);
}
