/* test_acpi.c: the ACPI tables parsed back as an OS finds them (RSDP scan -> XSDT/RSDT -> FADT/FACS/DSDT, MADT). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "loaders/acpi.h"
#include "tests/unit/tap.h"

#define MIB (1ULL << 20)
#define FILL 0xAA

struct fx {
	uint8_t *host;
	uint64_t ram;
	struct guest_mem m;
	struct acpi_result r;
	char err[256];
};

static void fx_init(struct fx *f, uint64_t ram)
{
	memset(f, 0, sizeof(*f));
	f->host = malloc(ram);
	if (!f->host)
		abort();
	memset(f->host, FILL, ram);
	f->ram = ram;
	gmem_layout(&f->m, f->host, ram);
}

static void fx_fini(struct fx *f)
{
	free(f->host);
}

static const uint8_t *gp(const struct fx *f, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gmem_ptr(&f->m, gpa, len);
	if (!p)
		abort();
	return p;
}

static uint32_t get16(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint32_t get32(const uint8_t *b)
{
	return get16(b) | get16(b + 2) << 16;
}

static uint64_t get64(const uint8_t *b)
{
	return get32(b) | (uint64_t)get32(b + 4) << 32;
}

static uint8_t sum(const uint8_t *b, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + b[i]);
	return s;
}

static bool all_bytes(const struct fx *f, uint64_t gpa, uint64_t len, uint8_t v)
{
	const uint8_t *p = gp(f, gpa, len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* What Linux does (drivers/acpi/acpica/tbxfroot.c acpi_find_root_pointer):
 * scan 0xE0000-0xFFFFF on 16-byte boundaries for "RSD PTR " whose first
 * 20 bytes sum to 0. */
static uint64_t scan_rsdp(const struct fx *f)
{
	for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
		const uint8_t *p = gp(f, a, 36);
		if (memcmp(p, "RSD PTR ", 8) == 0 && sum(p, 20) == 0)
			return a;
	}
	return 0;
}

/* A System Description Table at gpa: signature, length >= 36, checksum
 * (ACPI 5.2.6). Returns its length, 0 if it is not a valid sig table. */
static uint32_t table(const struct fx *f, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gp(f, gpa, 36);
	uint32_t len = get32(h + 4);
	if (memcmp(h, sig, 4) != 0 || len < 36 || gpa + len > 0x100000)
		return 0;
	return sum(gp(f, gpa, len), len) == 0 ? len : 0;
}

struct parsed {
	uint64_t rsdp, xsdt, rsdt, fadt, madt, mcfg, facs, dsdt;
};

