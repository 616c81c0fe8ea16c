/* test_vioapic.c: I/O APIC registers, edge/level/Remote IRR/EOI/mask/polarity flows, callback locking, fuzz. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "vmm/vioapic.h"

struct msg {
	uint8_t dest, mode, vector;
	bool logical, level;
};

struct rec {
	struct msg m[64];
	unsigned n;
	struct vioapic *io;   /* for the re-entrancy test */
	bool reenter;
};

static void rec_deliver(void *ctx, uint8_t dest, bool logical, uint8_t mode, uint8_t vector,
			bool level)
{
	struct rec *r = ctx;
	if (r->n < 64)
		r->m[r->n] = (struct msg){dest, mode, vector, logical, level};
	r->n++;
	if (r->reenter && r->io) /* would deadlock if called with the lock held */
		(void)vioapic_rte(r->io, 0);
}

static const struct vioapic_ops ops = {.deliver = rec_deliver};

static uint32_t reg_rd(struct vioapic *io, uint8_t reg)
{
	uint64_t v;
	vioapic_mmio_write(io, VIOAPIC_OFF_IOREGSEL, 4, reg);
	vioapic_mmio_read(io, VIOAPIC_OFF_IOWIN, 4, &v);
	return (uint32_t)v;
}

static void reg_wr(struct vioapic *io, uint8_t reg, uint32_t val)
{
	vioapic_mmio_write(io, VIOAPIC_OFF_IOREGSEL, 4, reg);
	vioapic_mmio_write(io, VIOAPIC_OFF_IOWIN, 4, val);
}

/* Programs pin's entry as Linux does: high dword first, then low. */
static void rte_wr(struct vioapic *io, unsigned pin, uint64_t rte)
{
	reg_wr(io, (uint8_t)(VIOAPIC_REG_REDTBL + 2 * pin + 1), (uint32_t)(rte >> 32));
	reg_wr(io, (uint8_t)(VIOAPIC_REG_REDTBL + 2 * pin), (uint32_t)rte);
}

static uint64_t rte_rd(struct vioapic *io, unsigned pin)
{
	return reg_rd(io, (uint8_t)(VIOAPIC_REG_REDTBL + 2 * pin)) |
	       (uint64_t)reg_rd(io, (uint8_t)(VIOAPIC_REG_REDTBL + 2 * pin + 1)) << 32;
}

static void fresh(struct vioapic *io, struct rec *r, uint8_t id)
{
	memset(r, 0, sizeof(*r));
	vioapic_init(io, &ops, r, id);
	r->io = io;
}

#define LEVEL VIOAPIC_RTE_TRIGGER_LEVEL
#define LOW VIOAPIC_RTE_POLARITY_LOW
#define MASKED VIOAPIC_RTE_MASKED
#define RIRR VIOAPIC_RTE_REMOTE_IRR
#define DM(m) ((uint64_t)(m) << VIOAPIC_RTE_DM_SHIFT)
#define DEST(d) ((uint64_t)(d) << VIOAPIC_RTE_DEST_SHIFT)

