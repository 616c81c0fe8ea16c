/* hyve.c: the frontend: assembles the machine, runs one thread per vCPU, dispatches exits. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/fwcfg.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/pmtimer.h"
#include "devices/rtc.h"
#include "devices/sysctl.h"
#include "devices/uart8250.h"
#include "frontend/console.h"
#include "frontend/options.h"
#include "frontend/trace.h"
#include "loaders/acpi.h"
#include "loaders/linux.h"
#include "loaders/memmap.h"
#include "loaders/mptable.h"
#include "loaders/multiboot.h"
#include "vmm/apic_dest.h"
#include "vmm/vmm.h"

#define MAX_IMAGE_SIZE (512u << 20) /* kernels and modules larger than this are refused */

extern const unsigned char default_guest_start[], default_guest_end[];

/* Field legend: (c) set before any vCPU thread starts; (t) threads_lock; (a) atomic. */
struct machine {
	struct options *opt;           /* (c) */
	struct vm *vm;                 /* (c) */
	struct bus bus;                /* (c) locks itself */
	struct uart8250 uart;          /* (c) */
	struct fwcfg fw;               /* (c) */
	struct debugexit dbg;          /* (c) */
	struct rstctl rcr;             /* (c) */
	struct port92 p92;             /* (c) */
	struct i8042 kbd;              /* (c) */
	struct port80 post;            /* (c) */
	struct pmcnt pm;               /* (c) */
	struct i8259 pic;              /* (c) */
	struct i8254 pit;              /* (c) */
	struct rtc rtc;                /* (c) */
	struct pmtimer pmtmr;          /* (c) */
	struct vm_timer pit_timer;     /* (c) drives i8254_timer_fired */
	struct vm_timer rtc_timer;     /* (c) drives rtc_timer_fired */
	struct console con;            /* (c) */
	struct tracer tracer;          /* (c) */
	int done_fd;                   /* (c) eventfd: a vCPU thread saw the VM end */
	uint32_t exit_status;          /* (a) status chosen by a device (debug-exit) */
	pthread_mutex_t threads_lock;
	pthread_t *threads;            /* (t) [ncpus] */
	bool *has_thread;              /* (t) [ncpus] */
};

struct vcpu_thread_arg {
	struct machine *m;
	struct vcpu *vcpu;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hyve: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void end_vm(struct machine *m, enum vm_suspend_how how)
{
	vm_suspend(m->vm, how);
	uint64_t one = 1;
	if (write(m->done_fd, &one, sizeof(one)) < 0) {
		/* the eventfd cannot overflow with these few writes */
	}
}

/* --- device callbacks --- */
static void on_debug_exit(void *ctx, uint32_t value)
{
	struct machine *m = ctx;
	/* QEMU isa-debug-exit: exit((value << 1) | 1); the OS keeps 8 bits. */
	uint32_t st = ((value << 1) | 1) & 0xff, none = UINT32_MAX;
	__atomic_compare_exchange_n(&m->exit_status, &none, st, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	end_vm(m, VM_SUSPEND_EXIT);
}

static void on_reset(void *ctx, enum sysreset_source src)
{
	(void)src;
	end_vm(ctx, VM_SUSPEND_RESET);
}

static void on_quit(void *ctx)
{
	struct machine *m = ctx;
	uint32_t none = UINT32_MAX;
	__atomic_compare_exchange_n(&m->exit_status, &none, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	end_vm(m, VM_SUSPEND_EXIT);
}

/* Wider accesses are split into bytes, as QEMU does; the bus keeps them in range. */
static void on_poweroff(void *ctx)
{
	end_vm(ctx, VM_SUSPEND_POWEROFF);
}

static int pio_pmcnt(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (wr)
		pmcnt_write(o, (unsigned)off, size, (uint16_t)*val);
	else
		*val = pmcnt_read(o, (unsigned)off, size);
	return 0;
}

/* --- interrupt wiring: ISA IRQ n goes to 8259 input n and to I/O APIC pin n,
 * except IRQ0 (the PIT) which reaches pin 2, as on QEMU's pc machine and as
 * the MADT's interrupt source override will say. --- */
#define TESTDEV_IRQ_PORT 0x2000 /* QEMU pc-testdev: a byte written to 0x2000 + n sets line n */
#define TESTDEV_NLINES 24

static void isa_irq(struct machine *m, unsigned irq, bool level)
{
	if (irq < 16)
		i8259_set_irq(&m->pic, irq, level);
	vm_ioapic_set_irq(m->vm, irq == 0 ? 2 : irq, level);
}

static void uart_irq(void *ctx, bool level)
{
	isa_irq(ctx, 4, level); /* COM1 is ISA IRQ 4 */
}

static void uart_tx(void *ctx, uint8_t byte)
{
	struct machine *m = ctx;
	console_tx(&m->con, byte);
}

static void uart_rx_drained(void *ctx)
{
	struct machine *m = ctx;
	console_rx_drained(&m->con);
}

static void pic_intr(void *ctx, bool level)
{
	struct machine *m = ctx;
	vm_pic_intr(m->vm, level);
}

static uint8_t pic_intack(void *ctx)
{
	struct machine *m = ctx;
	return i8259_intack(&m->pic);
}

static uint64_t dev_now_ns(void *ctx)
{
	(void)ctx;
	return vm_now_ns();
}

static int64_t dev_wall_s(void *ctx)
{
	(void)ctx;
	return (int64_t)time(NULL);
}

static void pit_irq0(void *ctx, bool level)
{
	isa_irq(ctx, 0, level);
}

static void pit_arm(void *ctx, uint64_t deadline_ns)
{
	struct machine *m = ctx;
	vm_timer_arm(m->vm, &m->pit_timer, deadline_ns);
}

static void pit_disarm(void *ctx)
{
	struct machine *m = ctx;
	vm_timer_disarm(m->vm, &m->pit_timer);
}

static void pit_fired(void *ctx)
{
	struct machine *m = ctx;
	i8254_timer_fired(&m->pit);
}

static void rtc_irq(void *ctx, bool level)
{
	isa_irq(ctx, 8, level);
}

static void rtc_arm(void *ctx, uint64_t deadline_ns)
{
	struct machine *m = ctx;
	vm_timer_arm(m->vm, &m->rtc_timer, deadline_ns);
}

static void rtc_disarm(void *ctx)
{
	struct machine *m = ctx;
	vm_timer_disarm(m->vm, &m->rtc_timer);
}

static void rtc_fired(void *ctx)
{
	struct machine *m = ctx;
	rtc_timer_fired(&m->rtc);
}

static int pio_pic(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val, unsigned base_reg)
{
	struct machine *m = o;
	(void)size;
	if (wr)
		i8259_write(&m->pic, base_reg + (unsigned)off, (uint8_t)*val);
	else
		*val = i8259_read(&m->pic, base_reg + (unsigned)off);
	return 0;
}

static int pio_pic_master(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	return pio_pic(o, off, size, wr, val, I8259_REG_MASTER_CMD);
}

static int pio_pic_slave(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	return pio_pic(o, off, size, wr, val, I8259_REG_SLAVE_CMD);
}

static int pio_elcr(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	return pio_pic(o, off, size, wr, val, I8259_REG_ELCR_MASTER);
}

static int pio_pit(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)size;
	if (wr)
		i8254_write(o, (unsigned)off, (uint8_t)*val);
	else
		*val = i8254_read(o, (unsigned)off);
	return 0;
}

static int pio_port61(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)off;
	(void)size;
	if (wr)
		i8254_port61_write(o, (uint8_t)*val);
	else
		*val = i8254_port61_read(o);
	return 0;
}

static int pio_rtc(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)size;
	if (wr)
		rtc_write(o, (unsigned)off, (uint8_t)*val);
	else
		*val = rtc_read(o, (unsigned)off);
	return 0;
}