/* RSDP -> XSDT (and RSDT) -> FADT, MADT -> FACS, DSDT. */
static bool parse_root(const struct fx *f, struct parsed *p, const char *what)
{
	bool ok = true;
	memset(p, 0, sizeof(*p));
	p->rsdp = scan_rsdp(f);
	ok &= CHECK(p->rsdp == f->r.rsdp && p->rsdp == 0xF0000, "%s: RSDP found by the scan at 0xF0000",
		    what);
	if (!p->rsdp)
		return false;
	const uint8_t *r = gp(f, p->rsdp, 36);
	CHECK_EQ(sum(r, 36), 0, "%s: RSDP extended checksum", what);
	CHECK_EQ(r[15], 2, "%s: RSDP revision 2", what);
	CHECK(memcmp(r + 9, "HYVE  ", 6) == 0, "%s: RSDP OEMID", what);
	CHECK_EQ(get32(r + 20), 36, "%s: RSDP length 36", what);
	CHECK(r[33] == 0 && r[34] == 0 && r[35] == 0, "%s: RSDP reserved bytes 0", what);
	p->rsdt = get32(r + 16);
	p->xsdt = get64(r + 24);
	CHECK(p->rsdt == f->r.rsdt && p->xsdt == f->r.xsdt, "%s: RSDT/XSDT addresses as reported",
	      what);

	uint32_t xl = table(f, p->xsdt, "XSDT");
	ok &= CHECK(xl == 36 + 24, "%s: XSDT valid, 3 entries", what);
	uint32_t rl = table(f, p->rsdt, "RSDT");
	ok &= CHECK(rl == 36 + 12, "%s: RSDT valid, 3 entries", what);
	if (!ok)
		return false;
	const uint8_t *x = gp(f, p->xsdt, xl), *rs = gp(f, p->rsdt, rl);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t a = get64(x + 36 + 8 * i);
		CHECK_EQ(get32(rs + 36 + 4 * i), a, "%s: RSDT[%u] = XSDT[%u]", what, i, i);
		const uint8_t *h = gp(f, a, 4);
		if (memcmp(h, "FACP", 4) == 0)
			p->fadt = a;
		else if (memcmp(h, "APIC", 4) == 0)
			p->madt = a;
		else if (memcmp(h, "MCFG", 4) == 0)
			p->mcfg = a;
	}
	ok &= CHECK(p->fadt && p->madt && p->mcfg, "%s: XSDT lists the FADT, the MADT and the MCFG", what);
	CHECK(p->fadt == f->r.fadt && p->madt == f->r.madt && p->mcfg == f->r.mcfg,
	      "%s: FADT/MADT/MCFG addresses as reported", what);
	/* MCFG (PCI Firmware 3.2 4.1.2): one allocation, ECAM of segment 0, bus 0. */
	uint32_t ml = p->mcfg ? table(f, p->mcfg, "MCFG") : 0;
	ok &= CHECK(ml == 60, "%s: MCFG valid, 60 bytes", what);
	if (ml == 60) {
		const uint8_t *m = gp(f, p->mcfg, ml);
		CHECK(m[8] == 1 && get64(m + 36) == 0 && get64(m + 44) == PCI_ECAM_BASE && get16(m + 52) == 0 &&
			      m[54] == 0 && m[55] == PCI_ECAM_BUSES - 1 && get32(m + 56) == 0,
		      "%s: MCFG revision 1: ECAM at 0x%llx, segment 0, buses 0-%u", what,
		      (unsigned long long)PCI_ECAM_BASE, PCI_ECAM_BUSES - 1);
	}
	return ok;
}

/* The first occurrence of needle in hay, or NULL. */
static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

/* AML PkgLength (ACPI 20.2.4): its value; *skip = the bytes it takes. */
static uint32_t aml_pkglen(const uint8_t *p, unsigned *skip)
{
	unsigned n = p[0] >> 6;
	uint32_t len = n ? p[0] & 0x0f : p[0] & 0x3f;
	for (unsigned i = 1; i <= n; i++)
		len |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	*skip = n + 1;
	return len;
}

/* An AML integer (ACPI 20.2.3: ZeroOp, OneOp, OnesOp, Byte/Word/DWord/QWordConst); NULL if not one. */
static const uint8_t *aml_int(const uint8_t *p, uint64_t *v)
{
	switch (p[0]) {
	case 0x00: *v = 0; return p + 1;
	case 0x01: *v = 1; return p + 1;
	case 0xff: *v = UINT64_MAX; return p + 1;
	case 0x0a: *v = p[1]; return p + 2;
	case 0x0b: *v = get16(p + 1); return p + 3;
	case 0x0c: *v = get32(p + 1); return p + 5;
	case 0x0e: *v = get64(p + 1); return p + 9;
	default: return NULL;
	}
}

/* The DSDT's AML (loaders/dsdt.asl), read back as an OS would find its
 * objects: \_S5_, the pvpanic device, the PCI root bridge and its _PRT, the
 * motherboard resource over the ECAM window. */
