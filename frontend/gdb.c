/* gdb.c: the GDB remote serial protocol over one connection (frontend/gdb.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend/gdb.h"

#define GDB_MAX_THREADS 1024

/* SDM encoding order of struct gdb_regs.gpr. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

/* One register as GDB numbers it: where it lives in struct gdb_regs. */
struct reg_desc {
	const char *name;
	unsigned bits;
	const char *type; /* target description type */
	size_t off;       /* offset in struct gdb_regs */
	const char *feature;
};

#define R(n, b, t, field, f) {n, b, t, offsetof(struct gdb_regs, field), f}
#define CORE "core"
#define SSE "sse"
#define SEGS "segments"

/* The registers both sets share, in the same places relative to each other:
 * the selectors (after eflags), the x87 state and xmm0-7 (after the selectors). */
#define SEGMENT_REGS                                                                            \
	R("cs", 32, "int32", seg[0], CORE), R("ss", 32, "int32", seg[1], CORE),                 \
	R("ds", 32, "int32", seg[2], CORE), R("es", 32, "int32", seg[3], CORE),                 \
	R("fs", 32, "int32", seg[4], CORE), R("gs", 32, "int32", seg[5], CORE)
#define ST(i) R("st" #i, 80, "i387_ext", st[i], CORE)
#define XMM(i) R("xmm" #i, 128, "vec128", xmm[i], SSE)
#define X87_XMM0_7                                                                              \
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7), R("fctrl", 32, "int", fctrl, CORE), \
	R("fstat", 32, "int", fstat, CORE), R("ftag", 32, "int", ftag, CORE),                    \
	R("fiseg", 32, "int", fiseg, CORE), R("fioff", 32, "int", fioff, CORE),                  \
	R("foseg", 32, "int", foseg, CORE), R("fooff", 32, "int", fooff, CORE),                  \
	R("fop", 32, "int", fop, CORE), XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7)

/* G.5.1 "i386 Features", amd64: 64bit-core.xml, 64bit-sse.xml, 64bit-segments.xml. */
static const struct reg_desc amd64_regs[] = {
	R("rax", 64, "int64", gpr[RAX], CORE), R("rbx", 64, "int64", gpr[RBX], CORE),
	R("rcx", 64, "int64", gpr[RCX], CORE), R("rdx", 64, "int64", gpr[RDX], CORE),
	R("rsi", 64, "int64", gpr[RSI], CORE), R("rdi", 64, "int64", gpr[RDI], CORE),
	R("rbp", 64, "data_ptr", gpr[RBP], CORE), R("rsp", 64, "data_ptr", gpr[RSP], CORE),
	R("r8", 64, "int64", gpr[8], CORE), R("r9", 64, "int64", gpr[9], CORE),
	R("r10", 64, "int64", gpr[10], CORE), R("r11", 64, "int64", gpr[11], CORE),
	R("r12", 64, "int64", gpr[12], CORE), R("r13", 64, "int64", gpr[13], CORE),
	R("r14", 64, "int64", gpr[14], CORE), R("r15", 64, "int64", gpr[15], CORE),
	R("rip", 64, "code_ptr", rip, CORE), R("eflags", 32, "i386_eflags", eflags, CORE),
	SEGMENT_REGS,
	X87_XMM0_7,
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	R("mxcsr", 32, "i386_mxcsr", mxcsr, SSE),
	R("fs_base", 64, "int", fs_base, SEGS), R("gs_base", 64, "int", gs_base, SEGS),
};

/* i386: 32bit-core.xml, 32bit-sse.xml (the low halves of the same fields). */
static const struct reg_desc i386_regs[] = {
	R("eax", 32, "int32", gpr[RAX], CORE), R("ecx", 32, "int32", gpr[RCX], CORE),
	R("edx", 32, "int32", gpr[RDX], CORE), R("ebx", 32, "int32", gpr[RBX], CORE),
	R("esp", 32, "data_ptr", gpr[RSP], CORE), R("ebp", 32, "data_ptr", gpr[RBP], CORE),
	R("esi", 32, "int32", gpr[RSI], CORE), R("edi", 32, "int32", gpr[RDI], CORE),
	R("eip", 32, "code_ptr", rip, CORE), R("eflags", 32, "i386_eflags", eflags, CORE),
	SEGMENT_REGS,
	X87_XMM0_7,
	R("mxcsr", 32, "i386_mxcsr", mxcsr, SSE),
};
#undef R
#undef ST
#undef XMM

