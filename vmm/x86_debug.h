/* x86_debug.h: the pure half of libvmm's debug support (private, libc only):
 * the guest page-table walker that turns a guest virtual (linear) address
 * into a guest physical one, and the reading of a debug exception's DR6 /
 * vector into what stopped the vCPU. No KVM here: tests/unit/test_x86_debug
 * runs both over fake page tables and DR values.
 *
 * References: Intel SDM Vol. 3A 4.3 (32-bit paging), 4.4 (PAE paging), 4.5
 * (4-level and 5-level paging), 17.2.3 (DR6), 17.2.4 (DR7), 17.3 (debug
 * exceptions: #DB vector 1, #BP vector 3).
 */
#ifndef VMM_X86_DEBUG_H
#define VMM_X86_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

/* The control registers that select the paging mode (SDM 4.1.1, table 4-1). */
struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* Reads one paging-structure entry (size 4 or 8 bytes) at guest physical
 * address gpa into *val; 0, or -EFAULT when gpa is not RAM. */
typedef int x86_pt_read_fn(void *ctx, uint64_t gpa, unsigned size, uint64_t *val);

/* Translates linear address la. Paging off (CR0.PG = 0): identity (32-bit
 * address). 32-bit paging (4 KiB and, with CR4.PSE, 4 MiB pages incl.
 * PSE-36), PAE (4 KiB, 2 MiB) and 4-/5-level paging (4 KiB, 2 MiB, 1 GiB).
 * Access rights (R/W, U/S, NX) are not checked: a debugger reads and writes
 * what the guest kernel could. Returns 0 with *gpa and *page (the size of the
 * page that maps la, so [la, end of that page) is contiguous), -EFAULT when
 * la is not mapped (an entry not present, a non-canonical address, a
 * reserved PDPTE), or the reader's error. */
int x86_translate(const struct x86_paging *p, uint64_t la, x86_pt_read_fn *rd, void *ctx, uint64_t *gpa,
		  uint64_t *page);

/* What a debug exception means (SDM 17.3.1 table 17-2). */
enum x86_dbg_cause {
	X86_DBG_SWBREAK = 0, /* #BP: an int3 */
	X86_DBG_HWBREAK,     /* #DB fault: an instruction breakpoint in DR0-DR3 (R/W = 00) */
	X86_DBG_WATCH,       /* #DB trap: a data breakpoint (R/W = 01 write, 11 read/write) */
	X86_DBG_STEP,        /* #DB trap: single step (DR6.BS) */
	X86_DBG_OTHER,       /* a #DB that none of the debugger's settings explain */
};

#define X86_DR6_BS (1u << 14) /* single step (SDM 17.2.3) */
#define X86_DR7_RW(dr7, i) (((dr7) >> (16 + 4 * (i))) & 3u) /* 00 exec, 01 write, 10 I/O, 11 rw */
#define X86_DR7_LEN(dr7, i) (((dr7) >> (18 + 4 * (i))) & 3u)  /* 00 1, 01 2, 11 4, 10 8 bytes */
#define X86_DR7_ENABLED(dr7, i) (((dr7) >> (2 * (i))) & 3u)   /* L or G */

/* vector: 1 or 3; dr6 as reported; dr7: the debugger's DR7; stepping: the
 * debugger asked this vCPU to single-step. *dr: the DR that hit (HWBREAK,
 * WATCH). A data breakpoint outranks a step that ended on the same
 * instruction (GDB wants to know about the write). */
enum x86_dbg_cause x86_dbg_classify(unsigned vector, uint64_t dr6, uint64_t dr7, bool stepping, unsigned *dr);

#endif
