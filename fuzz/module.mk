# fuzz/module.mk: libFuzzer targets (clang, ASan+UBSan) over hyve's pure modules.
# `make fuzz FUZZ_SECONDS=N` runs each for N seconds (tools/fuzz); `make check`
# replays the seeds and every past finding (fuzz/regressions/NAME/) and runs
# each target briefly (tests/run-tests, fuzz/NAME).
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 -I. -Iinclude \
              -Wall -Wextra -Wno-unused-parameter
# One target per fuzz/fuzz_NAME.c (tools/fuzz and tests/run-tests list the same files).
FUZZ_TARGETS := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
fuzz_vlapic_SRCS := vmm/vlapic.c vmm/apic_dest.c
fuzz_apic_dest_SRCS := vmm/apic_dest.c
fuzz_ioapic_SRCS := vmm/vioapic.c
fuzz_devices_SRCS := devices/uart8250.c devices/i8259.c devices/i8254.c devices/rtc.c devices/pmtimer.c \
                     devices/fwcfg.c devices/sysctl.c devices/pci.c
fuzz_loaders_SRCS := loaders/multiboot.c loaders/linux.c loaders/acpi.c loaders/mptable.c loaders/memmap.c vmm/gmem.c
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60

define FUZZ_template
$(BUILD)/fuzz/fuzz_$(1): fuzz/fuzz_$(1).c fuzz/fuzz.h $$(fuzz_$(1)_SRCS)
	@mkdir -p $$(dir $$@)
	@echo "  FUZZ-LD $$@"
	$$(Q)$$(FUZZ_CC) $$(FUZZ_FLAGS) -o $$@ fuzz/fuzz_$(1).c $$(fuzz_$(1)_SRCS) -lpthread
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_template,$(t))))

.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	$(Q)tools/ensure-deps clang libclang-rt-14-dev
fuzz-build: fuzz-deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
fuzz: deps all bench-build fuzz-build
	$(Q)tools/fuzz --build $(BUILD) --seconds $(FUZZ_SECONDS)
