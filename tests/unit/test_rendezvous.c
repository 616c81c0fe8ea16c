/* test_rendezvous.c: vm_rendezvous (smp-spec 1.8) on a detached VM (vm_create_detached), a thread per vCPU, no KVM. */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "vmm/vm_priv.h"

#define NMAX 8

enum { CMD_NONE = 0, CMD_RV, CMD_DETACH };

struct fixture;

/* What one rendezvous saw: who ran it, on which thread. */
struct rvrec {
	struct fixture *fx;
	unsigned runs[NMAX]; /* (a) per vCPU id */
	unsigned wrong_thread; /* (a) ran on a thread that is not that vCPU's */
};

/* One vCPU's test thread. Command fields are guarded by v->mtx; the thread
 * waits with vcpu_wait_locked(), as wait_runnable() does, and is woken by
 * vcpu_notify(). */
struct tv {
	struct fixture *fx;
	struct vcpu *v;
	pthread_t th;
	pthread_t self; /* written by the thread before it reports ready */
	bool started;
	/* (V) */
	int cmd;
	bool stop;
	bool hold; /* do not serve rendezvous (a busy vCPU) */
	cpuset_t cmd_set;
	struct rvrec *cmd_rec;
	pthread_barrier_t *cmd_barrier;
	unsigned wakeups; /* returns from vcpu_wait_locked(v) */
};

struct fixture {
	struct vm *vm;
	unsigned n;
	struct tv tv[NMAX];
	pthread_mutex_t tmtx; /* guards ready, ndone */
	pthread_cond_t tcond;
	unsigned ready, ndone;
};

static void rv_fn(struct vcpu *v, void *arg)
{
	struct rvrec *r = arg;
	if (v->id >= NMAX) {
		__atomic_add_fetch(&r->wrong_thread, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&r->runs[v->id], 1, __ATOMIC_RELAXED);
	if (!pthread_equal(pthread_self(), r->fx->tv[v->id].self))
		__atomic_add_fetch(&r->wrong_thread, 1, __ATOMIC_RELAXED);
}

static void signal_done(struct fixture *fx)
{
	pthread_mutex_lock(&fx->tmtx);
	fx->ndone++;
	pthread_cond_broadcast(&fx->tcond);
	pthread_mutex_unlock(&fx->tmtx);
}

static void *vcpu_thread(void *arg)
{
	struct tv *t = arg;
	struct fixture *fx = t->fx;
	struct vcpu *v = t->v;

	t->self = pthread_self();
	vm_rendezvous_attach(v);
	pthread_mutex_lock(&fx->tmtx);
	fx->ready++;
	pthread_cond_broadcast(&fx->tcond);
	pthread_mutex_unlock(&fx->tmtx);

	pthread_mutex_lock(&v->mtx);
	for (;;) {
		while (!t->stop && t->cmd == CMD_NONE && !(v->rv_pending && !t->hold)) {
			vcpu_wait_locked(v);
			t->wakeups++;
		}
		if (t->stop)
			break;
		if (t->cmd == CMD_NONE) {
			pthread_mutex_unlock(&v->mtx);
			vm_rendezvous_serve(v);
			pthread_mutex_lock(&v->mtx);
			continue;
		}
		int cmd = t->cmd;
		cpuset_t set = t->cmd_set;
		struct rvrec *rec = t->cmd_rec;
		pthread_barrier_t *bar = t->cmd_barrier;
		t->cmd = CMD_NONE;
		pthread_mutex_unlock(&v->mtx);
		if (cmd == CMD_DETACH) {
			vm_rendezvous_detach(v);
			signal_done(fx);
			return NULL;
		}
		if (bar)
			pthread_barrier_wait(bar);
		vm_rendezvous(fx->vm, v, &set, rv_fn, rec);
		signal_done(fx);
		pthread_mutex_lock(&v->mtx);
	}
	pthread_mutex_unlock(&v->mtx);
	vm_rendezvous_detach(v);
	return NULL;
}

/* A VM without KVM (vm_create_detached): n configured vCPUs; `alloc` of them
 * get a struct vcpu (vm_vcpu_get: no KVM vCPU, vcpu_notify's immediate_exit
 * store goes to a stand-in; in_guest stays 0, so no signal), `threads` of
 * those get a thread. */
static struct fixture *fx_new(unsigned n, unsigned alloc, unsigned threads)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct vm_config cfg = {.ncpus = n, .mem_size = 1u << 20};
	struct vm *vm;
	char err[128];
	if (!fx)
		abort();
	if (vm_create_detached(&cfg, &vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm_create_detached: %s\n", err);
		abort();
	}
	fx->vm = vm;
	fx->n = n;
	pthread_mutex_init(&fx->tmtx, NULL);
	pthread_cond_init(&fx->tcond, NULL);
	for (unsigned i = 0; i < alloc; i++) {
		struct vcpu *v;
		if (vm_vcpu_get(vm, i, &v) < 0)
			abort();
		fx->tv[i].fx = fx;
		fx->tv[i].v = v;
	}
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&fx->tv[i].th, NULL, vcpu_thread, &fx->tv[i]))
			abort();
		fx->tv[i].started = true;
	}
	pthread_mutex_lock(&fx->tmtx);
	while (fx->ready < threads)
		pthread_cond_wait(&fx->tcond, &fx->tmtx);
	pthread_mutex_unlock(&fx->tmtx);
	return fx;
}