static int pio_pmtimer(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (!wr)
		*val = pmtimer_read(o, (unsigned)off, size);
	return 0;
}

/* QEMU's pc-testdev interrupt lines: byte n of the range sets line n. */
static int pio_testdev_irq(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct machine *m = o;
	if (!wr) {
		*val = 0;
		return 0;
	}
	for (unsigned i = 0; i < size && off + i < TESTDEV_NLINES; i++)
		isa_irq(m, (unsigned)off + i, (*val >> (8 * i)) & 0xff);
	return 0;
}

static int pio_pmevt(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (wr)
		pmevt_write(o, (unsigned)off, size, (uint32_t)*val);
	else
		*val = pmevt_read(o, (unsigned)off, size);
	return 0;
}

static int pio_uart(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (!wr)
		*val = 0;
	for (unsigned i = 0; i < size; i++) {
		if (wr)
			uart_write(o, (unsigned)off + i, (uint8_t)(*val >> (8 * i)));
		else
			*val |= (uint64_t)uart_read(o, (unsigned)off + i) << (8 * i);
	}
	return 0;
}

static int pio_fwcfg(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (wr)
		fwcfg_io_write(o, (unsigned)off, size, (uint32_t)*val);
	else
		*val = fwcfg_io_read(o, (unsigned)off, size);
	return 0;
}

static int pio_debugexit(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	if (wr)
		debugexit_write(o, (unsigned)off, size, (uint32_t)*val);
	else
		*val = debugexit_read(o, (unsigned)off, size);
	return 0;
}

static int pio_rcr(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)size;
	if (wr)
		rstctl_write(o, (unsigned)off, (uint8_t)*val);
	else
		*val = rstctl_read(o, (unsigned)off);
	return 0;
}

static int pio_port92(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)size;
	if (wr)
		port92_write(o, (unsigned)off, (uint8_t)*val);
	else
		*val = port92_read(o, (unsigned)off);
	return 0;
}

static int i8042_access(void *o, unsigned off, bool wr, uint64_t *val)
{
	if (wr)
		i8042_write(o, off, (uint8_t)*val);
	else
		*val = i8042_read(o, off);
	return 0;
}

/* The i8042 answers at 0x60 and 0x64 only (0x61 belongs to the PIT gate). */
static int pio_i8042_data(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)off;
	(void)size;
	return i8042_access(o, I8042_OFF_DATA, wr, val);
}

static int pio_i8042_cmd(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)off;
	(void)size;
	return i8042_access(o, I8042_OFF_CMD, wr, val);
}

static int pio_port80(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)size;
	if (wr)
		port80_write(o, (unsigned)off, (uint8_t)*val);
	else
		*val = port80_read(o, (unsigned)off);
	return 0;
}

