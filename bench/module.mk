# bench/module.mk: benchmark guests, the host TSC helper and the runner (make bench).
# Each name in BENCH_GUESTS builds bench/guests/NAME.c into $(BUILD)/bench/NAME.elf,
# linked exactly as the test guests are (root Makefile: GUEST_CFLAGS,
# GUEST_LDFLAGS, GUEST_LIB_OBJS with crt0 first). bench/run compares hyve with
# QEMU on them; see docs/performance.md.

BENCH_GUESTS := bench_apboot bench_ipi bench_exit bench_mem
BENCH_ELFS := $(BENCH_GUESTS:%=$(BUILD)/bench/%.elf)
BENCH_TOOLS := $(BUILD)/bench/tsc-khz

$(BUILD)/bench/%.o: bench/guests/%.c
	@mkdir -p $(dir $@)
	@echo "  GCC32   $<"
	$(Q)$(CC) $(GUEST_CFLAGS) -Ibench/guests -c -o $@ $<

# GUEST_LIB_OBJS is defined by the root Makefile after the module.mk files are
# included: the second expansion ($$) reads it when the rule is used.
.SECONDEXPANSION:
$(BUILD)/bench/%.elf: $(BUILD)/bench/%.o $$(GUEST_LIB_OBJS) guests/lib/guest.ld guests/lib/guest-sections.ld
	@echo "  LD32    $@"
	$(Q)ld $(GUEST_LDFLAGS) -o $@ $(GUEST_LIB_OBJS) $<

$(BUILD)/bench/tsc-khz: bench/tsc_khz.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

.PHONY: bench bench-build
bench-build: $(BENCH_ELFS) $(BENCH_TOOLS)

# The runner installs QEMU itself (as root) when qemu-system-x86_64 is missing.
# BENCH_ARGS passes options to it (bench/run --help).
bench: deps all bench-build
	$(Q)bench/run --build $(BUILD) $(BENCH_ARGS)
