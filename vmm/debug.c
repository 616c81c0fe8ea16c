/* debug.c: libvmm's debug support (include/vmm/vmm_debug.h): holding every
 * vCPU out of the guest for a debugger and letting each go on as it says,
 * KVM_SET_GUEST_DEBUG before each vCPU's next entry, the debug exits, and
 * registers and memory by guest virtual address (vmm/x86_debug.c walks the
 * page tables). The hold works as memslots.c's: a flag every vCPU looks at
 * before it enters the guest, and a kick (vcpu_notify) for those inside;
 * here the vCPUs also park on their own wake-up futex, so that they serve
 * rendezvous while held and are counted when they are all parked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/vm_priv.h"
#include "vmm/vmm_debug.h"
#include "vmm/x86_debug.h"

/* Field legend: (c) vm_debug_enable; (D) d->mtx; (a) atomic; (o) the owner
 * vCPU's thread. Lock order: d->mtx -> vm->rv_mtx -> vm->lock; d->mtx is
 * never taken under another libvmm lock. */
struct vm_debug {
	const struct vm_debug_ops *ops; /* (c) */
	void *ctx;                      /* (c) */
	pthread_mutex_t mtx;            /* guards (D) */
	uint32_t hold_all;              /* (a) 1: every vCPU parks before it enters the guest */
	bool armed;                     /* (D) a stop waits for every vCPU to park */
	bool stopped;                   /* (D) all_stopped was called; no resume since */
	bool sw;                        /* (D) intercept #BP */
	uint64_t dr[4], dr7;            /* (D) */
	uint32_t gen;                   /* (a) bumped when sw, dr or dr7 change */
	uint8_t *run;                   /* (a) [ncpus] enum vm_debug_run */
	bool *parked;                   /* (D) [ncpus] the vCPU's thread is parked */
	uint32_t *applied_gen;          /* (o) [ncpus] gen at the last KVM_SET_GUEST_DEBUG */
	bool *stepping;                 /* (o) [ncpus] KVM_DBG_STEP is set in KVM */
	bool *applied;                  /* (o) [ncpus] KVM_SET_GUEST_DEBUG was called */
};

int vm_debug_enable(struct vm *vm, const struct vm_debug_ops *ops, void *ctx)
{
	if (vm->dbg)
		return -EBUSY;
	struct vm_debug *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	uint32_t n = vm->ncpus;
	pthread_mutex_init(&d->mtx, NULL);
	d->ops = ops;
	d->ctx = ctx;
	d->run = calloc(n, sizeof(*d->run));
	d->parked = calloc(n, sizeof(*d->parked));
	d->applied_gen = calloc(n, sizeof(*d->applied_gen));
	d->stepping = calloc(n, sizeof(*d->stepping));
	d->applied = calloc(n, sizeof(*d->applied));
	if (!d->run || !d->parked || !d->applied_gen || !d->stepping || !d->applied) {
		vm->dbg = d;
		vm_debug_free(vm);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		d->run[i] = VM_DEBUG_CONTINUE;
	vm->dbg = d;
	vm->dbg_fini = vm_debug_free;
	return 0;
}

void vm_debug_free(struct vm *vm)
{
	struct vm_debug *d = vm->dbg;
	if (!d)
		return;
	pthread_mutex_destroy(&d->mtx);
	free(d->run);
	free(d->parked);
	free(d->applied_gen);
	free(d->stepping);
	free(d->applied);
	free(d);
	vm->dbg = NULL;
}

static bool held(struct vm_debug *d, uint32_t id)
{
	return __atomic_load_n(&d->hold_all, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&d->run[id], __ATOMIC_SEQ_CST) == VM_DEBUG_STAY;
}

bool vcpu_debug_held(struct vcpu *v)
{
	return v->vm->dbg && held(v->vm->dbg, v->id);
}

/* d->mtx held: every vCPU with a thread inside vm_run() is parked. */
static bool all_parked(struct vm *vm, struct vm_debug *d)
{
	bool all = true;
	pthread_mutex_lock(&vm->rv_mtx);
	pthread_mutex_lock(&vm->lock);
	for (uint32_t i = 0; i < vm->ncpus && all; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (v && v->attached && !d->parked[i])
			all = false;
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&vm->rv_mtx);
	return all;
}

/* d->mtx held: the stop is complete when armed and every vCPU parked; true
 * when the caller must call all_stopped (after unlocking). */
static bool stop_complete(struct vm *vm, struct vm_debug *d)
{
	if (!d->armed || !all_parked(vm, d))
		return false;
	d->armed = false;
	d->stopped = true;
	return true;
}

static void notify_all(struct vm *vm)
{
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm_vcpu_lookup(vm, i);
		if (v)
			vcpu_notify(v);
	}
}

