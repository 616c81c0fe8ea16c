/* test_pci.c: configuration mechanism #1, ECAM, header write masks, BAR sizing and decoding, table checks. */
#include <errno.h>
#include <string.h>

#include "devices/pci.h"
#include "tests/unit/tap.h"

/* A device with BARs, to check the decode: records its last access. */
struct fake {
	uint64_t off, val;
	unsigned size, n;
	bool wr;
};

static int fake_bar(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	struct fake *f = opaque;
	f->off = off;
	f->size = size;
	f->wr = wr;
	f->n++;
	if (wr)
		f->val = *val;
	else
		*val = 0x5a5a5a5a;
	return 0;
}

static int rcr_calls, rcr_last;
static int fake_rcr(void *opaque, uint64_t off, unsigned size, bool wr, uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	rcr_calls++;
	if (wr)
		rcr_last = (int)*val;
	else
		*val = 0x02;
	return 0;
}

static const struct pci_func_desc table[] = {
	{.name = "host", .slot = 0, .vendor = 0x8086, .device = 0x1237, .revision = 2, .class_code = 0x060000,
	 .subsys_vendor = 0x1af4, .subsys = 0x1100},
	{.name = "isa", .slot = 1, .vendor = 0x8086, .device = 0x7000, .class_code = 0x060100},
	{.name = "dev",
	 .slot = 3,
	 .header_type = 0x80,
	 .vendor = 0x1af4,
	 .device = 0x1000,
	 .class_code = 0x020000,
	 .int_pin = 1,
	 .bar = {{.size = 0x20, .flags = PCI_BAR_IO, .handler = fake_bar},
		 {.size = 0x1000, .handler = fake_bar},
		 {.size = 0x4000, .flags = PCI_BAR_MEM64 | PCI_BAR_PREFETCH, .handler = fake_bar}}},
	{.name = "dev.1", .slot = 3, .func = 1, .vendor = 0x1af4, .device = 0x1001, .class_code = 0x018000},
};

static uint32_t conf1(struct pci_host *h, unsigned slot, unsigned func, unsigned reg, unsigned size, bool wr,
		      uint32_t v)
{
	uint64_t a = 0x80000000u | slot << 11 | func << 8 | (reg & 0xfc), val = v;
	pci_conf1_pio(h, 0, 4, true, &a);
	pci_conf1_pio(h, 4 + (reg & 3), size, wr, &val);
	return (uint32_t)val;
}

static uint32_t ecam(struct pci_host *h, unsigned bus, unsigned slot, unsigned func, unsigned reg, unsigned size,
		     bool wr, uint32_t v)
{
	uint64_t val = v;
	pci_ecam_mmio(h, (uint64_t)bus << 20 | slot << 15 | func << 12 | reg, size, wr, &val);
	return (uint32_t)val;
}

static void table_checks(void)
{
	struct pci_host h;
	struct pci_func_desc bad[2] = {table[0], table[0]};
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "two functions at one slot/function refused");
	bad[1] = table[3];
	bad[1].slot = 0; /* function 1 of slot 0, whose function 0 is single-function */
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "function 1 behind a single-function 0 refused");
	bad[1] = table[2];
	bad[1].bar[1].size = 0x1800;
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "a BAR size not a power of two refused");
	bad[1] = table[2];
	bad[1].bar[0].size = 0x200;
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "an I/O BAR over 256 bytes refused");
	bad[1] = table[2];
	bad[1].bar[5] = (struct pci_bar_desc){.size = 0x1000, .flags = PCI_BAR_MEM64, .handler = fake_bar};
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "a 64-bit BAR in the last slot refused");
	bad[1] = table[2];
	bad[1].bar[1].handler = NULL;
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "a BAR without handler refused");
	bad[1] = table[2];
	bad[1].int_pin = 5;
	CHECK_EQ(pci_init(&h, bad, NULL, 2, NULL, NULL), -EINVAL, "interrupt pin 5 refused");
	CHECK_EQ(pci_init(&h, table, NULL, PCI_MAX_FUNCS + 1, NULL, NULL), -EINVAL, "too many functions refused");
}

