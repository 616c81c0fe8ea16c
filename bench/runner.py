#!/usr/bin/env python3
"""runner.py: hyve's benchmarks side by side with QEMU (issue 6); started by bench/run.

Boots the benchmark guests of bench/guests under every configuration,
interleaved (one repetition of every configuration, then the next) so that a
change of the host's load spreads over all columns alike, and prints one table
of medians, spreads and hyve/QEMU ratios. The table also goes to
BUILD/bench/results.md, every raw figure to BUILD/bench/results.json.

Configurations: hyve with --ap-startup=ipi-exit (the default) and =spinup-ap;
QEMU -accel kvm with its in-kernel irqchip, and with -machine
kernel-irqchip=off (QEMU's user-space APIC). A configuration that cannot run a
figure gets the error in its cell, is not tried again for that figure, and the
other columns still compare.

--compare OTHER_BUILD runs hyve from two build folders instead of hyve and
QEMU (an A/B of two builds of hyve, e.g. before and after a change): every
hyve configuration twice, once with each build's hyve binary and both with the
guests of --build, alternating which build boots first from one repetition to
the next; the table gets a column with the ratio of the two medians.
"""

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

import linux_boot
import nested

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QBOOT = "/usr/share/qemu/qboot.rom"
GUEST_PASS_STATUS = 33  # debug-exit (0x10 << 1) | 1
GUEST_SKIP_STATUS = 37
AP_SIZES = (2, 4, 16, 64)
EXIT_OPS = (
    ("loop", "empty loop iteration (the guest's own cost per operation)"),
    ("cpuid", "CPUID (exit handled inside KVM)"),
    ("port_out", "OUTB to unclaimed port 0x1234"),
    ("xapic_read", "xAPIC MMIO read 0xfee00030"),
    ("x2apic_rdmsr", "x2APIC RDMSR 0x803"),
)
MEM_CASES = (
    # key, cpus, running, label
    ("cfg1", 1, 1, "1 vCPU configured"),
    ("cfg64_run1", 64, 1, "64 configured, only the BSP running"),
    ("cfg1024_run1", 1024, 1, "1024 configured, only the BSP running"),
    ("cfg64_run64", 64, 64, "64 configured, all 64 running"),
)


# ---- configurations ---------------------------------------------------------

class Config:
    """One way to run a guest: a VMM and its options."""

    def __init__(self, key, label, kind, extra, hyve=None):
        self.key, self.label, self.kind, self.extra = key, label, kind, extra
        self.hyve = hyve  # another build's hyve binary (--compare); None: --build's

    def twin(self, hyve, build):
        """The same configuration run with another build's hyve (--compare)."""
        return Config(COMPARE_PREFIX + self.key, f"{self.label} [{build}]", self.kind, self.extra, hyve)

    def argv(self, opts, elf, cpus, append, timeout):
        if self.kind == "hyve":
            cmd = [self.hyve or opts.hyve, f"--timeout={int(timeout)}", "--cpus", str(cpus)] + self.extra
            if append:
                cmd += ["--append", append]
            return cmd + [elf]
        cmd = ["qemu-system-x86_64"] + opts.firmware + [
            "-accel", "kvm", "-smp", str(cpus), "-m", "256", "-nographic", "-no-reboot",
            "-net", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] + self.extra
        cmd += ["-kernel", elf]
        if append:
            cmd += ["-append", append]
        return cmd


HYVE_IPI = Config("hyve", "hyve (ipi-exit)", "hyve", ["--ap-startup=ipi-exit"])
HYVE_SPIN = Config("hyve_spinup", "hyve (spinup-ap)", "hyve", ["--ap-startup=spinup-ap"])
QEMU_KVM = Config("qemu", "QEMU kvm", "qemu", [])
QEMU_UAPIC = Config("qemu_uapic", "QEMU kvm, kernel-irqchip=off", "qemu", ["-machine", "kernel-irqchip=off"])
ALL_CONFIGS = (HYVE_IPI, HYVE_SPIN, QEMU_KVM, QEMU_UAPIC)
COMPARE_PREFIX = "base:"  # key prefix of the --compare build's configurations


# ---- running one guest ------------------------------------------------------

class Run:
    """What one boot gave: exit status, console lines, BENCH records, stderr."""

    def __init__(self):
        self.status = None
        self.timed_out = False
        self.lines = []
        self.times = []  # seconds from the start at which each console line arrived
        self.saw_text = False  # a console line with text (QEMU prints terminal controls first)
        self.fatal = None  # the stderr line that ended the run (run_guest's fatal)
        self.fatal_at = 0.0
        self.err = []
        self.records = []
        self.rss_kib = None
        self.elapsed = 0.0


