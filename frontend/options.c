/* options.c: parses hyve's command line; every bad value gets one error line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/options.h"
#include "vmm/cpuset.h"

#define HYVE_VERSION "0.1.0"

static void usage(FILE *f)
{
	fputs("usage: hyve [options] [KERNEL]\n"
	      "Boots KERNEL on KVM: a Multiboot v1 image, a Linux bzImage or a Linux vmlinux\n"
	      "with a PVH note (without KERNEL: the built-in SMP demo).\n"
	      "\n"
	      "  -c, --cpus N            configured vCPUs (default 1; max 255 without x2APIC)\n"
	      "  -m, --memory SIZE       guest RAM, K/M/G suffix (default 256M)\n"
	      "  -a, --append STR        kernel command line (after the kernel's name, as QEMU)\n"
	      "      --initrd \"F A,F2\"   Multiboot modules: comma-separated \"FILE ARGS\" (as QEMU);\n"
	      "                          Linux: the initramfs file\n"
	      "      --module \"F ARGS\"   one more Multiboot module (repeatable)\n"
	      "      --ap-startup=MODE   ipi-exit (default) or spinup-ap: AP start-up protocol\n"
	      "      --no-x2apic         hide x2APIC from the guest\n"
	      "      --trace=LIST        comma list of: io, apic (readable, on stderr)\n"
	      "      --trace-file=F      write every APIC event to F as JSON lines\n"
	      "      --timeout=SECS      end the guest after SECS seconds (status 10)\n"
	      "  -v, --verbose           say what hyve does; vCPU summary at exit\n"
	      "  -h, --help              this text\n"
	      "  -V, --version           print the version\n"
	      "\n"
	      "Exit status: 0 poweroff, (V<<1)|1 when the guest writes V to port 0xf4,\n"
	      "2 usage, 4 reset, 6 triple fault, 8 internal error, 10 timeout,\n"
	      "12 all vCPUs halted for good, 14 host error. See docs/exits.md.\n",
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
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
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
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
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

int options_parse(struct options *o, int argc, char **argv)
{
	enum { OPT_INITRD = 256, OPT_MODULE, OPT_AP, OPT_NOX2, OPT_TRACE, OPT_TFILE, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{"cpus", required_argument, NULL, 'c'},
		{"memory", required_argument, NULL, 'm'},
		{"append", required_argument, NULL, 'a'},
		{"initrd", required_argument, NULL, OPT_INITRD},
		{"module", required_argument, NULL, OPT_MODULE},
		{"ap-startup", required_argument, NULL, OPT_AP},
		{"no-x2apic", no_argument, NULL, OPT_NOX2},
		{"trace", required_argument, NULL, OPT_TRACE},
		{"trace-file", required_argument, NULL, OPT_TFILE},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->cpus = 1;
	o->memory = 256ULL << 20;
	o->append = "";
	const char *initrd = NULL;
	const char *extra[HYVE_MAX_MODULES];
	unsigned nextra = 0;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:m:a:vhV", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c':
			if (parse_u32(optarg, &o->cpus) || o->cpus < 1 || o->cpus > VM_MAXCPU)
				return fail("--cpus: '%s' is not a vCPU count from 1 to 1024", optarg, NULL);
			break;
		case 'm':
			if (parse_size(optarg, &o->memory))
				return fail("--memory: '%s' is not a size (a number with K, M or G)", optarg, NULL);
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
	return 0;
}

void options_free(struct options *o)
{
	free(o->initrd_copy);
	o->initrd_copy = NULL;
}