int main(void)
{
	struct pci_host h;
	struct fake fk = {0};
	void *opaque[4] = {NULL, NULL, &fk, NULL};
	table_checks();
	CHECK_EQ(pci_init(&h, table, opaque, 4, fake_rcr, NULL), 0, "init");

	/* Mechanism #1 (PCI 3.2.2.3.2). */
	uint64_t v = 0x80001234u | 3;
	pci_conf1_pio(&h, 0, 4, true, &v);
	v = 0;
	pci_conf1_pio(&h, 0, 4, false, &v);
	CHECK_EQ(v, 0x80001234u, "CONFIG_ADDRESS reads back, bits 1:0 as 0");
	v = 0;
	pci_conf1_pio(&h, 0, 4, true, &v); /* enable off */
	v = 0;
	pci_conf1_pio(&h, 4, 4, false, &v);
	CHECK_EQ(v, 0xffffffffu, "CONFIG_DATA with the enable bit clear reads all ones");
	CHECK_EQ(conf1(&h, 0, 0, 0, 4, false, 0), 0x12378086u, "host bridge vendor/device");
	CHECK_EQ(conf1(&h, 0, 0, 2, 2, false, 0), 0x1237, "device ID as a word at 0xCFE");
	CHECK_EQ(conf1(&h, 0, 0, 8, 4, false, 0), 0x06000002u, "class 06/00/00, revision 2");
	CHECK_EQ(conf1(&h, 0, 0, 0x2c, 4, false, 0), 0x11001af4u, "subsystem IDs");
	CHECK_EQ(conf1(&h, 1, 0, 0x0a, 2, false, 0), 0x0601, "ISA bridge class 06/01");
	CHECK_EQ(conf1(&h, 1, 0, 0x0e, 1, false, 0), 0x00, "ISA bridge: single-function header");
	CHECK_EQ(conf1(&h, 2, 0, 0, 4, false, 0), 0xffffffffu, "absent slot: master abort, all ones");
	CHECK_EQ(conf1(&h, 1, 1, 0, 2, false, 0), 0xffff, "absent function: all ones");
	CHECK_EQ(conf1(&h, 3, 1, 0, 4, false, 0), 0x10011af4u, "function 1 behind a multi-function 0");
	v = 0x80010000u; /* bus 1 */
	pci_conf1_pio(&h, 0, 4, true, &v);
	v = 0;
	pci_conf1_pio(&h, 4, 4, false, &v);
	CHECK_EQ(v, 0xffffffffu, "bus 1 does not exist");

	/* Writable bits only (PCI 6.1, 6.2). */
	conf1(&h, 0, 0, 0, 4, true, 0);
	CHECK_EQ(conf1(&h, 0, 0, 0, 4, false, 0), 0x12378086u, "vendor/device are read-only");
	conf1(&h, 0, 0, 4, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 0, 0, 4, 4, false, 0), 0x00000547u, "command: only IO, MEM, MASTER, PARITY, SERR, INTx-off; status 0");
	conf1(&h, 3, 0, 0x3c, 2, true, 0xffff);
	CHECK_EQ(conf1(&h, 3, 0, 0x3c, 2, false, 0), 0x01ff, "interrupt line writable, pin INTA read-only");
	conf1(&h, 0, 0, 0x40, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 0, 0, 0x40, 4, false, 0), 0, "device-specific space of a function without any: 0");

	/* BAR sizing (PCI 6.2.5.1): all ones, read the mask. */
	conf1(&h, 3, 0, 0x10, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 3, 0, 0x10, 4, false, 0), 0xffffffe1u, "32-byte I/O BAR sizes to ~0x1f | IO");
	conf1(&h, 3, 0, 0x14, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 3, 0, 0x14, 4, false, 0), 0xfffff000u, "4 KiB memory BAR sizes to ~0xfff");
	conf1(&h, 3, 0, 0x18, 4, true, 0xffffffffu);
	conf1(&h, 3, 0, 0x1c, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 3, 0, 0x18, 4, false, 0), 0xffffc00cu, "64-bit prefetchable BAR low half");
	CHECK_EQ(conf1(&h, 3, 0, 0x1c, 4, false, 0), 0xffffffffu, "64-bit BAR high half");
	CHECK_EQ(conf1(&h, 3, 0, 0x20, 4, false, 0), 0, "unused BAR slot reads 0");
	conf1(&h, 3, 0, 0x20, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 3, 0, 0x20, 4, false, 0), 0, "unused BAR slot ignores writes");
	conf1(&h, 0, 0, 0x30, 4, true, 0xffffffffu);
	CHECK_EQ(conf1(&h, 0, 0, 0x30, 4, false, 0), 0, "no expansion ROM");

	/* Decoding: the BAR answers only where the guest put it, with decode on. */
	conf1(&h, 3, 0, 0x10, 4, true, 0xc040);
	conf1(&h, 3, 0, 0x14, 4, true, 0xc0001000u);
	conf1(&h, 3, 0, 0x18, 4, true, 0xc0010000u);
	conf1(&h, 3, 0, 0x1c, 4, true, 0);
	v = 0;
	CHECK_EQ(pci_bar_base(&h, 2, 1), 0, "memory BAR not decoded while Command.MEM is 0");
	pci_mmio_window(&h, 0x1004, 4, false, &v);
	CHECK(v == 0xffffffffu && fk.n == 0, "memory BAR off: the window reads all ones");
	conf1(&h, 3, 0, 4, 2, true, PCI_COMMAND_MEMORY);
	CHECK_EQ(pci_bar_base(&h, 2, 1), 0xc0001000u, "memory BAR decoded at its base");
	CHECK_EQ(pci_bar_base(&h, 2, 2), 0xc0010000u, "64-bit BAR decoded at its base");
	CHECK_EQ(pci_bar_base(&h, 2, 0), 0, "I/O BAR still off (Command.IO 0)");
	v = 0;
	pci_mmio_window(&h, 0x1004, 4, false, &v);
	CHECK(v == 0x5a5a5a5a && fk.n == 1 && fk.off == 4 && fk.size == 4 && !fk.wr, "read inside the BAR reaches it at offset 4");
	v = 0x77;
	pci_mmio_window(&h, 0x13ffe, 2, true, &v);
	CHECK(fk.n == 2 && fk.off == 0x3ffe && fk.wr && fk.val == 0x77, "write at the end of the 64-bit BAR");
	v = 0;
	pci_mmio_window(&h, 0x1ffe, 4, false, &v);
	CHECK(fk.n == 2 && v == 0xffffffffu, "an access straddling the BAR's end is not the device's");
	v = 0;
	pci_io_window(&h, 0xc040 - PCI_IO_WINDOW_BASE, 1, false, &v);
	CHECK(fk.n == 2 && v == 0xff, "I/O BAR off: all ones");
	conf1(&h, 3, 0, 4, 2, true, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	pci_io_window(&h, 0xc05f - PCI_IO_WINDOW_BASE, 1, false, &v);
	CHECK(fk.n == 3 && fk.off == 0x1f && fk.size == 1, "I/O BAR on: its last port");

	/* ECAM (PCIe 7.2.2): the same space, 4 KiB a function. */
	CHECK_EQ(ecam(&h, 0, 0, 0, 0, 4, false, 0), 0x12378086u, "ECAM: host bridge IDs");
	CHECK_EQ(ecam(&h, 0, 3, 0, 0x14, 4, false, 0), 0xc0001000u, "ECAM sees the BAR mechanism #1 wrote");
	ecam(&h, 0, 3, 0, 0x3c, 1, true, 0x0b);
	CHECK_EQ(conf1(&h, 3, 0, 0x3c, 1, false, 0), 0x0b, "mechanism #1 sees the ECAM write");
	CHECK_EQ(ecam(&h, 0, 0, 0, 0x100, 4, false, 0), 0xffffffffu, "no PCIe extended space: all ones");
	CHECK_EQ(ecam(&h, 0, 7, 0, 0, 4, false, 0), 0xffffffffu, "ECAM: absent slot all ones");
	v = 0;
	pci_ecam_mmio(&h, 0xffe, 4, false, &v);
	CHECK_EQ(v, 0xffffffffu, "ECAM: an access crossing into the next function reads all ones");
	v = 0;
	pci_ecam_mmio(&h, 0, 8, false, &v);
	CHECK_EQ(v, UINT64_MAX, "ECAM: 64-bit access reads all ones");

	/* 0xCF9 is the reset control register; other narrow 0xCF8 accesses decode nothing. */
	v = 0x06;
	pci_conf1_pio(&h, PCI_RCR_OFF, 1, true, &v);
	CHECK(rcr_calls == 1 && rcr_last == 6, "byte write to 0xCF9 reaches the reset control register");
	v = 0;
	pci_conf1_pio(&h, PCI_RCR_OFF, 1, false, &v);
	CHECK(rcr_calls == 2 && v == 0x02, "byte read of 0xCF9 too");
	v = 0;
	pci_conf1_pio(&h, 0, 2, false, &v);
	CHECK_EQ(v, 0xffff, "16-bit read of 0xCF8 is not CONFIG_ADDRESS");
	v = 0x80000000u; /* Linux's pci_check_type1: write, read back */
	pci_conf1_pio(&h, 0, 4, true, &v);
	v = 0;
	pci_conf1_pio(&h, 0, 4, false, &v);
	CHECK_EQ(v, 0x80000000u, "Linux's type 1 probe reads back 0x80000000");
	CHECK_EQ(PCI_INTX_GSI(0, 1), 16, "slot 0 INTA -> GSI 16");
	CHECK_EQ(PCI_INTX_GSI(3, 2), 16, "slot 3 INTB -> GSI 16 (swizzle wraps)");
	CHECK_EQ(PCI_INTX_GSI(1, 4), 16, "slot 1 INTD -> GSI 16");
	CHECK_EQ(PCI_INTX_GSI(2, 1), 18, "slot 2 INTA -> GSI 18");
	pci_destroy(&h);
	return tap_done();
}