def parse_record(line):
    """'BENCH kind k=v ...' -> (kind, {k: v}) or None."""
    if not line.startswith("BENCH "):
        return None
    words = line.split()
    if len(words) < 2:
        return None
    fields = {}
    for w in words[2:]:
        k, _, v = w.partition("=")
        fields[k] = v
    return words[1], fields


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_guest(cmd, timeout, ready=None, settle=0.3, silent_limit=None, fatal=None):
    """Runs cmd (its own process group, stdin closed) until it ends or timeout
    seconds pass (then SIGKILL: a hung QEMU ignores SIGTERM). With ready (a
    BENCH kind), samples the VMM's RSS `settle` s after that record appears
    and kills it. With silent_limit, a VMM that has printed no text on the
    console after that many seconds counts as hung too. With fatal, a stderr
    line starting with that text ends the run at once (r.fatal): QEMU pauses
    the VM after a KVM internal error instead of exiting."""
    r = Run()
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, cwd=ROOT)
    except OSError as e:
        r.status = -1
        r.err.append(f"cannot start {cmd[0]}: {e}")
        return r
    bufs = {p.stdout.fileno(): b"", p.stderr.fileno(): b""}
    open_fds = set(bufs)
    ready_at = None
    while open_fds:
        now = time.monotonic()
        if now - t0 > timeout or (silent_limit and not r.saw_text and now - t0 > silent_limit):
            r.timed_out = True
            break
        if r.fatal and now - r.fatal_at > 0.5:  # let the lines after it arrive
            break
        if ready_at is not None and now >= ready_at:
            r.rss_kib = rss_kib(p.pid)
            break
        wait = min(0.1, max(0.0, timeout - (now - t0)))
        rl, _, _ = select.select(list(open_fds), [], [], wait)
        for fd in rl:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            bufs[fd] += chunk
            *done, bufs[fd] = bufs[fd].split(b"\n")
            for raw in done:
                line = raw.decode("utf-8", "replace").replace("\r", "").strip()
                if fd == p.stdout.fileno():
                    r.lines.append(line)
                    r.times.append(time.monotonic() - t0)
                    r.saw_text = r.saw_text or any(ch.isalnum() for ch in line)
                    rec = parse_record(line)
                    if rec:
                        r.records.append(rec)
                        if ready and rec[0] == ready and ready_at is None:
                            ready_at = time.monotonic() + settle
                elif len(r.err) < 200:
                    r.err.append(line)
                    if fatal and line.startswith(fatal) and not r.fatal:
                        r.fatal, r.fatal_at = line, time.monotonic()
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    r.status = p.wait()
    for fd, rest in bufs.items():
        if rest and fd == p.stdout.fileno():
            r.lines.append(rest.decode("utf-8", "replace").replace("\r", "").strip())
            r.times.append(time.monotonic() - t0)
    p.stdout.close()
    p.stderr.close()
    r.elapsed = time.monotonic() - t0
    return r


def describe_failure(r):
    """One line saying why a run gave no figure."""
    guest = [ln for ln in r.lines if ln and not ln.startswith("BENCH info")]
    errs = [ln.replace("qemu-system-x86_64: ", "") for ln in r.err if ln and "warning" not in ln]
    last_guest = guest[-1] if guest else "(no console output)"
    if r.timed_out:
        return f"hung: killed after {r.elapsed:.0f} s (last console line: {last_guest})"
    if r.status == GUEST_SKIP_STATUS:
        skip = [ln for ln in r.lines if ln.startswith("SKIP")]
        return skip[-1] if skip else "guest skipped"
    why = errs[-1] if errs else last_guest
    return f"exit status {r.status}: {why}"


# ---- figures ----------------------------------------------------------------

class Figures:
    """Raw values per (figure, configuration), errors, and each
    configuration's TSC frequency (the guest's when it could tell)."""

    def __init__(self, host_khz):
        self.host_khz = host_khz
        self.values = {}
        self.errors = {}
        self.guest_khz = {}
        self.runs = 0
        self.seconds = {}
        self.hung = set()

    def add(self, fig, cfg, value):
        self.values.setdefault(fig, {}).setdefault(cfg.key, []).append(value)

    def fail(self, fig, cfg, msg):
        self.errors.setdefault(fig, {})[cfg.key] = msg

    def failed(self, fig, cfg):
        return cfg.key in self.errors.get(fig, {})

    def get(self, fig, cfg):
        return self.values.get(fig, {}).get(cfg.key, [])

    def khz(self, cfg):
        return self.guest_khz.get(cfg.key) or self.host_khz

    def note_run(self, cfg, r):
        self.runs += 1
        self.seconds[cfg.key] = self.seconds.get(cfg.key, 0.0) + r.elapsed
        for kind, f in r.records:
            if kind == "info" and int(f.get("tsc_khz", "0") or 0):
                self.guest_khz[cfg.key] = int(f["tsc_khz"])


