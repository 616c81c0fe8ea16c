/* gdb_listen.c: the GDB stub's socket and thread (frontend/gdb_target.h):
 * one GDB connection at a time on --gdb's address; after a detach another
 * GDB may attach. The VM's end reaches a waiting GDB as W (RSP E.3). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "frontend/gdb_target.h"
#include "frontend/machine.h"

int gdb_parse_spec(const char *s, struct options *o, char *why, size_t n)
{
	snprintf(why, n, "%s", "");
	if (!strncmp(s, "unix:", 5)) {
		if (!s[5] || strlen(s + 5) >= sizeof(o->gdb_path)) {
			snprintf(why, n, "%s", !s[5] ? " (empty PATH)" : " (PATH longer than 107 bytes)");
			return -1;
		}
		o->gdb = GDB_UNIX;
		snprintf(o->gdb_path, sizeof(o->gdb_path), "%s", s + 5);
		return 0;
	}
	if (strncmp(s, "tcp:", 4))
		return -1;
	const char *port = strrchr(s + 4, ':');
	snprintf(o->gdb_host, sizeof(o->gdb_host), "127.0.0.1");
	if (port) {
		size_t k = (size_t)(port - (s + 4));
		const char *h = s + 4;
		if (k >= 2 && h[0] == '[' && h[k - 1] == ']') {
			h++;
			k -= 2;
		}
		if (k == 0 || k >= sizeof(o->gdb_host)) {
			snprintf(why, n, " (bad HOST)");
			return -1;
		}
		memcpy(o->gdb_host, h, k);
		o->gdb_host[k] = 0;
		port++;
	} else {
		port = s + 4;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *port == '-' || *port == '+' || *end || errno || p < 1 || p > 65535) {
		snprintf(why, n, " (PORT must be 1 to 65535)");
		return -1;
	}
	o->gdb = GDB_TCP;
	o->gdb_port = (uint16_t)p;
	return 0;
}

static int listen_tcp(struct gdb_target *t, const struct options *o)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	char port[8];
	snprintf(port, sizeof(port), "%u", o->gdb_port);
	snprintf(t->where, sizeof(t->where), strchr(o->gdb_host, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", o->gdb_host,
		 port);
	int r = getaddrinfo(o->gdb_host, port, &hints, &ai);
	if (r) {
		say("--gdb: cannot listen on %s: '%s' is not an IP address (%s)", t->where, o->gdb_host, gai_strerror(r));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
		say("--gdb: cannot listen on %s: %s", t->where, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int listen_unix(struct gdb_target *t, const struct options *o)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", o->gdb_path);
	snprintf(t->where, sizeof(t->where), "unix:%s", o->gdb_path);
	struct stat st;
	if (lstat(o->gdb_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(o->gdb_path); /* a socket a former hyve left; never any other file */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		say("--gdb: cannot listen on %s: %s", t->where, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(t->unix_path, sizeof(t->unix_path), "%s", o->gdb_path);
	return fd;
}

/* Forgets a stop report nobody took (the session ended first). */
static void drain_stop(struct gdb_stub *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop_pending = false;
	pthread_mutex_unlock(&s->lock);
	uint64_t v;
	if (read(s->event_fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
}

static void *stub_thread(void *p)
{
	struct gdb_target *t = p;
	for (;;) {
		struct pollfd pf[2] = {{.fd = t->listen_fd, .events = POLLIN}, {.fd = t->end_fd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		int fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix */
		pthread_mutex_lock(&t->lock);
		bool ended = t->ended;
		if (!ended) {
			t->session = true;
			t->conn = fd;
			t->waiting = false;
		}
		pthread_mutex_unlock(&t->lock);
		if (ended) {
			close(fd);
			break;
		}
		drain_stop(&t->stub);
		int r = gdb_serve(&t->stub, fd, vm_debug_stopped(t->m->vm));
		if (r == 0)
			gdb_target_ops.detach(t); /* also when GDB vanished while the guest ran */
		pthread_mutex_lock(&t->lock);
		t->session = false;
		t->conn = -1;
		t->waiting = false;
		ended = t->ended;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		if (r == 1 || ended)
			break; /* killed, or the VM is over */
	}
	return NULL;
}

int gdb_target_start(struct gdb_target *t, struct machine *m, bool x86_64)
{
	const struct options *o = m->opt;
	memset(t, 0, sizeof(*t));
	t->m = m;
	t->wait = o->gdb_wait;
	t->conn = -1;
	t->end_fd = -1;
	t->listen_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	int r = gdb_init(&t->stub, &gdb_target_ops, t, x86_64);
	if (r < 0) {
		say("--gdb: cannot set the stub up: %s", strerror(-r));
		return -1;
	}
	t->listen_fd = o->gdb == GDB_TCP ? listen_tcp(t, o) : listen_unix(t, o);
	if (t->listen_fd < 0)
		return -1;
	static const struct vm_debug_ops ops = {.all_stopped = gdb_target_all_stopped};
	if ((t->end_fd = eventfd(0, EFD_CLOEXEC)) < 0 || (r = vm_debug_enable(m->vm, &ops, t)) < 0) {
		say("--gdb: cannot enable debugging: %s", strerror(t->end_fd < 0 ? errno : -r));
		return -1;
	}
	if (t->wait)
		vm_debug_stop(m->vm); /* no vCPU runs yet: held before the BSP's first instruction */
	if ((r = pthread_create(&t->thread, NULL, stub_thread, t)) != 0) {
		say("--gdb: cannot start the stub's thread: %s", strerror(r));
		return -1;
	}
	t->started = true;
	if (t->wait || o->verbose)
		say("GDB stub on %s%s", t->where, t->wait ? ": every vCPU waits for GDB to continue" : "");
	return 0;
}

void gdb_target_end(struct gdb_target *t, int status)
{
	pthread_mutex_lock(&t->lock);
	if (t->ended) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	t->ended = true;
	bool report = t->session && t->waiting;
	if (report)
		t->waiting = false;
	else if (t->session)
		shutdown(t->conn, SHUT_RDWR); /* GDB holds the VM: end its session */
	pthread_mutex_unlock(&t->lock);
	if (report) {
		struct gdb_stop st = {.reason = GDB_STOP_EXITED, .code = status};
		gdb_stopped(&t->stub, &st);
	}
	if (t->end_fd >= 0) {
		uint64_t one = 1;
		if (write(t->end_fd, &one, sizeof(one)) < 0) {
			/* an eventfd cannot overflow here */
		}
	}
	if (t->started)
		pthread_join(t->thread, NULL);
	t->started = false;
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	if (t->end_fd >= 0)
		close(t->end_fd);
	t->listen_fd = t->end_fd = -1;
	if (t->unix_path[0])
		unlink(t->unix_path);
}

void gdb_target_fini(struct gdb_target *t)
{
	gdb_destroy(&t->stub);
	pthread_mutex_destroy(&t->lock);
}
