/* kvm.h: libvmm's KVM backend (private): thin, checked wrappers around the
 * KVM ioctls, in hyve's own types (x86_regs.h, cpuid.h); kvm.c converts to
 * and from KVM's structs and is, with the run loop in vcpu.c (its exit table
 * is keyed by KVM's exit reasons and reads struct kvm_run in place), the only
 * file of libvmm that includes the KVM header. struct kvm_run stays opaque
 * here: callers outside the loop hold only the pointer. */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/x86_regs.h"

struct cpuid_entry;
struct kvm_run;

/* Every function returns 0 (or a non-negative value) or -errno. */
int kvm_open(void);                              /* fd of /dev/kvm, API version checked */
int kvm_max_vcpus(int kvm_fd);
int kvm_vm_create(int kvm_fd);                   /* VM fd */
int kvm_vm_setup(int vm_fd, char *err, size_t errlen); /* TSS/identity map, user-space MSRs, MSR filter */
int kvm_set_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host);
/* KVM's supported CPUID table: *out malloc'd (the caller frees it); returns
 * the entry count or -errno. */
int kvm_supported_cpuid(int kvm_fd, struct cpuid_entry **out);
int kvm_vcpu_create(int vm_fd, uint32_t id);     /* vCPU fd */
int kvm_run_size(int kvm_fd);

/* Registers in hyve's types (x86_regs.h); kvm.c converts, one ioctl each. */
int kvm_get_regs(int fd, struct x86_regs *r);
int kvm_set_regs(int fd, const struct x86_regs *r);
int kvm_get_sregs(int fd, struct x86_sregs *s);
int kvm_set_sregs(int fd, const struct x86_sregs *s); /* KVM's interrupt bitmap: empty */
int kvm_set_cpuid(int fd, const struct cpuid_entry *e, unsigned nent);
/* One host-initiated MSR write (KVM_SET_MSRS): not subject to the MSR filter. */
int kvm_set_msr(int fd, uint32_t index, uint64_t data);
int kvm_get_fpu(int fd, struct x86_fpu *f);     /* KVM_GET_FPU */
int kvm_set_fpu(int fd, const struct x86_fpu *f); /* KVM_SET_FPU */
/* KVM_SET_GUEST_DEBUG (api.rst 4.54): flags KVM_DBG_* (0: off); dr[0..3] and
 * dr7 are loaded into the hardware instead of the guest's with KVM_DBG_HW. */
#define KVM_DBG_SW (1u << 0)   /* intercept every #BP */
#define KVM_DBG_HW (1u << 1)   /* DR0-DR3 and DR7 from dr[], dr7 */
#define KVM_DBG_STEP (1u << 2) /* single-step (KVM sets EFLAGS.TF, hidden from the guest) */
int kvm_set_guest_debug(int fd, unsigned flags, const uint64_t dr[4], uint64_t dr7);
int kvm_set_fpu_reset(int fd);                   /* FPU/SSE state of a processor after INIT */
int kvm_get_mxcsr(int fd, uint32_t *mxcsr);     /* KVM_GET_FPU */
int kvm_set_mxcsr(int fd, uint32_t mxcsr);       /* KVM_GET_FPU + KVM_SET_FPU */
int kvm_clear_events(int fd);                    /* drop pending exceptions/interrupts/NMIs */
/* Ends NMI blocking as an IRET does (KVM_GET/SET_VCPU_EVENTS nmi.masked = 0):
 * a held NMI becomes deliverable. */
int kvm_nmi_unblock(int fd);
int kvm_inject_irq(int fd, uint8_t vector);
int kvm_inject_nmi(int fd);
int kvm_vcpu_run(int fd);                        /* 0, or -errno (-EINTR on a kick) */
/* Kicks (vcpu_notify's signal) interrupt KVM_RUN only (api.rst 4.24,
 * KVM_SET_SIGNAL_MASK): the calling thread blocks `sig`, KVM_RUN runs with
 * it unblocked. A kick then makes KVM_RUN return -EINTR and stays pending,
 * with no handler to run (a signal frame and rt_sigreturn saved per kick);
 * kvm_kick_consume() takes it before the next entry. The owner thread. */
int kvm_kick_signal_setup(int fd, int sig);
/* Takes a pending `sig` of this thread, if any (after KVM_RUN said -EINTR). */
void kvm_kick_consume(int sig);
/* KVM_RUN with immediate_exit set: KVM completes a pending I/O, MMIO or MSR
 * exit without running guest code (api.rst, kvm_run.immediate_exit). */
int kvm_vcpu_finish_io(int fd, struct kvm_run *run);
/* &run->immediate_exit: set it (atomically) and the next or current KVM_RUN
 * returns at once (vcpu_notify() keeps the pointer: no call on the kick). */
uint8_t *kvm_run_immediate_exit(struct kvm_run *run);
/* Forgets the interrupt-window request and readiness of the last exit. */
void kvm_run_forget_window(struct kvm_run *run);
/* The vCPU's TSC offset from the host's (guest TSC = rdtsc + offset) and its
 * frequency in kHz (KVM_GET_TSC_KHZ). */
int kvm_tsc_setup(int fd, int64_t *offset, uint32_t *khz);
/* Guest linear address -> guest physical (KVM_TRANSLATE); -EFAULT if unmapped. */
int kvm_translate(int fd, uint64_t linear, uint64_t *gpa);
/* Injects exception `nr` (no error code) before the next entry. */
int kvm_inject_exception(int fd, uint8_t nr);
/* Same, for an exception that pushes an error code (#GP, #PF, ...). */
int kvm_inject_exception_ec(int fd, uint8_t nr, uint32_t error_code);

#endif