static void check_dsdt(const struct fx *f, const struct parsed *p)
{
	uint32_t dl = table(f, p->dsdt, "DSDT");
	CHECK(dl > 36 && p->dsdt + dl <= ACPI_MADT_ADDR, "DSDT: valid, before the MADT (%u bytes)", dl);
	if (dl <= 36)
		return;
	const uint8_t *d = gp(f, p->dsdt, dl), *aml = d + 36;
	size_t n = dl - 36;
	static const uint8_t s5[12] = {0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0, 0, 0, 0};
	CHECK_EQ(d[8], 2, "DSDT: revision 2");
	CHECK(memcmp(aml, s5, sizeof(s5)) == 0, "DSDT: AML begins with \\_S5_ {0,0,0,0}");
	CHECK(find(aml, n, "\x08_HID\x0dQEMU0001", 15), "DSDT: a device with _HID \"QEMU0001\" (pvpanic)");
	static const uint8_t io505[] = {0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, 0x79};
	CHECK(find(aml, n, io505, sizeof(io505)), "DSDT: pvpanic's _CRS is one 16-bit I/O port at 0x505");
	/* EisaId ("PNP0A08") = 0x080AD041, ("PNP0A03") = 0x030AD041, ("PNP0C02") = 0x020CD041. */
	const uint8_t *pci = find(aml, n, "\x5b\x82", 2);
	while (pci && memcmp(pci + 2 + (pci[2] >> 6) + 1, "PCI0", 4) != 0)
		pci = find(pci + 2, n - (size_t)(pci + 2 - aml), "\x5b\x82", 2);
	CHECK(pci != NULL, "DSDT: Device (PCI0)");
	CHECK(find(aml, n, "\x08_HID\x0c\x41\xd0\x0a\x08", 10) && find(aml, n, "\x08_CID\x0c\x41\xd0\x0a\x03", 10),
	      "DSDT: PCI0 is a PNP0A08 root bridge, compatible with PNP0A03");
	CHECK(find(aml, n, "_OSC", 4) && find(aml, n, "_SEG", 4) && find(aml, n, "_BBN", 4), "DSDT: PCI0 has _OSC, _SEG and _BBN");
	/* _CRS: bus 0 only; the memory window up to the ECAM window. */
	static const uint8_t bus0[] = {0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00};
	CHECK(find(aml, n, bus0, sizeof(bus0)), "DSDT: PCI0._CRS: bus numbers 0-0");
	uint8_t win[8];
	memcpy(win, (uint8_t[]){0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf}, 8);
	CHECK(find(aml, n, win, 8), "DSDT: PCI0._CRS: memory window 0xC0000000-0xDFFFFFFF");
	const uint8_t *prt = find(aml, n, "\x08_PRT\x12", 6);
	CHECK(prt != NULL, "DSDT: Name (_PRT, Package)");
	if (prt) {
		unsigned sk;
		const uint8_t *q = prt + 5;
		uint32_t plen = aml_pkglen(q + 1, &sk);
		const uint8_t *end = q + 1 + plen;
		q += 1 + sk;
		unsigned count = *q++, good = 0;
		for (unsigned i = 0; i < count && q < end && q[0] == 0x12; i++) {
			uint32_t elen = aml_pkglen(q + 1, &sk);
			const uint8_t *e = q + 1 + sk, *next = q + 1 + elen;
			uint64_t v[4] = {0};
			bool ok = *e++ == 4;
			for (unsigned k = 0; k < 4 && ok; k++)
				ok = (e = aml_int(e, &v[k])) != NULL;
			unsigned slot = i / 4, pin = i % 4;
			if (ok && e == next && v[0] == ((uint64_t)slot << 16 | 0xffff) && v[1] == pin && v[2] == 0 &&
			    v[3] == PCI_INTX_GSI(slot, pin + 1))
				good++;
			q = next;
		}
		CHECK(count == 128 && good == 128 && q == end,
		      "DSDT: _PRT routes all 32 slots x 4 pins to GSI 16 + ((slot + pin) & 3) (%u of %u good)", good,
		      count);
	}
	static const uint8_t mres[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x10, 0x00};
	CHECK(find(aml, n, "\x08_HID\x0c\x41\xd0\x0c\x02", 10) && find(aml, n, mres, sizeof(mres)),
	      "DSDT: a PNP0C02 motherboard resource reserves the ECAM window (1 MiB at 0xE0000000)");
}

