# tests/guest/cases_linux.sh: boots a real Linux with SMP (issue 5), sourced by tests/run-tests.
#
# The kernel is Debian's linux-source-6.1 built with guests/linux/hyve.config
# (tools/build-linux: about 7 min on 2 cores the first time, then cached in
# $BUILD/linux) and entered through PVH (vmlinux). The initramfs is busybox
# (tools/build-initramfs): /init prints "hyve-init: nproc=N online=LIST" and
# powers off (ACPI S5: hyve status 0), or reboots with "hyve.reboot".
#
# Matrix: --cpus 1 2 4 8 x both AP start-up protocols (x2APIC, ACPI MADT);
# 4 vCPUs with --no-x2apic (xAPIC) and 4 with acpi=off (MP table only), each
# under both protocols; 2 vCPUs with xAPIC and the MP table together.
# Every boot must report "smp: Brought up 1 node, N CPUs" and no "ACPI Error".
#
# KVM-PVM hosts (/sys/module/kvm_pvm exists): guest user space cannot run
# there, whatever the VMM: a user-mode `syscall` reaches LSTAR still at CPL3
# (the process dies with SIGSEGV at ip=entry_SYSCALL_64), `int $0x80` arrives
# as #UD, and a compat-mode `syscall` faults at CSTAR; only exceptions (#PF,
# #UD, the vsyscall page's #PF emulation) reach the guest kernel. So there each
# case boots without initramfs and expects the kernel's "No working init
# found" panic, reported on the pvpanic port (status 18; with acpi=off the
# kernel finds no pvpanic device, and Debian's kernel lacks its pvpanic-mmio
# module: both reboot with panic=-1, status 4); the case names end
# in "[pvm: no user space]". Cost there: 20-60 s per boot (guest CPL0 code is
# emulated), about 10 min for the 13 boots; elsewhere a few seconds each.
#
# HYVE_SKIP_LINUX=1 leaves these cases out (counted as skipped).

LX_DIR=$BUILD/linux
LX_STOCK_IMG=${LX_STOCK_IMG:-} # nested tier: Debian's bzImage (the L1 kernel itself)
LX_INITRD=$LX_DIR/initramfs.cpio
LX_APPEND="console=ttyS0 panic=-1"
LX_TMO=(--timeout 240)
LX_PVM=0
[ -e /sys/module/kvm_pvm ] && LX_PVM=1
# KVM-PVM hosts only:
# - noxsave: PVM's emulator cannot run XRSTOR at CPL0, and CPUID cannot hide
#   XSAVE there (the guest sees the host's feature bits);
# - rodata=off: freeing the text/rodata and rodata/data gaps poisons 3.5 MiB
#   byte by byte (rep stosb), 5-12 s of emulated CPL0; nothing here needs W^X;
# - clocksource=kvm-clock: Linux otherwise switches to the TSC late in the
#   boot, with stop_machine(); with 8 vCPUs on 2 host cores each vCPU gets a
#   quarter of a core, its emulated tick handler runs longer than the 10 ms
#   tick, and the CPUs that must reach the stopper never leave their timer
#   interrupt while the others spin (seen with perf's kvm:kvm_emulate_insn:
#   5 vCPUs in multi_cpu_stop for minutes, 3 in timekeeping/load-average
#   code); with the override there is no second switch: 8 vCPUs boot in ~50 s.
[ "$LX_PVM" = 1 ] && LX_APPEND="$LX_APPEND noxsave rodata=off clocksource=kvm-clock"

