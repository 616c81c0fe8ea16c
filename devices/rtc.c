/* rtc.c: MC146818 RTC: calendar from a base time + monotonic clock, UIP, lazy PF/AF/UF flags, IRQ8 wake-ups (devices/rtc.h). */
#include <errno.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/rtc.h"

#define NS_PER_S 1000000000LL
#define SECS_PER_DAY 86400
#define RTC_TIMEBASE_HZ 32768
#define RESTART_DELAY_NS 500000000LL /* first update after the divider restarts */
#define NO_ALARM INT64_MAX

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static __int128 floor_div128(__int128 a, __int128 b)
{
	__int128 q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t now(const struct rtc *rtc)
{
	return (int64_t)rtc->ops->now_ns(rtc->ctx);
}

static bool dv_running(uint8_t a)
{
	return (a & RTC_A_DV_MASK) == RTC_A_DV_32768;
}

/* The clock updates (runs and is not being set). */
static bool live_ab(uint8_t a, uint8_t b)
{
	return dv_running(a) && !(b & RTC_B_SET);
}

static bool live(const struct rtc *rtc)
{
	return live_ab(rtc->cmos[RTC_REG_A], rtc->cmos[RTC_REG_B]);
}

/* Index of the last update at or before t (update k happens at base_ns + k s). */
static int64_t update_idx(const struct rtc *rtc, int64_t t)
{
	return floor_div(t - rtc->base_ns, NS_PER_S);
}

static int64_t clock_now(const struct rtc *rtc, int64_t t)
{
	return rtc->base_sec + update_idx(rtc, t);
}

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---- */

/* Days from 1970-01-01 to y-m-d; m 1..12, d 1..31 (d past the month's end
 * rolls into the next month). March-based years put the leap day last. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	if (m <= 2)
		y--;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;                          /* 0..399 */
	int64_t mp = m > 2 ? m - 3 : m + 9;                   /* 0 = March */
	int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;    /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  /* 0..146096 */
	return era * 146097 + doe - 719468;                   /* 719468: 0000-03-01 .. 1970-01-01 */
}

struct rtc_tm {
	int64_t year;
	unsigned mon, mday, hour, min, sec, wday; /* wday 0 = Sunday */
};