static const struct reg_desc *regs_of(const struct gdb_stub *s, unsigned *n)
{
	*n = s->x86_64 ? sizeof(amd64_regs) / sizeof(amd64_regs[0]) : sizeof(i386_regs) / sizeof(i386_regs[0]);
	return s->x86_64 ? amd64_regs : i386_regs;
}

/* The types the i386 features use beyond GDB's predefined ones (G.4: i387_ext
 * is predefined; the flags and the vector union are defined as GDB's own
 * 32bit-core.xml / 32bit-sse.xml define them). */
static const char core_types[] =
	"<flags id=\"i386_eflags\" size=\"4\"><field name=\"CF\" start=\"0\" end=\"0\"/>"
	"<field name=\"\" start=\"1\" end=\"1\"/><field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/><field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/><field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/><field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/><field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/><field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/><field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/><field name=\"ID\" start=\"21\" end=\"21\"/></flags>";
static const char sse_types[] =
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
	"<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
	"<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
	"<field name=\"uint128\" type=\"uint128\"/></union>"
	"<flags id=\"i386_mxcsr\" size=\"4\"><field name=\"IE\" start=\"0\" end=\"0\"/>"
	"<field name=\"DE\" start=\"1\" end=\"1\"/><field name=\"ZE\" start=\"2\" end=\"2\"/>"
	"<field name=\"OE\" start=\"3\" end=\"3\"/><field name=\"UE\" start=\"4\" end=\"4\"/>"
	"<field name=\"PE\" start=\"5\" end=\"5\"/><field name=\"DAZ\" start=\"6\" end=\"6\"/>"
	"<field name=\"IM\" start=\"7\" end=\"7\"/><field name=\"DM\" start=\"8\" end=\"8\"/>"
	"<field name=\"ZM\" start=\"9\" end=\"9\"/><field name=\"OM\" start=\"10\" end=\"10\"/>"
	"<field name=\"UM\" start=\"11\" end=\"11\"/><field name=\"PM\" start=\"12\" end=\"12\"/>"
	"<field name=\"FZ\" start=\"15\" end=\"15\"/></flags>";

/* The target description (G.2 format, G.5.1): the features by name, their
 * registers in g-packet order, the types they use. */
static size_t target_xml(const struct gdb_stub *s, char *buf, size_t len)
{
	unsigned n;
	const struct reg_desc *r = regs_of(s, &n);
	static const char *const features[] = {CORE, SSE, SEGS};
	size_t k = (size_t)snprintf(buf, len,
				    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
				    "<target version=\"1.0\"><architecture>%s</architecture>",
				    s->x86_64 ? "i386:x86-64" : "i386");
	unsigned regnum = 0;
	for (unsigned f = 0; f < 3; f++) {
		bool open = false;
		for (unsigned i = 0; i < n && k < len; i++) {
			if (strcmp(r[i].feature, features[f]))
				continue;
			if (!open)
				k += (size_t)snprintf(buf + k, len - k, "<feature name=\"org.gnu.gdb.i386.%s\">%s", features[f],
						      f == 0 ? core_types : f == 1 ? sse_types : "");
			open = true;
			k += (size_t)snprintf(buf + k, len - k, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"/>",
					      r[i].name, r[i].bits, r[i].type, regnum++);
		}
		if (open && k < len)
			k += (size_t)snprintf(buf + k, len - k, "</feature>");
	}
	if (k < len)
		k += (size_t)snprintf(buf + k, len - k, "</target>");
	return k < len ? k : len;
}

int gdb_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *ctx, bool x86_64)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->ctx = ctx;
	s->x86_64 = x86_64;
	s->fd = -1;
	s->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->event_fd < 0)
		return -errno;
	return -pthread_mutex_init(&s->lock, NULL);
}

void gdb_destroy(struct gdb_stub *s)
{
	if (s->event_fd >= 0)
		close(s->event_fd);
	s->event_fd = -1;
	pthread_mutex_destroy(&s->lock);
}

