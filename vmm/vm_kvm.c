/* vm_kvm.c: the KVM half of the VM object: vm_create() on top of vm.c's
 * KVM-free construction (the KVM VM, its RAM slots, CPUID), and each
 * vCPU's KVM half (fd, run mapping, TSC, CPUID) through vm->backend_vcpu_init.
 * Only this file, kvm.c and vcpu.c call the KVM backend from vm.c's side;
 * unit tests link vm.c without it (vm_create_detached). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/cpuid.h"
#include "vmm/kvm.h"
#include "vmm/vm_priv.h"

int vm_max_cpus(bool x2apic)
{
	if (!x2apic)
		return XAPIC_MAX_CPUS;
	int fd = kvm_open();
	if (fd < 0)
		return fd;
	int n = kvm_max_vcpus(fd);
	close(fd);
	return n < VM_MAXCPU ? n : VM_MAXCPU;
}

/* vm->backend_vcpu_init: the KVM vCPU, its run mapping, TSC and CPUID. vm->create_mtx held. */
static int kvm_vcpu_init(struct vm *vm, struct vcpu *v)
{
	int r;
	if ((r = kvm_vcpu_create(vm->vm_fd, v->id)) < 0)
		return r;
	v->fd = r;
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	v->kick = kvm_run_immediate_exit(v->run);
	/* KVM gives a new vCPU the TSC offset of the ones before it (x86.c,
	 * kvm_synchronize_tsc() at creation), so one measurement serves all. */
	if (!vm->tsc_known) {
		if ((r = kvm_tsc_setup(v->fd, &vm->tsc_offset, &vm->tsc_khz)) < 0)
			return r;
		vm->tsc_known = true;
	}
	v->tsc_offset = vm->tsc_offset;
	unsigned cap = vm->cpuid_nent + 8;
	struct cpuid_entry *c = calloc(cap, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c, vm->cpuid, vm->cpuid_nent * sizeof(*c));
	struct cpuid_params p = {.apic_id = v->id, .ncpus = vm->ncpus, .x2apic = vm->x2apic,
				 .tsc_khz = vm->tsc_khz};
	r = cpuid_build(c, vm->cpuid_nent, cap, &p);
	if (r >= 0)
		r = kvm_set_cpuid(v->fd, c, (unsigned)r);
	free(c);
	return r < 0 ? r : 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	int r = vm_init_common(cfg, &vm, err, errlen);
	if (r < 0)
		return r;
	vm->backend_vcpu_init = kvm_vcpu_init;
	if ((r = kvm_open()) < 0) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(-r));
		goto fail;
	}
	vm->kvm_fd = r;
	int maxcpus = kvm_max_vcpus(vm->kvm_fd);
	if ((int)vm->ncpus > maxcpus) {
		snprintf(err, errlen, "%u vCPUs requested, KVM allows %d", vm->ncpus, maxcpus);
		r = -EINVAL;
		goto fail;
	}
	if ((r = kvm_run_size(vm->kvm_fd)) < 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(-r));
		goto fail;
	}
	vm->run_size = r;
	if ((r = kvm_supported_cpuid(vm->kvm_fd, &vm->cpuid)) < 0) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed");
		r = -EIO;
		goto fail;
	}
	vm->cpuid_nent = (unsigned)r;
	vm->phys_bits = cpuid_phys_bits(vm->cpuid, vm->cpuid_nent);
	vm->pvm = vm_host_is_pvm();
	if ((r = vm_init_platform(vm, err, errlen)) < 0)
		goto fail;
	if ((r = kvm_vm_create(vm->kvm_fd)) < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(-r));
		goto fail;
	}
	vm->vm_fd = r;
	if ((r = kvm_vm_setup(vm->vm_fd, err, errlen)) < 0)
		goto fail;
	if ((r = vm_init_ram(vm, cfg->mem_size, err, errlen)) < 0)
		goto fail;
	if ((r = vm_slots_init(vm)) < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
		goto fail;
	}
	snprintf(err, errlen, "%s", "");
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}
