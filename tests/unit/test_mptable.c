/* test_mptable.c: the Intel MP 1.4 tables parsed back as an OS finds them, alone and next to the ACPI tables. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/acpi.h"
#include "loaders/mptable.h"
#include "tests/unit/tap.h"

#define MIB (1ULL << 20)
#define FILL 0xAA

struct fx {
	uint8_t *host;
	uint64_t ram;
	struct guest_mem m;
	struct mptable_result r;
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

/* What Linux does (arch/x86/kernel/mpparse.c smp_scan_config): "_MP_" on a
 * 16-byte boundary in 0xF0000-0xFFFFF, length 1, 16 bytes summing to 0. */
static uint64_t scan_mp(const struct fx *f)
{
	for (uint64_t a = 0xF0000; a < 0x100000; a += 16) {
		const uint8_t *p = gp(f, a, 16);
		if (memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && sum(p, 16) == 0)
			return a;
	}
	return 0;
}

static uint64_t scan_rsdp(const struct fx *f)
{
	for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
		const uint8_t *p = gp(f, a, 36);
		if (memcmp(p, "RSD PTR ", 8) == 0 && sum(p, 20) == 0 && sum(p, 36) == 0)
			return a;
	}
	return 0;
}

/* Parses and checks the whole MP description of an ncpus guest. */
static void check_mp(const struct fx *f, unsigned ncpus)
{
	uint64_t fpa = scan_mp(f);
	CHECK(fpa == 0xF8000 && fpa == f->r.fp, "%u cpus: floating pointer found at 0xF8000", ncpus);
	if (!fpa)
		return;
	const uint8_t *fp = gp(f, fpa, 16);
	CHECK_EQ(fp[9], 4, "%u cpus: floating pointer SPEC_REV 1.4", ncpus);
	CHECK(fp[11] == 0 && fp[12] == 0 && fp[13] == 0 && fp[14] == 0 && fp[15] == 0,
	      "%u cpus: feature bytes 0 (config table present, no IMCR)", ncpus);
	uint64_t ca = get32(fp + 4);
	CHECK(ca == 0xF8010 && ca == f->r.config, "%u cpus: PHYSICAL ADDRESS POINTER 0xF8010", ncpus);

	const uint8_t *c = gp(f, ca, 44);
	uint32_t len = get16(c + 4);
	uint32_t want_len = 44 + 20 * ncpus + 8 * (1 + 1 + 15 + 2);
	CHECK(memcmp(c, "PCMP", 4) == 0, "%u cpus: config table signature", ncpus);
	CHECK_EQ(len, want_len, "%u cpus: BASE TABLE LENGTH", ncpus);
	CHECK_EQ(sum(gp(f, ca, len), len), 0, "%u cpus: config table checksum", ncpus);
	CHECK_EQ(c[6], 4, "%u cpus: config SPEC_REV", ncpus);
	CHECK(memcmp(c + 8, "HYVE    ", 8) == 0 && memcmp(c + 16, "HYVE        ", 12) == 0,
	      "%u cpus: OEM ID and product ID", ncpus);
	CHECK(get32(c + 28) == 0 && get16(c + 32) == 0, "%u cpus: no OEM table", ncpus);
	unsigned count = get16(c + 34);
	CHECK_EQ(count, ncpus + 19, "%u cpus: ENTRY COUNT", ncpus);
	CHECK_EQ(f->r.nentries, count, "%u cpus: result entry count", ncpus);
	CHECK_EQ(get32(c + 36), 0xfee00000u, "%u cpus: local APIC address", ncpus);
	CHECK(get16(c + 40) == 0 && c[42] == 0 && c[43] == 0, "%u cpus: no extended table", ncpus);
	CHECK_EQ(f->r.end, ca + len, "%u cpus: extent ends with the table", ncpus);
	CHECK(f->r.ioapic_id == ncpus, "%u cpus: I/O APIC id = ncpus", ncpus);

	c = gp(f, ca, len);
	uint32_t off = 44;
	unsigned n[5] = {0}, last_type = 0, next_cpu = 0;
	bool sorted = true, cpus_ok = true, ioint_ok = true, walk_ok = true;
	unsigned pin_of_irq[16];
	for (unsigned i = 0; i < 16; i++)
		pin_of_irq[i] = 0xff;
	for (unsigned k = 0; k < count; k++) {
		if (off >= len) {
			walk_ok = false;
			break;
		}
		const uint8_t *e = c + off;
		if (e[0] > 4) {
			walk_ok = false;
			break;
		}
		sorted = sorted && e[0] >= last_type;
		last_type = e[0];
		n[e[0]]++;
		switch (e[0]) {
		case 0:
			cpus_ok = cpus_ok && e[1] == next_cpu && e[2] == 0x14 &&
				  e[3] == (next_cpu == 0 ? 3 : 1) && get32(e + 4) == 0x600 &&
				  get32(e + 8) == 0x201 && get32(e + 12) == 0 && get32(e + 16) == 0;
			next_cpu++;
			off += 20;
			break;
		case 1:
			CHECK(e[1] == 0 && memcmp(e + 2, "ISA   ", 6) == 0, "%u cpus: bus 0 is ISA", ncpus);
			off += 8;
			break;
		case 2:
			CHECK(e[1] == ncpus && e[2] == 0x11 && e[3] == 1 && get32(e + 4) == 0xfec00000u,
			      "%u cpus: I/O APIC id %u, version 0x11, enabled, at 0xfec00000", ncpus,
			      ncpus);
			off += 8;
			break;
		case 3:
			ioint_ok = ioint_ok && e[1] == 0 && get16(e + 2) == 0 && e[4] == 0 &&
				   e[5] < 16 && e[6] == ncpus && pin_of_irq[e[5]] == 0xff;
			if (e[5] < 16)
				pin_of_irq[e[5]] = e[7];
			off += 8;
			break;
		case 4:
			if (n[4] == 1)
				CHECK(e[1] == 3 && get16(e + 2) == 0 && e[4] == 0 && e[5] == 0 &&
					      e[6] == 0xff && e[7] == 0,
				      "%u cpus: ExtINT on LINT0 of every local APIC", ncpus);
			else
				CHECK(e[1] == 1 && get16(e + 2) == 0 && e[6] == 0xff && e[7] == 1,
				      "%u cpus: NMI on LINT1 of every local APIC", ncpus);
			off += 8;
			break;
		}
	}
	CHECK(walk_ok && off == len, "%u cpus: ENTRY COUNT entries tile BASE TABLE LENGTH", ncpus);
	CHECK(sorted, "%u cpus: entries sorted by type (MP 4.3)", ncpus);
	CHECK(n[0] == ncpus && n[1] == 1 && n[2] == 1 && n[3] == 15 && n[4] == 2,
	      "%u cpus: %u processors, 1 bus, 1 I/O APIC, 15 I/O interrupts, 2 local interrupts",
	      ncpus, ncpus);
	CHECK(cpus_ok && next_cpu == ncpus,
	      "%u cpus: processors have APIC IDs 0..n-1, version 0x14, enabled, BP only on 0", ncpus);
	CHECK(ioint_ok, "%u cpus: I/O interrupts are INT, conforming, from ISA, to the I/O APIC, once per IRQ",
	      ncpus);
	bool map_ok = pin_of_irq[0] == 2 && pin_of_irq[2] == 0xff;
	for (unsigned irq = 1; irq < 16; irq++)
		if (irq != 2)
			map_ok = map_ok && pin_of_irq[irq] == irq;
	CHECK(map_ok, "%u cpus: IRQ0 -> INTIN2, IRQ2 absent, IRQn -> INTINn", ncpus);
}