void vm_debug_stop(struct vm *vm)
{
	struct vm_debug *d = vm->dbg;
	if (!d)
		return;
	pthread_mutex_lock(&d->mtx);
	if (d->armed || d->stopped) {
		pthread_mutex_unlock(&d->mtx);
		return;
	}
	__atomic_store_n(&d->hold_all, 1, __ATOMIC_SEQ_CST);
	d->armed = true;
	bool fire = stop_complete(vm, d);
	pthread_mutex_unlock(&d->mtx);
	if (fire)
		d->ops->all_stopped(d->ctx);
	else
		notify_all(vm); /* out of KVM_RUN, out of HLT: each parks in vcpu_debug_gate() */
}

bool vm_debug_stopped(struct vm *vm)
{
	struct vm_debug *d = vm->dbg;
	if (!d)
		return false;
	pthread_mutex_lock(&d->mtx);
	bool s = d->stopped;
	pthread_mutex_unlock(&d->mtx);
	return s;
}

int vm_debug_set_run(struct vm *vm, uint32_t id, enum vm_debug_run how)
{
	struct vm_debug *d = vm->dbg;
	if (!d || id >= vm->ncpus || how > VM_DEBUG_STEP_ONE)
		return -EINVAL;
	__atomic_store_n(&d->run[id], (uint8_t)how, __ATOMIC_SEQ_CST);
	return 0;
}

void vm_debug_resume(struct vm *vm)
{
	struct vm_debug *d = vm->dbg;
	if (!d)
		return;
	pthread_mutex_lock(&d->mtx);
	d->stopped = false;
	d->armed = false;
	__atomic_store_n(&d->hold_all, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&d->mtx);
	notify_all(vm);
}

int vm_debug_set_breakpoints(struct vm *vm, bool sw, const uint64_t dr[4], uint64_t dr7)
{
	struct vm_debug *d = vm->dbg;
	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&d->mtx);
	d->sw = sw;
	memcpy(d->dr, dr, sizeof(d->dr));
	d->dr7 = dr7;
	__atomic_add_fetch(&d->gen, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&d->mtx);
	return 0;
}

/* Owner: parked until the hold ends for this vCPU or the VM ends. It serves
 * rendezvous meanwhile, as wait_runnable() does. */
static void park(struct vcpu *v, struct vm_debug *d)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&d->mtx);
	d->parked[v->id] = true;
	bool fire = stop_complete(vm, d);
	pthread_mutex_unlock(&d->mtx);
	if (fire)
		d->ops->all_stopped(d->ctx);
	pthread_mutex_lock(&v->mtx);
	v->in_wait = true; /* vcpu_notify: wake us, no kick (we look again before entering) */
	while (vm_suspended(vm) == VM_SUSPEND_NONE && held(d, v->id)) {
		if (v->rv_pending) {
			v->in_wait = false;
			pthread_mutex_unlock(&v->mtx);
			vm_rendezvous_serve(v);
			pthread_mutex_lock(&v->mtx);
			v->in_wait = true;
			continue;
		}
		vcpu_wait_locked(v);
	}
	v->in_wait = false;
	pthread_mutex_unlock(&v->mtx);
	pthread_mutex_lock(&d->mtx);
	d->parked[v->id] = false;
	pthread_mutex_unlock(&d->mtx);
}

int vcpu_debug_gate(struct vcpu *v)
{
	struct vm_debug *d = v->vm->dbg;
	if (held(d, v->id)) {
		park(v, d);
		return 1;
	}
	bool step = __atomic_load_n(&d->run[v->id], __ATOMIC_SEQ_CST) == VM_DEBUG_STEP_ONE;
	uint32_t gen = __atomic_load_n(&d->gen, __ATOMIC_SEQ_CST);
	if (d->applied[v->id] && gen == d->applied_gen[v->id] && step == d->stepping[v->id])
		return 0;
	pthread_mutex_lock(&d->mtx);
	uint64_t dr[4], dr7 = d->dr7;
	memcpy(dr, d->dr, sizeof(dr));
	unsigned flags = (d->sw ? KVM_DBG_SW : 0) | ((dr7 & 0xff) ? KVM_DBG_HW : 0) | (step ? KVM_DBG_STEP : 0);
	gen = d->gen;
	pthread_mutex_unlock(&d->mtx);
	int r = kvm_set_guest_debug(v->fd, flags, dr, dr7);
	if (r < 0)
		return r;
	d->applied[v->id] = true;
	d->applied_gen[v->id] = gen;
	d->stepping[v->id] = step;
	return 0;
}

