# cases_core.sh: exit statuses, lazy allocation, the never-ran report and tracing
# (sourced by tests/run-tests; "$G" is the guests build dir).

# --- how the guest stopped -> hyve's exit status (docs/exits.md) ---
t status/poweroff-0x604 0 --out 'writing 0x2000 to port 0x604' -- --timeout 60 --append poweroff "$G/reset.elf"
for how in cf9 kbd port92 init-bsp; do
	t "status/reset-$how" 4 --not-out 'still running' -- --timeout 60 --append "$how" "$G/reset.elf"
done
t status/halted-forever 12 --err 'every vCPU is halted with interrupts disabled' \
	-- --timeout 60 "$G/halt_forever.elf"
for p in ipi-exit spinup-ap; do
	t "status/halted-forever-smp/$p" 12 --out 'start: 3 of 3 expected APs' \
		--err 'vcpus configured=4 allocated=4 started=4' \
		-- --timeout 60 --cpus 4 --ap-startup=$p --append ap "$G/halt_forever.elf"
done
t status/timeout 10 --err 'timeout: the guest ran longer than 0.5 s' --err 'vcpus configured=1' \
	-- --timeout 0.5 "$G/spin.elf"

# --- --verbose names the host's KVM; the KVM-PVM completions run only there ---
# (The same order as vm_host_kvm_kind(): kvm_pvm wins where several are loaded.)
if [ "$HYVE_TIER" = svm ]; then
	HOST_KIND=(--err '; host: KVM on AMD SVM \(kvm_amd\)$')
elif [ -e /sys/module/kvm_pvm ]; then
	HOST_KIND=(--err '; host: KVM-PVM \(kvm_pvm\) \(hyve completes int3, ')
elif [ -e /sys/module/kvm_amd ]; then
	HOST_KIND=(--err '; host: KVM on AMD SVM \(kvm_amd\)$')
else
	HOST_KIND=(--err '; host: KVM on Intel VMX \(kvm_intel\)$')
fi
t status/host-kind 0 "${HOST_KIND[@]}" --err 'insn-completed=0$' -- --timeout 60 --verbose --cpus 2
unset HOST_KIND

# --- lazy vCPUs (smp-spec 1.2): 1024 configured, only the BSP runs, no AP state ---
for p in ipi-exit spinup-ap; do
	t "lazy/1024-vcpus/$p" 33 --out '^PASS' --out 'cpus=1024' \
		--err 'vcpus configured=1024 allocated=1 started=1;' --err 'vCPUs 1-1023 never ran: never got INIT' \
		-- --timeout 60 --verbose --cpus 1024 --ap-startup=$p "$G/hello.elf"
done

# --- seeing what happened (smp-spec 5) ---
for p in ipi-exit spinup-ap; do
	t "report/ap-miss/$p" 33 --out 'arrivals 0' \
		--err 'vcpus configured=4 allocated=1 started=1' \
		--err 'vCPU 1 never ran: never got INIT; the last STARTUP that reached no vCPU had logical destination 0x02 \(no LDR matched\)' \
		--err 'vCPU 2 never ran: STARTUP \(vector 0x10\) arrived while POWERON \(no INIT before it\)' \
		--err 'startup-dropped=1' \
		-- --timeout 60 --verbose --cpus 4 --ap-startup=$p "$G/ap_miss.elf"
done
t trace/apic-text 33 --out '^PASS' \
	--err '^apic: vcpu0 sends init vector 0x00 shorthand none dest 0x1 physical \(xAPIC\) -> deliver: 1$' \
	--err '^apic:   init to vcpu1: not allocated; waits for STARTUP$' \
	--err '^apic: vcpu1 state POWERON->WAIT_SIPI$' \
	--err '^apic:   startup to vcpu1: claimed: leaves WAIT_SIPI$' \
	--err '^apic: vcpu1 state WAIT_SIPI->CLAIMED$' \
	--err '^apic: vcpu1 state CLAIMED->RUNNING$' \
	--err '^apic:   startup to vcpu1: dropped: STARTUP while (RUNNING|HALTED)$' \
	-- --timeout 60 --cpus 2 --trace=apic "$G/smp_xapic_phys.elf"
