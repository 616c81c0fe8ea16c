/* test_sysctl.c: debug-exit, reset control, port 0x92, i8042 and port 0x80. */
#include <string.h>

#include "devices/sysctl.h"
#include "tests/unit/tap.h"

struct rec {
	unsigned exits, resets, posts;
	uint32_t exit_value;
	enum sysreset_source src;
	uint8_t post;
};

static void on_exit_cb(void *ctx, uint32_t value)
{
	struct rec *r = ctx;
	r->exits++;
	r->exit_value = value;
}

static void on_reset_cb(void *ctx, enum sysreset_source src)
{
	struct rec *r = ctx;
	r->resets++;
	r->src = src;
}

static void on_post_cb(void *ctx, uint8_t code)
{
	struct rec *r = ctx;
	r->posts++;
	r->post = code;
}

static const struct debugexit_ops dx_ops = {.on_exit = on_exit_cb};
static const struct sysreset_ops rs_ops = {.on_reset = on_reset_cb};
static const struct port80_ops p80_ops = {.on_post = on_post_cb};

struct pv_rec {
	unsigned n;
	uint8_t ev;
};

static void on_pvpanic_cb(void *ctx, uint8_t events)
{
	struct pv_rec *r = ctx;
	r->n++;
	r->ev = events;
}

static const struct pvpanic_ops pv_ops = {.on_event = on_pvpanic_cb};

static void on_poweroff_cb(void *ctx)
{
	(*(int *)ctx)++;
}

static void test_pmcnt(void)
{
	static const struct pmcnt_ops ops = {.on_poweroff = on_poweroff_cb};
	int offs = 0;
	struct pmcnt p;
	CHECK_EQ(pmcnt_init(&p, &ops, &offs), 0, "pmcnt_init");
	CHECK_EQ(pmcnt_read(&p, 0, 2), PMCNT_SCI_EN, "PM1a_CNT reads SCI_EN (ACPI mode) after init");
	pmcnt_write(&p, 0, 2, 0x0000);
	CHECK_EQ(pmcnt_read(&p, 0, 2), PMCNT_SCI_EN, "SCI_EN cannot be cleared");
	CHECK_EQ(pmevt_read(&p, 0, 4), 0, "PM1 event block reads 0");
	pmevt_write(&p, 2, 2, 0x0121);
	CHECK_EQ(pmevt_read(&p, 2, 2), 0x0121, "PM1_EN reads back");
	CHECK_EQ(pmevt_read(&p, 0, 2), 0, "PM1_STS stays 0");
	pmevt_write(&p, 0, 4, 0xffffffff);
	CHECK_EQ(pmevt_read(&p, 0, 4), 0xffff0000, "a 4-byte write sets PM1_EN, PM1_STS stays 0");
	CHECK_EQ(pmevt_read(&p, 3, 2), 0xffff, "a read across the end reads all ones");
	CHECK_EQ(offs, 0, "no power-off without SLP_EN");
	pmcnt_write(&p, 0, 2, (uint16_t)(PMCNT_SLP_EN | (5u << PMCNT_SLP_TYP_SHIFT)));
	CHECK_EQ(offs, 0, "SLP_EN with sleep type 5 (unsupported) is ignored");
	CHECK_EQ(pmcnt_read(&p, 0, 2) & PMCNT_SLP_EN, 0, "SLP_EN is write-only");
	pmcnt_write(&p, 0, 2, 0x2000);
	CHECK_EQ(offs, 1, "outw(0x604, 0x2000) powers off, as on QEMU");
	pmcnt_write(&p, 0, 1, 0x00);
	pmcnt_write(&p, 1, 1, 0x20);
	CHECK_EQ(offs, 2, "byte writes assemble SLP_EN | SLP_TYP 0");
	pmcnt_write(&p, 2, 2, 0x2000);
	CHECK_EQ(offs, 2, "writes outside the register are ignored");
	CHECK_EQ(pmcnt_read(&p, 1, 2), 0xffff, "a read across the end reads all ones");
	pmcnt_destroy(&p);
}