static void test_registers(void)
{
	struct vioapic io, io2;
	struct rec r, r2;
	uint64_t v;

	fresh(&io, &r, 3);
	fresh(&io2, &r2, 9);
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_ID), 3u << 24, "ID from init");
	CHECK_EQ(reg_rd(&io2, VIOAPIC_REG_ID), 9u << 24, "second instance has its own ID");
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_VER), 0x00170011, "version: 24 entries, 0x11");
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_ARB), 3u << 24, "arbitration ID = APIC ID");
	bool all_masked = true;
	for (unsigned p = 0; p < VIOAPIC_NPINS; p++)
		all_masked &= rte_rd(&io, p) == MASKED;
	CHECK(all_masked, "every entry masked, edge, high, vector 0 at reset");
	CHECK_EQ(reg_rd(&io, 0x03), 0, "register 3 is a hole");
	CHECK_EQ(reg_rd(&io, 0x40), 0, "register 0x40 (past the table) reads 0");
	CHECK_EQ(reg_rd(&io, 0xff), 0, "register 0xff reads 0");

	reg_wr(&io, VIOAPIC_REG_ID, 0xffffffff);
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_ID), 0x0f000000, "ID keeps bits 27:24 only");
	reg_wr(&io, VIOAPIC_REG_ID, 0x05000000);
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_ARB), 0x05000000, "arbitration follows ID");
	reg_wr(&io, VIOAPIC_REG_VER, 0);
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_VER), 0x00170011, "version is read-only");
	CHECK_EQ(reg_rd(&io2, VIOAPIC_REG_ID), 9u << 24, "other instance untouched");

	vioapic_mmio_write(&io, VIOAPIC_OFF_IOREGSEL, 4, 0x12345);
	vioapic_mmio_read(&io, VIOAPIC_OFF_IOREGSEL, 4, &v);
	CHECK_EQ(v, 0x45, "IOREGSEL keeps 8 bits");
	vioapic_mmio_write(&io, VIOAPIC_OFF_IOREGSEL, 1, 0x01);
	vioapic_mmio_read(&io, VIOAPIC_OFF_IOWIN + 2, 1, &v);
	CHECK_EQ(v, 0x17, "byte read of IOWIN at +2: max redirection entry");
	vioapic_mmio_read(&io, VIOAPIC_OFF_IOWIN, 2, &v);
	CHECK_EQ(v, 0x0011, "word read of IOWIN");
	vioapic_mmio_read(&io, VIOAPIC_OFF_IOWIN, 8, &v);
	CHECK_EQ(v, 0x00170011, "8-byte read returns the dword zero-extended");
	vioapic_mmio_read(&io, 0x20, 4, &v);
	CHECK_EQ(v, 0, "offset 0x20 reads 0");
	vioapic_mmio_read(&io, VIOAPIC_OFF_EOI, 4, &v);
	CHECK_EQ(v, 0, "no EOI register in version 0x11");
	CHECK_EQ(vioapic_mmio_read(&io, 0, 3, &v), -EINVAL, "size 3 refused");
	CHECK_EQ(vioapic_mmio_write(&io, 0, 0, 0), -EINVAL, "size 0 refused");
	CHECK_EQ(vioapic_mmio_read(&io, 0, 4, NULL), -EINVAL, "NULL val refused");

	/* entry write: reserved bits dropped, read-only bits kept */
	uint64_t want = 0x31 | DM(VIOAPIC_DM_LOWPRIO) | VIOAPIC_RTE_DESTMODE_LOGICAL | LOW | LEVEL |
			MASKED | DEST(0xa5);
	rte_wr(&io, 5, want | 0x00fffffffffe0000ULL | VIOAPIC_RTE_DELIVS | RIRR);
	CHECK_EQ(rte_rd(&io, 5), want, "entry: reserved, delivery status and remote IRR not writable");
	CHECK_EQ(vioapic_rte(&io, 5), want, "vioapic_rte agrees");
	CHECK_EQ(vioapic_rte(&io, 24), 0, "vioapic_rte bad pin");
	vioapic_mmio_write(&io, VIOAPIC_OFF_IOREGSEL, 4, VIOAPIC_REG_REDTBL + 10);
	vioapic_mmio_write(&io, VIOAPIC_OFF_IOWIN, 1, 0x77);
	CHECK_EQ(rte_rd(&io, 5), want, "byte write to IOWIN dropped");
	vioapic_mmio_write(&io, VIOAPIC_OFF_EOI, 4, 0x31);
	CHECK_EQ(r.n, 0, "nothing delivered by register writes");

	CHECK_EQ(vioapic_set_irq(&io, 24, true), -EINVAL, "pin 24 refused");
	CHECK_EQ(vioapic_pulse_irq(&io, 100), -EINVAL, "pulse on pin 100 refused");

	vioapic_reset(&io);
	CHECK_EQ(rte_rd(&io, 5), MASKED, "reset masks again");
	CHECK_EQ(reg_rd(&io, VIOAPIC_REG_ID), 0x05000000, "reset keeps the ID register");
	vioapic_destroy(&io);
	vioapic_destroy(&io2);
}

