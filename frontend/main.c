/* main.c: the hyve command: options, set-up, waiting for the end (the guest,
 * a signal or --timeout), the exit status and the report. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "frontend/gdb_target.h"
#include "frontend/machine.h"

struct verdict_run {
	uint32_t first, last;
	bool open;
	char why[256];
};

static void flush_verdicts(struct verdict_run *r)
{
	if (!r->open)
		return;
	if (r->first == r->last)
		say("vCPU %u never ran: %s", r->first, r->why);
	else
		say("vCPUs %u-%u never ran: %s", r->first, r->last, r->why);
	r->open = false;
}

static void print_verdict(void *ctx, uint32_t id, const char *why)
{
	struct verdict_run *r = ctx;
	if (r->open && id == r->last + 1 && !strcmp(why, r->why)) {
		r->last = id;
		return;
	}
	flush_verdicts(r);
	*r = (struct verdict_run){.first = id, .last = id, .open = true};
	snprintf(r->why, sizeof(r->why), "%s", why);
}

/* The exits by kind (docs/performance.md: the exits an interrupt costs):
 * "icr=N eoi=N ..." for the report, or "\"icr\":N,..." (json) for the
 * trace's end event; returns the total. */
static uint64_t exit_kinds(const struct vm_stats *st, char *buf, size_t len, bool json)
{
	uint64_t total = 0;
	size_t at = 0;
	buf[0] = 0;
	for (unsigned k = 0; k < VM_EXK_N; k++) {
		total += st->exits[k];
		int n = snprintf(buf + at, len - at, json ? "%s\"%s\":%llu" : "%s%s=%llu", k ? (json ? "," : " ") : "",
				 vm_exit_kind_name(k), (unsigned long long)st->exits[k]);
		if (n < 0 || (size_t)n >= len - at)
			break;
		at += (size_t)n;
	}
	return total;
}

static void report(struct machine *m, bool never_ran)
{
	struct vm_stats st;
	vm_get_stats(m->vm, &st);
	say("vcpus configured=%u allocated=%u started=%u; ipis=%llu startup-dropped=%llu "
	    "init-deassert-ignored=%llu ipi-ignored=%llu sti-hlt-completed=%llu insn-completed=%llu",
	    st.configured, st.allocated, st.started, (unsigned long long)st.ipis,
	    (unsigned long long)st.startup_dropped, (unsigned long long)st.init_ignored,
	    (unsigned long long)st.ipi_ignored, (unsigned long long)st.sti_hlt,
	    (unsigned long long)st.insn_completed);
	char kinds[256];
	uint64_t total = exit_kinds(&st, kinds, sizeof(kinds), false);
	say("exits=%llu (%s); interrupts injected=%llu pv-eoi=%llu", (unsigned long long)total, kinds,
	    (unsigned long long)st.injected, (unsigned long long)st.pv_eoi);
	if (never_ran) {
		struct verdict_run run = {.open = false};
		vm_never_ran_report(m->vm, print_verdict, &run);
		flush_verdicts(&run);
	}
}

static void trace_verdict(void *ctx, uint32_t id, const char *why)
{
	char w[256];
	json_escape(w, sizeof(w), why);
	tracer_event(ctx, "never_ran", "\"vcpu\":%u,\"why\":\"%s\"", id, w);
}

/* The trace file's last lines: why each vCPU that never ran did not, the
 * counters, the exit status (docs/trace-format.md). */
static void trace_end(struct machine *m, int status)
{
	if (!m->tracer.json)
		return;
	vm_never_ran_report(m->vm, trace_verdict, &m->tracer);
	struct vm_stats st;
	vm_get_stats(m->vm, &st);
	char kinds[320];
	(void)exit_kinds(&st, kinds, sizeof(kinds), true);
	tracer_event(&m->tracer, "end",
		     "\"status\":%d,\"allocated\":%u,\"started\":%u,\"ipis\":%llu,\"exits\":{%s},"
		     "\"injected\":%llu,\"pv_eoi\":%llu",
		     status, st.allocated, st.started, (unsigned long long)st.ipis, kinds,
		     (unsigned long long)st.injected, (unsigned long long)st.pv_eoi);
}