# lx NAME CPUS EXTRA_APPEND [t options]... -- [HYVE_ARGS]...: one boot of
# $LX_KERNEL with $LX_MEM of RAM. In "plan" mode only records NAME (to decide
# whether anything needs building).
lx() {
	local name=$1 cpus=$2 extra=$3
	shift 3
	local opts=() want
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	local brought="smp: Brought up 1 node, $cpus CPUs?[[:space:]]*$" # lines end in \r\n
	# PCI (devices/pci.h): both functions found, through ACPI or mechanism #1.
	opts+=(--not-out 'PCI: Fatal' --out 'pci 0000:00:00\.0: \[8086:1237\] type 00 class 0x060000'
		--out 'pci 0000:00:01\.0: \[8086:7000\] type 00 class 0x060100')
	if [[ $extra == *acpi=off* ]]; then
		opts+=(--out 'PCI: Using configuration type 1 for base access')
	else
		opts+=(--out 'ACPI: PCI Root Bridge \[PCI0\] \(domain 0000 \[bus 00\]\)'
			--out 'PCI: MMCONFIG at \[mem 0xe0000000-0xe00fffff\] reserved (in|as) ACPI motherboard resource')
	fi
	if [ "$LX_PVM" = 1 ]; then
		name="$name [pvm: no user space]"
		if [ "$LX_PASS" = plan ]; then LX_NAMES+=("$name"); return; fi
		# The test kernel reports its panic on the pvpanic port (status 18);
		# Debian's has pvpanic-mmio as a module nobody loads: panic=-1 reboots.
		want=${LX_PANIC_STATUS:-4}
		[[ $extra == *acpi=off* ]] && want=4 # pvpanic is found through ACPI only
		local perr=()
		[ "$want" = 18 ] && perr=(--err 'the guest panicked \(pvpanic\)$')
		t "$name" "$want" --out "$brought" --not-out 'ACPI Error' "${opts[@]}" "${perr[@]}" \
			--out 'Kernel panic - not syncing: No working init found' \
			-- "${LX_TMO[@]}" --cpus "$cpus" --memory "$LX_MEM" "$@" --append "$LX_APPEND $extra" "$LX_KERNEL"
	else
		if [ "$LX_PASS" = plan ]; then LX_NAMES+=("$name"); return; fi
		local online=0
		[ "$cpus" -gt 1 ] && online="0-$((cpus - 1))"
		want=0
		[[ $extra == *hyve.reboot* ]] && want=4
		t "$name" "$want" --out "$brought" --not-out 'ACPI Error' "${opts[@]}" \
			--out "^hyve-init: nproc=$cpus online=$online[[:space:]]*\$" \
			--err 'insn-completed=0$' --err ' eoi=[0-9]+ .* pv-eoi=[1-9][0-9]*$' --not-out 'Kernel panic' \
			-- "${LX_TMO[@]}" --verbose --cpus "$cpus" --memory "$LX_MEM" "$@" --initrd "$LX_INITRD" \
			--append "$LX_APPEND $extra" "$LX_KERNEL"
	fi
}

# lx_matrix PREFIX: the SMP matrix for one kernel, cases named PREFIX/...
lx_matrix() {
	local pre=$1 p n
	for p in ipi-exit spinup-ap; do
		for n in 1 2 4 8; do
			lx "$pre/x2apic/cpus=$n/$p" "$n" "" --out 'ACPI: Interpreter enabled' \
				--out 'ACPI: PM: \(supports S0 S5\)' --out 'x2apic enabled' \
				-- --ap-startup=$p
		done
	done
	for p in ipi-exit spinup-ap; do
		lx "$pre/xapic/cpus=4/$p" 4 "" --out 'ACPI: Interpreter enabled' --not-out 'x2apic enabled' \
			-- --no-x2apic --ap-startup=$p
		# Without ACPI Linux cannot power off (it would halt: status 12), so /init reboots.
		lx "$pre/mptable/cpus=4/$p" 4 "acpi=off hyve.reboot" --out 'Intel MultiProcessor Specification' \
			--not-out 'ACPI: Interpreter enabled' -- --ap-startup=$p
	done
	lx "$pre/xapic-mptable/cpus=2" 2 "acpi=off hyve.reboot" --out 'Intel MultiProcessor Specification' \
		--not-out 'x2apic enabled' -- --no-x2apic
}

lx_cases() {
	LX_KERNEL=$LX_DIR/vmlinux LX_MEM=256M LX_PANIC_STATUS=18
	lx_matrix linux
	[ "$HYVE_TIER" = svm ] || return 0
	# A panic before user space: the kernel says so on the pvpanic port, hyve
	# ends with status 18 (not a reboot, not a guest spinning forever).
	if [ "$LX_PASS" = plan ]; then
		LX_NAMES+=(linux/panic/cpus=2)
	else
		t linux/panic/cpus=2 18 --out 'Kernel panic - not syncing: Requested init /nope failed' \
			--err 'the guest panicked \(pvpanic\)$' --not-out 'ACPI Error' \
			-- "${LX_TMO[@]}" --cpus 2 --memory "$LX_MEM" --initrd "$LX_INITRD" \
			--append "$LX_APPEND rdinit=/nope init=/nope" "$LX_KERNEL"
	fi
	# Real user space: an ACPI reboot, and the interactive shell over the console.
	lx linux/acpi-reboot/cpus=2 2 "hyve.reboot" --out 'reboot: Restarting system' -- --ap-startup=spinup-ap
	if [ "$LX_PASS" = plan ]; then
		LX_NAMES+=(linux/shell/cpus=2)
	elif con_wanted linux/shell/cpus=2; then
		lx_shell linux/shell/cpus=2
	fi
	# Debian's own kernel: its bzImage as shipped, no command-line workarounds.
	LX_KERNEL=$LX_STOCK_IMG LX_MEM=512M LX_PANIC_STATUS=4
	lx_matrix linux-stock
}