static void test_edge(void)
{
	struct vioapic io;
	struct rec r;

	fresh(&io, &r, 0);
	vioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 0, "masked pin: edge lost");
	rte_wr(&io, 4, 0x24 | DEST(1));
	CHECK_EQ(r.n, 0, "unmasking an edge pin delivers nothing (the edge was lost)");
	vioapic_set_irq(&io, 4, false);
	vioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 1, "asserting edge delivers");
	CHECK(r.m[0].vector == 0x24 && r.m[0].dest == 1 && !r.m[0].logical &&
		      r.m[0].mode == VIOAPIC_DM_FIXED && !r.m[0].level,
	      "message fields: vector, physical dest 1, fixed, edge");
	vioapic_set_irq(&io, 4, true);
	CHECK_EQ(r.n, 1, "level held: no new edge");
	CHECK_EQ(rte_rd(&io, 4) & RIRR, 0, "edge never sets remote IRR");
	vioapic_set_irq(&io, 4, false);
	CHECK_EQ(r.n, 1, "falling edge delivers nothing");
	vioapic_pulse_irq(&io, 4);
	CHECK_EQ(r.n, 2, "pulse delivers once");
	vioapic_set_irq(&io, 4, true);
	vioapic_pulse_irq(&io, 4);
	CHECK_EQ(r.n, 3, "pulse while asserted: no edge (only the set_irq edge counted)");

	/* active low edge: the wire idles high */
	rte_wr(&io, 6, 0x26 | LOW);
	vioapic_set_irq(&io, 6, true);
	CHECK_EQ(r.n, 3, "active-low: rising wire is the releasing edge");
	vioapic_set_irq(&io, 6, false);
	CHECK_EQ(r.n, 4, "active-low: falling wire delivers");
	CHECK_EQ(r.m[3].vector, 0x26, "active-low vector");
	vioapic_set_irq(&io, 6, true);
	vioapic_pulse_irq(&io, 6);
	CHECK_EQ(r.n, 5, "logical pulse on active-low pin delivers");

	/* masked at the edge: lost even if unmasked later */
	rte_wr(&io, 7, 0x27 | MASKED);
	vioapic_set_irq(&io, 7, true);
	rte_wr(&io, 7, 0x27);
	CHECK_EQ(r.n, 5, "edge while masked is lost");
	vioapic_destroy(&io);
}