static void tm_from_secs(int64_t secs, struct rtc_tm *tm)
{
	int64_t days = floor_div(secs, SECS_PER_DAY);
	int64_t sod = secs - days * SECS_PER_DAY;

	tm->hour = (unsigned)(sod / 3600);
	tm->min = (unsigned)(sod / 60 % 60);
	tm->sec = (unsigned)(sod % 60);
	tm->wday = (unsigned)((days % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */

	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	tm->mday = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	tm->mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	tm->year = yoe + era * 400 + (tm->mon <= 2);
}

/* ---- register formats (status B DM and 24/12) ---- */

static bool binary(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

static uint8_t enc(const struct rtc *rtc, unsigned v)
{
	return binary(rtc) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned dec(const struct rtc *rtc, uint8_t v)
{
	return binary(rtc) ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

static uint8_t enc_hour(const struct rtc *rtc, unsigned h)
{
	if (rtc->cmos[RTC_REG_B] & RTC_B_24H)
		return enc(rtc, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(enc(rtc, h12) | (h >= 12 ? RTC_HOUR_PM : 0));
}

/* Hour 0..23 (or more, for garbage) from a register byte. */
static unsigned dec_hour(const struct rtc *rtc, uint8_t v)
{
	if (rtc->cmos[RTC_REG_B] & RTC_B_24H)
		return dec(rtc, v);
	unsigned h = dec(rtc, v & (uint8_t)~RTC_HOUR_PM);
	if (h == 12)
		h = 0;
	return (v & RTC_HOUR_PM) ? h + 12 : h;
}

static unsigned clamp(unsigned v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Writes the time registers for secs into dst (rtc->cmos or a copy). */
static void encode_time(const struct rtc *rtc, int64_t secs, uint8_t *dst)
{
	struct rtc_tm tm;
	tm_from_secs(secs, &tm);
	int64_t y = tm.year < 0 ? 0 : tm.year > 9999 ? 9999 : tm.year;

	dst[RTC_SEC] = enc(rtc, tm.sec);
	dst[RTC_MIN] = enc(rtc, tm.min);
	dst[RTC_HOUR] = enc_hour(rtc, tm.hour);
	dst[RTC_DOW] = enc(rtc, tm.wday + 1);
	dst[RTC_MDAY] = enc(rtc, tm.mday);
	dst[RTC_MONTH] = enc(rtc, tm.mon);
	dst[RTC_YEAR] = enc(rtc, (unsigned)(y % 100));
	dst[RTC_CENTURY] = enc(rtc, (unsigned)(y / 100));
}

/* Seconds since 1970 of the time registers in rtc->cmos, fields clamped. */
static int64_t decode_time(const struct rtc *rtc)
{
	const uint8_t *r = rtc->cmos;
	unsigned sec = clamp(dec(rtc, r[RTC_SEC]), 0, 59);
	unsigned min = clamp(dec(rtc, r[RTC_MIN]), 0, 59);
	unsigned hour = clamp(dec_hour(rtc, r[RTC_HOUR]), 0, 23);
	unsigned mday = clamp(dec(rtc, r[RTC_MDAY]), 1, 31);
	unsigned mon = clamp(dec(rtc, r[RTC_MONTH]), 1, 12);
	unsigned year = clamp(dec(rtc, r[RTC_YEAR]), 0, 99);
	unsigned cent = clamp(dec(rtc, r[RTC_CENTURY]), 0, 99);

	int64_t days = days_from_civil((int64_t)cent * 100 + year, mon, mday);
	return days * SECS_PER_DAY + hour * 3600 + min * 60 + sec;
}

static bool is_time_reg(unsigned idx)
{
	return idx == RTC_SEC || idx == RTC_MIN || idx == RTC_HOUR || idx == RTC_DOW ||
	       idx == RTC_MDAY || idx == RTC_MONTH || idx == RTC_YEAR || idx == RTC_CENTURY;
}

/* ---- alarm (MC146818A "Interrupts": alarm bytes, don't-care codes) ---- */

/* Decoded alarm field, or -1 for "don't care". */
static int alarm_field(const struct rtc *rtc, unsigned idx)
{
	uint8_t v = rtc->cmos[idx];
	if ((v & RTC_ALARM_DONT_CARE) == RTC_ALARM_DONT_CARE)
		return -1;
	return (int)(idx == RTC_HOUR_ALARM ? dec_hour(rtc, v) : dec(rtc, v));
}

/* First second of the minute starting at ms that is after cur and matches
 * the seconds alarm as (-1: any), or NO_ALARM. */
static int64_t alarm_in_minute(int64_t ms, int as, int64_t cur)
{
	if (as >= 0)
		return ms + as > cur ? ms + as : NO_ALARM;
	int64_t s = cur + 1 - ms;
	if (s < 0)
		s = 0;
	return s < 60 ? ms + s : NO_ALARM;
}

/* The same within the hour starting at hs: only the minute that holds cur + 1
 * and the one after it can give the first match. */
static int64_t alarm_in_hour(int64_t hs, int am, int as, int64_t cur)
{
	if (am >= 0)
		return alarm_in_minute(hs + am * 60, as, cur);
	int64_t m0 = cur + 1 - hs;
	m0 = m0 < 0 ? 0 : m0 / 60;
	for (int64_t m = m0; m < 60 && m <= m0 + 1; m++) {
		int64_t t = alarm_in_minute(hs + m * 60, as, cur);
		if (t != NO_ALARM)
			return t;
	}
	return NO_ALARM;
}

/* First second after cur whose h:m:s matches the alarm, or NO_ALARM (the
 * alarm holds values no time has). A match recurs at least daily, so the
 * search covers today and tomorrow: at most 48 hours, two minutes each, in
 * bounded time (it runs under the RTC's lock on every access with AIE set;
 * a second-by-second search took 0.3 ms for an alarm that never matches). */
static int64_t next_alarm(const struct rtc *rtc, int64_t cur)
{
	int as = alarm_field(rtc, RTC_SEC_ALARM);
	int am = alarm_field(rtc, RTC_MIN_ALARM);
	int ah = alarm_field(rtc, RTC_HOUR_ALARM);
	if (as > 59 || am > 59 || ah > 23)
		return NO_ALARM;
	int64_t day0 = floor_div(cur, SECS_PER_DAY) * SECS_PER_DAY;

	for (int64_t d = 0; d < 2; d++) {
		for (int h = 0; h < 24; h++) {
			int64_t hs = day0 + d * SECS_PER_DAY + h * 3600;
			if ((ah >= 0 && h != ah) || hs + 3599 <= cur)
				continue;
			int64_t t = alarm_in_hour(hs, am, as, cur);
			if (t != NO_ALARM)
				return t;
		}
	}
	return NO_ALARM;
}

/* ---- periodic interrupt (MC146818A table "Periodic Interrupt Rate") ---- */

/* log2 of the period in 32.768 kHz cycles, or 0 for "none". RS 1 and 2
 * give the same rates as 8 and 9 with a 32.768 kHz time base. */
static unsigned rate_shift(uint8_t a)
{
	unsigned rs = a & RTC_A_RS_MASK;
	if (rs == 0)
		return 0;
	if (rs < 3)
		rs += 7;
	return rs - 1;
}

/* Index of the last periodic tick at or before t (tick j at base_ns + j * period). */
static int64_t tick_idx(const struct rtc *rtc, unsigned shift, int64_t t)
{
	__int128 per = (__int128)NS_PER_S << shift; /* period * 32768, in ns */
	return (int64_t)floor_div128((__int128)(t - rtc->base_ns) * RTC_TIMEBASE_HZ, per);
}

/* First integer ns at which tick j has happened. */
static int64_t tick_time(const struct rtc *rtc, unsigned shift, int64_t j)
{
	__int128 per = (__int128)NS_PER_S << shift;
	__int128 num = (__int128)j * per;
	return rtc->base_ns + (int64_t)-floor_div128(-num, RTC_TIMEBASE_HZ); /* ceil */
}

/* ---- lazy event accounting ---- */

/* Sets PF/UF/AF for every event in (checked_ns, t]. Every entry point calls
 * it before changing state, so events are judged under the state that held
 * when they happened. */
static void settle(struct rtc *rtc, int64_t t)
{
	if (t <= rtc->checked_ns)
		return;
	uint8_t a = rtc->cmos[RTC_REG_A], b = rtc->cmos[RTC_REG_B];
	if (dv_running(a)) {
		unsigned shift = rate_shift(a);
		if (shift && tick_idx(rtc, shift, t) > tick_idx(rtc, shift, rtc->checked_ns))
			rtc->flags |= RTC_C_PF;
		if (!(b & RTC_B_SET)) {
			int64_t k1 = update_idx(rtc, rtc->checked_ns), k2 = update_idx(rtc, t);
			if (k2 > k1) {
				rtc->flags |= RTC_C_UF;
				if (next_alarm(rtc, rtc->base_sec + k1) <= rtc->base_sec + k2)
					rtc->flags |= RTC_C_AF;
			}
		}
	}
	rtc->checked_ns = t;
}

static bool irqf(const struct rtc *rtc)
{
	return rtc->flags & rtc->cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF);
}

static void set_deadline(struct rtc *rtc, uint64_t deadline)
{
	if (deadline == rtc->deadline)
		return;
	rtc->deadline = deadline;
	if (deadline == RTC_NO_DEADLINE) {
		if (rtc->ops->disarm)
			rtc->ops->disarm(rtc->ctx);
	} else if (rtc->ops->arm) {
		rtc->ops->arm(rtc->ctx, deadline);
	}
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Reports IRQF on the line and arms the next event that would raise it. */
static void update_irq(struct rtc *rtc, int64_t t)
{
	bool level = irqf(rtc);
	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		if (rtc->ops->irq)
			rtc->ops->irq(rtc->ctx, level);
	}

	int64_t next = INT64_MAX;
	uint8_t a = rtc->cmos[RTC_REG_A], b = rtc->cmos[RTC_REG_B];
	if (!level && dv_running(a)) {
		unsigned shift = rate_shift(a);
		if ((b & RTC_B_PIE) && shift)
			next = tick_time(rtc, shift, tick_idx(rtc, shift, t) + 1);
		if (!(b & RTC_B_SET) && (b & RTC_B_UIE))
			next = min64(next, rtc->base_ns + (update_idx(rtc, t) + 1) * NS_PER_S);
		if (!(b & RTC_B_SET) && (b & RTC_B_AIE)) {
			int64_t s = next_alarm(rtc, clock_now(rtc, t));
			if (s != NO_ALARM)
				next = min64(next, rtc->base_ns + (s - rtc->base_sec) * NS_PER_S);
		}
	}
	if (next == INT64_MAX)
		set_deadline(rtc, RTC_NO_DEADLINE);
	else
		set_deadline(rtc, next < 1 ? 1 : (uint64_t)next); /* never 0: see rtc_timer_fired */
}

/* New status A/B values: stops or restarts the clock (see header). */
static void set_ab(struct rtc *rtc, uint8_t a, uint8_t b, int64_t t)
{
	bool was_live = live(rtc), old_run = dv_running(rtc->cmos[RTC_REG_A]);
	bool new_live = live_ab(a, b), new_run = dv_running(a);

	if (was_live && !new_live)
		encode_time(rtc, clock_now(rtc, t), rtc->cmos); /* freeze what the guest sees */
	rtc->cmos[RTC_REG_A] = a;
	rtc->cmos[RTC_REG_B] = b;
	if (!old_run && new_run)
		rtc->base_ns = t + RESTART_DELAY_NS - NS_PER_S; /* MC146818A "Divider Stages" */
	if (!was_live && new_live) {
		rtc->base_sec = decode_time(rtc);
		if (old_run) /* SET cleared: keep the divider phase */
			rtc->base_ns += update_idx(rtc, t) * NS_PER_S;
	}
}

/* Guest write of a time register while the clock runs: takes effect now,
 * the next update comes at the next boundary of the divider grid. */
static void write_time_live(struct rtc *rtc, unsigned idx, uint8_t v, int64_t t)
{
	encode_time(rtc, clock_now(rtc, t), rtc->cmos);
	rtc->cmos[idx] = v;
	rtc->base_ns += update_idx(rtc, t) * NS_PER_S;
	rtc->base_sec = decode_time(rtc);
}

static bool uip(const struct rtc *rtc, int64_t t)
{
	if (!live(rtc))
		return false;
	int64_t into = t - rtc->base_ns - update_idx(rtc, t) * NS_PER_S;
	return into >= NS_PER_S - RTC_UIP_NS;
}

static uint8_t data_read(struct rtc *rtc, int64_t t)
{
	unsigned idx = rtc->index;
	uint8_t v;

	if (idx >= RTC_NREGS)
		return 0xff;
	if (is_time_reg(idx)) {
		if (!live(rtc))
			return rtc->cmos[idx];
		uint8_t tmp[RTC_NREGS];
		encode_time(rtc, clock_now(rtc, t), tmp);
		return tmp[idx];
	}
	switch (idx) {
	case RTC_REG_A:
		return (uint8_t)((rtc->cmos[RTC_REG_A] & ~RTC_A_UIP) | (uip(rtc, t) ? RTC_A_UIP : 0));
	case RTC_REG_C:
		v = (uint8_t)(rtc->flags | (irqf(rtc) ? RTC_C_IRQF : 0));
		rtc->flags = 0; /* MC146818A "Register C": cleared by reading */
		return v;
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return rtc->cmos[idx];
	}
}

static void data_write(struct rtc *rtc, uint8_t v, int64_t t)
{
	unsigned idx = rtc->index;

	if (idx >= RTC_NREGS)
		return;
	if (is_time_reg(idx)) {
		if (live(rtc))
			write_time_live(rtc, idx, v, t);
		else
			rtc->cmos[idx] = v;
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		set_ab(rtc, v & (uint8_t)~RTC_A_UIP, rtc->cmos[RTC_REG_B], t);
		break;
	case RTC_REG_B:
		if (v & RTC_B_SET)
			v &= (uint8_t)~RTC_B_UIE; /* DS12887: SET clears UIE */
		set_ab(rtc, rtc->cmos[RTC_REG_A], v, t);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		rtc->cmos[idx] = v;
		break;
	}
}

int rtc_init(struct rtc *rtc, const struct rtc_ops *ops, void *ctx)
{
	if (!ops || !ops->now_ns || !ops->wall_s)
		return -EINVAL;
	memset(rtc, 0, sizeof(*rtc));
	int err = pthread_mutex_init(&rtc->lock, NULL);
	if (err)
		return -err;
	rtc->ops = ops;
	rtc->ctx = ctx;
	rtc->cmos[RTC_REG_A] = RTC_A_DEFAULT;
	rtc->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	rtc->cmos[RTC_REG_D] = RTC_D_VRT;
	rtc->base_ns = now(rtc);
	rtc->base_sec = ops->wall_s(ctx);
	rtc->checked_ns = rtc->base_ns;
	rtc->deadline = RTC_NO_DEADLINE;
	return 0;
}

void rtc_destroy(struct rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

void rtc_reset(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	int64_t t = now(rtc);
	settle(rtc, t);
	rtc->cmos[RTC_REG_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
	rtc->flags = 0;
	rtc->index = 0;
	rtc->nmi_masked = false;
	update_irq(rtc, t);
	pthread_mutex_unlock(&rtc->lock);
}

uint8_t rtc_read(struct rtc *rtc, unsigned offset)
{
	if (offset != RTC_REG_DATA)
		return 0xff; /* the index port is write-only; offsets >= 2 decode nothing */
	pthread_mutex_lock(&rtc->lock);
	int64_t t = now(rtc);
	settle(rtc, t);
	uint8_t v = data_read(rtc, t);
	update_irq(rtc, t);
	pthread_mutex_unlock(&rtc->lock);
	return v;
}

void rtc_write(struct rtc *rtc, unsigned offset, uint8_t value)
{
	if (offset >= RTC_NPORTS)
		return;
	pthread_mutex_lock(&rtc->lock);
	if (offset == RTC_REG_INDEX) {
		rtc->index = value & RTC_INDEX_MASK;
		rtc->nmi_masked = value & RTC_INDEX_NMI_MASK;
	} else {
		int64_t t = now(rtc);
		settle(rtc, t);
		data_write(rtc, value, t);
		update_irq(rtc, t);
	}
	pthread_mutex_unlock(&rtc->lock);
}

bool rtc_nmi_masked(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	bool m = rtc->nmi_masked;
	pthread_mutex_unlock(&rtc->lock);
	return m;
}

int rtc_cmos_set(struct rtc *rtc, unsigned index, uint8_t value)
{
	if (index < RTC_RAM_FIRST || index >= RTC_NREGS || index == RTC_CENTURY)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	rtc->cmos[index] = value;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

void rtc_timer_fired(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	int64_t t = now(rtc);
	/* The timer is consumed; 0 is never a real deadline (events lie after
	 * base_ns >= 0), so update_irq() is sure to call arm or disarm. */
	rtc->deadline = 0;
	settle(rtc, t);
	update_irq(rtc, t);
	pthread_mutex_unlock(&rtc->lock);
}

/* --- port I/O bus handlers --- */

BUS_BYTE_REGS_HANDLER(rtc_pio, struct rtc, rtc_read, rtc_write)
