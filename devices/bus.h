/* bus.h: checked registry of port-I/O and MMIO ranges, and the one dispatch path to them.
 *
 * Modelled on kvmtool's ioport/mmio registry: every range is checked at
 * registration (no zero length, no wrap-around, no overlap), ranges live in a
 * sorted array per space and are found by binary search. Accesses nobody
 * claims read as all ones and drop writes, exactly like an ISA/PCI bus with
 * nothing decoding the address; they are counted per space and, like every
 * access, reported to an optional trace hook (the frontend's --trace=io).
 *
 * Threading: a bus is read-mostly. Registration normally happens before any
 * vCPU runs, but is safe at any time: bus_access() holds the bus's read lock
 * while it looks a range up, calls its handler and calls the trace hook, and
 * bus_register/bus_unregister/bus_set_trace take the write lock. So many
 * vCPU threads dispatch concurrently, and once bus_unregister() has returned
 * no call into that range's handler is running or will start. The bus never
 * serialises handlers against each other: each device guards its own state
 * (every model with mutable state has its own mutex). Handlers and the trace hook
 * must not call bus_register, bus_unregister, bus_set_trace or bus_destroy
 * (they would deadlock on the write lock); calling bus_access is allowed.
 * The lock prefers readers, so a writer waits for a gap in the accesses:
 * stop the vCPUs before tearing a machine down.
 *
 * Field legend: (i) set by bus_init/bus_set_trace, (w) changed only with
 * `lock` held for writing, read with it held for reading, (a) atomic.
 */
#ifndef DEVICES_BUS_H
#define DEVICES_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The two address spaces of an x86 machine. */
enum bus_space {
	BUS_PIO = 0,  /* 16-bit I/O ports: addresses 0..0xffff, accesses of 1, 2 or 4 bytes */
	BUS_MMIO = 1, /* 64-bit guest-physical addresses, accesses of 1, 2, 4 or 8 bytes */
	BUS_NSPACES
};

#define BUS_PIO_LIMIT 0x10000ULL /* first port number past the I/O space */
#define BUS_NAME_MAX 32          /* range names are copied and truncated to 31 chars */

/* bus_access() result for an access no range claimed (it still completed). */
#define BUS_UNCLAIMED 1

/* A device handler. offset is from the range's base; size is 1, 2, 4 or 8
 * and the access lies wholly inside the range. On a write *val holds the
 * value, already truncated to size bytes; on a read the handler stores the
 * value in *val (the bus truncates it to size bytes; *val is 0 on entry).
 * Returns 0, or -errno if the device refuses the access: bus_access() then
 * returns that error and a read yields all ones. Called with the bus read
 * lock held and no other lock; the handler serialises on its own lock. */
typedef int bus_handler_fn(void *opaque, uint64_t offset, unsigned size, bool is_write,
			   uint64_t *val);

/* Defines NAME, the bus handler of a device whose registers are bytes:
 * READ(dev, offset) returns one, WRITE(dev, offset, byte) writes one; a wider
 * access reaches the low byte only (8-bit ISA decoding). TYPE is the device. */
#define BUS_BYTE_REGS_HANDLER(NAME, TYPE, READ, WRITE)                                    \
	int NAME(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val) \
	{                                                                                  \
		TYPE *dev_ = opaque;                                                       \
		(void)size;                                                                \
		if (is_write)                                                              \
			WRITE(dev_, (unsigned)offset, (uint8_t)*val);                      \
		else                                                                       \
			*val = READ(dev_, (unsigned)offset);                               \
		return 0;                                                                  \
	}

/* The same for a device that takes the access size itself: READ(dev, offset,
 * size) and WRITE(dev, offset, size, value), the value as VTYPE. */
#define BUS_SIZED_REGS_HANDLER(NAME, TYPE, VTYPE, READ, WRITE)                            \
	int NAME(void *opaque, uint64_t offset, unsigned size, bool is_write, uint64_t *val) \
	{                                                                                  \
		TYPE *dev_ = opaque;                                                       \
		if (is_write)                                                              \
			WRITE(dev_, (unsigned)offset, size, (VTYPE)*val);                  \
		else                                                                       \
			*val = READ(dev_, (unsigned)offset, size);                         \
		return 0;                                                                  \
	}

