/* gdb.c: the GDB remote serial protocol over one connection (frontend/gdb.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend/gdb_int.h"


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

int gdb_serve(struct gdb_stub *s, int fd, bool stopped)
{
	s->fd = fd;
	s->noack = false;
	s->running = !stopped;
	uint32_t ids[GDB_MAX_THREADS];
	s->g_vcpu = gdb_list_threads(s, ids) ? ids[0] : 0;
	struct gdb_stop last = {.reason = GDB_STOP_INTERRUPT, .vcpu = s->g_vcpu};
	if (!stopped) {
		/* GDB's first "?" wants a stop reply: stop the guest now (as QEMU does on attach). */
		s->ops->stop(s->ctx);
		if (!gdb_wait_stop(s, &last))
			return 0;
		s->g_vcpu = last.vcpu;
		s->running = false;
	}
	for (;;) {
		int n = gdb_get_packet(s);
		if (n < 0)
			break;
		const char *p = s->in;
		switch (p[0]) {
		case 0x03:
			break; /* Ctrl-C while already stopped: nothing to do */
		case '?':
			gdb_send_stop(s, &last);
			break;
		case 'g':
			gdb_cmd_read_regs(s);
			break;
		case 'G':
			gdb_cmd_write_regs(s, p + 1);
			break;
		case 'p':
			gdb_cmd_one_reg(s, p + 1, false);
			break;
		case 'P':
			gdb_cmd_one_reg(s, p + 1, true);
			break;
		case 'm':
			gdb_cmd_read_mem(s, p + 1);
			break;
		case 'M':
			gdb_cmd_write_mem(s, p + 1, (size_t)n - 1, false);
			break;
		case 'X':
			gdb_cmd_write_mem(s, p + 1, (size_t)n - 1, true);
			break;
		case 'Z':
		case 'z':
			gdb_cmd_breakpoint(s, p + 1, p[0] == 'Z');
			break;
		case 'H': {
			int64_t t;
			const char *end;
			if ((p[1] != 'g' && p[1] != 'c') || !gdb_parse_thread(p + 2, &t, &end)) {
				gdb_reply(s, "E02");
				break;
			}
			if (p[1] == 'g' && t >= 0) {
				if (!gdb_thread_exists(s, (uint32_t)t)) {
					gdb_reply(s, "E01");
					break;
				}
				s->g_vcpu = (uint32_t)t;
			}
			gdb_reply(s, "OK"); /* Hc: the actions of c/s name their threads through vCont */
			break;
		}
		case 'T': {
			int64_t t;
			const char *end;
			gdb_reply(s, gdb_parse_thread(p + 1, &t, &end) && t >= 0 && gdb_thread_exists(s, (uint32_t)t) ? "OK" : "E01");
			break;
		}
		case 'c':
		case 's': {
			if (p[1]) { /* c addr: resume at addr */
				uint64_t a;
				const char *end;
				struct gdb_regs r;
				if (gdb_parse_num(p + 1, &a, &end) && s->ops->get_regs(s->ctx, s->g_vcpu, &r) == 0) {
					r.rip = a;
					s->ops->set_regs(s->ctx, s->g_vcpu, &r);
				}
			}
			/* s steps the current thread; the others stay stopped (GDB's scheduler-locking off
			 * sends vCont instead). c resumes everything. */
			if (!gdb_resume(s, p[0] == 's' ? GDB_STAY : GDB_CONTINUE, (int64_t)s->g_vcpu,
				    p[0] == 's' ? GDB_STEP : GDB_CONTINUE, NULL, &last))
				goto out;
			break;
		}
		case 'v':
			if (!strcmp(p, "vCont?")) {
				gdb_reply(s, "vCont;c;C;s;S");
			} else if (!strncmp(p, "vCont;", 6)) {
				if (!gdb_resume(s, GDB_STAY, -1, GDB_STAY, p + 5, &last))
					goto out;
			} else {
				gdb_reply(s, ""); /* vMustReplyEmpty, vKill, vFile...: not supported */
			}
			break;
		case 'q':
		case 'Q':
			gdb_cmd_query(s, p);
			break;
		case 'D':
			gdb_reply(s, "OK");
			s->ops->detach(s->ctx);
			s->fd = -1;
			return 0;
		case 'k':
			s->ops->kill(s->ctx);
			s->fd = -1;
			return 1;
		default:
			gdb_reply(s, "");
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
