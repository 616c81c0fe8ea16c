/* test_i8259.c: 8259A pair: init sequence, masks, EOI kinds, priorities, cascade, ELCR, intack, spurious, poll, fuzz. */
#include <errno.h>
#include <string.h>

#include "devices/i8259.h"
#include "tests/unit/tap.h"

struct rec {
	bool level;
	unsigned calls, rises;
	struct i8259 *pic;
};

static void rec_intr(void *ctx, bool level)
{
	struct rec *r = ctx;
	r->calls++;
	if (level && !r->level)
		r->rises++;
	r->level = level;
}

static const struct i8259_ops ops = {.intr = rec_intr};

#define MCMD I8259_REG_MASTER_CMD
#define MDATA I8259_REG_MASTER_DATA
#define SCMD I8259_REG_SLAVE_CMD
#define SDATA I8259_REG_SLAVE_DATA

/* Linux's init_8259A(): vectors 0x30/0x38, cascade on IR2, 8086 mode. */
static void linux_init(struct i8259 *p, uint8_t icw4)
{
	i8259_write(p, MDATA, 0xff);
	i8259_write(p, SDATA, 0xff);
	i8259_write(p, MCMD, 0x11);
	i8259_write(p, MDATA, 0x30);
	i8259_write(p, MDATA, 1u << 2);
	i8259_write(p, MDATA, icw4);
	i8259_write(p, SCMD, 0x11);
	i8259_write(p, SDATA, 0x38);
	i8259_write(p, SDATA, 2);
	i8259_write(p, SDATA, 0x01);
}

static void fresh(struct i8259 *p, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	i8259_init(p, &ops, r);
	r->pic = p;
}

static uint8_t read_irr(struct i8259 *p, unsigned cmd)
{
	i8259_write(p, cmd, I8259_OCW3 | I8259_OCW3_RR);
	return i8259_read(p, cmd);
}

static uint8_t read_isr(struct i8259 *p, unsigned cmd)
{
	i8259_write(p, cmd, I8259_OCW3 | I8259_OCW3_RR | I8259_OCW3_RIS);
	return i8259_read(p, cmd);
}

static void test_defaults_and_init(void)
{
	struct i8259 p, p2;
	struct rec r, r2;

	fresh(&p, &r);
	fresh(&p2, &r2);
	CHECK_EQ(i8259_read(&p, MDATA), 0xff, "master IMR masked at reset");
	CHECK_EQ(i8259_read(&p, SDATA), 0xff, "slave IMR masked at reset");
	CHECK_EQ(i8259_read(&p, MCMD), 0, "IRR 0 at reset");
	CHECK_EQ(i8259_read(&p, I8259_REG_ELCR_MASTER), 0, "ELCR1 0");
	CHECK_EQ(i8259_read(&p, I8259_REG_ELCR_SLAVE), 0, "ELCR2 0");
	CHECK_EQ(i8259_read(&p, I8259_NREGS), 0xff, "bad reg reads 0xff");
	i8259_write(&p, 77, 0x00);
	CHECK_EQ(r.calls, 0, "no callback at init");
	CHECK_EQ(i8259_intack(&p), 0x0f, "intack with nothing: spurious IRQ7 of BIOS base 0x08");
	CHECK_EQ(i8259_set_irq(&p, 2, true), -EINVAL, "IRQ2 is the internal cascade");
	CHECK_EQ(i8259_set_irq(&p, 16, true), -EINVAL, "IRQ16 refused");

	/* Linux probe_8259A */
	i8259_write(&p, SDATA, 0xff);
	i8259_write(&p, MDATA, 0xa5);
	CHECK_EQ(i8259_read(&p, MDATA), 0xa5, "probe: IMR reads back");
	CHECK_EQ(i8259_read(&p2, MDATA), 0xff, "second instance untouched");

	/* before initialisation the BIOS bases apply */
	i8259_write(&p, MDATA, 0xfe);
	i8259_set_irq(&p, 0, true);
	CHECK(r.level, "uninitialised PIC still signals");
	CHECK_EQ(i8259_intack(&p), 0x08, "BIOS base 0x08");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 0, false);

	linux_init(&p, 0x01);
	CHECK_EQ(i8259_read(&p, MDATA), 0x00, "ICW1 clears IMR");
	CHECK_EQ(read_isr(&p, MCMD), 0, "ICW1 clears ISR");
	CHECK_EQ(i8259_intack(&p), 0x37, "spurious IRQ7 = base 0x30 + 7");
	i8259_write(&p, MDATA, 0xfb);
	i8259_write(&p, SDATA, 0xff);
	CHECK_EQ(i8259_read(&p, MDATA), 0xfb, "OCW1 master");
	CHECK_EQ(i8259_read(&p, SDATA), 0xff, "OCW1 slave");

	/* during the ICW sequence the chip signals nothing */
	i8259_write(&p, MDATA, 0xfe);
	i8259_set_irq(&p, 0, true);
	CHECK(r.level, "IRQ0 signalled");
	i8259_write(&p, MCMD, 0x11);
	CHECK(!r.level, "ICW1 drops INT (edge latch reset)");
	i8259_write(&p, MDATA, 0x20);
	i8259_write(&p, MDATA, 0x04);
	i8259_write(&p, MDATA, 0x01);
	CHECK(!r.level, "edge input high across ICW1 needs a new edge");
	i8259_set_irq(&p, 0, false);
	i8259_set_irq(&p, 0, true);
	CHECK(r.level, "new edge after init signals");
	CHECK_EQ(i8259_intack(&p), 0x20, "new vector base 0x20");

	/* ICW1 without IC4: no ICW4 expected, the next data write is OCW1 */
	i8259_write(&p, MCMD, 0x10);
	i8259_write(&p, MDATA, 0x40);
	i8259_write(&p, MDATA, 0x04);
	i8259_write(&p, MDATA, 0x5a);
	CHECK_EQ(i8259_read(&p, MDATA), 0x5a, "without IC4 the 3rd byte is OCW1");
	i8259_reset(&p);
	CHECK_EQ(i8259_read(&p, MDATA), 0xff, "reset masks again");
	i8259_destroy(&p);
	i8259_destroy(&p2);
}

