"""nested.py: `bench/run --nested` (issue 14): the same table on a real KVM.

This host's /dev/kvm may be KVM-PVM, which no user of hyve has. The nested
SVM tier (tools/nested-svm: Debian's kernel as L1 under QEMU's TCG emulation
of an AMD CPU with SVM and NPT, its kvm-amd giving a real /dev/kvm) runs
runner.py inside L1, where hyve and QEMU with KVM's in-kernel LAPIC boot the
same guests on the same KVM in the same run. What goes in:
- the runner (bench/*.py), the benchmark guests and host helper
  (BUILD/bench), hyve (BUILD/hyve), python3 (--python), qemu-system-x86_64
  (--bin) and the few firmware files QEMU loads (qboot, the Multiboot and
  Linux option ROMs, given to it with -L);
- for the Linux figure, the kernels (hyve's test kernel, tools/build-linux,
  and Debian's own, the same image L1 runs) and the busybox initramfs,
  prepared here: L1 boots them as bzImages through the 64-bit boot
  protocol, with user space (a real KVM runs /init and its poweroff).
L1's figures are absolute times of an emulated machine: only the ratios
within one run mean anything. The table comes back over L1's serial port
and goes to BUILD/bench/results-nested.md.
"""

import os
import subprocess
import sys
import tempfile

import linux_boot

QEMU_FILES = ("qboot.rom", "multiboot_dma.bin", "linuxboot_dma.bin", "kvmvapic.bin")
QEMU_DATA = "/usr/share/qemu"
TABLE_START = "hyve vs QEMU (make bench)"
PARTS = ("apboot", "exit", "ipi", "exits", "mem", "linux")


