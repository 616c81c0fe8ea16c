# tests/guest/cases_gdb.sh: hyve's GDB stub (--gdb, --gdb-wait; issue 15
# item 1) driven by Debian's gdb in batch mode, sourced by tests/run-tests.
#
# Each case starts hyve with --gdb=unix:SOCKET --gdb-wait and
# guests/gdb_target.elf (mostly 2 vCPUs), then `gdb -batch -nx -ex 'target remote
# SOCKET' -ex ...` with the same ELF as its symbol file, and checks gdb's
# output, the guest's output and hyve's exit status. Every case fails when
# its feature is broken: a breakpoint that does not stop lets the guest end
# before gdb's next command ("exited with code" comes too early and the
# values printed after it are wrong), a register or memory read that is
# wrong prints another value, a detach that does not resume leaves hyve to
# its --timeout (status 10).
#
#   gdb/break        break at gdb_step, read gdb_magic, two threads (one per
#                    vCPU) in `info threads`, `thread 2` and its registers,
#                    continue to the exit status (W: "exited with code 013")
#   gdb/step         stepi twice (EIP moves by whole instructions), next
#                    through the loop (gdb_sum grows one step at a time)
#   gdb/stepi        stepi from the first instruction, no breakpoint
#   gdb/startup-held an AP whose STARTUP comes while GDB holds it stays held
#   gdb/hbreak       a hardware breakpoint (DR0) at gdb_hw
#   gdb/watch        a write watchpoint on gdb_watched (old and new value)
#   gdb/watch-soft   the same as GDB's software watchpoint (single steps)
#   gdb/own-int3     the guest's own int3 reaches the guest, not gdb
#   gdb/interrupt    SIGINT to gdb while the guest spins: it stops every
#                    vCPU (T02), gdb writes gdb_release, the guest ends
#   gdb/detach       detach at a breakpoint: the int3 is gone and the guest
#                    runs to its normal end; detach-wait: detach before the
#                    first instruction
#   gdb/attach-kill  gdb attaches to the running guest (every vCPU stops),
#                    reads, kills: hyve ends with status 16
#   gdb/linux        the test kernel's vmlinux (PVH, 64-bit): hbreak at
#                    start_kernel, linux_banner through its page tables,
#                    break at rest_init in its text; linux-attach: attach
#                    while it boots (every tier)
#   gdb/tcp          --gdb=tcp:127.0.0.1:PORT
# On KVM-PVM hosts (guest CPL 0 emulated by KVM's instruction emulator)
# data breakpoints never fire (the emulator does not check DR0-DR3 on the
# accesses it emulates): gdb/watch is skipped there with that reason.
# On the nested tier only the cases without a breakpoint run (below).
# Without gdb (tools/ensure-deps installs it) every case is skipped.
# Cost: 15 hyve runs and 8 option errors; under 1 s each on this host but
# gdb/linux and gdb/linux-attach (8-10 s: a Linux boot to rest_init),
# about 25 s in all (plus the same under ASan).

: "${G:?cases_gdb.sh: the harness must set G to the guests build dir}"

GDB_ELF=$G/gdb_target.elf