void gdb_stopped(struct gdb_stub *s, const struct gdb_stop *st)
{
	pthread_mutex_lock(&s->lock);
	s->stop = *st;
	s->stop_pending = true;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	if (write(s->event_fd, &one, sizeof(one)) < 0) {
		/* an eventfd cannot overflow here */
	}
}

/* ---- bytes on the wire ---- */

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* One byte from the connection; -1 when it closed. */
static int get_byte(struct gdb_stub *s)
{
	unsigned char c;
	for (;;) {
		ssize_t r = read(s->fd, &c, 1);
		if (r == 1)
			return c;
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char hexdig[] = "0123456789abcdef";

/* Sends $payload#cs (RSP E.1) and, unless in no-ack mode, waits for '+'
 * (a '-' resends). false when the connection is gone. */
static bool put_packet(struct gdb_stub *s, const char *payload, size_t n)
{
	char frame[2 * GDB_PACKET_MAX + 16];
	if (n > sizeof(frame) - 4)
		n = sizeof(frame) - 4;
	unsigned char sum = 0;
	frame[0] = '$';
	for (size_t i = 0; i < n; i++) {
		frame[1 + i] = payload[i];
		sum = (unsigned char)(sum + (unsigned char)payload[i]);
	}
	frame[1 + n] = '#';
	frame[2 + n] = hexdig[sum >> 4];
	frame[3 + n] = hexdig[sum & 15];
	for (int tries = 0; tries < 8; tries++) {
		if (!send_all(s->fd, frame, n + 4))
			return false;
		if (s->noack)
			return true;
		int c;
		do
			c = get_byte(s);
		while (c >= 0 && c != '+' && c != '-');
		if (c < 0)
			return false;
		if (c == '+')
			return true;
	}
	return false;
}

static bool reply(struct gdb_stub *s, const char *str)
{
	return put_packet(s, str, strlen(str));
}

/* Reads the next packet into s->in (NUL-terminated); 0x03 outside a packet
 * comes back as the one-byte packet "\x03". -1 when the connection closed. */
static int get_packet(struct gdb_stub *s)
{
	for (;;) {
		int c = get_byte(s);
		if (c < 0)
			return -1;
		if (c == 0x03) {
			s->in[0] = 0x03;
			s->in[1] = 0;
			return 1;
		}
		if (c != '$')
			continue; /* acks and noise between packets */
		size_t n = 0;
		unsigned char sum = 0;
		bool overflow = false;
		while ((c = get_byte(s)) >= 0 && c != '#') {
			sum = (unsigned char)(sum + c);
			if (n < GDB_PACKET_MAX)
				s->in[n++] = (char)c;
			else
				overflow = true;
		}
		int h = c < 0 ? -1 : hexval(get_byte(s)), l = c < 0 ? -1 : hexval(get_byte(s));
		if (c < 0 || h < 0 || l < 0)
			return -1;
		bool good = !overflow && ((h << 4) | l) == sum;
		if (!s->noack && !send_all(s->fd, good ? "+" : "-", 1))
			return -1;
		if (!good)
			continue;
		s->in[n] = 0;
		return (int)n;
	}
}

/* ---- helpers ---- */

static char *put_hex(char *p, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*p++ = hexdig[b[i] >> 4];
		*p++ = hexdig[b[i] & 15];
	}
	*p = 0;
	return p;
}

/* n bytes from hex text; false on a bad digit or short text. */
static bool get_hex(const char *p, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int h = hexval(p[2 * i]), l = h < 0 ? -1 : hexval(p[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		b[i] = (uint8_t)(h << 4 | l);
	}
	return true;
}

/* A hex number; *end after it. false when there is none. */
static bool parse_num(const char *p, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *q = p;
	for (int d; (d = hexval(*q)) >= 0; q++) {
		if (x >> 60)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	if (q == p)
		return false;
	*v = x;
	*end = q;
	return true;
}

/* A thread id (RSP "thread-id": hex, -1 all, 0 any) -> vCPU; -1 all, -2 any. */
static bool parse_thread(const char *p, int64_t *vcpu, const char **end)
{
	uint64_t v;
	if (p[0] == '-' && p[1] == '1') {
		*vcpu = -1;
		*end = p + 2;
		return true;
	}
	if (!parse_num(p, &v, end))
		return false;
	*vcpu = v == 0 ? -2 : (int64_t)v - 1;
	return true;
}

static unsigned list_threads(struct gdb_stub *s, uint32_t *ids)
{
	unsigned n = s->ops->threads(s->ctx, ids, GDB_MAX_THREADS);
	return n > GDB_MAX_THREADS ? GDB_MAX_THREADS : n;
}

static bool thread_exists(struct gdb_stub *s, uint32_t vcpu)
{
	uint32_t ids[GDB_MAX_THREADS];
	unsigned n = list_threads(s, ids);
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == vcpu)
			return true;
	return false;
}

/* ---- stop replies (RSP E.3) ---- */

static bool send_stop(struct gdb_stub *s, const struct gdb_stop *st)
{
	char buf[96];
	static const char *const wname[] = {[GDB_WP_WRITE] = "watch", [GDB_WP_READ] = "rwatch", [GDB_WP_ACCESS] = "awatch"};
	s->g_vcpu = st->vcpu;
	switch (st->reason) {
	case GDB_STOP_EXITED:
		snprintf(buf, sizeof(buf), "W%02x", st->code & 0xff);
		break;
	case GDB_STOP_INTERRUPT:
		snprintf(buf, sizeof(buf), "T02thread:%x;", st->vcpu + 1);
		break;
	case GDB_STOP_SWBREAK:
		snprintf(buf, sizeof(buf), "T05thread:%x;swbreak:;", st->vcpu + 1);
		break;
	case GDB_STOP_HWBREAK:
		snprintf(buf, sizeof(buf), "T05thread:%x;hwbreak:;", st->vcpu + 1);
		break;
	case GDB_STOP_WATCH:
		snprintf(buf, sizeof(buf), "T05thread:%x;%s:%llx;", st->vcpu + 1,
			 st->wtype >= GDB_WP_WRITE && st->wtype <= GDB_WP_ACCESS ? wname[st->wtype] : "watch",
			 (unsigned long long)st->addr);
		break;
	default:
		snprintf(buf, sizeof(buf), "T05thread:%x;", st->vcpu + 1);
		break;
	}
	return reply(s, buf);
}

/* Waits while the guest runs: for the target's stop, or Ctrl-C from GDB
 * (which asks the target to stop; its report follows). false when the
 * connection closed. */
static bool wait_stop(struct gdb_stub *s, struct gdb_stop *st)
{
	bool asked = false;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool have = s->stop_pending;
		if (have) {
			*st = s->stop;
			s->stop_pending = false;
		}
		pthread_mutex_unlock(&s->lock);
		if (have) {
			uint64_t v;
			if (read(s->event_fd, &v, sizeof(v)) < 0) {
				/* already drained */
			}
			return true;
		}
		struct pollfd pf[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->event_fd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int c = get_byte(s);
			if (c < 0)
				return false;
			if (c == 0x03 && !asked) {
				asked = true;
				s->ops->stop(s->ctx);
			}
			/* anything else while running (a stray ack) is ignored */
		}
	}
}

/* ---- commands ---- */

static size_t regs_to_hex(struct gdb_stub *s, const struct gdb_regs *r, char *out)
{
	unsigned n;
	const struct reg_desc *d = regs_of(s, &n);
	char *p = out;
	for (unsigned i = 0; i < n; i++)
		p = put_hex(p, (const uint8_t *)r + d[i].off, d[i].bits / 8);
	return (size_t)(p - out);
}

static void cmd_read_regs(struct gdb_stub *s)
{
	struct gdb_regs r;
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		reply(s, "E01");
		return;
	}
	put_packet(s, s->out, regs_to_hex(s, &r, s->out));
}