static void test_level(void)
{
	struct vioapic io;
	struct rec r;

	fresh(&io, &r, 0);
	rte_wr(&io, 9, 0x39 | LEVEL | DEST(2));
	CHECK_EQ(r.n, 0, "level pin idle: nothing");
	vioapic_set_irq(&io, 9, true);
	CHECK_EQ(r.n, 1, "level asserted: delivered");
	CHECK(r.m[0].level && r.m[0].vector == 0x39 && r.m[0].dest == 2, "level message");
	CHECK(rte_rd(&io, 9) & RIRR, "remote IRR set on delivery");
	vioapic_set_irq(&io, 9, true);
	CHECK_EQ(r.n, 1, "remote IRR blocks re-delivery");
	vioapic_eoi(&io, 0x38);
	CHECK_EQ(r.n, 1, "EOI of another vector: nothing");
	CHECK(rte_rd(&io, 9) & RIRR, "remote IRR still set");
	vioapic_eoi(&io, 0x39);
	CHECK_EQ(r.n, 2, "EOI with line still asserted: delivered again");
	CHECK(rte_rd(&io, 9) & RIRR, "remote IRR set again");
	vioapic_set_irq(&io, 9, false);
	vioapic_eoi(&io, 0x39);
	CHECK_EQ(r.n, 2, "EOI after deassert: nothing");
	CHECK_EQ(rte_rd(&io, 9) & RIRR, 0, "remote IRR cleared by EOI");

	/* mask while asserted, unmask delivers */
	rte_wr(&io, 9, 0x39 | LEVEL | MASKED);
	vioapic_set_irq(&io, 9, true);
	CHECK_EQ(r.n, 2, "masked level: nothing");
	rte_wr(&io, 9, 0x39 | LEVEL);
	CHECK_EQ(r.n, 3, "unmask of asserted level pin delivers");
	/* switching to edge clears remote IRR (Linux's 0x11 workaround) */
	rte_wr(&io, 9, 0x39 | MASKED);
	CHECK_EQ(rte_rd(&io, 9) & RIRR, 0, "edge mode clears remote IRR");
	rte_wr(&io, 9, 0x39 | LEVEL);
	CHECK_EQ(r.n, 4, "back to level, unmasked, asserted: delivered");
	vioapic_set_irq(&io, 9, false);
	vioapic_eoi(&io, 0x39);

	/* active-low level pin (PCI style): wire idles high */
	rte_wr(&io, 16, 0x50 | LEVEL | LOW | MASKED);
	vioapic_set_irq(&io, 16, true);
	rte_wr(&io, 16, 0x50 | LEVEL | LOW);
	CHECK_EQ(r.n, 4, "active-low level idle high: nothing");
	vioapic_set_irq(&io, 16, false);
	CHECK_EQ(r.n, 5, "active-low level asserted by low wire");
	vioapic_set_irq(&io, 16, true);
	vioapic_eoi(&io, 0x50);
	CHECK_EQ(r.n, 5, "released before EOI: nothing more");

	/* level entry programmed while the wire is low, polarity flips to active-low */
	rte_wr(&io, 17, 0x51 | LEVEL | LOW);
	CHECK_EQ(r.n, 6, "active-low level with wire 0 is asserted at once");

	/* pulse on a level pin */
	rte_wr(&io, 18, 0x52 | LEVEL);
	vioapic_pulse_irq(&io, 18);
	CHECK_EQ(r.n, 7, "pulse on level pin delivers");
	CHECK(rte_rd(&io, 18) & RIRR, "pulse sets remote IRR");
	vioapic_pulse_irq(&io, 18);
	CHECK_EQ(r.n, 7, "second pulse blocked by remote IRR");
	vioapic_eoi(&io, 0x52);
	CHECK_EQ(r.n, 7, "EOI after pulse: line not asserted, nothing");
	vioapic_pulse_irq(&io, 18);
	CHECK_EQ(r.n, 8, "pulse after EOI delivers");

	/* shared vector: one EOI clears both */
	rte_wr(&io, 20, 0x60 | LEVEL);
	rte_wr(&io, 21, 0x60 | LEVEL);
	vioapic_set_irq(&io, 20, true);
	vioapic_set_irq(&io, 21, true);
	CHECK_EQ(r.n, 10, "two level pins delivered");
	vioapic_eoi(&io, 0x60);
	CHECK_EQ(r.n, 12, "EOI re-delivers both still-asserted pins");
	CHECK(r.m[10].vector == 0x60 && r.m[11].vector == 0x60, "both messages have the vector");
	vioapic_destroy(&io);
}

