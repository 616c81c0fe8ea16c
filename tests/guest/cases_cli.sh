# cases_cli.sh: command-line and image errors, exit statuses, tracing (sourced by tests/run-tests).
# Each bad input must give one error line naming the problem and a non-zero status.

BAD=$BUILD/bad-images
mkdir -p "$BAD" && "$BUILD/tools/mkbadimg" "$BAD"

t cli_help 0 --nokvm --out '^usage: hyve' --out 'ap-startup' -- --help
t cli_version 0 --nokvm --out '^hyve [0-9]' -- --version
t cli_cpus_zero 2 --nokvm --err "^hyve: --cpus: '0' is not a vCPU count" -- --cpus 0 "$G/hello.elf"
t cli_cpus_text 2 --nokvm --err "^hyve: --cpus: 'four' is not a vCPU count" -- --cpus four "$G/hello.elf"
t cli_cpus_neg 2 --nokvm --err "^hyve: --cpus: '-2' is not" -- --cpus=-2 "$G/hello.elf"
t cli_cpus_huge 2 --nokvm --err "^hyve: --cpus: '1025' is not a vCPU count from 1 to 1024" -- --cpus 1025 "$G/hello.elf"
t cli_cpus_xapic_limit 2 --nokvm --err "^hyve: --cpus: 256 vCPUs need x2APIC" -- --no-x2apic --cpus 256 "$G/hello.elf"
t cli_memory_suffix 2 --nokvm --err "^hyve: --memory: '12Q' is not a size" -- --memory 12Q "$G/hello.elf"
t cli_memory_small 2 --nokvm --err "^hyve: --memory: '1K' must be a multiple of 4K from 2M to 1T" -- --memory 1K "$G/hello.elf"
t cli_memory_unaligned 2 --nokvm --err "^hyve: --memory: '4097K' must be" -- --memory 4097K "$G/hello.elf"
t cli_ap_startup 2 --nokvm --err "^hyve: --ap-startup: 'legacy' is not ipi-exit or spinup-ap" -- --ap-startup=legacy "$G/hello.elf"
t cli_trace_unknown 2 --nokvm --err "^hyve: --trace: unknown category 'cpu'" -- --trace=io,cpu "$G/hello.elf"
t cli_timeout_bad 2 --nokvm --err "^hyve: --timeout: '-1' is not a positive number" -- --timeout=-1 "$G/hello.elf"
t cli_timeout_text 2 --nokvm --err "^hyve: --timeout: 'soon' is not" -- --timeout soon "$G/hello.elf"
t cli_unknown_option 2 --nokvm --err "^hyve: unknown option '--frobnicate'" -- --frobnicate "$G/hello.elf"
t cli_unknown_short_option 2 --nokvm --err "^hyve: unknown option '-x' \(see hyve --help\)$" -- -x "$G/hello.elf"
t cli_missing_value 2 --nokvm --err "^hyve: option '--cpus' needs a value" -- "$G/hello.elf" --cpus
t cli_two_kernels 2 --nokvm --err "^hyve: unexpected argument" -- "$G/hello.elf" "$G/hello.elf"
t cli_no_kernel_file 2 --err "^hyve: cannot open kernel '/nonexistent/k.elf': No such file" -- /nonexistent/k.elf
t cli_kernel_is_dir 2 --err "^hyve: kernel '/tmp' is not a regular file" -- /tmp
t cli_no_module_file 2 --err "^hyve: cannot open module '/nonexistent/m': No such file" -- --initrd "/nonexistent/m arg" "$G/hello.elf"
t cli_kernel_option 33 --out '^Hello from hyve guest' -- --kernel "$G/hello.elf"
t cli_kernel_twice 2 --nokvm --err "^hyve: two kernels: --kernel '.*hello.elf' and '.*hello.elf'$" -- --kernel "$G/hello.elf" "$G/hello.elf"
t cli_smp 33 --out '^cpus=3\b' -- --smp 3 "$G/hello.elf"
t cli_smp_qemu_cpus 33 --out '^cpus=2\b' -- --smp cpus=2 "$G/hello.elf"
t cli_smp_topology 2 --nokvm --err "^hyve: --smp: '4,sockets=2': hyve has no CPU topology" -- --smp 4,sockets=2 "$G/hello.elf"
t cli_smp_zero 2 --nokvm --err "^hyve: --smp: '0' is not a vCPU count from 1 to 1024$" -- --smp 0 "$G/hello.elf"
t cli_memory_fraction 33 --err '^hyve: 1 vCPU\(s\), 1536 MiB' -- --verbose --memory 1.5G "$G/hello.elf"
t cli_memory_fraction_bytes 2 --nokvm --err "^hyve: --memory: '1.3M' is not a whole number of bytes$" -- --memory 1.3M "$G/hello.elf"
# QEMU's single-dash spellings: the error names hyve's (getopt alone would
# read -append as -a "ppend" and -machine as -m "achine").
t cli_qemu_smp 2 --nokvm --err "^hyve: '-smp' is QEMU's spelling: hyve's is --smp N \(or --cpus N\)$" -- -smp 4 "$G/hello.elf"
t cli_qemu_kernel 2 --nokvm --err "^hyve: '-kernel' is QEMU's spelling: hyve's is --kernel FILE" -- -kernel "$G/hello.elf"
t cli_qemu_append 2 --nokvm --err "^hyve: '-append' is QEMU's spelling: hyve's is --append$" -- -append "console=ttyS0" "$G/hello.elf"
t cli_qemu_initrd 2 --nokvm --err "^hyve: '-initrd' is QEMU's spelling" -- -initrd x "$G/hello.elf"
t cli_qemu_machine 2 --nokvm --err "^hyve: '-machine' is a QEMU option hyve does not have: " -- -machine q35 "$G/hello.elf"
t cli_qemu_nographic 2 --nokvm --err "^hyve: '-nographic' is a QEMU option hyve does not have: the guest's COM1 is always this terminal$" -- -nographic "$G/hello.elf"
t cli_single_dash_long 2 --nokvm --err "^hyve: '-cpus' needs two dashes: --cpus$" -- -cpus 2 "$G/hello.elf"
# ... but an option's value may look like one.
t cli_value_like_qemu 33 --out "^cmdline: '.*hello.elf -smp'" -- --append -smp "$G/hello.elf"
t cli_short_cluster 33 --out '^cpus=2\b' -- -vc2 "$G/hello.elf"
t cli_trace_file_dir 2 --nokvm --err "^hyve: --trace-file: cannot open '/nonexistent/t.json'" -- --trace-file=/nonexistent/t.json "$G/hello.elf"