static void test_ncpus(unsigned ncpus)
{
	struct fx f;
	fx_init(&f, 2 * MIB);
	int rc = mptable_build(&f.m, ncpus, &f.r, f.err, sizeof(f.err));
	CHECK_EQ(rc, 0, "%u cpus: builds (%s)", ncpus, f.err);
	CHECK_EQ(f.err[0], 0, "%u cpus: no error text", ncpus);
	if (!rc) {
		check_mp(&f, ncpus);
		CHECK(all_bytes(&f, 0, MPTABLE_BASE, FILL) &&
			      all_bytes(&f, MPTABLE_LIMIT, 2 * MIB - MPTABLE_LIMIT, FILL),
		      "%u cpus: nothing written outside [0xF8000, 0x100000)", ncpus);
		CHECK(all_bytes(&f, f.r.end, MPTABLE_LIMIT - f.r.end, 0),
		      "%u cpus: rest of the window zeroed", ncpus);
		CHECK_EQ(scan_rsdp(&f), 0, "%u cpus: no RSDP look-alike", ncpus);
	}
	fx_fini(&f);
}

static void test_errors(void)
{
	struct fx f;
	fx_init(&f, 2 * MIB);
	CHECK_EQ(mptable_build(&f.m, 255, &f.r, f.err, sizeof(f.err)), -ERANGE,
		 "255 cpus: refused (-ERANGE)");
	CHECK(strstr(f.err, "ncpus 255") && strstr(f.err, "254") && strstr(f.err, "ACPI") &&
		      !strchr(f.err, '\n'),
	      "255 cpus: one line naming ncpus, the limit and ACPI (%s)", f.err);
	CHECK_EQ(mptable_build(&f.m, 1024, &f.r, f.err, sizeof(f.err)), -ERANGE, "1024 cpus: refused");
	CHECK_EQ(mptable_build(&f.m, 0, &f.r, f.err, sizeof(f.err)), -EINVAL, "0 cpus: -EINVAL");
	CHECK(strstr(f.err, "ncpus is 0"), "0 cpus: named (%s)", f.err);
	CHECK_EQ(mptable_build(NULL, 1, &f.r, f.err, sizeof(f.err)), -EINVAL, "NULL memory");
	CHECK_EQ(mptable_build(&f.m, 1, NULL, f.err, sizeof(f.err)), -EINVAL, "NULL result");
	CHECK_EQ(mptable_build(&f.m, 300, &f.r, NULL, 0), -ERANGE, "NULL err buffer: still fails");
	CHECK(all_bytes(&f, 0, 2 * MIB, FILL), "errors: guest untouched");
	CHECK_EQ(scan_mp(&f), 0, "errors: no floating pointer");
	fx_fini(&f);

	fx_init(&f, 0xFC000);
	CHECK_EQ(mptable_build(&f.m, 1, &f.r, f.err, sizeof(f.err)), -E2BIG, "RAM ends in the window");
	CHECK(strstr(f.err, "0xf8000-0x100000") && strstr(f.err, "not in guest RAM"),
	      "RAM ends in the window: named (%s)", f.err);
	CHECK(all_bytes(&f, 0, 0xFC000, FILL), "RAM ends in the window: untouched");
	fx_fini(&f);
}

