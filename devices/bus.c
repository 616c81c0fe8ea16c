/* bus.c: checked port-I/O and MMIO range registry and access dispatch (devices/bus.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"

static bool space_ok(enum bus_space space)
{
	return (unsigned)space < BUS_NSPACES;
}

static bool size_ok(enum bus_space space, unsigned size)
{
	return size == 1 || size == 2 || size == 4 || (size == 8 && space == BUS_MMIO);
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1;
}

int bus_init(struct bus *b)
{
	pthread_rwlockattr_t attr;
	int err;

	memset(b, 0, sizeof(*b));
	for (unsigned i = 0; i < BUS_NSPACES; i++)
		atomic_init(&b->t[i].unclaimed, 0);
	err = pthread_rwlockattr_init(&attr);
	if (err)
		return -err;
	/* Readers first: a handler may re-enter bus_access() while a writer
	 * waits; a writer-preferring lock would deadlock that reader. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
	err = pthread_rwlock_init(&b->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -err;
}

void bus_destroy(struct bus *b)
{
	for (unsigned i = 0; i < BUS_NSPACES; i++) {
		free(b->t[i].r);
		b->t[i].r = NULL;
		b->t[i].n = b->t[i].cap = 0;
	}
	pthread_rwlock_destroy(&b->lock);
}

/* Index of the last range whose base is <= addr, or -1 if none. Table must be locked. */
static ptrdiff_t find_floor(const struct bus_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n; /* answer is in [lo, hi) shifted by one: first base > addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

int bus_register(struct bus *b, enum bus_space space, uint64_t base, uint64_t len,
		 bus_handler_fn *handler, void *opaque, const char *name)
{
	if (!space_ok(space) || !handler || len == 0)
		return -EINVAL;
	uint64_t last = base + (len - 1);
	if (last < base) /* wraps past 2^64 */
		return -EINVAL;
	if (space == BUS_PIO && last >= BUS_PIO_LIMIT)
		return -EINVAL;

	int ret = 0;
	pthread_rwlock_wrlock(&b->lock);
	struct bus_table *t = &b->t[space];
	ptrdiff_t prev = find_floor(t, base);
	size_t pos = (size_t)(prev + 1); /* insertion point: first range with base > new base */
	if (prev >= 0) {
		const struct bus_range *p = &t->r[prev];
		if (p->base + (p->len - 1) >= base) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (pos < t->n && t->r[pos].base <= last) {
		ret = -EEXIST;
		goto out;
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		struct bus_range *nr = realloc(t->r, ncap * sizeof(*nr));
		if (!nr) {
			ret = -ENOMEM;
			goto out;
		}
		t->r = nr;
		t->cap = ncap;
	}
	memmove(&t->r[pos + 1], &t->r[pos], (t->n - pos) * sizeof(t->r[0]));
	struct bus_range *r = &t->r[pos];
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->len = len;
	r->handler = handler;
	r->opaque = opaque;
	if (name) {
		strncpy(r->name, name, BUS_NAME_MAX - 1);
		r->name[BUS_NAME_MAX - 1] = '\0';
	}
	t->n++;
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_unregister(struct bus *b, enum bus_space space, uint64_t base)
{
	if (!space_ok(space))
		return -EINVAL;
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&b->lock);
	struct bus_table *t = &b->t[space];
	ptrdiff_t i = find_floor(t, base);
	if (i >= 0 && t->r[i].base == base) {
		memmove(&t->r[i], &t->r[i + 1], (t->n - (size_t)i - 1) * sizeof(t->r[0]));
		t->n--;
		ret = 0;
	}
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_access(struct bus *b, enum bus_space space, uint64_t addr, unsigned size,
	       bool is_write, uint64_t *val)
{
	if (!space_ok(space) || !size_ok(space, size) || !val)
		return -EINVAL;
	if (space == BUS_PIO && addr >= BUS_PIO_LIMIT)
		return -EINVAL;

	const uint64_t mask = size_mask(size);
	uint64_t v = is_write ? (*val & mask) : 0;
	const struct bus_range *r = NULL;
	int ret;

	pthread_rwlock_rdlock(&b->lock);
	struct bus_table *t = &b->t[space];
	ptrdiff_t i = find_floor(t, addr);
	if (i >= 0) {
		uint64_t off = addr - t->r[i].base;
		/* Wholly inside: off < len and size <= len - off (no overflow). */
		if (off < t->r[i].len && size <= t->r[i].len - off)
			r = &t->r[i];
	}
	if (r) {
		ret = r->handler(r->opaque, addr - r->base, size, is_write, &v);
		if (ret > 0) /* handlers return 0 or -errno; treat anything else as success */
			ret = 0;
		if (!is_write)
			v = ret < 0 ? mask : (v & mask);
	} else {
		atomic_fetch_add_explicit(&t->unclaimed, 1, memory_order_relaxed);
		ret = BUS_UNCLAIMED;
		if (!is_write)
			v = mask;
	}
	if (b->trace)
		b->trace(b->trace_ctx, space, addr, size, is_write, v, r != NULL,
			 r ? r->name : NULL);
	pthread_rwlock_unlock(&b->lock);

	if (!is_write)
		*val = v;
	return ret;
}

void bus_set_trace(struct bus *b, bus_trace_fn *fn, void *ctx)
{
	pthread_rwlock_wrlock(&b->lock);
	b->trace = fn;
	b->trace_ctx = fn ? ctx : NULL;
	pthread_rwlock_unlock(&b->lock);
}

uint64_t bus_unclaimed(struct bus *b, enum bus_space space)
{
	if (!space_ok(space))
		return 0;
	return atomic_load_explicit(&b->t[space].unclaimed, memory_order_relaxed);
}

size_t bus_nranges(struct bus *b, enum bus_space space)
{
	if (!space_ok(space))
		return 0;
	pthread_rwlock_rdlock(&b->lock);
	size_t n = b->t[space].n;
	pthread_rwlock_unlock(&b->lock);
	return n;
}