static const struct uart8250_ops uart_ops = {.tx = uart_tx, .irq = uart_irq, .rx_drained = uart_rx_drained};
static const struct i8259_ops pic_ops = {.intr = pic_intr};
static const struct vm_pic_ops vm_pic_ops = {.intack = pic_intack};
static const struct i8254_ops pit_ops = {.now_ns = dev_now_ns, .irq0 = pit_irq0, .arm = pit_arm,
					 .disarm = pit_disarm};
static const struct rtc_ops rtc_ops = {.now_ns = dev_now_ns, .wall_s = dev_wall_s, .irq = rtc_irq,
				       .arm = rtc_arm, .disarm = rtc_disarm};
static const struct pmtimer_ops pmtimer_ops = {.now_ns = dev_now_ns};
static const struct debugexit_ops dbg_ops = {.on_exit = on_debug_exit};
static const struct sysreset_ops reset_ops = {.on_reset = on_reset};
static const struct pmcnt_ops pm_ops = {.on_poweroff = on_poweroff};

/* The machine's devices, in registration order (teardown runs in reverse). */
struct device_slot {
	const char *name;
	uint16_t port, len;
	bus_handler_fn *fn;
	size_t opaque_off; /* offset of the device inside struct machine */
};

static const struct device_slot pio_devices[] = {
	{"uart8250", UART_COM1_BASE, UART_NREGS, pio_uart, offsetof(struct machine, uart)},
	{"fw_cfg", FWCFG_IO_BASE, FWCFG_IO_LEN, pio_fwcfg, offsetof(struct machine, fw)},
	{"isa-debug-exit", DEBUGEXIT_BASE, DEBUGEXIT_LEN, pio_debugexit, offsetof(struct machine, dbg)},
	{"reset-control", RCR_PORT, RCR_LEN, pio_rcr, offsetof(struct machine, rcr)},
	{"port92", PORT92_PORT, PORT92_LEN, pio_port92, offsetof(struct machine, p92)},
	{"i8042-data", I8042_DATA_PORT, 1, pio_i8042_data, offsetof(struct machine, kbd)},
	{"i8042-cmd", I8042_CMD_PORT, 1, pio_i8042_cmd, offsetof(struct machine, kbd)},
	{"post", PORT80_PORT, PORT80_LEN, pio_port80, offsetof(struct machine, post)},
	{"acpi-pm1a-cnt", PMCNT_PORT, PMCNT_LEN, pio_pmcnt, offsetof(struct machine, pm)},
	{"acpi-pm1a-evt", PMEVT_PORT, PMEVT_LEN, pio_pmevt, offsetof(struct machine, pm)},
	{"i8259-master", I8259_PORT_MASTER, 2, pio_pic_master, 0},
	{"i8259-slave", I8259_PORT_SLAVE, 2, pio_pic_slave, 0},
	{"i8259-elcr", I8259_PORT_ELCR, 2, pio_elcr, 0},
	{"i8254", I8254_PORT_BASE, I8254_NREGS, pio_pit, offsetof(struct machine, pit)},
	{"port61", I8254_PORT61, 1, pio_port61, offsetof(struct machine, pit)},
	{"rtc", RTC_PORT_INDEX, RTC_NPORTS, pio_rtc, offsetof(struct machine, rtc)},
	{"acpi-pm-timer", PMTIMER_PORT, PMTIMER_LEN, pio_pmtimer, offsetof(struct machine, pmtmr)},
	{"testdev-irq", TESTDEV_IRQ_PORT, TESTDEV_NLINES, pio_testdev_irq, 0},
};