# The initramfs' busybox shell, used as a person would over the console
# (hyve's stdin is a pipe): once /init says it starts the shell, type a
# command, wait for its output, and so on; "poweroff -f" ends hyve with
# status 0. (Keys typed before the kernel opened the console for /init would
# be lost, as on a real serial line: Linux clears the UART's FIFO then. The
# prompt itself has no newline: with stdout not a terminal hyve writes the
# console out line by line, so the case waits for whole lines only.)
lx_shell() {
	local name=$1 why= t1 t2 rc fd pid
	local in=$TMPD/lx-shell.in out=$TMPD/lx-shell.out err=$TMPD/lx-shell.err
	rm -f "$in"; mkfifo "$in"
	t1=$(date +%s.%N)
	timeout -k 5 "${LX_TMO[1]}" "$HYVE" "${LX_TMO[@]}" --cpus 2 --initrd "$LX_INITRD" \
		--append "$LX_APPEND hyve.shell" "$LX_DIR/vmlinux" <"$in" >"$out" 2>"$err" &
	pid=$!
	exec {fd}>"$in"
	lx_await() { # RE: until the console shows a line matching RE (60 s at most)
		local k=0
		until tr -d '\r' <"$out" | grep -aEq -- "$1"; do
			k=$((k + 1))
			if [ "$k" -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
				why="${why:+$why; }no /$1/ on the console"
				return 1
			fi
			sleep 0.1
		done
	}
	lx_await '^hyve-init: shell' && printf 'echo shell-says-$((6 * 7))\n' >&"$fd" &&
		lx_await '^shell-says-42$' && printf 'cat /sys/devices/system/cpu/online\n' >&"$fd" &&
		lx_await '^0-1$' && printf 'uname -s\n' >&"$fd" &&
		lx_await '^Linux$' && printf 'poweroff -f\n' >&"$fd"
	[ -n "$why" ] && kill "$pid" 2>/dev/null # the shell did not answer: do not wait for --timeout
	wait "$pid"
	rc=$?
	exec {fd}>&-
	t2=$(date +%s.%N)
	[ "$rc" = 0 ] || why="${why:+$why; }exit status $rc, want 0"
	grep -aq 'reboot: Power down' "$out" || why="${why:+$why; }no 'reboot: Power down'"
	con_result "$name" "$why" "$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")" "$out" "$err"
}

lx_fail_all() {
	local n
	for n in "${LX_NAMES[@]}"; do
		[ -n "$FILTER" ] && ! [[ $n =~ $FILTER ]] && continue
		N_FAIL=$((N_FAIL + 1))
		FAILED+=("$n")
		echo "FAIL $n: not run: $1"
	done
}

LX_NAMES=()
LX_PASS=plan
lx_cases
LX_WANTED=0
for lx_n in "${LX_NAMES[@]}"; do
	if [ -z "$FILTER" ] || [[ $lx_n =~ $FILTER ]]; then LX_WANTED=$((LX_WANTED + 1)); fi
done
if [ "$LX_WANTED" = 0 ]; then
	: # the filter selects no Linux case
elif [ "${HYVE_SKIP_LINUX:-0}" = 1 ]; then
	N_SKIP=$((N_SKIP + LX_WANTED))
	echo "SKIP linux/*: HYVE_SKIP_LINUX=1 ($LX_WANTED cases)"
elif [ "$KVM_OK" = 0 ]; then
	LX_PASS=run
	lx_cases # t counts each as skipped
elif [ "$HYVE_TIER" = svm ]; then
	# Nested tier: the host built the kernels and the initramfs and sent them in.
	LX_PASS=run
	lx_cases