def boot(opts, figs, cfg, guest, cpus, append, timeout, ready=None, extra=()):
    elf = os.path.join(opts.build, "bench", guest + ".elf")
    argv = cfg.argv(opts, elf, cpus, append, timeout)
    r = run_guest(argv[:1] + list(extra) + argv[1:], timeout + 5, ready=ready)
    figs.note_run(cfg, r)
    if opts.verbose:
        print(f"    {cfg.label:32} {guest} cpus={cpus} {append or ''}: status {r.status}, "
              f"{r.elapsed:.1f} s, {len(r.records)} records", flush=True)
    return r


def take(figs, cfg, r, fig, rec, value):
    """Records the figure rec gave (a figure printed before a hang still
    counts), or the reason there is none."""
    if rec is None:
        figs.fail(fig, cfg, describe_failure(r))
    elif "skip" in rec:
        figs.fail(fig, cfg, "not available: " + rec["skip"].replace("-", " "))
    else:
        figs.add(fig, cfg, value(rec))


def bench_apboot(opts, figs, configs, rep):
    for n in opts.sizes:
        fig = ("ap_bringup", n)
        for cfg in configs:
            if figs.failed(fig, cfg):
                continue
            r = boot(opts, figs, cfg, "bench_apboot", n, None, opts.timeout)
            rec = next((f for k, f in r.records if k == "ap_bringup"), None)
            take(figs, cfg, r, fig, rec, lambda f: int(f["cycles"]))


def bench_exit(opts, figs, configs, rep):
    for cfg in configs:
        if figs.failed(("exit", "loop"), cfg):
            continue
        r = boot(opts, figs, cfg, "bench_exit", 1, None, opts.timeout)
        recs = {f["op"]: f for k, f in r.records if k == "exit"}
        for op, _ in EXIT_OPS:
            take(figs, cfg, r, ("exit", op), recs.get(op), lambda f: int(f["cycles"]) / int(f["n"]))


def bench_ipi(opts, figs, configs, rep):
    timeout = opts.timeout * 3
    for apic in ("xapic", "x2apic"):
        for cfg in configs:
            figs_here = [("ipi_rtt", apic, w) for w in opts.ipi_waits]
            # A boot that hung is not tried again, even if it gave a figure
            # before it hung (each try costs the whole timeout).
            if all(figs.failed(f, cfg) for f in figs_here) or (apic, cfg.key) in figs.hung:
                continue
            words = (["x2apic"] if apic == "x2apic" else []) + ([] if "spin" in opts.ipi_waits else ["nospin"])
            r = boot(opts, figs, cfg, "bench_ipi", 2, " ".join(words) or None, timeout)
            if r.timed_out:
                figs.hung.add((apic, cfg.key))
            recs = {f["wait"]: f for k, f in r.records if k == "ipi_rtt"}
            for fig in figs_here:
                if not figs.failed(fig, cfg):
                    take(figs, cfg, r, fig, recs.get(fig[2]), lambda f: int(f["cycles"]) / int(f["n"]))


EXIT_KINDS = ("icr", "eoi", "apic", "hlt", "window", "kick", "io", "mmio", "msr", "other")
IPI_EXIT_ROUNDS = 500


def hyve_exits(r):
    """hyve -v's 'exits=N (icr=N ...); interrupts injected=N pv-eoi=N' line
    -> {kind: N, "injected": N, "pv_eoi": N}, or None."""
    for ln in r.err:
        if ln.startswith("hyve: exits="):
            out = {}
            for w in ln.replace("(", " ").replace(")", " ").replace(";", " ").split():
                k, eq, v = w.partition("=")
                if eq and v.isdigit():
                    out[k.replace("-", "_")] = int(v)
            return out
    return None


