/* vm.c: the VM object without KVM: construction (vm_create_detached; vm_kvm.c adds KVM), guest RAM,
 * lazy vCPU allocation, boot states, wake-ups, suspend, reports. */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/vm_priv.h"

static const char *const state_names[VCPU_NSTATES] = {
	[VCPU_POWERON] = "POWERON", [VCPU_WAIT_SIPI] = "WAIT_SIPI", [VCPU_CLAIMED] = "CLAIMED",
	[VCPU_RUNNING] = "RUNNING", [VCPU_HALTED] = "HALTED",       [VCPU_STOPPED] = "STOPPED",
};

const char *vcpu_state_name(enum vcpu_state s)
{
	return (unsigned)s < VCPU_NSTATES ? state_names[s] : "?";
}

const char *vcpu_state_spec_name(enum vcpu_state s)
{
	return vcpu_state_name(s == VCPU_CLAIMED ? VCPU_RUNNING : s);
}

/* allowed[from] is a bit mask of the states `from` may move to (vm_priv.h). */
static const uint8_t allowed[VCPU_NSTATES] = {
	[VCPU_POWERON] = 1u << VCPU_WAIT_SIPI | 1u << VCPU_RUNNING | 1u << VCPU_STOPPED,
	[VCPU_WAIT_SIPI] = 1u << VCPU_WAIT_SIPI | 1u << VCPU_CLAIMED | 1u << VCPU_STOPPED,
	[VCPU_CLAIMED] = 1u << VCPU_RUNNING | 1u << VCPU_WAIT_SIPI | 1u << VCPU_STOPPED,
	[VCPU_RUNNING] = 1u << VCPU_HALTED | 1u << VCPU_WAIT_SIPI | 1u << VCPU_STOPPED,
	[VCPU_HALTED] = 1u << VCPU_RUNNING | 1u << VCPU_WAIT_SIPI | 1u << VCPU_STOPPED,
	[VCPU_STOPPED] = 1u << VCPU_STOPPED,
};

static bool counts_running(enum vcpu_state s)
{
	return s == VCPU_CLAIMED || s == VCPU_RUNNING;
}

void vm_trace(struct vm *vm, const struct vm_trace_event *ev)
{
	if (vm->trace)
		vm->trace(vm->trace_ctx, ev);
}

int vcpu_set_state(struct vm *vm, uint32_t id, enum vcpu_state to)
{
	if (id >= vm->ncpus || (unsigned)to >= VCPU_NSTATES)
		return -EINVAL;
	struct vcpu_boot *b = &vm->boot[id];
	enum vcpu_state from = b->state;
	if (!(allowed[from] & (1u << to)))
		return -EINVAL;
	if (counts_running(from))
		vm->nrunning--;
	if (counts_running(to))
		vm->nrunning++;
	if (from == VCPU_HALTED && b->halt_noif) {
		vm->nhalted_noif--;
		b->halt_noif = 0;
	}
	if (to == VCPU_HALTED && from != VCPU_HALTED) {
		/* Only an NMI wakes it (wait_runnable): RFLAGS.IF at its last exit,
		 * read on the owner's thread, the one that halts it. */
		const struct vcpu *v = vm->vcpus ? vm->vcpus[id] : NULL;
		b->halt_noif = v && !v->if_flag;
		vm->nhalted_noif += b->halt_noif;
	}
	if (to == VCPU_RUNNING && (from == VCPU_POWERON || from == VCPU_CLAIMED) && !b->ran) {
		b->ran = 1;
		vm->nstarted++;
	}
	b->state = (uint8_t)to;
	if (vm->trace && from != to) {
		char what[32];
		snprintf(what, sizeof(what), "%s->%s", state_names[from], state_names[to]);
		struct vm_trace_event ev = {.kind = VM_TRACE_STATE, .vcpu = id, .what = what};
		vm->trace(vm->trace_ctx, &ev);
	}
	return 0;
}

void vcpu_require_state(struct vm *vm, uint32_t id, enum vcpu_state to)
{
	enum vcpu_state from = id < vm->ncpus ? (enum vcpu_state)vm->boot[id].state : VCPU_NSTATES;
	if (vcpu_set_state(vm, id, to) == 0)
		return;
	fprintf(stderr, "libvmm: vCPU %u: state %s -> %s must not fail, but the state machine refused it\n",
		id, vcpu_state_name(from), vcpu_state_name(to));
	abort();
}