static void check_gas(const uint8_t *g, unsigned width, unsigned access, uint64_t addr,
		      const char *what)
{
	CHECK(g[0] == 1 && g[1] == width && g[2] == 0 && g[3] == access && get64(g + 4) == addr,
	      "%s: GAS SystemIO, %u bits at 0x%llx (got space %u width %u off %u access %u addr 0x%llx)",
	      what, width, (unsigned long long)addr, g[0], g[1], g[2], g[3],
	      (unsigned long long)get64(g + 4));
}

static void check_fadt(const struct fx *f, struct parsed *p)
{
	uint32_t len = table(f, p->fadt, "FACP");
	CHECK_EQ(len, 276, "FADT: valid, 276 bytes (ACPI 6.5)");
	if (len != 276)
		return;
	const uint8_t *t = gp(f, p->fadt, len);
	CHECK_EQ(t[8], 6, "FADT: major revision 6");
	CHECK_EQ(t[131], 5, "FADT: minor version 5");
	CHECK(memcmp(t + 10, "HYVE  ", 6) == 0 && memcmp(t + 16, "HYVEFACP", 8) == 0,
	      "FADT: OEMID and OEM table ID");
	p->facs = get32(t + 36);
	CHECK_EQ(get64(t + 132), 0, "FADT: X_FIRMWARE_CTRL 0 (FIRMWARE_CTRL is used)");
	p->dsdt = get64(t + 140);
	CHECK_EQ(get32(t + 40), p->dsdt, "FADT: DSDT = X_DSDT");
	CHECK(p->facs == f->r.facs && p->dsdt == f->r.dsdt, "FADT: FACS/DSDT as reported");
	CHECK_EQ(get16(t + 46), 9, "FADT: SCI_INT 9");
	CHECK_EQ(get32(t + 48), 0, "FADT: SMI_CMD 0 (always in ACPI mode)");
	CHECK(t[52] == 0 && t[53] == 0 && t[54] == 0 && t[55] == 0,
	      "FADT: ACPI_ENABLE/DISABLE, S4BIOS_REQ, PSTATE_CNT 0");
	CHECK_EQ(get32(t + 56), 0x600, "FADT: PM1a_EVT_BLK 0x600");
	CHECK_EQ(get32(t + 60), 0, "FADT: PM1b_EVT_BLK none");
	CHECK_EQ(get32(t + 64), 0x604, "FADT: PM1a_CNT_BLK 0x604");
	CHECK_EQ(get32(t + 68), 0, "FADT: PM1b_CNT_BLK none");
	CHECK_EQ(get32(t + 72), 0, "FADT: PM2_CNT_BLK none");
	CHECK_EQ(get32(t + 76), 0x608, "FADT: PM_TMR_BLK 0x608");
	CHECK(get32(t + 80) == 0 && get32(t + 84) == 0, "FADT: no GPE blocks");
	CHECK(t[88] == 4 && t[89] == 2 && t[90] == 0 && t[91] == 4 && t[92] == 0 && t[93] == 0,
	      "FADT: PM1_EVT_LEN 4, PM1_CNT_LEN 2, PM2 0, PM_TMR_LEN 4, GPE lens 0");
	CHECK(get16(t + 96) > 100 && get16(t + 98) > 1000, "FADT: C2/C3 not supported");
	CHECK_EQ(t[108], 0x32, "FADT: CENTURY 0x32");
	CHECK_EQ(get16(t + 109), 0x3, "FADT: IAPC_BOOT_ARCH LEGACY_DEVICES | 8042");
	uint32_t fl = get32(t + 112);
	CHECK(fl & (1u << 0), "FADT: WBINVD");
	CHECK(fl & (1u << 2), "FADT: PROC_C1");
	CHECK(!(fl & (1u << 8)), "FADT: TMR_VAL_EXT clear (24-bit PM timer)");
	CHECK(fl & (1u << 10), "FADT: RESET_REG_SUP");
	CHECK(!(fl & (1u << 20)), "FADT: not HW_REDUCED_ACPI");
	CHECK_EQ(fl, 0x475, "FADT: flags exactly WBINVD|PROC_C1|PWR_BUTTON|SLP_BUTTON|FIX_RTC|RESET_REG_SUP");
	check_gas(t + 116, 8, 1, 0xcf9, "FADT RESET_REG");
	CHECK_EQ(t[128], 6, "FADT: RESET_VALUE 6");
	check_gas(t + 148, 32, 0, 0x600, "FADT X_PM1a_EVT_BLK");
	check_gas(t + 172, 16, 0, 0x604, "FADT X_PM1a_CNT_BLK");
	check_gas(t + 208, 32, 0, 0x608, "FADT X_PM_TMR_BLK");
	bool zero = true;
	for (unsigned o = 160; o < 172; o++) /* X_PM1b_EVT_BLK */
		zero = zero && t[o] == 0;
	for (unsigned o = 184; o < 208; o++) /* X_PM1b_CNT_BLK, X_PM2_CNT_BLK */
		zero = zero && t[o] == 0;
	for (unsigned o = 220; o < 276; o++) /* X_GPE0/1, SLEEP_*, hypervisor id */
		zero = zero && t[o] == 0;
	CHECK(zero, "FADT: other extended blocks, sleep registers and hypervisor id 0");

	/* FACS (ACPI 5.2.10): no checksum, 64-byte aligned. */
	const uint8_t *fc = gp(f, p->facs, 64);
	CHECK(memcmp(fc, "FACS", 4) == 0 && get32(fc + 4) == 64, "FACS: signature, length 64");
	CHECK_EQ(p->facs % 64, 0, "FACS: 64-byte aligned");
	CHECK_EQ(fc[32], 2, "FACS: version 2");
	CHECK(get32(fc + 8) == 0 && get32(fc + 12) == 0 && get32(fc + 16) == 0 &&
		      get32(fc + 20) == 0 && get64(fc + 24) == 0,
	      "FACS: hardware signature, waking vectors, global lock, flags 0");

	check_dsdt(f, p);
}

