# tests/guest/cases_linux.sh: boots a real Linux with SMP (issue 5), sourced by tests/run-tests.
#
# The kernel is Debian's linux-source-6.1 built with guests/linux/hyve.config
# (tools/build-linux: about 7 min on 2 cores the first time, then cached in
# $BUILD/linux) and entered through PVH (vmlinux). The initramfs is busybox
# (tools/build-initramfs): /init prints "hyve-init: nproc=N online=LIST" and
# powers off (ACPI S5: hyve status 0), or reboots with "hyve.reboot".
#
# Matrix: --cpus 1 2 4 8 x both AP start-up protocols (x2APIC, ACPI MADT),
# 4 vCPUs with --no-x2apic (xAPIC), 4 vCPUs with acpi=off (MP table only).
# Every boot must report "smp: Brought up 1 node, N CPUs" and no "ACPI Error".
#
# KVM-PVM hosts (/sys/module/kvm_pvm exists): guest user space cannot run
# there, whatever the VMM: a user-mode `syscall` reaches LSTAR still at CPL3
# (the process dies with SIGSEGV at ip=entry_SYSCALL_64), `int $0x80` arrives
# as #UD, and a compat-mode `syscall` faults at CSTAR; only exceptions (#PF,
# #UD, the vsyscall page's #PF emulation) reach the guest kernel. So there each
# case boots without initramfs and expects the kernel's "No working init
# found" panic and, with panic=-1, the reboot (status 4); the case names end
# in "[pvm: no user space]". Cost there: 20-60 s per boot (guest CPL0 code is
# emulated), about 8 min for the 11 boots; elsewhere a few seconds each.
#
# HYVE_SKIP_LINUX=1 leaves these cases out (counted as skipped).

LX_DIR=$BUILD/linux
LX_KERNEL=$LX_DIR/vmlinux
LX_INITRD=$LX_DIR/initramfs.cpio
# noxsave: KVM-PVM cannot emulate XRSTOR at CPL0. rodata=off: freeing the
# text/rodata and rodata/data gaps poisons 3.5 MiB byte by byte (rep stosb),
# 5-12 s of emulated CPL0 on KVM-PVM hosts; nothing here needs W^X.
LX_APPEND="console=ttyS0 noxsave panic=-1 rodata=off"
LX_TMO=(--timeout 240)
LX_PVM=0
[ -e /sys/module/kvm_pvm ] && LX_PVM=1

# lx NAME CPUS EXTRA_APPEND [t options]... -- [HYVE_ARGS]...: one boot. In
# "plan" mode only records NAME (to decide whether anything needs building).
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
	if [ "$LX_PVM" = 1 ]; then
		name="$name [pvm: no user space]"
		if [ "$LX_PASS" = plan ]; then LX_NAMES+=("$name"); return; fi
		want=4
		t "$name" "$want" --out "$brought" --not-out 'ACPI Error' "${opts[@]}" \
			--out 'Kernel panic - not syncing: No working init found' \
			-- "${LX_TMO[@]}" --cpus "$cpus" "$@" --append "$LX_APPEND $extra" "$LX_KERNEL"
	else
		if [ "$LX_PASS" = plan ]; then LX_NAMES+=("$name"); return; fi
		local online=0
		[ "$cpus" -gt 1 ] && online="0-$((cpus - 1))"
		want=0
		[[ $extra == *hyve.reboot* ]] && want=4
		t "$name" "$want" --out "$brought" --not-out 'ACPI Error' "${opts[@]}" \
			--out "^hyve-init: nproc=$cpus online=$online[[:space:]]*\$" \
			-- "${LX_TMO[@]}" --cpus "$cpus" "$@" --initrd "$LX_INITRD" \
			--append "$LX_APPEND $extra" "$LX_KERNEL"
	fi
}

lx_cases() {
	local p n
	for p in ipi-exit spinup-ap; do
		for n in 1 2 4 8; do
			lx "linux/x2apic/cpus=$n/$p" "$n" "" --out 'ACPI: Interpreter enabled' \
				--out 'ACPI: PM: \(supports S0 S5\)' --out 'x2apic enabled' \
				-- --ap-startup=$p
		done
	done
	lx linux/xapic/cpus=4 4 "" --out 'ACPI: Interpreter enabled' --not-out 'x2apic enabled' \
		-- --no-x2apic
	# Without ACPI Linux cannot power off (it would halt: status 12), so /init reboots.
	lx linux/mptable/cpus=4 4 "acpi=off hyve.reboot" --out 'Intel MultiProcessor Specification' \
		--not-out 'ACPI: Interpreter enabled' --
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
else
	if [ -f "$LX_KERNEL" ] && [ -f "$LX_INITRD" ] && [ "$LX_KERNEL" -nt guests/linux/hyve.config ] &&
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
				"each boot runs without initramfs and expects the 'No working init found' panic and status 4 (reboot)"
		fi
		LX_PASS=run
		lx_cases
	fi
fi
unset LX_NAMES LX_PASS LX_WANTED lx_n lx_t0
