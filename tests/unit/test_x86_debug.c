/* test_x86_debug.c: the guest page-table walker (paging off, 32-bit with 4
 * KiB, 4 MiB and PSE-36 pages, PAE with 4 KiB and 2 MiB pages, 4-level with
 * 4 KiB, 2 MiB and 1 GiB pages, 5-level; not-present entries, non-canonical
 * addresses, reserved PDPTE bits, a table outside RAM) and the decoding of
 * a debug exception (vector, DR6, DR7) into what stopped the vCPU. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/x86_debug.h"

#define RAM (1u << 20) /* 1 MiB of fake guest physical memory for the tables */
static uint8_t ram[RAM];
static unsigned reads;

static int rd(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)ctx;
	reads++;
	if (gpa > RAM - size)
		return -EFAULT;
	*val = 0;
	memcpy(val, ram + gpa, size);
	return 0;
}

static void put32(uint64_t gpa, uint32_t v) { memcpy(ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }

static int tr(const struct x86_paging *p, uint64_t la, uint64_t *gpa, uint64_t *page)
{
	return x86_translate(p, la, rd, NULL, gpa, page);
}

#define CR0_PG (1ull << 31)
#define CR0_PE 1ull
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define EFER_LME (1ull << 8)

int main(void)
{
	uint64_t gpa = 0, page = 0;
	int r;

	/* Paging off: identity, 32 bits. */
	struct x86_paging off = {.cr0 = CR0_PE};
	reads = 0;
	CHECK(tr(&off, 0x123456, &gpa, &page) == 0 && gpa == 0x123456 && page == 4096, "paging off: identity");
	CHECK(tr(&off, 0x100000000ull + 5, &gpa, &page) == 0 && gpa == 5, "paging off: the address is 32 bits");
	CHECK_EQ(reads, 0, "paging off reads no table");

	/* 32-bit paging: PD at 0x1000, PT at 0x2000. */
	memset(ram, 0, sizeof(ram));
	struct x86_paging p32 = {.cr0 = CR0_PE | CR0_PG, .cr3 = 0x1000};
	put32(0x1000 + 4 * (0xc0001000u >> 22), 0x2000 | 3);       /* PDE 0x300 -> PT */
	put32(0x2000 + 4 * ((0xc0001000u >> 12) & 0x3ff), 0x7000 | 1); /* PTE -> page 0x7000 */
	r = tr(&p32, 0xc0001234, &gpa, &page);
	CHECK(r == 0 && gpa == 0x7234 && page == 4096, "32-bit: 4 KiB page (r=%d gpa=%llx)", r, (unsigned long long)gpa);
	CHECK_EQ(tr(&p32, 0xc0002000, &gpa, &page), -EFAULT, "32-bit: a PTE that is not present");
	CHECK_EQ(tr(&p32, 0x00400000, &gpa, &page), -EFAULT, "32-bit: a PDE that is not present");
	/* 4 MiB page with PSE-36 bits (PDE[20:13] -> address bits 39:32). */
	put32(0x1000 + 4 * 1, 0x00c00000u | (0x05u << 13) | 0x81);
	CHECK_EQ(tr(&p32, 0x00401234, &gpa, &page), -EFAULT, "32-bit: PS without CR4.PSE is a table pointer (not present below)");
	p32.cr4 = CR4_PSE;
	r = tr(&p32, 0x00412345, &gpa, &page);
	CHECK(r == 0 && gpa == 0x500c12345ull && page == (4u << 20), "32-bit: 4 MiB PSE-36 page (gpa=%llx)", (unsigned long long)gpa);
	CHECK(tr(&p32, 0x1c0001234ull, &gpa, &page) == 0 && gpa == 0x7234, "32-bit: linear addresses are 32 bits");

	/* PAE: PDPT at 0x3020 (32-byte aligned), PD at 0x4000, PT at 0x5000. */
	memset(ram, 0, sizeof(ram));
	struct x86_paging pae = {.cr0 = CR0_PE | CR0_PG, .cr4 = CR4_PAE, .cr3 = 0x3020};
	put64(0x3020 + 8 * 3, 0x4000 | 1);                     /* PDPTE 3 (0xc0000000-) */
	put64(0x4000 + 8 * 1, 0x5000 | 3);                     /* PDE 1 -> PT */
	put64(0x5000 + 8 * 2, 0x8000000000009000ull | 3);      /* PTE 2, NX set */
	r = tr(&pae, 0xc0202abc, &gpa, &page);
	CHECK(r == 0 && gpa == 0x9abc && page == 4096, "PAE: 4 KiB page, NX ignored (gpa=%llx)", (unsigned long long)gpa);
	put64(0x4000 + 8 * 2, 0x12345600000ull | 0x83 | (1ull << 12)); /* 2 MiB page, PAT bit set */
	r = tr(&pae, 0xc0412345, &gpa, &page);
	CHECK(r == 0 && gpa == 0x12345612345ull && page == (2u << 20), "PAE: 2 MiB page, PAT bit not in the address (gpa=%llx)",
	      (unsigned long long)gpa);
	CHECK_EQ(tr(&pae, 0x00001000, &gpa, &page), -EFAULT, "PAE: a PDPTE that is not present");
	put64(0x3020, 0x4000 | 1 | 2); /* R/W is reserved in a PAE PDPTE */
	CHECK_EQ(tr(&pae, 0x00001000, &gpa, &page), -EFAULT, "PAE: a PDPTE with reserved bits");

	/* 4-level: PML4 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000. */
	memset(ram, 0, sizeof(ram));
	struct x86_paging p4 = {.cr0 = CR0_PE | CR0_PG, .cr4 = CR4_PAE, .efer = EFER_LME | EFER_LMA, .cr3 = 0x10000};
	uint64_t la = 0xffffffff81234567ull; /* a Linux kernel text address */
	put64(0x10000 + 8 * ((la >> 39) & 0x1ff), 0x11000 | 3);
	put64(0x11000 + 8 * ((la >> 30) & 0x1ff), 0x12000 | 3);
	put64(0x12000 + 8 * ((la >> 21) & 0x1ff), 0x13000 | 3);
	put64(0x13000 + 8 * ((la >> 12) & 0x1ff), 0x1234000 | 3);
	r = tr(&p4, la, &gpa, &page);
	CHECK(r == 0 && gpa == 0x1234567 && page == 4096, "4-level: 4 KiB page (gpa=%llx)", (unsigned long long)gpa);
	put64(0x12000 + 8 * ((la >> 21) & 0x1ff), 0x40000000ull | 0x83);
	r = tr(&p4, la, &gpa, &page);
	CHECK(r == 0 && gpa == 0x40034567 && page == (2u << 20), "4-level: 2 MiB page (gpa=%llx)", (unsigned long long)gpa);
	put64(0x11000 + 8 * ((la >> 30) & 0x1ff), 0x80000000ull | 0x83);
	r = tr(&p4, la, &gpa, &page);
	CHECK(r == 0 && gpa == 0x81234567ull && page == (1u << 30), "4-level: 1 GiB page (gpa=%llx)", (unsigned long long)gpa);
	CHECK_EQ(tr(&p4, 0x0000800000000000ull, &gpa, &page), -EFAULT, "4-level: a non-canonical address");
	CHECK_EQ(tr(&p4, 0x1000, &gpa, &page), -EFAULT, "4-level: a PML4E that is not present");
	put64(0x10000, 0x200000000ull | 1); /* PDPT outside the fake RAM */
	CHECK_EQ(tr(&p4, 0x1000, &gpa, &page), -EFAULT, "4-level: a table outside RAM is the reader's error");

	/* 5-level: one more level from bit 48; 0x0000800000000000 is canonical there. */
	memset(ram, 0, sizeof(ram));
	struct x86_paging p5 = p4;
	p5.cr4 |= CR4_LA57;
	la = 0x0000800000001000ull;
	put64(0x10000 + 8 * ((la >> 48) & 0x1ff), 0x11000 | 3);
	put64(0x11000 + 8 * ((la >> 39) & 0x1ff), 0x12000 | 3);
	put64(0x12000 + 8 * ((la >> 30) & 0x1ff), 0x13000 | 3);
	put64(0x13000 + 8 * ((la >> 21) & 0x1ff), 0x14000 | 3);
	put64(0x14000 + 8 * ((la >> 12) & 0x1ff), 0x5000 | 3);
	r = tr(&p5, la + 0x10, &gpa, &page);
	CHECK(r == 0 && gpa == 0x5010, "5-level: 4 KiB page (gpa=%llx)", (unsigned long long)gpa);
	CHECK_EQ(tr(&p5, 0x0100000000000000ull, &gpa, &page), -EFAULT, "5-level: a non-canonical address");

	/* Debug exceptions (SDM 17.3.1). DR7: DR0 exec (L0), DR1 write len 4 (L1), DR2 rw (G2). */
	uint64_t dr7 = 0x1 | 0x4 | 0x20 | (0ull << 16) | (0xdull << 20) | (0x3ull << 24);
	unsigned dr = 9;
	CHECK_EQ(x86_dbg_classify(3, 0, 0, false, &dr), X86_DBG_SWBREAK, "#BP is a software breakpoint");
	CHECK(x86_dbg_classify(1, 0xffff0ff1, dr7, false, &dr) == X86_DBG_HWBREAK && dr == 0, "B0 on an exec DR: hw breakpoint");
	CHECK(x86_dbg_classify(1, 0xffff0ff2, dr7, false, &dr) == X86_DBG_WATCH && dr == 1, "B1 on a write DR: watchpoint");
	CHECK(x86_dbg_classify(1, 0xffff0ff4, dr7, false, &dr) == X86_DBG_WATCH && dr == 2, "B2 on a rw DR: watchpoint");
	CHECK_EQ(x86_dbg_classify(1, 0xffff0ff8, dr7, false, &dr), X86_DBG_OTHER, "B3 on a disabled DR: not ours");
	CHECK_EQ(x86_dbg_classify(1, 0xffff4ff0, dr7, true, &dr), X86_DBG_STEP, "BS while stepping: a step");
	CHECK_EQ(x86_dbg_classify(1, 0xffff4ff0, dr7, false, &dr), X86_DBG_OTHER, "BS without a step asked: the guest's own TF");
	CHECK(x86_dbg_classify(1, 0xffff4ff2, dr7, true, &dr) == X86_DBG_WATCH && dr == 1, "a step that wrote a watched address: watchpoint");
	return tap_done();
}
