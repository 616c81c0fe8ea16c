/* pci.c: PCI host bridge, configuration mechanism #1, ECAM and BAR decoding (devices/pci.h). */
#include <errno.h>
#include <string.h>

#include "devices/pci.h"

static void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void st32(uint8_t *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* PCI 6.2.5.1: memory BARs are at least 16 bytes, I/O BARs 4 to 256. */
static bool bar_ok(const struct pci_func_desc *d, unsigned b)
{
	const struct pci_bar_desc *bar = &d->bar[b];
	if (!bar->size)
		return true;
	if (!pow2(bar->size) || !bar->handler)
		return false;
	if (bar->flags & PCI_BAR_IO)
		return bar->size >= 4 && bar->size <= 256 && !(bar->flags & ~PCI_BAR_IO);
	if (bar->flags & ~(PCI_BAR_MEM64 | PCI_BAR_PREFETCH) || bar->size < 16)
		return false;
	if (bar->flags & PCI_BAR_MEM64)
		return b + 1 < PCI_NBARS && !d->bar[b + 1].size; /* the upper half takes the next slot */
	return bar->size <= (1ULL << 31);
}

/* The header of a type 0 function (PCI 6.1) and its writable bits. */
static void func_reset(struct pci_func *f)
{
	const struct pci_func_desc *d = f->d;
	memset(f->cfg, 0, sizeof(f->cfg));
	memset(f->wmask, 0, sizeof(f->wmask));
	st16(f->cfg + PCI_VENDOR_ID, d->vendor);
	st16(f->cfg + PCI_DEVICE_ID, d->device);
	f->cfg[PCI_REVISION_ID] = d->revision;
	f->cfg[PCI_CLASS_PROG] = (uint8_t)d->class_code;
	st16(f->cfg + PCI_CLASS_PROG + 1, (uint16_t)(d->class_code >> 8));
	f->cfg[PCI_HEADER_TYPE] = d->header_type;
	st16(f->cfg + PCI_SUBSYSTEM_VENDOR_ID, d->subsys_vendor);
	st16(f->cfg + PCI_SUBSYSTEM_ID, d->subsys);
	f->cfg[PCI_INTERRUPT_PIN] = d->int_pin;
	st16(f->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
					     PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	f->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	f->wmask[PCI_LATENCY_TIMER] = 0xff;
	f->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (unsigned b = 0; b < PCI_NBARS; b++) {
		const struct pci_bar_desc *bar = &d->bar[b];
		if (!bar->size)
			continue;
		uint8_t *c = f->cfg + PCI_BAR0 + 4 * b, *w = f->wmask + PCI_BAR0 + 4 * b;
		c[0] = bar->flags; /* the type bits are read-only */
		st32(w, (uint32_t)~(bar->size - 1) & ((bar->flags & PCI_BAR_IO) ? ~3u : ~15u));
		if (bar->flags & PCI_BAR_MEM64)
			st32(w + 4, (uint32_t)(~(bar->size - 1) >> 32));
	}
}

int pci_init(struct pci_host *h, const struct pci_func_desc *table, void *const *opaque, unsigned n,
	     bus_handler_fn *rcr, void *rcr_opaque)
{
	memset(h, 0, sizeof(*h));
	if (n > PCI_MAX_FUNCS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct pci_func_desc *d = &table[i];
		if (d->slot > 31 || d->func > 7 || d->int_pin > 4 || (d->header_type & 0x7f))
			return -EINVAL;
		for (unsigned b = 0; b < PCI_NBARS; b++)
			if (!bar_ok(d, b))
				return -EINVAL;
		bool fn0_multi = d->func == 0;
		for (unsigned j = 0; j < n; j++) {
			if (j != i && table[j].slot == d->slot && table[j].func == d->func)
				return -EINVAL;
			if (d->func && table[j].slot == d->slot && table[j].func == 0 && (table[j].header_type & 0x80))
				fn0_multi = true;
		}
		if (!fn0_multi) /* PCI 6.2.1: functions 1-7 exist only behind a multi-function 0 */
			return -EINVAL;
		h->fn[i].d = d;
		h->fn[i].opaque = opaque ? opaque[i] : NULL;
		func_reset(&h->fn[i]);
	}
	h->nfn = n;
	h->rcr = rcr;
	h->rcr_opaque = rcr_opaque;
	return -pthread_mutex_init(&h->lock, NULL);
}

void pci_destroy(struct pci_host *h)
{
	pthread_mutex_destroy(&h->lock);
}

static struct pci_func *find(struct pci_host *h, unsigned bus, unsigned slot, unsigned func)
{
	if (bus != 0)
		return NULL;
	for (unsigned i = 0; i < h->nfn; i++)
		if (h->fn[i].d->slot == slot && h->fn[i].d->func == func)
			return &h->fn[i];
	return NULL;
}

static uint32_t ones(unsigned size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/* reg and size as the access gave them; the lock is held. */
static uint32_t cfg_read_locked(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg,
				unsigned size)
{
	struct pci_func *f = find(h, bus, slot, func);
	if (!f || reg + size > PCI_CFG_SIZE)
		return ones(size);
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)f->cfg[reg + i] << (8 * i);
	return v;
}

static void cfg_write_locked(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg,
			     unsigned size, uint32_t val)
{
	struct pci_func *f = find(h, bus, slot, func);
	if (!f || reg + size > PCI_CFG_SIZE)
		return;
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i)), w = f->wmask[reg + i];
		f->cfg[reg + i] = (uint8_t)((f->cfg[reg + i] & ~w) | (b & w));
	}
}

static bool size_ok(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && reg < 4096 && reg + size <= 4096;
}