/* Waits for the VM to end, a signal or the timeout. Returns true on timeout. */
static bool wait_for_end(struct machine *m, int sfd)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int ms = -1;
		if (m->opt->timeout > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double left = m->opt->timeout - ((double)(now.tv_sec - start.tv_sec) +
							 (double)(now.tv_nsec - start.tv_nsec) / 1e9);
			if (left <= 0)
				return true;
			ms = (int)ceil(left * 1000);
		}
		struct pollfd pf[2] = {{.fd = m->done_fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int n = poll(pf, 2, ms);
		if (n < 0 && errno != EINTR)
			return false;
		if (pf[0].revents & POLLIN)
			return false;
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR2) {
					report(m, true); /* on request: what happened so far */
					continue;
				}
				say("terminated by signal %u", si.ssi_signo);
				machine_set_exit_status(m, 128 + si.ssi_signo);
				machine_end(m, VM_SUSPEND_EXIT);
				return false;
			}
		}
	}
}

/* Every vCPU holds a KVM vCPU fd, so 1024 vCPUs need more descriptors than
 * the usual soft limit of 1024 (the nested tier's L1 has it): raise the soft
 * RLIMIT_NOFILE towards the hard limit when the configured vCPUs need it, as
 * QEMU does. A limit that cannot be raised shows later as the vCPU that
 * could not be created (status 14). */
