/* irq_clocks.c: the platform clocks a guest reads without interrupts.
 *  - ACPI PM timer (ACPI 6.5 4.8.3.3) at port 0x608 (hyve; QEMU's i440fx
 *    with SeaBIOS too), or "pmtmr=PORT" on the command line: 24 bits (31:24 read
 *    0), never going backwards over a burst of reads (modulo the 2^24 wrap),
 *    and counting at 3.579545 MHz against the TSC: within 10% over
 *    SPAN_US, best of three tries (a read of each clock is an exit, and the
 *    vCPU can be stalled between the two reads).
 *  - MC146818 RTC: after waiting for UIP = 0, the time and date registers
 *    are valid BCD in range (status B as reset leaves it: BCD, 24-hour),
 *    the century register (0x32) is 0x20 and the year >= 2024; status D has
 *    VRT. Switching status B to binary shows the same date in binary. The
 *    seconds register steps by one within 1.1 s. */
#include "irq.h"

#define PMTMR_HZ 3579545u
#define SPAN_US 50000
#define BURST 200

static bool bcd_ok(uint8_t v, uint8_t lo, uint8_t hi)
{
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return false;
	uint8_t b = (uint8_t)((v >> 4) * 10 + (v & 0x0f));
	return b >= lo && b <= hi;
}

static uint8_t from_bcd(uint8_t v) { return (uint8_t)((v >> 4) * 10 + (v & 0x0f)); }

/* Waits (bounded) until no update is in progress (status A bit 7). */
static void rtc_wait_uip(void)
{
	for (uint32_t i = 0; i < 2000 && (rtc_read(0x0a) & 0x80); i++)
		irq_delay_us(10);
}

static void pmtimer_part(uint16_t port)
{
	uint32_t prev = inl(port), backwards = 0, high = 0;
	for (uint32_t i = 0; i < BURST; i++) {
		uint32_t v = inl(port);
		if (v >> 24)
			high++;
		if (((v - prev) & 0xffffff) > 0x800000) /* more than half the range back: went backwards */
			backwards++;
		prev = v;
	}
	if (high)
		irq_problem(0, "pm timer: %u reads had bits 31:24 set", high);
	if (backwards)
		irq_problem(0, "pm timer: went backwards %u times in %u reads", backwards, BURST);

	uint64_t best = 0, best_err = ~0ull;
	for (int k = 0; k < 3; k++) {
		uint64_t t0 = rdtsc();
		uint32_t p0 = inl(port);
		irq_delay_us(SPAN_US);
		uint64_t t1 = rdtsc();
		uint32_t p1 = inl(port);
		uint64_t ticks = (p1 - p0) & 0xffffff, us = irq_cycles_to_us(t1 - t0);
		uint64_t hz = us ? udiv64(ticks * 1000000, (uint32_t)us, NULL) : 0;
		uint64_t err = hz > PMTMR_HZ ? hz - PMTMR_HZ : PMTMR_HZ - hz;
		if (err < best_err) {
			best_err = err;
			best = hz;
		}
	}
	printf("pm timer at 0x%x: %llu Hz against the TSC (nominal %u)\n", port, best, PMTMR_HZ);
	if (best_err * 10 > PMTMR_HZ)
		irq_problem(0, "pm timer counts at %llu Hz, expected %u +- 10%%", best, PMTMR_HZ);
}

static void rtc_part(void)
{
	rtc_wait_uip();
	uint8_t sec = rtc_read(0x00), min = rtc_read(0x02), hour = rtc_read(0x04), wday = rtc_read(0x06);
	uint8_t mday = rtc_read(0x07), mon = rtc_read(0x08), year = rtc_read(0x09), cent = rtc_read(0x32);
	uint8_t b = rtc_read(0x0b), d = rtc_read(0x0d);
	printf("rtc: %02x%02x-%02x-%02x %02x:%02x:%02x (weekday %x), status B %02x D %02x\n", cent, year, mon, mday,
	       hour, min, sec, wday, b, d);
	if ((b & 0x06) != 0x02)
		irq_problem(0, "rtc: status B %02x: expected BCD (bit 2 = 0) and 24-hour (bit 1 = 1)", b);
	if (!(d & 0x80))
		irq_problem(0, "rtc: status D %02x: VRT clear", d);
	if (!bcd_ok(sec, 0, 59) || !bcd_ok(min, 0, 59) || !bcd_ok(hour, 0, 23) || !bcd_ok(wday, 1, 7) ||
	    !bcd_ok(mday, 1, 31) || !bcd_ok(mon, 1, 12) || !bcd_ok(year, 0, 99))
		irq_problem(0, "rtc: a time/date register is not valid BCD in range");
	if (cent != 0x20 || !bcd_ok(year, 24, 99))
		irq_problem(0, "rtc: year %02x%02x, expected 20xx >= 2024", cent, year);

	/* binary mode: the same date (the time may have moved on) */
	rtc_write(0x0b, (uint8_t)(b | 0x04));
	rtc_wait_uip();
	uint8_t by = rtc_read(0x09), bm = rtc_read(0x08), bd = rtc_read(0x07), bs = rtc_read(0x00);
	rtc_write(0x0b, b);
	if (by != from_bcd(year) || bm != from_bcd(mon) || bs > 59 ||
	    (bd != from_bcd(mday) && bd != from_bcd(mday) + 1 && bd != 1))
		irq_problem(0, "rtc: binary mode reads %u-%u-%u :%u, BCD said %02x-%02x-%02x", by, bm, bd, bs, year,
			    mon, mday);

	/* the seconds register steps */
	rtc_wait_uip();
	uint8_t s0 = rtc_read(0x00), s1 = s0;
	uint64_t t0 = rdtsc();
	while (s1 == s0 && irq_cycles_to_us(rdtsc() - t0) < 1100000) {
		irq_delay_us(5000);
		rtc_wait_uip();
		s1 = rtc_read(0x00);
	}
	uint32_t us = (uint32_t)irq_cycles_to_us(rdtsc() - t0);
	if (s1 == s0)
		irq_problem(0, "rtc: seconds stuck at %02x for %u us", s0, us);
	else if (from_bcd(s1) != (from_bcd(s0) + 1) % 60)
		irq_problem(0, "rtc: seconds went from %02x to %02x", s0, s1);
	else
		printf("rtc: seconds stepped %02x -> %02x after %u us\n", s0, s1, us);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	char val[16];
	uint32_t port = 0x608;
	if (cmdline_get(mb_cmdline(mbi), "pmtmr", val, sizeof(val)) == 0 && parse_first_number(val, &port) < 0)
		guest_fail("bad pmtmr=%s", val);
	idt_init();
	irq_idt_init();
	printf("irq_clocks: TSC %u kHz\n", irq_tsc_khz());
	pmtimer_part((uint16_t)port);
	rtc_part();
	if (irq_report())
		guest_fail("%u problems", irq_problems());
	guest_pass();
}