/* The trace hook: called once per bus_access() that passed argument checks,
 * after the handler ran. val is the value written, or the value the guest
 * reads (all ones when unclaimed). claimed is false for an unclaimed access
 * (including one straddling a range's end); name is the claiming range's name,
 * or NULL when unclaimed, and is valid only during the call. Called with the
 * bus read lock held, possibly from many vCPU threads at once. */
typedef void bus_trace_fn(void *ctx, enum bus_space space, uint64_t addr, unsigned size,
			  bool is_write, uint64_t val, bool claimed, const char *name);

struct bus_range {
	uint64_t base;              /* (w) first address */
	uint64_t len;               /* (w) > 0; base + len - 1 does not wrap */
	bus_handler_fn *handler;    /* (w) */
	void *opaque;               /* (w) passed to handler */
	char name[BUS_NAME_MAX];    /* (w) NUL-terminated copy */
};

struct bus_table {
	struct bus_range *r;        /* (w) sorted by base, non-overlapping; malloc'd */
	size_t n;                   /* (w) ranges in use */
	size_t cap;                 /* (w) ranges allocated */
	_Atomic uint64_t unclaimed; /* (a) accesses no range claimed */
};

struct bus {
	pthread_rwlock_t lock;             /* (i) see "Threading" above */
	struct bus_table t[BUS_NSPACES];   /* (w) */
	bus_trace_fn *trace;               /* (w) NULL: no tracing */
	void *trace_ctx;                   /* (w) */
};

/* Initialises an empty bus. 0, or -errno if the lock cannot be created. */
int bus_init(struct bus *b);

/* Frees every table. No access may be in progress or start afterwards;
 * handlers' opaque data is not touched (it belongs to the devices). */
void bus_destroy(struct bus *b);

/* Claims [base, base + len) in space for handler(opaque). name (may be NULL)
 * is copied. Returns 0; -EINVAL for a bad space, a NULL handler, len 0, a
 * range that wraps past 2^64 or, in BUS_PIO, extends past port 0xffff;
 * -EEXIST if any address of it is already claimed; -ENOMEM. */
int bus_register(struct bus *b, enum bus_space space, uint64_t base, uint64_t len,
		 bus_handler_fn *handler, void *opaque, const char *name);

/* Releases the range that starts exactly at base. 0, -EINVAL for a bad
 * space, or -ENOENT if no range starts there. On return no call into its
 * handler is running. */
int bus_unregister(struct bus *b, enum bus_space space, uint64_t base);

/* Dispatches one guest access at addr of size bytes. On a write *val is the
 * value (only its low size bytes are used, *val is not modified); on a read
 * the result is stored in *val, zero-extended from size bytes. An access that
 * is not wholly inside one range (no range, or one straddling a range's end)
 * is unclaimed: a read yields all ones of the access size, a write is
 * dropped, the space's unclaimed counter is incremented.
 * Returns 0 if a range claimed it and its handler succeeded, BUS_UNCLAIMED
 * if it was unclaimed, the handler's -errno if it refused (a read then yields
 * all ones), or -EINVAL for a bad space, size (PIO: 1, 2, 4; MMIO: 1, 2, 4, 8),
 * NULL val, or a port address >= BUS_PIO_LIMIT (nothing is dispatched then). */
int bus_access(struct bus *b, enum bus_space space, uint64_t addr, unsigned size,
	       bool is_write, uint64_t *val);

/* Installs (fn != NULL) or removes (fn == NULL) the trace hook. */
void bus_set_trace(struct bus *b, bus_trace_fn *fn, void *ctx);

/* Unclaimed accesses seen so far in space (0 for a bad space). */
uint64_t bus_unclaimed(struct bus *b, enum bus_space space);

/* Number of ranges registered in space (0 for a bad space). */
size_t bus_nranges(struct bus *b, enum bus_space space);

#endif
