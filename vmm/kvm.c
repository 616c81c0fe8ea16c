/* kvm.c: checked wrappers around the KVM ioctls that libvmm uses (no in-kernel irqchip). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm/cpuid.h"
#include "vmm/kvm.h"
#include "vmm/vmm.h"
#include "vmm/vlapic.h"

/* Where KVM on VMX parks its real-mode TSS and EPT identity map (inside the
 * MMIO hole, below the BIOS area; QEMU uses the same addresses). */
#define KVM_TSS_ADDR 0xfffbd000u
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define MSR_IA32_TSC_DEADLINE 0x6e0

static int xioctl(int fd, unsigned long req, const void *arg)
{
	int r;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EAGAIN);
	return r < 0 ? -errno : r;
}

int kvm_open(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int kvm_max_vcpus(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	return n <= 0 ? 4 : n; /* api.rst 4.7: 4 when neither is reported */
}

int kvm_vm_create(int kvm_fd)
{
	int fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	return fd < 0 ? -errno : fd;
}

int kvm_vm_setup(int vm_fd, char *err, size_t errlen)
{
	int r;
	/* Needed on VMX without unrestricted guest for real mode (APs start there). */
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0) {
		r = xioctl(vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)KVM_TSS_ADDR);
		if (r < 0) {
			snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(-r));
			return r;
		}
	}
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t a = KVM_IDENTITY_MAP_ADDR;
		r = xioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a);
		if (r < 0) {
			snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(-r));
			return r;
		}
	}
	/* x2APIC MSRs (always "invalid" without an in-kernel LAPIC) and unknown MSRs
	 * come to user space (api.rst 7.21, KVM_CAP_X86_USER_SPACE_MSR). */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR};
	cap.args[0] = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
		      KVM_MSR_EXIT_REASON_FILTER;
	r = xioctl(vm_fd, KVM_ENABLE_CAP, &cap);
	if (r < 0) {
		snprintf(err, errlen, "KVM_CAP_X86_USER_SPACE_MSR: %s (kernel too old?)", strerror(-r));
		return r;
	}
	/* IA32_APIC_BASE, IA32_TSC_DEADLINE and KVM's PV EOI MSR are ours: KVM would
	 * handle the first and the third itself (without using the PV EOI word:
	 * that is its in-kernel LAPIC's) and silently drop the second (api.rst
	 * 4.97, KVM_X86_SET_MSR_FILTER). */
	static const uint8_t deny = 0; /* bitmap bit 0 clear: deny -> exit with reason FILTER */
	struct kvm_msr_filter f;
	memset(&f, 0, sizeof(f));
	f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
	f.ranges[0] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
						     .nmsrs = 1, .base = MSR_IA32_APIC_BASE,
						     .bitmap = (uint8_t *)&deny};
	f.ranges[1] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
						     .nmsrs = 1, .base = MSR_IA32_TSC_DEADLINE,
						     .bitmap = (uint8_t *)&deny};
	f.ranges[2] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
						     .nmsrs = 1, .base = MSR_KVM_PV_EOI_EN,
						     .bitmap = (uint8_t *)&deny};
	r = xioctl(vm_fd, KVM_X86_SET_MSR_FILTER, &f);
	if (r < 0) {
		snprintf(err, errlen, "KVM_X86_SET_MSR_FILTER: %s", strerror(-r));
		return r;
	}
	return 0;
}

int kvm_set_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region m = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host};
	return xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
}

_Static_assert(CPUID_FLAG_INDEXED == KVM_CPUID_FLAG_SIGNIFCANT_INDEX, "cpuid.h's flag is KVM's");

int kvm_supported_cpuid(int kvm_fd, struct cpuid_entry **out)
{
	*out = NULL;
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			struct cpuid_entry *e = calloc(c->nent ? c->nent : 1, sizeof(*e));
			unsigned nent = c->nent;
			for (unsigned i = 0; e && i < nent; i++) {
				const struct kvm_cpuid_entry2 *k = &c->entries[i];
				e[i] = (struct cpuid_entry){.function = k->function, .index = k->index, .flags = k->flags,
							    .eax = k->eax, .ebx = k->ebx, .ecx = k->ecx, .edx = k->edx};
			}
			free(c);
			*out = e;
			return e ? (int)nent : -ENOMEM;
		}
		int e = errno;
		free(c);
		if (e != E2BIG)
			return -e;
	}
	return -E2BIG;
}

