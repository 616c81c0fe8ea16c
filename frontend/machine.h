/* machine.h: the hyve command's machine: what the frontend's files share.
 *
 * The frontend is split along bhyve's seams (usr.sbin/bhyve):
 *   machine.c  assembly: the devices, their port table, ISA IRQ wiring, the
 *              device timers; how the machine ends (machine_end) and with
 *              which status (machine_set_exit_status)
 *   vcpus.c    one thread per vCPU and the table of exit handlers
 *   load.c     guest loading: kernels and modules, firmware tables, fw_cfg
 *   main.c     options, set-up, waiting for the end, the status and report
 * Nothing here is global: every function takes the machine.
 */
#ifndef FRONTEND_MACHINE_H
#define FRONTEND_MACHINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/fwcfg.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/pci.h"
#include "devices/pmtimer.h"
#include "devices/rtc.h"
#include "devices/sysctl.h"
#include "devices/uart8250.h"
#include "frontend/console.h"
#include "frontend/options.h"
#include "frontend/trace.h"
#include "vmm/vmm.h"

struct machine;

/* The glue of a timer device on an ISA line (the PIT, the RTC): the context
 * of the device's ops. Field legend below. */
struct timer_dev {
	struct machine *m;             /* (c) machine_init */
	unsigned irq;                  /* (c) machine_init: ISA IRQ */
	struct vm_timer timer;         /* (c) machine_init; calls the device's timer_fired */
};

/* Field legend: (c) set before any vCPU thread starts; (t) threads_lock; (a) atomic. */
struct machine {
	struct options *opt;           /* (c) main */
	struct vm *vm;                 /* (c) main */
	struct bus bus;                /* (c) machine_init; locks itself */
	struct uart8250 uart;          /* (c) machine_init; each device locks itself */
	struct fwcfg fw;               /* (c) machine_init, filled by load_fwcfg */
	struct debugexit dbg;          /* (c) machine_init */
	struct rstctl rcr;             /* (c) machine_init */
	struct port92 p92;             /* (c) machine_init */
	struct i8042 kbd;              /* (c) machine_init */
	struct port80 post;            /* (c) machine_init */
	struct pvpanic panic;          /* (c) machine_init */
	struct pmcnt pm;               /* (c) machine_init */
	struct i8259 pic;              /* (c) machine_init */
	struct i8254 pit;              /* (c) machine_init */
	struct rtc rtc;                /* (c) machine_init */
	struct pmtimer pmtmr;          /* (c) machine_init */
	struct pci_host pci;           /* (c) machine_init: bus 0, config access, BAR windows */
	struct timer_dev pit_glue;     /* (c) machine_init: IRQ 0, drives i8254_timer_fired */
	struct timer_dev rtc_glue;     /* (c) machine_init: IRQ 8, drives rtc_timer_fired */
	struct console con;            /* (c) main */
	struct tracer tracer;          /* (c) main */
	struct gdb_target *gdb;        /* (c) main: the GDB stub (--gdb), else NULL */
	int done_fd;                   /* (c) machine_init; eventfd: a vCPU thread saw the VM end */
	uint32_t exit_status;          /* (a) UINT32_MAX until machine_set_exit_status() */
	pthread_mutex_t threads_lock;  /* (c) machine_init */
	pthread_t *threads;            /* (t) [ncpus] */
	bool *has_thread;              /* (t) [ncpus] */
	/* (t) [ncpus] VCPU_MADE_*: a vCPU thread creates its own vCPU (KVM work
	 * off the INIT sender's path, several at once; issue 14) */
	uint8_t *made;
	pthread_cond_t made_cond;      /* (c) machine_init; broadcast when made[] changes */
};
enum { VCPU_MADE_NOT = 0, VCPU_MADE_OK = 1, VCPU_MADE_FAILED = 2 };

/* Waits until the thread of vCPU id (machine_start_vcpu) made its vCPU. 0 or -1. */
int machine_wait_vcpu(struct machine *m, uint32_t id);

/* "hyve: " + message on stderr, one line. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* machine.c. Creates every device, registers the port table and wires the
 * interrupts and timers; m->opt and m->vm must be set. 0, or -1 (said why). */
int machine_init(struct machine *m);
/* Tears down what machine_init built (after vm_destroy: no vCPU or timer
 * thread may call a device any more). Safe on a partly built machine. */
void machine_destroy(struct machine *m);
/* Ends the VM (vm_suspend) and wakes the main thread. Any thread. */
void machine_end(struct machine *m, enum vm_suspend_how how);
/* The process exit status, chosen once: the first caller wins (a guest's
 * debug-exit, Ctrl-A x, an internal error, a signal). Any thread. */
void machine_set_exit_status(struct machine *m, uint32_t status);
/* The console's Ctrl-A x: exit status 0, end the VM. */
void machine_quit(void *m);

/* A vCPU's VM_EXITCODE_DEBUG goes to the GDB stub (frontend/gdb_target.h). */
struct gdb_target;
void gdb_target_debug_exit(struct gdb_target *t, struct vcpu *v, const struct vm_exit *ex);

/* vcpus.c. Allocates vCPU id and starts its thread, once; -errno on failure
 * (said, and the VM ends with HYVE_EXIT_HOST). */
int machine_start_vcpu(struct machine *m, uint32_t id);

/* load.c. Loads the guest the options name (or the built-in one) with the
 * firmware tables, and fills its boot CPU state; *kind names the format.
 * 0, or -1 (said why). */
int load_guest(struct machine *m, struct vm_boot_cpu *cpu, const char **kind);
/* QEMU's fw_cfg items: RAM size, CPU counts, command line, etc/e820. -errno. */
int load_fwcfg(struct machine *m);

#endif
