# frontend/module.mk: the hyve command (options, machine assembly, console, tracing).
FRONTEND_SRCS += frontend/hyve.c
FRONTEND_SRCS += frontend/options.c
FRONTEND_SRCS += frontend/console.c
FRONTEND_SRCS += frontend/trace.c
FRONTEND_ASM_SRCS += frontend/default_guest.S