int kvm_set_cpuid(int fd, const struct cpuid_entry *e, unsigned nent)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = nent;
	for (unsigned i = 0; i < nent; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){.function = e[i].function, .index = e[i].index,
							  .flags = e[i].flags, .eax = e[i].eax, .ebx = e[i].ebx,
							  .ecx = e[i].ecx, .edx = e[i].edx};
	int r = xioctl(fd, KVM_SET_CPUID2, c);
	free(c);
	return r;
}

int kvm_vcpu_create(int vm_fd, uint32_t id)
{
	int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	return fd < 0 ? -errno : fd;
}

int kvm_run_size(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	return n < 0 ? -errno : n;
}

/* --- hyve's register types <-> KVM's (x86_regs.h): copies, no ioctl of their own --- */
int kvm_get_regs(int fd, struct x86_regs *r)
{
	struct kvm_regs k;
	int e = xioctl(fd, KVM_GET_REGS, &k);
	if (e < 0)
		return e;
	*r = (struct x86_regs){.rax = k.rax, .rcx = k.rcx, .rdx = k.rdx, .rbx = k.rbx, .rsp = k.rsp,
			       .rbp = k.rbp, .rsi = k.rsi, .rdi = k.rdi, .r8 = k.r8, .r9 = k.r9,
			       .r10 = k.r10, .r11 = k.r11, .r12 = k.r12, .r13 = k.r13, .r14 = k.r14,
			       .r15 = k.r15, .rip = k.rip, .rflags = k.rflags};
	return 0;
}

int kvm_set_regs(int fd, const struct x86_regs *r)
{
	struct kvm_regs k = {.rax = r->rax, .rbx = r->rbx, .rcx = r->rcx, .rdx = r->rdx, .rsi = r->rsi,
			     .rdi = r->rdi, .rsp = r->rsp, .rbp = r->rbp, .r8 = r->r8, .r9 = r->r9,
			     .r10 = r->r10, .r11 = r->r11, .r12 = r->r12, .r13 = r->r13, .r14 = r->r14,
			     .r15 = r->r15, .rip = r->rip, .rflags = r->rflags};
	return xioctl(fd, KVM_SET_REGS, &k);
}

static struct vm_segment from_kvm_seg(const struct kvm_segment *k)
{
	return (struct vm_segment){.base = k->base, .limit = k->limit, .selector = k->selector,
				   .type = k->type, .s = k->s, .dpl = k->dpl, .present = k->present,
				   .db = k->db, .l = k->l, .g = k->g, .unusable = k->unusable};
}

static struct kvm_segment to_kvm_seg(const struct vm_segment *g)
{
	return (struct kvm_segment){.base = g->base, .limit = g->limit, .selector = g->selector,
				    .type = g->type, .present = g->present, .dpl = g->dpl, .db = g->db,
				    .s = g->s, .l = g->l, .g = g->g, .unusable = g->unusable};
}

int kvm_get_sregs(int fd, struct x86_sregs *s)
{
	struct kvm_sregs k;
	int e = xioctl(fd, KVM_GET_SREGS, &k);
	if (e < 0)
		return e;
	*s = (struct x86_sregs){.cs = from_kvm_seg(&k.cs), .ds = from_kvm_seg(&k.ds), .es = from_kvm_seg(&k.es),
				.fs = from_kvm_seg(&k.fs), .gs = from_kvm_seg(&k.gs), .ss = from_kvm_seg(&k.ss),
				.tr = from_kvm_seg(&k.tr), .ldt = from_kvm_seg(&k.ldt),
				.gdt = {k.gdt.base, k.gdt.limit}, .idt = {k.idt.base, k.idt.limit},
				.cr0 = k.cr0, .cr2 = k.cr2, .cr3 = k.cr3, .cr4 = k.cr4, .cr8 = k.cr8,
				.efer = k.efer, .apic_base = k.apic_base};
	return 0;
}

/* KVM's interrupt bitmap stays empty: hyve queues no interrupt through it. */
int kvm_set_sregs(int fd, const struct x86_sregs *s)
{
	struct kvm_sregs k = {.cs = to_kvm_seg(&s->cs), .ds = to_kvm_seg(&s->ds), .es = to_kvm_seg(&s->es),
			      .fs = to_kvm_seg(&s->fs), .gs = to_kvm_seg(&s->gs), .ss = to_kvm_seg(&s->ss),
			      .tr = to_kvm_seg(&s->tr), .ldt = to_kvm_seg(&s->ldt),
			      .gdt = {.base = s->gdt.base, .limit = s->gdt.limit},
			      .idt = {.base = s->idt.base, .limit = s->idt.limit},
			      .cr0 = s->cr0, .cr2 = s->cr2, .cr3 = s->cr3, .cr4 = s->cr4, .cr8 = s->cr8,
			      .efer = s->efer, .apic_base = s->apic_base};
	return xioctl(fd, KVM_SET_SREGS, &k);
}