static void fx_free(struct fixture *fx)
{
	struct vm *vm = fx->vm;
	for (unsigned i = 0; i < fx->n; i++) {
		struct tv *t = &fx->tv[i];
		if (!t->started)
			continue;
		pthread_mutex_lock(&t->v->mtx);
		t->stop = true;
		pthread_mutex_unlock(&t->v->mtx);
		vcpu_notify(t->v);
		pthread_join(t->th, NULL);
	}
	vm_destroy(vm);
	pthread_mutex_destroy(&fx->tmtx);
	pthread_cond_destroy(&fx->tcond);
	free(fx);
}

static void set_of(cpuset_t *s, uint64_t mask)
{
	cpuset_zero(s);
	s->bits[0] = mask;
}

/* 0 when rec ran exactly once on each vCPU of `want` (on its own thread) and nowhere else. */
static unsigned rec_bad(const struct rvrec *r, uint64_t want)
{
	unsigned bad = __atomic_load_n(&r->wrong_thread, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < NMAX; i++)
		bad += __atomic_load_n(&r->runs[i], __ATOMIC_RELAXED) != ((want >> i) & 1);
	return bad;
}

static void post_cmd(struct tv *t, int cmd, const cpuset_t *set, struct rvrec *rec, pthread_barrier_t *bar)
{
	pthread_mutex_lock(&t->v->mtx);
	t->cmd = cmd;
	if (set)
		t->cmd_set = *set;
	t->cmd_rec = rec;
	t->cmd_barrier = bar;
	t->hold = false;
	pthread_mutex_unlock(&t->v->mtx);
	vcpu_notify(t->v);
}

static void wait_done(struct fixture *fx, unsigned n)
{
	pthread_mutex_lock(&fx->tmtx);
	while (fx->ndone < n)
		pthread_cond_wait(&fx->tcond, &fx->tmtx);
	pthread_mutex_unlock(&fx->tmtx);
}

static unsigned wakeups(struct tv *t)
{
	pthread_mutex_lock(&t->v->mtx);
	unsigned w = t->wakeups;
	pthread_mutex_unlock(&t->v->mtx);
	return w;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_from_outside(void)
{
	struct fixture *fx = fx_new(4, 4, 4);
	struct rvrec r = {.fx = fx};
	cpuset_t s;
	set_of(&s, 0xa); /* vCPUs 1, 3 */
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &r);
	CHECK_EQ(rec_bad(&r, 0xa), 0, "outside: {1,3} ran once each on their own threads, nowhere else");

	struct rvrec all = {.fx = fx};
	set_of(&s, 0xf);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &all);
	CHECK_EQ(rec_bad(&all, 0xf), 0, "outside: all four ran once each");

	struct rvrec beyond = {.fx = fx};
	set_of(&s, 0x4 | (1ULL << 4) | (1ULL << 63));
	cpuset_set(&s, 100);
	cpuset_set(&s, VM_MAXCPU - 1);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &beyond);
	CHECK_EQ(rec_bad(&beyond, 0x4), 0, "outside: ids >= ncpus in the set are ignored");

	struct rvrec none = {.fx = fx};
	cpuset_zero(&s);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &none);
	CHECK_EQ(rec_bad(&none, 0), 0, "outside: an empty set returns at once");

	pthread_mutex_lock(&fx->vm->rv_mtx);
	bool idle = fx->vm->rv_func == NULL;
	pthread_mutex_unlock(&fx->vm->rv_mtx);
	CHECK(idle, "outside: no rendezvous left in progress");
	fx_free(fx);
}

