# guests/module.mk: hyve's freestanding test kernels and their runtime.
# Each name in GUESTS builds guests/NAME.c into $(BUILD)/guests/NAME.elf,
# linked with every object of GUEST_LIB_SRCS (see the root Makefile).
# crt0.S must come first: it holds the Multiboot header (guest.ld keeps it at
# the start of .text, within the first 8 KiB of the file).

GUEST_LIB_SRCS += lib/crt0.S lib/isr.S lib/rt.c lib/printf.c lib/apic.c \
                  lib/smp.c lib/smp_tramp.S

# Foundation and negative tests (cases.sh), exit statuses and reports (cases_core.sh)
GUESTS += hello exitcode triple unclaimed fwcfg cmdline reset halt_forever spin ap_miss

# SMP: the default guest of `make run`, and the addressing-mode tests
GUESTS += smpdemo smp_xapic_phys smp_xapic_flat smp_xapic_cluster \
          smp_x2apic_phys smp_x2apic_cluster smp_allexcl smp_allexcl_x2 \
          smp_bcast smp_bcast_x2

# SMP regressions (docs/smp-spec.md section 4)
GUESTS += reg_beyond_n reg_restart reg_double_sipi reg_init_each_other \
          reg_ipi_all_pairs reg_esr_illegal

# Interrupts and timers (issue 4; cases_irq.sh): interrupt helpers and the test kernels
GUEST_LIB_SRCS += lib/irq.c
GUESTS += irq_lapic_periodic irq_lapic_oneshot irq_tpr irq_nest irq_ipi_storm irq_nmi_lowpri irq_self_ipi irq_ioapic irq_pic irq_clocks irq_pv_eoi irq_extint
GUESTS += irq_lapic_drift irq_sti_hlt irq_lapic_mode irq_apic_id irq_apic_disable irq_nmi_latch irq_apic_reloc
GUESTS += console_echo

# The GDB stub (issue 15; cases_gdb.sh): break, step, watch and read in it
GUESTS += gdb_target

# Hostile guests (issue 12; cases_chaos.sh): random APIC, I/O APIC and port accesses on every vCPU
GUESTS += chaos
