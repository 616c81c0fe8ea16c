/* gdb_target.c: the GDB stub's target ops over libvmm's debug support
 * (frontend/gdb_target.h, include/vmm/vmm_debug.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "frontend/gdb_target.h"
#include "frontend/machine.h"

#define INT3 0xcc
#define DR7_ON(dr7, i) (((dr7) >> (2 * (i))) & 3u) /* L<i> or G<i> (SDM 17.2.4) */

static unsigned t_threads(void *ctx, uint32_t *ids, unsigned max)
{
	struct gdb_target *t = ctx;
	struct machine *m = t->m;
	unsigned n = 0;
	pthread_mutex_lock(&m->threads_lock);
	for (uint32_t i = 0; i < m->opt->cpus && n < max; i++)
		if (m->has_thread[i])
			ids[n++] = i;
	pthread_mutex_unlock(&m->threads_lock);
	return n;
}

/* The full x87 tag word from FXSAVE's abridged one (SDM Vol. 1 8.1.7,
 * 10.5.1.1): 11 empty; else 00 valid, 01 zero, 10 special, by the value in
 * the physical register (ST(i) is physical register (TOP + i) mod 8). */
static uint32_t full_tag(const struct vm_debug_regs *r)
{
	unsigned top = (r->fsw >> 11) & 7, tag = 0;
	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned t = 3;
		if ((r->ftw >> phys) & 1) {
			const uint8_t *v = r->st[(phys - top) & 7];
			unsigned exp = (v[9] & 0x7fu) << 8 | v[8];
			uint64_t mant;
			memcpy(&mant, v, 8);
			if (exp == 0x7fff)
				t = 2;
			else if (exp == 0)
				t = mant ? 2 : 1;
			else
				t = (mant >> 63) ? 0 : 2;
		}
		tag |= t << (2 * phys);
	}
	return tag;
}

static int t_get_regs(void *ctx, uint32_t vcpu, struct gdb_regs *g)
{
	struct gdb_target *t = ctx;
	struct vm_debug_regs r;
	int e = vm_debug_get_regs(t->m->vm, vcpu, &r);
	if (e < 0)
		return e;
	memset(g, 0, sizeof(*g));
	memcpy(g->gpr, r.gpr, sizeof(g->gpr));
	g->rip = r.rip;
	g->eflags = (uint32_t)r.rflags;
	for (int i = 0; i < 6; i++)
		g->seg[i] = r.sel[i];
	memcpy(g->st, r.st, sizeof(g->st));
	g->fctrl = r.fcw;
	g->fstat = r.fsw;
	g->ftag = full_tag(&r);
	g->fioff = (uint32_t)r.fip;
	g->fiseg = (uint32_t)(r.fip >> 32) & 0xffff; /* FXSAVE's 32-bit format: FCS above FIP */
	g->fooff = (uint32_t)r.fdp;
	g->foseg = (uint32_t)(r.fdp >> 32) & 0xffff;
	g->fop = r.fop;
	memcpy(g->xmm, r.xmm, sizeof(g->xmm));
	g->mxcsr = r.mxcsr;
	g->fs_base = r.fs_base;
	g->gs_base = r.gs_base;
	return 0;
}

/* Writes what KVM lets a debugger write: general registers, RIP, RFLAGS,
 * x87 and SSE. XXX selectors and segment bases are kept (a write to them
 * would need the descriptor loaded from the guest's GDT). */
static int t_set_regs(void *ctx, uint32_t vcpu, const struct gdb_regs *g)
{
	struct gdb_target *t = ctx;
	struct vm_debug_regs r;
	int e = vm_debug_get_regs(t->m->vm, vcpu, &r);
	if (e < 0)
		return e;
	memcpy(r.gpr, g->gpr, sizeof(r.gpr));
	r.rip = g->rip;
	r.rflags = (r.rflags & ~0xffffffffull) | g->eflags;
	memcpy(r.st, g->st, sizeof(r.st));
	r.fcw = (uint16_t)g->fctrl;
	r.fsw = (uint16_t)g->fstat;
	r.ftw = 0;
	for (unsigned i = 0; i < 8; i++)
		if (((g->ftag >> (2 * i)) & 3) != 3)
			r.ftw |= (uint8_t)(1u << i);
	r.fop = (uint16_t)g->fop;
	r.fip = g->fioff | (uint64_t)(g->fiseg & 0xffff) << 32;
	r.fdp = g->fooff | (uint64_t)(g->foseg & 0xffff) << 32;
	memcpy(r.xmm, g->xmm, sizeof(r.xmm));
	r.mxcsr = g->mxcsr;
	return vm_debug_set_regs(t->m->vm, vcpu, &r);
}

/* Memory as GDB should see it: the original bytes where our int3s are. */
static int t_read_mem(void *ctx, uint32_t vcpu, uint64_t addr, uint8_t *buf, size_t n)
{
	struct gdb_target *t = ctx;
	int got = vm_debug_read(t->m->vm, vcpu, addr, buf, n);
	if (got <= 0)
		return got;
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nsw; i++)
		if (t->sw[i].addr - addr < (uint64_t)got)
			buf[t->sw[i].addr - addr] = t->sw[i].orig;
	pthread_mutex_unlock(&t->lock);
	return got;
}

