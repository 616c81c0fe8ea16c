# tests/guest/cases_irq.sh: interrupts and timers (issue 4), sourced by tests/run-tests.
#
# One guest per subject (guests/irq_*.c, runtime in guests/lib/irq.{h,c});
# each runs under both AP start-up protocols, with --cpus 1/2/4 where more
# CPUs change what is tested (every per-CPU test runs on all CPUs at once),
# and in x2APIC mode ("--append x2apic") where the APIC mode matters.
# Guests print "PASS" and exit 0x10 (status 33), or list their problems
# ("cpu N: ...") and "FAIL: ..." (35). Time bounds inside the guests are
# generous lower bounds (a timer never fires early) plus sanity upper bounds:
# the development hosts are slow, shared and can stall a vCPU for
# milliseconds. Cost: 94 runs, about 25-35 s.
#
#   irq_lapic_periodic  periodic LAPIC timer, 50 ticks on every CPU
#   irq_lapic_oneshot   one-shot (divides 1 2 16 128, TMCCR, masking, stop,
#                       restart) and TSC-deadline (MSR 0x6e0) on every CPU
#   irq_tpr             TPR masking, PPR, delivery order of pending vectors
#   irq_nest            nested interrupts, ISR bits, EOI order
#   irq_ipi_storm       fixed IPI ping-pong per ordered pair, all-to-all storm
#   irq_nmi_lowpri      NMI IPIs (also to CPUs halted with IF=0), lowest priority
#   irq_self_ipi        ICR SELF shorthand, ICR own ID, x2APIC SELF IPI MSR
#   irq_ioapic          I/O APIC: PIT on pin 2, COM1 THRE on pin 4, level
#                       lines with Remote IRR (pc-testdev), edge, logical,
#                       lowest priority, broadcast
#   irq_pic             8259 pair only: PIT IRQ0, RTC IRQ8, edge and ELCR level
#   irq_clocks          ACPI PM timer against the TSC, RTC registers
#   irq_sti_hlt         an interrupt pending at STI; HLT returns after the HLT
#   irq_lapic_mode      LVT Timer one-shot <-> periodic keeps the count (TMCCR
#                       not reloaded, a one-shot at 0 stays 0; issue 13)
#   irq_apic_id         writable xAPIC ID: physical IPIs and I/O APIC messages
#                       follow it (shared, moved away), x2APIC ID stays initial
#   irq_apic_disable    APIC global disable clears CPUID.01H:EDX[9]
#   irq_nmi_latch       NMI held during a handler until IRET, two back to back
#                       both taken, NMIs in the MOV SS / STI shadow
#   irq_apic_reloc      the APIC page moved onto RAM answers there, RAM again
#                       after it moves back; another CPU sees the RAM
#   irq_pv_eoi          KVM PV EOI: flag set for a lone edge-triggered vector,
#                       not with IRR pending or TMR set; MSR #GP cases
#   irq_extint          an I/O APIC pin as ExtINT: one INTA per message

: "${G:?cases_irq.sh: the harness must set G to the guests build dir}"

IRQ_PASS=33
IRQ_TMO=(--timeout 60)

# irq_case GUEST MODE CPUS [--out RE]...: one run under each AP start-up
# protocol. MODE is xapic or x2apic (passed as --append x2apic).
irq_case() {
	local g=$1 mode=$2 n=$3 app=()
	shift 3
	[ "$mode" = x2apic ] && app=(--append x2apic)
	local proto
	for proto in ipi-exit spinup-ap; do
		t "$g/$mode/$proto/cpus=$n" "$IRQ_PASS" --out '^PASS' --not-out '^FAIL' --not-out '^cpu [0-9]+: ' "$@" \
			-- "${IRQ_TMO[@]}" --cpus "$n" --ap-startup="$proto" "${app[@]}" "$G/$g.elf"
	done
}

for n in 1 2 4; do
	irq_case irq_lapic_periodic xapic "$n" --out "periodic: $((50 * n)) ticks on $n CPUs, $((50 * n)) expected"
	irq_case irq_lapic_oneshot xapic "$n" --out 'tsc-deadline: tested' \
		--out "restart: $((7 * n)) interrupts on $n CPUs, $((7 * n)) expected"
	irq_case irq_tpr xapic "$n" --out 'order: e4 93 75 6a 62 51 \| e4 93 75 6a 62 51 '
	irq_case irq_nest xapic "$n" \
		--out 'events: LOW begins, HIGH, LOW ends, SAME \| LOW begins, MID begins, TOP, MID ends, LOW ends'
	irq_case irq_ioapic xapic "$n" --out 'ioapic: id 0, version 0x11, 24 pins' \
		--out "pit: pin 2 routed to CPUs 0..$((n < 4 ? n - 1 : 3)) in turn, 20 ticks each" \
		--out '^uart-irq: this line was sent by the COM1 THR-empty interrupt handler' \
		--out 'uart: 69 bytes sent from 70 THRE interrupts' --out 'active-low pin 11' \
		--out 'edge: masked edge lost, then 2 interrupts for 2 rising edges'
done
irq_case irq_lapic_periodic x2apic 4 --out 'periodic: 200 ticks on 4 CPUs, 200 expected'
irq_case irq_lapic_oneshot x2apic 2 --out 'tsc-deadline: tested'
irq_case irq_tpr x2apic 2 --out 'order: e4 93 75 6a 62 51 \| e4 93 75 6a 62 51 '
irq_case irq_nest x2apic 2 --out 'events: LOW begins, HIGH, LOW ends, SAME \|'

# fixed IPIs between CPUs: the counts are exact
for n in 2 4; do
	pairs=$((n * (n - 1)))
	irq_case irq_ipi_storm xapic "$n" --out "ping-pong: $((5 * pairs)) pings and as many pongs" \
		--out "storm: $((50 * pairs)) interrupts taken, $((50 * pairs)) expected"