def bench_exits(opts, figs, configs, rep):
    """Exits to user space per IPI round trip, by kind, from hyve's own
    statistics: a boot with IPI_EXIT_ROUNDS timed round trips minus one
    with none (the same boot, warm-up and start-up otherwise), divided by
    IPI_EXIT_ROUNDS; with and without PV EOI. Counts, not times: one run."""
    for apic in ("xapic", "x2apic"):
        for wait in opts.ipi_waits:
            for pv in ("pveoi", "nopveoi"):
                fig = ("ipi_exits", apic, wait, pv)
                for cfg in configs:
                    if figs.failed(fig, cfg):
                        continue
                    words = (["x2apic"] if apic == "x2apic" else []) + ["nohalt" if wait == "spin" else "nospin"]
                    words += [] if pv == "pveoi" else ["nopveoi"]
                    counts = []
                    for n in (IPI_EXIT_ROUNDS, 0):
                        r = boot(opts, figs, cfg, "bench_ipi", 2, " ".join(words + [f"rounds={n}"]),
                                 opts.timeout * 3, extra=["-v"])
                        rec = next((f for k, f in r.records if k == "ipi_rtt"), None)
                        ex = hyve_exits(r)
                        if rec is None or ex is None:
                            figs.fail(fig, cfg, describe_failure(r) if rec is None else "no exit statistics "
                                      "on stderr (a hyve without them?)")
                            break
                        counts.append((ex, rec.get("pveoi") == "1"))
                    if len(counts) == 2:
                        (a, used), (b, _) = counts
                        per = {k: (a.get(k, 0) - b.get(k, 0)) / IPI_EXIT_ROUNDS for k in a}
                        per["pveoi_used"] = used
                        figs.add(fig, cfg, per)


def bench_mem(opts, figs, configs, rep):
    for key, cpus, running, _ in MEM_CASES:
        fig = ("mem", key)
        for cfg in configs:
            if figs.failed(fig, cfg):
                continue
            r = boot(opts, figs, cfg, "bench_mem", cpus, f"run={running}", opts.timeout, ready="mem_ready")
            if r.rss_kib is not None:
                figs.add(fig, cfg, r.rss_kib)
            else:
                figs.fail(fig, cfg, describe_failure(r))


# ---- the table --------------------------------------------------------------

def fmt_num(x):
    """3 significant digits with k/M/G."""
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def fmt_time_ns(ns):
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


def stats(vals):
    """Median, and the spread: half the interquartile range in % of the
    median (robust to the odd run a busy 2-core host preempts)."""
    med = statistics.median(vals)
    if len(vals) < 2 or not med:
        return med, 0.0
    q1, _, q3 = statistics.quantiles(vals, n=4, method="inclusive")
    return med, (q3 - q1) / 2 / med * 100


class Cell:
    def __init__(self, text, median=None):
        self.text, self.median = text, median


def n_note(vals, planned):
    """The count of runs, when fewer than planned gave a figure."""
    return f" (n={len(vals)})" if len(vals) != planned else ""


def error_cell(figs, fig, cfg):
    err = figs.errors.get(fig, {}).get(cfg.key)
    if not err:
        return Cell("—")
    if err.startswith(("not available", "SKIP")):
        return Cell(err)
    return Cell("FAILED: " + err)


def stat_cell(figs, fig, cfg, planned, fmt):
    """Median (formatted by fmt) ± spread of a figure, or why there is none."""
    vals = figs.get(fig, cfg)
    if not vals:
        return error_cell(figs, fig, cfg)
    med, spread = stats(vals)
    return Cell(f"{fmt(med)} ±{spread:.0f}%{n_note(vals, figs.planned[planned])}", med)


def time_cell(figs, fig, cfg):
    return stat_cell(figs, fig, cfg, fig[0],
                     lambda med: f"{fmt_num(med)} cyc = {fmt_time_ns(med * 1e6 / figs.khz(cfg))}")


def secs_cell(figs, fig, cfg):
    return stat_cell(figs, fig, cfg, "linux", lambda med: f"{med:.1f} s")


def mem_cell(figs, fig, cfg):
    return stat_cell(figs, fig, cfg, "mem", lambda med: f"{med / 1024:.1f} MiB")


def ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return "—"
    return f"{a / b:.2f}"


def same_as_ipi_exit(cells):
    """Figures taken only with ipi-exit: after start-up both protocols run the same code."""
    for prefix in ("", COMPARE_PREFIX):
        cells[prefix + "hyve_spinup"] = Cell("(same as ipi-exit)")


