#!/usr/bin/env bash
# soak-nested.sh: the IPI soak of issue 16 on the nested SVM KVM (make soak).
# Usage: tests/soak-nested.sh [--build DIR] [--runs N] [--chaos-ms MS] [--chaos-only] [--seed S]
#        (N rounds, default 150)
#
# Each round runs, each in a fresh hyve with --timeout 60 on the real SVM KVM
# of tools/nested-svm (L1 with kvm-hold, single-threaded TCG):
#   bench_ipi (2 vCPUs, xAPIC)        520 round trips with a spinning, 520 with a halted receiver
#   bench_ipi x2apic                  the same in x2APIC mode
#   irq_ipi_storm --cpus 4 (xAPIC)    ping-pong per ordered pair and an all-to-all storm
#   irq_ipi_storm --cpus 4 x2apic     the same in x2APIC mode
#   chaos --cpus 4                    MS ms (default 2000; 0: none) of the chaos
#                                     guest (issue 12), seed = S + round, xAPIC in
#                                     odd rounds, x2APIC in even ones; it must
#                                     end with the status it asks for
# under ipi-exit, and every other round under spinup-ap (--chaos-only: the
# chaos run alone). KVM's tracepoints are
# on in L1; a failed run prints its output, the end of hyve's --trace-file and
# the last 150 lines of L1's KVM trace without the serial-port I/O. With N=150, a fault that hits one run
# in 30 shows up with probability 1 - (29/30)^150 > 99.4% per guest.
# Ends with "soak: R runs, F failed (IPIs: T; chaos: C runs, S s)" and status 0 if F is 0.
set -u
BUILD=build RUNS=150 CHAOS_MS=2000 IPI=1 SEED=0
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--chaos-ms) CHAOS_MS=$2; shift 2 ;;
	--chaos-only) IPI=0; shift ;;
	--seed) SEED=$2; shift 2 ;;
	*) echo "soak-nested: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "soak-nested: --runs: '$RUNS' is not a positive number" >&2; exit 2; }
[[ $CHAOS_MS =~ ^[0-9]+$ ]] || { echo "soak-nested: --chaos-ms: '$CHAOS_MS' is not a number" >&2; exit 2; }
[[ $SEED =~ ^[0-9]+$ ]] || { echo "soak-nested: --seed: '$SEED' is not a number" >&2; exit 2; }
cd "$(dirname "$0")/.." || exit 2
for f in "$BUILD/hyve" "$BUILD/bench/bench_ipi.elf" "$BUILD/guests/irq_ipi_storm.elf" "$BUILD/guests/chaos.elf" "$BUILD/tools/kvm-hold"; do
	[ -e "$f" ] || { echo "soak-nested: $f is missing (make all bench-build)" >&2; exit 2; }
done
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat >"$script" <<EOF
B=$BUILD RUNS=$RUNS CHAOS_MS=$CHAOS_MS IPI=$IPI SEED=$SEED
T=/sys/kernel/tracing
mount -t tracefs nodev \$T 2>/dev/null
echo 4096 >\$T/buffer_size_kb
echo 1 >\$T/events/kvm/enable
runs=0 fails=0 ipis=0 chaos_runs=0 chaos_ms=0
one() { # WANT_STATUS IPIS HYVE_ARGS...
	local want=\$1 n=\$2
	shift 2
	echo >\$T/trace
	runs=\$((runs + 1))
	timeout -k 5 120 \$B/hyve --timeout 60 --trace-file=/tmp/soak.json "\$@" >/tmp/soak.out 2>/tmp/soak.err
	local rc=\$?
	if [ "\$rc" = "\$want" ] && ! grep -q '^FAIL' /tmp/soak.out; then
		ipis=\$((ipis + n))
		return
	fi
	fails=\$((fails + 1))
	echo "=== FAIL (status \$rc, want \$want): hyve \$*"
	tr -d '\r' </tmp/soak.out | tail -12 | sed 's/^/    out: /'
	tail -5 /tmp/soak.err | sed 's/^/    err: /'
	tail -20 /tmp/soak.json | sed 's/^/    trace: /'
	grep -v '^#' \$T/trace | grep -vE 'kvm_pio|reason io|kvm_fpu|KVM_EXIT_IO|kvm_unmap_hva' | tail -150 | cut -c1-200 | sed 's/^/    kvm: /'
}
for i in \$(seq 1 \$RUNS); do
	p=ipi-exit
	[ \$((i % 2)) = 0 ] && p=spinup-ap
	if [ "\$IPI" = 1 ]; then
		one 33 2080 --ap-startup=\$p --cpus 2 \$B/bench/bench_ipi.elf
		one 33 2080 --ap-startup=\$p --cpus 2 --append x2apic \$B/bench/bench_ipi.elf
		one 33 720 --ap-startup=\$p --cpus 4 \$B/guests/irq_ipi_storm.elf
		one 33 720 --ap-startup=\$p --cpus 4 --append x2apic \$B/guests/irq_ipi_storm.elf
	fi
	if [ "\$CHAOS_MS" != 0 ]; then
		x2=
		[ \$((i % 2)) = 0 ] && x2=x2apic
		code=\$((32 + i % 64))
		one \$(((code << 1 | 1) & 255)) 0 --ap-startup=\$p --cpus 4 --append "seed=\$((SEED + i)) ms=\$CHAOS_MS exit=\$code \$x2" \$B/guests/chaos.elf
		chaos_runs=\$((chaos_runs + 1))
		chaos_ms=\$((chaos_ms + \$(tr -d '\\r' </tmp/soak.out | sed -n 's/^chaos: seed=[0-9]*: \\([0-9]*\\) ms of chaos.*/\\1/p' | grep . || echo 0)))
	fi
	[ \$((i % 10)) = 0 ] && echo "soak: round \$i of \$RUNS: \$runs runs, \$fails failed"
done
echo "soak: \$runs runs, \$fails failed (IPIs: \$ipis; chaos: \$chaos_runs runs, \$((chaos_ms / 1000)) s)"
[ "\$fails" = 0 ]
EOF
t0=$(date +%s)
tools/nested-svm --kvm-hold "$BUILD/tools/kvm-hold" --timeout $((RUNS * 60 + 600)) --log "$BUILD/nested/l1-console-make-soak.log" \
	--payload "$BUILD/hyve" --payload "$BUILD/guests" --payload "$BUILD/bench" "$script"
rc=$?
echo "soak-nested: $(($(date +%s) - t0)) s, tools/nested-svm status $rc"
exit "$rc"