/* A write over one of our int3s changes the byte to restore, not the int3. */
static int t_write_mem(void *ctx, uint32_t vcpu, uint64_t addr, const uint8_t *buf, size_t n)
{
	struct gdb_target *t = ctx;
	int r = vm_debug_write(t->m->vm, vcpu, addr, buf, n);
	if (r <= 0)
		return r;
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nsw; i++) {
		if (t->sw[i].addr - addr < (uint64_t)r) {
			uint8_t cc = INT3;
			t->sw[i].orig = buf[t->sw[i].addr - addr];
			(void)vm_debug_write(t->m->vm, vcpu, t->sw[i].addr, &cc, 1);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* lock held: libvmm gets the table's state (any int3 of ours, DR0-DR3). */
static int apply_locked(struct gdb_target *t)
{
	return vm_debug_set_breakpoints(t->m->vm, t->nsw > 0, t->dr, t->dr7);
}

/* lock held. Software breakpoints: int3 bytes through vCPU 0's paging (SDM
 * Vol. 2A "INT n/INTO/INT3/INT1"), the original kept to restore. */
static int sw_breakpoint(struct gdb_target *t, uint64_t addr, bool insert)
{
	struct vm *vm = t->m->vm;
	unsigned i = 0;
	while (i < t->nsw && t->sw[i].addr != addr)
		i++;
	if (!insert) {
		if (i == t->nsw)
			return 0;
		(void)vm_debug_write(vm, 0, addr, &t->sw[i].orig, 1);
		t->sw[i] = t->sw[--t->nsw];
		return 0;
	}
	if (i < t->nsw)
		return 0; /* already there */
	if (t->nsw == GDB_MAX_SWBP)
		return -ENOSPC;
	uint8_t orig, cc = INT3;
	if (vm_debug_read(vm, 0, addr, &orig, 1) != 1 || vm_debug_write(vm, 0, addr, &cc, 1) != 1)
		return -EFAULT;
	t->sw[t->nsw++] = (struct gdb_swbp){.addr = addr, .orig = orig};
	return 0;
}

/* lock held. DR0-DR3 with DR7 (SDM 17.2.4, 17.2.5): R/W 00 execute (LEN
 * 00), 01 write, 11 read or write; LEN 1, 2, 4 or 8 bytes at an address
 * aligned to it. x86 has no read-only data breakpoint. */
static int hw_breakpoint(struct gdb_target *t, enum gdb_bp_type type, uint64_t addr, unsigned len, bool insert)
{
	unsigned rw = type == GDB_BP_HW ? 0 : type == GDB_WP_WRITE ? 1 : type == GDB_WP_ACCESS ? 3 : 4;
	if (rw == 4)
		return -ENOTSUP;
	if (type == GDB_BP_HW)
		len = 1;
	unsigned lenbits = len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 3 : len == 8 ? 2 : 4;
	if (lenbits == 4 || (addr & (len - 1)))
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++) {
		bool used = DR7_ON(t->dr7, i);
		bool same = used && t->dr[i] == addr && t->dr_type[i] == type &&
			    ((t->dr7 >> (18 + 4 * i)) & 3) == lenbits;
		if (!insert && same) {
			t->dr7 &= ~((3ull << (2 * i)) | (0xfull << (16 + 4 * i)));
			t->dr[i] = 0;
			return 0;
		}
		if (insert && same)
			return 0;
	}
	if (!insert)
		return 0;
	for (unsigned i = 0; i < 4; i++) {
		if (DR7_ON(t->dr7, i))
			continue;
		t->dr[i] = addr;
		t->dr_type[i] = type;
		t->dr7 |= (2ull << (2 * i)) | ((uint64_t)(rw | lenbits << 2) << (16 + 4 * i)); /* G<i> */
		return 0;
	}
	return -ENOSPC;
}

static int t_breakpoint(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned len, bool insert)
{
	struct gdb_target *t = ctx;
	pthread_mutex_lock(&t->lock);
	int r = type == GDB_BP_SW ? sw_breakpoint(t, addr, insert) : hw_breakpoint(t, type, addr, len, insert);
	if (r == 0)
		r = apply_locked(t);
	pthread_mutex_unlock(&t->lock);
	return r;
}

static void t_resume(void *ctx, const uint32_t *ids, const enum gdb_action *act, unsigned n,
		     enum gdb_action others)
{
	struct gdb_target *t = ctx;
	struct vm *vm = t->m->vm;
	/* vCPUs GDB did not list (no thread yet: an AP a STARTUP brings up while
	 * GDB holds the rest) run only with vCont's default action c; a step is
	 * for named threads (RSP E.2 vCont). */
	for (uint32_t id = 0; id < t->m->opt->cpus; id++)
		vm_debug_set_run(vm, id, others == GDB_CONTINUE ? VM_DEBUG_CONTINUE : VM_DEBUG_STAY);
	for (unsigned i = 0; i < n; i++)
		vm_debug_set_run(vm, ids[i], act[i] == GDB_STEP ? VM_DEBUG_STEP_ONE
					     : act[i] == GDB_CONTINUE ? VM_DEBUG_CONTINUE : VM_DEBUG_STAY);
	pthread_mutex_lock(&t->lock);
	t->have_ev = false;
	t->waiting = true;
	pthread_mutex_unlock(&t->lock);
	vm_debug_resume(vm);
}

static void t_stop(void *ctx)
{
	struct gdb_target *t = ctx;
	pthread_mutex_lock(&t->lock);
	t->waiting = true;
	pthread_mutex_unlock(&t->lock);
	if (vm_debug_stopped(t->m->vm))
		gdb_target_all_stopped(t); /* already held (--gdb-wait, or a stop GDB did not see) */
	else
		vm_debug_stop(t->m->vm);
}

static void t_kill(void *ctx)
{
	struct gdb_target *t = ctx;
	machine_set_exit_status(t->m, HYVE_EXIT_QUIT);
	machine_end(t->m, VM_SUSPEND_EXIT);
}

/* D, or the connection closed: no int3 and no DR of ours stays; everything runs. */
static void t_detach(void *ctx)
{
	struct gdb_target *t = ctx;
	struct vm *vm = t->m->vm;
	/* The int3 bytes go only while every vCPU is held: a GDB that left while
	 * the guest ran (the connection closed) gets a stop first. */
	pthread_mutex_lock(&t->lock);
	t->waiting = false;
	pthread_mutex_unlock(&t->lock);
	vm_debug_stop(vm);
	for (int i = 0; i < 10000 && !vm_debug_stopped(vm) && vm_suspended(vm) == VM_SUSPEND_NONE; i++)
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL); /* bounded: 10 s */
	pthread_mutex_lock(&t->lock);
	bool stopped = vm_debug_stopped(vm);
	while (t->nsw && stopped)
		sw_breakpoint(t, t->sw[t->nsw - 1].addr, false);
	t->nsw = 0;
	t->dr7 = 0;
	memset(t->dr, 0, sizeof(t->dr));
	apply_locked(t);
	t->waiting = false;
	t->have_ev = false;
	pthread_mutex_unlock(&t->lock);
	for (uint32_t id = 0; id < t->m->opt->cpus; id++)
		vm_debug_set_run(vm, id, VM_DEBUG_CONTINUE);
	vm_debug_resume(vm);
}

