/* machine.c: assembly of hyve's PC: the devices and their port table, the
 * ISA interrupt wiring, the device timers, and how the machine ends. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "frontend/machine.h"

void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hyve: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void machine_end(struct machine *m, enum vm_suspend_how how)
{
	vm_suspend(m->vm, how);
	uint64_t one = 1;
	if (write(m->done_fd, &one, sizeof(one)) < 0) {
		/* the eventfd cannot overflow with these few writes */
	}
}

void machine_set_exit_status(struct machine *m, uint32_t status)
{
	uint32_t none = UINT32_MAX;
	__atomic_compare_exchange_n(&m->exit_status, &none, status, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* --- device callbacks --- */
static void on_debug_exit(void *ctx, uint32_t value)
{
	struct machine *m = ctx;
	/* QEMU isa-debug-exit: exit((value << 1) | 1); the OS keeps 8 bits. */
	machine_set_exit_status(m, ((value << 1) | 1) & 0xff);
	machine_end(m, VM_SUSPEND_EXIT);
}

static void on_reset(void *ctx, enum sysreset_source src)
{
	(void)src;
	machine_end(ctx, VM_SUSPEND_RESET);
}

void machine_quit(void *ctx)
{
	machine_set_exit_status(ctx, HYVE_EXIT_QUIT);
	machine_end(ctx, VM_SUSPEND_EXIT);
}

/* pvpanic: a panicked guest ends hyve with its own status (it would
 * otherwise sit in its panic loop, or reboot, forever); a crash kernel that
 * takes over is only noted. */
static void on_panic_event(void *ctx, uint8_t events)
{
	struct machine *m = ctx;
	if (events & PVPANIC_PANICKED) {
		say("the guest panicked (pvpanic)");
		machine_set_exit_status(m, HYVE_EXIT_PANIC);
		machine_end(m, VM_SUSPEND_EXIT);
	} else {
		say("the guest loaded a crash kernel (pvpanic)");
	}
}

static void on_poweroff(void *ctx)
{
	machine_end(ctx, VM_SUSPEND_POWEROFF);
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

/* A timer device's glue (the context of its ops): its ISA line and the
 * host timer behind its arm/disarm. */
static void timer_dev_irq(void *ctx, bool level)
{
	struct timer_dev *d = ctx;
	isa_irq(d->m, d->irq, level);
}

static void timer_dev_arm(void *ctx, uint64_t deadline_ns)
{
	struct timer_dev *d = ctx;
	vm_timer_arm(d->m->vm, &d->timer, deadline_ns);
}

static void timer_dev_disarm(void *ctx)
{
	struct timer_dev *d = ctx;
	vm_timer_disarm(d->m->vm, &d->timer);
}

static void pit_fired(void *ctx)
{
	struct machine *m = ctx;
	i8254_timer_fired(&m->pit);
}

static void rtc_fired(void *ctx)
{
	struct machine *m = ctx;
	rtc_timer_fired(&m->rtc);
}

/* QEMU's pc-testdev interrupt lines: byte n of the range sets line n. */
static int testdev_irq_pio(void *o, uint64_t off, unsigned size, bool wr, uint64_t *val)
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

static const struct uart8250_ops uart_ops = {.tx = uart_tx, .irq = uart_irq, .rx_drained = uart_rx_drained};
static const struct i8259_ops pic_ops = {.intr = pic_intr};
static const struct vm_pic_ops vm_pic_ops = {.intack = pic_intack};
static const struct i8254_ops pit_ops = {.now_ns = dev_now_ns, .irq0 = timer_dev_irq, .arm = timer_dev_arm,
					 .disarm = timer_dev_disarm};
static const struct rtc_ops rtc_ops = {.now_ns = dev_now_ns, .wall_s = dev_wall_s, .irq = timer_dev_irq,
				       .arm = timer_dev_arm, .disarm = timer_dev_disarm};
static const struct pmtimer_ops pmtimer_ops = {.now_ns = dev_now_ns};
static const struct debugexit_ops dbg_ops = {.on_exit = on_debug_exit};
static const struct sysreset_ops reset_ops = {.on_reset = on_reset};
static const struct pmcnt_ops pm_ops = {.on_poweroff = on_poweroff};
static const struct pvpanic_ops panic_ops = {.on_event = on_panic_event};

/* The PCI functions on bus 0 (devices/pci.h): the i440FX host bridge and the
 * PIIX3 ISA bridge behind which the ISA devices below sit, as QEMU's `pc`
 * machine shows them (subsystem 1af4:1100, QEMU's). A device is one entry. */
static const struct pci_func_desc pci_funcs[] = {
	{.name = "host-bridge", .slot = 0, .func = 0, .vendor = 0x8086, .device = 0x1237, .revision = 0x02,
	 .class_code = 0x060000, .subsys_vendor = 0x1af4, .subsys = 0x1100},
	{.name = "isa-bridge", .slot = 1, .func = 0, .vendor = 0x8086, .device = 0x7000,
	 .class_code = 0x060100, .subsys_vendor = 0x1af4, .subsys = 0x1100},
};

/* The machine's devices on the bus: pure data, each device's own bus handler
 * and where the device lies inside struct machine (the testdev lines are the
 * machine's own: they drive its ISA IRQ wiring). */
struct device_slot {
	const char *name;
	enum bus_space space;
	uint64_t base, len;
	bus_handler_fn *fn;
	size_t opaque_off; /* offset of the device inside struct machine */
};

#define PIO BUS_PIO,
#define MMIO BUS_MMIO,
static const struct device_slot bus_devices[] = {
	{"uart8250", PIO UART_COM1_BASE, UART_NREGS, uart_pio, offsetof(struct machine, uart)},
	{"fw_cfg", PIO FWCFG_IO_BASE, FWCFG_IO_LEN, fwcfg_pio, offsetof(struct machine, fw)},
	{"isa-debug-exit", PIO DEBUGEXIT_BASE, DEBUGEXIT_LEN, debugexit_pio, offsetof(struct machine, dbg)},
	/* 0xCF8-0xCFF; its byte 0xCF9 is the reset control register (m->rcr) */
	{"pci-conf1", PIO PCI_CONF1_PORT, PCI_CONF1_LEN, pci_conf1_pio, offsetof(struct machine, pci)},
	{"pci-io-window", PIO PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_LIMIT - PCI_IO_WINDOW_BASE, pci_io_window,
	 offsetof(struct machine, pci)},
	{"pci-ecam", MMIO PCI_ECAM_BASE, PCI_ECAM_SIZE, pci_ecam_mmio, offsetof(struct machine, pci)},
	{"pci-mmio-window", MMIO PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE, pci_mmio_window,
	 offsetof(struct machine, pci)},
	{"port92", PIO PORT92_PORT, PORT92_LEN, port92_pio, offsetof(struct machine, p92)},
	{"i8042-data", PIO I8042_DATA_PORT, 1, i8042_pio_data, offsetof(struct machine, kbd)},
	{"i8042-cmd", PIO I8042_CMD_PORT, 1, i8042_pio_cmd, offsetof(struct machine, kbd)},
	{"post", PIO PORT80_PORT, PORT80_LEN, port80_pio, offsetof(struct machine, post)},
	{"pvpanic", PIO PVPANIC_PORT, PVPANIC_LEN, pvpanic_pio, offsetof(struct machine, panic)},
	{"acpi-pm1a-cnt", PIO PMCNT_PORT, PMCNT_LEN, pmcnt_pio, offsetof(struct machine, pm)},
	{"acpi-pm1a-evt", PIO PMEVT_PORT, PMEVT_LEN, pmevt_pio, offsetof(struct machine, pm)},
	{"i8259-master", PIO I8259_PORT_MASTER, 2, i8259_pio_master, offsetof(struct machine, pic)},
	{"i8259-slave", PIO I8259_PORT_SLAVE, 2, i8259_pio_slave, offsetof(struct machine, pic)},
	{"i8259-elcr", PIO I8259_PORT_ELCR, 2, i8259_pio_elcr, offsetof(struct machine, pic)},
	{"i8254", PIO I8254_PORT_BASE, I8254_NREGS, i8254_pio, offsetof(struct machine, pit)},
	{"port61", PIO I8254_PORT61, 1, i8254_pio_port61, offsetof(struct machine, pit)},
	{"rtc", PIO RTC_PORT_INDEX, RTC_NPORTS, rtc_pio, offsetof(struct machine, rtc)},
	{"acpi-pm-timer", PIO PMTIMER_PORT, PMTIMER_LEN, pmtimer_pio, offsetof(struct machine, pmtmr)},
	{"testdev-irq", PIO TESTDEV_IRQ_PORT, TESTDEV_NLINES, testdev_irq_pio, 0},
};
#undef PIO
#undef MMIO

static int register_devices(struct machine *m)
{
	for (size_t i = 0; i < sizeof(bus_devices) / sizeof(bus_devices[0]); i++) {
		const struct device_slot *d = &bus_devices[i];
		void *opaque = (char *)m + d->opaque_off;
		int r = bus_register(&m->bus, d->space, d->base, d->len, d->fn, opaque, d->name);
		if (r < 0) {
			say("cannot register %s at %s 0x%llx: %s", d->name, d->space == BUS_PIO ? "port" : "address",
			    (unsigned long long)d->base, strerror(-r));
			return r;
		}
	}
	return 0;
}


int machine_init(struct machine *m)
{
	m->exit_status = UINT32_MAX;
	m->pit_glue = (struct timer_dev){.m = m, .irq = 0}; /* the PIT is ISA IRQ 0 */
	m->rtc_glue = (struct timer_dev){.m = m, .irq = 8}; /* the RTC is ISA IRQ 8 */
	m->threads = calloc(m->opt->cpus, sizeof(*m->threads));
	m->has_thread = calloc(m->opt->cpus, sizeof(*m->has_thread));
	m->made = calloc(m->opt->cpus, sizeof(*m->made));
	pthread_mutex_init(&m->threads_lock, NULL);
	pthread_cond_init(&m->made_cond, NULL);
	m->done_fd = eventfd(0, EFD_CLOEXEC);
	if (!m->threads || !m->has_thread || !m->made || m->done_fd < 0 || bus_init(&m->bus) < 0 ||
	    uart_init(&m->uart, &uart_ops, m) < 0 || fwcfg_init(&m->fw) < 0 ||
	    rstctl_init(&m->rcr, &reset_ops, m) < 0 || port92_init(&m->p92, &reset_ops, m) < 0 ||
	    i8042_init(&m->kbd, &reset_ops, m) < 0 || port80_init(&m->post, NULL, NULL) < 0 ||
	    pmcnt_init(&m->pm, &pm_ops, m) < 0 || i8259_init(&m->pic, &pic_ops, m) < 0 ||
	    i8254_init(&m->pit, &pit_ops, &m->pit_glue) < 0 || rtc_init(&m->rtc, &rtc_ops, &m->rtc_glue) < 0 ||
	    pmtimer_init(&m->pmtmr, &pmtimer_ops, m) < 0 ||
	    pci_init(&m->pci, pci_funcs, NULL, sizeof(pci_funcs) / sizeof(pci_funcs[0]), rstctl_pio, &m->rcr) < 0) {
		say("cannot set the machine up: out of memory");
		return -1;
	}
	debugexit_init(&m->dbg, &dbg_ops, m);
	pvpanic_init(&m->panic, &panic_ops, m);
	vm_timer_init(&m->pit_glue.timer, pit_fired, m);
	vm_timer_init(&m->rtc_glue.timer, rtc_fired, m);
	vm_set_pic(m->vm, &vm_pic_ops, m);
	if (m->opt->trace & TRACE_IO)
		bus_set_trace(&m->bus, tracer_io_event, &m->tracer);
	return register_devices(m) < 0 ? -1 : 0;
}

void machine_destroy(struct machine *m)
{
	if (!m->threads)
		return; /* machine_init never ran */
	bus_destroy(&m->bus);
	uart_destroy(&m->uart);
	fwcfg_destroy(&m->fw);
	rstctl_destroy(&m->rcr);
	port92_destroy(&m->p92);
	i8042_destroy(&m->kbd);
	port80_destroy(&m->post);
	pmcnt_destroy(&m->pm);
	i8259_destroy(&m->pic);
	i8254_destroy(&m->pit);
	rtc_destroy(&m->rtc);
	pci_destroy(&m->pci);
	if (m->done_fd >= 0)
		close(m->done_fd);
	pthread_mutex_destroy(&m->threads_lock);
	pthread_cond_destroy(&m->made_cond);
	free(m->threads);
	free(m->has_thread);
	free(m->made);
	m->made = NULL;
	m->threads = NULL;
	m->has_thread = NULL;
}
