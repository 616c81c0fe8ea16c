/* vcpus.c: one thread per vCPU and the table of exit handlers (bhyve's
 * usr.sbin/bhyve/amd64/vmexit.c): vm_run() returns an exit, its handler says
 * whether the thread goes on (VCPU_CONTINUE) or stops (VCPU_STOP). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/machine.h"

struct vcpu_thread_arg {
	struct machine *m;
	uint32_t id;
};

/* --- vCPU threads and the exit table --- */
enum handler_result { VCPU_CONTINUE = 0, VCPU_STOP = 1 };
typedef enum handler_result exit_handler_fn(struct machine *m, struct vcpu *v, struct vm_exit *ex);

static enum handler_result ex_inout(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	unsigned size = ex->u.inout.size;
	for (uint32_t i = 0; i < ex->u.inout.count; i++) {
		uint8_t *p = ex->u.inout.data + (size_t)i * size;
		uint64_t val = 0;
		if (ex->u.inout.in) {
			bus_access(&m->bus, BUS_PIO, ex->u.inout.port, size, false, &val);
			memcpy(p, &val, size);
		} else {
			memcpy(&val, p, size);
			bus_access(&m->bus, BUS_PIO, ex->u.inout.port, size, true, &val);
		}
	}
	return VCPU_CONTINUE;
}

static enum handler_result ex_mmio(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	uint64_t val = 0;
	unsigned len = ex->u.mmio.len;
	if (ex->u.mmio.is_write) {
		memcpy(&val, ex->u.mmio.data, len);
		bus_access(&m->bus, BUS_MMIO, ex->u.mmio.gpa, len, true, &val);
	} else {
		bus_access(&m->bus, BUS_MMIO, ex->u.mmio.gpa, len, false, &val);
		memcpy(ex->u.mmio.data, &val, len);
	}
	return VCPU_CONTINUE;
}

/* IPI exits (smp-spec 3): INIT brings the targets' threads into being (they
 * wait for SIPI inside vm_run), STARTUP releases the claimed ones. */
static enum handler_result ex_ipi(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	CPUSET_FOREACH(i, &ex->u.ipi.dmask)
	{
		uint32_t id = (uint32_t)i;
		if (ex->u.ipi.mode == VM_IPI_INIT) {
			if (machine_start_vcpu(m, id) < 0)
				return VCPU_STOP;
		} else if (ex->u.ipi.mode == VM_IPI_STARTUP) {
			if (machine_start_vcpu(m, id) < 0 || machine_wait_vcpu(m, id) < 0)
				return VCPU_STOP;
			int r = vm_vcpu_start_ap(m->vm, id, (uint64_t)ex->u.ipi.vector << 12);
			if (r < 0 && r != -EBUSY) {
				say("cannot start vCPU %u: %s", id, strerror(-r));
				machine_end(m, VM_SUSPEND_EXIT);
				return VCPU_STOP;
			}
		}
	}
	return VCPU_CONTINUE;
}

/* Legacy protocol: allocate, activate and start the AP the core names. */
static enum handler_result ex_spinup_ap(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	uint32_t id = ex->u.spinup_ap.vcpuid;
	struct vcpu *ap;
	int r;
	if ((r = vm_activate_cpu(m->vm, id)) == 0)
		tracer_event(&m->tracer, "activate", "\"vcpu\":%u", id);
	if (r < 0 || (r = vm_vcpu_get(m->vm, id, &ap)) < 0 ||
	    (r = vm_vcpu_start_ap(m->vm, id, ex->u.spinup_ap.rip)) < 0) {
		if (r == -EBUSY)
			return VCPU_CONTINUE; /* an INIT raced the start: the AP waits again */
		say("cannot start vCPU %u: %s", id, strerror(-r));
		machine_end(m, VM_SUSPEND_EXIT);
		return VCPU_STOP;
	}
	return machine_start_vcpu(m, id) < 0 ? VCPU_STOP : VCPU_CONTINUE;
}

static enum handler_result ex_suspended(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	(void)ex;
	machine_end(m, VM_SUSPEND_EXIT); /* wakes the main thread; the first reason stays */
	return VCPU_STOP;
}

static enum handler_result ex_triple_fault(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	char dump[1024];
	say("vCPU %u triple fault (shutdown)", ex->vcpu);
	if (vm_vcpu_dump(v, dump, sizeof(dump)) == 0)
		fprintf(stderr, "%s\n", dump);
	machine_end(m, VM_SUSPEND_TRIPLEFAULT);
	return VCPU_STOP;
}

static enum handler_result ex_internal(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	char dump[1024];
	say("vCPU %u: KVM cannot run the guest (exit reason %u, suberror %u, data %llx %llx %llx %llx)",
	    ex->vcpu, ex->u.internal.kvm_exit_reason, ex->u.internal.suberror,
	    (unsigned long long)ex->u.internal.data[0], (unsigned long long)ex->u.internal.data[1],
	    (unsigned long long)ex->u.internal.data[2], (unsigned long long)ex->u.internal.data[3]);
	if (vm_vcpu_dump(v, dump, sizeof(dump)) == 0)
		fprintf(stderr, "%s\n", dump);
	machine_set_exit_status(m, HYVE_EXIT_INTERNAL);
	machine_end(m, VM_SUSPEND_EXIT);
	return VCPU_STOP;
}

