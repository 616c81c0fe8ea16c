# tests/module.mk: sources of tests/ (explicit list)
UNIT_TESTS += test_console
test_console_SRCS := frontend/console.c devices/uart8250.c
