/* memslots.c: KVM memory slots around local APIC pages relocated onto RAM.
 *
 * SDM Vol. 3A 10.4.5: software may move a local APIC's 4 KiB register page
 * (IA32_APIC_BASE[MAXPHYADDR-1:12]) anywhere, RAM included; the page then
 * answers as the APIC, and when it moves away what lies beneath (RAM) is
 * there again. hyve has no in-kernel APIC, so KVM exits for MMIO only where
 * no memory slot maps the address: a page of RAM that some vLAPIC maps is a
 * hole punched into the slots (gmem_slots), refilled when no vLAPIC maps it
 * any more. The RAM behind a hole keeps its contents.
 *
 * vCPUs may disagree (each has its own IA32_APIC_BASE): the hole exists
 * while at least one vLAPIC maps its page there; an access to it from a
 * vCPU whose APIC is elsewhere exits as MMIO like any other and reaches the
 * RAM through vm_ram_mmio() (on hardware each CPU sees its own APIC there).
 * KVM cannot split a slot atomically (the old slot is deleted, then its
 * pieces are added): a vCPU in the guest meanwhile would find no memory at
 * its code, stack or IDT. So the slots change with every other vCPU out of
 * the guest: slots_busy keeps them from entering (vm_run waits in
 * vm_slots_wait()) and the changer kicks out those inside and waits until
 * none is. At most GMEM_MAX_HOLES distinct pages are holes; an APIC moved
 * onto a further RAM page is not seen there (its accesses reach the RAM;
 * XXX: no guest known to us moves more than a few APIC pages). */
#include <sched.h>
#include <string.h>

#include "vmm/kvm.h"
#include "vmm/vm_priv.h"

/* Every vCPU but self out of the guest, and kept out until slots_release().
 * slots_busy is set before in_guest is read and a vCPU sets in_guest before
 * it reads slots_busy (both sequentially consistent), so either it sees the
 * flag or we see it inside and kick it. slot_mtx held. */
static void slots_hold(struct vm *vm, struct vcpu *self)
{
	__atomic_store_n(&vm->slots_busy, 1, __ATOMIC_SEQ_CST);
	for (uint32_t i = 0; i < vm->ncpus; i++) {
		struct vcpu *t = vm_vcpu_lookup(vm, i);
		if (!t || t == self)
			continue;
		if (__atomic_load_n(&t->in_guest, __ATOMIC_SEQ_CST))
			vcpu_notify(t);
		while (__atomic_load_n(&t->in_guest, __ATOMIC_SEQ_CST))
			sched_yield();
	}
}

static void slots_release(struct vm *vm)
{
	__atomic_store_n(&vm->slots_busy, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->slot_cond);
}

void vm_slots_wait(struct vm *vm)
{
	pthread_mutex_lock(&vm->slot_mtx);
	while (__atomic_load_n(&vm->slots_busy, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&vm->slot_cond, &vm->slot_mtx);
	pthread_mutex_unlock(&vm->slot_mtx);
}

/* Applies the holes to KVM: slots whose range changed are deleted first,
 * then the new ones added (the new slots are disjoint, and a slot that did
 * not change is one of them). slot_mtx held, no vCPU in the guest. */
static int apply_slots(struct vm *vm)
{
	struct gmem_slot nw[GMEM_MAX_SLOTS];
	unsigned nn = gmem_slots(&vm->mem, vm->holes, vm->nholes, nw), i;
	int r = 0, e;
	for (i = 0; i < vm->nslots; i++)
		if (i >= nn || memcmp(&vm->slots[i], &nw[i], sizeof(nw[i])))
			if ((e = kvm_set_memory(vm->vm_fd, i, vm->slots[i].gpa, 0, vm->slots[i].host)) < 0 && !r)
				r = e;
	for (i = 0; i < nn; i++)
		if (i >= vm->nslots || memcmp(&vm->slots[i], &nw[i], sizeof(nw[i])))
			if ((e = kvm_set_memory(vm->vm_fd, i, nw[i].gpa, nw[i].size, nw[i].host)) < 0 && !r)
				r = e;
	memcpy(vm->slots, nw, sizeof(nw));
	vm->nslots = nn;
	return r;
}

int vm_slots_init(struct vm *vm)
{
	pthread_mutex_lock(&vm->slot_mtx);
	int r = apply_slots(vm);
	pthread_mutex_unlock(&vm->slot_mtx);
	return r;
}

static bool is_ram_page(struct vm *vm, uint64_t gpa)
{
	return gpa && gmem_ptr(&vm->mem, gpa, GMEM_PAGE_SIZE);
}

int vm_apic_page_moved(struct vm *vm, struct vcpu *self, uint64_t old_base, uint64_t new_base)
{
	if (old_base == new_base || (!is_ram_page(vm, old_base) && !is_ram_page(vm, new_base)))
		return 0;
	pthread_mutex_lock(&vm->slot_mtx);
	bool changed = false;
	if (is_ram_page(vm, old_base)) {
		for (unsigned i = 0; i < vm->nholes; i++) {
			if (vm->holes[i] != old_base)
				continue;
			if (--vm->hole_refs[i] == 0) { /* no APIC there any more: RAM again */
				vm->nholes--;
				vm->holes[i] = vm->holes[vm->nholes];
				vm->hole_refs[i] = vm->hole_refs[vm->nholes];
				changed = true;
			}
			break;
		}
	}
	if (is_ram_page(vm, new_base)) {
		unsigned i = 0;
		while (i < vm->nholes && vm->holes[i] != new_base)
			i++;
		if (i < vm->nholes) {
			vm->hole_refs[i]++;
		} else if (vm->nholes < GMEM_MAX_HOLES) {
			vm->holes[vm->nholes] = new_base;
			vm->hole_refs[vm->nholes++] = 1;
			changed = true;
		}
	}
	int r = 0;
	if (changed) {
		slots_hold(vm, self);
		r = apply_slots(vm);
		slots_release(vm);
	}
	pthread_mutex_unlock(&vm->slot_mtx);
	return r;
}

bool vm_ram_mmio(struct vm *vm, uint64_t gpa, unsigned len, bool is_write, uint8_t *data)
{
	uint8_t *p = len <= 8 ? gmem_ptr(&vm->mem, gpa, len) : NULL;
	if (!p)
		return false;
	if (is_write)
		memcpy(p, data, len);
	else
		memcpy(data, p, len);
	return true;
}