t img_empty 2 --err "^hyve: .*/empty: kernel image is empty \(0 bytes\)$" -- "$BAD/empty"
t img_bad_elf 2 --err "ELF header: e_phoff 0x40 \+ e_phnum 4 \* e_phentsize 32 runs past the end of the file" -- "$BAD/bad-elf"
t img_no_mbheader 2 --err "no multiboot header in the first 8192 bytes" -- "$BAD/no-mbheader"
t img_bad_checksum 2 --err "multiboot header at offset 0x54: checksum 0x00000000 does not match" -- "$BAD/bad-checksum"
t img_bad_flags 2 --err "flags 0x0000000b sets required bit 3" -- "$BAD/bad-flags"
t img_elf64 2 --err "image is ELF64 .*multiboot needs a 32-bit image" -- "$BAD/elf64"
t img_aout_bad_load 2 --err "load_addr 0x100100 is above header_addr 0x100000" -- "$BAD/aout-bad-load"
t img_too_big 2 --err "p_memsz 0x4000000 is not in guest RAM \(guest low RAM ends at 0x800000\); it needs --memory 66M or more$" -- --memory 8M "$BAD/too-big"
t img_too_big_65m 2 --err "guest low RAM ends at 0x4100000\); it needs --memory 66M or more$" -- --memory 65M "$BAD/too-big"
t img_too_big_66m 12 --not-err "not in guest RAM" -- --memory 66M "$BAD/too-big"
t img_huge 2 --err "p_memsz 0xc0000000 is not in guest RAM \(guest low RAM ends at 0x10000000\)$" -- "$BAD/huge"
t img_pvh_too_big 2 --err "pvh-big: ELF program header 0: .* is not in guest RAM .*; it needs --memory 65M or more$" -- --memory 8M "$BAD/pvh-big"
t img_pvh_65m 12 --not-err "not in guest RAM" -- --memory 65M "$BAD/pvh-big"
# A file that is no kernel: each format says why it refused it.
t img_not_kernel 2 --err "^hyve: .*/no-mbheader: not a kernel hyve can boot: Multiboot: no multiboot header in the first 8192 bytes; Linux \(bzImage, PVH ELF\): ELF32 image has no PVH entry note" -- "$BAD/no-mbheader"
t img_not_kernel_text 2 --err "^hyve: .*: not a kernel hyve can boot: Multiboot: .*; Linux \(bzImage, PVH ELF\): kernel image is neither ELF nor a bzImage" -- "$ROOT/tests/run-tests"
# Multiboot modules are for Multiboot kernels; Linux takes one --initrd.
t img_linux_module 2 --err "^hyve: --module: a Linux kernel takes no Multiboot modules; give its initramfs with --initrd FILE$" -- --module "$G/hello.elf" "$BAD/pvh"
t img_linux_initrd 12 --not-err "module" -- --initrd "$G/hello.elf" "$BAD/pvh"
# The same kernel fits once there is RAM for it: the error was about RAM, not the image.