static void cmd_write_regs(struct gdb_stub *s, const char *hex)
{
	unsigned n;
	const struct reg_desc *d = regs_of(s, &n);
	struct gdb_regs r;
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		reply(s, "E01");
		return;
	}
	for (unsigned i = 0; i < n && *hex; i++) {
		size_t b = d[i].bits / 8;
		if (strlen(hex) < 2 * b || !get_hex(hex, (uint8_t *)&r + d[i].off, b)) {
			reply(s, "E02");
			return;
		}
		hex += 2 * b;
	}
	reply(s, s->ops->set_regs(s->ctx, s->g_vcpu, &r) < 0 ? "E01" : "OK");
}

/* p n / P n=value */
static void cmd_one_reg(struct gdb_stub *s, const char *arg, bool write)
{
	unsigned n;
	const struct reg_desc *d = regs_of(s, &n);
	uint64_t num;
	const char *end;
	struct gdb_regs r;
	if (!parse_num(arg, &num, &end) || (write && *end != '=')) {
		reply(s, "E02");
		return;
	}
	if (num >= n) {
		reply(s, write ? "E02" : ""); /* RSP: an unknown register reads as "not supported" */
		return;
	}
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		reply(s, "E01");
		return;
	}
	size_t b = d[num].bits / 8;
	uint8_t *field = (uint8_t *)&r + d[num].off;
	if (!write) {
		put_packet(s, s->out, (size_t)(put_hex(s->out, field, b) - s->out));
		return;
	}
	if (strlen(end + 1) != 2 * b || !get_hex(end + 1, field, b)) {
		reply(s, "E02");
		return;
	}
	reply(s, s->ops->set_regs(s->ctx, s->g_vcpu, &r) < 0 ? "E01" : "OK");
}

