/* test_gdb.c: the GDB remote protocol layer against a fake two-vCPU target,
 * over a socketpair: framing and checksums, acks and no-ack mode, registers
 * (g/G/p/P, amd64 and i386 layouts), memory (m/M/X with escapes), threads,
 * breakpoints, vCont, Ctrl-C, stop replies, target.xml, detach and kill. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frontend/gdb.h"
#include "tests/unit/tap.h"

#define MEM_BASE 0x1000
#define MEM_SIZE 0x2000

struct fake {
	struct gdb_stub *stub;
	struct gdb_regs regs[2];
	uint8_t mem[MEM_SIZE];
	int bp_type, bp_insert, bp_calls;
	uint64_t bp_addr;
	enum gdb_action last_act[2];
	enum gdb_action last_others; /* the action for vCPUs not in the list */
	unsigned resumes, stops, kills, detaches;
	struct gdb_stop next; /* what the next resume reports */
};

static unsigned f_threads(void *ctx, uint32_t *ids, unsigned max)
{
	(void)ctx;
	if (max < 2)
		return 0;
	ids[0] = 0;
	ids[1] = 1;
	return 2;
}

static int f_get_regs(void *ctx, uint32_t v, struct gdb_regs *r)
{
	struct fake *f = ctx;
	if (v > 1)
		return -EINVAL;
	*r = f->regs[v];
	return 0;
}

static int f_set_regs(void *ctx, uint32_t v, const struct gdb_regs *r)
{
	struct fake *f = ctx;
	if (v > 1)
		return -EINVAL;
	f->regs[v] = *r;
	return 0;
}

static int f_read_mem(void *ctx, uint32_t v, uint64_t a, uint8_t *b, size_t n)
{
	struct fake *f = ctx;
	(void)v;
	if (a < MEM_BASE || a >= MEM_BASE + MEM_SIZE)
		return -EFAULT;
	size_t k = a + n > MEM_BASE + MEM_SIZE ? MEM_BASE + MEM_SIZE - a : n; /* stops at unmapped memory */
	memcpy(b, f->mem + (a - MEM_BASE), k);
	return (int)k;
}

static int f_write_mem(void *ctx, uint32_t v, uint64_t a, const uint8_t *b, size_t n)
{
	struct fake *f = ctx;
	(void)v;
	if (a < MEM_BASE || a + n > MEM_BASE + MEM_SIZE)
		return -EFAULT;
	memcpy(f->mem + (a - MEM_BASE), b, n);
	return (int)n;
}

static int f_breakpoint(void *ctx, enum gdb_bp_type t, uint64_t a, unsigned len, bool insert)
{
	struct fake *f = ctx;
	(void)len;
	f->bp_calls++;
	if (t == GDB_WP_READ)
		return -ENOTSUP;
	f->bp_type = (int)t;
	f->bp_addr = a;
	f->bp_insert = insert;
	return 0;
}

static void f_resume(void *ctx, const uint32_t *ids, const enum gdb_action *act, unsigned n, enum gdb_action others)
{
	struct fake *f = ctx;
	f->last_others = others;
	for (unsigned i = 0; i < n; i++)
		f->last_act[ids[i]] = act[i];
	f->resumes++;
	if (f->next.reason != GDB_STOP_INTERRUPT) /* INTERRUPT: run until Ctrl-C */
		gdb_stopped(f->stub, &f->next);
}

static void f_stop(void *ctx)
{
	struct fake *f = ctx;
	f->stops++;
	gdb_stopped(f->stub, &(struct gdb_stop){.reason = GDB_STOP_INTERRUPT, .vcpu = 1});
}

static void f_kill(void *ctx) { ((struct fake *)ctx)->kills++; }
static void f_detach(void *ctx) { ((struct fake *)ctx)->detaches++; }

static const struct gdb_target_ops ops = {
	.threads = f_threads, .get_regs = f_get_regs, .set_regs = f_set_regs, .read_mem = f_read_mem,
	.write_mem = f_write_mem, .breakpoint = f_breakpoint, .resume = f_resume, .stop = f_stop,
	.kill = f_kill, .detach = f_detach,
};