# The manual page, --help and the parser name the same long options; the page
# renders without groff warnings; make install puts both files in place.
manpage_check() {
	local why= d=$TMPD/install parser help man
	parser=$(grep -oE '^\s*\{"[a-z0-9-]+", (no|required)_argument' frontend/options.c | grep -oE '"[a-z0-9-]+"' | tr -d '"' | sed 's/^/--/' | sort -u)
	help=$("$HYVE" --help | grep -oE -- '--[a-z0-9-]+[a-z0-9]' | sort -u)
	man=$(sed 's/\\-/-/g' docs/hyve.1 | grep -v '^\.\\"' | grep -oE -- '--[a-z0-9-]+[a-z0-9]' | sort -u)
	[ -n "$parser" ] || why="no option found in frontend/options.c"
	[ "$parser" = "$help" ] || why="${why:+$why; }--help and the parser differ: $(comm -3 <(echo "$parser") <(echo "$help") | tr -s '\t\n' '  ')"
	[ "$parser" = "$man" ] || why="${why:+$why; }docs/hyve.1 and the parser differ: $(comm -3 <(echo "$parser") <(echo "$man") | tr -s '\t\n' '  ')"
	local warn
	warn=$(groff -man -ww -z docs/hyve.1 2>&1) || why="${why:+$why; }groff failed"
	[ -z "$warn" ] || why="${why:+$why; }groff warns: $warn"
	rm -rf "$d"
	make -s --no-print-directory install DESTDIR="$d" PREFIX=/usr BUILD="$BUILD" >/dev/null 2>&1 ||
		why="${why:+$why; }make install failed"
	[ -x "$d/usr/bin/hyve" ] && [ -f "$d/usr/share/man/man1/hyve.1" ] ||
		why="${why:+$why; }make install did not write usr/bin/hyve and usr/share/man/man1/hyve.1"
	"$d/usr/bin/hyve" --version 2>/dev/null | grep -q '^hyve [0-9]' || why="${why:+$why; }the installed hyve does not run"
	local n=${CASE_PREFIX:-}cli/manpage
	verdict "$n" "$why"
}
if [ -z "${CASE_PREFIX:-}" ] && [ "$HYVE_TIER" = host ] && { [ -z "$FILTER" ] || [[ cli/manpage =~ $FILTER ]]; } && case_start cli/manpage; then
	manpage_check
fi

# The DSDT's AML in the tree is what its ASL source compiles to (iasl, no warning).
if [ -z "${CASE_PREFIX:-}" ] && [ "$HYVE_TIER" = host ] && { [ -z "$FILTER" ] || [[ acpi/dsdt-current =~ $FILTER ]]; } &&
	case_start acpi/dsdt-current; then
	r=$(tools/dsdt-aml --check 2>&1) && r=
	verdict acpi/dsdt-current "$r"
fi

# tools/timeline's bad inputs: one error line each and status 2.
timeline_error() { # NAME WANT_RE ARGS...
	local n=$1 re=$2 out rc why=
	shift 2
	out=$(tools/timeline "$@" 2>&1 >/dev/null)
	rc=$?
	[ "$rc" = 2 ] || why="status $rc, want 2"
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ $out =~ $re ]] || why="${why:+$why; }stderr '$out', want one line /$re/"
	verdict "$n" "$why"
}
if [ -z "${CASE_PREFIX:-}" ] && [ "$HYVE_TIER" = host ] && { [ -z "$FILTER" ] || [[ cli/timeline-errors =~ $FILTER ]]; } &&
	case_start cli/timeline-errors; then
	printf 'not json\n' >"$TMPD/tl-bad.json"
	printf '{"event":"start","t_ns":0}\n{"event":"end","t_ns":5000000,"status":0,"allocated":1,"started":1,"ipis":0}\n' >"$TMPD/tl-ok.json"
	timeline_error cli/timeline-errors/missing '^timeline: cannot read /nonexistent/t\.json: No such file' /nonexistent/t.json
	timeline_error cli/timeline-errors/not-json '^timeline: .*tl-bad\.json:1: not a JSON object' "$TMPD/tl-bad.json"
	timeline_error cli/timeline-errors/window '^timeline: the window 4\.000-1\.000 ms is empty$' "$TMPD/tl-ok.json" --from 4 --to 1
	timeline_error cli/timeline-errors/option "^timeline: unknown option '--bogus'" "$TMPD/tl-ok.json" --bogus
fi