int kvm_get_mxcsr(int fd, uint32_t *mxcsr)
{
	struct kvm_fpu fpu;
	int r = xioctl(fd, KVM_GET_FPU, &fpu);
	if (r == 0)
		*mxcsr = fpu.mxcsr;
	return r;
}

int kvm_set_mxcsr(int fd, uint32_t mxcsr)
{
	struct kvm_fpu fpu;
	int r = xioctl(fd, KVM_GET_FPU, &fpu);
	if (r < 0)
		return r;
	fpu.mxcsr = mxcsr;
	return xioctl(fd, KVM_SET_FPU, &fpu);
}

int kvm_get_fpu(int fd, struct x86_fpu *f)
{
	struct kvm_fpu k;
	int r = xioctl(fd, KVM_GET_FPU, &k);
	if (r < 0)
		return r;
	memcpy(f->fpr, k.fpr, sizeof(f->fpr));
	memcpy(f->xmm, k.xmm, sizeof(f->xmm));
	f->fcw = k.fcw;
	f->fsw = k.fsw;
	f->ftwx = k.ftwx;
	f->last_opcode = k.last_opcode;
	f->last_ip = k.last_ip;
	f->last_dp = k.last_dp;
	f->mxcsr = k.mxcsr;
	return 0;
}

int kvm_set_fpu(int fd, const struct x86_fpu *f)
{
	struct kvm_fpu k;
	memset(&k, 0, sizeof(k));
	memcpy(k.fpr, f->fpr, sizeof(k.fpr));
	memcpy(k.xmm, f->xmm, sizeof(k.xmm));
	k.fcw = f->fcw;
	k.fsw = f->fsw;
	k.ftwx = f->ftwx;
	k.last_opcode = f->last_opcode;
	k.last_ip = f->last_ip;
	k.last_dp = f->last_dp;
	k.mxcsr = f->mxcsr;
	return xioctl(fd, KVM_SET_FPU, &k);
}

int kvm_set_guest_debug(int fd, unsigned flags, const uint64_t dr[4], uint64_t dr7)
{
	struct kvm_guest_debug g;
	memset(&g, 0, sizeof(g));
	if (flags) {
		g.control = KVM_GUESTDBG_ENABLE;
		if (flags & KVM_DBG_SW)
			g.control |= KVM_GUESTDBG_USE_SW_BP;
		if (flags & KVM_DBG_STEP)
			g.control |= KVM_GUESTDBG_SINGLESTEP;
		if (flags & KVM_DBG_HW) {
			g.control |= KVM_GUESTDBG_USE_HW_BP;
			for (int i = 0; i < 4; i++)
				g.arch.debugreg[i] = dr[i];
			/* DR7 bit 10 reads as 1 and GE (bit 9) asks for exact data
			 * breakpoints (SDM 17.2.4), as QEMU's gdbstub sets them. */
			g.arch.debugreg[7] = dr7 | 0x600;
		}
	}
	return xioctl(fd, KVM_SET_GUEST_DEBUG, &g);
}

int kvm_set_fpu_reset(int fd)
{
	struct kvm_fpu fpu;
	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;     /* SDM table 9-1: x87 control word after INIT */
	fpu.mxcsr = 0x1f80;  /* SDM 10.2.3: MXCSR after INIT */
	return xioctl(fd, KVM_SET_FPU, &fpu);
}

int kvm_clear_events(int fd)
{
	struct kvm_vcpu_events ev;
	memset(&ev, 0, sizeof(ev));
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	return xioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
}

int kvm_nmi_unblock(int fd)
{
	struct kvm_vcpu_events ev;
	memset(&ev, 0, sizeof(ev));
	int r = xioctl(fd, KVM_GET_VCPU_EVENTS, &ev);
	if (r < 0 || !ev.nmi.masked)
		return r;
	ev.nmi.masked = 0;
	ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	return xioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
}

int kvm_inject_irq(int fd, uint8_t vector)
{
	struct kvm_interrupt irq = {.irq = vector};
	return xioctl(fd, KVM_INTERRUPT, &irq);
}