else
	if [ -f "$LX_DIR/vmlinux" ] && [ -f "$LX_INITRD" ] && [ "$LX_DIR/vmlinux" -nt guests/linux/hyve.config ] &&
		[ "$LX_INITRD" -nt tools/build-initramfs ]; then
		echo "linux: using the cached kernel and initramfs in $LX_DIR"
	else
		echo "linux: building the test kernel and initramfs in $LX_DIR (tools/build-linux, tools/build-initramfs: about 7-10 min on 2 cores) ..."
	fi
	lx_t0=$(date +%s)
	if ! tools/build-linux "$LX_DIR" >"$TMPD/lx-build" 2>&1; then
		lx_fail_all "tools/build-linux $LX_DIR failed: $(tail -1 "$TMPD/lx-build")"
		tail -20 "$TMPD/lx-build" | sed 's/^/    build: /'
	elif ! tools/build-initramfs "$LX_INITRD" >"$TMPD/lx-build" 2>&1; then
		lx_fail_all "tools/build-initramfs $LX_INITRD failed: $(tail -1 "$TMPD/lx-build")"
		tail -20 "$TMPD/lx-build" | sed 's/^/    build: /'
	else
		[ "$(($(date +%s) - lx_t0))" -gt 5 ] && echo "linux: built in $(($(date +%s) - lx_t0)) s"
		if [ "$LX_PVM" = 1 ]; then
			echo "linux: KVM-PVM host: guest user space cannot run here (a user-mode syscall does not enter a stock kernel);" \
				"each boot runs without initramfs and expects the 'No working init found' panic, reported on the pvpanic port (status 18)"
		fi
		LX_PASS=run
		lx_cases
	fi
fi
unset LX_NAMES LX_PASS LX_WANTED lx_n lx_t0