struct server {
	struct gdb_stub *stub;
	int fd, rc;
	bool stopped;
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	sv->rc = gdb_serve(sv->stub, sv->fd, sv->stopped);
	return NULL;
}

/* A new connection: the stub serves sv[1] on thread *th; the client is sv[0]. */
static void session(struct server *srv, struct gdb_stub *stub, int sv[2], pthread_t *th, bool stopped)
{
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair");
	*srv = (struct server){.stub = stub, .fd = sv[1], .stopped = stopped};
	pthread_create(th, NULL, serve, srv);
}

/* The client side: sends a packet, reads the ack and the reply packet. */
static int cfd;
static bool noack;
static char rbuf[16384];

static void send_raw(const char *s) { (void)!write(cfd, s, strlen(s)); }

static void send_pkt(const char *p)
{
	unsigned char sum = 0;
	for (const char *q = p; *q; q++)
		sum = (unsigned char)(sum + (unsigned char)*q);
	char frame[8192];
	snprintf(frame, sizeof(frame), "$%s#%02x", p, sum);
	send_raw(frame);
}

static int getc_fd(void)
{
	unsigned char c;
	return read(cfd, &c, 1) == 1 ? c : -1;
}

/* The next reply packet's payload (checksum verified; "BADSUM" if not). */
static const char *recv_pkt(void)
{
	int c;
	while ((c = getc_fd()) >= 0 && c != '$') {
	}
	size_t n = 0;
	unsigned char sum = 0;
	while ((c = getc_fd()) >= 0 && c != '#') {
		sum = (unsigned char)(sum + c);
		if (n < sizeof(rbuf) - 1)
			rbuf[n++] = (char)c;
	}
	rbuf[n] = 0;
	char cs[3] = {(char)getc_fd(), (char)getc_fd(), 0};
	unsigned want;
	if (sscanf(cs, "%2x", &want) != 1 || want != sum)
		return "BADSUM";
	if (!noack)
		send_raw("+");
	return rbuf;
}

/* A command and its reply; checks the stub acked it. */
static const char *cmd(const char *p)
{
	send_pkt(p);
	if (!noack) {
		int c = getc_fd();
		if (c != '+')
			return "NOACK";
	}
	return recv_pkt();
}

/* target.xml in 0x400-byte chunks: "l" + the whole document when it ends well. */
static const char *xfer_all(void)
{
	static char doc[16384];
	size_t k = 1;
	doc[0] = '?';
	for (unsigned off = 0; k < sizeof(doc) - 0x401;) {
		char q[64];
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%x,400", off);
		const char *r = cmd(q);
		size_t n = strlen(r + 1);
		memcpy(doc + k, r + 1, n);
		k += n;
		off += (unsigned)n;
		if (r[0] != 'm') {
			doc[0] = r[0];
			break;
		}
	}
	doc[k] = 0;
	return doc;
}