bool vcpu_debug_exit(struct vcpu *v, unsigned vector, uint64_t dr6, uint64_t pc, struct vm_exit *ex)
{
	struct vm_debug *d = v->vm->dbg;
	uint64_t dr[4] = {0}, dr7 = 0;
	if (d) {
		pthread_mutex_lock(&d->mtx);
		memcpy(dr, d->dr, sizeof(dr));
		dr7 = d->dr7;
		pthread_mutex_unlock(&d->mtx);
	}
	unsigned which = 0;
	enum x86_dbg_cause c = x86_dbg_classify(vector, dr6, dr7, d && d->stepping[v->id], &which);
	if (!d || c == X86_DBG_OTHER) {
		/* Not the debugger's (the guest's own TF or breakpoint): the guest's
		 * #DB. XXX its DR6 is what KVM keeps for the guest, not this one. */
		(void)kvm_inject_exception(v->fd, vector == 3 ? 3 : 1);
		return false;
	}
	static const uint32_t kind[] = {[X86_DBG_SWBREAK] = VM_DEBUG_SWBREAK, [X86_DBG_HWBREAK] = VM_DEBUG_HWBREAK,
					[X86_DBG_WATCH] = VM_DEBUG_WATCH, [X86_DBG_STEP] = VM_DEBUG_STEP};
	ex->exitcode = VM_EXITCODE_DEBUG;
	ex->u.debug.kind = kind[c];
	ex->u.debug.dr = which;
	ex->u.debug.pc = pc;
	ex->u.debug.addr = (c == X86_DBG_HWBREAK || c == X86_DBG_WATCH) ? dr[which] : 0;
	ex->u.debug.dr6 = dr6;
	return true;
}

bool vcpu_debug_pvm_insn(struct vcpu *v, const uint8_t *bytes, size_t n, struct vm_exit *ex)
{
	struct vm_debug *d = v->vm->dbg;
	struct x86_regs r;
	struct x86_sregs s;
	pthread_mutex_lock(&d->mtx);
	bool sw = d->sw;
	pthread_mutex_unlock(&d->mtx);
	if (!sw || kvm_get_regs(v->fd, &r) < 0 || kvm_get_sregs(v->fd, &s) < 0)
		return false;
	uint64_t pc = s.cs.base + r.rip;
	if (!((s.efer & (1u << 10)) && s.cs.l))
		pc &= 0xffffffffu; /* outside 64-bit mode linear addresses are 32 bits */
	const uint8_t *p = bytes && n ? bytes : vcpu_guest_la(v, pc, 1);
	if (!p || *p != 0xcc)
		return false;
	return vcpu_debug_exit(v, 3, 0, pc, ex);
}

int vm_debug_inject_bp(struct vcpu *v)
{
	/* KVM-PVM: the int3 was never executed (an emulation failure, RIP still
	 * on it): hyve completes it as it does without a debugger (vcpu_pvm.c). */
	if (v->vm->pvm)
		return vcpu_complete_insn(v, (const uint8_t[]){0xcc}, 1) ? 0 : -EFAULT;
	return kvm_inject_exception(v->fd, 3);
}

/* --- registers and memory, while stopped --- */

static struct vcpu *stopped_vcpu(struct vm *vm, uint32_t id, int *err)
{
	*err = -EINVAL;
	if (!vm->dbg || id >= vm->ncpus)
		return NULL;
	if (!vm_debug_stopped(vm)) {
		*err = -EBUSY;
		return NULL;
	}
	return vm_vcpu_lookup(vm, id);
}

