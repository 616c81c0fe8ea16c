/* gdb_cmd.c: the GDB stub's commands and stop replies (frontend/gdb.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/gdb_int.h"
#include "frontend/gdb_regs.h"

/* ---- stop replies (RSP E.3) ---- */

bool gdb_send_stop(struct gdb_stub *s, const struct gdb_stop *st)
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
	return gdb_reply(s, buf);
}

/* Waits while the guest runs: for the target's stop, or Ctrl-C from GDB
 * (which asks the target to stop; its report follows). false when the
 * connection closed. */
bool gdb_wait_stop(struct gdb_stub *s, struct gdb_stop *st)
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
			int c = gdb_get_byte(s);
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
	const struct gdb_reg_desc *d = gdb_reg_table(s->x86_64, &n);
	char *p = out;
	for (unsigned i = 0; i < n; i++)
		p = gdb_put_hex(p, (const uint8_t *)r + d[i].off, d[i].bits / 8);
	return (size_t)(p - out);
}

void gdb_cmd_read_regs(struct gdb_stub *s)
{
	struct gdb_regs r;
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		gdb_reply(s, "E01");
		return;
	}
	gdb_put_packet(s, s->out, regs_to_hex(s, &r, s->out));
}

void gdb_cmd_write_regs(struct gdb_stub *s, const char *hex)
{
	unsigned n;
	const struct gdb_reg_desc *d = gdb_reg_table(s->x86_64, &n);
	struct gdb_regs r;
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		gdb_reply(s, "E01");
		return;
	}
	for (unsigned i = 0; i < n && *hex; i++) {
		size_t b = d[i].bits / 8;
		if (strlen(hex) < 2 * b || !gdb_get_hex(hex, (uint8_t *)&r + d[i].off, b)) {
			gdb_reply(s, "E02");
			return;
		}
		hex += 2 * b;
	}
	gdb_reply(s, s->ops->set_regs(s->ctx, s->g_vcpu, &r) < 0 ? "E01" : "OK");
}

/* p n / P n=value */
void gdb_cmd_one_reg(struct gdb_stub *s, const char *arg, bool write)
{
	unsigned n;
	const struct gdb_reg_desc *d = gdb_reg_table(s->x86_64, &n);
	uint64_t num;
	const char *end;
	struct gdb_regs r;
	if (!gdb_parse_num(arg, &num, &end) || (write && *end != '=')) {
		gdb_reply(s, "E02");
		return;
	}
	if (num >= n) {
		gdb_reply(s, write ? "E02" : ""); /* RSP: an unknown register reads as "not supported" */
		return;
	}
	if (s->ops->get_regs(s->ctx, s->g_vcpu, &r) < 0) {
		gdb_reply(s, "E01");
		return;
	}
	size_t b = d[num].bits / 8;
	uint8_t *field = (uint8_t *)&r + d[num].off;
	if (!write) {
		gdb_put_packet(s, s->out, (size_t)(gdb_put_hex(s->out, field, b) - s->out));
		return;
	}
	if (strlen(end + 1) != 2 * b || !gdb_get_hex(end + 1, field, b)) {
		gdb_reply(s, "E02");
		return;
	}
	gdb_reply(s, s->ops->set_regs(s->ctx, s->g_vcpu, &r) < 0 ? "E01" : "OK");
}

/* "addr,len" */
static bool parse_addr_len(const char *p, uint64_t *addr, uint64_t *len, const char **end)
{
	return gdb_parse_num(p, addr, &p) && *p == ',' && gdb_parse_num(p + 1, len, end);
}

void gdb_cmd_read_mem(struct gdb_stub *s, const char *arg)
{
	uint64_t addr, len;
	const char *end;
	if (!parse_addr_len(arg, &addr, &len, &end) || *end) {
		gdb_reply(s, "E02");
		return;
	}
	if (len > GDB_PACKET_MAX / 2)
		len = GDB_PACKET_MAX / 2;
	int got = s->ops->read_mem(s->ctx, s->g_vcpu, addr, s->scratch, (size_t)len);
	if (got <= 0 && len) {
		gdb_reply(s, "E14"); /* EFAULT: GDB prints "Cannot access memory" */
		return;
	}
	gdb_put_packet(s, s->out, (size_t)(gdb_put_hex(s->out, s->scratch, (size_t)got) - s->out));
}

/* M addr,len:hex   X addr,len:binary (RSP E.1: 0x7d escapes, xor 0x20) */
void gdb_cmd_write_mem(struct gdb_stub *s, const char *arg, size_t arglen, bool binary)
{
	uint64_t addr, len;
	const char *end;
	if (!parse_addr_len(arg, &addr, &len, &end) || *end != ':' || len > sizeof(s->scratch)) {
		gdb_reply(s, "E02");
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
			gdb_reply(s, "E02");
			return;
		}
	} else if ((size_t)(stop - data) != 2 * len || !gdb_get_hex(data, s->scratch, (size_t)len)) {
		gdb_reply(s, "E02");
		return;
	}
	if (len == 0) {
		gdb_reply(s, "OK"); /* X addr,0: GDB probing for X support */
		return;
	}
	int r = s->ops->write_mem(s->ctx, s->g_vcpu, addr, s->scratch, (size_t)len);
	gdb_reply(s, r == (int)len ? "OK" : "E14");
}