static void raise_fd_limit(unsigned ncpus)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)ncpus + 64; /* vCPU fds + VM, /dev/kvm, console, trace, eventfds */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static int status_of(struct machine *m, bool timed_out)
{
	if (timed_out)
		return HYVE_EXIT_TIMEOUT;
	uint32_t st = __atomic_load_n(&m->exit_status, __ATOMIC_SEQ_CST);
	switch (vm_suspended(m->vm)) {
	case VM_SUSPEND_RESET:
		return HYVE_EXIT_RESET;
	case VM_SUSPEND_POWEROFF:
		return HYVE_EXIT_POWEROFF;
	case VM_SUSPEND_HALT:
		return HYVE_EXIT_HALTED;
	case VM_SUSPEND_TRIPLEFAULT:
		return HYVE_EXIT_TRIPLE;
	default:
		return st == UINT32_MAX ? HYVE_EXIT_INTERNAL : (int)st;
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	int pr = options_parse(&opt, argc, argv);
	if (pr != 0) {
		options_free(&opt);
		return pr > 0 ? 0 : HYVE_EXIT_USAGE;
	}
	struct machine *m = calloc(1, sizeof(*m));
	if (!m) {
		say("out of memory");
		return HYVE_EXIT_HOST;
	}
	m->opt = &opt;
	/* Signals go to the main thread's signalfd. Blocked before any thread
	 * exists (libvmm's timer thread included), so every thread inherits the
	 * mask; SIGUSR1 stays open: it is libvmm's kick. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	int status = HYVE_EXIT_HOST;

	int maxcpus = vm_max_cpus(!opt.no_x2apic);
	if (maxcpus < 0) {
		say("cannot open /dev/kvm: %s", strerror(-maxcpus));
		goto out_opt;
	}
	if ((int)opt.cpus > maxcpus) {
		say("--cpus: %u vCPUs requested; this host allows at most %d%s", opt.cpus, maxcpus,
		    opt.no_x2apic ? " without x2APIC" : "");
		status = HYVE_EXIT_USAGE;
		goto out_opt;
	}
	raise_fd_limit(opt.cpus);
	if (tracer_init(&m->tracer, opt.trace & TRACE_APIC, opt.trace & TRACE_IO, opt.trace_file) < 0) {
		say("--trace-file: cannot open '%s': %s", opt.trace_file, strerror(errno));
		status = HYVE_EXIT_USAGE;
		goto out_opt;
	}
	struct vm_config cfg = {
		.ncpus = opt.cpus,
		.mem_size = opt.memory,
		.x2apic = !opt.no_x2apic,
		.trace = (opt.trace & TRACE_APIC) || opt.trace_file ? tracer_vm_event : NULL,
		.trace_ctx = &m->tracer,
	};
	char err[256];
	int r = vm_create(&cfg, &m->vm, err, sizeof(err));
	if (r < 0) {
		say("%s", err);
		status = r == -EINVAL ? HYVE_EXIT_USAGE : HYVE_EXIT_HOST;
		goto out_tracer;
	}
	if (machine_init(m) < 0 || load_fwcfg(m) < 0)
		goto out_vm;

	struct vm_boot_cpu boot;
	const char *kind = "?";
	if (load_guest(m, &boot, &kind) < 0) {
		status = HYVE_EXIT_USAGE;
		goto out_vm;
	}
	if (opt.verbose)
		say("%u vCPU(s), %llu MiB, AP start-up %s, %s; %s kernel, entry 0x%llx; host: %s%s", opt.cpus,
		    (unsigned long long)(opt.memory >> 20),
		    opt.ap_startup == AP_STARTUP_IPI_EXIT ? "ipi-exit" : "spinup-ap",
		    opt.no_x2apic ? "xAPIC only" : "x2APIC offered", kind, (unsigned long long)boot.rip,
		    vm_host_kvm_kind(), vm_host_is_pvm() ? " (hyve completes int3, fwait, clac/stac, popcnt/lzcnt/tzcnt, cmpxchg16b, lsl, ldmxcsr/stmxcsr, 32-bit iret)" : "");

	/* The GDB stub: amd64 registers for a Linux kernel (64-bit from its entry
	 * on), i386 for a Multiboot one (32-bit protected mode at entry; hyve's
	 * test guests stay there). A kernel that switches modes keeps the set
	 * its format gives (docs/architecture.md). */
	struct gdb_target gdb;
	if (opt.gdb != GDB_NONE) {
		m->gdb = &gdb;
		if (gdb_target_start(&gdb, m, strcmp(kind, "Multiboot") != 0) < 0) {
			status = HYVE_EXIT_USAGE;
			goto out_vm;
		}
	}

	if (console_init(&m->con, &m->uart, machine_quit, m) < 0) {
		say("cannot set the console up");
		goto out_vm;
	}

	/* smp-spec 3: with IPI exits every configured vCPU is activated up front
	 * (their state and threads still come lazily, on INIT); the legacy
	 * protocol activates only the BSP. */
	uint32_t nactive = opt.ap_startup == AP_STARTUP_IPI_EXIT ? opt.cpus : 1;
	tracer_event(&m->tracer, "start",
		     "\"version\":\"%s\",\"cpus\":%u,\"memory\":%llu,\"x2apic\":%s,\"ap_startup\":\"%s\","
		     "\"kernel_format\":\"%s\",\"entry\":%llu,\"host\":\"%s\"",
		     HYVE_VERSION, opt.cpus, (unsigned long long)opt.memory, opt.no_x2apic ? "false" : "true",
		     opt.ap_startup == AP_STARTUP_IPI_EXIT ? "ipi-exit" : "spinup-ap", kind,
		     (unsigned long long)boot.rip, vm_host_kvm_kind());
	for (uint32_t i = 0; i < nactive; i++)
		if (vm_activate_cpu(m->vm, i) == 0)
			tracer_event(&m->tracer, "activate", "\"vcpu\":%u", i);
	struct vcpu *bsp;
	if ((r = vm_vcpu_get(m->vm, 0, &bsp)) < 0 ||
	    (r = vm_vcpu_setup_boot(bsp, &boot)) < 0) {
		say("cannot set up the boot vCPU: %s", strerror(-r));
		goto out_con;
	}
	if (machine_start_vcpu(m, 0) < 0)
		goto out_con;

	bool timed_out = wait_for_end(m, sfd);
	if (timed_out) {
		say("timeout: the guest ran longer than %g s", opt.timeout);
		vm_suspend(m->vm, VM_SUSPEND_EXIT);
	}
	if (m->gdb) /* a waiting GDB hears the status (W) before hyve waits for the vCPUs */
		gdb_target_end(m->gdb, status_of(m, timed_out));
	console_end(&m->con); /* no vCPU waits for a stdout that does not drain */
	for (uint32_t i = 0; i < opt.cpus; i++) {
		pthread_mutex_lock(&m->threads_lock);
		bool has = m->has_thread[i];
		pthread_mutex_unlock(&m->threads_lock);
		if (has)
			pthread_join(m->threads[i], NULL);
	}
	status = status_of(m, timed_out);
	if (vm_suspended(m->vm) == VM_SUSPEND_HALT)
		say("every vCPU is halted with interrupts disabled: the guest can never run again");
	if (opt.verbose || timed_out || status == HYVE_EXIT_HALTED)
		report(m, opt.verbose || opt.cpus > 1);
	trace_end(m, status);
out_con:
	console_fini(&m->con); /* joins the console's reader */
out_vm:
	if (m->gdb) { /* every vCPU thread is joined: none reports to the stub any more */
		gdb_target_end(m->gdb, status);
		gdb_target_fini(m->gdb);
	}
	/* Every vCPU thread is joined: the VM goes first (it stops the timer
	 * thread that drives the device timers), then the devices. */
	vm_destroy(m->vm);
	machine_destroy(m);
out_tracer:
	tracer_close(&m->tracer);
out_opt:
	if (sfd >= 0)
		close(sfd);
	free(m);
	options_free(&opt);
	fflush(stdout);
	return status;
}
