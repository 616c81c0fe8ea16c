/* fuzz_devices.c: every port device of hyve's PC through its own bus
 * handler (devices/: 16550A UART, 8259 pair, 8254 PIT with port 0x61,
 * MC146818 RTC, ACPI PM timer and PM1a, fw_cfg, debug-exit, 0xcf9, 0x92,
 * i8042, 0x80, pvpanic, the PCI host bridge's mechanism #1, ECAM and BAR
 * windows with a function that has I/O, 32- and 64-bit memory BARs), at any
 * offset and access size, interleaved with
 * what the machine does to them: interrupt lines, INTA cycles, timer
 * expiries with a fake clock, console input. Nothing may crash or hang. */
#include <stdbool.h>

#include "devices/bus.h"
#include "devices/fwcfg.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/pci.h"
#include "devices/pmtimer.h"
#include "devices/rtc.h"
#include "devices/sysctl.h"
#include "devices/uart8250.h"
#include "fuzz/fuzz.h"

struct pc {
	uint64_t now;
	uint64_t pit_deadline, rtc_deadline;
	struct uart8250 uart;
	struct i8259 pic;
	struct i8254 pit;
	struct rtc rtc;
	struct pmtimer pmt;
	struct fwcfg fw;
	struct debugexit dbg;
	struct rstctl rcr;
	struct port92 p92;
	struct i8042 kbd;
	struct port80 post;
	struct pmcnt pm;
	struct pvpanic panic;
	struct pci_host pci;
	uint64_t bar_accesses;
};

static uint64_t now_ns(void *ctx) { return ((struct pc *)ctx)->now; }
static int64_t wall_s(void *ctx) { (void)ctx; return 1709214356; }
static void pit_irq0(void *ctx, bool level) { i8259_set_irq(&((struct pc *)ctx)->pic, 0, level); }
static void rtc_irq(void *ctx, bool level) { i8259_set_irq(&((struct pc *)ctx)->pic, 8, level); }
static void uart_irq(void *ctx, bool level) { i8259_set_irq(&((struct pc *)ctx)->pic, 4, level); }
static void pit_arm(void *ctx, uint64_t d) { ((struct pc *)ctx)->pit_deadline = d; }
static void pit_disarm(void *ctx) { ((struct pc *)ctx)->pit_deadline = 0; }
static void rtc_arm(void *ctx, uint64_t d) { ((struct pc *)ctx)->rtc_deadline = d; }
static void rtc_disarm(void *ctx) { ((struct pc *)ctx)->rtc_deadline = 0; }
static void tx(void *ctx, uint8_t b) { (void)ctx; (void)b; }
static void intr(void *ctx, bool level) { (void)ctx; (void)level; }
static void on_exit_(void *ctx, uint32_t v) { (void)ctx; (void)v; }
static void on_reset(void *ctx, enum sysreset_source s) { (void)ctx; (void)s; }
static void on_off(void *ctx) { (void)ctx; }
static void on_panic(void *ctx, uint8_t ev) { (void)ctx; (void)ev; }

static const struct i8254_ops pit_ops = {.now_ns = now_ns, .irq0 = pit_irq0, .arm = pit_arm, .disarm = pit_disarm};
static const struct rtc_ops rtc_ops = {.now_ns = now_ns, .wall_s = wall_s, .irq = rtc_irq, .arm = rtc_arm,
				       .disarm = rtc_disarm};
static const struct uart8250_ops uart_ops = {.tx = tx, .irq = uart_irq};
static const struct i8259_ops pic_ops = {.intr = intr};
static const struct pmtimer_ops pmt_ops = {.now_ns = now_ns};
static const struct debugexit_ops dbg_ops = {.on_exit = on_exit_};
static const struct sysreset_ops rs_ops = {.on_reset = on_reset};
static const struct pmcnt_ops pm_ops = {.on_poweroff = on_off};
static const struct pvpanic_ops pv_ops = {.on_event = on_panic};

/* A PCI function with one BAR of each kind, so BAR sizing and decoding are fuzzed too. */
static int bar_fn(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct pc *pc = opaque;
	pc->bar_accesses++;
	if (off + size > 0x4000)
		__builtin_trap(); /* the decode handed out an access outside the BAR */
	if (!wr)
		*val = off;
	return 0;
}

static const struct pci_func_desc pci_funcs[] = {
	{.name = "host", .slot = 0, .vendor = 0x8086, .device = 0x1237, .class_code = 0x060000},
	{.name = "isa", .slot = 1, .vendor = 0x8086, .device = 0x7000, .class_code = 0x060100},
	{.name = "dev", .slot = 2, .header_type = 0x80, .vendor = 0x1af4, .device = 0x1000, .int_pin = 1,
	 .bar = {{.size = 0x40, .flags = PCI_BAR_IO, .handler = bar_fn},
		 {.size = 0x4000, .handler = bar_fn},
		 {.size = 0x1000, .flags = PCI_BAR_MEM64 | PCI_BAR_PREFETCH, .handler = bar_fn}}},
	{.name = "dev.1", .slot = 2, .func = 1, .vendor = 0x1af4, .device = 0x1001},
};

struct port {
	bus_handler_fn *fn;
	size_t off; /* device inside struct pc */
	unsigned len;
};

