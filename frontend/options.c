/* options.c: parses hyve's command line; every bad value gets one error line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/options.h"
#include "vmm/cpuset.h"


static void usage(FILE *f)
{
	fputs("usage: hyve [options] [KERNEL]\n"
	      "Boots KERNEL on KVM: a Multiboot v1 image, a Linux bzImage or a Linux vmlinux\n"
	      "with a PVH note (without KERNEL: the built-in SMP demo).\n"
	      "\n"
	      "  -c, --cpus N            configured vCPUs, 1 to 1024 (default 1; at most 255\n"
	      "                          with --no-x2apic); APIC ID = vCPU id\n"
	      "      --smp N             the same, QEMU's spelling (also cpus=N)\n"
	      "  -m, --memory SIZE       guest RAM, 2M to 1T, K/M/G/T suffix, fractions allowed\n"
	      "                          (1.5G); a bare number is MiB (default 256M)\n"
	      "      --kernel FILE       the kernel (instead of KERNEL)\n"
	      "  -a, --append STR        kernel command line (after the kernel's name, as QEMU)\n"
	      "      --initrd \"F A,F2\"   Multiboot modules: comma-separated \"FILE ARGS\" (as QEMU);\n"
	      "                          Linux: the initramfs file\n"
	      "      --module \"F ARGS\"   one more Multiboot module (repeatable)\n"
	      "      --ap-startup=MODE   ipi-exit (default) or spinup-ap: AP start-up protocol\n"
	      "      --no-x2apic         hide x2APIC from the guest\n"
	      "      --trace=LIST        comma list of: io, apic (readable, on stderr)\n"
	      "      --trace-file=F      write every APIC event to F as JSON lines\n"
	      "      --timeout=SECS      end the guest after SECS seconds (status 10)\n"
	      "      --gdb=tcp:PORT      GDB remote stub on 127.0.0.1:PORT (tcp:HOST:PORT binds\n"
	      "                          HOST; unix:PATH a Unix socket): target remote :PORT\n"
	      "      --gdb-wait          with --gdb: hold every vCPU before the first\n"
	      "                          instruction until GDB continues\n"
	      "  -v, --verbose           say what hyve does; vCPU summary at exit\n"
	      "  -h, --help              this text\n"
	      "  -V, --version           print the version\n"
	      "\n"
	      "The guest's COM1 is stdin/stdout. On a terminal, Ctrl-A x ends hyve (status\n"
	      "16) and Ctrl-A Ctrl-A types one Ctrl-A. SIGUSR2 prints the vCPU report so far\n"
	      "on stderr; SIGINT and SIGTERM end hyve with status 128+N.\n"
	      "\n"
	      "Exit status: 0 poweroff, (V<<1)|1 when the guest writes V to port 0xf4,\n"
	      "2 usage, 4 reset, 6 triple fault, 8 internal error, 10 timeout,\n"
	      "12 all vCPUs halted for good, 14 host error, 16 Ctrl-A x, 18 guest panic\n"
	      "(pvpanic). See docs/exits.md and man hyve.\n",
	      f);
}

static int fail(const char *fmt, const char *a, const char *b)
{
	fputs("hyve: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return -1;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+' || *s == '.')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	/* A decimal fraction ("1.5G", as QEMU's -m): up to 9 digits, and the
	 * result must be a whole number of bytes. */
	unsigned long long frac = 0, den = 1;
	if (*end == '.') {
		end++;
		if (*end < '0' || *end > '9')
			return -1;
		for (; *end >= '0' && *end <= '9'; end++) {
			if (den == 1000000000ULL)
				return -1;
			frac = frac * 10 + (unsigned)(*end - '0');
			den *= 10;
		}
	}
	unsigned shift = 0;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -1;
	} else {
		shift = 20; /* a bare number is MiB, as QEMU's -m */
	}
	unsigned __int128 f = (unsigned __int128)frac << shift;
	if (v > (UINT64_MAX >> shift))
		return -1;
	if (f % den)
		return -2;
	unsigned __int128 bytes = ((unsigned __int128)v << shift) + f / den;
	if (bytes > UINT64_MAX)
		return -1;
	*out = (uint64_t)bytes;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int add_module(struct options *o, const char *spec, const char *opt)
{
	if (!*spec)
		return fail("%s: empty module name", opt, NULL);
	if (o->nmodules >= HYVE_MAX_MODULES)
		return fail("%s: more than 16 modules", opt, NULL);
	o->modules[o->nmodules++] = spec;
	return 0;
}

