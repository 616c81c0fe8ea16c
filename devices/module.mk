# devices/module.mk: sources of devices/ (explicit list)
DEV_SRCS += devices/bus.c
DEV_SRCS += devices/uart8250.c
DEV_SRCS += devices/fwcfg.c
DEV_SRCS += devices/sysctl.c

UNIT_TESTS += test_bus
test_bus_SRCS := devices/bus.c
UNIT_TESTS += test_uart
test_uart_SRCS := devices/uart8250.c
UNIT_TESTS += test_fwcfg
test_fwcfg_SRCS := devices/fwcfg.c
UNIT_TESTS += test_sysctl
test_sysctl_SRCS := devices/sysctl.c