/* A debug exception for GDB (breakpoint, watchpoint, step): the stub stops
 * every vCPU; this one parks in its next vm_run() until GDB resumes it. */
static enum handler_result ex_debug(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	if (!m->gdb) { /* libvmm reports none without a debugger */
		say("vCPU %u: a debug exit without --gdb", ex->vcpu);
		machine_set_exit_status(m, HYVE_EXIT_INTERNAL);
		machine_end(m, VM_SUSPEND_EXIT);
		return VCPU_STOP;
	}
	gdb_target_debug_exit(m->gdb, v, ex);
	return VCPU_CONTINUE;
}

static exit_handler_fn *const exit_handlers[VM_EXITCODE_MAX] = {
	[VM_EXITCODE_INOUT] = ex_inout,
	[VM_EXITCODE_MMIO] = ex_mmio,
	[VM_EXITCODE_IPI] = ex_ipi,
	[VM_EXITCODE_SPINUP_AP] = ex_spinup_ap,
	[VM_EXITCODE_SUSPENDED] = ex_suspended,
	[VM_EXITCODE_TRIPLE_FAULT] = ex_triple_fault,
	[VM_EXITCODE_INTERNAL_ERROR] = ex_internal,
	[VM_EXITCODE_DEBUG] = ex_debug,
};

/* The new thread creates its vCPU (KVM_CREATE_VCPU, CPUID, TSC: the costly
 * part of a start) itself, so that an INIT to many APs costs its sender only
 * the threads' creation, and the vCPUs are made while the guest waits for
 * its STARTUP (issue 14). Whoever needs the vCPU waits in machine_wait_vcpu(). */
static struct vcpu *make_vcpu(struct machine *m, uint32_t id)
{
	struct vcpu *v = NULL;
	int r = vm_vcpu_get(m->vm, id, &v);
	if (r < 0)
		say("cannot create vCPU %u: %s", id, strerror(-r));
	else
		vm_set_capability(v, VM_CAP_IPI_EXIT, m->opt->ap_startup == AP_STARTUP_IPI_EXIT);
	pthread_mutex_lock(&m->threads_lock);
	m->made[id] = r < 0 ? VCPU_MADE_FAILED : VCPU_MADE_OK;
	pthread_cond_broadcast(&m->made_cond);
	pthread_mutex_unlock(&m->threads_lock);
	if (r < 0) {
		machine_set_exit_status(m, HYVE_EXIT_HOST);
		machine_end(m, VM_SUSPEND_EXIT);
	}
	return r < 0 ? NULL : v;
}

int machine_wait_vcpu(struct machine *m, uint32_t id)
{
	pthread_mutex_lock(&m->threads_lock);
	while (m->made[id] == VCPU_MADE_NOT)
		pthread_cond_wait(&m->made_cond, &m->threads_lock);
	int r = m->made[id] == VCPU_MADE_OK ? 0 : -1;
	pthread_mutex_unlock(&m->threads_lock);
	return r;
}

static void *vcpu_thread(void *p)
{
	struct vcpu_thread_arg a = *(struct vcpu_thread_arg *)p;
	free(p);
	struct vm_exit ex;
	struct vcpu *v = make_vcpu(a.m, a.id);
	if (!v)
		return NULL;
	for (;;) {
		int r = vm_run(v, &ex);
		if (r < 0) {
			say("vCPU %u: %s", vcpu_id(v), strerror(-r));
			machine_set_exit_status(a.m, HYVE_EXIT_HOST);
			machine_end(a.m, VM_SUSPEND_EXIT);
			vm_run(v, &ex); /* returns SUSPENDED: leaves the rendezvous set */
			return NULL;
		}
		exit_handler_fn *fn = ex.exitcode < VM_EXITCODE_MAX ? exit_handlers[ex.exitcode] : NULL;
		if (!fn) {
			say("vCPU %u: unknown exit code %u", vcpu_id(v), ex.exitcode);
			machine_end(a.m, VM_SUSPEND_EXIT);
			continue;
		}
		if (fn(a.m, v, &ex) == VCPU_STOP) {
			if (ex.exitcode != VM_EXITCODE_SUSPENDED)
				vm_run(v, &ex); /* detach cleanly: returns SUSPENDED */
			return NULL;
		}
	}
}

int machine_start_vcpu(struct machine *m, uint32_t id)
{
	int r = 0;
	pthread_mutex_lock(&m->threads_lock);
	if (m->has_thread[id])
		goto out;
	struct vcpu_thread_arg *a = malloc(sizeof(*a));
	if (!a) {
		r = -ENOMEM;
		goto out;
	}
	*a = (struct vcpu_thread_arg){.m = m, .id = id};
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10); /* small stacks: up to 1024 vCPU threads */
	r = -pthread_create(&m->threads[id], &attr, vcpu_thread, a);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		free(a);
		say("cannot start a thread for vCPU %u: %s", id, strerror(-r));
		goto out;
	}
	m->has_thread[id] = true;
	tracer_event(&m->tracer, "thread", "\"vcpu\":%u", id);
out:
	pthread_mutex_unlock(&m->threads_lock);
	if (r < 0) {
		machine_set_exit_status(m, HYVE_EXIT_HOST);
		machine_end(m, VM_SUSPEND_EXIT);
	}
	return r;
}