static void test_edge_eoi_priority(void)
{
	struct i8259 p;
	struct rec r;

	fresh(&p, &r);
	linux_init(&p, 0x01);
	i8259_write(&p, MDATA, 0x00);
	i8259_write(&p, SDATA, 0xff);

	i8259_set_irq(&p, 0, true);
	CHECK(r.level && r.rises == 1, "IRQ0 raises INT");
	CHECK(i8259_intr_pending(&p), "intr_pending agrees");
	CHECK_EQ(read_irr(&p, MCMD), 0x01, "IRR0 set");
	CHECK_EQ(i8259_intack(&p), 0x30, "intack IRQ0 -> 0x30");
	CHECK(!r.level, "INT low after acknowledge");
	CHECK_EQ(read_irr(&p, MCMD), 0x00, "edge IRR cleared by INTA");
	CHECK_EQ(read_isr(&p, MCMD), 0x01, "ISR0 set");
	i8259_set_irq(&p, 0, false);
	i8259_set_irq(&p, 0, true);
	CHECK(!r.level, "IRQ0 again while in service: blocked");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	CHECK(r.level, "after EOI the pending IRQ0 signals");
	CHECK_EQ(i8259_intack(&p), 0x30, "second IRQ0");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 0, false);

	/* priorities: IRQ1 before IRQ3; IRQ0 nests over IRQ1 */
	i8259_set_irq(&p, 3, true);
	i8259_set_irq(&p, 1, true);
	CHECK_EQ(i8259_intack(&p), 0x31, "IRQ1 outranks IRQ3");
	CHECK(!r.level, "IRQ3 blocked by IRQ1 in service");
	i8259_set_irq(&p, 0, true);
	CHECK(r.level, "IRQ0 nests over IRQ1");
	CHECK_EQ(i8259_intack(&p), 0x30, "nested IRQ0");
	CHECK_EQ(read_isr(&p, MCMD), 0x03, "ISR0 and ISR1");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	CHECK_EQ(read_isr(&p, MCMD), 0x02, "non-specific EOI clears the highest (IRQ0)");
	CHECK(!r.level, "IRQ3 still blocked");
	i8259_write(&p, MCMD, I8259_OCW2_SEOI | 1);
	CHECK_EQ(read_isr(&p, MCMD), 0x00, "specific EOI of IRQ1");
	CHECK(r.level, "IRQ3 now signals");
	CHECK_EQ(i8259_intack(&p), 0x33, "IRQ3");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 0, false);
	i8259_set_irq(&p, 1, false);
	i8259_set_irq(&p, 3, false);

	/* masking */
	i8259_write(&p, MDATA, 0x10);
	i8259_set_irq(&p, 4, true);
	CHECK(!r.level, "masked IRQ4 does not signal");
	CHECK_EQ(read_irr(&p, MCMD), 0x10, "but IRR4 is latched");
	i8259_write(&p, MDATA, 0x00);
	CHECK(r.level, "unmasking signals the latched IRQ4");
	CHECK_EQ(i8259_intack(&p), 0x34, "IRQ4");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 4, false);

	/* set priority: IRQ3 lowest -> IRQ4 highest */
	i8259_write(&p, MCMD, I8259_OCW2_SET_PRIO | 3);
	i8259_set_irq(&p, 1, true);
	i8259_set_irq(&p, 5, true);
	CHECK_EQ(i8259_intack(&p), 0x35, "after set-priority(3) IRQ5 outranks IRQ1");
	i8259_write(&p, MCMD, I8259_OCW2_ROT_NSEOI);
	/* rotate on EOI made IRQ5 lowest: IRQ6 highest, IRQ1 next pending */
	CHECK_EQ(i8259_intack(&p), 0x31, "then IRQ1");
	i8259_write(&p, MCMD, I8259_OCW2_ROT_SEOI | 1);
	i8259_set_irq(&p, 1, false);
	i8259_set_irq(&p, 5, false);
	i8259_set_irq(&p, 0, true);
	i8259_set_irq(&p, 2 + 1, true); /* IRQ3 */
	CHECK_EQ(i8259_intack(&p), 0x33, "rotate specific EOI(1): IRQ2.. highest, IRQ3 before IRQ0");
	i8259_write(&p, MCMD, I8259_OCW2_SEOI | 3);
	CHECK_EQ(i8259_intack(&p), 0x30, "then IRQ0");
	i8259_write(&p, MCMD, I8259_OCW2_SEOI | 0);
	i8259_write(&p, MCMD, I8259_OCW2_NOP);
	i8259_destroy(&p);
}