int main(void)
{
	struct gdb_stub stub;
	struct fake f = {0};
	int sv[2] = {-1, -1};
	CHECK_EQ(gdb_init(&stub, &ops, &f, true), 0, "gdb_init");
	f.stub = &stub;
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < 16; i++)
			f.regs[v].gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1) + (uint64_t)v;
		f.regs[v].rip = 0xffffffff81000000ull + (uint64_t)v;
		f.regs[v].eflags = 0x246;
		f.regs[v].seg[0] = 0x10;
	}
	for (int i = 0; i < MEM_SIZE; i++)
		f.mem[i] = (uint8_t)i;
	struct server srv;
	pthread_t th;
	session(&srv, &stub, sv, &th, true);
	cfd = sv[0];

	/* Framing: a bad checksum gets '-', then the packet again works. */
	send_raw("$?#00");
	CHECK_EQ(getc_fd(), '-', "a bad checksum is refused with '-'");
	CHECK(!strcmp(cmd("?"), "T02thread:1;"), "? after --gdb-wait: stopped by SIGINT, thread 1 (vCPU 0)");
	const char *r = cmd("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
	CHECK(strstr(r, "PacketSize=1000") && strstr(r, "qXfer:features:read+") && strstr(r, "vContSupported+"),
	      "qSupported: packet size, target description, vCont (%s)", r);
	r = xfer_all();
	CHECK(r[0] == 'l' && strstr(r, "<architecture>i386:x86-64</architecture>") &&
		      strstr(r, "<feature name=\"org.gnu.gdb.i386.core\">") &&
		      strstr(r, "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>") &&
		      strstr(r, "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>"),
	      "target.xml: amd64, rip is register 16, fs_base 57; read in 'm' chunks up to an 'l' one");
	CHECK(strstr(r, "<flags id=\"i386_eflags\" size=\"4\">") && strstr(r, "<union id=\"vec128\">") &&
		      strstr(r, "</feature></target>"),
	      "target.xml defines the types its registers use");
	r = cmd("qXfer:features:read:target.xml:10,20");
	CHECK(r[0] == 'm' && strlen(r) == 0x21, "target.xml read in chunks: 'm' and 32 bytes");
	CHECK(!strcmp(cmd("qXfer:features:read:other.xml:0,100"), "E00"), "only target.xml exists");
	CHECK(!strcmp(cmd("qfThreadInfo"), "m1,2"), "threads 1 and 2 (vCPUs 0 and 1)");
	CHECK(!strcmp(cmd("qsThreadInfo"), "l"), "end of the thread list");
	CHECK(!strcmp(cmd("qC"), "QC1"), "current thread 1");
	CHECK(!strcmp(cmd("qAttached"), "1"), "attached to an existing process");
	CHECK(!strcmp(cmd("qThreadExtraInfo,2"), "764350552031"), "qThreadExtraInfo: \"vCPU 1\" in hex (%s)", rbuf);
	CHECK(!strcmp(cmd("T2"), "OK") && !strcmp(cmd("T3"), "E01"), "T: thread 2 alive, 3 not");
	CHECK(!strcmp(cmd("vMustReplyEmpty"), ""), "unknown v packet: empty reply");
	CHECK(!strcmp(cmd("qSymbol::"), ""), "qSymbol: not supported");

	/* Registers: g is the amd64 layout, little-endian. */
	r = cmd("g");
	CHECK(!strncmp(r, "1111111111111111", 16), "g: rax first");
	CHECK(!strncmp(r + 16, "4444444444444444", 16), "g: then rbx (gpr[3], the SDM's RBX)");
	CHECK(!strncmp(r + 16 * 16, "00000081ffffffff", 16), "g: rip at register 16, little-endian");
	CHECK(!strncmp(r + 17 * 16, "46020000", 8), "g: eflags 32 bits");
	CHECK_EQ(strlen(r), 2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8), "g: 560 bytes of registers");
	CHECK(!strcmp(cmd("p10"), "00000081ffffffff"), "p 0x10: rip");
	CHECK(!strcmp(cmd("P10=0010000000000000"), "OK") && f.regs[0].rip == 0x1000, "P 0x10: rip = 0x1000");
	CHECK(!strcmp(cmd("p99"), ""), "p of a register that does not exist: empty");
	CHECK(!strcmp(cmd("Hg2"), "OK") && !strcmp(cmd("p10"), "01000081ffffffff"), "Hg2: registers of vCPU 1");
	CHECK(!strcmp(cmd("Hg5"), "E01"), "Hg of a thread that does not exist");
	char pkt[1300];
	snprintf(pkt, sizeof(pkt), "G%s", cmd("g"));
	memcpy(pkt + 1, "efbeadde00000000", 16);
	CHECK(!strcmp(cmd(pkt), "OK") && f.regs[1].gpr[0] == 0xdeadbeef && f.regs[1].rip == 0xffffffff81000001ull,
	      "G writes every register (rax of vCPU 1 = 0xdeadbeef, the rest as read)");
	CHECK(!strcmp(cmd("Hg1"), "OK"), "back to thread 1");

	/* Memory. */
	CHECK(!strcmp(cmd("m1000,4"), "00010203"), "m: 4 bytes at 0x1000");
	r = cmd("m2ffe,8");
	CHECK(!strcmp(r, "feff"), "m across the end of memory: the bytes that exist (%s)", r);
	CHECK(!strcmp(cmd("m9000,4"), "E14"), "m of unmapped memory: E14");
	CHECK(!strcmp(cmd("M1010,3:aabbcc"), "OK") && f.mem[0x10] == 0xaa && f.mem[0x12] == 0xcc, "M writes hex");
	CHECK(!strcmp(cmd("M1010,3:aabb"), "E02"), "M with short data: E02");
	{
		/* X with escaped bytes: 0x7d 0x5d is '}', 0x7d 0x03 is '#'. */
		send_pkt("X1020,3:\x01}\x5d}\x03");
		CHECK(getc_fd() == '+' && !strcmp(recv_pkt(), "OK") && f.mem[0x20] == 0x01 && f.mem[0x21] == 0x7d &&
			      f.mem[0x22] == 0x23,
		      "X unescapes 0x7d-prefixed bytes");
	}
	CHECK(!strcmp(cmd("X1000,0:"), "OK"), "X with length 0: GDB's probe");
	CHECK(!strcmp(cmd("M9000,1:00"), "E14"), "M to unmapped memory: E14");

	/* Breakpoints. */
	CHECK(!strcmp(cmd("Z0,ffffffff81000010,1"), "OK") && f.bp_type == 0 && f.bp_insert && f.bp_addr == 0xffffffff81000010,
	      "Z0: software breakpoint");
	CHECK(!strcmp(cmd("z0,ffffffff81000010,1"), "OK") && !f.bp_insert, "z0 removes it");
	CHECK(!strcmp(cmd("Z2,2000,4"), "OK") && f.bp_type == 2, "Z2: write watchpoint");
	CHECK(!strcmp(cmd("Z3,2000,4"), ""), "Z3 the target refuses: empty (not supported)");
	CHECK(!strcmp(cmd("Z7,2000,4"), ""), "Z7: no such type");

	/* Resuming: c reports the target's stop. */
	f.next = (struct gdb_stop){.reason = GDB_STOP_SWBREAK, .vcpu = 1};
	CHECK(!strcmp(cmd("c"), "T05thread:2;swbreak:;") && f.last_act[0] == GDB_CONTINUE && f.last_act[1] == GDB_CONTINUE,
	      "c: every vCPU continues; stop at a software breakpoint on thread 2");
	CHECK_EQ(f.last_others, GDB_CONTINUE, "c: a vCPU GDB does not know yet continues too");
	CHECK(!strcmp(cmd("qC"), "QC2"), "the stopping thread becomes the current one");
	f.next = (struct gdb_stop){.reason = GDB_STOP_STEP, .vcpu = 0};
	CHECK(!strcmp(cmd("vCont?"), "vCont;c;C;s;S"), "vCont? lists c, C, s, S");
	CHECK(!strcmp(cmd("vCont;s:1;c"), "T05thread:1;") && f.last_act[0] == GDB_STEP && f.last_act[1] == GDB_CONTINUE,
	      "vCont;s:1;c: thread 1 steps, the others continue");
	CHECK_EQ(f.last_others, GDB_CONTINUE, "vCont;s:1;c: the default action c is for unknown vCPUs too");
	f.next = (struct gdb_stop){.reason = GDB_STOP_STEP, .vcpu = 1};
	CHECK(!strcmp(cmd("vCont;s:2"), "T05thread:2;") && f.last_act[0] == GDB_STAY && f.last_act[1] == GDB_STEP,
	      "vCont;s:2: only thread 2 steps");
	CHECK_EQ(f.last_others, GDB_STAY, "vCont;s:2: no default action: an unknown vCPU stays (scheduler-locking)");
	f.next = (struct gdb_stop){.reason = GDB_STOP_SWBREAK, .vcpu = 0};
	CHECK(!strcmp(cmd("vCont;c:1"), "T05thread:1;swbreak:;") && f.last_act[0] == GDB_CONTINUE &&
		      f.last_act[1] == GDB_STAY && f.last_others == GDB_STAY,
	      "vCont;c:1: only thread 1 runs, known or not");
	f.next = (struct gdb_stop){.reason = GDB_STOP_WATCH, .vcpu = 0, .addr = 0x2000, .wtype = GDB_WP_WRITE};
	CHECK(!strcmp(cmd("c"), "T05thread:1;watch:2000;"), "a watchpoint stop names the address");
	f.next = (struct gdb_stop){.reason = GDB_STOP_HWBREAK, .vcpu = 0};
	CHECK(!strcmp(cmd("c"), "T05thread:1;hwbreak:;"), "a hardware breakpoint stop");

	/* Ctrl-C while running: the target is asked to stop. */
	f.next = (struct gdb_stop){.reason = GDB_STOP_INTERRUPT};
	unsigned stops = f.stops;
	send_pkt("c");
	CHECK_EQ(getc_fd(), '+', "c acked");
	usleep(20000);
	send_raw("\x03");
	CHECK(!strcmp(recv_pkt(), "T02thread:2;") && f.stops == stops + 1, "Ctrl-C stops the guest: SIGINT on thread 2");

	/* No-ack mode: no more '+'. */
	CHECK(!strcmp(cmd("QStartNoAckMode"), "OK"), "QStartNoAckMode");
	noack = true;
	CHECK(!strcmp(cmd("m1000,2"), "0001"), "no-ack mode: a reply with no ack");

	/* The VM ending while running: W status. */
	f.next = (struct gdb_stop){.reason = GDB_STOP_EXITED, .code = 33};
	CHECK(!strcmp(cmd("c"), "W21"), "the VM ended: W with its exit status");
	pthread_join(th, NULL);
	CHECK_EQ(srv.rc, 0, "gdb_serve returns after the VM ended");

	/* Detach and kill, and the i386 layout, on a second connection. */
	gdb_destroy(&stub);
	CHECK_EQ(gdb_init(&stub, &ops, &f, false), 0, "gdb_init i386");
	noack = false;
	stops = f.stops;
	session(&srv, &stub, sv, &th, false);
	cfd = sv[0];
	CHECK(!strcmp(cmd("?"), "T02thread:2;") && f.stops == stops + 1, "attaching to a running guest stops it first");
	r = xfer_all();
	CHECK(strstr(r, "<architecture>i386</architecture>") && strstr(r, "name=\"eip\" bitsize=\"32\"") &&
		      !strstr(r, "rax") && !strstr(r, "xmm8"),
	      "i386 target.xml: eip, no 64-bit registers, xmm0-7");
	r = cmd("g");
	CHECK(!strncmp(r, "efbeadde" "23222222", 16), "i386 g of thread 2 (where the attach stopped): eax then ecx, 32 bits each");
	CHECK_EQ(strlen(r), 2 * (8 * 4 + 4 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 8 * 16 + 4), "i386 g: 328 bytes");
	unsigned det = f.detaches;
	CHECK(!strcmp(cmd("D"), "OK"), "D: OK");
	pthread_join(th, NULL);
	CHECK(srv.rc == 0 && f.detaches == det + 1, "detach resumes the guest and ends the session");

	session(&srv, &stub, sv, &th, true);
	cfd = sv[0];
	send_pkt("k");
	pthread_join(th, NULL);
	CHECK(srv.rc == 1 && f.kills == 1, "k kills the VM");

	det = f.detaches;
	session(&srv, &stub, sv, &th, true);
	close(sv[0]); /* GDB went away */
	pthread_join(th, NULL);
	CHECK(srv.rc == 0 && f.detaches == det + 1, "a closed connection detaches (the guest goes on)");
	close(sv[1]);
	gdb_destroy(&stub);
	return tap_done();
}