static const struct port ports[] = {
	{uart_pio, offsetof(struct pc, uart), UART_NREGS},
	{i8259_pio_master, offsetof(struct pc, pic), 2},
	{i8259_pio_slave, offsetof(struct pc, pic), 2},
	{i8259_pio_elcr, offsetof(struct pc, pic), 2},
	{i8254_pio, offsetof(struct pc, pit), I8254_NREGS},
	{i8254_pio_port61, offsetof(struct pc, pit), 1},
	{rtc_pio, offsetof(struct pc, rtc), RTC_NPORTS},
	{pmtimer_pio, offsetof(struct pc, pmt), PMTIMER_LEN},
	{fwcfg_pio, offsetof(struct pc, fw), FWCFG_IO_LEN},
	{debugexit_pio, offsetof(struct pc, dbg), DEBUGEXIT_LEN},
	{rstctl_pio, offsetof(struct pc, rcr), RCR_LEN},
	{port92_pio, offsetof(struct pc, p92), PORT92_LEN},
	{i8042_pio_data, offsetof(struct pc, kbd), 1},
	{i8042_pio_cmd, offsetof(struct pc, kbd), 1},
	{port80_pio, offsetof(struct pc, post), PORT80_LEN},
	{pmcnt_pio, offsetof(struct pc, pm), PMCNT_LEN},
	{pmevt_pio, offsetof(struct pc, pm), PMEVT_LEN},
	{pvpanic_pio, offsetof(struct pc, panic), PVPANIC_LEN},
	{pci_conf1_pio, offsetof(struct pc, pci), PCI_CONF1_LEN},
	{pci_io_window, offsetof(struct pc, pci), PCI_IO_WINDOW_LIMIT - PCI_IO_WINDOW_BASE},
	{pci_ecam_mmio, offsetof(struct pc, pci), PCI_ECAM_SIZE},
	{pci_mmio_window, offsetof(struct pc, pci), PCI_MMIO_WINDOW_SIZE},
};
#define NPORTS (sizeof(ports) / sizeof(ports[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pc pc; /* large (fw_cfg, FIFOs): static, reinitialised each run */
	struct fz f = {data, size};
	memset(&pc, 0, sizeof(pc));
	pc.now = 1000000;
	if (uart_init(&pc.uart, &uart_ops, &pc) || i8259_init(&pc.pic, &pic_ops, &pc) ||
	    i8254_init(&pc.pit, &pit_ops, &pc) || rtc_init(&pc.rtc, &rtc_ops, &pc) ||
	    pmtimer_init(&pc.pmt, &pmt_ops, &pc) || fwcfg_init(&pc.fw) || rstctl_init(&pc.rcr, &rs_ops, &pc) ||
	    port92_init(&pc.p92, &rs_ops, &pc) || i8042_init(&pc.kbd, &rs_ops, &pc) ||
	    port80_init(&pc.post, NULL, NULL) || pmcnt_init(&pc.pm, &pm_ops, &pc))
		return 0;
	void *const pci_opaque[4] = {NULL, NULL, &pc, NULL};
	if (pci_init(&pc.pci, pci_funcs, pci_opaque, 4, rstctl_pio, &pc.rcr))
		__builtin_trap();
	debugexit_init(&pc.dbg, &dbg_ops, &pc);
	pvpanic_init(&pc.panic, &pv_ops, &pc);
	static const uint8_t e820[40] = {0};
	fwcfg_add_u32(&pc.fw, 0x05, 4);
	fwcfg_add_file(&pc.fw, "etc/e820", e820, sizeof(e820));
	for (unsigned steps = 0; fz_more(&f) && steps < 8192; steps++) {
		unsigned op = fz_u8(&f);
		if (op < 200) {
			const struct port *p = &ports[op % NPORTS];
			uint8_t how = fz_u8(&f); /* bits 1:0 size, bit 2 write: independent of the port */
			unsigned sz = 1u << (how % 3);
			uint64_t off = fz_u8(&f);
			if (p->len > 256) /* the PCI windows: a 32-bit offset */
				off = (uint64_t)fz_u8(&f) << 24 | (uint64_t)fz_u8(&f) << 16 | fz_u8(&f) << 8 | off;
			off %= p->len;
			if (p->len > 0x10000 && (how & 8))
				sz = 8; /* MMIO ranges take 8-byte accesses too */
			if (off + sz > p->len)
				sz = 1; /* the bus keeps accesses inside the range */
			uint64_t v = fz_u32(&f);
			bool wr = how & 4;
			if (!wr)
				v = 0;
			p->fn((char *)&pc + p->off, off, sz, wr, &v);
			continue;
		}
		switch (op % 6) {
		case 0: { unsigned irq = fz_u8(&f) % 16; i8259_set_irq(&pc.pic, irq, fz_u8(&f) & 1); break; }
		case 1: (void)i8259_intack(&pc.pic); break;
		case 2:
			pc.now += fz_u32(&f);
			if (pc.pit_deadline && pc.pit_deadline <= pc.now)
				i8254_timer_fired(&pc.pit);
			if (pc.rtc_deadline && pc.rtc_deadline <= pc.now)
				rtc_timer_fired(&pc.rtc);
			break;
		case 3: { uint8_t b[8]; unsigned k = fz_u8(&f) % 8; for (unsigned i = 0; i < k; i++) b[i] = fz_u8(&f); uart_rx_push(&pc.uart, b, k); break; }
		case 4: rtc_reset(&pc.rtc); break;
		default: port92_reset(&pc.p92); break;
		}
	}
	uart_destroy(&pc.uart);
	i8259_destroy(&pc.pic);
	i8254_destroy(&pc.pit);
	rtc_destroy(&pc.rtc);
	fwcfg_destroy(&pc.fw);
	rstctl_destroy(&pc.rcr);
	port92_destroy(&pc.p92);
	i8042_destroy(&pc.kbd);
	port80_destroy(&pc.post);
	pmcnt_destroy(&pc.pm);
	pci_destroy(&pc.pci);
	return 0;
}