static void test_cascade_level_spurious(void)
{
	struct i8259 p;
	struct rec r;

	fresh(&p, &r);
	linux_init(&p, 0x01);
	i8259_write(&p, MDATA, 0xfb); /* only the cascade */
	i8259_write(&p, SDATA, 0x00);

	i8259_set_irq(&p, 10, true);
	CHECK(r.level, "IRQ10 cascades to INT");
	CHECK_EQ(read_irr(&p, MCMD), 0x04, "master IRR2 from the slave");
	CHECK_EQ(i8259_intack(&p), 0x3a, "IRQ10 -> slave base 0x38 + 2");
	CHECK_EQ(read_isr(&p, MCMD), 0x04, "master ISR2");
	CHECK_EQ(read_isr(&p, SCMD), 0x04, "slave ISR2");
	CHECK(!r.level, "INT low while IRQ10 in service");
	i8259_set_irq(&p, 8, true);
	CHECK(!r.level, "IRQ8 blocked by master ISR2 (no SFNM)");
	i8259_write(&p, SCMD, I8259_OCW2_SEOI | 2);
	i8259_write(&p, MCMD, I8259_OCW2_SEOI | 2);
	CHECK(r.level, "after both EOIs IRQ8 signals");
	CHECK_EQ(i8259_intack(&p), 0x38, "IRQ8");
	i8259_write(&p, SCMD, I8259_OCW2_NSEOI);
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 8, false);
	i8259_set_irq(&p, 10, false);

	/* ELCR masks and level-triggered IRQ9 */
	i8259_write(&p, I8259_REG_ELCR_MASTER, 0xff);
	i8259_write(&p, I8259_REG_ELCR_SLAVE, 0xff);
	CHECK_EQ(i8259_read(&p, I8259_REG_ELCR_MASTER), 0xf8, "ELCR1: IRQ0-2 always edge");
	CHECK_EQ(i8259_read(&p, I8259_REG_ELCR_SLAVE), 0xde, "ELCR2: IRQ8 and IRQ13 always edge");
	i8259_write(&p, I8259_REG_ELCR_SLAVE, 0x02);
	i8259_set_irq(&p, 9, true);
	CHECK_EQ(i8259_intack(&p), 0x39, "level IRQ9");
	CHECK_EQ(read_irr(&p, SCMD), 0x02, "level IRR stays after INTA");
	i8259_write(&p, SCMD, I8259_OCW2_NSEOI);
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	CHECK(r.level, "still high after EOI: signals again");
	i8259_set_irq(&p, 9, false);
	CHECK(!r.level, "line low: request withdrawn");
	CHECK_EQ(read_irr(&p, SCMD), 0x00, "level IRR follows the line");

	/* spurious: request withdrawn between INT and INTA */
	i8259_set_irq(&p, 9, true);
	i8259_set_irq(&p, 9, false);
	CHECK_EQ(i8259_intack(&p), 0x37, "spurious IRQ7 when the request went away");
	CHECK_EQ(read_isr(&p, MCMD), 0x00, "spurious sets no ISR");

	/* level on the master too */
	i8259_write(&p, I8259_REG_ELCR_MASTER, 0x20);
	i8259_write(&p, MDATA, 0xdb);
	i8259_set_irq(&p, 5, true);
	i8259_set_irq(&p, 5, false);
	CHECK(!r.level, "level IRQ5 pulse leaves nothing");
	i8259_set_irq(&p, 5, true);
	CHECK_EQ(i8259_intack(&p), 0x35, "level IRQ5");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 5, false);
	i8259_destroy(&p);
}

