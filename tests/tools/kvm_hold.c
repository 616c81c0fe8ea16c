/* kvm_hold.c: keeps one idle KVM VM, with one vCPU and no in-kernel irqchip,
 * alive until it is killed. tools/nested-svm starts it in L1 before anything
 * else uses /dev/kvm there.
 *
 * Why: KVM counts vCPUs without an in-kernel LAPIC in a static key
 * (kvm_has_noapic_vcpu, arch/x86/kvm/x86.c: static_branch_inc() in
 * kvm_arch_vcpu_create(), _dec() in kvm_arch_vcpu_destroy()), and enables
 * SVM/VMX on every CPU when the first VM appears and disables it when the
 * last one goes (hardware_enable_all()/hardware_disable_all(), IPIs to every
 * CPU). hyve never creates an irqchip, so each hyve run that is alone on the
 * machine flips that key twice: Linux rewrites the code of every
 * lapic_in_kernel() site with text_poke_bp() (INT3 patching with cross-CPU
 * sync IPIs), and toggles EFER.SVME on every CPU. On real hardware that costs
 * microseconds. Under QEMU's multi-threaded TCG it wedges L1 within a few
 * hundred hyve runs (seen: one CPU spinning in native_queued_spin_lock_slowpath
 * while the other traps on the patch INT3 at __schedule+0x2ab forever, every
 * timer interrupt left in IRR; also soft lockups in kvm_destroy_vm's
 * on_each_cpu, and "corrupted stack end detected inside scheduler" panics).
 * With one VM and one irqchip-less vCPU held for L1's whole life the key
 * never returns to 0 and SVM stays on: no code patching and no SVM toggling
 * per run, the same as on a host where any other VMM keeps a VM.
 *
 * Usage: kvm-hold   (prints "kvm-hold: holding VM fd N, vCPU fd M", then waits)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm-hold: cannot open /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "kvm-hold: KVM_CREATE_VM: %s\n", strerror(errno));
		return 1;
	}
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fprintf(stderr, "kvm-hold: KVM_CREATE_VCPU: %s\n", strerror(errno));
		return 1;
	}
	printf("kvm-hold: holding VM fd %d, vCPU fd %d\n", vm, vcpu);
	fflush(stdout);
	for (;;)
		pause();
}
