# frontend/module.mk: the hyve command (options, machine assembly, console, tracing).
FRONTEND_SRCS += frontend/main.c
FRONTEND_SRCS += frontend/machine.c
FRONTEND_SRCS += frontend/vcpus.c
FRONTEND_SRCS += frontend/load.c
FRONTEND_SRCS += frontend/options.c
FRONTEND_SRCS += frontend/console.c
FRONTEND_SRCS += frontend/trace.c
FRONTEND_ASM_SRCS += frontend/default_guest.S
FRONTEND_SRCS += frontend/gdb.c frontend/gdb_wire.c frontend/gdb_cmd.c frontend/gdb_regs.c
FRONTEND_SRCS += frontend/gdb_target.c frontend/gdb_listen.c