static void test_modes(void)
{
	struct vioapic io;
	struct rec r;

	fresh(&io, &r, 0);
	rte_wr(&io, 1, 0x99 | DM(VIOAPIC_DM_NMI) | LEVEL | DEST(3));
	vioapic_set_irq(&io, 1, true);
	CHECK_EQ(r.n, 1, "NMI delivered");
	CHECK(r.m[0].mode == VIOAPIC_DM_NMI && !r.m[0].level, "NMI is edge even if programmed level");
	CHECK_EQ(rte_rd(&io, 1) & RIRR, 0, "NMI sets no remote IRR");
	vioapic_set_irq(&io, 1, true);
	CHECK_EQ(r.n, 1, "NMI level held: no second delivery");

	rte_wr(&io, 2, DM(VIOAPIC_DM_RESERVED3));
	vioapic_set_irq(&io, 2, true);
	rte_wr(&io, 3, DM(VIOAPIC_DM_RESERVED6));
	vioapic_set_irq(&io, 3, true);
	CHECK_EQ(r.n, 1, "reserved delivery modes never delivered");

	rte_wr(&io, 0, DM(VIOAPIC_DM_EXTINT) | VIOAPIC_RTE_DESTMODE_LOGICAL | DEST(0xff));
	vioapic_set_irq(&io, 0, true);
	CHECK_EQ(r.n, 2, "ExtINT delivered");
	CHECK(r.m[1].mode == VIOAPIC_DM_EXTINT && r.m[1].logical && r.m[1].dest == 0xff,
	      "ExtINT, logical, dest 0xff");
	rte_wr(&io, 10, DM(VIOAPIC_DM_SMI));
	rte_wr(&io, 11, DM(VIOAPIC_DM_INIT));
	vioapic_set_irq(&io, 10, true);
	vioapic_set_irq(&io, 11, true);
	CHECK(r.n == 4 && r.m[2].mode == VIOAPIC_DM_SMI && r.m[3].mode == VIOAPIC_DM_INIT,
	      "SMI and INIT delivered with their modes");

	/* the callback runs without the lock: it may call back in */
	r.reenter = true;
	rte_wr(&io, 12, 0x70 | LEVEL);
	vioapic_set_irq(&io, 12, true);
	vioapic_eoi(&io, 0x70);
	CHECK_EQ(r.n, 6, "re-entrant callback did not deadlock (set_irq and eoi)");
	vioapic_destroy(&io);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_fuzz(void)
{
	struct vioapic io;
	struct rec r;
	uint64_t seed = 12345, v;
	bool ok = true;

	fresh(&io, &r, 1);
	for (int i = 0; i < 200000; i++) {
		uint64_t x = lcg(&seed);
		unsigned sizes[] = {1, 2, 4, 8, 3, 0};
		unsigned size = sizes[x % 6];
		switch ((x >> 3) % 7) {
		case 0:
			vioapic_mmio_write(&io, VIOAPIC_OFF_IOREGSEL, size, lcg(&seed) & 0x7f);
			break;
		case 1:
			vioapic_mmio_write(&io, lcg(&seed) % 0x50, size, lcg(&seed) << 16 ^ lcg(&seed));
			break;
		case 2:
			vioapic_mmio_read(&io, lcg(&seed) % 0x1000, size, &v);
			break;
		case 3:
			vioapic_set_irq(&io, (unsigned)(lcg(&seed) % 26), lcg(&seed) & 1);
			break;
		case 4:
			vioapic_pulse_irq(&io, (unsigned)(lcg(&seed) % 26));
			break;
		case 5:
			vioapic_eoi(&io, (uint8_t)lcg(&seed));
			break;
		default:
			vioapic_mmio_write(&io, VIOAPIC_OFF_IOWIN, 4, lcg(&seed));
			break;
		}
		for (unsigned p = 0; p < VIOAPIC_NPINS; p++) {
			uint64_t rte = vioapic_rte(&io, p);
			if (rte & ~(VIOAPIC_RTE_RW_BITS | RIRR))
				ok = false;
			if ((rte & RIRR) && !(rte & LEVEL))
				ok = false;
		}
	}
	CHECK(ok, "fuzz: reserved bits stay 0, remote IRR only on level entries");
	CHECK(r.n > 0, "fuzz delivered something (%u)", r.n);
	vioapic_destroy(&io);
}

int main(void)
{
	test_registers();
	test_edge();
	test_level();
	test_modes();
	test_fuzz();
	return tap_done();
}