def table_rows(figs, configs):
    """(section, label, cells per config, ratio vs QEMU kvm, ratio vs QEMU uAPIC,
    ratio --build / --compare build)."""
    have = {c.key for c in configs}
    rows = []
    runs = {k: f" (median of {n} runs)" for k, n in figs.planned.items()}

    def add(section, label, cells, hyve_keys):
        def r(q):
            if q not in have:
                return "—"
            parts = [ratio(cells[h].median, cells[q].median) for h in hyve_keys if h in have]
            return " / ".join(parts) if parts else "—"

        def r_base():
            parts = [ratio(cells[h].median, cells[COMPARE_PREFIX + h].median) for h in hyve_keys
                     if h in have and COMPARE_PREFIX + h in have]
            return " / ".join(parts) if parts else "—"
        rows.append((section, label, cells, r("qemu"), r("qemu_uapic"), r_base()))

    for n in figs.sizes:
        cells = {c.key: time_cell(figs, ("ap_bringup", n), c) for c in configs}
        add("AP bring-up: TSC from the first INIT to the last AP's check-in" + runs["ap_bringup"], f"{n} vCPUs", cells, ["hyve", "hyve_spinup"])
    for op, label in EXIT_OPS if "exit" in figs.only else ():
        cells = {c.key: time_cell(figs, ("exit", op), c) for c in configs}
        same_as_ipi_exit(cells)
        add("Exit cost: one operation, timed over a loop of 2000" + runs["exit"], label, cells, ["hyve"])
    for apic in ("xapic", "x2apic") if "ipi" in figs.only else ():
        for wait, wl in (("spin", "receiver spins (IF=1)"), ("halt", "receiver halted (sti; hlt)")):
            if wait not in figs.ipi_waits:
                continue
            cells = {c.key: time_cell(figs, ("ipi_rtt", apic, wait), c) for c in configs}
            same_as_ipi_exit(cells)
            add("IPI round trip between 2 vCPUs, 500 round trips" + runs["ipi_rtt"], f"{apic}, {wl}", cells, ["hyve"])
    if "linux" in figs.only:
        sec = ("Linux boot to user space: wall-clock seconds from the VMM's start, busybox initramfs, the bzImage"
               " (on KVM-PVM hosts the vmlinux inside it, through PVH)"
               + runs["linux"])
        for key, klabel in linux_boot.KERNELS:
            if key not in figs.linux_kernels:
                continue
            for cpus in figs.linux_cpus:
                for what, wl in (("init", "until /init runs"), ("poweroff", "until /init's poweroff ends the VMM")):
                    fig = ("linux", key, cpus, what)
                    cells = {c.key: (secs_cell(figs, fig, c) if c.key in ("hyve", "qemu") else Cell("not measured"))
                             for c in configs}
                    add(sec, f"{klabel}, {cpus} vCPU{'s' if cpus > 1 else ''}: {wl}", cells, ["hyve"])
    if "mem" not in figs.only:
        return rows
    mem_cfgs = ("hyve", "qemu", COMPARE_PREFIX + "hyve")
    mem = "Memory: the VMM's resident set size (VmRSS), guest RAM 256 MiB" + runs["mem"]
    med = {}
    for key, _, _, label in MEM_CASES:
        cells = {}
        for c in configs:
            if c.key in mem_cfgs:
                cells[c.key] = mem_cell(figs, ("mem", key), c)
                med[(key, c.key)] = cells[c.key].median
            else:
                cells[c.key] = Cell("not measured")
        add(mem, label, cells, ["hyve"])
    # No ratio for the second: QEMU pays for a vCPU when it is configured, so
    # its figure there is noise around 0.
    for base, label, ratio_of in (("cfg1", "per vCPU: (64 configured and running − 1 configured) / 63", ["hyve"]),
                                  ("cfg64_run1", "per running vCPU: (64 running − 64 configured, BSP only) / 63", [])):
        cells = {}
        for c in configs:
            a, b = med.get(("cfg64_run64", c.key)), med.get((base, c.key))
            if c.key not in mem_cfgs:
                cells[c.key] = Cell("not measured")
            elif a is None or b is None:
                cells[c.key] = Cell("—")
            else:
                cells[c.key] = Cell(f"{(a - b) / 63:.0f} KiB", (a - b) / 63)
        add(mem, label, cells, ratio_of)
    # hyve's configured, never-run vCPU costs a few bytes: below RSS's
    # page-granular noise, so the noise is printed next to it.
    v1024, v1 = figs.get(("mem", "cfg1024_run1"), HYVE_IPI), figs.get(("mem", "cfg1"), HYVE_IPI)
    if "hyve" in have and v1024 and v1:
        diff = (statistics.median(v1024) - statistics.median(v1)) * 1024 / 1023
        noise = max(max(v) - min(v) for v in (v1024, v1)) * 1024 / 1023
        cells = {c.key: Cell("not measured") for c in configs}
        cells["hyve"] = Cell(f"{diff:.0f} bytes (run-to-run RSS noise: {noise:.0f} bytes per vCPU)")
        cells["qemu"] = Cell("n/a (QEMU creates every configured vCPU)")
        add(mem, "per configured, never-run vCPU: (1024 configured, BSP only − 1 configured) / 1023", cells, ["hyve"])
    return rows


def _z(x):
    """A per-round-trip count of about zero (a difference of two runs) as 0."""
    return 0.0 if abs(x) < 0.005 else x