/* Walks the MADT of an ncpus guest and checks every structure. */
static void check_madt(const struct fx *f, const struct parsed *p, unsigned ncpus)
{
	unsigned nl = ncpus < 255 ? ncpus : 255, nx = ncpus - nl;
	uint32_t want_len = 44 + 8 * nl + 16 * nx + 12 + 20 + 6 + (nx ? 12 : 0);
	uint32_t len = table(f, p->madt, "APIC");
	CHECK_EQ(len, want_len, "MADT %u: valid, %u bytes", ncpus, want_len);
	if (len != want_len)
		return;
	const uint8_t *t = gp(f, p->madt, len);
	CHECK_EQ(t[8], 5, "MADT %u: revision 5", ncpus);
	CHECK_EQ(get32(t + 36), 0xfee00000u, "MADT %u: local APIC address", ncpus);
	CHECK_EQ(get32(t + 40), 1, "MADT %u: flags PCAT_COMPAT", ncpus);

	unsigned n_lapic = 0, n_x2 = 0, n_io = 0, n_iso = 0, n_nmi = 0, n_x2nmi = 0, n_other = 0;
	bool lapic_ok = true, x2_ok = true, order_ok = true, walk_ok = true;
	uint32_t next_id = 0;
	uint32_t off = 44;
	while (off < len) {
		const uint8_t *e = t + off;
		if (off + 2 > len || e[1] < 2 || off + e[1] > len) {
			walk_ok = false;
			break;
		}
		switch (e[0]) {
		case 0:
			lapic_ok = lapic_ok && e[1] == 8 && e[2] == next_id && e[3] == next_id &&
				   get32(e + 4) == 1 && next_id < 255 && n_x2 == 0;
			next_id++;
			n_lapic++;
			break;
		case 9:
			x2_ok = x2_ok && e[1] == 16 && get16(e + 2) == 0 && get32(e + 4) == next_id &&
				get32(e + 8) == 1 && get32(e + 12) == next_id && next_id >= 255;
			next_id++;
			n_x2++;
			break;
		case 1:
			CHECK(e[1] == 12 && e[2] == 0 && e[3] == 0 && get32(e + 4) == 0xfec00000u &&
				      get32(e + 8) == 0,
			      "MADT %u: I/O APIC id 0 at 0xfec00000, GSI base 0", ncpus);
			order_ok = order_ok && next_id == ncpus;
			n_io++;
			break;
		case 2:
			if (n_iso == 0)
				CHECK(e[1] == 10 && e[2] == 0 && e[3] == 0 && get32(e + 4) == 2 &&
					      get16(e + 8) == 0x5,
				      "MADT %u: override ISA IRQ0 -> GSI 2, edge, active high", ncpus);
			else
				CHECK(e[1] == 10 && e[2] == 0 && e[3] == 9 && get32(e + 4) == 9 &&
					      get16(e + 8) == 0xd,
				      "MADT %u: override ISA IRQ9 -> GSI 9, level, active high (SCI)",
				      ncpus);
			n_iso++;
			break;
		case 4:
			CHECK(e[1] == 6 && e[2] == 0xff && get16(e + 3) == 0x5 && e[5] == 1,
			      "MADT %u: local APIC NMI on LINT1 of all processors", ncpus);
			n_nmi++;
			break;
		case 10:
			CHECK(e[1] == 12 && get16(e + 2) == 0x5 && get32(e + 4) == 0xffffffffu &&
				      e[8] == 1 && e[9] == 0 && e[10] == 0 && e[11] == 0,
			      "MADT %u: local x2APIC NMI on LINT1 of all processors", ncpus);
			n_x2nmi++;
			break;
		default:
			n_other++;
		}
		off += e[1];
	}
	CHECK(walk_ok && off == len, "MADT %u: structures tile the table exactly", ncpus);
	CHECK_EQ(n_lapic, nl, "MADT %u: %u Processor Local APIC structures", ncpus, nl);
	CHECK_EQ(n_x2, nx, "MADT %u: %u Processor Local x2APIC structures", ncpus, nx);
	CHECK(lapic_ok, "MADT %u: xAPIC entries: UID = APIC ID = 0.., enabled, before any x2APIC",
	      ncpus);
	CHECK(x2_ok, "MADT %u: x2APIC entries: IDs 255.., UID = ID, enabled", ncpus);
	CHECK_EQ(next_id, ncpus, "MADT %u: APIC IDs 0..ncpus-1, each once, in order", ncpus);
	CHECK(order_ok, "MADT %u: processors first (boot processor ID 0 leads)", ncpus);
	CHECK(n_io == 1 && n_iso == 2 && n_nmi == 1 && n_x2nmi == (nx ? 1u : 0u) && n_other == 0,
	      "MADT %u: 1 I/O APIC, 2 overrides, 1 NMI, %u x2APIC NMI, nothing else", ncpus,
	      nx ? 1 : 0);
	CHECK(f->r.n_lapic == nl && f->r.n_x2apic == nx, "MADT %u: result counts", ncpus);
}