const struct gdb_target_ops gdb_target_ops = {
	.threads = t_threads,
	.get_regs = t_get_regs,
	.set_regs = t_set_regs,
	.read_mem = t_read_mem,
	.write_mem = t_write_mem,
	.breakpoint = t_breakpoint,
	.resume = t_resume,
	.stop = t_stop,
	.kill = t_kill,
	.detach = t_detach,
};

void gdb_target_all_stopped(void *ctx)
{
	struct gdb_target *t = ctx;
	pthread_mutex_lock(&t->lock);
	bool report = t->session && t->waiting;
	struct gdb_stop st = t->have_ev ? t->ev : (struct gdb_stop){.reason = GDB_STOP_INTERRUPT, .vcpu = 0};
	if (report)
		t->waiting = false;
	pthread_mutex_unlock(&t->lock);
	if (report)
		gdb_stopped(&t->stub, &st);
}

void gdb_target_debug_exit(struct gdb_target *t, struct vcpu *v, const struct vm_exit *ex)
{
	struct gdb_stop st = {.vcpu = ex->vcpu};
	switch (ex->u.debug.kind) {
	case VM_DEBUG_SWBREAK: {
		pthread_mutex_lock(&t->lock);
		bool ours = false;
		for (unsigned i = 0; i < t->nsw && !ours; i++)
			ours = t->sw[i].addr == ex->u.debug.pc;
		pthread_mutex_unlock(&t->lock);
		if (!ours) {
			(void)vm_debug_inject_bp(v); /* the guest's own int3 */
			return;
		}
		st.reason = GDB_STOP_SWBREAK;
		break;
	}
	case VM_DEBUG_HWBREAK:
		st.reason = GDB_STOP_HWBREAK;
		break;
	case VM_DEBUG_WATCH:
		st.reason = GDB_STOP_WATCH;
		st.addr = ex->u.debug.addr;
		pthread_mutex_lock(&t->lock);
		st.wtype = t->dr_type[ex->u.debug.dr & 3];
		pthread_mutex_unlock(&t->lock);
		break;
	default:
		st.reason = GDB_STOP_STEP;
		break;
	}
	pthread_mutex_lock(&t->lock);
	if (!t->have_ev) { /* the first stop since the resume is the one GDB hears of */
		t->have_ev = true;
		t->ev = st;
	}
	pthread_mutex_unlock(&t->lock);
	vm_debug_stop(t->m->vm);
}