enum { OPT_INITRD = 256, OPT_MODULE, OPT_AP, OPT_NOX2, OPT_TRACE, OPT_TFILE, OPT_TIMEOUT, OPT_KERNEL, OPT_SMP, OPT_GDB, OPT_GDB_WAIT };
static const struct option longopts[] = {
	{"cpus", required_argument, NULL, 'c'},
	{"smp", required_argument, NULL, OPT_SMP},
	{"memory", required_argument, NULL, 'm'},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"append", required_argument, NULL, 'a'},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"module", required_argument, NULL, OPT_MODULE},
	{"ap-startup", required_argument, NULL, OPT_AP},
	{"no-x2apic", no_argument, NULL, OPT_NOX2},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"trace-file", required_argument, NULL, OPT_TFILE},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"gdb", required_argument, NULL, OPT_GDB},
	{"gdb-wait", no_argument, NULL, OPT_GDB_WAIT},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};
static const char shortopts[] = ":c:m:a:vhV";

/* QEMU's single-dash spellings a QEMU user types first (qemu-options.hx),
 * with what hyve has instead (NULL: hyve has no such option, and why). */
static const struct {
	const char *qemu, *hyve, *why;
} qemu_words[] = {
	{"kernel", "--kernel FILE (or FILE alone)", NULL},
	{"initrd", "--initrd", NULL},
	{"append", "--append", NULL},
	{"smp", "--smp N (or --cpus N)", NULL},
	{"nographic", NULL, "the guest's COM1 is always this terminal"},
	{"serial", NULL, "the guest's COM1 is always this terminal"},
	{"display", NULL, "hyve has no display; COM1 is this terminal"},
	{"vga", NULL, "hyve has no display; COM1 is this terminal"},
	{"enable-kvm", NULL, "hyve always runs on KVM"},
	{"accel", NULL, "hyve always runs on KVM"},
	{"machine", NULL, "hyve has one machine model (docs/architecture.md)"},
	{"M", NULL, "hyve has one machine model (docs/architecture.md)"},
	{"cpu", NULL, "the guest sees the host's CPU model (--no-x2apic hides x2APIC)"},
	{"no-reboot", NULL, "a guest reset always ends hyve (status 4)"},
	{"no-shutdown", NULL, "a guest poweroff always ends hyve (status 0)"},
	{"device", NULL, "hyve's devices are fixed (README)"},
	{"drive", NULL, "hyve has no disks: use --initrd"},
	{"hda", NULL, "hyve has no disks: use --initrd"},
	{"netdev", NULL, "hyve has no network devices"},
	{"bios", NULL, "hyve loads the kernel itself: no firmware"},
	{"monitor", NULL, "hyve has no monitor; SIGUSR2 prints the vCPU report"},
	{"gdb", "--gdb=tcp:PORT", NULL},
	{"s", "--gdb=tcp:1234", NULL},
	{"S", "--gdb-wait (with --gdb=tcp:PORT)", NULL},
	{"daemonize", NULL, "run hyve in the background with the shell's &"},
};

/* True when word is one of hyve's long options spelt with one dash. */
static const struct option *single_dash_long(const char *word)
{
	for (const struct option *l = longopts; l->name; l++) {
		size_t n = strlen(l->name);
		if (!strncmp(word, l->name, n) && (!word[n] || word[n] == '='))
			return l;
	}
	return NULL;
}