# ---- Debian's stock kernel (make check-linux-stock: HYVE_LINUX_STOCK=1) ----
# linux-image-amd64 is installed when /boot has no vmlinuz (tools/ensure-deps,
# as root). Two ways in, each with 2 vCPUs and the busybox initramfs:
#   linux-stock/pvh      the vmlinux inside Debian's bzImage (tools/extract-vmlinux,
#                        cached in $BUILD/linux-stock), through the PVH entry;
#   linux-stock/bzImage  the bzImage itself (64-bit boot protocol): the kernel's
#                        own decompressor runs first. On KVM-PVM hosts that is
#                        emulated CPL0 code (xz, 66 MB out: most of an hour), so
#                        there it runs only with HYVE_STOCK_BZIMAGE=1.
# Elsewhere than on KVM-PVM each must reach /init and power off (status 0).
# On KVM-PVM hosts: /init dies at its first syscall (see above) and panic=-1
# reboots (status 4). The case prints the milestones and when they came.
# clearcpuid=cx16 is not needed: hyve completes CMPXCHG16B there (vmm/pvm.c),
# and LSL and LDMXCSR too. But Debian's kernel has SIMD code built in (the
# SSSE3 ChaCha20 of its random number generator, BLAKE2s, CRC32C, AES-NI...)
# whose SSE instructions PVM's emulator cannot run at CPL0 (first seen:
# `movd %ecx,%xmm15` in chacha_*_ssse3), and CPUID cannot hide them there:
# clearcpuid= makes the guest kernel itself drop those features.
# cryptomgr.notests: Debian's kernel runs its crypto self-tests at boot,
# among them Diffie-Hellman modular exponentiations that are tens of minutes
# of emulated bignum code there (seen with perf: lib/mpi multiply loops).
LX_STOCK_PVM_APPEND="clearcpuid=ssse3,sse4_1,sse4_2,pclmulqdq,aes,sha_ni cryptomgr.notests"
LX_STOCK_DIR=$BUILD/linux-stock
lx_stock_boot() {
	local name=$1 img=$2 tmo=$3 why= rc t1 t2
	local out=$TMPD/stock.out err=$TMPD/stock.err
	local append=$LX_APPEND
	[ "$LX_PVM" = 1 ] && append="$append $LX_STOCK_PVM_APPEND"
	[ "$LX_PVM" = 1 ] && name="$name [pvm: no user space]"
	echo "linux-stock: booting $img (2 vCPUs, --timeout $tmo) ..."
	t1=$(date +%s)
	timeout -k 5 $((tmo + 60)) "$HYVE" --verbose --timeout "$tmo" --cpus 2 --memory 512M "$img" \
		--initrd "$LX_INITRD" --append "$append" </dev/null >"$out" 2>"$err"
	rc=$?
	t2=$(date +%s)
	local first m re
	first=$(grep -a -m1 -n '^\[' "$out" | cut -d: -f1)
	echo "    status $rc after $((t2 - t1)) s; $(grep -ac . "$out") console lines"
	[ -z "$first" ] && echo "    the kernel printed nothing (still decompressing, or stopped before its console)"
	# Milestones with the kernel's own timestamps (seconds since it started).
	for re in 'Linux version' 'smp: Brought up' 'ACPI: Interpreter enabled' 'ACPI Error' 'Run /init' \
		'hyve-init:' 'Kernel panic'; do
		m=$(grep -a -m1 -- "$re" "$out" | tr -d '\r' | cut -c1-120)
		[ -n "$m" ] && echo "    $m"
	done
	grep -a 'KVM cannot run\|triple fault\|insn-completed' "$err" | head -3 | sed 's/^/    /'
	grep -aq 'smp: Brought up 1 node, 2 CPUs' "$out" || why="no 'smp: Brought up 1 node, 2 CPUs'"
	grep -aq 'ACPI Error' "$out" && why="${why:+$why; }ACPI Error"
	if [ "$LX_PVM" = 1 ]; then
		[ "$rc" = 4 ] || why="${why:+$why; }exit status $rc, want 4 (reboot after the init panic)"
		grep -aq 'Run /init as init process' "$out" || why="${why:+$why; }/init never ran"
		grep -aq 'Kernel panic - not syncing: Attempted to kill init' "$out" ||
			why="${why:+$why; }no init panic"
	else
		[ "$rc" = 0 ] || why="${why:+$why; }exit status $rc, want 0"
		grep -aq '^hyve-init: nproc=2 online=0-1' "$out" || why="${why:+$why; }no hyve-init line"
	fi
	if [ -z "$why" ]; then
		N_PASS=$((N_PASS + 1)); echo "ok   $name ($((t2 - t1)) s)"
	else
		N_FAIL=$((N_FAIL + 1)); FAILED+=("$name"); echo "FAIL $name ($((t2 - t1)) s): $why"
		tail -5 "$out" | tr -d '\r' | sed 's/^/    console: /'
	fi
}
lx_stock() {
	local img why= n_want=0 name
	for name in linux-stock/pvh/cpus=2 linux-stock/bzImage/cpus=2; do
		[ -z "$FILTER" ] || [[ $name =~ $FILTER ]] && n_want=$((n_want + 1))
	done
	[ "$n_want" = 0 ] && return
	if [ "$KVM_OK" = 0 ]; then N_SKIP=$((N_SKIP + n_want)); return; fi
	img=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
	if [ -z "$img" ]; then
		echo "linux-stock: installing Debian's stock kernel (tools/ensure-deps linux-image-amd64) ..."
		tools/ensure-deps linux-image-amd64 >"$TMPD/lx-build" 2>&1
		img=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
	fi
	local vml=$LX_STOCK_DIR/vmlinux-$(basename "$img" | sed 's/^vmlinuz-//')
	if [ -z "$img" ]; then
		why="no /boot/vmlinuz-*: $(tail -1 "$TMPD/lx-build" 2>/dev/null)"
	elif ! tools/build-initramfs "$LX_INITRD" >"$TMPD/lx-build" 2>&1; then
		why="tools/build-initramfs failed: $(tail -1 "$TMPD/lx-build")"
	elif ! { [ -f "$vml" ] || { mkdir -p "$LX_STOCK_DIR" && tools/extract-vmlinux "$img" "$vml"; }; } >"$TMPD/lx-build" 2>&1; then
		why="tools/extract-vmlinux failed: $(tail -1 "$TMPD/lx-build")"
	fi
	if [ -n "$why" ]; then
		for name in linux-stock/pvh/cpus=2 linux-stock/bzImage/cpus=2; do
			[ -z "$FILTER" ] || [[ $name =~ $FILTER ]] || continue
			N_FAIL=$((N_FAIL + 1)); FAILED+=("$name"); echo "FAIL $name: $why"
		done
		return
	fi
	if [ -z "$FILTER" ] || [[ linux-stock/pvh/cpus=2 =~ $FILTER ]]; then
		lx_stock_boot linux-stock/pvh/cpus=2 "$vml" "${HYVE_STOCK_TIMEOUT:-2400}"
	fi
	if [ -z "$FILTER" ] || [[ linux-stock/bzImage/cpus=2 =~ $FILTER ]]; then
		if [ "$LX_PVM" = 1 ] && [ "${HYVE_STOCK_BZIMAGE:-0}" != 1 ]; then
			N_SKIP=$((N_SKIP + 1))
			echo "SKIP linux-stock/bzImage/cpus=2: KVM-PVM host, the bzImage's decompressor alone takes most of an hour here (HYVE_STOCK_BZIMAGE=1 runs it)"
		else
			lx_stock_boot linux-stock/bzImage/cpus=2 "$img" "${HYVE_STOCK_TIMEOUT:-5400}"
		fi
	fi
}
[ "${HYVE_LINUX_STOCK:-0}" = 1 ] && lx_stock
