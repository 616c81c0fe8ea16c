# vmm/module.mk: libvmm, the core (VM, vCPUs, vLAPIC, IPIs, rendezvous, KVM backend).
VMM_SRCS += vmm/gmem.c
VMM_SRCS += vmm/apic_dest.c
VMM_SRCS += vmm/vlapic.c
VMM_SRCS += vmm/cpuid.c
VMM_SRCS += vmm/kvm.c
VMM_SRCS += vmm/vm.c
VMM_SRCS += vmm/vcpu.c
VMM_SRCS += vmm/ipi.c
VMM_SRCS += vmm/rendezvous.c
VMM_SRCS += vmm/timer.c
VMM_SRCS += vmm/irq.c

UNIT_TESTS += test_gmem
test_gmem_SRCS := vmm/gmem.c
UNIT_TESTS += test_apic_dest
test_apic_dest_SRCS := vmm/apic_dest.c
UNIT_TESTS += test_vlapic
test_vlapic_SRCS := vmm/vlapic.c vmm/apic_dest.c
UNIT_TESTS += test_cpuid
test_cpuid_SRCS := vmm/cpuid.c
UNIT_TESTS += test_rendezvous
test_rendezvous_SRCS := vmm/rendezvous.c vmm/vm.c vmm/kvm.c vmm/cpuid.c vmm/vlapic.c vmm/apic_dest.c vmm/ipi.c vmm/gmem.c vmm/timer.c vmm/vcpu.c vmm/irq.c vmm/vioapic.c
UNIT_TESTS += test_vcpu_state
test_vcpu_state_SRCS := vmm/vm.c vmm/rendezvous.c vmm/kvm.c vmm/cpuid.c vmm/vlapic.c vmm/apic_dest.c vmm/ipi.c vmm/gmem.c vmm/timer.c vmm/vcpu.c vmm/irq.c vmm/vioapic.c
VMM_SRCS += vmm/vioapic.c
UNIT_TESTS += test_vioapic
test_vioapic_SRCS := vmm/vioapic.c