/* Z/z type,addr,kind */
void gdb_cmd_breakpoint(struct gdb_stub *s, const char *arg, bool insert)
{
	uint64_t type, addr, kind;
	const char *end;
	if (!gdb_parse_num(arg, &type, &end) || *end != ',' || !parse_addr_len(end + 1, &addr, &kind, &end) || type > 4) {
		gdb_reply(s, type > 4 ? "" : "E02");
		return;
	}
	int r = s->ops->breakpoint(s->ctx, (enum gdb_bp_type)type, addr, (unsigned)kind, insert);
	gdb_reply(s, r == -ENOTSUP ? "" : r < 0 ? "E0e" : "OK");
}

/* Resumes per the action of each thread; returns after the stop reply (or
 * false when the connection closed or the VM ended). */
bool gdb_resume(struct gdb_stub *s, enum gdb_action def, int64_t only, enum gdb_action only_act,
		   const char *vcont, struct gdb_stop *st)
{
	uint32_t ids[GDB_MAX_THREADS];
	enum gdb_action act[GDB_MAX_THREADS];
	unsigned n = gdb_list_threads(s, ids);
	enum gdb_action others = def;
	for (unsigned i = 0; i < n; i++)
		act[i] = GDB_STAY;
	if (vcont) {
		others = GDB_STAY;
		bool have_default = false;
		/* vCont;action[:thread];action...: the first action that names a thread wins. */
		while (*vcont == ';') {
			vcont++;
			enum gdb_action a = (*vcont == 's' || *vcont == 'S') ? GDB_STEP
					    : (*vcont == 'c' || *vcont == 'C') ? GDB_CONTINUE
									       : GDB_STAY;
			if (*vcont == 'C' || *vcont == 'S') /* a signal number: hyve injects none */
				while (gdb_hexval(vcont[1]) >= 0)
					vcont++;
			vcont++;
			int64_t t = -1;
			const char *end;
			if (*vcont == ':' && gdb_parse_thread(vcont + 1, &t, &end))
				vcont = end;
			if (t < 0 && !have_default) { /* the default action, for threads not named */
				have_default = true;
				others = a;
			}
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
	s->ops->resume(s->ctx, ids, act, n, others);
	if (!gdb_wait_stop(s, st))
		return false;
	s->running = false;
	return gdb_send_stop(s, st) && st->reason != GDB_STOP_EXITED;
}

void gdb_cmd_query(struct gdb_stub *s, const char *q)
{
	if (!strncmp(q, "qSupported", 10)) {
		char buf[160];
		snprintf(buf, sizeof(buf),
			 "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+",
			 GDB_PACKET_MAX);
		gdb_reply(s, buf);
	} else if (!strncmp(q, "qXfer:features:read:target.xml:", 31)) {
		uint64_t off, len;
		const char *end;
		char xml[8192];
		size_t n = gdb_target_xml(s->x86_64, xml, sizeof(xml));
		if (!parse_addr_len(q + 31, &off, &len, &end)) {
			gdb_reply(s, "E02");
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
		gdb_put_packet(s, s->out, k + 1);
	} else if (!strncmp(q, "qXfer:features:read:", 20)) {
		gdb_reply(s, "E00"); /* only target.xml exists */
	} else if (!strcmp(q, "qfThreadInfo")) {
		uint32_t ids[GDB_MAX_THREADS];
		unsigned n = gdb_list_threads(s, ids);
		size_t k = 0;
		s->out[k++] = 'm';
		for (unsigned i = 0; i < n && k + 12 < sizeof(s->out); i++)
			k += (size_t)snprintf(s->out + k, sizeof(s->out) - k, i ? ",%x" : "%x", ids[i] + 1);
		gdb_put_packet(s, s->out, k);
	} else if (!strcmp(q, "qsThreadInfo")) {
		gdb_reply(s, "l");
	} else if (!strcmp(q, "qC")) {
		char buf[24];
		snprintf(buf, sizeof(buf), "QC%x", s->g_vcpu + 1);
		gdb_reply(s, buf);
	} else if (!strncmp(q, "qAttached", 9)) {
		gdb_reply(s, "1"); /* detaching leaves the VM running, not killed */
	} else if (!strncmp(q, "qThreadExtraInfo,", 17)) {
		uint64_t t;
		const char *end;
		char txt[32];
		if (!gdb_parse_num(q + 17, &t, &end) || t == 0) {
			gdb_reply(s, "E02");
			return;
		}
		int l = snprintf(txt, sizeof(txt), "vCPU %llu", (unsigned long long)t - 1);
		gdb_put_packet(s, s->out, (size_t)(gdb_put_hex(s->out, (const uint8_t *)txt, (size_t)l) - s->out));
	} else if (!strcmp(q, "QStartNoAckMode")) {
		gdb_reply(s, "OK");
		s->noack = true;
	} else {
		gdb_reply(s, ""); /* qSymbol, qTStatus, ...: not supported */
	}
}