int vm_debug_get_regs(struct vm *vm, uint32_t id, struct vm_debug_regs *r)
{
	int e;
	struct vcpu *v = stopped_vcpu(vm, id, &e);
	if (!v)
		return e;
	struct x86_regs g;
	struct x86_sregs s;
	struct x86_fpu f;
	if ((e = kvm_get_regs(v->fd, &g)) < 0 || (e = kvm_get_sregs(v->fd, &s)) < 0 || (e = kvm_get_fpu(v->fd, &f)) < 0)
		return e;
	memset(r, 0, sizeof(*r));
	memcpy(r->gpr, g.gpr, sizeof(r->gpr));
	r->rip = g.rip;
	r->rflags = g.rflags;
	const struct vm_segment *seg[6] = {&s.cs, &s.ss, &s.ds, &s.es, &s.fs, &s.gs};
	for (int i = 0; i < 6; i++)
		r->sel[i] = seg[i]->selector;
	r->fs_base = s.fs.base;
	r->gs_base = s.gs.base;
	r->cr0 = s.cr0;
	r->cr2 = s.cr2;
	r->cr3 = s.cr3;
	r->cr4 = s.cr4;
	r->efer = s.efer;
	for (int i = 0; i < 8; i++)
		memcpy(r->st[i], f.fpr[i], 10);
	r->fcw = f.fcw;
	r->fsw = f.fsw;
	r->ftw = f.ftwx;
	r->fop = f.last_opcode;
	r->fip = f.last_ip;
	r->fdp = f.last_dp;
	memcpy(r->xmm, f.xmm, sizeof(r->xmm));
	r->mxcsr = f.mxcsr;
	return 0;
}

int vm_debug_set_regs(struct vm *vm, uint32_t id, const struct vm_debug_regs *r)
{
	int e;
	struct vcpu *v = stopped_vcpu(vm, id, &e);
	if (!v)
		return e;
	struct x86_regs g;
	struct x86_fpu f;
	if ((e = kvm_get_fpu(v->fd, &f)) < 0)
		return e;
	memcpy(g.gpr, r->gpr, sizeof(g.gpr));
	g.rip = r->rip;
	g.rflags = r->rflags;
	for (int i = 0; i < 8; i++)
		memcpy(f.fpr[i], r->st[i], 10);
	f.fcw = r->fcw;
	f.fsw = r->fsw;
	f.ftwx = r->ftw;
	f.last_opcode = r->fop;
	f.last_ip = r->fip;
	f.last_dp = r->fdp;
	memcpy(f.xmm, r->xmm, sizeof(f.xmm));
	f.mxcsr = r->mxcsr;
	if ((e = kvm_set_regs(v->fd, &g)) < 0)
		return e;
	return kvm_set_fpu(v->fd, &f);
}

static int pt_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *val)
{
	const struct guest_mem *m = ctx;
	const uint8_t *p = gmem_ptr(m, gpa, size);
	if (!p)
		return -EFAULT;
	*val = 0;
	memcpy(val, p, size);
	return 0;
}

static int access_mem(struct vm *vm, uint32_t id, uint64_t va, uint8_t *buf, size_t n, bool write)
{
	int e;
	struct vcpu *v = stopped_vcpu(vm, id, &e);
	if (!v)
		return e;
	struct x86_sregs s;
	if ((e = kvm_get_sregs(v->fd, &s)) < 0)
		return e;
	struct x86_paging pg = {.cr0 = s.cr0, .cr3 = s.cr3, .cr4 = s.cr4, .efer = s.efer};
	size_t done = 0;
	while (done < n && done < INT32_MAX) {
		uint64_t gpa, page, a = va + done;
		if (x86_translate(&pg, a, pt_read, &vm->mem, &gpa, &page) < 0)
			break;
		size_t k = (size_t)(page - (a & (page - 1)));
		if (k > n - done)
			k = n - done;
		uint8_t *p = gmem_ptr(&vm->mem, gpa, k);
		if (!p)
			break; /* not RAM (or RAM ends inside): stop there */
		if (write)
			memcpy(p, buf + done, k);
		else
			memcpy(buf + done, p, k);
		done += k;
	}
	return done ? (int)done : -EFAULT;
}

int vm_debug_read(struct vm *vm, uint32_t id, uint64_t va, void *buf, size_t n)
{
	return access_mem(vm, id, va, buf, n, false);
}

int vm_debug_write(struct vm *vm, uint32_t id, uint64_t va, const void *buf, size_t n)
{
	return access_mem(vm, id, va, (uint8_t *)(uintptr_t)buf, n, true);
}
