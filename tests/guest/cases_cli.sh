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
t cli_trace_file_dir 2 --nokvm --err "^hyve: --trace-file: cannot open '/nonexistent/t.json'" -- --trace-file=/nonexistent/t.json "$G/hello.elf"

t img_empty 2 --err "^hyve: .*/empty: kernel image is empty \(0 bytes\)$" -- "$BAD/empty"
t img_bad_elf 2 --err "ELF header: e_phoff 0x40 \+ e_phnum 4 \* e_phentsize 32 runs past the end of the file" -- "$BAD/bad-elf"
t img_no_mbheader 2 --err "no multiboot header in the first 8192 bytes" -- "$BAD/no-mbheader"
t img_bad_checksum 2 --err "multiboot header at offset 0x54: checksum 0x00000000 does not match" -- "$BAD/bad-checksum"
t img_bad_flags 2 --err "flags 0x0000000b sets required bit 3" -- "$BAD/bad-flags"
t img_elf64 2 --err "image is ELF64 .*multiboot needs a 32-bit image" -- "$BAD/elf64"
t img_aout_bad_load 2 --err "load_addr 0x100100 is above header_addr 0x100000" -- "$BAD/aout-bad-load"
t img_too_big 2 --err "p_memsz 0x4000000 is not in guest RAM \(guest low RAM ends at 0x800000\)" -- --memory 8M "$BAD/too-big"
t img_huge 2 --err "p_memsz 0xc0000000 is not in guest RAM" -- "$BAD/huge"
# The same kernel fits once there is RAM for it: the error was about RAM, not the image.