/* True when argv[i] is the value of the option before it (a separate word). */
static bool takes_next(const char *prev)
{
	if (!prev || prev[0] != '-' || !prev[1])
		return false;
	if (prev[1] == '-') {
		if (strchr(prev, '='))
			return false;
		size_t n = strlen(prev + 2);
		for (const struct option *l = longopts; n && l->name; l++)
			if (!strncmp(prev + 2, l->name, n)) /* getopt_long takes unique prefixes */
				return l->has_arg == required_argument;
		return false;
	}
	/* A short-option cluster: the last letter takes the next word as its value
	 * only when no letter before it took the rest of the word. */
	for (const char *c = prev + 1; *c; c++) {
		const char *d = strchr(shortopts + 1, *c);
		if (d && d[1] == ':')
			return c[1] == 0;
	}
	return false;
}

/* QEMU users write -smp 4, -kernel F, -append S: getopt would read -append
 * as -a "ppend". Such a word gets an error with hyve's spelling. */
static int check_single_dash(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		if (!strcmp(w, "--"))
			break;
		if (i > 1 && takes_next(argv[i - 1]))
			continue;
		if (w[0] != '-' || w[1] == '-' || !w[1] || (!w[2] && w[1] != 's' && w[1] != 'S'))
			continue; /* one letter: a short option, but QEMU's -s and -S (hyve has neither) */
		for (size_t q = 0; q < sizeof(qemu_words) / sizeof(qemu_words[0]); q++) {
			if (strcmp(w + 1, qemu_words[q].qemu))
				continue;
			if (qemu_words[q].hyve)
				return fail("'%s' is QEMU's spelling: hyve's is %s", w, qemu_words[q].hyve);
			if (qemu_words[q].why)
				return fail("'%s' is a QEMU option hyve does not have: %s", w, qemu_words[q].why);
		}
		const struct option *l = single_dash_long(w + 1);
		if (l) {
			char spelt[32];
			snprintf(spelt, sizeof(spelt), "--%s", l->name);
			return fail("'%s' needs two dashes: %s", w, spelt);
		}
	}
	return 0;
}

/* --smp as QEMU takes it: "N" or "cpus=N"; hyve has no CPU topology. */
static int parse_smp(const char *s, uint32_t *cpus)
{
	const char *v = !strncmp(s, "cpus=", 5) ? s + 5 : s;
	if (strchr(v, ','))
		return fail("--smp: '%s': hyve has no CPU topology (sockets, cores, threads): give a vCPU "
			    "count, --smp N",
			    s, NULL);
	if (parse_u32(v, cpus) || *cpus < 1 || *cpus > VM_MAXCPU)
		return fail("--smp: '%s' is not a vCPU count from 1 to 1024", s, NULL);
	return 0;
}