static int register_devices(struct machine *m)
{
	for (size_t i = 0; i < sizeof(pio_devices) / sizeof(pio_devices[0]); i++) {
		const struct device_slot *d = &pio_devices[i];
		void *opaque = (char *)m + d->opaque_off;
		int r = bus_register(&m->bus, BUS_PIO, d->port, d->len, d->fn, opaque, d->name);
		if (r < 0) {
			say("cannot register %s at port 0x%x: %s", d->name, d->port, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* --- vCPU threads and the exit table --- */
enum handler_result { VCPU_CONTINUE = 0, VCPU_STOP = 1 };
typedef enum handler_result exit_handler_fn(struct machine *m, struct vcpu *v, struct vm_exit *ex);

static int start_vcpu_thread(struct machine *m, uint32_t id);

static enum handler_result ex_inout(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	unsigned size = ex->u.inout.size;
	for (uint32_t i = 0; i < ex->u.inout.count; i++) {
		uint8_t *p = ex->u.inout.data + (size_t)i * size;
		uint64_t val = 0;
		if (ex->u.inout.in) {
			bus_access(&m->bus, BUS_PIO, ex->u.inout.port, size, false, &val);
			memcpy(p, &val, size);
		} else {
			memcpy(&val, p, size);
			bus_access(&m->bus, BUS_PIO, ex->u.inout.port, size, true, &val);
		}
	}
	return VCPU_CONTINUE;
}

static enum handler_result ex_mmio(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	uint64_t val = 0;
	unsigned len = ex->u.mmio.len;
	if (ex->u.mmio.is_write) {
		memcpy(&val, ex->u.mmio.data, len);
		bus_access(&m->bus, BUS_MMIO, ex->u.mmio.gpa, len, true, &val);
	} else {
		bus_access(&m->bus, BUS_MMIO, ex->u.mmio.gpa, len, false, &val);
		memcpy(ex->u.mmio.data, &val, len);
	}
	return VCPU_CONTINUE;
}

/* IPI exits (smp-spec 3): INIT brings the targets' threads into being (they
 * wait for SIPI inside vm_run), STARTUP releases the claimed ones. */
static enum handler_result ex_ipi(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	CPUSET_FOREACH(i, &ex->u.ipi.dmask)
	{
		uint32_t id = (uint32_t)i;
		if (ex->u.ipi.mode == APIC_DM_INIT) {
			if (start_vcpu_thread(m, id) < 0)
				return VCPU_STOP;
		} else if (ex->u.ipi.mode == APIC_DM_STARTUP) {
			if (start_vcpu_thread(m, id) < 0)
				return VCPU_STOP;
			int r = vm_vcpu_start_ap(m->vm, id, (uint64_t)ex->u.ipi.vector << 12);
			if (r < 0 && r != -EBUSY) {
				say("cannot start vCPU %u: %s", id, strerror(-r));
				end_vm(m, VM_SUSPEND_EXIT);
				return VCPU_STOP;
			}
		}
	}
	return VCPU_CONTINUE;
}

/* Legacy protocol: allocate, activate and start the AP the core names. */
static enum handler_result ex_spinup_ap(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	uint32_t id = ex->u.spinup_ap.vcpuid;
	struct vcpu *ap;
	int r;
	if ((r = vm_activate_cpu(m->vm, id)) < 0 || (r = vm_vcpu_get(m->vm, id, &ap)) < 0 ||
	    (r = vm_vcpu_start_ap(m->vm, id, ex->u.spinup_ap.rip)) < 0) {
		if (r == -EBUSY)
			return VCPU_CONTINUE; /* an INIT raced the start: the AP waits again */
		say("cannot start vCPU %u: %s", id, strerror(-r));
		end_vm(m, VM_SUSPEND_EXIT);
		return VCPU_STOP;
	}
	return start_vcpu_thread(m, id) < 0 ? VCPU_STOP : VCPU_CONTINUE;
}

static enum handler_result ex_suspended(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	(void)v;
	(void)ex;
	end_vm(m, VM_SUSPEND_EXIT); /* wakes the main thread; the first reason stays */
	return VCPU_STOP;
}

static enum handler_result ex_triple_fault(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	char dump[1024];
	say("vCPU %u triple fault (shutdown)", ex->vcpu);
	if (vm_vcpu_dump(v, dump, sizeof(dump)) == 0)
		fprintf(stderr, "%s\n", dump);
	end_vm(m, VM_SUSPEND_TRIPLEFAULT);
	return VCPU_STOP;
}

static enum handler_result ex_internal(struct machine *m, struct vcpu *v, struct vm_exit *ex)
{
	char dump[1024];
	say("vCPU %u: KVM cannot run the guest (exit reason %u, suberror %u, data %llx %llx %llx %llx)",
	    ex->vcpu, ex->u.internal.kvm_exit_reason, ex->u.internal.suberror,
	    (unsigned long long)ex->u.internal.data[0], (unsigned long long)ex->u.internal.data[1],
	    (unsigned long long)ex->u.internal.data[2], (unsigned long long)ex->u.internal.data[3]);
	if (vm_vcpu_dump(v, dump, sizeof(dump)) == 0)
		fprintf(stderr, "%s\n", dump);
	uint32_t none = UINT32_MAX;
	__atomic_compare_exchange_n(&m->exit_status, &none, HYVE_EXIT_INTERNAL, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	end_vm(m, VM_SUSPEND_EXIT);
	return VCPU_STOP;
}

static exit_handler_fn *const exit_handlers[VM_EXITCODE_MAX] = {
	[VM_EXITCODE_INOUT] = ex_inout,
	[VM_EXITCODE_MMIO] = ex_mmio,
	[VM_EXITCODE_IPI] = ex_ipi,
	[VM_EXITCODE_SPINUP_AP] = ex_spinup_ap,
	[VM_EXITCODE_SUSPENDED] = ex_suspended,
	[VM_EXITCODE_TRIPLE_FAULT] = ex_triple_fault,
	[VM_EXITCODE_INTERNAL_ERROR] = ex_internal,
};

static void *vcpu_thread(void *p)
{
	struct vcpu_thread_arg a = *(struct vcpu_thread_arg *)p;
	free(p);
	struct vm_exit ex;
	for (;;) {
		int r = vm_run(a.vcpu, &ex);
		if (r < 0) {
			say("vCPU %u: %s", vcpu_id(a.vcpu), strerror(-r));
			uint32_t none = UINT32_MAX;
			__atomic_compare_exchange_n(&a.m->exit_status, &none, HYVE_EXIT_HOST, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			end_vm(a.m, VM_SUSPEND_EXIT);
			vm_run(a.vcpu, &ex); /* returns SUSPENDED: leaves the rendezvous set */
			return NULL;
		}
		exit_handler_fn *fn = ex.exitcode < VM_EXITCODE_MAX ? exit_handlers[ex.exitcode] : NULL;
		if (!fn) {
			say("vCPU %u: unknown exit code %u", vcpu_id(a.vcpu), ex.exitcode);
			end_vm(a.m, VM_SUSPEND_EXIT);
			continue;
		}
		if (fn(a.m, a.vcpu, &ex) == VCPU_STOP) {
			if (ex.exitcode != VM_EXITCODE_SUSPENDED)
				vm_run(a.vcpu, &ex); /* detach cleanly: returns SUSPENDED */
			return NULL;
		}
	}
}

/* Allocates the vCPU and starts its thread, once. -errno on failure. */
static int start_vcpu_thread(struct machine *m, uint32_t id)
{
	struct vcpu *v;
	int r = 0;
	pthread_mutex_lock(&m->threads_lock);
	if (m->has_thread[id])
		goto out;
	if ((r = vm_vcpu_get(m->vm, id, &v)) < 0) {
		say("cannot create vCPU %u: %s", id, strerror(-r));
		goto out;
	}
	vm_set_capability(v, VM_CAP_IPI_EXIT, m->opt->ap_startup == AP_STARTUP_IPI_EXIT);
	struct vcpu_thread_arg *a = malloc(sizeof(*a));
	if (!a) {
		r = -ENOMEM;
		goto out;
	}
	*a = (struct vcpu_thread_arg){.m = m, .vcpu = v};
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10); /* small stacks: up to 1024 vCPU threads */
	r = -pthread_create(&m->threads[id], &attr, vcpu_thread, a);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		free(a);
		say("cannot start a thread for vCPU %u: %s", id, strerror(-r));
		goto out;
	}
	m->has_thread[id] = true;
out:
	pthread_mutex_unlock(&m->threads_lock);
	if (r < 0) {
		uint32_t none = UINT32_MAX;
		__atomic_compare_exchange_n(&m->exit_status, &none, HYVE_EXIT_HOST, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
		end_vm(m, VM_SUSPEND_EXIT);
	}
	return r;
}

/* --- loading --- */
static int read_file(const char *path, const char *what, uint8_t **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		say("cannot open %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say("%s '%s' is not a regular file", what, path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > MAX_IMAGE_SIZE) {
		say("%s '%s' is too large (%lld bytes; at most %u)", what, path, (long long)st.st_size,
		    MAX_IMAGE_SIZE);
		close(fd);
		return -1;
	}
	*size = (size_t)st.st_size;
	*data = malloc(*size ? *size : 1);
	size_t got = 0;
	while (*data && got < *size) {
		ssize_t n = read(fd, *data + got, *size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!*data || got != *size) {
		say("cannot read %s '%s'", what, path);
		free(*data);
		*data = NULL;
		return -1;
	}
	return 0;
}

static struct vm_segment seg_of(const struct linux_segment *l)
{
	return (struct vm_segment){.base = l->base, .limit = l->limit, .selector = l->selector,
				   .type = l->type, .s = l->s, .dpl = l->dpl, .present = l->present,
				   .db = l->db, .l = l->l, .g = l->g};
}

/* Multiboot 0.6.96 section 3.2 machine state: flat 32-bit CS/DS, CR0.PE,
 * paging off, IF = 0, EAX = magic, EBX = info. */
static void multiboot_cpu(const struct mb_load_result *r, struct vm_boot_cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->rip = r->entry;
	cpu->rax = r->eax;
	cpu->rbx = r->ebx;
	cpu->rflags = 0x2;
	cpu->cr0 = 0x11; /* PE | ET */
	cpu->cs = (struct vm_segment){.limit = 0xffffffff, .selector = 0x10, .type = 0xb, .s = 1,
				      .present = 1, .db = 1, .g = 1};
	cpu->ds = (struct vm_segment){.limit = 0xffffffff, .selector = 0x18, .type = 0x3, .s = 1,
				      .present = 1, .db = 1, .g = 1};
}

/* A Linux kernel: bzImage through the 64-bit boot protocol or an ELF vmlinux
 * through PVH (Documentation/arch/x86/boot.rst). One --initrd file. */
static int load_linux(struct machine *m, const uint8_t *image, size_t size, const uint8_t *initrd,
		      size_t initrd_size, uint64_t rsdp, struct vm_boot_cpu *cpu, const char **kind)
{
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct linux_load_params lp = {.image = image, .image_size = size, .cmdline = m->opt->append,
				       .initrd = initrd, .initrd_size = initrd_size, .rsdp_addr = rsdp};
	struct linux_load_result lr;
	struct linux_cpu_state st;
	char err[256];
	if (linux_load(gm, &lp, &lr, err, sizeof(err)) < 0) {
		say("%s: %s", m->opt->kernel, err);
		return -1;
	}
	int r = lr.kind == LINUX_IMAGE_BZIMAGE ? linux_build_long_mode(gm, LINUX_TABLES_ADDR, &st)
					       : linux_build_prot_mode(gm, LINUX_TABLES_ADDR, &st);
	if (r < 0) {
		say("%s: cannot write the boot page tables: %s", m->opt->kernel, strerror(-r));
		return -1;
	}
	memset(cpu, 0, sizeof(*cpu));
	cpu->rip = lr.entry;
	cpu->rsi = lr.rsi;
	cpu->rbx = lr.rbx;
	cpu->rflags = st.rflags;
	cpu->cr0 = st.cr0;
	cpu->cr3 = st.cr3;
	cpu->cr4 = st.cr4;
	cpu->efer = st.efer;
	cpu->gdt_base = st.gdt_base;
	cpu->gdt_limit = st.gdt_limit;
	cpu->cs = seg_of(&st.cs);
	cpu->ds = seg_of(&st.ds);
	cpu->tr = seg_of(&st.tr);
	*kind = lr.kind == LINUX_IMAGE_BZIMAGE ? "Linux bzImage (64-bit entry)" : "Linux vmlinux (PVH entry)";
	return 0;
}

/* Writes the firmware tables every guest may look for: ACPI for all vCPUs
 * and, while every APIC ID fits in 8 bits, an MP table (for acpi=off). */
static int write_firmware_tables(struct machine *m, uint64_t *rsdp)
{
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct acpi_result acpi;
	struct mptable_result mp;
	char err[256];
	if (acpi_build(gm, vm_ncpus(m->vm), &acpi, err, sizeof(err)) < 0) {
		say("ACPI tables: %s", err);
		return -1;
	}
	*rsdp = acpi.rsdp;
	int r = mptable_build(gm, vm_ncpus(m->vm), &mp, err, sizeof(err));
	if (r < 0 && r != -ERANGE) {
		say("MP table: %s", err);
		return -1;
	}
	return 0;
}

static int load_guest(struct machine *m, struct vm_boot_cpu *cpu, const char **kind)
{
	struct options *o = m->opt;
	uint8_t *image = NULL;
	size_t image_size;
	struct mb_module mods[HYVE_MAX_MODULES];
	uint8_t *moddata[HYVE_MAX_MODULES] = {0};
	char *modpath[HYVE_MAX_MODULES] = {0};
	int r = -1;
	uint64_t rsdp;

	if (write_firmware_tables(m, &rsdp) < 0)
		return -1;
	if (o->kernel) {
		if (read_file(o->kernel, "kernel", &image, &image_size) < 0)
			return -1;
	} else {
		image_size = (size_t)(default_guest_end - default_guest_start);
	}
	for (unsigned i = 0; i < o->nmodules; i++) {
		/* "FILE ARGS": the file name ends at the first space (QEMU). */
		size_t n = strcspn(o->modules[i], " ");
		modpath[i] = strndup(o->modules[i], n);
		if (!modpath[i] || read_file(modpath[i], "module", &moddata[i], &mods[i].size) < 0)
			goto out;
		mods[i].data = moddata[i];
		mods[i].cmdline = o->modules[i];
	}
	const uint8_t *img = o->kernel ? image : default_guest_start;
	struct mb_load_params p = {
		.image = img,
		.image_size = image_size,
		.kernel_name = o->kernel ? o->kernel : "smpdemo",
		.append = o->append,
		.mods = mods,
		.nmods = o->nmodules,
	};
	struct mb_load_result res;
	char err[256];
	/* Multiboot first, as QEMU's -kernel does; then the Linux boot protocols. */
	int mr = mb_load(vm_guest_mem(m->vm), &p, &res, err, sizeof(err));
	if (mr == 0) {
		multiboot_cpu(&res, cpu);
		*kind = "Multiboot";
	} else if (mr == -ENOEXEC && o->kernel && linux_probe(img, image_size) != LINUX_IMAGE_UNKNOWN) {
		if (o->nmodules > 1 || (o->nmodules == 1 && strchr(o->modules[0], ' '))) {
			say("--initrd: a Linux kernel takes one initrd file without arguments");
			goto out;
		}
		if (load_linux(m, img, image_size, o->nmodules ? moddata[0] : NULL,
			       o->nmodules ? mods[0].size : 0, rsdp, cpu, kind) < 0)
			goto out;
	} else {
		say("%s: %s", o->kernel ? o->kernel : "built-in guest", err);
		goto out;
	}
	r = 0;
out:
	for (unsigned i = 0; i < o->nmodules; i++) {
		free(moddata[i]);
		free(modpath[i]);
	}
	free(image);
	return r;
}

static int setup_fwcfg(struct machine *m)
{
	struct fwcfg *fw = &m->fw;
	const struct guest_mem *gm = vm_guest_mem(m->vm);
	struct memmap_entry map[MEMMAP_MAX_ENTRIES];
	int n = memmap_build(gm, map, MEMMAP_MAX_ENTRIES);
	if (n < 0)
		return n;
	/* etc/e820 as QEMU writes it: packed {u64 address, u64 length, u32 type}. */
	uint8_t e820[MEMMAP_MAX_ENTRIES * 20];
	for (int i = 0; i < n; i++) {
		memcpy(e820 + i * 20, &map[i].base, 8);
		memcpy(e820 + i * 20 + 8, &map[i].len, 8);
		memcpy(e820 + i * 20 + 16, &map[i].type, 4);
	}
	size_t cl = strlen(m->opt->append) + 1;
	int r;
	if ((r = fwcfg_add_u64(fw, FW_CFG_RAM_SIZE, gm->ram_size)) < 0 ||
	    (r = fwcfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)vm_ncpus(m->vm))) < 0 ||
	    (r = fwcfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)vm_ncpus(m->vm))) < 0 ||
	    (r = fwcfg_add_u32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)cl)) < 0 ||
	    (r = fwcfg_add_string(fw, FW_CFG_CMDLINE_DATA, m->opt->append)) < 0 ||
	    (r = fwcfg_add_file(fw, "etc/e820", e820, (size_t)n * 20)) < 0)
		return r;
	return 0;
}