done
irq_case irq_ipi_storm x2apic 4 --out 'storm: 600 interrupts taken, 600 expected'

# NMI on every CPU; lowest priority with 2+ CPUs (one round per CPU + a tie)
irq_case irq_nmi_lowpri xapic 1 --out 'nmi: 1 NMIs taken on 1 CPUs'
for n in 2 4; do
	irq_case irq_nmi_lowpri xapic "$n" --out "nmi: $n NMIs taken on $n CPUs \(AP 1 and the BSP halted with IF=0\)" \
		--out "lowprio: $((n + 1)) of $((n + 1)) IPIs taken by the one CPU with the lowest TPR"
done

for n in 1 4; do
	irq_case irq_self_ipi xapic "$n" --out "self-IPI \(ICR SELF, ICR own ID\): $((3 * n)) interrupts"
	irq_case irq_self_ipi x2apic "$n" --out "self-IPI \(MSR 0x83f, ICR SELF, ICR own ID\): $((4 * n)) interrupts"
done

# STI; HLT with a self-IPI pending: the HLT executes first, the interrupt wakes
# it and returns after it. The HLT starts a fresh 2 MiB region, so its fetch
# leaves the guest inside the STI shadow (on the nested tier, QEMU's SVM
# emulation then loses the shadow and hyve must complete the HLT: issue 16).
for n in 1 4; do
	irq_case irq_sti_hlt xapic "$n" --out "sti-hlt: 4 trials on $n CPUs, every interrupt returned after its HLT"
done
irq_case irq_sti_hlt x2apic 2 --out 'sti-hlt: 4 trials on 2 CPUs, every interrupt returned after its HLT'

# One-shot <-> periodic switches keep the current count (SDM 10.5.4, issue 13).
for n in 1 2; do
	irq_case irq_lapic_mode xapic "$n" --out "mode: .* tested on $n CPUs"
done
irq_case irq_lapic_mode x2apic 2 --out 'mode: .* tested on 2 CPUs'

# The xAPIC ID register is writable and decides physical delivery (SDM 10.4.6, issue 13).
for n in 4 8; do
	irq_case irq_apic_id xapic "$n" --out 'moved: IPIs and I/O APIC messages follow the written IDs' \
		--out 'restored: each ID reaches its own CPU'
done

# IA32_APIC_BASE[11] = 0 shows as CPUID.01H:EDX[9] = 0 (SDM 10.4.3, issue 13): KVM
# follows the base hyve tells it (KVM-PVM's CPUID too).
for n in 1 2; do
	irq_case irq_apic_disable xapic "$n" --out "cpuid: APIC bit follows IA32_APIC_BASE\[11\]: $((2 * n)) base writes"
done
irq_case irq_apic_disable x2apic 2 --out 'cpuid: APIC bit follows IA32_APIC_BASE\[11\]: 12 base writes'

# NMI latching (SDM 6.7.1, 10.5.1, issue 13): an IRET-returning NMI handler;
# on KVM-PVM hyve completes that IRET (insn-completed counts it).
for mode in xapic x2apic; do
	irq_case irq_nmi_latch "$mode" 2 --out '^held: 2 NMIs' --out 'back to back: .* 2 taken, 50 times'
done

# APIC base relocation onto RAM (SDM 10.4.5, issue 13): a hole in KVM's memory slots.
for n in 2 4; do
	irq_case irq_apic_reloc xapic "$n" --out '^moved: the APIC answered at 0x3000000' \
		--out '^moved back: RAM at 0x3000000 as it was'
done

# 8259 only: the BSP's APIC stays as reset left it; an AP must get nothing
for n in 1 2; do
	irq_case irq_pic xapic "$n" --out 'BSP APIC SVR ff LINT0 700 \(untouched\)' \
		--out 'irq0: [0-9]+ PIT ticks through the PIC' \
		--out 'irq8: [0-9]+ RTC periodic interrupts through the slave PIC' \
		--out 'irq5: 2 interrupts for 2 rising edges; irq10 \(level, ELCR\): 3 interrupts'
done

irq_case irq_clocks xapic 1 --out 'pm timer at 0x608: ' --out 'rtc: 20[2-9][0-9]-[01][0-9]-[0-3][0-9] ' \
	--out 'rtc: seconds stepped'

# A periodic 1 kHz LAPIC timer does not drift over 10 s of guest time (10000 ticks within 0.5 %).
for p in ipi-exit spinup-ap; do
	t "irq_lapic_drift/$p" 33 --out 'drift: [0-9]+ ticks in 10 s \(expected 10000\)' --out '^PASS' \
		-- --timeout 60 --ap-startup=$p "$G/irq_lapic_drift.elf"
done

# KVM's PV EOI, done by hyve's vLAPIC (issue 14): the flag is set only for a
# lone edge-triggered vector; ending through it leaves nothing in service.
for n in 1 4; do
	irq_case irq_pv_eoi xapic "$n" --out "pv-eoi: $((2 * n)) interrupts ended through the flag, $((3 * n)) by EOI writes"
done
irq_case irq_pv_eoi x2apic 2 --out 'pv-eoi: 4 interrupts ended through the flag, 6 by EOI writes'

# An I/O APIC pin as ExtINT: one INTA per message, the 8259's spurious IR7
# when it has nothing (82093AA 3.2.4; hyve kept an "INTR" up before and took
# nothing while LINT0 was masked).
for n in 1 2; do
	irq_case irq_extint xapic "$n" --out 'extint: 1 interrupts from 8259 vector 0x25, 3 spurious 0x27, 4 in all'
done