bool vcpu_started(struct vm *vm, uint32_t id)
{
	pthread_mutex_lock(&vm->lock);
	const struct vcpu_boot *b = &vm->boot[id];
	bool started = b->state == VCPU_RUNNING || b->state == VCPU_HALTED || (b->state == VCPU_STOPPED && b->ran);
	pthread_mutex_unlock(&vm->lock);
	return started;
}

/* A VM in which every started vCPU sits in HLT with IF=0 and no NMI can come
 * can never run again: end it instead of hanging (docs/exits.md, status 12). */
bool vm_all_halted(struct vm *vm)
{
	if (!vm->nstarted || vm->nrunning != 0 || vm->nhalted_noif == 0)
		return false;
	unsigned halted = 0;
	for (uint32_t i = 0; i < vm->ncpus; i++)
		halted += vm->boot[i].state == VCPU_HALTED;
	return halted == vm->nhalted_noif;
}

static void kick_handler(int sig)
{
	(void)sig; /* KVM_RUN returns -EINTR; immediate_exit was set before the signal */
}

static int install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return */
	return sigaction(SIGUSR1, &sa, NULL) ? -errno : 0;
}

int vm_init_common(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	int r;
	*out = NULL;
	snprintf(err, errlen, "out of memory");
	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAXCPU) {
		snprintf(err, errlen, "vCPU count %u is outside 1..%d", cfg->ncpus, VM_MAXCPU);
		return -EINVAL;
	}
	if (!cfg->x2apic && cfg->ncpus > XAPIC_MAX_CPUS) {
		snprintf(err, errlen, "%u vCPUs need x2APIC (xAPIC IDs stop at %d)", cfg->ncpus,
			 XAPIC_MAX_CPUS - 1);
		return -EINVAL;
	}
	if (cfg->mem_size < (1u << 20) || (cfg->mem_size & 0xfff)) {
		snprintf(err, errlen, "memory size %llu is not a multiple of 4 KiB of at least 1 MiB",
			 (unsigned long long)cfg->mem_size);
		return -EINVAL;
	}
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->ncpus = cfg->ncpus;
	vm->x2apic = cfg->x2apic;
	vm->phys_bits = 36; /* until the backend reads CPUID leaf 0x80000008 */
	vm->trace = cfg->trace;
	vm->trace_ctx = cfg->trace_ctx;
	vm->pid = getpid();
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->create_mtx, NULL);
	pthread_mutex_init(&vm->rv_mtx, NULL);
	pthread_mutex_init(&vm->slot_mtx, NULL);
	pthread_cond_init(&vm->slot_cond, NULL);
	pthread_cond_init(&vm->rv_cond, NULL);
	cpuset_fill(&vm->configured, vm->ncpus);
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	vm->boot = calloc(vm->ncpus, sizeof(*vm->boot));
	vm->addrs = calloc(vm->ncpus, sizeof(*vm->addrs));
	if (!vm->vcpus || !vm->boot || !vm->addrs) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		/* Power-on addressing state (SDM 10.4.7.1), until the vlapic exists. */
		vm->addrs[i] = (struct apic_addr){.id = i, .ldr = 0, .dfr = 0xffffffffu};
		vm->boot[i].state = VCPU_POWERON;
		vm->boot[i].drop_state = VCPU_NSTATES;
	}
	if ((r = install_kick_handler()) < 0) {
		snprintf(err, errlen, "sigaction: %s", strerror(-r));
		goto fail;
	}
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}

int vm_init_platform(struct vm *vm, char *err, size_t errlen)
{
	int r;
	if ((r = vm_irq_init(vm)) < 0) {
		snprintf(err, errlen, "cannot create the I/O APIC");
		return r;
	}
	vm->irq_ready = true;
	if (!(vm->timers = vm_timers_create())) {
		snprintf(err, errlen, "cannot start the timer thread");
		return -ENOMEM;
	}
	return 0;
}

