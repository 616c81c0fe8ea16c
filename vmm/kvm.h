/* kvm.h: libvmm's thin, checked wrapper around the KVM ioctls (private). */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Every function returns 0 (or a non-negative value) or -errno. */
int kvm_open(void);                              /* fd of /dev/kvm, API version checked */
int kvm_max_vcpus(int kvm_fd);
int kvm_vm_create(int kvm_fd);                   /* VM fd */
int kvm_vm_setup(int vm_fd, char *err, size_t errlen); /* TSS/identity map, user-space MSRs, MSR filter */
int kvm_set_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host);
struct kvm_cpuid2 *kvm_supported_cpuid(int kvm_fd); /* malloc'd; NULL on failure */
int kvm_vcpu_create(int vm_fd, uint32_t id);     /* vCPU fd */
int kvm_run_size(int kvm_fd);

int kvm_get_regs(int fd, struct kvm_regs *r);
int kvm_set_regs(int fd, const struct kvm_regs *r);
int kvm_get_sregs(int fd, struct kvm_sregs *s);
int kvm_set_sregs(int fd, const struct kvm_sregs *s);
int kvm_set_cpuid(int fd, const struct kvm_cpuid2 *c);
/* One host-initiated MSR write (KVM_SET_MSRS): not subject to the MSR filter. */
int kvm_set_msr(int fd, uint32_t index, uint64_t data);
int kvm_set_fpu_reset(int fd);
int kvm_get_fpu(int fd, struct kvm_fpu *fpu);
int kvm_set_fpu(int fd, const struct kvm_fpu *fpu);                   /* FPU/SSE state of a processor after INIT */
int kvm_clear_events(int fd);                    /* drop pending exceptions/interrupts/NMIs */
/* Ends NMI blocking as an IRET does (KVM_GET/SET_VCPU_EVENTS nmi.masked = 0):
 * a held NMI becomes deliverable. */
int kvm_nmi_unblock(int fd);
int kvm_inject_irq(int fd, uint8_t vector);
int kvm_inject_nmi(int fd);
int kvm_vcpu_run(int fd);                        /* 0, or -errno (-EINTR on a kick) */
/* The vCPU's TSC offset from the host's (guest TSC = rdtsc + offset) and its
 * frequency in kHz (KVM_GET_TSC_KHZ). */
int kvm_tsc_setup(int fd, int64_t *offset, uint32_t *khz);
uint64_t kvm_host_tsc(void);
/* Guest linear address -> guest physical (KVM_TRANSLATE); -EFAULT if unmapped. */
int kvm_translate(int fd, uint64_t linear, uint64_t *gpa);
/* Injects exception `nr` (no error code) before the next entry. */
int kvm_inject_exception(int fd, uint8_t nr);
/* Same, for an exception that pushes an error code (#GP, #PF, ...). */
int kvm_inject_exception_ec(int fd, uint8_t nr, uint32_t error_code);

#endif
