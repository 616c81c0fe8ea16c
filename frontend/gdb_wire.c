/* gdb_wire.c: the GDB remote protocol's packets, acks and hex (RSP E.1, E.11). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/gdb_int.h"
#include "frontend/gdb_regs.h"

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
int gdb_get_byte(struct gdb_stub *s)
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

int gdb_hexval(int c)
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
bool gdb_put_packet(struct gdb_stub *s, const char *payload, size_t n)
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
			c = gdb_get_byte(s);
		while (c >= 0 && c != '+' && c != '-');
		if (c < 0)
			return false;
		if (c == '+')
			return true;
	}
	return false;
}

bool gdb_reply(struct gdb_stub *s, const char *str)
{
	return gdb_put_packet(s, str, strlen(str));
}

/* Reads the next packet into s->in (NUL-terminated); 0x03 outside a packet
 * comes back as the one-byte packet "\x03". -1 when the connection closed. */
int gdb_get_packet(struct gdb_stub *s)
{
	for (;;) {
		int c = gdb_get_byte(s);
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
		while ((c = gdb_get_byte(s)) >= 0 && c != '#') {
			sum = (unsigned char)(sum + c);
			if (n < GDB_PACKET_MAX)
				s->in[n++] = (char)c;
			else
				overflow = true;
		}
		int h = c < 0 ? -1 : gdb_hexval(gdb_get_byte(s)), l = c < 0 ? -1 : gdb_hexval(gdb_get_byte(s));
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

char *gdb_put_hex(char *p, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*p++ = hexdig[b[i] >> 4];
		*p++ = hexdig[b[i] & 15];
	}
	*p = 0;
	return p;
}

/* n bytes from hex text; false on a bad digit or short text. */
bool gdb_get_hex(const char *p, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int h = gdb_hexval(p[2 * i]), l = h < 0 ? -1 : gdb_hexval(p[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		b[i] = (uint8_t)(h << 4 | l);
	}
	return true;
}

/* A hex number; *end after it. false when there is none. */
bool gdb_parse_num(const char *p, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *q = p;
	for (int d; (d = gdb_hexval(*q)) >= 0; q++) {
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
bool gdb_parse_thread(const char *p, int64_t *vcpu, const char **end)
{
	uint64_t v;
	if (p[0] == '-' && p[1] == '1') {
		*vcpu = -1;
		*end = p + 2;
		return true;
	}
	if (!gdb_parse_num(p, &v, end))
		return false;
	*vcpu = v == 0 ? -2 : (int64_t)v - 1;
	return true;
}

unsigned gdb_list_threads(struct gdb_stub *s, uint32_t *ids)
{
	unsigned n = s->ops->threads(s->ctx, ids, GDB_MAX_THREADS);
	return n > GDB_MAX_THREADS ? GDB_MAX_THREADS : n;
}

bool gdb_thread_exists(struct gdb_stub *s, uint32_t vcpu)
{
	uint32_t ids[GDB_MAX_THREADS];
	unsigned n = gdb_list_threads(s, ids);
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == vcpu)
			return true;
	return false;
}