int vm_init_ram(struct vm *vm, uint64_t mem_size, char *err, size_t errlen)
{
	vm->ram_map_size = mem_size;
	vm->ram = mmap(NULL, vm->ram_map_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		int r = -errno;
		snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s", (unsigned long long)mem_size,
			 strerror(-r));
		return r;
	}
	madvise(vm->ram, vm->ram_map_size, MADV_MERGEABLE);
	gmem_layout(&vm->mem, vm->ram, mem_size);
	return 0;
}

int vm_create_detached(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	int r = vm_init_common(cfg, &vm, err, errlen);
	if (r < 0)
		return r;
	if ((r = vm_init_platform(vm, err, errlen)) < 0 ||
	    (r = vm_init_ram(vm, cfg->mem_size, err, errlen)) < 0) {
		vm_destroy(vm);
		return r;
	}
	snprintf(err, errlen, "%s", "");
	*out = vm;
	return 0;
}

static void vcpu_free(struct vm *vm, struct vcpu *v)
{
	if (!v)
		return;
	vlapic_destroy(v->vlapic);
	if (v->run)
		munmap(v->run, (size_t)vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->mtx);
	free(v);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_timers_destroy(vm->timers); /* first: no timer callback may run on a freed vCPU */
	if (vm->dbg_fini)
		vm->dbg_fini(vm);
	for (uint32_t i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_free(vm, vm->vcpus[i]);
	if (vm->irq_ready)
		vm_irq_fini(vm);
	if (vm->ram)
		munmap(vm->ram, vm->ram_map_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	free(vm->vcpus);
	free(vm->boot);
	free(vm->addrs);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->create_mtx);
	pthread_mutex_destroy(&vm->rv_mtx);
	pthread_mutex_destroy(&vm->slot_mtx);
	pthread_cond_destroy(&vm->slot_cond);
	pthread_cond_destroy(&vm->rv_cond);
	free(vm);
}

const struct guest_mem *vm_guest_mem(struct vm *vm)
{
	return &vm->mem;
}

uint32_t vm_ncpus(const struct vm *vm)
{
	return vm->ncpus;
}

uint32_t vcpu_id(const struct vcpu *vcpu)
{
	return vcpu->id;
}

struct vm *vcpu_vm(const struct vcpu *vcpu)
{
	return vcpu->vm;
}

int vm_activate_cpu(struct vm *vm, uint32_t vcpuid)
{
	if (vcpuid >= vm->ncpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	cpuset_set(&vm->active, vcpuid);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

struct vcpu *vm_vcpu_lookup(struct vm *vm, uint32_t id)
{
	if (id >= vm->ncpus)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	struct vcpu *v = vm->vcpus[id];
	pthread_mutex_unlock(&vm->lock);
	return v;
}

/* Creates the vCPU: the backend's half (KVM vCPU, run mapping, TSC, CPUID;
 * none for a detached VM), then its timers and vlapic. vm->create_mtx held,
 * not vm->lock; the vCPU is published by the caller. */
static int vcpu_alloc(struct vm *vm, uint32_t id, struct vcpu **out)
{
	int r;
	struct vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = -1;
	pthread_mutex_init(&v->mtx, NULL);
	v->kick = &v->kick_detached;
	if (vm->backend_vcpu_init && (r = vm->backend_vcpu_init(vm, v)) < 0)
		goto fail;
	vm_timer_init(&v->lapic_timer, vcpu_lapic_timer_fired, v);
	vm_timer_init(&v->window_timer, vcpu_window_timer_fired, v);
	v->lapic_ops = (struct vlapic_ops){.ctx = v, .icr_write = vcpu_icr_write, .eoi = vcpu_eoi,
					   .ids_moved = &vm->ids_moved,
					   .timer_arm = vcpu_timer_arm, .timer_disarm = vcpu_timer_disarm,
					   .now_ns = vcpu_now_ns, .guest_tsc = vcpu_guest_tsc,
					   .tsc_khz = vm->tsc_khz};
	v->vlapic = vlapic_create(id, id == 0, vm->x2apic, vm->phys_bits, &vm->addrs[id], &v->lapic_ops);
	if (!v->vlapic) {
		r = -ENOMEM;
		goto fail;
	}
	*out = v;
	return 0;
fail:
	vcpu_free(vm, v);
	return r;
}

int vm_vcpu_get(struct vm *vm, uint32_t vcpuid, struct vcpu **out)
{
	int r = 0;
	if (vcpuid >= vm->ncpus)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	struct vcpu *v = vm->vcpus[vcpuid];
	pthread_mutex_unlock(&vm->lock);
	if (v) {
		*out = v;
		return 0;
	}
	pthread_mutex_lock(&vm->create_mtx);
	pthread_mutex_lock(&vm->lock);
	v = vm->vcpus[vcpuid]; /* another thread may have made it meanwhile */
	pthread_mutex_unlock(&vm->lock);
	if (!v && (r = vcpu_alloc(vm, vcpuid, &v)) == 0) {
		pthread_mutex_lock(&vm->lock);
		vm->vcpus[vcpuid] = v;
		vm->nallocated++;
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->create_mtx);
	*out = r == 0 ? v : NULL;
	return r;
}

unsigned vm_allocated_count(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	unsigned n = vm->nallocated;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

int vm_set_capability(struct vcpu *vcpu, enum vm_cap cap, bool on)
{
	switch (cap) {
	case VM_CAP_IPI_EXIT:
		vcpu->ipi_exit = on;
		return 0;
	default:
		return -EINVAL;
	}
}

int vm_timer_arm(struct vm *vm, struct vm_timer *t, uint64_t deadline_ns)
{
	return vm_timers_arm(vm->timers, t, deadline_ns);
}

void vm_timer_disarm(struct vm *vm, struct vm_timer *t)
{
	vm_timers_disarm(vm->timers, t);
}

bool vm_timer_armed(struct vm *vm, struct vm_timer *t)
{
	return vm_timers_armed(vm->timers, t);
}

/* A waiting vCPU sleeps on a futex, woken after v->mtx is released: with a
 * condition variable signalled under the mutex, every wake-up cost five
 * system calls (glibc re-takes the mutex after pthread_cond_wait() as if
 * contended: the waker's unlock and the waiter's next unlock each wake the
 * other) where this costs two, FUTEX_WAKE here and the waiter's FUTEX_WAIT. */
void vcpu_wait_locked(struct vcpu *v)
{
	uint32_t seq = v->wake_seq;
	v->sleeping = true;
	pthread_mutex_unlock(&v->mtx);
	/* Returns at once if a notify bumped wake_seq since the unlock. */
	syscall(SYS_futex, &v->wake_seq, FUTEX_WAIT_PRIVATE, seq, NULL, NULL, 0);
	pthread_mutex_lock(&v->mtx);
	v->sleeping = false;
}

void vcpu_notify(struct vcpu *v)
{
	pthread_mutex_lock(&v->mtx);
	__atomic_store_n(&v->wake_seq, v->wake_seq + 1, __ATOMIC_RELAXED);
	bool sleeping = v->sleeping;
	/* The event was recorded before this lock was taken. An owner inside
	 * wait_runnable() looks at every event again (under this mutex, later)
	 * before it enters the guest, so it needs no kick: an immediate_exit left
	 * set would only cost it one empty KVM_RUN after it wakes. */
	bool waiting = v->in_wait;
	pthread_mutex_unlock(&v->mtx);
	if (sleeping)
		syscall(SYS_futex, &v->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	if (waiting)
		return;
	/* Kick out of KVM_RUN: immediate_exit covers the window before entry, the
	 * signal the time inside (api.rst, kvm_run.immediate_exit). When it was
	 * already 1, an earlier kick since the owner's last return from KVM_RUN
	 * did this (signalled, or left the 1 for the next entry), and the owner
	 * looks at every event after it clears the flag: no second signal. */
	if (__atomic_exchange_n(v->kick, 1, __ATOMIC_SEQ_CST))
		return;
	if (__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST)) {
		/* tgkill directly: pthread_kill() costs three more system calls
		 * (it blocks and unblocks every signal around a getpid). The
		 * thread cannot exit meanwhile: it detaches under rv_mtx. */
		pthread_mutex_lock(&v->vm->rv_mtx);
		if (v->attached)
			syscall(SYS_tgkill, v->vm->pid, v->tid, SIGUSR1);
		pthread_mutex_unlock(&v->vm->rv_mtx);
	}
}

void vm_suspend(struct vm *vm, enum vm_suspend_how how)
{
	uint32_t none = VM_SUSPEND_NONE;
	if (!__atomic_compare_exchange_n(&vm->suspend_how, &none, (uint32_t)how, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		pthread_mutex_lock(&vm->lock);
		struct vcpu *v = vm->vcpus[i];
		pthread_mutex_unlock(&vm->lock);
		if (v)
			vcpu_notify(v);
	}
	pthread_mutex_lock(&vm->rv_mtx);
	pthread_cond_broadcast(&vm->rv_cond);
	pthread_mutex_unlock(&vm->rv_mtx);
}

enum vm_suspend_how vm_suspended(struct vm *vm)
{
	return (enum vm_suspend_how)__atomic_load_n(&vm->suspend_how, __ATOMIC_SEQ_CST);
}

const char *vm_exit_kind_name(enum vm_exit_kind k)
{
	static const char *const names[VM_EXK_N] = {
		[VM_EXK_ICR] = "icr", [VM_EXK_EOI] = "eoi",	[VM_EXK_APIC] = "apic",
		[VM_EXK_HLT] = "hlt", [VM_EXK_WINDOW] = "window", [VM_EXK_KICK] = "kick",
		[VM_EXK_IO] = "io",   [VM_EXK_MMIO] = "mmio",	[VM_EXK_MSR] = "msr",
		[VM_EXK_OTHER] = "other",
	};
	return (unsigned)k < VM_EXK_N ? names[k] : "?";
}

void vm_get_stats(struct vm *vm, struct vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&vm->lock);
	st->configured = vm->ncpus;
	st->allocated = vm->nallocated;
	st->started = vm->nstarted;
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		for (unsigned k = 0; k < VM_EXK_N; k++)
			st->exits[k] += __atomic_load_n(&v->exits[k], __ATOMIC_RELAXED);
		st->injected += __atomic_load_n(&v->injected, __ATOMIC_RELAXED);
		st->pv_eoi += __atomic_load_n(&v->pv_eoi, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vm->lock);
	st->ipis = __atomic_load_n(&vm->st_ipis, __ATOMIC_RELAXED);
	st->startup_dropped = __atomic_load_n(&vm->st_startup_dropped, __ATOMIC_RELAXED);
	st->init_ignored = __atomic_load_n(&vm->st_init_ignored, __ATOMIC_RELAXED);
	st->ipi_ignored = __atomic_load_n(&vm->st_ipi_ignored, __ATOMIC_RELAXED);
	st->insn_completed = __atomic_load_n(&vm->st_insn_completed, __ATOMIC_RELAXED);
	st->sti_hlt = __atomic_load_n(&vm->st_sti_hlt, __ATOMIC_RELAXED);
}

void vm_never_ran_report(struct vm *vm, vm_verdict_fn *fn, void *ctx)
{
	char why[224], extra[128];
	pthread_mutex_lock(&vm->lock);
	extra[0] = 0;
	if (vm->last_unmatched_valid)
		snprintf(extra, sizeof(extra), "; the last %s that reached no vCPU had %s destination 0x%02x%s",
			 vm->last_unmatched_mode == APIC_DM_INIT ? "INIT" : "STARTUP",
			 vm->last_unmatched_logical ? "logical" : "physical", vm->last_unmatched_dest,
			 vm->last_unmatched_logical ? " (no LDR matched)" : " (no such APIC ID)");
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		const struct vcpu_boot *b = &vm->boot[i];
		if (b->ran)
			continue;
		if (b->drop_state < VCPU_NSTATES)
			snprintf(why, sizeof(why), "STARTUP (vector 0x%02x) arrived while %s%s",
				 b->drop_vector, vcpu_state_spec_name(b->drop_state),
				 b->got_init ? "" : " (no INIT before it)");
		else if (!b->got_init)
			snprintf(why, sizeof(why), "never got INIT%s", extra);
		else if (!b->got_startup)
			snprintf(why, sizeof(why), "got INIT but never STARTUP%s", extra);
		else
			snprintf(why, sizeof(why), "STARTUP claimed but the frontend never started it");
		pthread_mutex_unlock(&vm->lock);
		fn(ctx, i, why);
		pthread_mutex_lock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
}