/* "addr,len" */
static bool parse_addr_len(const char *p, uint64_t *addr, uint64_t *len, const char **end)
{
	return parse_num(p, addr, &p) && *p == ',' && parse_num(p + 1, len, end);
}

static void cmd_read_mem(struct gdb_stub *s, const char *arg)
{
	uint64_t addr, len;
	const char *end;
	if (!parse_addr_len(arg, &addr, &len, &end) || *end) {
		reply(s, "E02");
		return;
	}
	if (len > GDB_PACKET_MAX / 2)
		len = GDB_PACKET_MAX / 2;
	int got = s->ops->read_mem(s->ctx, s->g_vcpu, addr, s->scratch, (size_t)len);
	if (got <= 0 && len) {
		reply(s, "E14"); /* EFAULT: GDB prints "Cannot access memory" */
		return;
	}
	put_packet(s, s->out, (size_t)(put_hex(s->out, s->scratch, (size_t)got) - s->out));
}

/* M addr,len:hex   X addr,len:binary (RSP E.1: 0x7d escapes, xor 0x20) */
static void cmd_write_mem(struct gdb_stub *s, const char *arg, size_t arglen, bool binary)
{
	uint64_t addr, len;
	const char *end;
	if (!parse_addr_len(arg, &addr, &len, &end) || *end != ':' || len > sizeof(s->scratch)) {
		reply(s, "E02");
		return;
	}
	const char *data = end + 1, *stop = arg + arglen;
	if (binary) {
		size_t k = 0;
		for (const char *q = data; q < stop && k < len; q++) {
			uint8_t c = (uint8_t)*q;
			if (c == 0x7d && q + 1 < stop)
				c = (uint8_t)(*++q ^ 0x20);
			s->scratch[k++] = c;
		}
		if (k != len) {
			reply(s, "E02");
			return;
		}
	} else if ((size_t)(stop - data) != 2 * len || !get_hex(data, s->scratch, (size_t)len)) {
		reply(s, "E02");
		return;
	}
	if (len == 0) {
		reply(s, "OK"); /* X addr,0: GDB probing for X support */
		return;
	}
	int r = s->ops->write_mem(s->ctx, s->g_vcpu, addr, s->scratch, (size_t)len);
	reply(s, r == (int)len ? "OK" : "E14");
}

/* Z/z type,addr,kind */
static void cmd_breakpoint(struct gdb_stub *s, const char *arg, bool insert)
{
	uint64_t type, addr, kind;
	const char *end;
	if (!parse_num(arg, &type, &end) || *end != ',' || !parse_addr_len(end + 1, &addr, &kind, &end) || type > 4) {
		reply(s, type > 4 ? "" : "E02");
		return;
	}
	int r = s->ops->breakpoint(s->ctx, (enum gdb_bp_type)type, addr, (unsigned)kind, insert);
	reply(s, r == -ENOTSUP ? "" : r < 0 ? "E0e" : "OK");
}

/* Resumes per the action of each thread; returns after the stop reply (or
 * false when the connection closed or the VM ended). */