/* Consecutive vCPUs with the same reason print as one line ("vCPUs 4-1023"). */
struct verdict_run {
	uint32_t first, last;
	bool open;
	char why[256];
};

static void flush_verdicts(struct verdict_run *r)
{
	if (!r->open)
		return;
	if (r->first == r->last)
		say("vCPU %u never ran: %s", r->first, r->why);
	else
		say("vCPUs %u-%u never ran: %s", r->first, r->last, r->why);
	r->open = false;
}

static void print_verdict(void *ctx, uint32_t id, const char *why)
{
	struct verdict_run *r = ctx;
	if (r->open && id == r->last + 1 && !strcmp(why, r->why)) {
		r->last = id;
		return;
	}
	flush_verdicts(r);
	*r = (struct verdict_run){.first = id, .last = id, .open = true};
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void report(struct machine *m, bool never_ran)
{
	struct vm_stats st;
	vm_get_stats(m->vm, &st);
	say("vcpus configured=%u allocated=%u started=%u; ipis=%llu startup-dropped=%llu "
	    "init-deassert-ignored=%llu ipi-ignored=%llu sti-hlt-completed=%llu insn-completed=%llu",
	    st.configured, st.allocated, st.started, (unsigned long long)st.ipis,
	    (unsigned long long)st.startup_dropped, (unsigned long long)st.init_ignored,
	    (unsigned long long)st.ipi_ignored, (unsigned long long)st.sti_hlt,
	    (unsigned long long)st.insn_completed);
	if (never_ran) {
		struct verdict_run run = {.open = false};
		vm_never_ran_report(m->vm, print_verdict, &run);
		flush_verdicts(&run);
	}
}

/* Waits for the VM to end, a signal or the timeout. Returns true on timeout. */
static bool wait_for_end(struct machine *m, int sfd)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int ms = -1;
		if (m->opt->timeout > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double left = m->opt->timeout - ((double)(now.tv_sec - start.tv_sec) +
							 (double)(now.tv_nsec - start.tv_nsec) / 1e9);
			if (left <= 0)
				return true;
			ms = (int)ceil(left * 1000);
		}
		struct pollfd pf[2] = {{.fd = m->done_fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int n = poll(pf, 2, ms);
		if (n < 0 && errno != EINTR)
			return false;
		if (pf[0].revents & POLLIN)
			return false;
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR2) {
					report(m, true); /* on request: what happened so far */
					continue;
				}
				say("terminated by signal %u", si.ssi_signo);
				uint32_t none = UINT32_MAX;
				__atomic_compare_exchange_n(&m->exit_status, &none, 128 + si.ssi_signo, false,
							    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
				end_vm(m, VM_SUSPEND_EXIT);
				return false;
			}
		}
	}
}