static void test_unattached_skipped(void)
{
	/* 6 configured; 0-3 have threads, 4 is allocated without a thread, 5 was never allocated. */
	struct fixture *fx = fx_new(6, 5, 4);
	struct rvrec r = {.fx = fx};
	cpuset_t s;
	set_of(&s, 0x3f);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &r);
	CHECK_EQ(rec_bad(&r, 0xf), 0, "skip: only the vCPUs with a thread ran it");
	struct rvrec r2 = {.fx = fx};
	set_of(&s, 0x30);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &r2);
	CHECK_EQ(rec_bad(&r2, 0), 0, "skip: a set of thread-less vCPUs completes with nobody");
	CHECK(!fx->vm->vcpus[4]->rv_pending && fx->vm->vcpus[5] == NULL,
	      "skip: nothing was queued for the thread-less vCPU, nothing allocated");
	fx_free(fx);
}

static void test_self_included(void)
{
	struct fixture *fx = fx_new(4, 4, 4);
	struct rvrec r = {.fx = fx};
	cpuset_t s;
	set_of(&s, 0xd); /* 0, 2, 3: vCPU 2 initiates */
	post_cmd(&fx->tv[2], CMD_RV, &s, &r, NULL);
	wait_done(fx, 1);
	CHECK_EQ(rec_bad(&r, 0xd), 0,
		 "self: vCPU 2's rendezvous ran on 0, 2 (itself), 3, each on its own thread");

	struct rvrec only = {.fx = fx};
	set_of(&s, 0x2);
	post_cmd(&fx->tv[1], CMD_RV, &s, &only, NULL);
	wait_done(fx, 2);
	CHECK_EQ(rec_bad(&only, 0x2), 0, "self: a rendezvous with only the initiator runs on it");
	fx_free(fx);
}

/* Two (or more) vCPUs initiate rendezvous that target each other at the same moment. */
static void test_concurrent(void)
{
	enum { N = 4, ITERS = 1000 };
	struct fixture *fx = fx_new(N, N, N);
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	unsigned bad = 0, iters = 0, with_main = 0, triples = 0;
	for (unsigned it = 0; it < ITERS; it++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		/* Pick k initiators (2 most of the time, sometimes 3 or 4). */
		unsigned k = (rng & 7) == 0 ? 3 + ((rng >> 3) & 1) : 2;
		unsigned first = (unsigned)(rng >> 8) % N;
		uint64_t init = 0;
		for (unsigned j = 0; j < k; j++)
			init |= 1ULL << ((first + j * (1 + (unsigned)(rng >> 12) % (N - 1))) % N);
		k = (unsigned)__builtin_popcountll(init);
		bool main_too = ((rng >> 20) & 3) == 0;
		with_main += main_too;
		triples += k > 2;

		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, k + main_too);
		struct rvrec rec[N + 1];
		uint64_t want[N + 1];
		memset(rec, 0, sizeof(rec));
		unsigned base = fx->ndone;
		for (unsigned i = 0; i < N; i++) {
			rec[i].fx = fx;
			if (!((init >> i) & 1))
				continue;
			uint64_t extra = (rng >> (24 + 4 * i)) & 0xf;
			want[i] = ((init & ~(1ULL << i)) | extra) & ((1ULL << N) - 1);
			cpuset_t s;
			set_of(&s, want[i]);
			post_cmd(&fx->tv[i], CMD_RV, &s, &rec[i], &bar);
		}
		rec[N].fx = fx;
		if (main_too) {
			want[N] = (rng >> 44) & 0xf;
			cpuset_t s;
			set_of(&s, want[N] | init); /* also aimed at every initiator */
			want[N] |= init;
			pthread_barrier_wait(&bar);
			vm_rendezvous(fx->vm, NULL, &s, rv_fn, &rec[N]);
		}
		wait_done(fx, base + k);
		pthread_barrier_destroy(&bar);
		for (unsigned i = 0; i < N; i++)
			if ((init >> i) & 1)
				bad += rec_bad(&rec[i], want[i]);
		if (main_too)
			bad += rec_bad(&rec[N], want[N]);
		iters++;
	}
	CHECK_EQ(iters, ITERS, "concurrent: %u rounds of crossing rendezvous completed (no deadlock)", ITERS);
	CHECK(with_main > 50 && triples > 50,
	      "concurrent: %u rounds with a non-vCPU initiator too, %u with 3+ vCPUs", with_main, triples);
	CHECK_EQ(bad, 0, "concurrent: every rendezvous ran exactly once on each target's own thread");
	fx_free(fx);
}

