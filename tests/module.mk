# tests/module.mk: sources of tests/ (explicit list)
UNIT_TESTS += test_console
test_console_SRCS := frontend/console.c devices/uart8250.c
UNIT_TESTS += test_gdb
test_gdb_SRCS := frontend/gdb.c frontend/gdb_wire.c frontend/gdb_cmd.c frontend/gdb_regs.c

# kvm-hold keeps one irqchip-less VM alive in the nested tier's L1 (see the file).
# `all` is named first so that it, not this tool, stays make's default goal.
all: $(BUILD)/tools/kvm-hold
$(BUILD)/tools/kvm-hold: tests/tools/kvm_hold.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)