TRACE_JSON=$BUILD/trace-test.json
t trace/json-file 33 --out '^PASS' --not-err '^apic:' \
	-- --timeout 60 --cpus 3 --ap-startup=spinup-ap --trace-file="$TRACE_JSON" "$G/smp_allexcl.elf"
json_check() {
	local why=
	[ -s "$TRACE_JSON" ] || why="empty trace file"
	grep -vqE '^\{"event":"(ipi|target|state)",.*\}$' "$TRACE_JSON" && why="a line is not a JSON event object"
	grep -qE '^\{"event":"ipi","sender":0,"mode":"init",.*"shorthand":"all-excl",.*"verdict":"deliver","targets":\[1,2\]\}$' \
		"$TRACE_JSON" || why="${why:+$why; }no ALL-EXCL INIT event with targets [1,2]"
	grep -qE '^\{"event":"target","vcpu":2,"mode":"startup",.*"delivered":true,' "$TRACE_JSON" ||
		why="${why:+$why; }no delivered STARTUP to vCPU 2"
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TRACE_JSON" 2>/dev/null ||
			why="${why:+$why; }python3 cannot parse it"
	fi
	local n=${CASE_PREFIX:-}trace/json-contents
	if [ -z "$why" ]; then
		N_PASS=$((N_PASS + 1)); echo "ok   $n"
	else
		N_FAIL=$((N_FAIL + 1)); FAILED+=("$n"); echo "FAIL $n: $why"
	fi
}
if [ "$KVM_OK" = 1 ] && { [ -z "$FILTER" ] || [[ ${CASE_PREFIX:-}trace/json-contents =~ $FILTER ]]; } &&
	case_start "${CASE_PREFIX:-}trace/json-contents"; then
	json_check
fi

# The vCPU report on request: SIGUSR2 to a running hyve prints it and the guest runs on.
sigusr2_check() {
	local out=$TMPD/usr2.out err=$TMPD/usr2.err why= pid
	"$HYVE" --timeout 3 --cpus 2 "$G/spin.elf" </dev/null >"$out" 2>"$err" &
	pid=$!
	sleep 0.5
	kill -USR2 "$pid"
	wait "$pid"
	local rc=$?
	[ "$rc" = 10 ] || why="exit status $rc, want 10 (the guest must keep running until --timeout)"
	[ "$(grep -c 'vcpus configured=2 allocated=1 started=1' "$err")" -ge 2 ] ||
		why="${why:+$why; }no report on SIGUSR2 before the one at the timeout"
	grep -q 'vCPU 1 never ran: never got INIT' "$err" || why="${why:+$why; }no never-ran verdict"
	[ -n "${CASE_NOT_ERR:-}" ] && grep -Eq -- "$CASE_NOT_ERR" "$err" && why="${why:+$why; }stderr has /$CASE_NOT_ERR/"
	local n=${CASE_PREFIX:-}report/sigusr2
	if [ -z "$why" ]; then
		N_PASS=$((N_PASS + 1)); echo "ok   $n"
	else
		N_FAIL=$((N_FAIL + 1)); FAILED+=("$n"); echo "FAIL $n: $why"; sed 's/^/    err: /' "$err"
	fi
}
if [ "$KVM_OK" = 1 ] && { [ -z "$FILTER" ] || [[ ${CASE_PREFIX:-}report/sigusr2 =~ $FILTER ]]; } &&
	case_start "${CASE_PREFIX:-}report/sigusr2"; then
	sigusr2_check
elif [ "$KVM_OK" = 0 ]; then
	N_SKIP=$((N_SKIP + 1))
fi
