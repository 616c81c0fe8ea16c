/* test_bus.c: port/MMIO registry checks, dispatch, unclaimed accesses, trace, threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "tests/unit/tap.h"

struct dev {
	int id;
	unsigned calls;
	uint64_t last_off, last_val;
	unsigned last_size;
	bool last_write;
	uint64_t read_val;
	int ret;
};

static int dev_handler(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	struct dev *d = opaque;
	d->calls++;
	d->last_off = offset;
	d->last_size = size;
	d->last_write = is_write;
	if (is_write)
		d->last_val = *val;
	else
		*val = d->read_val;
	return d->ret;
}

struct trace_log {
	unsigned n;
	enum bus_space space;
	uint64_t addr, val;
	unsigned size;
	bool is_write, claimed;
	char name[BUS_NAME_MAX];
};

static void trace_fn(void *ctx, enum bus_space space, uint64_t addr, unsigned size, bool is_write,
		     uint64_t val, bool claimed, const char *name)
{
	struct trace_log *t = ctx;
	t->n++;
	t->space = space;
	t->addr = addr;
	t->size = size;
	t->is_write = is_write;
	t->val = val;
	t->claimed = claimed;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "(null)");
}

static int idx_handler(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val)
{
	if (!is_write)
		*val = (uint64_t)(uintptr_t)opaque * 1000 + offset;
	return 0;
}

struct thr_arg {
	struct bus *b;
	unsigned iters;
	unsigned bad;
};

static void *hammer(void *p)
{
	struct thr_arg *a = p;
	for (unsigned i = 0; i < a->iters; i++) {
		uint64_t v = 0;
		if (bus_access(a->b, BUS_PIO, 0x100 + (i % 4), 2, false, &v) != 0 ||
		    v != 1000 + (i % 4))
			a->bad++;
		v = 0;
		if (bus_access(a->b, BUS_PIO, 0x200, 2, false, &v) != BUS_UNCLAIMED || v != 0xffff)
			a->bad++;
	}
	return NULL;
}

int main(void)
{
	struct bus b;
	struct dev uart = {.id = 1, .read_val = 0x1234567890abcdefULL};
	struct dev other = {.id = 2};
	uint64_t v;

	CHECK_EQ(bus_init(&b), 0, "bus_init");
	CHECK_EQ(bus_nranges(&b, BUS_PIO), 0, "empty bus");

	/* Registration checks. */
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f8, 8, dev_handler, &uart, "com1"), 0, "register COM1");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f8, 0, dev_handler, &other, "x"), -EINVAL, "len 0 rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f8, 8, dev_handler, &other, "x"), -EEXIST, "same range rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f0, 9, dev_handler, &other, "x"), -EEXIST, "overlap at front rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3ff, 4, dev_handler, &other, "x"), -EEXIST, "overlap at back rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3fa, 1, dev_handler, &other, "x"), -EEXIST, "contained range rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x300, 0x200, dev_handler, &other, "x"), -EEXIST, "containing range rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f0, 8, dev_handler, &other, "before"), 0, "adjacent before accepted");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x400, 1, dev_handler, &other, "after"), 0, "adjacent after accepted");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0xfffe, 3, dev_handler, &other, "x"), -EINVAL, "PIO past 0xffff rejected");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0xffff, 1, dev_handler, &other, "top"), 0, "last port accepted");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x500, 1, NULL, &other, "x"), -EINVAL, "NULL handler rejected");
	CHECK_EQ(bus_register(&b, (enum bus_space)7, 0x500, 1, dev_handler, &other, "x"), -EINVAL, "bad space rejected");
	CHECK_EQ(bus_register(&b, BUS_MMIO, UINT64_MAX - 0xfff, 0x1001, dev_handler, &other, "x"), -EINVAL,
		 "MMIO wrap rejected");
	CHECK_EQ(bus_register(&b, BUS_MMIO, UINT64_MAX - 0xfff, 0x1000, dev_handler, &other, "topmmio"), 0,
		 "MMIO range ending at 2^64 accepted");
	CHECK_EQ(bus_register(&b, BUS_MMIO, 0x3f8, 8, dev_handler, &other, "mmio"), 0,
		 "same address in the other space is independent");
	CHECK_EQ(bus_nranges(&b, BUS_PIO), 4, "four PIO ranges");
	CHECK_EQ(bus_nranges(&b, BUS_MMIO), 2, "two MMIO ranges");

	/* Dispatch. */
	v = 0xabcd;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3fb, 1, true, &v), 0, "claimed write");
	CHECK_EQ(uart.calls, 1, "handler called once");
	CHECK_EQ(uart.last_off, 3, "offset is from the range base");
	CHECK_EQ(uart.last_val, 0xcd, "written value truncated to the access size");
	CHECK(uart.last_write, "is_write passed");
	CHECK_EQ(v, 0xabcd, "caller's value untouched on write");
	v = 0;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 2, false, &v), 0, "claimed read");
	CHECK_EQ(v, 0xcdef, "read value truncated to the access size");
	CHECK_EQ(uart.last_size, 2, "size passed");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3fc, 4, false, &v), 0, "4-byte read ending at range end");
	CHECK_EQ(v, 0x90abcdef, "4-byte value");

	/* Unclaimed accesses. */
	uint64_t before = bus_unclaimed(&b, BUS_PIO);
	v = 0;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x60, 1, false, &v), BUS_UNCLAIMED, "unclaimed byte read");
	CHECK_EQ(v, 0xff, "unclaimed byte reads 0xff");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x60, 2, false, &v), BUS_UNCLAIMED, "unclaimed word read");
	CHECK_EQ(v, 0xffff, "unclaimed word reads 0xffff");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x60, 4, false, &v), BUS_UNCLAIMED, "unclaimed dword read");
	CHECK_EQ(v, 0xffffffff, "unclaimed dword reads all ones");
	unsigned calls = uart.calls;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3fe, 4, false, &v), BUS_UNCLAIMED, "access straddling the end");
	CHECK_EQ(v, 0xffffffff, "straddling read is all ones");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f7, 2, true, &v), BUS_UNCLAIMED, "access straddling two ranges");
	CHECK_EQ(uart.calls, calls, "straddling accesses do not reach the handler");
	v = 1;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x61, 1, true, &v), BUS_UNCLAIMED, "unclaimed write dropped");
	CHECK_EQ(bus_unclaimed(&b, BUS_PIO) - before, 6, "unclaimed PIO accesses counted");
	CHECK_EQ(bus_unclaimed(&b, BUS_MMIO), 0, "MMIO counter separate");
	CHECK_EQ(bus_access(&b, BUS_MMIO, 0x1000, 8, false, &v), BUS_UNCLAIMED, "unclaimed MMIO qword");
	CHECK_EQ(v, UINT64_MAX, "unclaimed qword reads all ones");
	CHECK_EQ(bus_access(&b, BUS_MMIO, UINT64_MAX, 8, false, &v), BUS_UNCLAIMED,
		 "qword at the last address straddles 2^64: unclaimed");
	CHECK_EQ(bus_access(&b, BUS_MMIO, UINT64_MAX - 7, 8, false, &v), 0, "last qword is claimed");
	CHECK_EQ(bus_unclaimed(&b, BUS_MMIO), 2, "MMIO unclaimed counted");

	/* Argument checks. */
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 8, false, &v), -EINVAL, "8-byte port access rejected");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 3, false, &v), -EINVAL, "3-byte access rejected");
	CHECK_EQ(bus_access(&b, BUS_MMIO, 0x3f8, 0, false, &v), -EINVAL, "0-byte access rejected");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x10000, 1, false, &v), -EINVAL, "port >= 0x10000 rejected");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 1, false, NULL), -EINVAL, "NULL value rejected");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0xffff, 2, false, &v), BUS_UNCLAIMED,
		 "word at the last port straddles: unclaimed");

	/* Handler errors. */
	uart.ret = -EIO;
	v = 0;
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 1, false, &v), -EIO, "handler error returned");
	CHECK_EQ(v, 0xff, "failed read yields all ones");
	uart.ret = 0;

	/* Trace. */
	struct trace_log tl = {0};
	bus_set_trace(&b, trace_fn, &tl);
	v = 0x41;
	bus_access(&b, BUS_PIO, 0x3f8, 1, true, &v);
	CHECK_EQ(tl.n, 1, "trace called for a claimed access");
	CHECK(tl.claimed && strcmp(tl.name, "com1") == 0, "trace names the claiming range");
	CHECK(tl.is_write && tl.val == 0x41 && tl.addr == 0x3f8 && tl.size == 1, "trace fields");
	bus_access(&b, BUS_PIO, 0x70, 1, false, &v);
	CHECK_EQ(tl.n, 2, "trace called for an unclaimed access");
	CHECK(!tl.claimed && strcmp(tl.name, "(null)") == 0, "unclaimed trace has no name");
	CHECK_EQ(tl.val, 0xff, "trace sees the all-ones value read");
	bus_access(&b, BUS_MMIO, 0x3f8, 4, false, &v);
	CHECK(tl.space == BUS_MMIO && strcmp(tl.name, "mmio") == 0, "trace space");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 3, false, &v), -EINVAL, "bad access...");
	CHECK_EQ(tl.n, 3, "...is not traced");
	bus_set_trace(&b, NULL, NULL);
	bus_access(&b, BUS_PIO, 0x70, 1, false, &v);
	CHECK_EQ(tl.n, 3, "trace removed");

	/* Long names are truncated, not overflowed. */
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x500, 1, dev_handler, &other,
			      "a-very-long-device-name-that-goes-on-and-on-and-on"), 0, "long name accepted");
	bus_set_trace(&b, trace_fn, &tl);
	bus_access(&b, BUS_PIO, 0x500, 1, false, &v);
	CHECK_EQ(strlen(tl.name), BUS_NAME_MAX - 1, "long name truncated");
	bus_set_trace(&b, NULL, NULL);

	/* Unregister. */
	CHECK_EQ(bus_unregister(&b, BUS_PIO, 0x3f9), -ENOENT, "unregister needs the exact base");
	CHECK_EQ(bus_unregister(&b, BUS_PIO, 0x3f8), 0, "unregister COM1");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f8, 1, false, &v), BUS_UNCLAIMED, "unregistered range is unclaimed");
	CHECK_EQ(bus_access(&b, BUS_PIO, 0x3f0, 1, false, &v), 0, "neighbour still claimed");
	CHECK_EQ(bus_register(&b, BUS_PIO, 0x3f8, 8, dev_handler, &uart, "com1"), 0, "re-register after unregister");
	bus_destroy(&b);

	/* Many ranges registered out of order: binary search finds each. */
	struct bus big;
	CHECK_EQ(bus_init(&big), 0, "second bus");
	enum { N = 1000 };
	static unsigned order[N];
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	srand(1);
	for (unsigned i = N - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	int regerr = 0;
	for (unsigned i = 0; i < N; i++) {
		unsigned k = order[i];
		regerr |= bus_register(&big, BUS_MMIO, 0x100000ULL * k, 0x10 + k, idx_handler,
				       (void *)(uintptr_t)k, "r");
	}
	CHECK_EQ(regerr, 0, "1000 ranges registered in random order");
	unsigned wrong = 0;
	for (unsigned k = 0; k < N; k++) {
		uint64_t r = 0;
		if (bus_access(&big, BUS_MMIO, 0x100000ULL * k + 5, 4, false, &r) != 0 ||
		    r != (uint64_t)k * 1000 + 5)
			wrong++;
		if (bus_access(&big, BUS_MMIO, 0x100000ULL * k + 0x10 + k, 1, false, &r) != BUS_UNCLAIMED)
			wrong++;
	}
	CHECK_EQ(wrong, 0, "every range dispatches to its own handler, gaps are unclaimed");
	bus_destroy(&big);

	/* Concurrent accesses from several threads. */
	struct bus mt;
	CHECK_EQ(bus_init(&mt), 0, "third bus");
	bus_register(&mt, BUS_PIO, 0x100, 8, idx_handler, (void *)(uintptr_t)1, "mt");
	enum { NT = 4, IT = 20000 };
	pthread_t th[NT];
	struct thr_arg args[NT];
	for (unsigned i = 0; i < NT; i++) {
		args[i] = (struct thr_arg){.b = &mt, .iters = IT};
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	unsigned bad = 0;
	for (unsigned i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		bad += args[i].bad;
	}
	CHECK_EQ(bad, 0, "concurrent accesses all dispatched correctly");
	CHECK_EQ(bus_unclaimed(&mt, BUS_PIO), (uint64_t)NT * IT, "atomic unclaimed counter exact");
	bus_destroy(&mt);

	return tap_done();
}
