/* rendezvous.c: run a function on a set of vCPUs' own threads (smp-spec 1.8).
 *
 * One rendezvous at a time per VM. An initiator that finds another one in
 * progress first serves it if it is a target, then waits, so two vCPUs that
 * rendezvous with each other at once cannot deadlock. Targets are the vCPUs
 * with a thread inside vm_run(); wherever such a thread waits (HLT, waiting
 * for SIPI, in KVM_RUN, waiting to initiate) it is woken through
 * vcpu->rv_pending and its condition variable or a kick, so parked vCPUs take
 * part without polling.
 */
#include <unistd.h>

#include "vmm/vm_priv.h"

void vm_rendezvous_attach(struct vcpu *v)
{
	pthread_mutex_lock(&v->vm->rv_mtx);
	v->attached = true;
	v->tid = gettid();
	pthread_mutex_unlock(&v->vm->rv_mtx);
}

void vm_rendezvous_detach(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&vm->rv_mtx);
	v->attached = false;
	if (vm->rv_func && cpuset_isset(&vm->rv_req, v->id) && !cpuset_isset(&vm->rv_done, v->id)) {
		cpuset_set(&vm->rv_done, v->id); /* a leaving thread cannot serve: count it done */
		pthread_cond_broadcast(&vm->rv_cond);
	}
	pthread_mutex_unlock(&vm->rv_mtx);
}

bool vm_rendezvous_serve(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&v->mtx);
	bool maybe = v->rv_pending;
	v->rv_pending = false;
	pthread_mutex_unlock(&v->mtx);
	if (!maybe)
		return false;
	pthread_mutex_lock(&vm->rv_mtx);
	if (!vm->rv_func || !cpuset_isset(&vm->rv_req, v->id) || cpuset_isset(&vm->rv_done, v->id)) {
		pthread_mutex_unlock(&vm->rv_mtx);
		return false;
	}
	vm_rendezvous_fn *fn = vm->rv_func;
	void *arg = vm->rv_arg;
	pthread_mutex_unlock(&vm->rv_mtx);
	fn(v, arg); /* no new rendezvous can start until this one completes */
	pthread_mutex_lock(&vm->rv_mtx);
	cpuset_set(&vm->rv_done, v->id);
	if (cpuset_equal(&vm->rv_done, &vm->rv_req))
		pthread_cond_broadcast(&vm->rv_cond);
	pthread_mutex_unlock(&vm->rv_mtx);
	return true;
}

/* Caller holds rv_mtx: is there a rendezvous this vCPU has not served yet? */
static bool pending_for(struct vm *vm, struct vcpu *v)
{
	return v && vm->rv_func && cpuset_isset(&vm->rv_req, v->id) && !cpuset_isset(&vm->rv_done, v->id);
}

void vm_rendezvous(struct vm *vm, struct vcpu *self, const cpuset_t *set, vm_rendezvous_fn *fn, void *arg)
{
	pthread_mutex_lock(&vm->rv_mtx);
	while (vm->rv_func) {
		if (pending_for(vm, self)) {
			pthread_mutex_unlock(&vm->rv_mtx);
			pthread_mutex_lock(&self->mtx);
			self->rv_pending = true;
			pthread_mutex_unlock(&self->mtx);
			vm_rendezvous_serve(self);
			pthread_mutex_lock(&vm->rv_mtx);
			continue;
		}
		pthread_cond_wait(&vm->rv_cond, &vm->rv_mtx);
	}
	/* Targets: the vCPUs of set that have a thread in vm_run(). */
	cpuset_t req;
	cpuset_zero(&req);
	CPUSET_FOREACH(i, set)
	{
		if ((uint32_t)i >= vm->ncpus)
			break;
		pthread_mutex_lock(&vm->lock);
		struct vcpu *t = vm->vcpus[i];
		pthread_mutex_unlock(&vm->lock);
		if (t && t->attached)
			cpuset_set(&req, (uint32_t)i);
	}
	if (cpuset_empty(&req)) {
		pthread_mutex_unlock(&vm->rv_mtx);
		return;
	}
	vm->rv_func = fn;
	vm->rv_arg = arg;
	vm->rv_req = req;
	cpuset_zero(&vm->rv_done);
	pthread_cond_broadcast(&vm->rv_cond); /* initiators waiting above may be targets */
	pthread_mutex_unlock(&vm->rv_mtx);

	CPUSET_FOREACH(i, &req)
	{
		struct vcpu *t = vm_vcpu_lookup(vm, (uint32_t)i);
		pthread_mutex_lock(&t->mtx);
		t->rv_pending = true;
		pthread_mutex_unlock(&t->mtx);
		if (t != self)
			vcpu_notify(t);
	}
	if (self && cpuset_isset(&req, self->id))
		vm_rendezvous_serve(self);

	pthread_mutex_lock(&vm->rv_mtx);
	while (!cpuset_equal(&vm->rv_done, &vm->rv_req))
		pthread_cond_wait(&vm->rv_cond, &vm->rv_mtx);
	vm->rv_func = NULL;
	pthread_cond_broadcast(&vm->rv_cond); /* let the next initiator in */
	pthread_mutex_unlock(&vm->rv_mtx);
}
