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
	grep -vqE '^\{"event":"(start|activate|thread|ipi|target|state|never_ran|end)","t_ns":[0-9]+,.*\}$' "$TRACE_JSON" &&
		why="a line is not a JSON event object with its time"
	grep -qE '^\{"event":"ipi","t_ns":[0-9]+,"sender":0,"mode":"init",.*"shorthand":"all-excl",.*"verdict":"deliver","targets":\[1,2\]\}$' \
		"$TRACE_JSON" || why="${why:+$why; }no ALL-EXCL INIT event with targets [1,2]"
	grep -qE '^\{"event":"target","t_ns":[0-9]+,"vcpu":2,"mode":"startup",.*"delivered":true,' "$TRACE_JSON" ||
		why="${why:+$why; }no delivered STARTUP to vCPU 2"
	head -1 "$TRACE_JSON" | grep -qE '^\{"event":"start",.*"cpus":3,.*"ap_startup":"spinup-ap"' ||
		why="${why:+$why; }the first line is not the start event"
	tail -1 "$TRACE_JSON" | grep -qE '^\{"event":"end",.*"status":33,"allocated":3,"started":3,' ||
		why="${why:+$why; }the last line is not the end event (status 33, 3 started)"
	# The exits by kind (issue 14): each of the ten kinds, and the spinup-ap
	# INIT/STARTUP ICR writes counted as ICR exits.
	tail -1 "$TRACE_JSON" | grep -qE '"exits":\{"icr":[1-9][0-9]*,"eoi":[0-9]+,"apic":[0-9]+,"hlt":[0-9]+,"window":[0-9]+,"kick":[0-9]+,"io":[1-9][0-9]*,"mmio":[0-9]+,"msr":[0-9]+,"other":[0-9]+\},"injected":[0-9]+,"pv_eoi":[0-9]+\}$' ||
		why="${why:+$why; }the end event has no exit counts by kind"
	python3 -c 'import json,sys; t=[json.loads(l)["t_ns"] for l in open(sys.argv[1])]; sys.exit(t != sorted(t))' \
		"$TRACE_JSON" 2>/dev/null || why="${why:+$why; }python3 cannot parse it, or t_ns goes backwards"
	local n=${CASE_PREFIX:-}trace/json-contents
	verdict "$n" "$why"
}
if [ "$KVM_OK" = 1 ] && { [ -z "$FILTER" ] || [[ ${CASE_PREFIX:-}trace/json-contents =~ $FILTER ]]; } &&
	case_start "${CASE_PREFIX:-}trace/json-contents"; then
	json_check
fi

# signalled SIG DELAY OUT ERR HYVE_ARGS...: runs hyve, sends it SIG after
# DELAY seconds, prints its exit status.
signalled() {
	local sig=$1 delay=$2 out=$3 err=$4 pid
	shift 4
	"$HYVE" "$@" </dev/null >"$out" 2>"$err" &
	pid=$!
	sleep "$delay"
	kill -"$sig" "$pid"
	wait "$pid"
	echo $?
}