def host_rev(root):
    def git(*a):
        return subprocess.run(["git", "-C", root] + list(a), capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD")
    return (rev + ("+dirty" if git("status", "--porcelain") else "")) if rev else "?"


def stock_kernel(opts, root):
    """Debian's kernel as linux_boot.prepare() wants it: the bzImage L1 runs."""
    r = subprocess.run([os.path.join(root, "tools", "nested-svm"), "--cache", opts.nested_cache,
                        "--print-kernel"], capture_output=True, text=True)
    img = r.stdout.strip()
    if r.returncode == 0 and os.path.exists(img):
        return img, None
    return None, "tools/nested-svm --print-kernel failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]


NESTED_DEFAULTS = ["--reps", "5", "--ipi-reps", "3", "--mem-reps", "3"]
HOST_ONLY = {"--nested": 0, "--nested-timeout": 1, "--nested-cache": 1, "--build": 1}


def inner_args(argv):
    """The runner's command line for L1: the host-only options dropped, fewer
    repetitions by default (an L1 boot costs ~10x a host boot)."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        name = a.split("=", 1)[0]
        if name in HOST_ONLY:
            skip = HOST_ONLY[name] if "=" not in a else 0
            continue
        out.append(a)
    return NESTED_DEFAULTS + out


def run(opts, runner_args, root):
    """Runs runner.py with runner_args inside L1; returns its exit status."""
    hyve = os.path.join(opts.build, "hyve")
    hold = os.path.join(opts.build, "tools", "kvm-hold")
    for need in (hyve, hold, os.path.join(opts.build, "bench", "tsc-khz")):
        if not os.access(need, os.X_OK):
            print(f"bench: --nested: {need} is missing (make all bench-build)", file=sys.stderr)
            return 2
    rel_build = os.path.relpath(opts.build, root)
    if rel_build.startswith(".."):
        print(f"bench: --nested: the build folder {opts.build} must be inside {root}", file=sys.stderr)
        return 2
    files = [f"{hyve}=build/hyve"] + [f"{QEMU_DATA}/{f}=qemu-data/{f}" for f in QEMU_FILES]
    if opts.compare:
        other = os.path.abspath(os.path.join(root, opts.compare))
        if not os.access(os.path.join(other, "hyve"), os.X_OK) or os.path.relpath(other, root).startswith(".."):
            print(f"bench: --nested --compare: no hyve binary in {other} (a folder inside {root})", file=sys.stderr)
            return 2
        files.append(f"{other}/hyve={os.path.relpath(other, root)}/hyve")
    inner = ["--build", "build", "--in-l1", "--qemu-data", "/hyve/qemu-data", "--hyve-rev", host_rev(root)]
    if "linux" in opts.only_set:
        stock = stock_kernel(opts, root) if "debian" in opts.linux_kernels else None
        kernels, initrd = linux_boot.prepare(opts, root, stock=stock, pvm=False)
        if initrd is None:
            print(f"bench: --nested: {next(iter(kernels.values()))[1]}", file=sys.stderr)
            return 1
        files.append(f"{initrd}=linux/initramfs.cpio")
        imgs = []
        for key, (path, err) in kernels.items():
            if path:
                files.append(f"{path}=linux/{key}.bzImage")
                imgs.append(f"{key}=/hyve/linux/{key}.bzImage")
            else:
                imgs.append(f"{key}=!{err}")
        inner += ["--linux-images", ",".join(imgs), "--linux-initrd", "/hyve/linux/initramfs.cpio"]
    cmd = [os.path.join(root, "tools", "nested-svm"), "--cache", opts.nested_cache, "--python",
           "--bin", "qemu-system-x86_64", "--kvm-hold", hold, "--payload", "bench",
           "--payload", os.path.join(rel_build, "bench"), "--timeout", str(int(opts.nested_timeout))]
    if rel_build != "build":
        files += [f"{os.path.join(opts.build, 'bench', g)}=build/bench/{g}"
                  for g in os.listdir(os.path.join(opts.build, "bench"))]
    for fl in files:
        cmd += ["--file", fl]
    # One L1 per part of the table, each tried twice: an L1 that dies (a
    # soft lockup or panic of L1's own kernel, tools/nested-svm status 91;
    # its timeout, 92) loses only that part, and says so.
    # The Linux figure: one L1 per kernel and vCPU count (a boot that wedges
    # L1 then costs one row).
    runs = []
    for part in [p for p in PARTS if p in opts.only_set]:
        if part != "linux":
            runs.append((part, ["--only", part]))
            continue
        for key in [k for k in ("small", "debian") if k in opts.linux_kernels]:
            for n in opts.linux_cpus:
                runs.append((f"linux {key} cpus={n}", ["--only", "linux", "--linux-kernels", key,
                                                       "--linux-cpus", str(n)]))
    header, sections, footer, notes = None, {}, None, []
    for part, only in runs:
        for attempt in (1, 2):
            print(f"bench: --nested: {part}: L1 run {attempt} (tools/nested-svm); this takes a while", flush=True)
            status, lines = run_l1(cmd, inner + runner_args + only)
            starts = [i for i, ln in enumerate(lines) if ln.startswith(TABLE_START)]
            if status == 0 and len(starts) >= 2:
                break
            why = next((ln for ln in reversed(lines) if ln.startswith("nested-svm:")), f"status {status}")
            notes.append(f"- {part}, L1 run {attempt}: no figures ({why})")
        else:
            continue
        table = [ln for ln in lines[starts[-1]:] if not ln.startswith("bench: results in")]
        first = next((i for i, ln in enumerate(table) if ln.startswith("**")), len(table))
        last = next((i for i, ln in enumerate(table) if ln.startswith("Cells:")), len(table))
        if header is None:
            header = [ln for ln in table[:first] if ln and "boots in" not in ln]
        notes += [f"- {part}: {ln[2:]}" for ln in table[:first] if "boots in" in ln]
        merge_sections(sections, table[first:last])
        footer = table[last:]
    if header is None:
        print("bench: --nested: no figures from any L1 run", file=sys.stderr)
        return 1
    out = header + ["", "Measured inside the nested SVM tier (bench/run --nested): L1 = Debian's kernel with "
                    "kvm-amd under qemu-system-x86_64 -accel tcg -cpu max on this host, one L1 per part; every "
                    "VMM ran in L1 on L1's real KVM. Absolute figures are those of an emulated machine; compare "
                    "only ratios."] + notes + [""] + [ln for sec in sections.values() for ln in sec] + (footer or [])
    path = os.path.join(opts.build, "bench", "results-nested.md")
    with open(path, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
    print("\n".join(out))
    print(f"bench: results in {path}", flush=True)
    return 0


def merge_sections(sections, lines):
    """Adds the '**title**' sections of one L1's table to sections (title ->
    lines), appending the rows of a title seen before (the Linux rows come
    from one L1 each)."""
    title = None
    for ln in lines:
        if ln.startswith("**"):
            title = ln
            if title not in sections:
                sections[title] = ["", ln]
            continue
        if title is None:
            continue
        sec = sections[title]
        if ln.startswith("| figure") or ln.startswith("|---"):
            if ln not in sec:
                sec.append(ln)
        elif ln.startswith("|"):
            sec.append(ln)
    for sec in sections.values():
        if sec[-1] != "":
            sec.append("")


def run_l1(cmd, runner_args):
    """One L1 running runner.py with runner_args: (status, output lines)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write("set -u\n")
        f.write("python3 bench/runner.py " + " ".join(_q(a) for a in runner_args) + "\n")
        script = f.name
    lines = []
    try:
        p = subprocess.Popen(cmd + [script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            line = line.rstrip("\r\n")
            lines.append(line)
            print(line, flush=True)
        status = p.wait()
    finally:
        os.unlink(script)
    return status, lines


def _q(a):
    return "'" + a.replace("'", "'\\''") + "'"
