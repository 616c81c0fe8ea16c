/* vcpu_start.c: a vCPU's registers at reset and start (SDM 9.1.1, table 9-1):
 * the BSP's boot state from the loaders, an AP's real-mode start after
 * STARTUP, and the register dump of crash reports. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cpuid.h"
#include "vmm/kvm.h"
#include "vmm/vm_priv.h"

#define CR0_ET (1u << 4)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define RFLAGS_RESERVED 0x2u

/* Registers common to every start: no pending events, FPU after INIT. A vCPU
 * that never entered the guest still has the state KVM_CREATE_VCPU gave it:
 * no pending event, the FPU as kvm_set_fpu_reset() sets it (FCW 0x37f,
 * MXCSR 0x1f80, the rest 0), and special registers of which the callers set
 * all but KVM's copy of IA32_APIC_BASE (its power-on value: enabled at
 * 0xfee00000, BSP flag on vCPU 0; hyve's own is in the vLAPIC). Its first
 * start skips those three ioctls: on KVM-PVM each vCPU ioctl costs about
 * what an exit does (vcpu_load). */
static int reset_common(struct vcpu *v, struct x86_sregs *s)
{
	int r;
	if (v->entered) {
		if ((r = kvm_get_sregs(v->fd, s)) < 0)
			return r;
	} else {
		memset(s, 0, sizeof(*s));
		s->apic_base = GMEM_LAPIC_BASE | APIC_BASE_EN | (v->id == 0 ? APIC_BASE_BSP : 0);
	}
	s->tr = (struct vm_segment){.limit = 0xffff, .type = 11, .present = 1};
	s->ldt = (struct vm_segment){.limit = 0xffff, .type = 2, .present = 1};
	s->gdt.base = s->idt.base = 0;
	s->gdt.limit = s->idt.limit = 0xffff;
	s->cr2 = s->cr3 = s->cr4 = 0;
	s->efer = 0;
	s->cr8 = 0; /* kvm_set_sregs() also empties KVM's interrupt bitmap */
	if (!v->entered)
		return 0;
	if ((r = kvm_set_fpu_reset(v->fd)) < 0)
		return r;
	return kvm_clear_events(v->fd);
}

/* Marks the BSP started (vm_vcpu_setup_*). */
static int bsp_started(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&v->mtx);
	pthread_mutex_lock(&vm->lock);
	int r = vcpu_set_state(vm, v->id, VCPU_RUNNING); /* refused if set up twice */
	if (r == 0)
		cpuset_set(&vm->active, v->id);
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
	return r;
}

int vm_vcpu_setup_boot(struct vcpu *v, const struct vm_boot_cpu *st)
{
	struct x86_sregs s;
	int r = reset_common(v, &s);
	if (r < 0)
		return r;
	s.cs = st->cs;
	s.ds = s.es = s.fs = s.gs = s.ss = st->ds;
	if (st->tr.present)
		s.tr = st->tr;
	s.gdt.base = st->gdt_base;
	s.gdt.limit = st->gdt_limit;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = st->cr0;
	s.cr3 = st->cr3;
	s.cr4 = st->cr4;
	s.efer = st->efer;
	if ((r = kvm_set_sregs(v->fd, &s)) < 0)
		return r;
	struct x86_regs regs = {.rip = st->rip, .rax = st->rax, .rbx = st->rbx, .rsi = st->rsi,
				.rflags = st->rflags ? st->rflags : RFLAGS_RESERVED};
	if ((r = kvm_set_regs(v->fd, &regs)) < 0)
		return r;
	return bsp_started(v);
}

/* Real-mode start after STARTUP (SDM 8.4.3, table 9-1): CS.selector = vector << 8,
 * CS.base = vector << 12, IP = 0. Own thread. */
int vcpu_apply_start(struct vcpu *v, uint64_t rip)
{
	struct x86_sregs s;
	int r;
	if (v->io_pending) {
		/* Let KVM finish the last I/O/MMIO/MSR exit without running guest code
		 * before the registers are replaced (api.rst, kvm_run.immediate_exit). */
		v->entered = true;
		r = kvm_vcpu_finish_io(v->fd, v->run);
		v->io_pending = false;
		if (r < 0)
			return r;
	}
	if ((r = reset_common(v, &s)) < 0)
		return r;
	s.cs = (struct vm_segment){.base = rip, .limit = 0xffff,
				   .selector = (uint16_t)(rip >> 4), .type = 0xb, .present = 1, .s = 1};
	struct vm_segment data = {.limit = 0xffff, .type = 3, .present = 1, .s = 1};
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.cr0 = CR0_CD | CR0_NW | CR0_ET;
	if ((r = kvm_set_sregs(v->fd, &s)) < 0)
		return r;
	struct cpuid_entry *l1 = cpuid_find(v->vm->cpuid, v->vm->cpuid_nent, 1, 0);
	struct x86_regs regs = {.rip = 0, .rflags = RFLAGS_RESERVED, .rdx = l1 ? l1->eax : 0x600};
	if ((r = kvm_set_regs(v->fd, &regs)) < 0)
		return r;
	kvm_run_forget_window(v->run);
	v->if_flag = false;
	return 0;
}

int vm_vcpu_start_ap(struct vm *vm, uint32_t vcpuid, uint64_t rip)
{
	struct vcpu *v = vm_vcpu_lookup(vm, vcpuid);
	if (!v)
		return -ENOENT;
	int r = 0;
	pthread_mutex_lock(&v->mtx);
	pthread_mutex_lock(&vm->lock);
	if (vm->boot[vcpuid].state != VCPU_CLAIMED || v->start_pending) {
		r = -EBUSY; /* not claimed (an INIT came in between), or started already */
	} else {
		v->start_pending = true;
		v->start_rip = rip;
		cpuset_set(&vm->active, vcpuid);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&v->mtx);
	if (r == 0)
		vcpu_notify(v);
	return r;
}

int vm_vcpu_dump(struct vcpu *v, char *buf, size_t len)
{
	struct x86_regs r;
	struct x86_sregs s;
	int e;
	if ((e = kvm_get_regs(v->fd, &r)) < 0 || (e = kvm_get_sregs(v->fd, &s)) < 0)
		return e;
	snprintf(buf, len,
		 "vCPU %u: rip=%016llx rflags=%016llx\n"
		 "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		 "  rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx\n"
		 "  cs=%04x base=%llx limit=%x  ss=%04x  ds=%04x\n"
		 "  cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx\n"
		 "  gdt=%llx/%x idt=%llx/%x",
		 v->id, (unsigned long long)r.rip, (unsigned long long)r.rflags,
		 (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
		 (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
		 (unsigned long long)r.rsp, (unsigned long long)r.rbp, s.cs.selector,
		 (unsigned long long)s.cs.base, s.cs.limit, s.ss.selector, s.ds.selector,
		 (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
		 (unsigned long long)s.cr4, (unsigned long long)s.efer, (unsigned long long)s.gdt.base,
		 s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
	return 0;
}