static bool resume(struct gdb_stub *s, enum gdb_action def, int64_t only, enum gdb_action only_act,
		   const char *vcont, struct gdb_stop *st)
{
	uint32_t ids[GDB_MAX_THREADS];
	enum gdb_action act[GDB_MAX_THREADS];
	unsigned n = list_threads(s, ids);
	for (unsigned i = 0; i < n; i++)
		act[i] = GDB_STAY;
	if (vcont) {
		/* vCont;action[:thread];action...: the first action that names a thread wins. */
		while (*vcont == ';') {
			vcont++;
			enum gdb_action a = (*vcont == 's' || *vcont == 'S') ? GDB_STEP
					    : (*vcont == 'c' || *vcont == 'C') ? GDB_CONTINUE
									       : GDB_STAY;
			if (*vcont == 'C' || *vcont == 'S') /* a signal number: hyve injects none */
				while (hexval(vcont[1]) >= 0)
					vcont++;
			vcont++;
			int64_t t = -1;
			const char *end;
			if (*vcont == ':' && parse_thread(vcont + 1, &t, &end))
				vcont = end;
			for (unsigned i = 0; i < n; i++)
				if (act[i] == GDB_STAY && (t < 0 || ids[i] == (uint32_t)t))
					act[i] = a;
			while (*vcont && *vcont != ';')
				vcont++;
		}
	} else {
		for (unsigned i = 0; i < n; i++)
			act[i] = (only >= 0 && ids[i] == (uint32_t)only) ? only_act : def;
	}
	s->running = true;
	s->ops->resume(s->ctx, ids, act, n);
	if (!wait_stop(s, st))
		return false;
	s->running = false;
	return send_stop(s, st) && st->reason != GDB_STOP_EXITED;
}

static void cmd_query(struct gdb_stub *s, const char *q)
{
	if (!strncmp(q, "qSupported", 10)) {
		char buf[160];
		snprintf(buf, sizeof(buf),
			 "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+",
			 GDB_PACKET_MAX);
		reply(s, buf);
	} else if (!strncmp(q, "qXfer:features:read:target.xml:", 31)) {
		uint64_t off, len;
		const char *end;
		char xml[8192];
		size_t n = target_xml(s, xml, sizeof(xml));
		if (!parse_addr_len(q + 31, &off, &len, &end)) {
			reply(s, "E02");
			return;
		}
		if (len > GDB_PACKET_MAX - 1)
			len = GDB_PACKET_MAX - 1;
		size_t k = off < n ? n - (size_t)off : 0;
		if (k > len)
			k = (size_t)len;
		/* RSP: "m" more follows, "l" last; XML has no byte to escape. */
		s->out[0] = off + k < n ? 'm' : 'l';
		memcpy(s->out + 1, xml + (off < n ? off : n), k);
		put_packet(s, s->out, k + 1);
	} else if (!strncmp(q, "qXfer:features:read:", 20)) {
		reply(s, "E00"); /* only target.xml exists */
	} else if (!strcmp(q, "qfThreadInfo")) {
		uint32_t ids[GDB_MAX_THREADS];
		unsigned n = list_threads(s, ids);
		size_t k = 0;
		s->out[k++] = 'm';
		for (unsigned i = 0; i < n && k + 12 < sizeof(s->out); i++)
			k += (size_t)snprintf(s->out + k, sizeof(s->out) - k, i ? ",%x" : "%x", ids[i] + 1);
		put_packet(s, s->out, k);
	} else if (!strcmp(q, "qsThreadInfo")) {
		reply(s, "l");
	} else if (!strcmp(q, "qC")) {
		char buf[24];
		snprintf(buf, sizeof(buf), "QC%x", s->g_vcpu + 1);
		reply(s, buf);
	} else if (!strncmp(q, "qAttached", 9)) {
		reply(s, "1"); /* detaching leaves the VM running, not killed */
	} else if (!strncmp(q, "qThreadExtraInfo,", 17)) {
		uint64_t t;
		const char *end;
		char txt[32];
		if (!parse_num(q + 17, &t, &end) || t == 0) {
			reply(s, "E02");
			return;
		}
		int l = snprintf(txt, sizeof(txt), "vCPU %llu", (unsigned long long)t - 1);
		put_packet(s, s->out, (size_t)(put_hex(s->out, (const uint8_t *)txt, (size_t)l) - s->out));
	} else if (!strcmp(q, "QStartNoAckMode")) {
		reply(s, "OK");
		s->noack = true;
	} else {
		reply(s, ""); /* qSymbol, qTStatus, ...: not supported */
	}
}