static void test_ncpus(unsigned ncpus)
{
	struct fx f;
	struct parsed p;
	char what[32];
	snprintf(what, sizeof(what), "ncpus %u", ncpus);
	fx_init(&f, 2 * MIB);
	int rc = acpi_build(&f.m, ncpus, &f.r, f.err, sizeof(f.err));
	CHECK_EQ(rc, 0, "%s: builds (%s)", what, f.err);
	CHECK_EQ(f.err[0], 0, "%s: no error text", what);
	if (rc) {
		fx_fini(&f);
		return;
	}
	CHECK(f.r.start == 0xF0000 && f.r.end > f.r.madt && f.r.end <= ACPI_LIMIT,
	      "%s: extent [0xF0000, 0x%llx) inside the window", what, (unsigned long long)f.r.end);
	CHECK(all_bytes(&f, 0, 0xF0000, FILL) && all_bytes(&f, ACPI_LIMIT, 2 * MIB - ACPI_LIMIT, FILL),
	      "%s: nothing written outside [0xF0000, 0xF8000)", what);
	CHECK(all_bytes(&f, f.r.end, ACPI_LIMIT - f.r.end, 0), "%s: rest of the window zeroed", what);
	if (parse_root(&f, &p, what)) {
		check_fadt(&f, &p);
		check_madt(&f, &p, ncpus);
	}
	CHECK_EQ(f.r.end, f.r.madt + 44 + 8 * f.r.n_lapic + 16 * f.r.n_x2apic + 38 + (f.r.n_x2apic ? 12 : 0),
		 "%s: extent ends at the end of the MADT", what);
	fx_fini(&f);
}