def exits_table(figs, configs):
    """Exits per IPI round trip, by kind (hyve's statistics)."""
    if "exits" not in figs.only:
        return []
    kinds = [k for k in EXIT_KINDS if k not in ("io", "mmio", "msr")]
    md = ["", "**Exits to user space per IPI round trip, by kind (hyve's statistics: (a boot with "
          f"{IPI_EXIT_ROUNDS} round trips − the same boot with none) / {IPI_EXIT_ROUNDS}; one run each)**", "",
          "| figure | build | " + " | ".join(kinds) + " | all | interrupts injected | EOIs through PV EOI |",
          "|---|---|" + "---|" * (len(kinds) + 3)]
    for apic in ("xapic", "x2apic"):
        for wait, wl in (("spin", "receiver spins"), ("halt", "receiver halted")):
            for pv in ("pveoi", "nopveoi"):
                fig = ("ipi_exits", apic, wait, pv)
                for c in configs:
                    if c.kind != "hyve" or c.key.endswith(HYVE_SPIN.key):
                        continue
                    label = f"{apic}, {wl}, {'PV EOI offered' if pv == 'pveoi' else 'guest writes EOI'}"
                    vals = figs.get(fig, c)
                    if not vals:
                        err = figs.errors.get(fig, {}).get(c.key, "not measured")
                        md.append(f"| {label} | {c.label} | {err.replace('|', '/')} |" + " |" * (len(kinds) + 2))
                        continue
                    v = vals[0]
                    tot = sum(v.get(k, 0) for k in EXIT_KINDS)
                    used = "" if pv == "nopveoi" or v.get("pveoi_used") else " (not offered)"
                    md.append(f"| {label}{used} | {c.label} | " + " | ".join(f"{_z(v.get(k, 0)):.2f}" for k in kinds)
                              + f" | {tot:.2f} | {v.get('injected', 0):.2f} | {v.get('pv_eoi', 0):.2f} |")
    return md


def render(figs, configs, header):
    rows = table_rows(figs, configs)
    keys = {c.key for c in configs}
    ratio_cols = [i for i, q in enumerate(("qemu", "qemu_uapic", COMPARE_PREFIX + "hyve")) if q in keys]
    ratio_names = ("hyve/QEMU kvm", "hyve/QEMU kernel-irqchip=off", "this build / --compare build")
    cols = [c.label for c in configs] + [ratio_names[i] for i in ratio_cols]
    md = list(header) + [""]
    section = None
    for sec, label, cells, r1, r2, r3 in rows:
        if sec != section:
            section = sec
            md += ["", f"**{sec}**", "", "| figure | " + " | ".join(cols) + " |",
                   "|---|" + "---|" * len(cols)]
        vals = [cells[c.key].text.replace("|", "/") for c in configs]
        vals += [(r1, r2, r3)[i] for i in ratio_cols]
        md.append(f"| {label} | " + " | ".join(vals) + " |")
    md += exits_table(figs, configs)
    md += ["", "Cells: median of the runs the section title gives (n= when fewer gave a figure), then ± half "
           "the interquartile range in % of the median; "
           "cycles are TSC cycles, converted with each configuration's TSC frequency. "
           "Ratios: hyve's median over QEMU's (below 1: hyve is faster or smaller), or with --compare "
           "this build's median over the other build's; "
           "AP bring-up rows give ipi-exit / spinup-ap."]
    return "\n".join(md) + "\n"


# ---- main -------------------------------------------------------------------

def sh(cmd):
    # L1 of --nested has bash but no /bin/sh.
    shell = ["/bin/sh", "-c"] if os.path.exists("/bin/sh") else ["bash", "-c"]
    try:
        return subprocess.run(shell + [cmd], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_header(opts, host_khz):
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    pvm = os.path.isdir("/sys/module/kvm_pvm")
    qemu = sh("qemu-system-x86_64 --version | head -1") if opts.qemu else "not run (--no-qemu)"
    fw = ("qboot (" + (opts.firmware[opts.firmware.index("-bios") + 1]) + ")" if opts.firmware
          else "SeaBIOS (QEMU's default)")
    return [
        f"- host: {sh('nproc')} CPUs, {model}; kernel {sh('uname -sr')}; "
        f"/dev/kvm: {'KVM-PVM (kvm_pvm module: guest CPL0 code is emulated)' if pvm else 'KVM'}",
        f"- host TSC: {host_khz / 1000:.1f} MHz (bench/tsc_khz.c); load average at start: {opts.load0}",
        f"- QEMU: {qemu}; firmware {fw}",
    ] + ([f"- compared with: {opts.compare_hyve}"] if opts.compare else []) + [
        f"- hyve: {opts.hyve} ({opts.hyve_rev or nested.host_rev(ROOT)})",
    ]


def count_list(text):
    """'1,4' -> [1, 4] (argparse type: a bad list is one error line, status 2)."""
    try:
        vals = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma list of vCPU counts")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma list of vCPU counts (each at least 1)")
    return vals