int kvm_inject_nmi(int fd)
{
	return xioctl(fd, KVM_NMI, NULL);
}

int kvm_vcpu_run(int fd)
{
	int r = ioctl(fd, KVM_RUN, 0);
	return r < 0 ? -errno : 0;
}

int kvm_kick_signal_setup(int fd, int sig)
{
	sigset_t block, cur;
	sigemptyset(&block);
	sigaddset(&block, sig);
	int r = pthread_sigmask(SIG_BLOCK, &block, &cur);
	if (r)
		return -r;
	sigdelset(&cur, sig);
	/* KVM takes the kernel's sigset (8 bytes on x86-64), not glibc's. */
	struct {
		struct kvm_signal_mask m;
		uint8_t set[8];
	} km;
	km.m.len = 8;
	memcpy(km.set, &cur, 8);
	return xioctl(fd, KVM_SET_SIGNAL_MASK, &km);
}

void kvm_kick_consume(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	const struct timespec now = {0, 0};
	while (sigtimedwait(&s, NULL, &now) == sig)
		;
}

int kvm_vcpu_finish_io(int fd, struct kvm_run *run)
{
	/* Atomic stores: vcpu_notify() on another thread may store 1 at the same
	 * time (a plain store would be a data race; ThreadSanitizer under the
	 * chaos guest). Losing its 1 is harmless: the caller goes through
	 * wait_runnable() again before the next entry. */
	__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	int r = kvm_vcpu_run(fd);
	__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return r == -EINTR ? 0 : r;
}

uint8_t *kvm_run_immediate_exit(struct kvm_run *run)
{
	return &run->immediate_exit;
}

void kvm_run_forget_window(struct kvm_run *run)
{
	run->request_interrupt_window = 0;
	run->ready_for_interrupt_injection = 0;
}

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS (host-initiated). */
static int msr_io(int fd, unsigned long req, uint32_t index, uint64_t *data)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e.index = index;
	m.e.data = *data;
	int r = ioctl(fd, req, &m);
	if (r != 1)
		return r < 0 ? -errno : -EIO;
	*data = m.e.data;
	return 0;
}

int kvm_set_msr(int fd, uint32_t index, uint64_t data)
{
	return msr_io(fd, KVM_SET_MSRS, index, &data);
}

int kvm_tsc_setup(int fd, int64_t *offset, uint32_t *khz)
{
	uint64_t tsc = 0;
	uint64_t h0 = x86_rdtsc();
	int r = msr_io(fd, KVM_GET_MSRS, 0x10 /* IA32_TIME_STAMP_COUNTER */, &tsc);
	uint64_t h1 = x86_rdtsc();
	if (r < 0)
		return r;
	*offset = (int64_t)(tsc - (h0 + (h1 - h0) / 2));
	int k = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (k > 0)
		*khz = (uint32_t)k;
	else if (!*khz)
		*khz = 1000000; /* unknown: assume 1 GHz */
	return 0;
}

int kvm_translate(int fd, uint64_t linear, uint64_t *gpa)
{
	struct kvm_translation t = {.linear_address = linear};
	int r = xioctl(fd, KVM_TRANSLATE, &t);
	if (r < 0)
		return r;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

static int inject(int fd, uint8_t nr, bool has_ec, uint32_t ec)
{
	struct kvm_vcpu_events ev;
	memset(&ev, 0, sizeof(ev));
	int r = xioctl(fd, KVM_GET_VCPU_EVENTS, &ev);
	if (r < 0)
		return r;
	ev.exception.injected = 1;
	ev.exception.nr = nr;
	ev.exception.has_error_code = has_ec;
	ev.exception.error_code = ec;
	ev.flags = 0;
	return xioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
}

int kvm_inject_exception(int fd, uint8_t nr) { return inject(fd, nr, false, 0); }
int kvm_inject_exception_ec(int fd, uint8_t nr, uint32_t error_code) { return inject(fd, nr, true, error_code); }

/* --- what kind of KVM this host has (vmm.h) --- */
bool vm_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

const char *vm_host_kvm_kind(void)
{
	if (vm_host_is_pvm())
		return "KVM-PVM (kvm_pvm)";
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return "KVM on AMD SVM (kvm_amd)";
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return "KVM on Intel VMX (kvm_intel)";
	return "KVM (no kvm_amd, kvm_intel or kvm_pvm module seen)";
}