static void test_errors(void)
{
	struct fx f;
	fx_init(&f, 2 * MIB);
	CHECK_EQ(acpi_build(&f.m, 0, &f.r, f.err, sizeof(f.err)), -EINVAL, "ncpus 0: -EINVAL");
	CHECK(strstr(f.err, "ncpus 0") && !strchr(f.err, '\n'), "ncpus 0: named (%s)", f.err);
	CHECK_EQ(acpi_build(&f.m, ACPI_MAX_CPUS + 1, &f.r, f.err, sizeof(f.err)), -EINVAL,
		 "ncpus 1025: -EINVAL");
	CHECK(strstr(f.err, "ncpus 1025") && strstr(f.err, "1..1024"), "ncpus 1025: named (%s)", f.err);
	CHECK_EQ(acpi_build(NULL, 1, &f.r, f.err, sizeof(f.err)), -EINVAL, "NULL memory: -EINVAL");
	CHECK_EQ(acpi_build(&f.m, 1, NULL, f.err, sizeof(f.err)), -EINVAL, "NULL result: -EINVAL");
	CHECK_EQ(acpi_build(&f.m, 0, &f.r, NULL, 0), -EINVAL, "NULL err buffer: still fails");
	CHECK(all_bytes(&f, 0, 2 * MIB, FILL), "errors: guest untouched");
	fx_fini(&f);

	fx_init(&f, 0xF4000);
	CHECK_EQ(acpi_build(&f.m, 1, &f.r, f.err, sizeof(f.err)), -E2BIG, "RAM ends in the window: -E2BIG");
	CHECK(strstr(f.err, "0xf0000-0xf8000") && strstr(f.err, "not in guest RAM"),
	      "RAM ends in the window: named (%s)", f.err);
	CHECK(all_bytes(&f, 0, 0xF4000, FILL), "RAM ends in the window: guest untouched");
	fx_fini(&f);

	/* A smaller rebuild leaves no stale table bytes behind. */
	fx_init(&f, 2 * MIB);
	CHECK_EQ(acpi_build(&f.m, 1024, &f.r, f.err, sizeof(f.err)), 0, "rebuild: 1024 vCPUs");
	CHECK_EQ(f.r.end, 0xF4866, "1024 vCPUs: MADT ends at 0xF4866 (as acpi.h says)");
	CHECK_EQ(acpi_build(&f.m, 2, &f.r, f.err, sizeof(f.err)), 0, "rebuild: then 2 vCPUs");
	CHECK(all_bytes(&f, f.r.end, ACPI_LIMIT - f.r.end, 0), "rebuild: old MADT tail cleared");
	fx_fini(&f);
}

int main(void)
{
	static const unsigned counts[] = {1, 4, 254, 255, 256, 300, 1024};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		test_ncpus(counts[i]);
	test_errors();
	return tap_done();
}