def main():
    ap = argparse.ArgumentParser(description="hyve vs QEMU benchmarks (issue 6)")
    ap.add_argument("--build", default="build", help="build folder (default build)")
    ap.add_argument("--reps", type=int, default=15, help="repetitions of the AP bring-up and exit figures "
                    "(default 15)")
    ap.add_argument("--ipi-reps", type=int, default=7, help="repetitions of the IPI figures (default 7)")
    ap.add_argument("--mem-reps", type=int, default=5, help="repetitions of each memory figure (default 5)")
    ap.add_argument("--only", default="apboot,exit,ipi,exits,mem,linux", help="comma list of apboot,exit,ipi,"
                    "exits (hyve's exits per IPI round trip, by kind),mem,linux")
    ap.add_argument("--linux-silence", type=float, default=120, help="seconds without any console output after "
                    "which a Linux boot counts as hung (default 120)")
    ap.add_argument("--linux-kernels", default="debian,small", help="Linux boot figure: comma list of debian "
                    "(Debian's linux-image-amd64) and small (hyve's test kernel)")
    ap.add_argument("--linux-cpus", type=count_list, default=list(linux_boot.CPUS), help="Linux boot figure: "
                    "vCPU counts (default 1,4)")
    ap.add_argument("--linux-reps", type=int, default=1, help="repetitions of the Linux boots (default 1)")
    ap.add_argument("--linux-timeout", type=float, default=1800, help="seconds before a Linux boot counts as hung "
                    "(default 1800: on KVM-PVM hosts Debian's kernel takes many minutes)")
    ap.add_argument("--ipi-waits", default="spin,halt", help="IPI receiver waits to measure: spin,halt "
                    "(default both; halt alone boots the guest with \"nospin\" and is much faster)")
    ap.add_argument("--sizes", type=count_list, default=list(AP_SIZES), help="AP bring-up vCPU counts")
    ap.add_argument("--no-qemu", dest="qemu", action="store_false", help="hyve only")
    ap.add_argument("--compare", metavar="OTHER_BUILD", help="A/B: run hyve from --build and from "
                    "OTHER_BUILD side by side (interleaved, alternating which goes first; guests of --build) "
                    "instead of QEMU; adds the ratio of the medians")
    ap.add_argument("--seabios", action="store_true", help="boot QEMU with SeaBIOS instead of qboot")
    ap.add_argument("--timeout", type=float, default=20, help="seconds before a boot counts as hung (default 20; "
                    "IPI runs get 3x)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per boot")
    ap.add_argument("--nested", action="store_true", help="run everything inside the nested SVM tier (a real "
                    "KVM: tools/nested-svm), hyve and QEMU with KVM in the same L1; fewer repetitions by default "
                    "(--reps 5 --ipi-reps 3 --mem-reps 3); table in BUILD/bench/results-nested.md")
    ap.add_argument("--nested-timeout", type=float, default=5400, help="--nested: seconds before L1 is ended "
                    "(default 5400)")
    ap.add_argument("--nested-cache", default="build/nested", help="--nested: tools/nested-svm's cache "
                    "(default build/nested)")
    # Set by --nested for the runner inside L1.
    ap.add_argument("--in-l1", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--qemu-data", help=argparse.SUPPRESS)
    ap.add_argument("--linux-images", help=argparse.SUPPRESS)
    ap.add_argument("--linux-initrd", help=argparse.SUPPRESS)
    ap.add_argument("--hyve-rev", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    opts.only_set = set(opts.only.split(","))
    opts.linux_kernels = set(opts.linux_kernels.split(","))
    if opts.nested:
        opts.build = os.path.abspath(os.path.join(ROOT, opts.build))
        opts.nested_cache = os.path.abspath(os.path.join(ROOT, opts.nested_cache))
        return nested.run(opts, nested.inner_args(sys.argv[1:]), ROOT)
    opts.build = os.path.abspath(os.path.join(ROOT, opts.build))
    opts.hyve = os.path.join(opts.build, "hyve")
    opts.ipi_waits = [w for w in ("spin", "halt") if w in opts.ipi_waits.split(",")]
    opts.firmware = [] if opts.seabios or not os.path.exists(QBOOT) else ["-bios", QBOOT]
    if opts.qemu_data:
        # In L1 only the files QEMU needs are there (nested.QEMU_FILES).
        opts.firmware = ["-L", opts.qemu_data, "-bios", os.path.join(opts.qemu_data, "qboot.rom"), "-vga", "none"]
    if opts.linux_images:
        imgs = dict(kv.split("=", 1) for kv in opts.linux_images.split(","))
        opts.linux_images = {k: ((None, v[1:]) if v.startswith("!") else (v, None)) for k, v in imgs.items()}
        opts.linux_images.update({k: (None, "not prepared") for k, _ in linux_boot.KERNELS if k not in imgs})
    opts.load0 = open("/proc/loadavg").read().split()[0]
    only = set(opts.only.split(","))

    tsc_tool = os.path.join(opts.build, "bench", "tsc-khz")
    host_khz = float(subprocess.run([tsc_tool], capture_output=True, text=True, check=True).stdout)
    figs = Figures(host_khz)
    figs.sizes = opts.sizes if "apboot" in only else []
    figs.only = only
    figs.ipi_waits = opts.ipi_waits
    figs.linux_kernels = opts.linux_kernels
    figs.linux_cpus = opts.linux_cpus
    figs.planned = {"ap_bringup": opts.reps, "exit": opts.reps, "ipi_rtt": opts.ipi_reps, "mem": opts.mem_reps,
                    "linux": opts.linux_reps}
    configs = [c for c in ALL_CONFIGS if opts.qemu or c.kind == "hyve"]
    if opts.compare:
        other = os.path.abspath(os.path.join(ROOT, opts.compare))
        opts.compare_hyve = os.path.join(other, "hyve")
        if not os.access(opts.compare_hyve, os.X_OK):
            print(f"bench: --compare: no hyve binary in {other}", file=sys.stderr)
            return 2
        opts.qemu = False
        hyves = [c for c in ALL_CONFIGS if c.kind == "hyve"]
        configs = hyves + [c.twin(opts.compare_hyve, opts.compare) for c in hyves]
    t0 = time.monotonic()
    header = ["hyve vs QEMU (make bench)", ""] + machine_header(opts, host_khz)
    print("\n".join(header), flush=True)

    plan = [("apboot", bench_apboot, configs, opts.reps),
            ("exit", bench_exit, [c for c in configs if not c.key.endswith(HYVE_SPIN.key)], opts.reps),
            ("ipi", bench_ipi, [c for c in configs if not c.key.endswith(HYVE_SPIN.key)], opts.ipi_reps),
            ("exits", bench_exits, [c for c in configs if c.kind == "hyve" and not c.key.endswith(HYVE_SPIN.key)],
             1),
            ("mem", bench_mem, [c for c in configs if c.key in (HYVE_IPI.key, QEMU_KVM.key,
                                                                COMPARE_PREFIX + HYVE_IPI.key)], opts.mem_reps),
            # QEMU's kernel-irqchip=off hangs once a second vCPU halts (see
            # docs/performance.md): a Linux boot would only wait out the timeout.
            ("linux", lambda o, f, c, r: linux_boot.bench_linux(o, f, c, r, run_guest, describe_failure),
             [c for c in configs if c in (HYVE_IPI, QEMU_KVM)], opts.linux_reps)]
    for name, fn, cfgs, reps in plan:
        if name not in only:
            continue
        for rep in range(reps):
            print(f"  {name}: repetition {rep + 1} of {reps} ({time.monotonic() - t0:.0f} s)", flush=True)
            # --compare: alternate which build boots first, so that neither
            # always runs right after the other (caches, the host's load).
            fn(opts, figs, cfgs[::-1] if opts.compare and rep % 2 else cfgs, rep)

    elapsed = time.monotonic() - t0
    load1 = open("/proc/loadavg").read().split()[0]
    header.append(f"- {figs.runs} boots in {elapsed:.0f} s; load average at the end: {load1}")
    out = render(figs, configs, header)
    print()
    print(out)
    os.makedirs(os.path.join(opts.build, "bench"), exist_ok=True)
    with open(os.path.join(opts.build, "bench", "results.md"), "w") as f:
        f.write(out)
    raw = {
        "host_tsc_khz": host_khz,
        "guest_tsc_khz": figs.guest_khz,
        "values": {"/".join(map(str, k)): v for k, v in figs.values.items()},
        "errors": {"/".join(map(str, k)): v for k, v in figs.errors.items()},
        "seconds_per_config": figs.seconds,
        "elapsed_s": elapsed,
    }
    with open(os.path.join(opts.build, "bench", "results.json"), "w") as f:
        json.dump(raw, f, indent=1)
    print(f"bench: results in {os.path.join(opts.build, 'bench', 'results.md')} and results.json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