static int status_of(struct machine *m, bool timed_out)
{
	if (timed_out)
		return HYVE_EXIT_TIMEOUT;
	uint32_t st = __atomic_load_n(&m->exit_status, __ATOMIC_SEQ_CST);
	switch (vm_suspended(m->vm)) {
	case VM_SUSPEND_RESET:
		return HYVE_EXIT_RESET;
	case VM_SUSPEND_POWEROFF:
		return HYVE_EXIT_POWEROFF;
	case VM_SUSPEND_HALT:
		return HYVE_EXIT_HALTED;
	case VM_SUSPEND_TRIPLEFAULT:
		return HYVE_EXIT_TRIPLE;
	default:
		return st == UINT32_MAX ? HYVE_EXIT_INTERNAL : (int)st;
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	int pr = options_parse(&opt, argc, argv);
	if (pr != 0) {
		options_free(&opt);
		return pr > 0 ? 0 : HYVE_EXIT_USAGE;
	}
	struct machine *m = calloc(1, sizeof(*m));
	if (!m) {
		say("out of memory");
		return HYVE_EXIT_HOST;
	}
	m->opt = &opt;
	m->exit_status = UINT32_MAX;
	/* Signals go to the main thread's signalfd. Blocked before any thread
	 * exists (libvmm's timer thread included), so every thread inherits the
	 * mask; SIGUSR1 stays open: it is libvmm's kick. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	int status = HYVE_EXIT_HOST;

	int maxcpus = vm_max_cpus(!opt.no_x2apic);
	if (maxcpus < 0) {
		say("cannot open /dev/kvm: %s", strerror(-maxcpus));
		return HYVE_EXIT_HOST;
	}
	if ((int)opt.cpus > maxcpus) {
		say("--cpus: %u vCPUs requested; this host allows at most %d%s", opt.cpus, maxcpus,
		    opt.no_x2apic ? " without x2APIC" : "");
		return HYVE_EXIT_USAGE;
	}
	if (tracer_init(&m->tracer, opt.trace & TRACE_APIC, opt.trace & TRACE_IO, opt.trace_file) < 0) {
		say("--trace-file: cannot open '%s': %s", opt.trace_file, strerror(errno));
		return HYVE_EXIT_USAGE;
	}
	struct vm_config cfg = {
		.ncpus = opt.cpus,
		.mem_size = opt.memory,
		.x2apic = !opt.no_x2apic,
		.trace = (opt.trace & TRACE_APIC) || opt.trace_file ? tracer_vm_event : NULL,
		.trace_ctx = &m->tracer,
	};
	char err[256];
	int r = vm_create(&cfg, &m->vm, err, sizeof(err));
	if (r < 0) {
		say("%s", err);
		return r == -EINVAL ? HYVE_EXIT_USAGE : HYVE_EXIT_HOST;
	}
	m->threads = calloc(opt.cpus, sizeof(*m->threads));
	m->has_thread = calloc(opt.cpus, sizeof(*m->has_thread));
	pthread_mutex_init(&m->threads_lock, NULL);
	m->done_fd = eventfd(0, EFD_CLOEXEC);
	if (!m->threads || !m->has_thread || m->done_fd < 0 || bus_init(&m->bus) < 0 ||
	    uart_init(&m->uart, &uart_ops, m) < 0 || fwcfg_init(&m->fw) < 0 ||
	    rstctl_init(&m->rcr, &reset_ops, m) < 0 || port92_init(&m->p92, &reset_ops, m) < 0 ||
	    i8042_init(&m->kbd, &reset_ops, m) < 0 || port80_init(&m->post, NULL, NULL) < 0 ||
	    pmcnt_init(&m->pm, &pm_ops, m) < 0 || i8259_init(&m->pic, &pic_ops, m) < 0 ||
	    i8254_init(&m->pit, &pit_ops, m) < 0 || rtc_init(&m->rtc, &rtc_ops, m) < 0 ||
	    pmtimer_init(&m->pmtmr, &pmtimer_ops, m) < 0) {
		say("cannot set the machine up: out of memory");
		return HYVE_EXIT_HOST;
	}
	debugexit_init(&m->dbg, &dbg_ops, m);
	vm_timer_init(&m->pit_timer, pit_fired, m);
	vm_timer_init(&m->rtc_timer, rtc_fired, m);
	vm_set_pic(m->vm, &vm_pic_ops, m);
	if (opt.trace & TRACE_IO)
		bus_set_trace(&m->bus, tracer_io_event, &m->tracer);
	if (register_devices(m) < 0 || setup_fwcfg(m) < 0)
		return HYVE_EXIT_HOST;

	struct vm_boot_cpu boot;
	const char *kind = "?";
	if (load_guest(m, &boot, &kind) < 0) {
		status = HYVE_EXIT_USAGE;
		goto out_vm;
	}
	if (opt.verbose)
		say("%u vCPU(s), %llu MiB, AP start-up %s, %s; %s kernel, entry 0x%llx; host: %s%s", opt.cpus,
		    (unsigned long long)(opt.memory >> 20),
		    opt.ap_startup == AP_STARTUP_IPI_EXIT ? "ipi-exit" : "spinup-ap",
		    opt.no_x2apic ? "xAPIC only" : "x2APIC offered", kind, (unsigned long long)boot.rip,
		    vm_host_kvm_kind(), vm_host_is_pvm() ? " (hyve completes int3, fwait, clac/stac, popcnt/lzcnt/tzcnt, cmpxchg16b, lsl, ldmxcsr/stmxcsr)" : "");

	if (console_init(&m->con, &m->uart, on_quit, m) < 0) {
		say("cannot set the console up");
		goto out_vm;
	}

	/* smp-spec 3: with IPI exits every configured vCPU is activated up front
	 * (their state and threads still come lazily, on INIT); the legacy
	 * protocol activates only the BSP. */
	uint32_t nactive = opt.ap_startup == AP_STARTUP_IPI_EXIT ? opt.cpus : 1;
	for (uint32_t i = 0; i < nactive; i++)
		vm_activate_cpu(m->vm, i);
	struct vcpu *bsp;
	if ((r = vm_vcpu_get(m->vm, 0, &bsp)) < 0 ||
	    (r = vm_vcpu_setup_boot(bsp, &boot)) < 0) {
		say("cannot set up the boot vCPU: %s", strerror(-r));
		goto out_con;
	}
	if (start_vcpu_thread(m, 0) < 0)
		goto out_con;

	bool timed_out = wait_for_end(m, sfd);
	if (timed_out) {
		say("timeout: the guest ran longer than %g s", opt.timeout);
		vm_suspend(m->vm, VM_SUSPEND_EXIT);
	}
	for (uint32_t i = 0; i < opt.cpus; i++) {
		pthread_mutex_lock(&m->threads_lock);
		bool has = m->has_thread[i];
		pthread_mutex_unlock(&m->threads_lock);
		if (has)
			pthread_join(m->threads[i], NULL);
	}
	status = status_of(m, timed_out);
	if (vm_suspended(m->vm) == VM_SUSPEND_HALT)
		say("every vCPU is halted with interrupts disabled: the guest can never run again");
	if (opt.verbose || timed_out || status == HYVE_EXIT_HALTED)
		report(m, opt.verbose || opt.cpus > 1);
out_con:
	console_fini(&m->con);
out_vm:
	tracer_close(&m->tracer);
	fflush(stdout);
	/* The vCPU threads are joined; the console reader may still block in read(),
	 * so the process ends here rather than tearing every device down. */
	_exit(status);
}
