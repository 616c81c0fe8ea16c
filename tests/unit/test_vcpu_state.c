/* test_vcpu_state.c: the vCPU boot state machine (vcpu_set_state in vmm/vm.c, table in vmm/vm_priv.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "vmm/vm_priv.h"

#define N 3
#define NS VCPU_NSTATES

/* The transitions documented next to enum vcpu_state (vm_priv.h), written out
 * independently of vm.c's table:
 *   POWERON  -> WAIT_SIPI, RUNNING        WAIT_SIPI -> WAIT_SIPI, CLAIMED
 *   CLAIMED  -> RUNNING, WAIT_SIPI
 *   RUNNING  -> HALTED, WAIT_SIPI         HALTED    -> RUNNING, WAIT_SIPI
 *   any      -> STOPPED                                                  */
static bool documented(unsigned from, unsigned to)
{
	if (to == VCPU_STOPPED)
		return true;
	switch (from) {
	case VCPU_POWERON:
		return to == VCPU_WAIT_SIPI || to == VCPU_RUNNING;
	case VCPU_WAIT_SIPI:
		return to == VCPU_WAIT_SIPI || to == VCPU_CLAIMED;
	case VCPU_CLAIMED:
		return to == VCPU_RUNNING || to == VCPU_WAIT_SIPI;
	case VCPU_RUNNING:
		return to == VCPU_HALTED || to == VCPU_WAIT_SIPI;
	case VCPU_HALTED:
		return to == VCPU_RUNNING || to == VCPU_WAIT_SIPI;
	default:
		return false;
	}
}

struct tracelog {
	unsigned n;
	uint32_t kind, vcpu;
	char what[32];
};

static void trace_cb(void *ctx, const struct vm_trace_event *ev)
{
	struct tracelog *t = ctx;
	t->n++;
	t->kind = ev->kind;
	t->vcpu = ev->vcpu;
	snprintf(t->what, sizeof(t->what), "%s", ev->what ? ev->what : "(null)");
}

