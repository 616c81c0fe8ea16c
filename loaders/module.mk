# loaders/module.mk: sources of loaders/ (explicit list): memory map, Multiboot loader, their tests and tools
LOADER_SRCS += loaders/memmap.c
LOADER_SRCS += loaders/multiboot.c

UNIT_TESTS += test_memmap
test_memmap_SRCS := loaders/memmap.c vmm/gmem.c
UNIT_TESTS += test_multiboot
test_multiboot_SRCS := loaders/multiboot.c loaders/memmap.c vmm/gmem.c

# mkbadimg writes the malformed kernels the command-line tests feed to hyve.
# `all` is named first so that it, not this tool, stays make's default goal.
all: $(BUILD)/tools/mkbadimg
$(BUILD)/tools/mkbadimg: tests/tools/mkbadimg.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# Linux boot (bzImage 64-bit protocol, PVH), ACPI and MP tables.
LOADER_SRCS += loaders/linux.c
LOADER_SRCS += loaders/acpi.c
LOADER_SRCS += loaders/mptable.c

UNIT_TESTS += test_linux
test_linux_SRCS := loaders/linux.c loaders/memmap.c vmm/gmem.c
UNIT_TESTS += test_acpi
test_acpi_SRCS := loaders/acpi.c vmm/gmem.c
UNIT_TESTS += test_mptable
test_mptable_SRCS := loaders/mptable.c loaders/acpi.c vmm/gmem.c