static void test_parked_block(void)
{
	struct fixture *fx = fx_new(4, 4, 4);
	unsigned w0[4];
	for (unsigned i = 0; i < 4; i++)
		w0[i] = wakeups(&fx->tv[i]);
	sleep_ms(100);
	unsigned idle = 0;
	for (unsigned i = 0; i < 4; i++)
		idle += wakeups(&fx->tv[i]) - w0[i];
	CHECK(idle <= 1, "parked: %u wake-ups in 100 ms of idle (they block, they do not poll)", idle);

	/* A rendezvous aimed at 0 and 1 does not wake 2 and 3. */
	for (unsigned i = 0; i < 4; i++)
		w0[i] = wakeups(&fx->tv[i]);
	for (unsigned round = 0; round < 20; round++) {
		struct rvrec r = {.fx = fx};
		cpuset_t s;
		set_of(&s, 0x3);
		vm_rendezvous(fx->vm, NULL, &s, rv_fn, &r);
	}
	unsigned others = wakeups(&fx->tv[2]) - w0[2] + wakeups(&fx->tv[3]) - w0[3];
	unsigned targets = wakeups(&fx->tv[0]) - w0[0] + wakeups(&fx->tv[1]) - w0[1];
	CHECK_EQ(others, 0, "parked: 20 rendezvous on {0,1} woke 2 and 3 zero times");
	CHECK(targets >= 1 && targets <= 80, "parked: the targets woke %u times for 20 rendezvous", targets);
	fx_free(fx);
}

struct bg {
	struct fixture *fx;
	cpuset_t set;
	struct rvrec *rec;
	bool done; /* (a) */
};

static void *bg_rendezvous(void *arg)
{
	struct bg *b = arg;
	vm_rendezvous(b->fx->vm, NULL, &b->set, rv_fn, b->rec);
	__atomic_store_n(&b->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_detach(void)
{
	struct fixture *fx = fx_new(3, 3, 3);
	struct rvrec r = {.fx = fx};
	pthread_mutex_lock(&fx->tv[1].v->mtx);
	fx->tv[1].hold = true; /* vCPU 1 is busy: it will not serve */
	pthread_mutex_unlock(&fx->tv[1].v->mtx);

	struct bg b = {.fx = fx, .rec = &r};
	set_of(&b.set, 0x7);
	pthread_t th;
	pthread_create(&th, NULL, bg_rendezvous, &b);
	for (unsigned ms = 0; ms < 5000; ms++) {
		if (__atomic_load_n(&r.runs[0], __ATOMIC_RELAXED) &&
		    __atomic_load_n(&r.runs[2], __ATOMIC_RELAXED))
			break;
		sleep_ms(1);
	}
	CHECK(__atomic_load_n(&r.runs[0], __ATOMIC_RELAXED) == 1 &&
		      __atomic_load_n(&r.runs[2], __ATOMIC_RELAXED) == 1,
	      "detach: vCPUs 0 and 2 served");
	sleep_ms(50);
	CHECK(!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST),
	      "detach: the rendezvous waits for the busy vCPU 1");
	pthread_mutex_lock(&fx->tv[1].v->mtx);
	bool told = fx->tv[1].v->rv_pending;
	pthread_mutex_unlock(&fx->tv[1].v->mtx);
	CHECK(told, "detach: vCPU 1 was told (rv_pending)");

	post_cmd(&fx->tv[1], CMD_DETACH, NULL, NULL, NULL);
	pthread_join(th, NULL);
	fx->tv[1].started = false; /* its thread has returned */
	pthread_join(fx->tv[1].th, NULL);
	CHECK(b.done, "detach: a detaching target counts as done: the rendezvous completed");
	CHECK_EQ(rec_bad(&r, 0x5), 0, "detach: ran on 0 and 2 only");

	struct rvrec r2 = {.fx = fx};
	cpuset_t s;
	set_of(&s, 0x7);
	vm_rendezvous(fx->vm, NULL, &s, rv_fn, &r2);
	CHECK_EQ(rec_bad(&r2, 0x5), 0, "detach: a detached vCPU is no longer a target");
	fx_free(fx);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - watchdog: a rendezvous deadlocked (a test took over 30 s)\n";
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(void)
{
	static void (*const tests[])(void) = {test_from_outside, test_unattached_skipped, test_self_included,
					      test_concurrent,	 test_parked_block,	  test_detach};
	signal(SIGALRM, on_alarm);
	for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		alarm(30); /* a deadlock fails the test instead of hanging it */
		tests[i]();
	}
	alarm(0);
	return tap_done();
}
