# tests/guest/cases_chaos.sh: the chaos guest (issue 12), sourced by tests/run-tests.
#
# guests/chaos.c: every vCPU fires random ICR writes (every mode, shorthand
# and destination, INIT/STARTUP storms), xAPIC MMIO of any offset and size,
# x2APIC MSRs, APIC mode switches, TPR/EOI/timer storms, I/O APIC and port
# accesses for ms=N milliseconds; then the BSP quiesces the APs and writes
# exit=N to the debug-exit port. Each case asserts that hyve ends with
# exactly that status, (N << 1) | 1, and that the guest saw no unexpected
# exception and got every AP parked at the end (else it says FAIL). Each
# case asks for its own status, so a run that ends any other way (reset,
# triple fault, timeout, a FAIL, a crash of hyve) cannot pass by accident.
# In the asan/ pass hyve also must print no sanitizer report and leak
# nothing; the svm/ tier runs the same cases on a real SVM KVM.
#
# Cases: chaos/seed=S/xapic|x2apic/ipi-exit|spinup-ap (4 vCPUs, 2 s), plus
# 2 and 8 vCPUs, plus two "abrupt" runs in which the BSP ends the VM while
# every AP is still in full chaos (teardown under load). A failed case prints the
# seed; `hyve --cpus N --ap-startup=P --append "seed=S ms=2000 x2apic"
# build/guests/chaos.elf` runs it again (the same random streams; the
# interleaving of the vCPUs differs from run to run). The long soak with
# fresh seeds is `make soak` (tests/soak-chaos.sh).

: "${G:?cases_chaos.sh: the harness must set G to the guests build dir}"

# chaos_case NAME CPUS PROTOCOL EXIT APPEND...
chaos_case() {
	local name=$1 n=$2 proto=$3 code=$4
	shift 4
	local seed=${1#seed=}
	t "chaos/$name" $(((code << 1 | 1) & 255)) --out "chaos: seed=$seed " --out "chaos: exiting with $code[^0-9]" \
		--not-out '^FAIL' -- --timeout 60 --cpus "$n" --ap-startup="$proto" --append "$* exit=$code" "$G/chaos.elf"
}

chaos_code=32
for seed in 1 2; do
	for mode in xapic x2apic; do
		x2=
		[ "$mode" = x2apic ] && x2=x2apic
		for proto in ipi-exit spinup-ap; do
			chaos_code=$((chaos_code + 1))
			chaos_case "seed=$seed/$mode/$proto" 4 "$proto" "$chaos_code" "seed=$seed" ms=2000 $x2
		done
	done
done
chaos_case "seed=3/x2apic/ipi-exit/cpus=8" 8 ipi-exit 41 seed=3 ms=2000 x2apic
chaos_case "seed=4/xapic/spinup-ap/cpus=2" 2 spinup-ap 42 seed=4 ms=2000
# The BSP exits in full chaos, without quiescing the APs: teardown under load.
chaos_case "seed=5/x2apic/ipi-exit/abrupt" 4 ipi-exit 43 seed=5 ms=1000 x2apic abrupt
chaos_case "seed=6/xapic/spinup-ap/abrupt" 4 spinup-ap 44 seed=6 ms=1000 abrupt