/* A VM without KVM (vm_create_detached): no vCPU objects until vm_vcpu_get(). */
static struct vm *vm_new(uint32_t n, struct tracelog *log)
{
	struct vm_config cfg = {.ncpus = n, .mem_size = 1u << 20, .trace = log ? trace_cb : NULL, .trace_ctx = log};
	struct vm *vm;
	char err[128];
	if (vm_create_detached(&cfg, &vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm_create_detached: %s\n", err);
		abort();
	}
	return vm;
}

static void vm_free(struct vm *vm)
{
	vm_destroy(vm);
}

static int set_state(struct vm *vm, uint32_t id, unsigned to)
{
	pthread_mutex_lock(&vm->lock); /* the contract: vm->lock held */
	int r = vcpu_set_state(vm, id, (enum vcpu_state)to);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* nrunning counts CLAIMED and RUNNING (vm_priv.h). */
static unsigned count_running(const struct vm *vm)
{
	unsigned c = 0;
	for (uint32_t i = 0; i < vm->ncpus; i++)
		c += vm->boot[i].state == VCPU_RUNNING || vm->boot[i].state == VCPU_CLAIMED;
	return c;
}

static void test_names(void)
{
	static const char *const want[NS] = {"POWERON", "WAIT_SIPI", "CLAIMED", "RUNNING", "HALTED", "STOPPED"};
	for (unsigned s = 0; s < NS; s++)
		CHECK(strcmp(vcpu_state_name((enum vcpu_state)s), want[s]) == 0, "name: %u is %s", s,
		      want[s]);
	CHECK(strcmp(vcpu_state_name(VCPU_NSTATES), "?") == 0 &&
		      strcmp(vcpu_state_name((enum vcpu_state)200), "?") == 0,
	      "name: out of range is \"?\"");
	CHECK(strcmp(vcpu_state_spec_name(VCPU_CLAIMED), "RUNNING") == 0 &&
		      strcmp(vcpu_state_spec_name(VCPU_HALTED), "HALTED") == 0 &&
		      strcmp(vcpu_state_spec_name(VCPU_WAIT_SIPI), "WAIT_SIPI") == 0,
	      "spec name: CLAIMED is smp-spec's RUNNING, the others their own");
}

/* Every (from, to) pair, on vCPU 1 of 3 with the others RUNNING and HALTED. */
static void test_all_pairs(void)
{
	static const char *const nm[NS] = {"POWERON", "WAIT_SIPI", "CLAIMED", "RUNNING", "HALTED", "STOPPED"};
	struct tracelog log;
	struct vm *vm = vm_new(N, &log);
	unsigned nallowed = 0;
	for (unsigned from = 0; from < NS; from++)
		for (unsigned to = 0; to < NS; to++) {
			vm->boot[0] = (struct vcpu_boot){.state = VCPU_RUNNING, .ran = 1, .drop_state = NS};
			vm->boot[1] = (struct vcpu_boot){.state = (uint8_t)from,
							 .got_init = 1,
							 .got_startup = 0,
							 .ran = 1,
							 .drop_state = VCPU_RUNNING,
							 .drop_vector = 0x9a};
			vm->boot[2] = (struct vcpu_boot){.state = VCPU_HALTED, .ran = 1, .drop_state = NS};
			vm->nrunning = 1 + (from == VCPU_RUNNING || from == VCPU_CLAIMED);
			vm->nstarted = 3;
			vm->nhalted_noif = 0;
			struct vcpu_boot before[N];
			memcpy(before, vm->boot, sizeof(before));
			memset(&log, 0, sizeof(log));

			bool ok = documented(from, to);
			nallowed += ok;
			int r = set_state(vm, 1, to);
			CHECK_EQ(r, ok ? 0 : -EINVAL, "pairs: %s -> %s %s", nm[from], nm[to],
				 ok ? "allowed" : "refused");
			CHECK_EQ(vm->boot[1].state, ok ? to : from, "pairs: %s -> %s: state after", nm[from],
				 nm[to]);
			struct vcpu_boot expect = before[1];
			expect.state = (uint8_t)(ok ? to : from);
			CHECK(memcmp(&vm->boot[0], &before[0], sizeof(before[0])) == 0 &&
				      memcmp(&vm->boot[2], &before[2], sizeof(before[2])) == 0 &&
				      memcmp(&vm->boot[1], &expect, sizeof(expect)) == 0,
			      "pairs: %s -> %s: nothing else changed", nm[from], nm[to]);
			CHECK_EQ(vm->nrunning, count_running(vm), "pairs: %s -> %s: nrunning = %u", nm[from],
				 nm[to], count_running(vm));
			CHECK(vm->nstarted == 3 && vm->nhalted_noif == 0,
			      "pairs: %s -> %s: nstarted (every vCPU ran) and nhalted_noif (no vCPU object) kept",
			      nm[from], nm[to]);
			char what[32];
			snprintf(what, sizeof(what), "%s->%s", nm[from], nm[to]);
			if (ok && from != to)
				CHECK(log.n == 1 && log.kind == VM_TRACE_STATE && log.vcpu == 1 &&
					      strcmp(log.what, what) == 0,
				      "pairs: %s traced (got %u events, \"%s\")", what, log.n, log.what);
			else
				CHECK_EQ(log.n, 0, "pairs: %s -> %s: no trace event", nm[from], nm[to]);
		}
	CHECK_EQ(nallowed, 16, "pairs: the documented table allows 16 of 36 transitions");
	vm_free(vm);
}

static void test_invalid(void)
{
	struct tracelog log = {0};
	struct vm *vm = vm_new(N, &log);
	set_state(vm, 0, VCPU_RUNNING);
	set_state(vm, 2, VCPU_WAIT_SIPI);
	memset(&log, 0, sizeof(log));
	struct vcpu_boot before[N];
	memcpy(before, vm->boot, sizeof(before));
	unsigned nr = vm->nrunning;

	static const uint32_t bad_ids[] = {N, N + 1, 255, 0x80000000u, 0xffffffffu};
	for (unsigned i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		for (unsigned to = 0; to < NS; to++)
			CHECK_EQ(set_state(vm, bad_ids[i], to), -EINVAL, "invalid: id 0x%x -> state %u",
				 bad_ids[i], to);
	static const unsigned bad_states[] = {NS, NS + 1, 255, 0x7fffffffu, 0xffffffffu};
	for (uint32_t id = 0; id < N; id++)
		for (unsigned i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++)
			CHECK_EQ(set_state(vm, id, bad_states[i]), -EINVAL, "invalid: vCPU %u -> state 0x%x",
				 id, bad_states[i]);
	CHECK(memcmp(before, vm->boot, sizeof(before)) == 0, "invalid: no boot state changed");
	CHECK_EQ(vm->nrunning, nr, "invalid: nrunning unchanged");
	CHECK_EQ(log.n, 0, "invalid: nothing traced");
	vm_free(vm);
}

/* Lifecycles as the core drives them, and a long random walk checked against a model. */
static void test_walk(void)
{
	struct vm *vm = vm_new(8, NULL); /* no trace callback: must not be called */
	CHECK_EQ(set_state(vm, 0, VCPU_RUNNING), 0, "walk: BSP powers on running");
	CHECK_EQ(set_state(vm, 1, VCPU_RUNNING), 0,
		 "walk: AP POWERON -> RUNNING is allowed by the table (ipi.c claims STARTUP only from "
		 "WAIT_SIPI)");
	CHECK_EQ(set_state(vm, 1, VCPU_HALTED), 0, "walk: HLT");
	CHECK_EQ(set_state(vm, 1, VCPU_HALTED), -EINVAL, "walk: HALTED -> HALTED refused");
	CHECK_EQ(set_state(vm, 1, VCPU_WAIT_SIPI), 0, "walk: INIT while halted");
	CHECK_EQ(set_state(vm, 1, VCPU_WAIT_SIPI), 0, "walk: second INIT");
	CHECK_EQ(set_state(vm, 1, VCPU_HALTED), -EINVAL, "walk: WAIT_SIPI -> HALTED refused");
	CHECK_EQ(set_state(vm, 1, VCPU_RUNNING), -EINVAL, "walk: WAIT_SIPI -> RUNNING refused (STARTUP claims)");
	CHECK_EQ(set_state(vm, 1, VCPU_CLAIMED), 0, "walk: STARTUP claims");
	CHECK_EQ(set_state(vm, 1, VCPU_CLAIMED), -EINVAL, "walk: second STARTUP (CLAIMED -> CLAIMED) refused");
	CHECK_EQ(vm->nrunning, 2, "walk: a claimed AP counts as running");
	CHECK_EQ(set_state(vm, 1, VCPU_HALTED), -EINVAL, "walk: CLAIMED -> HALTED refused (it never ran)");
	CHECK_EQ(set_state(vm, 1, VCPU_RUNNING), 0, "walk: the claimed AP enters the guest");
	CHECK_EQ(set_state(vm, 1, VCPU_CLAIMED), -EINVAL, "walk: STARTUP while RUNNING refused");
	CHECK_EQ(vm->nrunning, 2, "walk: two running");
	CHECK_EQ(set_state(vm, 1, VCPU_STOPPED), 0, "walk: suspend");
	CHECK_EQ(set_state(vm, 1, VCPU_RUNNING), -EINVAL, "walk: STOPPED is final");
	CHECK_EQ(set_state(vm, 1, VCPU_WAIT_SIPI), -EINVAL, "walk: ... even for INIT");
	CHECK_EQ(vm->nrunning, 1, "walk: one running");

	uint8_t model[8];
	for (unsigned i = 0; i < 8; i++)
		model[i] = vm->boot[i].state;
	uint64_t rng = 88172645463325252ULL;
	unsigned bad = 0, accepted = 0;
	for (unsigned it = 0; it < 20000; it++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t id = (uint32_t)(rng % 9); /* 8 is out of range */
		unsigned to = (unsigned)((rng >> 8) % (NS + 1));
		if ((rng >> 20) % 64 == 0) {
			/* revive: a fresh VM of the same size, so STOPPED does not end the walk */
			for (unsigned i = 0; i < 8; i++)
				vm->boot[i].state = model[i] = VCPU_POWERON;
			vm->nrunning = 0;
		}
		int r = set_state(vm, id, to);
		bool ok = id < 8 && to < NS && documented(model[id], to);
		if (ok) {
			model[id] = (uint8_t)to;
			accepted++;
		}
		bad += (r == 0) != ok || (r != 0 && r != -EINVAL);
		for (unsigned i = 0; i < 8; i++)
			bad += vm->boot[i].state != model[i];
		bad += vm->nrunning != count_running(vm);
	}
	CHECK(accepted > 2000, "walk: %u of 20000 random transitions were legal", accepted);
	CHECK_EQ(bad, 0, "walk: results, states and nrunning match the model at every step");
	vm_free(vm);
}

struct report {
	unsigned n;
	char why[8][224];
};

static void report_cb(void *ctx, uint32_t vcpu, const char *why)
{
	struct report *r = ctx;
	if (r->n < 8)
		snprintf(r->why[r->n++], sizeof(r->why[0]), "%u: %s", vcpu, why);
}

/* The derived counters move only with the states (vm_priv.h): nstarted and
 * ran on the first entry to RUNNING, nhalted_noif on HALTED with IF=0. */
static void test_counters(void)
{
	struct vm *vm = vm_new(4, NULL);
	struct vcpu *noif, *withif;
	if (vm_vcpu_get(vm, 1, &noif) < 0 || vm_vcpu_get(vm, 2, &withif) < 0)
		abort();
	withif->if_flag = true;
	CHECK_EQ(set_state(vm, 0, VCPU_RUNNING), 0, "counters: BSP starts");
	CHECK(vm->nstarted == 1 && vm->boot[0].ran, "counters: BSP counted as started");
	for (uint32_t id = 1; id <= 2; id++) {
		set_state(vm, id, VCPU_WAIT_SIPI);
		set_state(vm, id, VCPU_CLAIMED);
	}
	CHECK(vm->nstarted == 1 && !vm->boot[1].ran && vm->nrunning == 3, "counters: claimed is not started");
	set_state(vm, 1, VCPU_RUNNING);
	set_state(vm, 2, VCPU_RUNNING);
	CHECK(vm->nstarted == 3 && vm->boot[1].ran && vm->boot[2].ran, "counters: CLAIMED -> RUNNING starts");
	set_state(vm, 1, VCPU_HALTED);
	set_state(vm, 2, VCPU_HALTED);
	CHECK(vm->nhalted_noif == 1 && vm->boot[1].halt_noif && !vm->boot[2].halt_noif,
	      "counters: HLT with IF=0 counted, with IF=1 not");
	set_state(vm, 0, VCPU_HALTED);
	pthread_mutex_lock(&vm->lock);
	bool dead = vm_all_halted(vm);
	pthread_mutex_unlock(&vm->lock);
	CHECK(!dead, "counters: not all halted while one can be woken by an interrupt");
	set_state(vm, 1, VCPU_WAIT_SIPI);
	CHECK(vm->nhalted_noif == 0 && !vm->boot[1].halt_noif, "counters: INIT while halted with IF=0 uncounts it");
	set_state(vm, 1, VCPU_CLAIMED);
	set_state(vm, 1, VCPU_RUNNING);
	CHECK_EQ(vm->nstarted, 3, "counters: a restart after INIT is not a new start");
	set_state(vm, 1, VCPU_HALTED);
	CHECK_EQ(vm->nhalted_noif, 1, "counters: halted with IF=0 again");
	set_state(vm, 1, VCPU_RUNNING);
	CHECK_EQ(vm->nhalted_noif, 0, "counters: woken (NMI): uncounted");
	set_state(vm, 2, VCPU_RUNNING);
	set_state(vm, 0, VCPU_RUNNING);
	noif->if_flag = false;
	withif->if_flag = false;
	set_state(vm, 1, VCPU_HALTED);
	set_state(vm, 2, VCPU_HALTED);
	CHECK_EQ(vm->nhalted_noif, 2, "counters: two halted with IF=0");
	pthread_mutex_lock(&vm->lock);
	dead = vm_all_halted(vm);
	pthread_mutex_unlock(&vm->lock);
	CHECK(!dead, "counters: the BSP still runs: not all halted");
	set_state(vm, 0, VCPU_HALTED);
	pthread_mutex_lock(&vm->lock);
	dead = vm_all_halted(vm);
	pthread_mutex_unlock(&vm->lock);
	CHECK(!dead, "counters: the BSP halted with IF=1 (no vCPU object: counted as IF=1)");
	set_state(vm, 3, VCPU_WAIT_SIPI);
	set_state(vm, 3, VCPU_CLAIMED);
	CHECK_EQ(vm->nrunning, 1, "counters: vCPU 3 claimed counts as running");
	vm_free(vm);
}

/* A STARTUP dropped while CLAIMED reads as smp-spec's RUNNING in the never-ran report. */
static void test_report(void)
{
	struct vm *vm = vm_new(3, NULL);
	struct report rep = {0};
	set_state(vm, 0, VCPU_RUNNING);
	set_state(vm, 1, VCPU_WAIT_SIPI);
	set_state(vm, 1, VCPU_CLAIMED);
	vm->boot[1].got_init = vm->boot[1].got_startup = 1;
	vm->boot[1].drop_state = VCPU_CLAIMED;
	vm->boot[1].drop_vector = 0x10;
	vm->boot[2].drop_state = VCPU_NSTATES;
	set_state(vm, 2, VCPU_WAIT_SIPI);
	set_state(vm, 2, VCPU_CLAIMED);
	vm->boot[2].got_init = vm->boot[2].got_startup = 1;
	vm_never_ran_report(vm, report_cb, &rep);
	CHECK(rep.n == 2 && strcmp(rep.why[0], "1: STARTUP (vector 0x10) arrived while RUNNING") == 0,
	      "report: dropped while CLAIMED: \"%s\"", rep.n ? rep.why[0] : "");
	CHECK(rep.n == 2 && strcmp(rep.why[1], "2: STARTUP claimed but the frontend never started it") == 0,
	      "report: claimed, never started: \"%s\"", rep.n > 1 ? rep.why[1] : "");
	vm_free(vm);
}

/* vcpu_require_state() aborts, naming the vCPU and both states (in a child). */
static void test_require(void)
{
	int fds[2];
	if (pipe(fds) < 0)
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		struct vm *vm = vm_new(2, NULL);
		pthread_mutex_lock(&vm->lock);
		vcpu_require_state(vm, 1, VCPU_RUNNING);  /* POWERON -> RUNNING: allowed */
		vcpu_require_state(vm, 1, VCPU_CLAIMED);  /* RUNNING -> CLAIMED: refused */
		_exit(0);
	}
	close(fds[1]);
	char buf[256] = {0};
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "require: a refused transition aborts");
	CHECK(n > 0 && strstr(buf, "vCPU 1: state RUNNING -> CLAIMED") != NULL, "require: message \"%.*s\"",
	      n > 0 ? (int)strcspn(buf, "\n") : 0, buf);
}

int main(void)
{
	test_names();
	test_counters();
	test_report();
	test_require();
	test_all_pairs();
	test_invalid();
	test_walk();
	return tap_done();
}