int options_parse(struct options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->cpus = 1;
	o->memory = 256ULL << 20;
	o->append = "";
	const char *initrd = NULL;
	const char *extra[HYVE_MAX_MODULES];
	unsigned nextra = 0;
	const char *kernel_opt = NULL;
	int c;
	if (check_single_dash(argc, argv))
		return -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c':
			if (parse_u32(optarg, &o->cpus) || o->cpus < 1 || o->cpus > VM_MAXCPU)
				return fail("--cpus: '%s' is not a vCPU count from 1 to 1024", optarg, NULL);
			break;
		case OPT_SMP:
			if (parse_smp(optarg, &o->cpus))
				return -1;
			break;
		case OPT_KERNEL:
			if (kernel_opt)
				return fail("--kernel given twice ('%s' and '%s')", kernel_opt, optarg);
			kernel_opt = optarg;
			break;
		case 'm':
			switch (parse_size(optarg, &o->memory)) {
			case -1:
				return fail("--memory: '%s' is not a size (a number, e.g. 1.5G, with K, M, G or T)",
					    optarg, NULL);
			case -2:
				return fail("--memory: '%s' is not a whole number of bytes", optarg, NULL);
			}
			if (o->memory < (2ULL << 20) || o->memory > (1ULL << 40) || (o->memory & 0xfff))
				return fail("--memory: '%s' must be a multiple of 4K from 2M to 1T", optarg, NULL);
			break;
		case 'a':
			o->append = optarg;
			break;
		case OPT_INITRD:
			initrd = optarg;
			break;
		case OPT_MODULE:
			if (nextra >= HYVE_MAX_MODULES)
				return fail("--module: more than 16 modules", NULL, NULL);
			extra[nextra++] = optarg;
			break;
		case OPT_AP:
			if (!strcmp(optarg, "ipi-exit"))
				o->ap_startup = AP_STARTUP_IPI_EXIT;
			else if (!strcmp(optarg, "spinup-ap"))
				o->ap_startup = AP_STARTUP_SPINUP_AP;
			else
				return fail("--ap-startup: '%s' is not ipi-exit or spinup-ap", optarg, NULL);
			break;
		case OPT_NOX2:
			o->no_x2apic = true;
			break;
		case OPT_TRACE: {
			char buf[128];
			snprintf(buf, sizeof(buf), "%s", optarg);
			if (!*buf)
				return fail("--trace: empty list (use io, apic)", NULL, NULL);
			for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (!strcmp(t, "io"))
					o->trace |= TRACE_IO;
				else if (!strcmp(t, "apic"))
					o->trace |= TRACE_APIC;
				else
					return fail("--trace: unknown category '%s' (use io, apic)", t, NULL);
			}
			break;
		}
		case OPT_TFILE:
			if (!*optarg)
				return fail("--trace-file: empty file name", NULL, NULL);
			o->trace_file = optarg;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->timeout > 0) || o->timeout > 1e7)
				return fail("--timeout: '%s' is not a positive number of seconds", optarg, NULL);
			break;
		case OPT_GDB: {
			char why[64];
			if (gdb_parse_spec(optarg, o, why, sizeof(why)) < 0)
				return fail("--gdb: '%s' is not tcp:PORT, tcp:HOST:PORT or unix:PATH%s", optarg, why);
			break;
		}
		case OPT_GDB_WAIT:
			o->gdb_wait = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("hyve %s\n", HYVE_VERSION);
			return 1;
		case ':':
			return fail("option '%s' needs a value", argv[optind - 1], NULL);
		default:
			if (optopt)
				return fail("unknown option '-%s' (see hyve --help)", (char[]){(char)optopt, 0}, NULL);
			return fail("unknown option '%s' (see hyve --help)", argv[optind - 1], NULL);
		}
	}
	if (optind < argc)
		o->kernel = argv[optind++];
	if (optind < argc)
		return fail("unexpected argument '%s' (one KERNEL only; quote --append values)", argv[optind], NULL);
	if (o->gdb_wait && o->gdb == GDB_NONE)
		return fail("--gdb-wait needs --gdb=tcp:PORT or --gdb=unix:PATH", NULL, NULL);
	if (kernel_opt && o->kernel)
		return fail("two kernels: --kernel '%s' and '%s'", kernel_opt, o->kernel);
	if (kernel_opt)
		o->kernel = kernel_opt;
	if (o->kernel && !*o->kernel)
		return fail("empty kernel file name", NULL, NULL);
	if (o->no_x2apic && o->cpus > 255) {
		char n[16];
		snprintf(n, sizeof(n), "%u", o->cpus);
		return fail("--cpus: %s vCPUs need x2APIC (drop --no-x2apic or use at most 255)", n, NULL);
	}
	if (initrd) {
		/* QEMU's -initrd syntax for Multiboot: comma-separated "FILE ARGS". */
		if (!(o->initrd_copy = strdup(initrd)))
			return fail("out of memory", NULL, NULL);
		for (char *save, *t = strtok_r(o->initrd_copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (add_module(o, t, "--initrd"))
				return -1;
	}
	for (unsigned i = 0; i < nextra; i++)
		if (add_module(o, extra[i], "--module"))
			return -1;
	o->nmodule_opts = nextra;
	return 0;
}

void options_free(struct options *o)
{
	free(o->initrd_copy);
	o->initrd_copy = NULL;
}