uint32_t pci_cfg_read(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg, unsigned size)
{
	if (!size_ok(reg, size))
		return ones(size);
	pthread_mutex_lock(&h->lock);
	uint32_t v = cfg_read_locked(h, bus, slot, func, reg, size);
	pthread_mutex_unlock(&h->lock);
	return v;
}

void pci_cfg_write(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg, unsigned size,
		   uint32_t val)
{
	if (!size_ok(reg, size))
		return;
	pthread_mutex_lock(&h->lock);
	cfg_write_locked(h, bus, slot, func, reg, size, val);
	pthread_mutex_unlock(&h->lock);
}

/* BAR b's base now, or 0 when not decoded; the lock is held. */
static uint64_t bar_base_locked(const struct pci_func *f, unsigned b)
{
	const struct pci_bar_desc *bar = &f->d->bar[b];
	if (!bar->size)
		return 0;
	uint16_t cmd = (uint16_t)(f->cfg[PCI_COMMAND] | f->cfg[PCI_COMMAND + 1] << 8);
	const uint8_t *c = f->cfg + PCI_BAR0 + 4 * b;
	if (bar->flags & PCI_BAR_IO)
		return (cmd & PCI_COMMAND_IO) ? ld32(c) & ~3u : 0;
	if (!(cmd & PCI_COMMAND_MEMORY))
		return 0;
	uint64_t base = ld32(c) & ~15u;
	if (bar->flags & PCI_BAR_MEM64)
		base |= (uint64_t)ld32(c + 4) << 32;
	return base;
}

uint64_t pci_bar_base(struct pci_host *h, unsigned i, unsigned bar)
{
	if (i >= h->nfn || bar >= PCI_NBARS)
		return 0;
	pthread_mutex_lock(&h->lock);
	uint64_t base = bar_base_locked(&h->fn[i], bar);
	pthread_mutex_unlock(&h->lock);
	return base;
}

int pci_conf1_pio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val)
{
	struct pci_host *h = opaque;
	if (offset >= 4) { /* CONFIG_DATA: the register CONFIG_ADDRESS names, plus the byte offset */
		unsigned byte = (unsigned)offset - 4;
		pthread_mutex_lock(&h->lock);
		uint32_t a = h->conf1_addr;
		unsigned bus = (a >> 16) & 0xff, slot = (a >> 11) & 31, func = (a >> 8) & 7, reg = (a & 0xfc) + byte;
		if (!(a & 0x80000000u)) {
			if (!wr)
				*val = ones(size); /* mechanism disabled: the data port decodes nothing */
		} else if (wr) {
			cfg_write_locked(h, bus, slot, func, reg, size, (uint32_t)*val);
		} else {
			*val = cfg_read_locked(h, bus, slot, func, reg, size);
		}
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if (offset == 0 && size == 4) { /* CONFIG_ADDRESS: only a 32-bit access (PCI 3.2.2.3.2) */
		pthread_mutex_lock(&h->lock);
		if (wr)
			h->conf1_addr = (uint32_t)*val & ~3u;
		else
			*val = h->conf1_addr;
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if (offset == PCI_RCR_OFF && size == 1 && h->rcr)
		return h->rcr(h->rcr_opaque, 0, 1, wr, val);
	if (!wr)
		*val = ones(size); /* 0xCF8-0xCFB below 32 bits: plain I/O nobody decodes */
	return 0;
}

int pci_ecam_mmio(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val)
{
	struct pci_host *h = opaque;
	unsigned bus = (unsigned)(offset >> 20), slot = (offset >> 15) & 31, func = (offset >> 12) & 7;
	unsigned reg = offset & 0xfff;
	if (size > 4 || !size_ok(reg, size)) { /* ECAM takes up to 32 bits inside one function */
		if (!wr)
			*val = size >= 8 ? UINT64_MAX : ones(size);
		return 0;
	}
	if (wr)
		pci_cfg_write(h, bus, slot, func, reg, size, (uint32_t)*val);
	else
		*val = pci_cfg_read(h, bus, slot, func, reg, size);
	return 0;
}

/* The BAR of the given kind that holds addr: its handler, opaque and offset. */
static bool bar_lookup(struct pci_host *h, bool io, uint64_t addr, unsigned size, bus_handler_fn **fn,
		       void **opaque, uint64_t *off)
{
	bool found = false;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->nfn && !found; i++) {
		for (unsigned b = 0; b < PCI_NBARS && !found; b++) {
			const struct pci_bar_desc *bar = &h->fn[i].d->bar[b];
			if (!bar->size || !!(bar->flags & PCI_BAR_IO) != io)
				continue;
			uint64_t base = bar_base_locked(&h->fn[i], b);
			if (base && addr >= base && addr - base + size <= bar->size) {
				*fn = bar->handler;
				*opaque = h->fn[i].opaque;
				*off = addr - base;
				found = true;
			}
		}
	}
	pthread_mutex_unlock(&h->lock);
	return found;
}

static int window_access(struct pci_host *h, bool io, uint64_t addr, unsigned size, bool wr, uint64_t *val)
{
	bus_handler_fn *fn;
	void *opaque;
	uint64_t off;
	if (bar_lookup(h, io, addr, size, &fn, &opaque, &off))
		return fn(opaque, off, size, wr, val);
	if (!wr)
		*val = size >= 8 ? UINT64_MAX : ones(size);
	return 0;
}

int pci_mmio_window(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val)
{
	return window_access(opaque, false, PCI_MMIO_WINDOW_BASE + offset, size, wr, val);
}

int pci_io_window(void *opaque, uint64_t offset, unsigned size, bool wr, uint64_t *val)
{
	return window_access(opaque, true, PCI_IO_WINDOW_BASE + offset, size, wr, val);
}