int gdb_serve(struct gdb_stub *s, int fd, bool stopped)
{
	s->fd = fd;
	s->noack = false;
	s->running = !stopped;
	uint32_t ids[GDB_MAX_THREADS];
	s->g_vcpu = list_threads(s, ids) ? ids[0] : 0;
	struct gdb_stop last = {.reason = GDB_STOP_INTERRUPT, .vcpu = s->g_vcpu};
	if (!stopped) {
		/* GDB's first "?" wants a stop reply: stop the guest now (as QEMU does on attach). */
		s->ops->stop(s->ctx);
		if (!wait_stop(s, &last))
			return 0;
		s->g_vcpu = last.vcpu;
		s->running = false;
	}
	for (;;) {
		int n = get_packet(s);
		if (n < 0)
			break;
		const char *p = s->in;
		switch (p[0]) {
		case 0x03:
			break; /* Ctrl-C while already stopped: nothing to do */
		case '?':
			send_stop(s, &last);
			break;
		case 'g':
			cmd_read_regs(s);
			break;
		case 'G':
			cmd_write_regs(s, p + 1);
			break;
		case 'p':
			cmd_one_reg(s, p + 1, false);
			break;
		case 'P':
			cmd_one_reg(s, p + 1, true);
			break;
		case 'm':
			cmd_read_mem(s, p + 1);
			break;
		case 'M':
			cmd_write_mem(s, p + 1, (size_t)n - 1, false);
			break;
		case 'X':
			cmd_write_mem(s, p + 1, (size_t)n - 1, true);
			break;
		case 'Z':
		case 'z':
			cmd_breakpoint(s, p + 1, p[0] == 'Z');
			break;
		case 'H': {
			int64_t t;
			const char *end;
			if ((p[1] != 'g' && p[1] != 'c') || !parse_thread(p + 2, &t, &end)) {
				reply(s, "E02");
				break;
			}
			if (p[1] == 'g' && t >= 0) {
				if (!thread_exists(s, (uint32_t)t)) {
					reply(s, "E01");
					break;
				}
				s->g_vcpu = (uint32_t)t;
			}
			reply(s, "OK"); /* Hc: the actions of c/s name their threads through vCont */
			break;
		}
		case 'T': {
			int64_t t;
			const char *end;
			reply(s, parse_thread(p + 1, &t, &end) && t >= 0 && thread_exists(s, (uint32_t)t) ? "OK" : "E01");
			break;
		}
		case 'c':
		case 's': {
			if (p[1]) { /* c addr: resume at addr */
				uint64_t a;
				const char *end;
				struct gdb_regs r;
				if (parse_num(p + 1, &a, &end) && s->ops->get_regs(s->ctx, s->g_vcpu, &r) == 0) {
					r.rip = a;
					s->ops->set_regs(s->ctx, s->g_vcpu, &r);
				}
			}
			/* s steps the current thread; the others stay stopped (GDB's scheduler-locking off
			 * sends vCont instead). c resumes everything. */
			if (!resume(s, p[0] == 's' ? GDB_STAY : GDB_CONTINUE, (int64_t)s->g_vcpu,
				    p[0] == 's' ? GDB_STEP : GDB_CONTINUE, NULL, &last))
				goto out;
			break;
		}
		case 'v':
			if (!strcmp(p, "vCont?")) {
				reply(s, "vCont;c;C;s;S");
			} else if (!strncmp(p, "vCont;", 6)) {
				if (!resume(s, GDB_STAY, -1, GDB_STAY, p + 5, &last))
					goto out;
			} else {
				reply(s, ""); /* vMustReplyEmpty, vKill, vFile...: not supported */
			}
			break;
		case 'q':
		case 'Q':
			cmd_query(s, p);
			break;
		case 'D':
			reply(s, "OK");
			s->ops->detach(s->ctx);
			s->fd = -1;
			return 0;
		case 'k':
			s->ops->kill(s->ctx);
			s->fd = -1;
			return 1;
		default:
			reply(s, "");
			break;
		}
	}
out:
	/* The connection closed (or the VM ended): let the guest go on. */
	if (!s->running)
		s->ops->detach(s->ctx);
	s->fd = -1;
	return 0;
}
