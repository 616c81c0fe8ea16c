/* x86_debug.c: guest page-table walker and debug-exception decoding (x86_debug.h). */
#include <errno.h>

#include "vmm/x86_debug.h"

#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define PTE_P (1ull << 0)
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12: MAXPHYADDR at most 52 (SDM 4.5.4) */

/* One level: reads the entry at table + index * size. */
static int entry(x86_pt_read_fn *rd, void *ctx, uint64_t table, uint64_t index, unsigned size, uint64_t *e)
{
	int r = rd(ctx, table + index * size, size, e);
	if (r < 0)
		return r;
	return (*e & PTE_P) ? 0 : -EFAULT;
}

/* A large page of 2^shift bytes: base from the entry (bits 51:shift; bit 12,
 * PAT, lies below a large page's base), offset from la. */
static void large(uint64_t e, uint64_t la, unsigned shift, uint64_t *gpa, uint64_t *page)
{
	uint64_t size = 1ull << shift;
	*gpa = (e & ADDR_MASK & ~(size - 1)) | (la & (size - 1));
	*page = size;
}

/* 32-bit paging (SDM 4.3): a page directory of 1024 4-byte entries at
 * CR3[31:12]; a PDE with PS (and CR4.PSE) maps 4 MiB, whose base is
 * PDE[31:22] with PSE-36's bits 39:32 in PDE[20:13] (table 4-4). */
static int walk32(const struct x86_paging *p, uint32_t la, x86_pt_read_fn *rd, void *ctx, uint64_t *gpa,
		  uint64_t *page)
{
	uint64_t pde, pte;
	int r = entry(rd, ctx, p->cr3 & 0xfffff000u, la >> 22, 4, &pde);
	if (r < 0)
		return r;
	if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) {
		*gpa = (pde & 0xffc00000u) | (((pde >> 13) & 0xffu) << 32) | (la & 0x3fffffu);
		*page = 4u << 20;
		return 0;
	}
	if ((r = entry(rd, ctx, pde & 0xfffff000u, (la >> 12) & 0x3ff, 4, &pte)) < 0)
		return r;
	*gpa = (pte & 0xfffff000u) | (la & 0xfffu);
	*page = 4096;
	return 0;
}

/* PAE (SDM 4.4): four PDPTEs at CR3[31:5], then 512-entry tables of 8 bytes. */
static int walk_pae(const struct x86_paging *p, uint32_t la, x86_pt_read_fn *rd, void *ctx, uint64_t *gpa,
		    uint64_t *page)
{
	uint64_t pdpte, pde, pte;
	int r = entry(rd, ctx, p->cr3 & 0xffffffe0u, la >> 30, 8, &pdpte);
	if (r < 0)
		return r;
	if (pdpte & 0x1e6) /* reserved bits of a PDPTE (4.4.1): a load of CR3 would have faulted */
		return -EFAULT;
	if ((r = entry(rd, ctx, pdpte & ADDR_MASK, (la >> 21) & 0x1ff, 8, &pde)) < 0)
		return r;
	if (pde & PTE_PS) {
		large(pde, la, 21, gpa, page);
		return 0;
	}
	if ((r = entry(rd, ctx, pde & ADDR_MASK, (la >> 12) & 0x1ff, 8, &pte)) < 0)
		return r;
	*gpa = (pte & ADDR_MASK) | (la & 0xfffu);
	*page = 4096;
	return 0;
}

/* 4-level and 5-level paging (SDM 4.5): 9 bits per level from bit 47 (or 56)
 * down; PS in a PDPTE maps 1 GiB, in a PDE 2 MiB. */
static int walk_long(const struct x86_paging *p, uint64_t la, x86_pt_read_fn *rd, void *ctx, uint64_t *gpa,
		     uint64_t *page)
{
	unsigned levels = (p->cr4 & CR4_LA57) ? 5 : 4;
	unsigned top = 12 + 9 * levels; /* 48 or 57 linear-address bits */
	int64_t sx = (int64_t)(la << (64 - top)) >> (64 - top);
	if ((uint64_t)sx != la) /* not canonical (SDM 3.3.7.1) */
		return -EFAULT;
	uint64_t table = p->cr3 & ADDR_MASK, e;
	for (unsigned lvl = levels; lvl >= 1; lvl--) {
		unsigned shift = 12 + 9 * (lvl - 1);
		int r = entry(rd, ctx, table, (la >> shift) & 0x1ff, 8, &e);
		if (r < 0)
			return r;
		if (lvl == 1 || ((lvl == 2 || lvl == 3) && (e & PTE_PS))) {
			large(e, la, shift, gpa, page);
			return 0;
		}
		table = e & ADDR_MASK;
	}
	return -EFAULT; /* not reached */
}

int x86_translate(const struct x86_paging *p, uint64_t la, x86_pt_read_fn *rd, void *ctx, uint64_t *gpa,
		  uint64_t *page)
{
	if (!(p->cr0 & CR0_PG)) {
		*gpa = la & 0xffffffffu; /* paging off: linear addresses are 32 bits (SDM 4.1.1) */
		*page = 4096;
		return 0;
	}
	if (p->efer & EFER_LMA)
		return walk_long(p, la, rd, ctx, gpa, page);
	if (p->cr4 & CR4_PAE)
		return walk_pae(p, (uint32_t)la, rd, ctx, gpa, page);
	return walk32(p, (uint32_t)la, rd, ctx, gpa, page);
}

enum x86_dbg_cause x86_dbg_classify(unsigned vector, uint64_t dr6, uint64_t dr7, bool stepping, unsigned *dr)
{
	if (vector == 3)
		return X86_DBG_SWBREAK;
	/* B0-B3 may be set for a breakpoint condition that DR7 does not enable
	 * (SDM 17.2.3): only enabled ones count. */
	enum x86_dbg_cause best = X86_DBG_OTHER;
	for (unsigned i = 0; i < 4; i++) {
		if (!((dr6 >> i) & 1) || !X86_DR7_ENABLED(dr7, i))
			continue;
		unsigned rw = X86_DR7_RW(dr7, i);
		if (rw == 1 || rw == 3) {
			*dr = i;
			return X86_DBG_WATCH;
		}
		if (rw == 0 && best == X86_DBG_OTHER) {
			*dr = i;
			best = X86_DBG_HWBREAK;
		}
	}
	if (best != X86_DBG_OTHER)
		return best;
	if ((dr6 & X86_DR6_BS) && stepping)
		return X86_DBG_STEP;
	return X86_DBG_OTHER;
}
