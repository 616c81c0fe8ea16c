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
DEV_SRCS += devices/i8259.c
DEV_SRCS += devices/i8254.c
DEV_SRCS += devices/rtc.c
DEV_SRCS += devices/pmtimer.c
UNIT_TESTS += test_i8259
test_i8259_SRCS := devices/i8259.c
UNIT_TESTS += test_i8254
test_i8254_SRCS := devices/i8254.c
UNIT_TESTS += test_rtc
test_rtc_SRCS := devices/rtc.c
UNIT_TESTS += test_pmtimer
test_pmtimer_SRCS := devices/pmtimer.c