int main(void)
{
	struct rec r;

	/* ---- debug-exit ---- */
	memset(&r, 0, sizeof(r));
	struct debugexit dx;
	debugexit_init(&dx, &dx_ops, &r);
	CHECK_EQ(debugexit_read(&dx, 0, 1), 0, "debug-exit reads 0 (QEMU)");
	CHECK_EQ(debugexit_read(&dx, 2, 4), 0, "debug-exit reads 0 at any offset/size");
	CHECK_EQ(r.exits, 0, "reads do not exit");
	debugexit_write(&dx, DEBUGEXIT_OFF_EXIT, 1, 0x31);
	CHECK(r.exits == 1 && r.exit_value == 0x31, "byte write exits with its value");
	CHECK_EQ((r.exit_value << 1) | 1, 0x63, "frontend status (V << 1) | 1");
	debugexit_write(&dx, 3, 2, 0xabcd1234);
	CHECK(r.exits == 2 && r.exit_value == 0x1234, "word write truncated to 16 bits, any offset");
	debugexit_write(&dx, 0, 4, 0xdeadbeef);
	CHECK(r.exits == 3 && r.exit_value == 0xdeadbeef, "dword write");
	debugexit_write(&dx, 0, 8, 1);
	CHECK_EQ(r.exits, 3, "8-byte write ignored");
	struct debugexit dx0;
	debugexit_init(&dx0, NULL, NULL);
	debugexit_write(&dx0, 0, 1, 1);
	CHECK(1, "debug-exit without callbacks does nothing");

	/* ---- reset control 0xcf9 ---- */
	memset(&r, 0, sizeof(r));
	struct rstctl rc;
	CHECK_EQ(rstctl_init(&rc, &rs_ops, &r), 0, "rstctl_init");
	CHECK_EQ(rstctl_read(&rc, RCR_OFF), 0, "RCR reads 0 at reset");
	rstctl_write(&rc, RCR_OFF, 0xff & ~RCR_RST_CPU);
	CHECK_EQ(r.resets, 0, "write without RST_CPU does not reset");
	CHECK_EQ(rstctl_read(&rc, RCR_OFF), RCR_SYS_RST, "only SYS_RST is kept");
	rstctl_write(&rc, RCR_OFF, 0);
	rstctl_write(&rc, RCR_OFF, RCR_SYS_RST | RCR_RST_CPU); /* Linux: outb(0x06, 0xcf9) */
	CHECK(r.resets == 1 && r.src == SYSRESET_RCR, "RST_CPU requests reset");
	CHECK_EQ(rstctl_read(&rc, RCR_OFF), 0, "reset write leaves the register unchanged");
	CHECK_EQ(rstctl_read(&rc, 1), 0xff, "bad offset reads 0xff");
	rstctl_write(&rc, 1, RCR_RST_CPU);
	CHECK_EQ(r.resets, 1, "bad offset write ignored");
	rstctl_destroy(&rc);

	/* ---- port 0x92 ---- */
	memset(&r, 0, sizeof(r));
	struct port92 p92;
	CHECK_EQ(port92_init(&p92, &rs_ops, &r), 0, "port92_init");
	CHECK_EQ(port92_read(&p92, PORT92_OFF), 0, "port 0x92 reads 0 at power-on");
	port92_write(&p92, PORT92_OFF, PORT92_A20);
	CHECK_EQ(port92_read(&p92, PORT92_OFF), PORT92_A20, "A20 bit reads back");
	CHECK_EQ(r.resets, 0, "A20 does not reset");
	port92_write(&p92, PORT92_OFF, PORT92_A20 | PORT92_FAST_RESET);
	CHECK(r.resets == 1 && r.src == SYSRESET_PORT92, "bit 0 rising: fast reset");
	port92_write(&p92, PORT92_OFF, PORT92_A20 | PORT92_FAST_RESET);
	CHECK_EQ(r.resets, 1, "bit 0 held: no second reset");
	port92_reset(&p92);
	CHECK_EQ(port92_read(&p92, PORT92_OFF), PORT92_A20, "machine reset clears bit 0, keeps A20");
	port92_write(&p92, PORT92_OFF, PORT92_FAST_RESET);
	CHECK_EQ(r.resets, 2, "bit 0 rising again after reset");
	CHECK_EQ(port92_read(&p92, 3), 0xff, "bad offset reads 0xff");
	port92_destroy(&p92);

	/* ---- i8042 ---- */
	memset(&r, 0, sizeof(r));
	struct i8042 kbc;
	CHECK_EQ(i8042_init(&kbc, &rs_ops, &r), 0, "i8042_init");
	uint8_t st = i8042_read(&kbc, I8042_OFF_CMD);
	CHECK_EQ(st & (I8042_STR_OBF | I8042_STR_IBF), 0, "status: both buffers empty");
	CHECK_EQ(st, 0x1c, "status after init (QEMU 0x18 + self-test flag)");
	CHECK_EQ(i8042_read(&kbc, I8042_OFF_DATA), 0, "data port reads 0");
	i8042_write(&kbc, I8042_OFF_CMD, 0xad); /* disable keyboard: ignored */
	i8042_write(&kbc, I8042_OFF_CMD, 0xaa); /* self-test: ignored */
	CHECK_EQ(r.resets, 0, "other commands ignored");
	i8042_write(&kbc, I8042_OFF_DATA, 0xff);
	CHECK_EQ(i8042_read(&kbc, I8042_OFF_CMD), 0x14, "status bit 3 clear after a data write");
	CHECK_EQ(i8042_read(&kbc, I8042_OFF_CMD) & (I8042_STR_OBF | I8042_STR_IBF), 0,
		 "still empty after data");
	i8042_write(&kbc, I8042_OFF_CMD, I8042_CMD_RESET);
	CHECK(r.resets == 1 && r.src == SYSRESET_I8042, "command 0xfe resets (Linux reboot=k)");
	i8042_write(&kbc, I8042_OFF_CMD, 0xf0);
	CHECK_EQ(r.resets, 2, "0xf0 pulses bit 0 too");
	i8042_write(&kbc, I8042_OFF_CMD, 0xff);
	CHECK_EQ(r.resets, 2, "0xff pulses nothing");
	i8042_write(&kbc, I8042_OFF_CMD, I8042_CMD_WRITE_OUTPORT);
	i8042_write(&kbc, I8042_OFF_DATA, I8042_OUT_RESET | I8042_OUT_A20);
	CHECK_EQ(r.resets, 2, "output port with bit 0 set: no reset (A20 gate enable)");
	i8042_write(&kbc, I8042_OFF_CMD, I8042_CMD_WRITE_OUTPORT);
	i8042_write(&kbc, I8042_OFF_DATA, I8042_OUT_A20);
	CHECK_EQ(r.resets, 3, "output port with bit 0 clear: reset");
	i8042_write(&kbc, I8042_OFF_DATA, 0x00);
	CHECK_EQ(r.resets, 3, "a data byte without 0xd1 does not touch the output port");
	i8042_write(&kbc, I8042_OFF_CMD, I8042_CMD_WRITE_CTR);
	i8042_write(&kbc, I8042_OFF_DATA, 0x00);
	CHECK_EQ(r.resets, 3, "CTR data byte swallowed");
	CHECK_EQ(i8042_read(&kbc, 1), 0xff, "bad offset reads 0xff");
	i8042_write(&kbc, 2, I8042_CMD_RESET);
	CHECK_EQ(r.resets, 3, "bad offset write ignored");
	i8042_destroy(&kbc);

	/* ---- port 0x80 ---- */
	memset(&r, 0, sizeof(r));
	struct port80 p80;
	uint8_t code = 0;
	CHECK_EQ(port80_init(&p80, &p80_ops, &r), 0, "port80_init");
	CHECK(!port80_last(&p80, &code), "no POST code yet");
	CHECK_EQ(port80_read(&p80, PORT80_OFF), 0xff, "port 0x80 reads all ones (QEMU)");
	port80_write(&p80, PORT80_OFF, 0x42);
	CHECK(r.posts == 1 && r.post == 0x42, "write reported to on_post");
	CHECK(port80_last(&p80, &code) && code == 0x42, "last code kept");
	CHECK_EQ(port80_read(&p80, PORT80_OFF), 0xff, "still reads all ones after a write");
	port80_destroy(&p80);
	struct port80 p80b;
	CHECK_EQ(port80_init(&p80b, NULL, NULL), 0, "port 0x80 without hook");
	port80_write(&p80b, PORT80_OFF, 7);
	CHECK(port80_last(&p80b, &code) && code == 7, "hookless port 0x80 keeps the code");
	port80_destroy(&p80b);

	/* ---- the port handlers (bus_handler_fn) ---- */
	uint64_t v;
	memset(&r, 0, sizeof(r));
	CHECK_EQ(port92_init(&p92, &rs_ops, &r), 0, "port92_init again");
	v = 0x1200 | PORT92_A20;
	CHECK_EQ(port92_pio(&p92, 0, 2, true, &v), 0, "port92_pio write");
	v = 0;
	port92_pio(&p92, 0, 1, false, &v);
	CHECK_EQ(v, PORT92_A20, "port92_pio: the low byte of a word write counts");
	port92_destroy(&p92);
	CHECK_EQ(i8042_init(&kbc, &rs_ops, &r), 0, "i8042_init again");
	v = 0;
	i8042_pio_cmd(&kbc, 0, 1, false, &v);
	CHECK_EQ(v, 0x1c, "i8042_pio_cmd reads the status");
	v = I8042_CMD_RESET;
	i8042_pio_cmd(&kbc, 0, 1, true, &v);
	CHECK(r.resets == 1 && r.src == SYSRESET_I8042, "i8042_pio_cmd writes commands");
	v = 0x55;
	i8042_pio_data(&kbc, 0, 1, false, &v);
	CHECK_EQ(v, 0, "i8042_pio_data reads the data port");
	i8042_destroy(&kbc);
	CHECK_EQ(rstctl_init(&rc, &rs_ops, &r), 0, "rstctl_init again");
	v = RCR_SYS_RST | RCR_RST_CPU;
	rstctl_pio(&rc, 0, 1, true, &v);
	CHECK(r.resets == 2 && r.src == SYSRESET_RCR, "rstctl_pio resets");
	rstctl_destroy(&rc);
	CHECK_EQ(port80_init(&p80, &p80_ops, &r), 0, "port80_init again");
	v = 0x99;
	port80_pio(&p80, 0, 1, true, &v);
	CHECK(r.post == 0x99, "port80_pio writes the POST code");
	port80_pio(&p80, 0, 1, false, &v);
	CHECK_EQ(v, 0xff, "port80_pio reads all ones");
	port80_destroy(&p80);
	v = 0x2a;
	debugexit_pio(&dx, 0, 1, true, &v);
	CHECK(r.exits == 1 && r.exit_value == 0x2a, "debugexit_pio exits with the value");

	/* ---- pvpanic ---- */
	struct pvpanic pp;
	struct pv_rec pr = {0};
	pvpanic_init(&pp, &pv_ops, &pr);
	CHECK_EQ(pvpanic_read(&pp, 0), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED, "pvpanic reads its events");
	CHECK_EQ(pvpanic_read(&pp, 1), 0xff, "pvpanic: other offsets read all ones");
	v = 0;
	pvpanic_pio(&pp, 0, 1, true, &v);
	CHECK_EQ(pr.n, 0, "pvpanic: writing 0 reports nothing");
	v = 0xfc;
	pvpanic_pio(&pp, 0, 1, true, &v);
	CHECK_EQ(pr.n, 0, "pvpanic: unknown bits are ignored");
	v = 0x101;
	pvpanic_pio(&pp, 0, 2, true, &v);
	CHECK(pr.n == 1 && pr.ev == PVPANIC_PANICKED, "pvpanic: bit 0 reports a panic (low byte of a word)");
	v = PVPANIC_CRASH_LOADED;
	pvpanic_pio(&pp, 0, 1, true, &v);
	CHECK(pr.n == 2 && pr.ev == PVPANIC_CRASH_LOADED, "pvpanic: bit 1 reports a crash kernel");
	pvpanic_init(&pp, NULL, NULL);
	pvpanic_write(&pp, 0, 1);
	CHECK(1, "pvpanic without callbacks does nothing");

	test_pmcnt();
	return tap_done();
}