# The timeline (tools/timeline, docs/trace-format.md): an SVG with a lane per
# vCPU that xmllint parses, and a Chrome/Perfetto trace whose every event has
# the fields the Trace Event Format documents for its phase.
TL_DIR=$BUILD/timeline-test
timeline_check() { # NAME CPUS STARTED NEVER_RAN GUEST [HYVE_ARGS...]
	local n=${CASE_PREFIX:-}$1 cpus=$2 started=$3 never=$4 guest=$5 why=
	shift 5
	mkdir -p "$TL_DIR"
	local tr=$TL_DIR/$(basename "$guest" .elf).json svg=$TL_DIR/$(basename "$guest" .elf).svg
	local pf=$TL_DIR/$(basename "$guest" .elf).perfetto.json
	rm -f "$tr" "$svg" "$pf"
	timeout -k 5 120 "$HYVE" --timeout 60 --cpus "$cpus" --trace-file="$tr" "$@" "$guest" </dev/null >/dev/null 2>"$TMPD/tl.err"
	tools/timeline "$tr" --svg "$svg" --perfetto "$pf" 2>"$TMPD/tl.tool" || why="tools/timeline failed: $(cat "$TMPD/tl.tool")"
	if [ -z "$why" ]; then
		xmllint --noout "$svg" 2>"$TMPD/tl.xml" || why="xmllint: $(head -3 "$TMPD/tl.xml")"
		local lanes nlanes verdicts
		lanes=$(grep -c '<g class="lane" data-vcpu="[0-9]*" data-started="1">' "$svg")
		nlanes=$(grep -c '<g class="lane"' "$svg")
		verdicts=$(grep -c '<text class="verdict"' "$svg")
		[ "$lanes" = "$started" ] || why="${why:+$why; }$lanes lanes of started vCPUs, want $started"
		[ "$nlanes" = "$cpus" ] || why="${why:+$why; }$nlanes lanes, want one per configured vCPU ($cpus)"
		[ "$verdicts" = "$never" ] || why="${why:+$why; }$verdicts never-ran verdicts, want $never"
		if [ "$started" -gt 1 ]; then
			for k in init startup first thread; do
				[ "$(grep -c "data-kind=\"$k\"" "$svg")" -ge $((started - 1)) ] ||
					why="${why:+$why; }fewer than $((started - 1)) '$k' marks"
			done
			grep -q '<line class="ipi"' "$svg" || why="${why:+$why; }no IPI arrow"
		fi
		local pv
		pv=$(python3 - "$pf" "$cpus" <<'PY'
import json, sys
# Trace Event Format (Google, "Trace Event Format" doc): every event has ph,
# pid, tid; all but metadata a numeric ts (us); X a dur; i a scope s in g/p/t;
# s/f flow events an id (f binding "e" here); M names a process or thread.
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
assert isinstance(ev, list) and d.get("displayTimeUnit") in ("ms", "ns"), "object format with displayTimeUnit"
names = set()
for e in ev:
    ph = e["ph"]
    assert ph in ("M", "X", "i", "s", "f"), "phase " + ph
    assert isinstance(e["pid"], int) and isinstance(e["tid"], int) and isinstance(e["name"], str), e
    if ph == "M":
        assert e["name"] in ("process_name", "thread_name", "thread_sort_index") and "args" in e, e
        if e["name"] == "thread_name":
            names.add(e["args"]["name"])
        continue
    assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
    if ph == "X":
        assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
    if ph == "i":
        assert e["s"] in ("g", "p", "t"), e
    if ph in ("s", "f"):
        assert "id" in e and isinstance(e.get("cat"), str), e
    if ph == "f":
        assert e.get("bp") == "e", e
want = {"vCPU %d" % i for i in range(int(sys.argv[2]))}
assert names == want, "thread names %s" % sorted(names)
print("ok")
PY
		)
		[ "$pv" = ok ] || why="${why:+$why; }Perfetto trace: $pv"
	fi
	verdict "$n" "$why"
}
# After SIGTERM the trace file is complete: its last line is the end event.
trace_sigterm_check() {
	local n=${CASE_PREFIX:-}trace/sigterm-complete why= tr=$TMPD/term.json
	local rc
	rc=$(signalled TERM 1 /dev/null /dev/null --timeout 30 --cpus 2 --trace-file="$tr" "$G/spin.elf")
	[ "$rc" = 143 ] || why="exit status $rc, want 143"
	tail -1 "$tr" | grep -qE '^\{"event":"end","t_ns":[0-9]+,"status":143,' || why="${why:+$why; }the last line is not the end event with status 143"
	grep -q '"event":"never_ran","t_ns":[0-9]*,"vcpu":1,"why":"never got INIT"' "$tr" ||
		why="${why:+$why; }no never-ran verdict for vCPU 1"
	python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tr" 2>/dev/null || why="${why:+$why; }a line does not parse"
	verdict "$n" "$why"
}
for tl in "trace/timeline/ipi-exit 4 4 0 $G/smp_allexcl.elf" "trace/timeline/spinup-ap 4 4 0 $G/smp_allexcl.elf --ap-startup=spinup-ap" \
	"trace/timeline/never-ran 4 1 3 $G/unclaimed.elf" "trace/sigterm-complete"; do
	set -- $tl
	# The pictures are drawn on the host (xmllint and the tool are not in the nested tier's L1).
	[ "$1" != trace/sigterm-complete ] && [ "$HYVE_TIER" != host ] && continue
	if [ "$KVM_OK" = 1 ] && { [ -z "$FILTER" ] || [[ ${CASE_PREFIX:-}$1 =~ $FILTER ]]; } && case_start "${CASE_PREFIX:-}$1"; then
		if [ "$1" = trace/sigterm-complete ]; then trace_sigterm_check; else timeline_check "$@"; fi
	elif [ "$KVM_OK" = 0 ]; then
		N_SKIP=$((N_SKIP + 1))
	fi
done
set --

# The vCPU report on request: SIGUSR2 to a running hyve prints it and the guest runs on.
sigusr2_check() {
	local out=$TMPD/usr2.out err=$TMPD/usr2.err why=
	local rc
	rc=$(signalled USR2 0.5 "$out" "$err" --timeout 3 --cpus 2 "$G/spin.elf")
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