# gdb_case NAME STATUS [--gdb RE]... [--not-gdb RE]... [--out RE]... [--not-out RE]... [--pvm-skip WHY]
#          [--svm-skip WHY] [--sigint] [--attach RE] [--elf FILE] [--tcp] -- HYVE_ARGS... -- GDB_COMMAND...
# Without --attach hyve runs with --gdb-wait and gdb comes first; with it,
# gdb attaches once the guest printed a line matching RE (the stub stops
# every vCPU for it). --elf: gdb's symbol file (default gdb_target.elf).
# --gdb/--not-gdb: gdb's output must (not) match RE; --out/--not-out: the guest's;
# --sigint: gdb gets SIGINT once the guest printed "spinning"; each
# GDB_COMMAND is one -ex.
gdb_case() {
	local name=${CASE_PREFIX:-}$1 want=$2
	[ -n "${CASE_SKIP_RE:-}" ] && [[ $1 =~ $CASE_SKIP_RE ]] && return
	shift 2
	local gouts=() ngouts=() outs=() nouts=() pvm_skip= svm_skip= sigint=0 tcp=0 attach=0 ready_re= elf=$GDB_ELF
	while [ "$1" != -- ]; do
		case "$1" in
		--gdb) gouts+=("$2"); shift 2 ;;
		--not-gdb) ngouts+=("$2"); shift 2 ;;
		--out) outs+=("$2"); shift 2 ;;
		--not-out) nouts+=("$2"); shift 2 ;;
		--pvm-skip) pvm_skip=$2; shift 2 ;;
		--svm-skip) svm_skip=$2; shift 2 ;;
		--sigint) sigint=1; shift ;;
		--attach) attach=1; ready_re=$2; shift 2 ;;
		--elf) elf=$2; shift 2 ;;
		--tcp) tcp=1; shift ;;
		*) echo "cases_gdb: bad option '$1' in $name" >&2; N_FAIL=$((N_FAIL + 1)); return ;;
		esac
	done
	shift
	local hargs=()
	while [ "$1" != -- ]; do hargs+=("$1"); shift; done
	shift
	[ -n "$FILTER" ] && ! [[ $name =~ $FILTER ]] && return
	case_start "$name" || return
	if [ "$KVM_OK" = 0 ]; then
		N_SKIP=$((N_SKIP + 1)); [ "$VERBOSE" = 1 ] && echo "SKIP $name (no /dev/kvm)"
		return
	fi
	if ! command -v gdb >/dev/null; then
		N_SKIP=$((N_SKIP + 1)); echo "SKIP $name: no gdb (tools/ensure-deps installs it)"
		return
	fi
	if [ ! -f "$elf" ]; then
		N_SKIP=$((N_SKIP + 1)); echo "SKIP $name: $elf is not built (tools/build-linux $BUILD/linux)"
		return
	fi
	if [[ $elf == */linux/* ]] && [ "${HYVE_SKIP_LINUX:-0}" = 1 ]; then
		N_SKIP=$((N_SKIP + 1)); echo "SKIP $name: HYVE_SKIP_LINUX=1"
		return
	fi
	if [ -n "$pvm_skip" ] && [ -e /sys/module/kvm_pvm ]; then
		N_SKIP=$((N_SKIP + 1)); echo "SKIP $name: KVM-PVM: $pvm_skip"
		return
	fi
	if [ -n "$svm_skip" ] && [ "$HYVE_TIER" = svm ]; then
		N_SKIP=$((N_SKIP + 1)); echo "SKIP $name: nested tier: $svm_skip"
		return
	fi
	local sock=$TMPD/gdb.sock target port out=$TMPD/gdb-hyve.out err=$TMPD/gdb-hyve.err gout=$TMPD/gdb.out
	rm -f "$sock"
	if [ "$tcp" = 1 ]; then
		port=$((20000 + RANDOM % 20000))
		target=127.0.0.1:$port
		hargs=(--gdb=tcp:127.0.0.1:$port "${hargs[@]}")
	else
		target=$sock
		hargs=(--gdb=unix:$sock "${hargs[@]}")
	fi
	local ex=() c
	for c in "$@"; do ex+=(-ex "$c"); done
	local t1 t2 rc hpid gpid why= i
	t1=$(date +%s.%N)
	local wait=(--gdb-wait) ready='GDB stub on' readyf=$err
	[ "$attach" = 1 ] && wait=() ready=$ready_re readyf=$out
	timeout -k 5 120 "$HYVE" --timeout 60 "${wait[@]}" "${hargs[@]}" </dev/null >"$out" 2>"$err" &
	hpid=$!
	# hyve says where it listens once the socket is there (--gdb-wait); with
	# --attach GDB comes while the guest spins.
	for i in $(seq 2400); do grep -q "$ready" "$readyf" && break; kill -0 "$hpid" 2>/dev/null || break; sleep 0.05; done
	# gdb itself gets the SIGINT: under timeout(1) it would get two (timeout
	# sends it to its process group as well), and a second Ctrl-C makes gdb
	# give up on the target. A watchdog of our own ends a gdb that hangs.
	gdb -batch -nx -ex "target remote $target" "${ex[@]}" "$elf" </dev/null >"$gout" 2>&1 &
	gpid=$!
	(sleep 90; kill -9 "$gpid") >/dev/null 2>&1 &
	local wdog=$!
	if [ "$sigint" = 1 ]; then
		for i in $(seq 1200); do grep -q 'gdb_target: spinning' "$out" && break; kill -0 "$gpid" 2>/dev/null || break; sleep 0.05; done
		kill -INT "$gpid" 2>/dev/null
	fi
	wait "$gpid"
	kill "$wdog" 2>/dev/null
	wait "$wdog" 2>/dev/null
	wait "$hpid"
	rc=$?
	t2=$(date +%s.%N)
	[ "$rc" = "$want" ] || why="exit status $rc, want $want"
	local re
	for re in "${gouts[@]}"; do grep -Eq -- "$re" "$gout" || why="${why:+$why; }gdb's output lacks /$re/"; done
	for re in "${ngouts[@]}"; do grep -Eq -- "$re" "$gout" && why="${why:+$why; }gdb's output has /$re/"; done
	for re in "${outs[@]}"; do grep -Eq -- "$re" "$out" || why="${why:+$why; }stdout lacks /$re/"; done
	for re in "${nouts[@]}"; do grep -Eq -- "$re" "$out" && why="${why:+$why; }stdout has /$re/"; done
	[ -n "${CASE_NOT_ERR:-}" ] && grep -Eq -- "$CASE_NOT_ERR" "$err" && why="${why:+$why; }stderr has /$CASE_NOT_ERR/"
	local secs
	secs=$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")
	if [ -z "$why" ]; then
		N_PASS=$((N_PASS + 1)); echo "ok   $name (${secs}s)"
	else
		N_FAIL=$((N_FAIL + 1)); FAILED+=("$name"); echo "FAIL $name (${secs}s): $why"
		echo "    \$ hyve ${wait[*]} ${hargs[*]}; gdb -batch ${ex[*]}"
		tail -25 "$gout" | sed 's/^/    gdb: /'
		tail -8 "$out" | sed 's/^/    out: /'
		tail -8 "$err" | sed 's/^/    err: /'
	fi
}

# The nested tier's L0 is QEMU 7.2's TCG emulating SVM, which cannot stop
# its L2 for L1's KVM at an int3 or a DR breakpoint: it checks INT3 against
# the INTn intercept only (raise_interrupt2(): is_int), never against the #BP
# exception intercept KVM_GUESTDBG_USE_SW_BP sets, so the guest takes its
# own #BP; and the DR7 it loads from the VMCB at VMRUN arms no TCG
# breakpoint, so DR0-DR3 never fire in L2 (QEMU fixed that in 2024, "target/i386:
# disable/enable breakpoints on vmentry/vmexit": cpu_x86_update_dr7() at
# VMRUN; Debian 12 has 7.2). Single steps (#DB from EFLAGS.TF,
# an exception intercept) and everything else work there; the cases that
# need a breakpoint are skipped on that tier with this reason.
SVM_NOBP="QEMU's TCG SVM emulation (L0) delivers a guest int3 to the guest, not to KVM's #BP intercept, and arms no DR0-DR3 breakpoint for L2"

# The guest ends with 5 on debug-exit: status 11, which gdb prints in octal.
gdb_case gdb/break 11 --svm-skip "$SVM_NOBP" --gdb '^Thread 1 hit Breakpoint 1, gdb_step \(n=(n@entry=)?4\)' \
	--gdb '^\$1 = 0x1234abcd$' --gdb '^\$2 = 0$' \
	--gdb '^\* 1 +Thread 1 \(vCPU 0\) gdb_step' --gdb '^  2 +Thread 2 \(vCPU 1\) ' \
	--gdb '^\[Switching to thread 2 \(Thread 2\)\]' --gdb '^eip +0x[0-9a-f]+ +0x[0-9a-f]+ <cpu_park' \
	--gdb '^\$3 = 2$' \
	--gdb '^\[Inferior 1 \(Remote target\) exited with code 013\]$' --out 'gdb_target: sum=110 watched=42' \
	-- --cpus 2 "$GDB_ELF" -- 'break gdb_step' 'continue' 'print/x gdb_magic' 'print gdb_sum' 'info threads' \
	'thread 2' 'info registers eip' 'print $_thread' 'continue'

gdb_case gdb/step 11 --svm-skip "$SVM_NOBP" --gdb '^\$1 = 1$' --gdb '^\$2 = 1$' --gdb '^\$3 = 3$' \
	--gdb '^0x[0-9a-f]+\s+[0-9]+\s' \
	--gdb '^\[Inferior 1 \(Remote target\) exited with code 013\]$' --out 'gdb_target: sum=110' \
	-- --cpus 2 "$GDB_ELF" -- 'break gdb_step' 'continue' 'delete' 'stepi' 'stepi' 'print $pc > gdb_step && $pc < gdb_step + 16' \
	'next' 'next' 'print gdb_sum' 'next' 'next' 'print gdb_sum' 'continue'

# Single steps from the first instruction (held there by --gdb-wait), with
# no breakpoint: every tier. Two stepi move the PC past _start's first
# instructions, no further than a few bytes.
gdb_case gdb/stepi 11 --gdb '^\$1 = 1$' --gdb '^\$2 = 1$' --gdb '^\$3 = 1$' --gdb 'exited with code 013' \
	-- --cpus 1 "$GDB_ELF" -- 'print $pc == _start' 'stepi' 'stepi' 'print $pc > _start' 'print $pc < _start + 16' 'continue'

# A STARTUP while GDB holds the AP: with scheduler-locking on, `finish`
# runs only the BSP through smp_init_sipi_sipi() (INIT, 10 ms, STARTUP,
# STARTUP); the AP gets its thread and its start but must not run (its first
# C code counts gdb_ap_ran), under both AP start-up protocols. Then
# everything continues and the guest passes its own check that the AP started.
for proto in ipi-exit spinup-ap; do
	gdb_case gdb/startup-held/$proto 11 --svm-skip "$SVM_NOBP" --gdb '^kmain \(.*\) at guests/gdb_target.c' \
		--gdb '^\$1 = 0$' --gdb '^  2 +Thread 2 \(vCPU 1\) ' --gdb '^\$2 = 1$' --gdb 'exited with code 013' \
		--out 'gdb: 1 of 1 expected APs reported exactly once' --out 'gdb_target: sum=110' \
		-- --cpus 2 --ap-startup=$proto "$GDB_ELF" -- 'break smp_init_sipi_sipi' 'continue' 'delete' \
		'set scheduler-locking on' 'finish' 'print gdb_ap_ran' 'info threads' 'set scheduler-locking off' \
		'break gdb_step' 'continue' 'print gdb_ap_ran' 'delete' 'continue'
done

gdb_case gdb/hbreak 11 --svm-skip "$SVM_NOBP" --gdb '^Hardware assisted breakpoint 1 at ' \
	--gdb '^Thread 1 hit Breakpoint 1, gdb_hw \(\)' --gdb '^\$1 = 10$' --gdb 'exited with code 013' --out 'gdb_target: sum=110' \
	-- --cpus 2 "$GDB_ELF" -- 'hbreak gdb_hw' 'continue' 'print gdb_sum' 'continue'

gdb_case gdb/watch 11 --pvm-skip "data breakpoints do not fire on guest CPL-0 code, which KVM's instruction emulator runs" \
	--svm-skip "$SVM_NOBP" \
	--gdb '^Hardware watchpoint 1: gdb_watched' --gdb '^Old value = 0$' --gdb '^New value = 42$' \
	--gdb '^\$1 = 110$' --gdb 'exited with code 013' --out 'watched=42' \
	-- --cpus 2 "$GDB_ELF" -- 'watch gdb_watched' 'continue' 'print gdb_sum' 'delete' 'continue'

# The same write watched the way GDB does it without debug registers
# (`set can-use-hw-watchpoints 0`: it single-steps and compares), from a
# breakpoint just before the write: a watchpoint that works on KVM-PVM too.
gdb_case gdb/watch-soft 11 --svm-skip "$SVM_NOBP" --gdb '^Breakpoint 1, gdb_hw' \
	--gdb '^Watchpoint 2: gdb_watched' --gdb '^Old value = 0$' --gdb '^New value = 42$' \
	--gdb 'exited with code 013' --out 'watched=42' \
	-- --cpus 1 "$GDB_ELF" -- 'break gdb_hw' 'continue' 'set can-use-hw-watchpoints 0' 'watch gdb_watched' \
	'continue' 'delete' 'continue'

# The guest's own int3 while GDB's are in (KVM intercepts every #BP then):
# it goes back to the guest's handler, GDB sees only its own breakpoint.
gdb_case gdb/own-int3 11 --svm-skip "$SVM_NOBP" --gdb '^Breakpoint 1, gdb_hw' --not-gdb 'SIGTRAP' \
	--gdb 'exited with code 013' --out 'gdb_target: own int3 handled 1' --out 'sum=110' \
	-- --cpus 1 --append "5 int3" "$GDB_ELF" -- 'break gdb_hw' 'continue' 'continue'

# Ctrl-C: gdb sends 0x03, every vCPU stops (T02); the guest ends with 7 (status 15 = 017).
gdb_case gdb/interrupt 15 --sigint --gdb 'received signal SIGINT' --gdb '^\$1 = 1$' \
	--gdb '^  2 +Thread 2 \(vCPU 1\) ' --gdb '^\[Switching to thread 2 \(Thread 2\)\]' \
	--gdb '^eip +0x[0-9a-f]+ +0x[0-9a-f]+ <cpu_park' --gdb '^\$2 = 0x1234abcd$' \
	--gdb 'exited with code 017' --out 'gdb_target: spinning' --out 'gdb_target: sum=110' \
	-- --cpus 2 --append "7 spin" "$GDB_ELF" -- 'continue' 'print gdb_spins > 0' 'info threads' \
	'thread 2' 'info registers eip' 'print/x gdb_magic' 'set var gdb_release = 1' 'continue'

# Detach at a breakpoint: the int3 and the DR are gone and the guest runs to its end.
gdb_case gdb/detach 11 --svm-skip "$SVM_NOBP" --gdb 'hit Breakpoint 1, gdb_step' \
	--gdb '^\[Inferior 1 \(Remote target\) detached\]' \
	--not-gdb 'exited with code' --out 'gdb_target: sum=110 watched=42' \
	-- --cpus 2 "$GDB_ELF" -- 'break gdb_step' 'hbreak gdb_hw' 'continue' 'detach'
# Detach while --gdb-wait holds every vCPU: the guest starts and ends on its own.
gdb_case gdb/detach-wait 11 --gdb '^\[Inferior 1 \(Remote target\) detached\]' --not-gdb 'exited with code' \
	--out 'gdb_target: sum=110 watched=42' -- --cpus 2 "$GDB_ELF" -- 'detach'

# Attach to a running guest, look, kill: hyve ends with status 16.
gdb_case gdb/attach-kill 16 --attach 'gdb_target: spinning' --gdb '^(0x[0-9a-f]+ in )?kmain ' --gdb '^\$1 = 1$' \
	--gdb '^  2 +Thread 2 \(vCPU 1\) ' --gdb '^\[Inferior 1 \(Remote target\) killed\]' --not-out 'sum=' \
	-- --cpus 2 --append "7 spin" "$GDB_ELF" -- 'print gdb_spins > 0' 'info threads' 'kill'

# A 64-bit Linux (the test kernel's vmlinux through PVH, the same file as
# gdb's symbols): GDB's amd64 registers, memory through the kernel's 4-level
# page tables, a hardware breakpoint before the kernel's mappings exist and a
# software one in its text (read-only for the kernel) after.
LX_VMLINUX=$BUILD/linux/vmlinux
# cases_linux.sh builds the test kernel later in the run (a fresh clone has
# none yet): build it here when these cases come first (tools/build-linux
# caches it; cases_linux.sh then finds it built).
if [ ! -f "$LX_VMLINUX" ] && [ "$HYVE_TIER" = host ] && [ "$KVM_OK" = 1 ] && [ "${HYVE_SKIP_LINUX:-0}" != 1 ] &&
	command -v gdb >/dev/null && { [ -z "$FILTER" ] || [[ gdb/linux =~ $FILTER ]]; }; then
	echo "gdb: building the test kernel for gdb/linux* (tools/build-linux $BUILD/linux: about 7-10 min on 2 cores) ..."
	tools/build-linux "$BUILD/linux" >"$TMPD/gdb-lx-build" 2>&1 ||
		echo "gdb: tools/build-linux failed: $(tail -1 "$TMPD/gdb-lx-build")"
fi
gdb_case gdb/linux 16 --elf "$LX_VMLINUX" --svm-skip "$SVM_NOBP" \
	--gdb '^Breakpoint 1, 0x[0-9a-f]+ in start_kernel' --gdb '<linux_banner>:\s+"Linux version ' \
	--gdb '^Breakpoint 2, 0x[0-9a-f]+ in rest_init' --gdb '^\$1 = 1$' --gdb '^\$2 = 16$' \
	--gdb '^\[Inferior 1 \(Remote target\) killed\]' \
	-- --cpus 2 --memory 256M --append "console=ttyS0 noxsave clocksource=kvm-clock" "$LX_VMLINUX" -- \
	'hbreak start_kernel' 'continue' 'x/s (char *)&linux_banner' 'delete' 'break rest_init' 'continue' \
	'print $pc == rest_init' 'print $cs' 'kill'
# ... and attached to while it boots, on every tier: stop, read, kill.
gdb_case gdb/linux-attach 16 --elf "$LX_VMLINUX" --attach 'Linux version' \
	--gdb '<linux_banner>:\s+"Linux version ' --gdb '^\* 1 +Thread 1 \(vCPU 0\) ' \
	--gdb '^\[Inferior 1 \(Remote target\) killed\]' \
	-- --cpus 2 --memory 256M --append "console=ttyS0 noxsave clocksource=kvm-clock" "$LX_VMLINUX" -- \
	'x/s (char *)&linux_banner' 'info threads' 'kill'

gdb_case gdb/tcp 11 --tcp --svm-skip "L1 brings no network interface up, not even lo (connect: Network is unreachable)" --gdb '^\$1 = 0x1234abcd$' --gdb 'exited with code 013' \
	-- --cpus 1 "$GDB_ELF" -- 'print/x gdb_magic' 'continue'

# Bad --gdb values: one error line, status 2 (before /dev/kvm is opened, but
# for an address that cannot be bound).
t cli_gdb_bad 2 --nokvm --err "^hyve: --gdb: '1234' is not tcp:PORT, tcp:HOST:PORT or unix:PATH$" -- --gdb=1234 "$GDB_ELF"
t cli_gdb_port 2 --nokvm --err "^hyve: --gdb: 'tcp:70000' is not tcp:PORT, tcp:HOST:PORT or unix:PATH \(PORT must be 1 to 65535\)$" \
	-- --gdb=tcp:70000 "$GDB_ELF"
t cli_gdb_unix_empty 2 --nokvm --err "^hyve: --gdb: 'unix:' is not .* \(empty PATH\)$" -- --gdb=unix: "$GDB_ELF"
t cli_gdb_wait_alone 2 --nokvm --err "^hyve: --gdb-wait needs --gdb=tcp:PORT or --gdb=unix:PATH$" -- --gdb-wait "$GDB_ELF"
t cli_gdb_qemu_s 2 --nokvm --err "^hyve: '-s' is QEMU's spelling: hyve's is --gdb=tcp:1234$" -- -s "$GDB_ELF"
t cli_gdb_qemu_S 2 --nokvm --err "^hyve: '-S' is QEMU's spelling: hyve's is --gdb-wait \(with --gdb=tcp:PORT\)$" -- -S "$GDB_ELF"
t cli_gdb_host 2 --err "^hyve: --gdb: cannot listen on tcp:nohost:1234: 'nohost' is not an IP address" \
	-- --gdb=tcp:nohost:1234 "$GDB_ELF"
t cli_gdb_unix_dir 2 --err "^hyve: --gdb: cannot listen on unix:/nonexistent/g.sock: No such file or directory$" \
	-- --gdb=unix:/nonexistent/g.sock "$GDB_ELF"
