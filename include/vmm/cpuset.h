/* cpuset.h: fixed-size bitmap of vCPU ids, used for IPI target sets and VM-wide sets. */
#ifndef VMM_CPUSET_H
#define VMM_CPUSET_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Upper bound on configured vCPUs of one VM (KVM_CAP_MAX_VCPUS may be lower). */
#define VM_MAXCPU 1024

typedef struct {
	uint64_t bits[VM_MAXCPU / 64];
} cpuset_t;

static inline void cpuset_zero(cpuset_t *s) { memset(s, 0, sizeof(*s)); }

/* Ids >= VM_MAXCPU are silently ignored: a set never indexes outside itself. */
static inline void cpuset_set(cpuset_t *s, uint32_t id)
{
	if (id < VM_MAXCPU)
		s->bits[id / 64] |= 1ULL << (id % 64);
}

static inline void cpuset_clr(cpuset_t *s, uint32_t id)
{
	if (id < VM_MAXCPU)
		s->bits[id / 64] &= ~(1ULL << (id % 64));
}

static inline bool cpuset_isset(const cpuset_t *s, uint32_t id)
{
	return id < VM_MAXCPU && (s->bits[id / 64] >> (id % 64)) & 1;
}

/* Sets ids [0, n). */
static inline void cpuset_fill(cpuset_t *s, uint32_t n)
{
	cpuset_zero(s);
	for (uint32_t i = 0; i < n && i < VM_MAXCPU; i++)
		cpuset_set(s, i);
}

static inline bool cpuset_empty(const cpuset_t *s)
{
	for (unsigned i = 0; i < VM_MAXCPU / 64; i++)
		if (s->bits[i])
			return false;
	return true;
}

static inline unsigned cpuset_count(const cpuset_t *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < VM_MAXCPU / 64; i++)
		n += (unsigned)__builtin_popcountll(s->bits[i]);
	return n;
}

static inline void cpuset_and(cpuset_t *d, const cpuset_t *a)
{
	for (unsigned i = 0; i < VM_MAXCPU / 64; i++)
		d->bits[i] &= a->bits[i];
}

static inline void cpuset_or(cpuset_t *d, const cpuset_t *a)
{
	for (unsigned i = 0; i < VM_MAXCPU / 64; i++)
		d->bits[i] |= a->bits[i];
}

static inline void cpuset_andnot(cpuset_t *d, const cpuset_t *a)
{
	for (unsigned i = 0; i < VM_MAXCPU / 64; i++)
		d->bits[i] &= ~a->bits[i];
}

static inline bool cpuset_equal(const cpuset_t *a, const cpuset_t *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Lowest id >= from that is set, or -1. Iterate: for (i = cpuset_next(s, 0); i >= 0; i = cpuset_next(s, i + 1)) */
static inline int cpuset_next(const cpuset_t *s, uint32_t from)
{
	while (from < VM_MAXCPU) {
		uint64_t w = s->bits[from / 64] >> (from % 64);
		if (w)
			return (int)(from + (uint32_t)__builtin_ctzll(w));
		from = (from | 63) + 1;
	}
	return -1;
}

#define CPUSET_FOREACH(i, s) for (int i = cpuset_next((s), 0); i >= 0; i = cpuset_next((s), (uint32_t)i + 1))

#endif