static void test_modes(void)
{
	struct i8259 p;
	struct rec r;

	/* AEOI */
	fresh(&p, &r);
	linux_init(&p, I8259_ICW4_UPM | I8259_ICW4_AEOI);
	i8259_write(&p, MDATA, 0x00);
	i8259_set_irq(&p, 1, true);
	CHECK_EQ(i8259_intack(&p), 0x31, "AEOI intack");
	CHECK_EQ(read_isr(&p, MCMD), 0x00, "AEOI sets no ISR");
	i8259_set_irq(&p, 3, true);
	CHECK(r.level, "next IRQ signals at once in AEOI");
	CHECK_EQ(i8259_intack(&p), 0x33, "IRQ3");
	/* rotate in AEOI: acknowledged level becomes lowest */
	i8259_write(&p, MCMD, I8259_OCW2_ROT_AEOI_SET);
	i8259_set_irq(&p, 1, false);
	i8259_set_irq(&p, 3, false);
	i8259_set_irq(&p, 1, true);
	CHECK_EQ(i8259_intack(&p), 0x31, "IRQ1 acked, becomes lowest");
	i8259_set_irq(&p, 6, true);
	i8259_set_irq(&p, 1, false);
	i8259_set_irq(&p, 1, true);
	CHECK_EQ(i8259_intack(&p), 0x36, "IRQ6 outranks IRQ1 after rotation");
	i8259_write(&p, MCMD, I8259_OCW2_ROT_AEOI_CLR);
	i8259_destroy(&p);

	/* AEOI slave: a second slave request is not lost */
	fresh(&p, &r);
	linux_init(&p, 0x01);
	i8259_write(&p, SCMD, 0x11);
	i8259_write(&p, SDATA, 0x38);
	i8259_write(&p, SDATA, 2);
	i8259_write(&p, SDATA, I8259_ICW4_UPM | I8259_ICW4_AEOI);
	i8259_write(&p, MCMD, 0x11);
	i8259_write(&p, MDATA, 0x30);
	i8259_write(&p, MDATA, 4);
	i8259_write(&p, MDATA, I8259_ICW4_UPM | I8259_ICW4_AEOI);
	i8259_set_irq(&p, 11, true);
	i8259_set_irq(&p, 12, true);
	CHECK_EQ(i8259_intack(&p), 0x3b, "IRQ11 first");
	CHECK(r.level, "IRQ12 still pending through the cascade");
	CHECK_EQ(i8259_intack(&p), 0x3c, "IRQ12 next");
	i8259_destroy(&p);

	/* poll */
	fresh(&p, &r);
	linux_init(&p, 0x01);
	i8259_write(&p, MDATA, 0x00);
	i8259_write(&p, MCMD, I8259_OCW3 | I8259_OCW3_P);
	CHECK_EQ(i8259_read(&p, MDATA), 0x00, "poll with nothing pending: 0");
	CHECK_EQ(i8259_read(&p, MDATA), 0x00, "poll consumed: next read is IMR (0)");
	i8259_set_irq(&p, 6, true);
	i8259_write(&p, MCMD, I8259_OCW3 | I8259_OCW3_P);
	CHECK_EQ(i8259_read(&p, MCMD), 0x86, "poll returns 0x80 | 6");
	CHECK_EQ(read_isr(&p, MCMD), 0x40, "poll acknowledged IRQ6");
	CHECK(!r.level, "INT dropped");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	i8259_set_irq(&p, 6, false);

	/* special mask mode */
	i8259_set_irq(&p, 3, true);
	CHECK_EQ(i8259_intack(&p), 0x33, "IRQ3 in service");
	i8259_set_irq(&p, 5, true);
	CHECK(!r.level, "IRQ5 blocked by IRQ3 in fully nested mode");
	i8259_write(&p, MDATA, 0x08);
	CHECK(!r.level, "masking IRQ3 alone does not unblock");
	i8259_write(&p, MCMD, I8259_OCW3 | I8259_OCW3_ESMM | I8259_OCW3_SMM);
	CHECK(r.level, "special mask mode: IRQ5 may interrupt IRQ3's handler");
	CHECK_EQ(i8259_intack(&p), 0x35, "IRQ5");
	CHECK_EQ(read_isr(&p, MCMD), 0x28, "ISR3 and ISR5");
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	CHECK_EQ(read_isr(&p, MCMD), 0x08, "SMM non-specific EOI skips masked IRQ3, clears IRQ5");
	i8259_write(&p, MCMD, I8259_OCW3 | I8259_OCW3_ESMM);
	i8259_write(&p, MDATA, 0x00);
	i8259_write(&p, MCMD, I8259_OCW2_NSEOI);
	CHECK_EQ(read_isr(&p, MCMD), 0x00, "EOI of IRQ3 after SMM off");
	i8259_destroy(&p);

	/* special fully nested mode */
	fresh(&p, &r);
	linux_init(&p, I8259_ICW4_UPM | I8259_ICW4_SFNM);
	i8259_write(&p, MDATA, 0x00);
	i8259_write(&p, SDATA, 0x00);
	i8259_set_irq(&p, 12, true);
	CHECK_EQ(i8259_intack(&p), 0x3c, "IRQ12 in service");
	i8259_set_irq(&p, 9, true);
	CHECK(r.level, "SFNM: higher slave request IRQ9 nests");
	CHECK_EQ(i8259_intack(&p), 0x39, "IRQ9");
	i8259_destroy(&p);
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_fuzz(void)
{
	struct i8259 p;
	struct rec r;
	uint64_t seed = 7;
	bool consistent = true;

	fresh(&p, &r);
	for (int i = 0; i < 300000; i++) {
		uint64_t x = lcg(&seed);
		switch (x % 5) {
		case 0:
			i8259_write(&p, (unsigned)(lcg(&seed) % 8), (uint8_t)lcg(&seed));
			break;
		case 1:
			(void)i8259_read(&p, (unsigned)(lcg(&seed) % 8));
			break;
		case 2:
		case 3:
			i8259_set_irq(&p, (unsigned)(lcg(&seed) % 17), lcg(&seed) & 1);
			break;
		default:
			(void)i8259_intack(&p);
			break;
		}
		if (r.level != i8259_intr_pending(&p))
			consistent = false;
	}
	CHECK(consistent, "fuzz: reported INT level always matches the model");
	CHECK(r.calls > 0, "fuzz: INT changed %u times", r.calls);
	i8259_destroy(&p);
}

/* The port handlers: each range reaches its own registers; the low byte of
 * a wider access counts. */
static void test_pio(void)
{
	struct i8259 p;
	struct rec r;
	fresh(&p, &r);
	uint64_t v = 0x1234a5;
	CHECK_EQ(i8259_pio_slave(&p, 1, 1, true, &v), 0, "slave data write");
	CHECK_EQ(i8259_read(&p, SDATA), 0xa5, "slave IMR written through offset 1 of 0xa0");
	CHECK_EQ(i8259_read(&p, MDATA), 0xff, "master IMR keeps its power-on value");
	v = 0x5a;
	i8259_pio_master(&p, 1, 2, true, &v);
	v = 0;
	i8259_pio_master(&p, 1, 1, false, &v);
	CHECK_EQ(v, 0x5a, "master IMR read back through offset 1 of 0x20");
	v = 0xff;
	i8259_pio_elcr(&p, 1, 1, true, &v);
	CHECK_EQ(i8259_read(&p, I8259_REG_ELCR_SLAVE), 0xde, "ELCR slave through offset 1 of 0x4d0 (IRQ 8 and 13 stay edge)");
	v = 0;
	CHECK_EQ(i8259_pio_elcr(&p, 1, 1, false, &v), 0, "ELCR read");
	CHECK_EQ(v, 0xde, "ELCR slave read back");
	i8259_destroy(&p);
}

int main(void)
{
	test_pio();
	test_defaults_and_init();
	test_edge_eoi_priority();
	test_cascade_level_spurious();
	test_modes();
	test_fuzz();
	return tap_done();
}