/* Both tables in one guest, in either order: disjoint, both found. */
static void test_with_acpi(void)
{
	for (int order = 0; order < 2; order++) {
		struct fx f;
		struct acpi_result ar;
		char aerr[256];
		int ra = 0, rm = 0;
		fx_init(&f, 2 * MIB);
		if (order == 0) {
			ra = acpi_build(&f.m, 8, &ar, aerr, sizeof(aerr));
			rm = mptable_build(&f.m, 8, &f.r, f.err, sizeof(f.err));
		} else {
			rm = mptable_build(&f.m, 8, &f.r, f.err, sizeof(f.err));
			ra = acpi_build(&f.m, 8, &ar, aerr, sizeof(aerr));
		}
		CHECK(ra == 0 && rm == 0, "ACPI + MP (order %d): both build", order);
		CHECK(ar.end <= f.r.start, "ACPI + MP (order %d): ACPI [0x%llx, 0x%llx) below MP [0x%llx, 0x%llx)",
		      order, (unsigned long long)ar.start, (unsigned long long)ar.end,
		      (unsigned long long)f.r.start, (unsigned long long)f.r.end);
		CHECK_EQ(scan_rsdp(&f), ar.rsdp, "ACPI + MP (order %d): RSDP still found", order);
		check_mp(&f, 8);
		fx_fini(&f);
	}
	/* The worst cases of each still do not meet. */
	{
		struct fx f;
		struct acpi_result ar;
		fx_init(&f, 2 * MIB);
		CHECK_EQ(acpi_build(&f.m, ACPI_MAX_CPUS, &ar, NULL, 0), 0, "largest ACPI");
		CHECK_EQ(mptable_build(&f.m, MPTABLE_MAX_CPUS, &f.r, NULL, 0), 0, "largest MP table");
		CHECK(ar.end <= MPTABLE_BASE && f.r.end <= MPTABLE_LIMIT,
		      "largest ACPI (to 0x%llx) and MP (to 0x%llx) fit their windows",
		      (unsigned long long)ar.end, (unsigned long long)f.r.end);
		CHECK_EQ(scan_rsdp(&f), ACPI_BASE, "largest: RSDP found");
		fx_fini(&f);
	}
}

int main(void)
{
	test_ncpus(1);
	test_ncpus(8);
	test_ncpus(254);
	test_errors();
	test_with_acpi();
	return tap_done();
}
